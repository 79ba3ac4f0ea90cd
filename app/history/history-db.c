/* Error mapping and busy retry for the history's SQLite connection. */
#include "history-db.h"

#include "history-error.h"

G_DEFINE_QUARK(history - error - quark, history_error)

gboolean hdb_rc_is_corrupt(int rc)
{
    int primary = rc & 0xff;
    return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB;
}

static HistoryErrorCode code_for_rc(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return HISTORY_ERROR_BUSY;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return HISTORY_ERROR_CORRUPT;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_FULL:
        return HISTORY_ERROR_IO;
    default:
        return HISTORY_ERROR_INTERNAL;
    }
}

void hdb_set_error(GError **error, sqlite3 *db, int rc, const char *doing)
{
    HistoryErrorCode code = code_for_rc(rc);
    const char *detail = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    switch (code) {
    case HISTORY_ERROR_BUSY:
        g_set_error(error, HISTORY_ERROR, code,
                    "The history is busy: another ResDiT Studio program kept it in use while %s. "
                    "Try again in a moment.",
                    doing);
        break;
    case HISTORY_ERROR_CORRUPT:
        g_set_error(error, HISTORY_ERROR, code, "The history database is damaged: %s (while %s).",
                    detail, doing);
        break;
    case HISTORY_ERROR_IO:
        g_set_error(error, HISTORY_ERROR, code,
                    "The history database could not be read or written while %s: %s. Check the "
                    "disk space and the permissions of the folder.",
                    doing, detail);
        break;
    default:
        g_set_error(error, HISTORY_ERROR, code, "History database error while %s: %s", doing,
                    detail);
        break;
    }
}

static void backoff(guint *delay_us)
{
    g_usleep(*delay_us + g_random_int_range(0, (gint32)*delay_us + 1));
    *delay_us = MIN(*delay_us * 2, 50000u);
}

static gboolean is_busy(const GError *error)
{
    return g_error_matches(error, HISTORY_ERROR, HISTORY_ERROR_BUSY);
}

static void rollback(sqlite3 *db)
{
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

static gboolean run_once(sqlite3 *db, HdbMode mode, HdbWork work, gpointer data, GError **error)
{
    const char *begin = mode == HDB_WRITE ? "BEGIN IMMEDIATE" : "BEGIN";
    int rc = sqlite3_exec(db, begin, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        hdb_set_error(error, db, rc, "starting a transaction");
        rollback(db);
        return FALSE;
    }
    if (!work(db, data, error)) {
        rollback(db);
        return FALSE;
    }
    rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        hdb_set_error(error, db, rc, "saving a change");
        rollback(db);
        return FALSE;
    }
    return TRUE;
}

gboolean hdb_run(sqlite3 *db, HdbMode mode, HdbWork work, gpointer data, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + HDB_BUSY_DEADLINE_US;
    guint delay_us = 1000;
    for (;;) {
        GError *attempt_error = NULL;
        if (run_once(db, mode, work, data, &attempt_error))
            return TRUE;
        if (!is_busy(attempt_error) || g_get_monotonic_time() > deadline) {
            g_propagate_error(error, attempt_error);
            return FALSE;
        }
        g_error_free(attempt_error);
        backoff(&delay_us);
    }
}

gboolean hdb_exec(sqlite3 *db, const char *sql, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + HDB_BUSY_DEADLINE_US;
    guint delay_us = 1000;
    for (;;) {
        int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            return TRUE;
        if (code_for_rc(rc) != HISTORY_ERROR_BUSY || g_get_monotonic_time() > deadline) {
            hdb_set_error(error, db, rc, "preparing the history");
            return FALSE;
        }
        backoff(&delay_us);
    }
}

gboolean hdb_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **stmt, GError **error)
{
    int rc = sqlite3_prepare_v2(db, sql, -1, stmt, NULL);
    if (rc != SQLITE_OK) {
        hdb_set_error(error, db, rc, "reading the history");
        *stmt = NULL;
        return FALSE;
    }
    return TRUE;
}

int hdb_step(sqlite3_stmt *stmt, const char *doing, GError **error)
{
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        return rc;
    hdb_set_error(error, sqlite3_db_handle(stmt), rc, doing);
    return -1;
}

gboolean hdb_step_done(sqlite3_stmt *stmt, const char *doing, GError **error)
{
    int rc;
    while ((rc = hdb_step(stmt, doing, error)) == SQLITE_ROW)
        ;
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE;
}

gboolean hdb_query_int(sqlite3 *db, const char *sql, gint64 *value, GError **error)
{
    g_autoptr(sqlite3_stmt) stmt = NULL;
    if (!hdb_prepare(db, sql, &stmt, error))
        return FALSE;
    int rc = hdb_step(stmt, "reading the history", error);
    if (rc < 0)
        return FALSE;
    *value = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
    return TRUE;
}
