/* HistoryStore: opening (with migration and recovery of damaged files), closing, and change
 * notification. Writes are in history-store-write.c, reads in history-store-read.c. */
#include <errno.h>
#include <glib/gstdio.h>
#include <unistd.h>

#include "history-db.h"
#include "history-schema.h"
#include "history-store-private.h"

G_DEFINE_TYPE(HistoryStore, history_store, G_TYPE_OBJECT)

enum { SIGNAL_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

#define CHANGE_LOG_KEEP 10000

static void history_store_finalize(GObject *object)
{
    HistoryStore *store = HISTORY_STORE(object);
    history_store_close(store);
    g_mutex_clear(&store->lock);
    g_free(store->path);
    g_free(store->owner_dir);
    g_free(store->recovery_notice);
    g_free(store->moved_aside_path);
    g_main_context_unref(store->context);
    G_OBJECT_CLASS(history_store_parent_class)->finalize(object);
}

static void history_store_class_init(HistoryStoreClass *klass)
{
    G_OBJECT_CLASS(klass)->finalize = history_store_finalize;
    /* HistoryStore::changed (gint64 id, HistoryChange kind) */
    signals[SIGNAL_CHANGED] =
        g_signal_new("changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                     G_TYPE_NONE, 2, G_TYPE_INT64, G_TYPE_INT);
}

static void history_store_init(HistoryStore *store)
{
    g_mutex_init(&store->lock);
    store->context = g_main_context_ref_thread_default();
}

char *history_store_default_path(void)
{
    const char *env = g_getenv("RESDIT_HISTORY_DB");
    if (env != NULL && *env != '\0')
        return g_strdup(env);
    return g_build_filename(g_get_user_data_dir(), "resdit-studio", "history.sqlite3", NULL);
}

int history_store_latest_schema_version(void)
{
    return history_schema_latest_version();
}

/* ---- opening ---------------------------------------------------------------------------- */

static gboolean check_structure(sqlite3 *db, int version, GError **error)
{
    if (version < 1)
        return TRUE;
    /* Only the generations table and its indexes: thumbnails would make this cost grow with
     * every image, and damage there is reported when a thumbnail is read. */
    g_autoptr(sqlite3_stmt) stmt = NULL;
    if (!hdb_prepare(db, "PRAGMA quick_check(generations)", &stmt, error))
        return FALSE;
    int rc = hdb_step(stmt, "checking the history", error);
    if (rc < 0)
        return FALSE;
    const char *first = (const char *)sqlite3_column_text(stmt, 0);
    if (rc != SQLITE_ROW || g_strcmp0(first, "ok") != 0) {
        g_set_error(error, HISTORY_ERROR, HISTORY_ERROR_CORRUPT,
                    "The history database is damaged: %s.", first ? first : "no check result");
        return FALSE;
    }
    return TRUE;
}

/* An open that failed to read or write the file (permissions, a read-only file system, a folder
 * where the file should be): the file is left alone and the error says which file and what to
 * do. Other errors (busy, newer schema, internal) keep their own code and message. sys_errno:
 * the system error SQLite met, 0 when it reported none. */
static void explain_access_error(const char *path, int sys_errno, GError **error)
{
    if (!g_error_matches(error ? *error : NULL, HISTORY_ERROR, HISTORY_ERROR_IO))
        return;
    g_autofree char *detail = g_strdup((*error)->message);
    g_clear_error(error);
    const char *what;
    if (sys_errno == EACCES || sys_errno == EPERM)
        what = "make sure you own it, or have read and write permission on it and on its folder";
    else if (sys_errno == EROFS)
        what = "it is on a read-only file system: use a history file on a writable disk";
    else if (sys_errno == EISDIR || g_file_test(path, G_FILE_TEST_IS_DIR))
        what = "a folder has its name: move that folder away";
    else
        what = "check that it is a file you can read and write, in a folder you can write";
    g_set_error(error, HISTORY_ERROR, HISTORY_ERROR_IO,
                "The history file %s could not be opened: %s. It was left as it is: %s.", path,
                sys_errno ? g_strerror(sys_errno) : detail, what);
}

static sqlite3 *open_database(const char *path, int *version, GError **error)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        int sys_errno = db ? sqlite3_system_errno(db) : 0;
        hdb_set_error(error, db, rc, "opening the history");
        sqlite3_close(db);
        explain_access_error(path, sys_errno, error);
        return NULL;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, HDB_BUSY_TIMEOUT_MS);
    /* Until the file is known to be sound, closing must not checkpoint or delete its -wal:
     * a damaged history is kept aside exactly as found. */
    sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    if (!hdb_exec(db, "PRAGMA foreign_keys = ON", error) ||
        !hdb_exec(db, "PRAGMA journal_mode = WAL", error) ||
        !hdb_exec(db, "PRAGMA synchronous = NORMAL", error) ||
        !history_schema_read_version(db, version, error) || !check_structure(db, *version, error) ||
        !history_schema_migrate(db, error) || !history_schema_read_version(db, version, error)) {
        int sys_errno = sqlite3_system_errno(db);
        sqlite3_close(db);
        explain_access_error(path, sys_errno, error);
        return NULL;
    }
    sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, NULL);
    return db;
}

/* Only damage that SQLite itself reports (corrupt, not a database) or that the structure check
 * finds moves a file aside. A file that cannot be opened, read or written (permissions, a
 * read-only file system) is someone's intact history: it is reported and never touched. */
static gboolean should_move_aside(const GError *error)
{
    return g_error_matches(error, HISTORY_ERROR, HISTORY_ERROR_CORRUPT);
}

static char *free_aside_name(const char *path)
{
    g_autoptr(GDateTime) now = g_date_time_new_now_local();
    g_autofree char *stamp = g_date_time_format(now, "%Y%m%d-%H%M%S");
    char *aside = g_strdup_printf("%s.corrupt-%s", path, stamp);
    for (int n = 2; g_file_test(aside, G_FILE_TEST_EXISTS); n++) {
        g_free(aside);
        aside = g_strdup_printf("%s.corrupt-%s-%d", path, stamp, n);
    }
    return aside;
}

/* Renames the database and its -wal and -shm files; nothing is deleted. */
static char *move_aside(const char *path, GError **error)
{
    g_autofree char *aside = free_aside_name(path);
    if (g_rename(path, aside) != 0) {
        int err = errno;
        g_set_error(error, HISTORY_ERROR, HISTORY_ERROR_IO,
                    "The history file %s is damaged and could not be moved aside: %s", path,
                    g_strerror(err));
        return NULL;
    }
    static const char *const suffixes[] = {"-wal", "-shm"};
    for (guint i = 0; i < G_N_ELEMENTS(suffixes); i++) {
        g_autofree char *from = g_strconcat(path, suffixes[i], NULL);
        g_autofree char *to = g_strconcat(aside, suffixes[i], NULL);
        if (g_file_test(from, G_FILE_TEST_EXISTS) && g_rename(from, to) != 0)
            g_warning("could not move %s aside: %s", from, g_strerror(errno));
    }
    return g_steal_pointer(&aside);
}

static gboolean open_or_recover(HistoryStore *store, GError **error)
{
    g_autoptr(GError) first_error = NULL;
    store->db = open_database(store->path, &store->schema_version, &first_error);
    if (store->db != NULL)
        return TRUE;
    if (!should_move_aside(first_error)) {
        g_propagate_error(error, g_steal_pointer(&first_error));
        return FALSE;
    }
    store->moved_aside_path = move_aside(store->path, error);
    if (store->moved_aside_path == NULL)
        return FALSE;
    store->recovery_notice =
        g_strdup_printf("%s A new, empty history was started; the old file was kept as %s.",
                        first_error->message, store->moved_aside_path);
    g_info("%s", store->recovery_notice);
    store->db = open_database(store->path, &store->schema_version, error);
    return store->db != NULL;
}

/* ---- start-up housekeeping -------------------------------------------------------------- */

typedef struct {
    GPtrArray *dead_tokens; /* NULL entry: rows without an owner token (older versions) */
} Orphans;

static gboolean collect_owner_tokens(sqlite3 *db, gpointer data, GError **error)
{
    GPtrArray *tokens = data;
    g_autoptr(sqlite3_stmt) stmt = NULL;
    if (!hdb_prepare(db,
                     "SELECT DISTINCT owner_token FROM generations "
                     "WHERE status IN ('queued', 'running')",
                     &stmt, error))
        return FALSE;
    g_ptr_array_set_size(tokens, 0);
    int rc;
    while ((rc = hdb_step(stmt, "looking for interrupted jobs", error)) == SQLITE_ROW)
        g_ptr_array_add(tokens, g_strdup((const char *)sqlite3_column_text(stmt, 0)));
    return rc == SQLITE_DONE;
}

static gboolean mark_interrupted(sqlite3 *db, gpointer data, GError **error)
{
    Orphans *orphans = data;
    for (guint i = 0; i < orphans->dead_tokens->len; i++) {
        g_autoptr(sqlite3_stmt) stmt = NULL;
        if (!hdb_prepare(db,
                         "UPDATE generations SET status = 'interrupted', error_message = "
                         "'Interrupted: the program running it stopped before it finished.' "
                         "WHERE status IN ('queued', 'running') AND owner_token IS ?",
                         &stmt, error))
            return FALSE;
        sqlite3_bind_text(stmt, 1, g_ptr_array_index(orphans->dead_tokens, i), -1, SQLITE_STATIC);
        if (!hdb_step_done(g_steal_pointer(&stmt), "marking interrupted jobs", error))
            return FALSE;
    }
    return TRUE;
}

static gboolean recover_interrupted(HistoryStore *store, GError **error)
{
    g_autoptr(GPtrArray) tokens = g_ptr_array_new_with_free_func(g_free);
    if (!hdb_run(store->db, HDB_READ, collect_owner_tokens, tokens, error))
        return FALSE;
    g_autoptr(GPtrArray) dead = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < tokens->len; i++) {
        const char *token = g_ptr_array_index(tokens, i);
        if (!history_owner_is_alive(store->owner_dir, token))
            g_ptr_array_add(dead, g_strdup(token));
    }
    if (dead->len == 0)
        return TRUE;
    Orphans orphans = {.dead_tokens = dead};
    return hdb_run(store->db, HDB_WRITE, mark_interrupted, &orphans, error);
}

static gboolean trim_change_log(sqlite3 *db, gpointer data, GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
    if (!hdb_prepare(db, "DELETE FROM changes WHERE seq <= (SELECT MAX(seq) FROM changes) - ?",
                     &stmt, error))
        return FALSE;
    sqlite3_bind_int(stmt, 1, CHANGE_LOG_KEEP);
    return hdb_step_done(g_steal_pointer(&stmt), "tidying the history", error);
}

static gboolean housekeeping(HistoryStore *store, GError **error)
{
    if (!recover_interrupted(store, error))
        return FALSE;
    if (!hdb_run(store->db, HDB_WRITE, trim_change_log, NULL, error))
        return FALSE;
    /* An image that cannot be removed must not keep the history closed: it is tried again. */
    g_autoptr(GError) purge_error = NULL;
    gint64 before = g_get_real_time() - HISTORY_UNDO_WINDOW_US;
    if (history_store_purge_deleted_before(store, before, &purge_error) < 0)
        g_warning("%s", purge_error->message);
    return hdb_query_int(store->db, "SELECT IFNULL(MAX(seq), 0) FROM changes",
                         &store->last_change_seq, error) &&
           hdb_query_int(store->db, "PRAGMA data_version", &store->data_version, error);
}

HistoryStore *history_store_open(const char *path, GError **error)
{
    g_return_val_if_fail(path != NULL, NULL);
    g_autoptr(HistoryStore) store = g_object_new(HISTORY_TYPE_STORE, NULL);
    store->path = g_strdup(path);
    store->owner_dir = g_strconcat(path, ".owners", NULL);
    g_autofree char *dir = g_path_get_dirname(path);
    if (g_mkdir_with_parents(dir, 0700) != 0) {
        int err = errno;
        g_set_error(error, HISTORY_ERROR, HISTORY_ERROR_IO,
                    "Could not create the history folder %s: %s", dir, g_strerror(err));
        return NULL;
    }
    if (!open_or_recover(store, error))
        return NULL;
    store->owner = history_owner_acquire(store->owner_dir, error);
    if (store->owner == NULL || !housekeeping(store, error)) {
        g_prefix_error(error, "Opening the history %s: ", path);
        /* it started no job: closing has none to mark (and may not be able to write) */
        g_clear_pointer(&store->owner, history_owner_release);
        return NULL;
    }
    return g_steal_pointer(&store);
}

/* ---- closing ---------------------------------------------------------------------------- */

static gboolean interrupt_own_jobs(sqlite3 *db, gpointer data, GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
    if (!hdb_prepare(db,
                     "UPDATE generations SET status = 'interrupted', error_message = "
                     "'Interrupted: the program was closed before it finished.' "
                     "WHERE status IN ('queued', 'running') AND owner_token = ?",
                     &stmt, error))
        return FALSE;
    sqlite3_bind_text(stmt, 1, data, -1, SQLITE_STATIC);
    return hdb_step_done(g_steal_pointer(&stmt), "closing the history", error);
}

void history_store_close(HistoryStore *store)
{
    g_return_if_fail(HISTORY_IS_STORE(store));
    g_mutex_lock(&store->lock);
    if (store->poll_source)
        g_source_destroy(store->poll_source);
    g_clear_pointer(&store->poll_source, g_source_unref);
    if (store->watch_source)
        g_source_destroy(store->watch_source);
    g_clear_pointer(&store->watch_source, g_source_unref);
    if (store->db != NULL && store->owner != NULL) {
        g_autoptr(GError) error = NULL;
        if (!hdb_run(store->db, HDB_WRITE, interrupt_own_jobs,
                     (gpointer)history_owner_get_token(store->owner), &error))
            g_warning("%s", error->message);
    }
    g_clear_pointer(&store->owner, history_owner_release);
    g_clear_pointer(&store->db, sqlite3_close);
    g_mutex_unlock(&store->lock);
}

const char *history_store_get_path(HistoryStore *store)
{
    return store->path;
}

const char *history_store_get_recovery_notice(HistoryStore *store)
{
    return store->recovery_notice;
}

const char *history_store_get_moved_aside_path(HistoryStore *store)
{
    return store->moved_aside_path;
}

int history_store_get_schema_version(HistoryStore *store)
{
    return store->schema_version;
}

/* ---- change notification ---------------------------------------------------------------- */

typedef struct {
    gint64 id;
    int kind;
} ChangeEvent;

typedef struct {
    gint64 after_seq;
    gint64 last_seq;
    GArray *events;
} ChangeRead;

static gboolean read_changes(sqlite3 *db, gpointer data, GError **error)
{
    ChangeRead *read = data;
    g_array_set_size(read->events, 0);
    read->last_seq = read->after_seq;
    g_autoptr(sqlite3_stmt) stmt = NULL;
    if (!hdb_prepare(db, "SELECT seq, generation_id, kind FROM changes WHERE seq > ? ORDER BY seq",
                     &stmt, error))
        return FALSE;
    sqlite3_bind_int64(stmt, 1, read->after_seq);
    gint64 first_seq = 0;
    int rc;
    while ((rc = hdb_step(stmt, "reading history changes", error)) == SQLITE_ROW) {
        ChangeEvent ev = {sqlite3_column_int64(stmt, 1), sqlite3_column_int(stmt, 2)};
        g_array_append_val(read->events, ev);
        read->last_seq = sqlite3_column_int64(stmt, 0);
        if (first_seq == 0)
            first_seq = read->last_seq;
    }
    if (read->events->len > 0 && first_seq != read->after_seq + 1) {
        /* the log was trimmed past what this store saw: the caller must reload */
        ChangeEvent reset = {0, HISTORY_CHANGE_RESET};
        g_array_set_size(read->events, 0);
        g_array_append_val(read->events, reset);
    }
    return rc == SQLITE_DONE;
}

/* Called with store->lock held. */
static gboolean poll_locked(HistoryStore *store, GArray *events, GError **error)
{
    if (store->db == NULL)
        return TRUE;
    gint64 version;
    if (!hdb_query_int(store->db, "PRAGMA data_version", &version, error))
        return FALSE;
    if (version == store->data_version && !store->local_writes)
        return TRUE;
    ChangeRead read = {.after_seq = store->last_change_seq, .events = events};
    if (!hdb_run(store->db, HDB_READ, read_changes, &read, error))
        return FALSE;
    store->last_change_seq = read.last_seq;
    store->data_version = version;
    store->local_writes = FALSE;
    return TRUE;
}

gboolean history_store_poll_changes(HistoryStore *store, GError **error)
{
    g_autoptr(GArray) events = g_array_new(FALSE, FALSE, sizeof(ChangeEvent));
    g_mutex_lock(&store->lock);
    gboolean ok = poll_locked(store, events, error);
    g_mutex_unlock(&store->lock);
    /* outside the lock: handlers read the store */
    for (guint i = 0; i < events->len; i++) {
        ChangeEvent *ev = &g_array_index(events, ChangeEvent, i);
        g_signal_emit(store, signals[SIGNAL_CHANGED], 0, ev->id, ev->kind);
    }
    return ok;
}

static gboolean poll_from_source(gpointer data)
{
    HistoryStore *store = data;
    g_autoptr(GError) error = NULL;
    if (!history_store_poll_changes(store, &error))
        g_warning("%s", error->message);
    return G_SOURCE_CONTINUE;
}

static gboolean poll_once(gpointer data)
{
    HistoryStore *store = data;
    g_mutex_lock(&store->lock);
    g_clear_pointer(&store->poll_source, g_source_unref);
    g_mutex_unlock(&store->lock);
    poll_from_source(store);
    return G_SOURCE_REMOVE;
}

/* Called with store->lock held. */
void history_store_note_local_write(HistoryStore *store)
{
    store->local_writes = TRUE;
    if (store->poll_source != NULL)
        return;
    store->poll_source = g_idle_source_new();
    g_source_set_callback(store->poll_source, poll_once, store, NULL);
    g_source_attach(store->poll_source, store->context);
}

void history_store_watch(HistoryStore *store, guint interval_ms)
{
    g_mutex_lock(&store->lock);
    if (store->watch_source)
        g_source_destroy(store->watch_source);
    g_clear_pointer(&store->watch_source, g_source_unref);
    if (interval_ms > 0) {
        store->watch_source = g_timeout_source_new(interval_ms);
        g_source_set_callback(store->watch_source, poll_from_source, store, NULL);
        g_source_attach(store->watch_source, store->context);
    }
    g_mutex_unlock(&store->lock);
}
