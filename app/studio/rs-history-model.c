/* RsHistoryModel: the history as a paged GListModel; see the header. */
#include "rs-history-model.h"

struct _RsHistoryItem {
    GObject parent_instance;
    HistoryGeneration *generation;
    HistoryStore *store;
    GdkTexture *thumbnail;
    gboolean thumbnail_tried;
};

G_DEFINE_FINAL_TYPE(RsHistoryItem, rs_history_item, G_TYPE_OBJECT)

static void rs_history_item_finalize(GObject *object)
{
    RsHistoryItem *self = RS_HISTORY_ITEM(object);
    history_generation_free(self->generation);
    g_clear_object(&self->store);
    g_clear_object(&self->thumbnail);
    G_OBJECT_CLASS(rs_history_item_parent_class)->finalize(object);
}

static void rs_history_item_class_init(RsHistoryItemClass *klass)
{
    G_OBJECT_CLASS(klass)->finalize = rs_history_item_finalize;
}

static void rs_history_item_init(RsHistoryItem *self)
{
}

static RsHistoryItem *item_new(HistoryStore *store, HistoryGeneration *generation)
{
    RsHistoryItem *self = g_object_new(RS_TYPE_HISTORY_ITEM, NULL);
    self->store = g_object_ref(store);
    self->generation = generation;
    return self;
}

const HistoryGeneration *rs_history_item_get_generation(RsHistoryItem *self)
{
    return self->generation;
}

GdkTexture *rs_history_item_get_thumbnail(RsHistoryItem *self)
{
    if (!self->thumbnail_tried && self->generation->has_thumbnail) {
        self->thumbnail_tried = TRUE;
        GBytes *png = history_store_get_thumbnail(self->store, self->generation->id, NULL);
        if (png != NULL)
            self->thumbnail = gdk_texture_new_from_bytes(png, NULL);
        g_clear_pointer(&png, g_bytes_unref);
    }
    return self->thumbnail;
}

/* ---- the model ---------------------------------------------------------------------------- */

struct _RsHistoryModel {
    GObject parent_instance;
    HistoryStore *store;
    char *search;
    guint status_mask; /* HistoryQuery.status_mask: 0 = every status */
    gint64 created_after; /* HistoryQuery.created_after: 0 = any time */
    guint n_items;
    GHashTable *pages; /* page number -> GPtrArray of RsHistoryItem */
    guint n_loaded_pages;
};

static void list_model_init(GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE(RsHistoryModel, rs_history_model, G_TYPE_OBJECT,
                              G_IMPLEMENT_INTERFACE(G_TYPE_LIST_MODEL, list_model_init))

static void fill_query(RsHistoryModel *self, HistoryQuery *query)
{
    *query = (HistoryQuery){.search = self->search,
                            .status_mask = self->status_mask,
                            .created_after = self->created_after};
}

static GPtrArray *load_page(RsHistoryModel *self, guint page)
{
    GPtrArray *items = g_hash_table_lookup(self->pages, GUINT_TO_POINTER(page));
    if (items != NULL)
        return items;
    HistoryQuery query;
    fill_query(self, &query);
    GPtrArray *rows = history_store_list(self->store, &query, page * RS_HISTORY_PAGE_SIZE,
                                         RS_HISTORY_PAGE_SIZE, NULL);
    items = g_ptr_array_new_with_free_func(g_object_unref);
    for (guint i = 0; rows != NULL && i < rows->len; i++)
        g_ptr_array_add(items, item_new(self->store, g_steal_pointer(&rows->pdata[i])));
    if (rows != NULL)
        g_ptr_array_unref(rows);
    g_hash_table_insert(self->pages, GUINT_TO_POINTER(page), items);
    self->n_loaded_pages++;
    return items;
}

static GType get_item_type(GListModel *model)
{
    return RS_TYPE_HISTORY_ITEM;
}

static guint get_n_items(GListModel *model)
{
    return RS_HISTORY_MODEL(model)->n_items;
}

static gpointer get_item(GListModel *model, guint position)
{
    RsHistoryModel *self = RS_HISTORY_MODEL(model);
    if (position >= self->n_items)
        return NULL;
    GPtrArray *items = load_page(self, position / RS_HISTORY_PAGE_SIZE);
    guint index = position % RS_HISTORY_PAGE_SIZE;
    return index < items->len ? g_object_ref(g_ptr_array_index(items, index)) : NULL;
}

static void list_model_init(GListModelInterface *iface)
{
    iface->get_item_type = get_item_type;
    iface->get_n_items = get_n_items;
    iface->get_item = get_item;
}

static guint count_rows(RsHistoryModel *self)
{
    HistoryQuery query;
    fill_query(self, &query);
    gint64 count = history_store_count(self->store, &query, NULL);
    return count > 0 ? (guint)count : 0;
}

static void reload(RsHistoryModel *self)
{
    guint removed = self->n_items;
    g_hash_table_remove_all(self->pages);
    self->n_items = count_rows(self);
    g_list_model_items_changed(G_LIST_MODEL(self), 0, removed, self->n_items);
}

/* Position of a row among the pages read so far, or -1. */
static gint64 loaded_position(RsHistoryModel *self, gint64 id)
{
    GHashTableIter iter;
    gpointer key, value;
    g_hash_table_iter_init(&iter, self->pages);
    while (g_hash_table_iter_next(&iter, &key, &value)) {
        GPtrArray *items = value;
        for (guint i = 0; i < items->len; i++) {
            RsHistoryItem *item = g_ptr_array_index(items, i);
            if (item->generation->id == id)
                return (gint64)GPOINTER_TO_UINT(key) * RS_HISTORY_PAGE_SIZE + i;
        }
    }
    return -1;
}

static void on_store_changed(HistoryStore *store, gint64 id, int kind, RsHistoryModel *self)
{
    HistoryQuery query;
    fill_query(self, &query);
    gint64 position = -1;
    switch (kind) {
    case HISTORY_CHANGE_ADDED:
        position = history_store_position(store, &query, id, NULL);
        if (position < 0)
            return; /* not in this search */
        g_hash_table_remove_all(self->pages);
        /* One row per event: rows added after it in the same poll come with their own events,
         * so the count a view holds stays the model's (a recount here would run ahead). */
        self->n_items++;
        g_list_model_items_changed(G_LIST_MODEL(self), (guint)MIN(position, self->n_items - 1), 0,
                                   1);
        return;
    case HISTORY_CHANGE_UPDATED:
        position = loaded_position(self, id);
        if (position < 0)
            return; /* not read yet: it is read fresh when shown */
        g_hash_table_remove(self->pages, GUINT_TO_POINTER(position / RS_HISTORY_PAGE_SIZE));
        /* A page read after newer rows were written holds rows not announced yet, so the row can
         * sit past the count the view has; their additions follow in this poll and redraw it. */
        if (position < self->n_items)
            g_list_model_items_changed(G_LIST_MODEL(self), (guint)position, 1, 1);
        return;
    case HISTORY_CHANGE_REMOVED:
        position = loaded_position(self, id);
        if (position >= 0 && position < self->n_items) {
            g_hash_table_remove_all(self->pages);
            self->n_items--; /* as for an addition: one row per event */
            g_list_model_items_changed(G_LIST_MODEL(self), (guint)position, 1, 0);
            return;
        }
        reload(self);
        return;
    default:
        reload(self);
        return;
    }
}

void rs_history_model_set_search(RsHistoryModel *self, const char *search)
{
    const char *words = search != NULL && search[0] != '\0' ? search : NULL;
    if (g_strcmp0(words, self->search) == 0)
        return;
    g_free(self->search);
    self->search = g_strdup(words);
    reload(self);
}

void rs_history_model_set_status_mask(RsHistoryModel *self, guint mask)
{
    if (mask == self->status_mask)
        return;
    self->status_mask = mask;
    reload(self);
}

void rs_history_model_set_created_after(RsHistoryModel *self, gint64 created_after)
{
    if (created_after == self->created_after)
        return;
    self->created_after = created_after;
    reload(self);
}

guint rs_history_model_get_n_loaded_pages(RsHistoryModel *self)
{
    return self->n_loaded_pages;
}

static void rs_history_model_dispose(GObject *object)
{
    RsHistoryModel *self = RS_HISTORY_MODEL(object);
    if (self->store != NULL)
        g_signal_handlers_disconnect_by_data(self->store, self);
    g_clear_object(&self->store);
    g_clear_pointer(&self->pages, g_hash_table_unref);
    G_OBJECT_CLASS(rs_history_model_parent_class)->dispose(object);
}

static void rs_history_model_finalize(GObject *object)
{
    g_free(RS_HISTORY_MODEL(object)->search);
    G_OBJECT_CLASS(rs_history_model_parent_class)->finalize(object);
}

static void rs_history_model_class_init(RsHistoryModelClass *klass)
{
    G_OBJECT_CLASS(klass)->dispose = rs_history_model_dispose;
    G_OBJECT_CLASS(klass)->finalize = rs_history_model_finalize;
}

static void rs_history_model_init(RsHistoryModel *self)
{
    self->pages = g_hash_table_new_full(NULL, NULL, NULL, (GDestroyNotify)g_ptr_array_unref);
}

RsHistoryModel *rs_history_model_new(HistoryStore *store)
{
    RsHistoryModel *self = g_object_new(RS_TYPE_HISTORY_MODEL, NULL);
    self->store = g_object_ref(store);
    self->n_items = count_rows(self);
    g_signal_connect(store, "changed", G_CALLBACK(on_store_changed), self);
    return self;
}
