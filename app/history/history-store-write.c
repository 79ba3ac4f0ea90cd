/* HistoryStore writes: the job life cycle, thumbnails, delete with undo and purge. */
#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "history-db.h"
#include "history-store-private.h"

/* Called with store->lock held. */
static gboolean require_open(HistoryStore *store, GError **error)
{
    if (store->db != NULL)
        return TRUE;
    g_set_error_literal(error, HISTORY_ERROR, HISTORY_ERROR_INVALID,
                        "The history is already closed");
    return FALSE;
}

/* Runs one write transaction under the store lock and notes it for change notification. */
static gboolean write_locked(HistoryStore *store, HdbWork work, gpointer data, GError **error)
{
    g_mutex_lock(&store->lock);
    gboolean ok = require_open(store, error) && hdb_run(store->db, HDB_WRITE, work, data, error);
    if (ok)
        history_store_note_local_write(store);
    g_mutex_unlock(&store->lock);
    return ok;
}

static gboolean require_one_change(sqlite3 *db, gint64 id, const char *what, GError **error)
{
    if (sqlite3_changes(db) > 0)
        return TRUE;
    g_set_error(error, HISTORY_ERROR, HISTORY_ERROR_NOT_FOUND, "Generation %" G_GINT64_FORMAT " %s",
                id, what);
    return FALSE;
}

/* ---- begin ------------------------------------------------------------------------------ */

typedef struct {
    const HistoryParams *params;
    const char *params_json;
    HistoryStatus status;
    HistoryStore *store;
    gint64 id;
} BeginJob;

static gboolean insert_job(sqlite3 *db, gpointer data, GError **error)
{
    BeginJob *job = data;
    const HistoryParams *p = job->params;
    g_autoptr(sqlite3_stmt) stmt = NULL;
    if (!hdb_prepare(db,
                     "INSERT INTO generations (created_at, started_at, status, prompt, width, "
                     "height, steps, guidance, seed, model, model_fingerprint, backend, "
                     "params_json, owner_pid, owner_token) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                     &stmt, error))
        return FALSE;
    gint64 now = g_get_real_time();
    sqlite3_bind_int64(stmt, 1, now);
    if (job->status == HISTORY_STATUS_RUNNING)
        sqlite3_bind_int64(stmt, 2, now);
    sqlite3_bind_text(stmt, 3, history_status_name(job->status), -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, p->prompt ? p->prompt : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 5, p->width);
    sqlite3_bind_int(stmt, 6, p->height);
    sqlite3_bind_int(stmt, 7, p->steps);
    sqlite3_bind_double(stmt, 8, p->guidance);
    sqlite3_bind_int64(stmt, 9, (sqlite3_int64)p->seed);
    sqlite3_bind_text(stmt, 10, p->model_name ? p->model_name : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 11, p->model_fingerprint ? p->model_fingerprint : "", -1,
                      SQLITE_STATIC);
    sqlite3_bind_text(stmt, 12, p->backend ? p->backend : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 13, job->params_json, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 14, getpid());
    /* under the store lock, so the owner is there as long as the database is open */
    sqlite3_bind_text(stmt, 15, history_owner_get_token(job->store->owner), -1, SQLITE_STATIC);
    if (!hdb_step_done(g_steal_pointer(&stmt), "recording a new generation", error))
        return FALSE;
    job->id = sqlite3_last_insert_rowid(db);
    return TRUE;
}

gint64 history_store_begin(HistoryStore *store, const HistoryParams *params, HistoryStatus status,
                           GError **error)
{
    g_return_val_if_fail(HISTORY_IS_STORE(store), -1);
    if (status != HISTORY_STATUS_QUEUED && status != HISTORY_STATUS_RUNNING) {
        g_set_error_literal(error, HISTORY_ERROR, HISTORY_ERROR_INVALID,
                            "A generation starts as queued or running");
        return -1;
    }
    g_autofree char *json = history_params_to_json(params);
    BeginJob job = {params, json, status, store, -1};
    return write_locked(store, insert_job, &job, error) ? job.id : -1;
}

typedef struct {
    gint64 id;
    const HistoryOutcome *outcome;
    GBytes *png;
} JobUpdate;

static gboolean set_running(sqlite3 *db, gpointer data, GError **error)
{
    JobUpdate *update = data;
    g_autoptr(sqlite3_stmt) stmt = NULL;
    if (!hdb_prepare(db,
                     "UPDATE generations SET status = 'running', started_at = ? "
                     "WHERE id = ? AND status = 'queued'",
                     &stmt, error))
        return FALSE;
    sqlite3_bind_int64(stmt, 1, g_get_real_time());
    sqlite3_bind_int64(stmt, 2, update->id);
    return hdb_step_done(g_steal_pointer(&stmt), "starting a generation", error) &&
           require_one_change(db, update->id, "is not queued", error);
}

gboolean history_store_mark_running(HistoryStore *store, gint64 id, GError **error)
{
    JobUpdate update = {.id = id};
    return write_locked(store, set_running, &update, error);
}

/* ---- finish ----------------------------------------------------------------------------- */

static gboolean is_png(GBytes *bytes)
{
    static const guint8 signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    gsize size;
    const guint8 *data = g_bytes_get_data(bytes, &size);
    return size > sizeof(signature) && memcmp(data, signature, sizeof(signature)) == 0;
}

static gboolean write_thumbnail(sqlite3 *db, gint64 id, GBytes *png, GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
    if (!hdb_prepare(db, "INSERT OR REPLACE INTO thumbnails (generation_id, png) VALUES (?, ?)",
                     &stmt, error))
        return FALSE;
    gsize size;
    const void *data = g_bytes_get_data(png, &size);
    sqlite3_bind_int64(stmt, 1, id);
    sqlite3_bind_blob64(stmt, 2, data, size, SQLITE_STATIC);
    return hdb_step_done(g_steal_pointer(&stmt), "saving a thumbnail", error);
}

static gboolean write_timings(sqlite3 *db, gint64 id, const HistoryOutcome *outcome, GError **error)
{
    g_autoptr(sqlite3_stmt) clear = NULL;
    if (!hdb_prepare(db, "DELETE FROM timings WHERE generation_id = ?", &clear, error))
        return FALSE;
    sqlite3_bind_int64(clear, 1, id);
    if (!hdb_step_done(g_steal_pointer(&clear), "saving timings", error))
        return FALSE;
    for (guint i = 0; i < outcome->n_timings; i++) {
        g_autoptr(sqlite3_stmt) stmt = NULL;
        if (!hdb_prepare(db,
                         "INSERT INTO timings (generation_id, ord, phase, seconds) "
                         "VALUES (?, ?, ?, ?)",
                         &stmt, error))
            return FALSE;
        sqlite3_bind_int64(stmt, 1, id);
        sqlite3_bind_int(stmt, 2, (int)i);
        sqlite3_bind_text(stmt, 3, outcome->timings[i].phase, -1, SQLITE_STATIC);
        sqlite3_bind_double(stmt, 4, outcome->timings[i].seconds);
        if (!hdb_step_done(g_steal_pointer(&stmt), "saving timings", error))
            return FALSE;
    }
    return TRUE;
}

static gboolean write_outcome(sqlite3 *db, gpointer data, GError **error)
{
    JobUpdate *update = data;
    const HistoryOutcome *o = update->outcome;
    g_autoptr(sqlite3_stmt) stmt = NULL;
    if (!hdb_prepare(db,
                     "UPDATE generations SET status = ?, finished_at = ?, image_path = ?, "
                     "error_message = ?, peak_host_bytes = ?, peak_device_bytes = ?, "
                     "started_at = IFNULL(started_at, created_at) WHERE id = ?",
                     &stmt, error))
        return FALSE;
    sqlite3_bind_text(stmt, 1, history_status_name(o->status), -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, g_get_real_time());
    sqlite3_bind_text(stmt, 3, o->image_path, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, o->error_message, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 5, o->peak_host_bytes);
    sqlite3_bind_int64(stmt, 6, o->peak_device_bytes);
    sqlite3_bind_int64(stmt, 7, update->id);
    if (!hdb_step_done(g_steal_pointer(&stmt), "recording the end of a generation", error) ||
        !require_one_change(db, update->id, "is not in the history", error) ||
        !write_timings(db, update->id, o, error))
        return FALSE;
    return o->thumbnail_png == NULL || write_thumbnail(db, update->id, o->thumbnail_png, error);
}

gboolean history_store_finish(HistoryStore *store, gint64 id, const HistoryOutcome *outcome,
                              GError **error)
{
    g_return_val_if_fail(HISTORY_IS_STORE(store) && outcome != NULL, FALSE);
    if (outcome->status != HISTORY_STATUS_DONE && outcome->status != HISTORY_STATUS_CANCELLED &&
        outcome->status != HISTORY_STATUS_FAILED) {
        g_set_error_literal(error, HISTORY_ERROR, HISTORY_ERROR_INVALID,
                            "A generation ends as done, cancelled or failed");
        return FALSE;
    }
    if (outcome->thumbnail_png != NULL && !is_png(outcome->thumbnail_png)) {
        g_set_error_literal(error, HISTORY_ERROR, HISTORY_ERROR_INVALID,
                            "The thumbnail is not PNG data");
        return FALSE;
    }
    JobUpdate update = {.id = id, .outcome = outcome};
    return write_locked(store, write_outcome, &update, error);
}

static gboolean replace_thumbnail(sqlite3 *db, gpointer data, GError **error)
{
    JobUpdate *update = data;
    g_autoptr(sqlite3_stmt) stmt = NULL;
    if (!hdb_prepare(db, "SELECT 1 FROM generations WHERE id = ?", &stmt, error))
        return FALSE;
    sqlite3_bind_int64(stmt, 1, update->id);
    int rc = hdb_step(stmt, "saving a thumbnail", error);
    if (rc < 0)
        return FALSE;
    if (rc != SQLITE_ROW) {
        g_set_error(error, HISTORY_ERROR, HISTORY_ERROR_NOT_FOUND,
                    "Generation %" G_GINT64_FORMAT " is not in the history", update->id);
        return FALSE;
    }
    return write_thumbnail(db, update->id, update->png, error);
}

gboolean history_store_set_thumbnail(HistoryStore *store, gint64 id, GBytes *png, GError **error)
{
    if (png == NULL || !is_png(png)) {
        g_set_error_literal(error, HISTORY_ERROR, HISTORY_ERROR_INVALID,
                            "The thumbnail is not PNG data");
        return FALSE;
    }
    JobUpdate update = {.id = id, .png = png};
    return write_locked(store, replace_thumbnail, &update, error);
}

/* ---- delete, undo, purge ---------------------------------------------------------------- */

static gboolean soft_delete(sqlite3 *db, gpointer data, GError **error)
{
    JobUpdate *update = data;
    g_autoptr(sqlite3_stmt) stmt = NULL;
    if (!hdb_prepare(db,
                     "UPDATE generations SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL",
                     &stmt, error))
        return FALSE;
    sqlite3_bind_int64(stmt, 1, g_get_real_time());
    sqlite3_bind_int64(stmt, 2, update->id);
    return hdb_step_done(g_steal_pointer(&stmt), "deleting a generation", error) &&
           require_one_change(db, update->id, "is not in the history", error);
}

gboolean history_store_delete(HistoryStore *store, gint64 id, GError **error)
{
    JobUpdate update = {.id = id};
    return write_locked(store, soft_delete, &update, error);
}

static gboolean restore(sqlite3 *db, gpointer data, GError **error)
{
    JobUpdate *update = data;
    g_autoptr(sqlite3_stmt) stmt = NULL;
    if (!hdb_prepare(db,
                     "UPDATE generations SET deleted_at = NULL "
                     "WHERE id = ? AND deleted_at IS NOT NULL",
                     &stmt, error))
        return FALSE;
    sqlite3_bind_int64(stmt, 1, update->id);
    return hdb_step_done(g_steal_pointer(&stmt), "restoring a generation", error) &&
           require_one_change(db, update->id, "is no longer deleted and can not be restored",
                              error);
}

gboolean history_store_undelete(HistoryStore *store, gint64 id, GError **error)
{
    JobUpdate update = {.id = id};
    return write_locked(store, restore, &update, error);
}

typedef struct {
    gint64 id;
    char *image_path;
    gboolean found;
} PurgeTarget;

static gboolean find_image(sqlite3 *db, gpointer data, GError **error)
{
    PurgeTarget *target = data;
    g_autoptr(sqlite3_stmt) stmt = NULL;
    if (!hdb_prepare(db, "SELECT image_path FROM generations WHERE id = ?", &stmt, error))
        return FALSE;
    sqlite3_bind_int64(stmt, 1, target->id);
    int rc = hdb_step(stmt, "deleting a generation", error);
    if (rc < 0)
        return FALSE;
    target->found = rc == SQLITE_ROW;
    g_clear_pointer(&target->image_path, g_free);
    if (target->found && sqlite3_column_text(stmt, 0) != NULL)
        target->image_path = g_strdup((const char *)sqlite3_column_text(stmt, 0));
    return TRUE;
}

static gboolean delete_row(sqlite3 *db, gpointer data, GError **error)
{
    PurgeTarget *target = data;
    g_autoptr(sqlite3_stmt) stmt = NULL;
    if (!hdb_prepare(db, "DELETE FROM generations WHERE id = ?", &stmt, error))
        return FALSE;
    sqlite3_bind_int64(stmt, 1, target->id);
    return hdb_step_done(g_steal_pointer(&stmt), "deleting a generation", error);
}

/* The image goes first: if we stop in between, the row (still deleted) is purged again later. */
static gboolean purge_locked(HistoryStore *store, gint64 id, GError **error)
{
    PurgeTarget target = {.id = id};
    gboolean ok = hdb_run(store->db, HDB_READ, find_image, &target, error);
    if (ok && !target.found) {
        g_set_error(error, HISTORY_ERROR, HISTORY_ERROR_NOT_FOUND,
                    "Generation %" G_GINT64_FORMAT " is not in the history", id);
        ok = FALSE;
    }
    if (ok && target.image_path != NULL && g_unlink(target.image_path) != 0 && errno != ENOENT) {
        int err = errno;
        g_set_error(error, HISTORY_ERROR, HISTORY_ERROR_IO, "Could not delete the image %s: %s",
                    target.image_path, g_strerror(err));
        ok = FALSE;
    }
    if (ok)
        ok = hdb_run(store->db, HDB_WRITE, delete_row, &target, error);
    if (ok)
        history_store_note_local_write(store);
    g_free(target.image_path);
    return ok;
}

gboolean history_store_purge(HistoryStore *store, gint64 id, GError **error)
{
    g_mutex_lock(&store->lock);
    gboolean ok = require_open(store, error) && purge_locked(store, id, error);
    g_mutex_unlock(&store->lock);
    return ok;
}

typedef struct {
    gint64 before;
    GArray *ids;
} DeletedBefore;

static gboolean find_deleted(sqlite3 *db, gpointer data, GError **error)
{
    DeletedBefore *query = data;
    g_array_set_size(query->ids, 0);
    g_autoptr(sqlite3_stmt) stmt = NULL;
    if (!hdb_prepare(db,
                     "SELECT id FROM generations WHERE deleted_at IS NOT NULL AND deleted_at < ?",
                     &stmt, error))
        return FALSE;
    sqlite3_bind_int64(stmt, 1, query->before);
    int rc;
    while ((rc = hdb_step(stmt, "purging deleted generations", error)) == SQLITE_ROW) {
        gint64 id = sqlite3_column_int64(stmt, 0);
        g_array_append_val(query->ids, id);
    }
    return rc == SQLITE_DONE;
}

int history_store_purge_deleted_before(HistoryStore *store, gint64 before_us, GError **error)
{
    g_autoptr(GArray) ids = g_array_new(FALSE, FALSE, sizeof(gint64));
    DeletedBefore query = {before_us, ids};
    g_mutex_lock(&store->lock);
    gboolean ok =
        require_open(store, error) && hdb_run(store->db, HDB_READ, find_deleted, &query, error);
    int purged = 0;
    for (guint i = 0; ok && i < ids->len; i++) {
        g_autoptr(GError) purge_error = NULL;
        if (purge_locked(store, g_array_index(ids, gint64, i), &purge_error))
            purged++;
        else if (!g_error_matches(purge_error, HISTORY_ERROR, HISTORY_ERROR_NOT_FOUND))
            ok = (g_propagate_error(error, g_steal_pointer(&purge_error)), FALSE);
    }
    g_mutex_unlock(&store->lock);
    return ok ? purged : -1;
}
