/* The history's schema versions and forward migrations. */
#include "history-schema.h"

#include "history-db.h"
#include "history-error.h"

/* Version 1: one table of generations, the engine parameters as columns and as a JSON blob. */
static const char migrate_0_to_1[] =
    "CREATE TABLE generations ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  created_at INTEGER NOT NULL,"
    "  started_at INTEGER,"
    "  finished_at INTEGER,"
    "  status TEXT NOT NULL CHECK (status IN"
    "    ('queued','running','done','cancelled','failed','interrupted')),"
    "  prompt TEXT NOT NULL,"
    "  width INTEGER NOT NULL,"
    "  height INTEGER NOT NULL,"
    "  steps INTEGER NOT NULL,"
    "  guidance REAL NOT NULL,"
    "  seed INTEGER NOT NULL,"
    "  model TEXT NOT NULL,"
    "  backend TEXT NOT NULL,"
    "  params_json TEXT NOT NULL,"
    "  image_path TEXT,"
    "  error_message TEXT,"
    "  owner_pid INTEGER"
    ");"
    "CREATE INDEX generations_status ON generations(status);";

/* Version 2: prompt search (FTS5), thumbnails, timings per phase, peak memory, owner locks,
 * soft delete for undo, and a change log that lets every process follow changes by row id. */
static const char migrate_1_to_2[] =
    "ALTER TABLE generations ADD COLUMN model_fingerprint TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE generations ADD COLUMN peak_host_bytes INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE generations ADD COLUMN peak_device_bytes INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE generations ADD COLUMN owner_token TEXT;"
    "ALTER TABLE generations ADD COLUMN deleted_at INTEGER;"
    "CREATE INDEX generations_model_size ON generations(model, width, height);"
    /* visible rows newest first, their count, and the purge of old deletions, by index */
    "CREATE INDEX generations_live ON generations(deleted_at, id);"
    "CREATE TABLE timings ("
    "  generation_id INTEGER NOT NULL REFERENCES generations(id) ON DELETE CASCADE,"
    "  ord INTEGER NOT NULL,"
    "  phase TEXT NOT NULL,"
    "  seconds REAL NOT NULL,"
    "  PRIMARY KEY (generation_id, ord)"
    ") WITHOUT ROWID;"
    "CREATE TABLE thumbnails ("
    "  generation_id INTEGER PRIMARY KEY REFERENCES generations(id) ON DELETE CASCADE,"
    "  png BLOB NOT NULL"
    ");"
    "CREATE VIRTUAL TABLE generations_fts USING fts5("
    "  prompt, content='generations', content_rowid='id',"
    "  tokenize='unicode61 remove_diacritics 2');"
    "INSERT INTO generations_fts(generations_fts) VALUES ('rebuild');"
    "CREATE TRIGGER generations_fts_insert AFTER INSERT ON generations BEGIN"
    "  INSERT INTO generations_fts(rowid, prompt) VALUES (new.id, new.prompt);"
    "END;"
    "CREATE TRIGGER generations_fts_delete AFTER DELETE ON generations BEGIN"
    "  INSERT INTO generations_fts(generations_fts, rowid, prompt)"
    "    VALUES ('delete', old.id, old.prompt);"
    "END;"
    "CREATE TRIGGER generations_fts_update AFTER UPDATE OF prompt ON generations BEGIN"
    "  INSERT INTO generations_fts(generations_fts, rowid, prompt)"
    "    VALUES ('delete', old.id, old.prompt);"
    "  INSERT INTO generations_fts(rowid, prompt) VALUES (new.id, new.prompt);"
    "END;"
    /* kind: 0 added, 1 updated, 2 removed (HistoryChange) */
    "CREATE TABLE changes ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  generation_id INTEGER NOT NULL,"
    "  kind INTEGER NOT NULL"
    ");"
    "CREATE TRIGGER changes_insert AFTER INSERT ON generations BEGIN"
    "  INSERT INTO changes(generation_id, kind) VALUES (new.id, 0);"
    "END;"
    "CREATE TRIGGER changes_update AFTER UPDATE ON generations BEGIN"
    "  INSERT INTO changes(generation_id, kind) VALUES (new.id,"
    "    CASE WHEN old.deleted_at IS NULL AND new.deleted_at IS NOT NULL THEN 2"
    "         WHEN old.deleted_at IS NOT NULL AND new.deleted_at IS NULL THEN 0"
    "         ELSE 1 END);"
    "END;"
    "CREATE TRIGGER changes_delete AFTER DELETE ON generations WHEN old.deleted_at IS NULL BEGIN"
    "  INSERT INTO changes(generation_id, kind) VALUES (old.id, 2);"
    "END;"
    "CREATE TRIGGER changes_thumbnail AFTER INSERT ON thumbnails BEGIN"
    "  INSERT INTO changes(generation_id, kind) VALUES (new.generation_id, 1);"
    "END;";

static const char *const migrations[] = {migrate_0_to_1, migrate_1_to_2};

int history_schema_latest_version(void)
{
    return G_N_ELEMENTS(migrations);
}

gboolean history_schema_read_version(sqlite3 *db, int *version, GError **error)
{
    gint64 v;
    if (!hdb_query_int(db, "PRAGMA user_version", &v, error))
        return FALSE;
    if (v < 0 || v > history_schema_latest_version()) {
        g_set_error(
            error, HISTORY_ERROR, HISTORY_ERROR_NEWER_SCHEMA,
            "The history was written by a newer version of ResDiT Studio (schema %" G_GINT64_FORMAT
            ", this version knows up to %d). Update ResDiT Studio to see it; it was left "
            "untouched.",
            v, history_schema_latest_version());
        return FALSE;
    }
    *version = (int)v;
    return TRUE;
}

typedef struct {
    int target; /* version after the step */
    gboolean done;
} MigrationStep;

static gboolean run_step(sqlite3 *db, gpointer data, GError **error)
{
    MigrationStep *step = data;
    int version;
    /* Read again under the write lock: another process may have migrated meanwhile. */
    if (!history_schema_read_version(db, &version, error))
        return FALSE;
    if (version >= step->target) {
        step->done = TRUE;
        return TRUE;
    }
    int rc = sqlite3_exec(db, migrations[version], NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        hdb_set_error(error, db, rc, "upgrading the history");
        return FALSE;
    }
    g_autofree char *set = g_strdup_printf("PRAGMA user_version = %d", version + 1);
    rc = sqlite3_exec(db, set, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        hdb_set_error(error, db, rc, "upgrading the history");
        return FALSE;
    }
    step->done = version + 1 >= step->target;
    return TRUE;
}

gboolean history_schema_migrate(sqlite3 *db, GError **error)
{
    int version;
    if (!history_schema_read_version(db, &version, error))
        return FALSE;
    for (int target = version + 1; target <= history_schema_latest_version(); target++) {
        MigrationStep step = {.target = target};
        if (!hdb_run(db, HDB_WRITE, run_step, &step, error))
            return FALSE;
    }
    return TRUE;
}
