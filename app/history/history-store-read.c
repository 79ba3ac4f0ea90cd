/* HistoryStore reads: one row, its thumbnail, and pages of a filtered, searched list. */
#include <string.h>

#include "history-db.h"
#include "history-store-private.h"

static gboolean read_locked(HistoryStore *store, HdbWork work, gpointer data, GError **error)
{
    g_mutex_lock(&store->lock);
    gboolean ok;
    if (store->db == NULL) {
        g_set_error_literal(error, HISTORY_ERROR, HISTORY_ERROR_INVALID,
                            "The history is already closed");
        ok = FALSE;
    } else {
        ok = hdb_run(store->db, HDB_READ, work, data, error);
    }
    g_mutex_unlock(&store->lock);
    return ok;
}

/* ---- one row ---------------------------------------------------------------------------- */

typedef struct {
    gint64 id;
    HistoryGeneration *gen;
    GBytes *png;
} RowRead;

static gboolean read_timings(sqlite3 *db, HistoryGeneration *gen, GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
    if (!hdb_prepare(db, "SELECT phase, seconds FROM timings WHERE generation_id = ? ORDER BY ord",
                     &stmt, error))
        return FALSE;
    sqlite3_bind_int64(stmt, 1, gen->id);
    int rc;
    while ((rc = hdb_step(stmt, "reading timings", error)) == SQLITE_ROW) {
        HistoryTiming t = {g_strdup((const char *)sqlite3_column_text(stmt, 0)),
                           sqlite3_column_double(stmt, 1)};
        g_array_append_val(gen->timings, t);
    }
    return rc == SQLITE_DONE;
}

static gboolean not_found(gint64 id, GError **error)
{
    g_set_error(error, HISTORY_ERROR, HISTORY_ERROR_NOT_FOUND,
                "Generation %" G_GINT64_FORMAT " is not in the history", id);
    return FALSE;
}

static gboolean read_row(sqlite3 *db, gpointer data, GError **error)
{
    RowRead *read = data;
    g_clear_pointer(&read->gen, history_generation_free);
    g_autoptr(sqlite3_stmt) stmt = NULL;
    if (!hdb_prepare(db,
                     "SELECT " HISTORY_ROW_COLUMNS
                     " FROM generations g WHERE g.id = ? AND g.deleted_at IS NULL",
                     &stmt, error))
        return FALSE;
    sqlite3_bind_int64(stmt, 1, read->id);
    int rc = hdb_step(stmt, "reading a generation", error);
    if (rc < 0)
        return FALSE;
    if (rc == SQLITE_DONE)
        return not_found(read->id, error);
    read->gen = history_generation_from_row(stmt, error);
    return read->gen != NULL && read_timings(db, read->gen, error);
}

HistoryGeneration *history_store_get(HistoryStore *store, gint64 id, GError **error)
{
    RowRead read = {.id = id};
    if (!read_locked(store, read_row, &read, error)) {
        history_generation_free(read.gen);
        return NULL;
    }
    return read.gen;
}

static gboolean read_thumbnail(sqlite3 *db, gpointer data, GError **error)
{
    RowRead *read = data;
    g_clear_pointer(&read->png, g_bytes_unref);
    g_autoptr(sqlite3_stmt) stmt = NULL;
    if (!hdb_prepare(db, "SELECT png FROM thumbnails WHERE generation_id = ?", &stmt, error))
        return FALSE;
    sqlite3_bind_int64(stmt, 1, read->id);
    int rc = hdb_step(stmt, "reading a thumbnail", error);
    if (rc < 0)
        return FALSE;
    if (rc == SQLITE_DONE) {
        g_set_error(error, HISTORY_ERROR, HISTORY_ERROR_NOT_FOUND,
                    "Generation %" G_GINT64_FORMAT " has no thumbnail", read->id);
        return FALSE;
    }
    read->png = g_bytes_new(sqlite3_column_blob(stmt, 0), sqlite3_column_bytes(stmt, 0));
    return TRUE;
}

GBytes *history_store_get_thumbnail(HistoryStore *store, gint64 id, GError **error)
{
    RowRead read = {.id = id};
    if (!read_locked(store, read_thumbnail, &read, error)) {
        g_clear_pointer(&read.png, g_bytes_unref);
        return NULL;
    }
    return read.png;
}

/* ---- queries ---------------------------------------------------------------------------- */

/* Each word becomes a quoted FTS5 prefix term, so user text can never be FTS5 syntax. */
static char *fts_expression(const char *search)
{
    if (search == NULL)
        return NULL;
    g_auto(GStrv) words = g_strsplit_set(search, " \t\n\r", -1);
    GString *expr = g_string_new(NULL);
    for (char **w = words; *w; w++) {
        gboolean has_text = FALSE;
        for (const char *c = *w; *c && !has_text; c = g_utf8_next_char(c))
            has_text = g_unichar_isalnum(g_utf8_get_char(c));
        if (!has_text)
            continue;
        g_autofree char *escaped = NULL;
        g_auto(GStrv) parts = g_strsplit(*w, "\"", -1);
        escaped = g_strjoinv("\"\"", parts);
        g_string_append_printf(expr, "%s\"%s\"*", expr->len ? " " : "", escaped);
    }
    if (expr->len == 0)
        return (g_string_free(expr, TRUE), NULL);
    return g_string_free(expr, FALSE);
}

typedef struct {
    GString *where;
    char *fts;
} Filter;

/* listing: rows are read in id order; with a search, looking them up by id from the FTS match
 * beats walking the deleted_at index (the "+" keeps the planner off that index). */
static void filter_init(Filter *f, const HistoryQuery *q, gboolean listing)
{
    f->fts = q ? fts_expression(q->search) : NULL;
    f->where = g_string_new(f->fts && listing ? "+g.deleted_at IS NULL" : "g.deleted_at IS NULL");
    if (q == NULL)
        return;
    if (f->fts)
        g_string_append(f->where, " AND g.id IN (SELECT rowid FROM generations_fts "
                                  "WHERE generations_fts MATCH :fts)");
    guint all = (1u << HISTORY_N_STATUSES) - 1;
    if ((q->status_mask & all) != 0 && (q->status_mask & all) != all) {
        g_string_append(f->where, " AND g.status IN (");
        gboolean first = TRUE;
        for (int s = 0; s < HISTORY_N_STATUSES; s++) {
            if (q->status_mask & (1u << s)) {
                g_string_append_printf(f->where, "%s'%s'", first ? "" : ", ",
                                       history_status_name((HistoryStatus)s));
                first = FALSE;
            }
        }
        g_string_append(f->where, ")");
    }
    if (q->model != NULL)
        g_string_append(f->where, " AND g.model = :model");
    if (q->width > 0)
        g_string_append(f->where, " AND g.width = :width");
    if (q->height > 0)
        g_string_append(f->where, " AND g.height = :height");
    if (q->created_after > 0)
        g_string_append(f->where, " AND g.created_at >= :created_after");
}

static void filter_clear(Filter *f)
{
    g_string_free(f->where, TRUE);
    g_free(f->fts);
}

static void bind_named_text(sqlite3_stmt *stmt, const char *name, const char *value)
{
    int index = sqlite3_bind_parameter_index(stmt, name);
    if (index > 0)
        sqlite3_bind_text(stmt, index, value, -1, SQLITE_TRANSIENT);
}

static void bind_named_int64(sqlite3_stmt *stmt, const char *name, gint64 value)
{
    int index = sqlite3_bind_parameter_index(stmt, name);
    if (index > 0)
        sqlite3_bind_int64(stmt, index, value);
}

static void filter_bind(const Filter *f, const HistoryQuery *q, sqlite3_stmt *stmt)
{
    bind_named_text(stmt, ":fts", f->fts);
    if (q == NULL)
        return;
    bind_named_text(stmt, ":model", q->model);
    bind_named_int64(stmt, ":width", q->width);
    bind_named_int64(stmt, ":height", q->height);
    bind_named_int64(stmt, ":created_after", q->created_after);
}

typedef struct {
    const HistoryQuery *query;
    gint64 offset, limit, id; /* id: for position */
    gint64 count;
    GPtrArray *rows;
} ListRead;

static gboolean prepare_filtered(sqlite3 *db, const char *select, const char *tail,
                                 const HistoryQuery *q, sqlite3_stmt **stmt, GError **error)
{
    Filter f;
    filter_init(&f, q, g_str_has_prefix(tail, " ORDER BY"));
    g_autofree char *sql =
        g_strdup_printf("%s FROM generations g WHERE %s%s", select, f.where->str, tail);
    gboolean ok = hdb_prepare(db, sql, stmt, error);
    if (ok)
        filter_bind(&f, q, *stmt);
    filter_clear(&f);
    return ok;
}

static gboolean count_rows(sqlite3 *db, gpointer data, GError **error)
{
    ListRead *read = data;
    g_autoptr(sqlite3_stmt) stmt = NULL;
    if (!prepare_filtered(db, "SELECT COUNT(*)", "", read->query, &stmt, error))
        return FALSE;
    int rc = hdb_step(stmt, "counting generations", error);
    read->count = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
    return rc >= 0;
}

gint64 history_store_count(HistoryStore *store, const HistoryQuery *query, GError **error)
{
    ListRead read = {.query = query};
    return read_locked(store, count_rows, &read, error) ? read.count : -1;
}

static gboolean list_rows(sqlite3 *db, gpointer data, GError **error)
{
    ListRead *read = data;
    g_ptr_array_set_size(read->rows, 0);
    g_autoptr(sqlite3_stmt) stmt = NULL;
    if (!prepare_filtered(db, "SELECT " HISTORY_ROW_COLUMNS,
                          " ORDER BY g.id DESC LIMIT :limit OFFSET :offset", read->query, &stmt,
                          error))
        return FALSE;
    bind_named_int64(stmt, ":limit", read->limit);
    bind_named_int64(stmt, ":offset", read->offset);
    int rc;
    while ((rc = hdb_step(stmt, "listing generations", error)) == SQLITE_ROW) {
        HistoryGeneration *gen = history_generation_from_row(stmt, error);
        if (gen == NULL)
            return FALSE;
        g_ptr_array_add(read->rows, gen);
    }
    return rc == SQLITE_DONE;
}

GPtrArray *history_store_list(HistoryStore *store, const HistoryQuery *query, guint offset,
                              guint limit, GError **error)
{
    GPtrArray *rows = g_ptr_array_new_with_free_func((GDestroyNotify)history_generation_free);
    ListRead read = {.query = query, .offset = offset, .limit = limit, .rows = rows};
    if (!read_locked(store, list_rows, &read, error)) {
        g_ptr_array_unref(rows);
        return NULL;
    }
    return rows;
}

static gboolean count_with(sqlite3 *db, ListRead *read, const char *tail, gint64 *count,
                           GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
    if (!prepare_filtered(db, "SELECT COUNT(*)", tail, read->query, &stmt, error))
        return FALSE;
    bind_named_int64(stmt, ":id", read->id);
    int rc = hdb_step(stmt, "finding a generation", error);
    *count = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
    return rc >= 0;
}

static gboolean find_position(sqlite3 *db, gpointer data, GError **error)
{
    ListRead *read = data;
    gint64 matches, newer;
    if (!count_with(db, read, " AND g.id = :id", &matches, error))
        return FALSE;
    if (matches == 0) {
        read->count = -1;
        return TRUE;
    }
    if (!count_with(db, read, " AND g.id > :id", &newer, error))
        return FALSE;
    read->count = newer;
    return TRUE;
}

gint64 history_store_position(HistoryStore *store, const HistoryQuery *query, gint64 id,
                              GError **error)
{
    ListRead read = {.query = query, .id = id};
    return read_locked(store, find_position, &read, error) ? read.count : -1;
}
