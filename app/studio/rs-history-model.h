/* RsHistoryModel: a GListModel of RsHistoryItem over the history store, newest first, loaded in
 * pages as the list view asks for rows; follows the store's change signal; full-text search.
 * RsHistoryItem: one row, with its thumbnail loaded on first use. */
#pragma once

#include <gdk/gdk.h>

#include "history-store.h"

G_BEGIN_DECLS

#define RS_TYPE_HISTORY_ITEM (rs_history_item_get_type())
G_DECLARE_FINAL_TYPE(RsHistoryItem, rs_history_item, RS, HISTORY_ITEM, GObject)

const HistoryGeneration *rs_history_item_get_generation(RsHistoryItem *self);
/* The thumbnail, read from the store the first time it is asked for; NULL when there is none. */
GdkTexture *rs_history_item_get_thumbnail(RsHistoryItem *self);

#define RS_TYPE_HISTORY_MODEL (rs_history_model_get_type())
G_DECLARE_FINAL_TYPE(RsHistoryModel, rs_history_model, RS, HISTORY_MODEL, GObject)

#define RS_HISTORY_PAGE_SIZE 50

RsHistoryModel *rs_history_model_new(HistoryStore *store);
/* Words of the prompt to look for (FTS), or NULL/"" for every row. */
void rs_history_model_set_search(RsHistoryModel *self, const char *search);
/* Only rows whose status bit (1 << HistoryStatus) is in mask; 0 for every status. */
void rs_history_model_set_status_mask(RsHistoryModel *self, guint mask);
/* Only rows created at or after this time (g_get_real_time() units; 0: any time). */
void rs_history_model_set_created_after(RsHistoryModel *self, gint64 created_after);
/* How many pages have been read from the store (for the paging test). */
guint rs_history_model_get_n_loaded_pages(RsHistoryModel *self);

G_END_DECLS
