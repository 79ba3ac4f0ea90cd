/* RsHistoryGallery: the history as a grid of thumbnails on the canvas area, with a filter by
 * status (all, done, cancelled, failed or interrupted). Several images can be selected
 * (Ctrl/Shift+click, rubber band, Ctrl+A, Select All) and deleted at once; activating an image
 * (double click, Enter) opens it. A right click (or a long press) opens a context menu: Open,
 * Reuse Parameters, Show in Folder, Upscale, Delete. The window does the work; the gallery emits
 *   activated (RsHistoryItem)   reuse (RsHistoryItem)   show-in-folder (RsHistoryItem)
 *   upscale (RsHistoryItem)
 *   delete (GPtrArray of RsHistoryItem: the selected rows) */
#pragma once

#include <gtk/gtk.h>

#include "rs-history-model.h"

G_BEGIN_DECLS

#define RS_TYPE_HISTORY_GALLERY (rs_history_gallery_get_type())
G_DECLARE_FINAL_TYPE(RsHistoryGallery, rs_history_gallery, RS, HISTORY_GALLERY, GtkWidget)

GtkWidget *rs_history_gallery_new(void);

/* Shows the store's rows (NULL: none), in a model of the gallery's own. */
void rs_history_gallery_set_store(RsHistoryGallery *self, HistoryStore *store);
/* The status filter: "all", "done", "cancelled", "failed" (failed and interrupted). */
void rs_history_gallery_set_filter(RsHistoryGallery *self, const char *filter);
/* The date filter: "any", "today", "week" (the last 7 days), "month" (the last 30). */
void rs_history_gallery_set_period(RsHistoryGallery *self, const char *period);
GtkSelectionModel *rs_history_gallery_get_selection(RsHistoryGallery *self);
/* The selected rows, newest first (free with g_ptr_array_unref). */
GPtrArray *rs_history_gallery_get_selected(RsHistoryGallery *self);

/* Opens the context menu on the image at position, pointing at (x, y) in the gallery (what a
 * right click does); an image outside the selection becomes the selection. */
void rs_history_gallery_popup_menu(RsHistoryGallery *self, guint position, double x, double y);
GtkPopover *rs_history_gallery_get_menu(RsHistoryGallery *self);

G_END_DECLS
