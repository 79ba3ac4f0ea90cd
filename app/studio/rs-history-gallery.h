/* RsHistoryGallery: the history as a grid of thumbnails on the canvas area, over the same model
 * as the history sidebar (its search applies). Several images can be selected (Ctrl/Shift+click,
 * Ctrl+A, Select All) and deleted at once; activating an image (double click, Enter) opens it.
 * The window does the work; the gallery emits
 *   activated (guint position)   delete (GPtrArray of RsHistoryItem: the selected rows) */
#pragma once

#include <gtk/gtk.h>

#include "rs-history-model.h"

G_BEGIN_DECLS

#define RS_TYPE_HISTORY_GALLERY (rs_history_gallery_get_type())
G_DECLARE_FINAL_TYPE(RsHistoryGallery, rs_history_gallery, RS, HISTORY_GALLERY, GtkWidget)

GtkWidget *rs_history_gallery_new(void);

/* The rows to show (NULL: none). */
void rs_history_gallery_set_model(RsHistoryGallery *self, GListModel *model);
GtkSelectionModel *rs_history_gallery_get_selection(RsHistoryGallery *self);
/* The selected rows, newest first (free with g_ptr_array_unref). */
GPtrArray *rs_history_gallery_get_selected(RsHistoryGallery *self);

G_END_DECLS
