/* The generation history: one SQLite database shared by the app and the command line.
 *
 * Threads: every call is serialised by the store's own lock, so a worker thread may begin and
 * finish jobs while the main thread pages through the list. Signals are only emitted from
 * history_store_poll_changes(), i.e. on the thread that calls it (the GUI's main thread).
 *
 * Delete and undo: history_store_delete() is a soft delete; the row disappears from every query
 * but the row and its image file stay until history_store_purge() (called when the undo toast is
 * dismissed) or until a later open finds it deleted for longer than HISTORY_UNDO_WINDOW_US. */
#pragma once

#include <gio/gio.h>

#include "history-error.h"
#include "history-params.h"

G_BEGIN_DECLS

typedef enum {
    HISTORY_STATUS_QUEUED,
    HISTORY_STATUS_RUNNING,
    HISTORY_STATUS_DONE,
    HISTORY_STATUS_CANCELLED,
    HISTORY_STATUS_FAILED,
    HISTORY_STATUS_INTERRUPTED, /* its process went away while it was queued or running */
} HistoryStatus;

#define HISTORY_N_STATUSES 6
const char *history_status_name(HistoryStatus status);
gboolean history_status_from_name(const char *name, HistoryStatus *status);

/* Soft-deleted rows older than this are purged (with their image) at the next open. */
#define HISTORY_UNDO_WINDOW_US (G_GINT64_CONSTANT(3600) * G_USEC_PER_SEC)

typedef struct {
    char *phase; /* "text encoding", "denoising", "vae decode", ... */
    double seconds;
} HistoryTiming;

/* One row. Times are microseconds since the Unix epoch (UTC), 0 when not reached. */
typedef struct {
    gint64 id;
    HistoryStatus status;
    gint64 created_at, started_at, finished_at;
    HistoryParams params; /* parsed from the exact JSON blob stored with the row */
    char *params_json;    /* that blob, byte for byte */
    char *image_path;     /* NULL until an image was written */
    char *error_message;  /* NULL unless failed */
    gint64 peak_host_bytes, peak_device_bytes;
    gint64 owner_pid; /* the process that ran it (informational) */
    gboolean has_thumbnail;
    GArray *timings; /* of HistoryTiming, in the order given; empty in list pages */
} HistoryGeneration;

void history_generation_free(HistoryGeneration *gen);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HistoryGeneration, history_generation_free)

/* What a job's end writes, in one transaction with the status change. */
typedef struct {
    HistoryStatus status;      /* DONE, CANCELLED or FAILED */
    const char *image_path;    /* may be NULL */
    const char *error_message; /* may be NULL */
    gint64 peak_host_bytes, peak_device_bytes;
    const HistoryTiming *timings;
    guint n_timings;
    GBytes *thumbnail_png; /* may be NULL; must be PNG data */
} HistoryOutcome;

/* Which rows a page shows. All conditions are ANDed; zero/NULL means "any". */
typedef struct {
    const char *search; /* words of the prompt (FTS5, prefix match, any order) */
    guint status_mask;  /* bit (1 << HistoryStatus) per status wanted, 0 = all */
    const char *model;  /* model name, exact */
    int width, height;  /* exact size */
    gint64 created_after; /* g_get_real_time() units: rows created at or after it (0 = any) */
} HistoryQuery;

typedef enum {
    HISTORY_CHANGE_ADDED,   /* a row appeared (new, or undeleted) */
    HISTORY_CHANGE_UPDATED, /* a visible row changed (status, outcome, thumbnail) */
    HISTORY_CHANGE_REMOVED, /* a row was deleted (soft or purged) */
    HISTORY_CHANGE_RESET,   /* too much changed to list: reload everything (id is 0) */
} HistoryChange;

#define HISTORY_TYPE_STORE (history_store_get_type())
G_DECLARE_FINAL_TYPE(HistoryStore, history_store, HISTORY, STORE, GObject)

/* $RESDIT_HISTORY_DB when set, else g_get_user_data_dir()/resdit-studio/history.sqlite3. */
char *history_store_default_path(void);

/* Opens (creating or migrating) the database at path. A damaged or unreadable file is renamed
 * to PATH.corrupt-YYYYmmdd-HHMMSS (with its -wal/-shm) and a new one started: the open then
 * succeeds and history_store_get_recovery_notice() says so. Rows queued or running in a process
 * that is gone become interrupted. Fails for a database of a newer schema (left untouched). */
HistoryStore *history_store_open(const char *path, GError **error);
/* Marks this process's unfinished jobs interrupted and closes the database. Also done by the
 * last unref; explicit so errors of the final writes are not lost silently. */
void history_store_close(HistoryStore *store);

const char *history_store_get_path(HistoryStore *store);
/* Message for the user when the open moved a damaged file aside, else NULL. */
const char *history_store_get_recovery_notice(HistoryStore *store);
/* Where the damaged file went, else NULL. */
const char *history_store_get_moved_aside_path(HistoryStore *store);
int history_store_get_schema_version(HistoryStore *store);
int history_store_latest_schema_version(void);

/* Job life cycle: a row is written as the job starts and updated as it ends. */
gint64 history_store_begin(HistoryStore *store, const HistoryParams *params, HistoryStatus status,
                           GError **error);
gboolean history_store_mark_running(HistoryStore *store, gint64 id, GError **error);
gboolean history_store_finish(HistoryStore *store, gint64 id, const HistoryOutcome *outcome,
                              GError **error);
gboolean history_store_set_thumbnail(HistoryStore *store, gint64 id, GBytes *png, GError **error);

/* Reading. get() includes timings; pages leave timings empty and thumbnails out. */
HistoryGeneration *history_store_get(HistoryStore *store, gint64 id, GError **error);
GBytes *history_store_get_thumbnail(HistoryStore *store, gint64 id, GError **error);
/* Number of rows the query matches, or -1 with error. */
gint64 history_store_count(HistoryStore *store, const HistoryQuery *query, GError **error);
/* Rows offset..offset+limit-1 of the query, newest first: a GPtrArray of HistoryGeneration. */
GPtrArray *history_store_list(HistoryStore *store, const HistoryQuery *query, guint offset,
                              guint limit, GError **error);
/* Position of row id in the query's newest-first order; -1 when it does not match (or error). */
gint64 history_store_position(HistoryStore *store, const HistoryQuery *query, gint64 id,
                              GError **error);

/* Delete with undo (see the top of this file). purge removes the row and its image file. */
gboolean history_store_delete(HistoryStore *store, gint64 id, GError **error);
gboolean history_store_undelete(HistoryStore *store, gint64 id, GError **error);
gboolean history_store_purge(HistoryStore *store, gint64 id, GError **error);
/* Purges every row soft-deleted before the given time; returns how many, -1 on error. */
int history_store_purge_deleted_before(HistoryStore *store, gint64 before_us, GError **error);

/* Change notification by row id, from this process and from others (the CLI and the app):
 * emits HistoryStore::changed (gint64 id, HistoryChange kind) for every change since the last
 * poll. Cheap when nothing changed. Writes through this store schedule a poll on the main
 * context the store was opened on; history_store_watch() also polls every interval_ms to see
 * other processes' writes (0 stops). */
gboolean history_store_poll_changes(HistoryStore *store, GError **error);
void history_store_watch(HistoryStore *store, guint interval_ms);

G_END_DECLS
