/* RsCanvas: shows one image, zoomed and panned like Loupe (wheel, Ctrl+wheel and pinch zoom around
 * the pointer, drag to pan, + - 0 1), drawn from a tiled mip pyramid built off the main thread. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define RS_TYPE_CANVAS (rs_canvas_get_type())
G_DECLARE_FINAL_TYPE(RsCanvas, rs_canvas, RS, CANVAS, GtkWidget)

#define RS_CANVAS_ZOOM_STEP 1.25 /* one wheel notch or one + / - */
#define RS_CANVAS_MAX_ZOOM 20.0

GtkWidget *rs_canvas_new(void);

void rs_canvas_set_texture(RsCanvas *self, GdkTexture *texture);
GdkTexture *rs_canvas_get_texture(RsCanvas *self);

double rs_canvas_get_zoom(RsCanvas *self);
gboolean rs_canvas_get_best_fit(RsCanvas *self);
/* The zoom at which the whole image fits the widget, never above 1 (best fit never upscales). */
double rs_canvas_get_fit_zoom(RsCanvas *self);
/* The lowest zoom the canvas allows: the fit zoom. */
double rs_canvas_get_min_zoom(RsCanvas *self);

/* The image point (in image pixels) at the centre of the widget. */
void rs_canvas_get_center(RsCanvas *self, double *x, double *y);

void rs_canvas_zoom_in(RsCanvas *self);
void rs_canvas_zoom_out(RsCanvas *self);
void rs_canvas_zoom_best_fit(RsCanvas *self);
void rs_canvas_zoom_original(RsCanvas *self);
/* Sets zoom (clamped) keeping the image point under widget point (x, y) where it is. */
void rs_canvas_zoom_at(RsCanvas *self, double zoom, double x, double y);
/* Moves the view by (dx, dy) widget pixels, as a drag by (-dx, -dy) would. */
void rs_canvas_pan(RsCanvas *self, double dx, double dy);

/* Whether the tile pyramid of the current texture is built (it is built in a worker thread). */
gboolean rs_canvas_is_ready(RsCanvas *self);

/* The pyramid level the last frame was drawn from (-1: the whole texture, while the pyramid is
 * being built) and how many tiles it used. */
int rs_canvas_get_drawn_level(RsCanvas *self);
int rs_canvas_get_drawn_tiles(RsCanvas *self);

G_END_DECLS
