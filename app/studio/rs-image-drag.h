/* Dragging the image out of the canvas (to a file manager, a browser, an image editor): a
 * GtkDragSource on the canvas offering the saved PNG as a file and the image as a texture.
 *
 * The canvas pans with a drag too, so a drag takes the image out only when there is nothing to
 * pan (the whole image is on view: best fit or smaller) or when Ctrl or Alt is held; otherwise
 * the drag pans as before. */
#pragma once

#include <gtk/gtk.h>

#include "rs-canvas.h"

G_BEGIN_DECLS

/* The file the shown image was saved as, or NULL (a branch preview, a job not finished). */
typedef const char *(*RsImageDragPath)(gpointer data);

/* Adds the drag source to canvas; path_func(data) is asked at each drag. */
GtkDragSource *rs_image_drag_attach(RsCanvas *canvas, RsImageDragPath path_func, gpointer data);

/* What a drag of texture (and its file, when path is not NULL) offers. */
GdkContentProvider *rs_image_drag_content(GdkTexture *texture, const char *path);

G_END_DECLS
