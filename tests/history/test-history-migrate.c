/* History schema migrations: from every earlier version (0 = new or empty file, 1 = the first
 * table) to the latest, starting from databases this test builds with the old DDL. */
#include <glib/gstdio.h>
#include <string.h>

#include "history-test-util.h"

/* Schema version 1 exactly as released; frozen here so a change to the store's migrations that
 * no longer upgrades real version-1 files fails this test. */
static const char schema_v1[] =
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
    "CREATE INDEX generations_status ON generations(status);"
    "PRAGMA user_version = 1;";

typedef struct {
    char *dir;
    char *path;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data)
{
    f->dir = ht_make_tmpdir();
    f->path = g_build_filename(f->dir, "history.sqlite3", NULL);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    ht_remove_tree(f->dir);
    g_free(f->dir);
    g_free(f->path);
}

/* A version-1 row: written the way version 1 wrote it (rollback journal, no owner token). */
static void insert_v1_row(sqlite3 *db, int index, const char *status, gint64 pid)
{
    g_auto(HistoryParams) p;
    ht_params_for(&p, 1, index);
    g_autofree char *json = history_params_to_json(&p);
    sqlite3_stmt *stmt = NULL;
    g_assert_cmpint(
        sqlite3_prepare_v2(db,
                           "INSERT INTO generations (created_at, started_at, finished_at, status, "
                           "prompt, width, height, steps, guidance, seed, model, backend, "
                           "params_json, image_path, error_message, owner_pid) VALUES "
                           "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           -1, &stmt, NULL),
        ==, SQLITE_OK);
    gint64 t = G_GINT64_CONSTANT(1700000000000000) + index * G_USEC_PER_SEC;
    gboolean finished = strcmp(status, "running") != 0;
    sqlite3_bind_int64(stmt, 1, t);
    sqlite3_bind_int64(stmt, 2, t + 1);
    if (finished)
        sqlite3_bind_int64(stmt, 3, t + 2);
    sqlite3_bind_text(stmt, 4, status, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 5, p.prompt, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 6, p.width);
    sqlite3_bind_int(stmt, 7, p.height);
    sqlite3_bind_int(stmt, 8, p.steps);
    sqlite3_bind_double(stmt, 9, p.guidance);
    sqlite3_bind_int64(stmt, 10, (gint64)p.seed);
    sqlite3_bind_text(stmt, 11, p.model_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 12, p.backend, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 13, json, -1, SQLITE_STATIC);
    g_autofree char *image = g_strdup_printf("/images/v1-%d.png", index);
    if (strcmp(status, "done") == 0)
        sqlite3_bind_text(stmt, 14, image, -1, SQLITE_STATIC);
    if (strcmp(status, "failed") == 0)
        sqlite3_bind_text(stmt, 15, "out of memory", -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 16, pid);
    g_assert_cmpint(sqlite3_step(stmt), ==, SQLITE_DONE);
    sqlite3_finalize(stmt);
}

static const char *const v1_statuses[] = {"done",    "failed",      "cancelled", "done",
                                          "running", "interrupted", "done"};

static void build_v1(const char *path)
{
    sqlite3 *db = ht_sqlite_open(path);
    g_assert_cmpint(sqlite3_exec(db, schema_v1, NULL, NULL, NULL), ==, SQLITE_OK);
    for (guint i = 0; i < G_N_ELEMENTS(v1_statuses); i++)
        insert_v1_row(db, (int)i, v1_statuses[i], getpid()); /* a live pid: not trusted */
    sqlite3_close(db);
}

/* Columns and indexes of every table, as text, to compare two databases' structure. */
static char *describe_schema(const char *path)
{
    sqlite3 *db = ht_sqlite_open(path);
    GString *out = g_string_new(NULL);
    sqlite3_stmt *tables = NULL;
    g_assert_cmpint(sqlite3_prepare_v2(db,
                                       "SELECT type, name, tbl_name FROM sqlite_master "
                                       "WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
                                       -1, &tables, NULL),
                    ==, SQLITE_OK);
    while (sqlite3_step(tables) == SQLITE_ROW) {
        const char *type = (const char *)sqlite3_column_text(tables, 0);
        const char *name = (const char *)sqlite3_column_text(tables, 1);
        g_string_append_printf(out, "%s %s on %s\n", type, name, sqlite3_column_text(tables, 2));
        if (strcmp(type, "table") != 0)
            continue;
        g_autofree char *sql = g_strdup_printf("PRAGMA table_xinfo(\"%s\")", name);
        sqlite3_stmt *cols = NULL;
        g_assert_cmpint(sqlite3_prepare_v2(db, sql, -1, &cols, NULL), ==, SQLITE_OK);
        while (sqlite3_step(cols) == SQLITE_ROW)
            g_string_append_printf(
                out, "  %s %s notnull=%d default=%s pk=%d\n", sqlite3_column_text(cols, 1),
                sqlite3_column_text(cols, 2), sqlite3_column_int(cols, 3),
                sqlite3_column_text(cols, 4) ? (const char *)sqlite3_column_text(cols, 4) : "-",
                sqlite3_column_int(cols, 5));
        sqlite3_finalize(cols);
    }
    sqlite3_finalize(tables);
    g_string_append_printf(out, "user_version %" G_GINT64_FORMAT "\n",
                           ht_sqlite_int(db, "PRAGMA user_version"));
    sqlite3_close(db);
    return g_string_free(out, FALSE);
}

static char *fresh_schema(const char *dir)
{
    g_autofree char *path = g_build_filename(dir, "fresh.sqlite3", NULL);
    g_autoptr(HistoryStore) store = ht_open_store(path);
    history_store_close(store);
    return describe_schema(path);
}

static void assert_latest_and_usable(Fixture *f, HistoryStore *store)
{
    g_assert_cmpint(history_store_get_schema_version(store), ==,
                    history_store_latest_schema_version());
    g_assert_null(history_store_get_recovery_notice(store));
    gint64 id = ht_write_done_job(store, 9, 9);
    g_autoptr(GError) error = NULL;
    g_autoptr(HistoryGeneration) gen = history_store_get(store, id, &error);
    g_assert_no_error(error);
    ht_assert_done_job(gen, 9, 9);
    g_autofree char *check = ht_integrity_check(f->path);
    g_assert_cmpstr(check, ==, "ok");
}

static void test_from_missing_file(Fixture *f, gconstpointer data)
{
    g_autoptr(HistoryStore) store = ht_open_store(f->path);
    assert_latest_and_usable(f, store);
    history_store_close(store);
    g_autofree char *fresh = fresh_schema(f->dir);
    g_autofree char *got = describe_schema(f->path);
    g_assert_cmpstr(got, ==, fresh);
    /* WAL mode is persistent in the file */
    sqlite3 *db = ht_sqlite_open(f->path);
    sqlite3_stmt *stmt = NULL;
    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, NULL);
    g_assert_cmpint(sqlite3_step(stmt), ==, SQLITE_ROW);
    g_assert_cmpstr((const char *)sqlite3_column_text(stmt, 0), ==, "wal");
    sqlite3_finalize(stmt);
    sqlite3_close(db);
}

static void test_from_v0_empty_file(Fixture *f, gconstpointer data)
{
    g_assert_true(g_file_set_contents(f->path, "", 0, NULL));
    g_autoptr(HistoryStore) store = ht_open_store(f->path);
    g_assert_null(history_store_get_moved_aside_path(store));
    assert_latest_and_usable(f, store);
}

static void test_from_v1(Fixture *f, gconstpointer data)
{
    build_v1(f->path);
    g_autoptr(HistoryStore) store = ht_open_store(f->path);
    assert_latest_and_usable(f, store);
    g_autoptr(GError) error = NULL;
    guint n = G_N_ELEMENTS(v1_statuses);
    for (guint i = 0; i < n; i++) {
        g_autoptr(HistoryGeneration) gen = history_store_get(store, i + 1, &error);
        g_assert_no_error(error);
        g_auto(HistoryParams) p;
        ht_params_for(&p, 1, (int)i);
        g_assert_true(history_params_equal(&gen->params, &p));
        HistoryStatus want;
        g_assert_true(history_status_from_name(v1_statuses[i], &want));
        if (want == HISTORY_STATUS_RUNNING) /* no owner lock in version 1: cannot be alive */
            want = HISTORY_STATUS_INTERRUPTED;
        g_assert_cmpint(gen->status, ==, want);
        gint64 t = G_GINT64_CONSTANT(1700000000000000) + i * G_USEC_PER_SEC;
        g_assert_cmpint(gen->created_at, ==, t);
        g_assert_cmpint(gen->started_at, ==, t + 1);
        g_assert_cmpint(gen->finished_at, ==,
                        want == HISTORY_STATUS_INTERRUPTED && strcmp(v1_statuses[i], "running") == 0
                            ? 0
                            : t + 2);
        g_assert_cmpint(gen->owner_pid, ==, getpid());
        g_assert_false(gen->has_thumbnail);
        g_assert_cmpint(gen->peak_host_bytes, ==, 0);
        if (strcmp(v1_statuses[i], "done") == 0) {
            g_autofree char *image = g_strdup_printf("/images/v1-%u.png", i);
            g_assert_cmpstr(gen->image_path, ==, image);
        }
        if (strcmp(v1_statuses[i], "failed") == 0)
            g_assert_cmpstr(gen->error_message, ==, "out of memory");
    }
    /* the old rows are searchable and take the new features */
    HistoryQuery job3 = {.search = "writer 1 job 3"};
    g_autoptr(GPtrArray) found = history_store_list(store, &job3, 0, 10, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(found->len, ==, 1);
    g_assert_cmpint(((HistoryGeneration *)g_ptr_array_index(found, 0))->id, ==, 4);
    g_autoptr(GBytes) png = ht_png(1);
    g_assert_true(history_store_set_thumbnail(store, 1, png, &error));
    g_assert_true(history_store_delete(store, 2, &error));
    g_assert_cmpint(history_store_count(store, NULL, &error), ==, n); /* n - 1 old + 1 new */
    history_store_close(store);

    g_autofree char *fresh = fresh_schema(f->dir);
    g_autofree char *got = describe_schema(f->path);
    g_assert_cmpstr(got, ==, fresh);
}

static void test_from_v1_empty(Fixture *f, gconstpointer data)
{
    sqlite3 *db = ht_sqlite_open(f->path);
    g_assert_cmpint(sqlite3_exec(db, schema_v1, NULL, NULL, NULL), ==, SQLITE_OK);
    sqlite3_close(db);
    g_autoptr(HistoryStore) store = ht_open_store(f->path);
    assert_latest_and_usable(f, store);
}

/* Every version this build knows has a case above. */
static void test_every_version_covered(void)
{
    g_assert_cmpint(history_store_latest_schema_version(), ==, 2);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(name, fn)                                                                              \
    g_test_add("/history/migrate/" name, Fixture, NULL, fixture_setup, fn, fixture_teardown)
    ADD("from-missing-file", test_from_missing_file);
    ADD("from-v0-empty-file", test_from_v0_empty_file);
    ADD("from-v1", test_from_v1);
    ADD("from-v1-empty", test_from_v1_empty);
    g_test_add_func("/history/migrate/every-version-covered", test_every_version_covered);
    return g_test_run();
}
