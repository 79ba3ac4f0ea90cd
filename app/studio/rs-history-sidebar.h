/* RsHistorySidebar: the history list (thumbnail, prompt excerpt, size, date, status badge), a
 * search entry, and the actions on the selected row. The window does the work: the sidebar
 * emits, with the row's RsHistoryItem,
 *   selected (item or NULL)   show-in-folder (item)   reuse (item)   rerun (item)
 *   vary-seed (item)          delete (item)           upscale (item) */
#pragma once

#include <adwaita.h>

#include "history-store.h"
#include "rs-history-model.h"

G_BEGIN_DECLS

#define RS_TYPE_HISTORY_SIDEBAR (rs_history_sidebar_get_type())
G_DECLARE_FINAL_TYPE(RsHistorySidebar, rs_history_sidebar, RS, HISTORY_SIDEBAR, GtkBox)

/* Shows the store's rows (NULL: an empty list). */
void rs_history_sidebar_set_store(RsHistorySidebar *self, HistoryStore *store);
RsHistoryModel *rs_history_sidebar_get_model(RsHistorySidebar *self);
/* The selected row, or NULL. */
RsHistoryItem *rs_history_sidebar_get_selected(RsHistorySidebar *self);
void rs_history_sidebar_select(RsHistorySidebar *self, guint position);
void rs_history_sidebar_focus_search(RsHistorySidebar *self);

/* The status as a word, for the row's badge. */
const char *rs_history_status_label(HistoryStatus status);

G_END_DECLS
