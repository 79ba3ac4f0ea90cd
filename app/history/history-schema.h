/* Schema of the history database, versioned with PRAGMA user_version. Internal to app/history.
 *
 * A new database is built by running every migration from version 0, so a fresh database and a
 * migrated one are the same by construction. Never edit a released migration: add one. */
#pragma once

#include <glib.h>
#include <sqlite3.h>

int history_schema_latest_version(void);
/* Reads user_version; fails with HISTORY_ERROR_NEWER_SCHEMA when it is above the latest. */
gboolean history_schema_read_version(sqlite3 *db, int *version, GError **error);
/* Brings the database to the latest version, one transaction per step (safe against another
 * process migrating at the same time). */
gboolean history_schema_migrate(sqlite3 *db, GError **error);
