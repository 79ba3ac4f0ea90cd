/* SQLite plumbing of the history store: error mapping and retry on SQLITE_BUSY, so that
 * "database is locked" never reaches the user. Internal to app/history. */
#pragma once

#include <glib.h>
#include <sqlite3.h>

/* How long one operation keeps retrying while another process holds the write lock. */
#define HDB_BUSY_TIMEOUT_MS 2000
#define HDB_BUSY_DEADLINE_US (G_GINT64_CONSTANT(60) * G_USEC_PER_SEC)

typedef enum { HDB_READ, HDB_WRITE } HdbMode;

/* One attempt of a transaction's work; may be called again after HISTORY_ERROR_BUSY. */
typedef gboolean (*HdbWork)(sqlite3 *db, gpointer data, GError **error);

/* Sets a HISTORY_ERROR for an SQLite result code: BUSY/LOCKED map to HISTORY_ERROR_BUSY,
 * CORRUPT/NOTADB to HISTORY_ERROR_CORRUPT, I/O and permission failures to HISTORY_ERROR_IO. */
void hdb_set_error(GError **error, sqlite3 *db, int rc, const char *doing);
gboolean hdb_rc_is_corrupt(int rc);

/* Runs work inside BEGIN (read) or BEGIN IMMEDIATE (write) ... COMMIT, rolling back on failure
 * and starting over with jittered backoff while the error is HISTORY_ERROR_BUSY. */
gboolean hdb_run(sqlite3 *db, HdbMode mode, HdbWork work, gpointer data, GError **error);

/* Executes SQL outside any transaction (pragmas), retrying on busy. */
gboolean hdb_exec(sqlite3 *db, const char *sql, GError **error);
gboolean hdb_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **stmt, GError **error);
/* Steps a statement once: SQLITE_ROW or SQLITE_DONE, else -1 with error set. */
int hdb_step(sqlite3_stmt *stmt, const char *doing, GError **error);
/* Runs a prepared statement to completion (for INSERT/UPDATE/DELETE) and finalizes it. */
gboolean hdb_step_done(sqlite3_stmt *stmt, const char *doing, GError **error);
/* Single integer result of a query (first column of the first row); FALSE on error. */
gboolean hdb_query_int(sqlite3 *db, const char *sql, gint64 *value, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(sqlite3_stmt, sqlite3_finalize)
