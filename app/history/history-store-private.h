/* Internals shared by the history store's source files. */
#pragma once

#include <sqlite3.h>

#include "history-owner.h"
#include "history-store.h"

struct _HistoryStore {
    GObject parent_instance;
    GMutex lock; /* serialises every use of db */
    sqlite3 *db;
    char *path;
    char *owner_dir;
    HistoryOwner *owner;
    char *recovery_notice;
    char *moved_aside_path;
    int schema_version;
    gint64 last_change_seq; /* highest change this store has reported */
    gint64 data_version;    /* PRAGMA data_version at the last poll */
    gboolean local_writes;  /* this connection wrote since the last poll */
    GMainContext *context;  /* where the change signal is emitted from the automatic polls */
    GSource *poll_source;
    GSource *watch_source;
};

/* Columns read into a HistoryGeneration by history_generation_from_row(), in order. */
#define HISTORY_ROW_COLUMNS                                                                        \
    "g.id, g.status, g.created_at, g.started_at, g.finished_at, g.params_json, g.image_path, "     \
    "g.error_message, g.peak_host_bytes, g.peak_device_bytes, g.owner_pid, "                       \
    "EXISTS (SELECT 1 FROM thumbnails t WHERE t.generation_id = g.id)"

HistoryGeneration *history_generation_from_row(sqlite3_stmt *stmt, GError **error);

/* Called after every successful write through this store. */
void history_store_note_local_write(HistoryStore *store);
