/* History store: round trip of every parameter, paging, search and filters, delete with undo,
 * change notification, ownership of running jobs, refusal of a newer schema. */
#include <glib/gstdio.h>
#include <stdarg.h>
#include <string.h>

#include "history-test-util.h"

typedef struct {
    char *dir;
    char *path;
    HistoryStore *store;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data)
{
    f->dir = ht_make_tmpdir();
    f->path = g_build_filename(f->dir, "history.sqlite3", NULL);
    f->store = ht_open_store(f->path);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    g_clear_object(&f->store);
    ht_remove_tree(f->dir);
    g_free(f->dir);
    g_free(f->path);
}

static void test_params_json(void)
{
    for (int i = 0; i < 12; i++) {
        g_auto(HistoryParams) p, back;
        ht_params_for(&p, i % 3, i);
        g_autofree char *json = history_params_to_json(&p);
        g_autoptr(GError) error = NULL;
        g_assert_true(history_params_from_json(&back, json, &error));
        g_assert_no_error(error);
        g_assert_true(history_params_equal(&p, &back));
        g_assert_cmpuint(back.seed, ==, p.seed);
        g_assert_cmpfloat(back.sigma, ==, p.sigma);
    }
    g_auto(HistoryParams) defaults;
    history_params_init(&defaults);
    g_auto(HistoryParams) partial;
    g_assert_true(history_params_from_json(&partial, "{\"prompt\": \"only\"}", NULL));
    g_assert_cmpstr(partial.prompt, ==, "only");
    g_assert_cmpint(partial.steps, ==, defaults.steps);
    g_autoptr(GError) error = NULL;
    HistoryParams bad;
    g_assert_false(history_params_from_json(&bad, "{\"steps\": \"ten\"}", &error));
    g_assert_error(error, HISTORY_ERROR, HISTORY_ERROR_INVALID);
    /* a shift mode of another type: the same error, never a json-glib critical */
    const char *shifts[] = {"{\"shift_mode\": {}}", "{\"shift_mode\": [\"base\"]}",
                            "{\"shift_mode\": 2}", "{\"shift_mode\": \"sideways\"}"};
    for (size_t i = 0; i < G_N_ELEMENTS(shifts); i++) {
        g_clear_error(&error);
        g_assert_false(history_params_from_json(&bad, shifts[i], &error));
        g_assert_error(error, HISTORY_ERROR, HISTORY_ERROR_INVALID);
        g_assert_nonnull(strstr(error->message, "shift mode"));
    }
    /* a damaged blob nested far deeper than any record: an error, not a stack overflow */
    g_autofree char *deep = g_strnfill(200000, '[');
    g_clear_error(&error);
    g_assert_false(history_params_from_json(&bad, deep, &error));
    g_assert_error(error, HISTORY_ERROR, HISTORY_ERROR_INVALID);
    g_auto(HistoryParams) linear;
    g_assert_true(history_params_from_json(&linear, "{\"shift_mode\": \"base\"}", NULL));
}

static void test_round_trip(Fixture *f, gconstpointer data)
{
    g_auto(HistoryParams) params;
    ht_params_for(&params, 3, 17);
    g_autoptr(GError) error = NULL;
    gint64 id = history_store_begin(f->store, &params, HISTORY_STATUS_RUNNING, &error);
    g_assert_no_error(error);
    {
        g_autoptr(HistoryGeneration) gen = history_store_get(f->store, id, &error);
        g_assert_no_error(error);
        g_assert_cmpint(gen->status, ==, HISTORY_STATUS_RUNNING);
        g_assert_true(history_params_equal(&gen->params, &params));
        g_assert_cmpint(gen->finished_at, ==, 0);
        g_assert_false(gen->has_thumbnail);
        g_assert_cmpint(gen->owner_pid, ==, getpid());
    }
    HistoryTiming timings[] = {
        {"text encoding", 0.5 + 17}, {"denoising", 1.0 + 17}, {"vae decode", 1.5 + 17}};
    g_autoptr(GBytes) png = ht_png(3 * 100000 + 17);
    HistoryOutcome outcome = {
        .status = HISTORY_STATUS_DONE,
        .image_path = "/images/w3-17.png",
        .peak_host_bytes = G_GINT64_CONSTANT(1) << 33 | 17,
        .peak_device_bytes = G_GINT64_CONSTANT(1) << 34 | 3,
        .timings = timings,
        .n_timings = G_N_ELEMENTS(timings),
        .thumbnail_png = png,
    };
    g_assert_true(history_store_finish(f->store, id, &outcome, &error));
    g_autoptr(HistoryGeneration) gen = history_store_get(f->store, id, &error);
    g_assert_no_error(error);
    ht_assert_done_job(gen, 3, 17);
    g_autoptr(GBytes) thumb = history_store_get_thumbnail(f->store, id, &error);
    g_assert_no_error(error);
    g_assert_true(g_bytes_equal(thumb, png));

    /* the filter columns hold the same values as the blob */
    sqlite3 *db = ht_sqlite_open(f->path);
    sqlite3_stmt *stmt = NULL;
    g_assert_cmpint(sqlite3_prepare_v2(db,
                                       "SELECT prompt, width, height, steps, guidance, seed, "
                                       "model, backend, status, model_fingerprint "
                                       "FROM generations WHERE id = ?",
                                       -1, &stmt, NULL),
                    ==, SQLITE_OK);
    sqlite3_bind_int64(stmt, 1, id);
    g_assert_cmpint(sqlite3_step(stmt), ==, SQLITE_ROW);
    g_assert_cmpstr((const char *)sqlite3_column_text(stmt, 0), ==, params.prompt);
    g_assert_cmpint(sqlite3_column_int(stmt, 1), ==, params.width);
    g_assert_cmpint(sqlite3_column_int(stmt, 2), ==, params.height);
    g_assert_cmpint(sqlite3_column_int(stmt, 3), ==, params.steps);
    g_assert_cmpfloat(sqlite3_column_double(stmt, 4), ==, params.guidance);
    g_assert_cmpuint((guint64)sqlite3_column_int64(stmt, 5), ==, params.seed);
    g_assert_cmpstr((const char *)sqlite3_column_text(stmt, 6), ==, params.model_name);
    g_assert_cmpstr((const char *)sqlite3_column_text(stmt, 7), ==, params.backend);
    g_assert_cmpstr((const char *)sqlite3_column_text(stmt, 8), ==, "done");
    g_assert_cmpstr((const char *)sqlite3_column_text(stmt, 9), ==, params.model_fingerprint);
    sqlite3_finalize(stmt);
    g_assert_cmpstr(sqlite3_db_readonly(db, "main") == 0 ? "rw" : "ro", ==, "rw");
    sqlite3_close(db);
}

static void test_failed_and_queued(Fixture *f, gconstpointer data)
{
    g_auto(HistoryParams) params;
    ht_params_for(&params, 0, 1);
    g_autoptr(GError) error = NULL;
    gint64 id = history_store_begin(f->store, &params, HISTORY_STATUS_QUEUED, &error);
    g_assert_no_error(error);
    g_assert_true(history_store_mark_running(f->store, id, &error));
    g_assert_false(history_store_mark_running(f->store, id, &error));
    g_assert_error(error, HISTORY_ERROR, HISTORY_ERROR_NOT_FOUND);
    g_clear_error(&error);
    HistoryOutcome failed = {.status = HISTORY_STATUS_FAILED,
                             .error_message = "Out of GPU memory at 4096 x 4096"};
    g_assert_true(history_store_finish(f->store, id, &failed, &error));
    g_autoptr(HistoryGeneration) gen = history_store_get(f->store, id, &error);
    g_assert_cmpint(gen->status, ==, HISTORY_STATUS_FAILED);
    g_assert_cmpstr(gen->error_message, ==, failed.error_message);
    g_assert_null(gen->image_path);
    g_assert_cmpint(gen->started_at, >, 0);

    HistoryOutcome bad_status = {.status = HISTORY_STATUS_RUNNING};
    g_assert_false(history_store_finish(f->store, id, &bad_status, &error));
    g_assert_error(error, HISTORY_ERROR, HISTORY_ERROR_INVALID);
    g_clear_error(&error);
    g_autoptr(GBytes) not_png = g_bytes_new_static("GIF89a....", 10);
    g_assert_false(history_store_set_thumbnail(f->store, id, not_png, &error));
    g_assert_error(error, HISTORY_ERROR, HISTORY_ERROR_INVALID);
    g_clear_error(&error);
    g_assert_null(history_store_get(f->store, id + 1000, &error));
    g_assert_error(error, HISTORY_ERROR, HISTORY_ERROR_NOT_FOUND);
}

static void test_paging(Fixture *f, gconstpointer data)
{
    enum { N = 123, PAGE = 50 };
    gint64 ids[N];
    for (int i = 0; i < N; i++)
        ids[i] = ht_write_done_job(f->store, 0, i);
    g_autoptr(GError) error = NULL;
    g_assert_cmpint(history_store_count(f->store, NULL, &error), ==, N);
    int seen = 0;
    for (guint offset = 0; offset < N + PAGE; offset += PAGE) {
        g_autoptr(GPtrArray) page = history_store_list(f->store, NULL, offset, PAGE, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(page->len, ==, MIN(PAGE, MAX(0, N - (int)offset)));
        for (guint i = 0; i < page->len; i++) {
            HistoryGeneration *gen = g_ptr_array_index(page, i);
            int index = N - 1 - seen; /* newest first */
            g_assert_cmpint(gen->id, ==, ids[index]);
            g_assert_true(gen->has_thumbnail);
            g_assert_cmpuint(gen->timings->len, ==, 0);
            g_assert_cmpint(history_store_position(f->store, NULL, gen->id, &error), ==, seen);
            seen++;
        }
    }
    g_assert_cmpint(seen, ==, N);
}

static gint64 add_job(HistoryStore *store, const char *prompt, const char *model, int w, int h,
                      HistoryStatus end)
{
    g_auto(HistoryParams) p;
    history_params_init(&p);
    g_free(p.prompt);
    p.prompt = g_strdup(prompt);
    g_free(p.model_name);
    p.model_name = g_strdup(model);
    p.width = w;
    p.height = h;
    g_autoptr(GError) error = NULL;
    gint64 id = history_store_begin(store, &p, HISTORY_STATUS_RUNNING, &error);
    g_assert_no_error(error);
    if (end != HISTORY_STATUS_RUNNING) {
        HistoryOutcome o = {.status = end};
        g_assert_true(history_store_finish(store, id, &o, &error));
    }
    return id;
}

static GArray *query_ids(HistoryStore *store, const HistoryQuery *q)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) rows = history_store_list(store, q, 0, 1000, &error);
    g_assert_no_error(error);
    GArray *ids = g_array_new(FALSE, FALSE, sizeof(gint64));
    for (guint i = 0; i < rows->len; i++)
        g_array_append_val(ids, ((HistoryGeneration *)g_ptr_array_index(rows, i))->id);
    g_assert_cmpint(history_store_count(store, q, &error), ==, ids->len);
    return ids;
}

/* Asserts the query gives exactly the n ids that follow, in that order. */
static void assert_ids(HistoryStore *store, HistoryQuery q, guint n, ...)
{
    g_autoptr(GArray) got = query_ids(store, &q);
    g_assert_cmpuint(got->len, ==, n);
    va_list ap;
    va_start(ap, n);
    for (guint i = 0; i < n; i++)
        g_assert_cmpint(g_array_index(got, gint64, i), ==, va_arg(ap, gint64));
    va_end(ap);
}

static void test_search_and_filters(Fixture *f, gconstpointer data)
{
    HistoryStore *s = f->store;
    gint64 a = add_job(s, "A red cat on a sofa", "dev", 4096, 4096, HISTORY_STATUS_DONE);
    gint64 b = add_job(s, "red fox in the snow", "schnell", 3072, 1728, HISTORY_STATUS_FAILED);
    gint64 c = add_job(s, "Café crème, watercolour", "dev", 3072, 1728, HISTORY_STATUS_DONE);
    gint64 d = add_job(s, "catalogue of red shoes", "dev", 4096, 4096, HISTORY_STATUS_RUNNING);

    assert_ids(s, (HistoryQuery){.search = "red"}, 3, d, b, a);
    assert_ids(s, (HistoryQuery){.search = "RED cat"}, 2, d, a); /* prefix: cat -> catalogue */
    assert_ids(s, (HistoryQuery){.search = "cafe creme"}, 1, c); /* diacritics folded */
    assert_ids(s, (HistoryQuery){.search = "  "}, 4, d, c, b, a);
    /* FTS5 syntax in user text is searched for, never parsed */
    assert_ids(s, (HistoryQuery){.search = "\"red\" ^cat* ( -"}, 2, d, a);
    assert_ids(s, (HistoryQuery){.search = "zebra"}, 0);
    assert_ids(s, (HistoryQuery){.status_mask = 1u << HISTORY_STATUS_DONE}, 2, c, a);
    assert_ids(
        s,
        (HistoryQuery){.status_mask = 1u << HISTORY_STATUS_FAILED | 1u << HISTORY_STATUS_RUNNING},
        2, d, b);
    assert_ids(s, (HistoryQuery){.model = "dev"}, 3, d, c, a);
    assert_ids(s, (HistoryQuery){.width = 3072, .height = 1728}, 2, c, b);
    assert_ids(s, (HistoryQuery){.search = "red", .model = "dev", .width = 4096}, 2, d, a);
    g_autoptr(GError) error = NULL;
    HistoryQuery dev = {.model = "dev"};
    g_assert_cmpint(history_store_position(s, &dev, c, &error), ==, 1);
    g_assert_cmpint(history_store_position(s, &dev, b, &error), ==, -1);
    g_assert_no_error(error);
}

/* The gallery's date filter: rows created at or after a time. */
static void test_created_after(Fixture *f, gconstpointer data)
{
    gint64 old = add_job(f->store, "ten days ago", "dev", 1024, 1024, HISTORY_STATUS_DONE);
    gint64 recent = add_job(f->store, "two days ago", "dev", 1024, 1024, HISTORY_STATUS_DONE);
    gint64 today = add_job(f->store, "today", "dev", 1024, 1024, HISTORY_STATUS_DONE);
    g_clear_object(&f->store);
    const gint64 day = G_GINT64_CONSTANT(86400) * G_USEC_PER_SEC, now = g_get_real_time();
    sqlite3 *db = ht_sqlite_open(f->path);
    const struct {
        gint64 id, days;
    } ages[] = {{old, 10}, {recent, 2}};
    for (gsize i = 0; i < G_N_ELEMENTS(ages); i++) {
        g_autofree char *sql =
            g_strdup_printf("UPDATE generations SET created_at = %" G_GINT64_FORMAT
                            " WHERE id = %" G_GINT64_FORMAT,
                            now - ages[i].days * day, ages[i].id);
        g_assert_cmpint(sqlite3_exec(db, sql, NULL, NULL, NULL), ==, SQLITE_OK);
    }
    sqlite3_close(db);
    g_autoptr(GError) error = NULL;
    f->store = history_store_open(f->path, &error);
    g_assert_no_error(error);
    HistoryStore *s = f->store;
    assert_ids(s, (HistoryQuery){.created_after = now - 7 * day}, 2, today, recent);
    assert_ids(s, (HistoryQuery){.created_after = now - 30 * day}, 3, today, recent, old);
    assert_ids(s, (HistoryQuery){.created_after = now - day}, 1, today);
    assert_ids(s, (HistoryQuery){.created_after = now + day}, 0);
    assert_ids(s, (HistoryQuery){.created_after = now - 7 * day, .search = "days"}, 1, recent);
}

static void test_delete_undo(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    gint64 keep = ht_write_done_job(f->store, 0, 0);
    g_autofree char *image = g_build_filename(f->dir, "image.png", NULL);
    g_assert_true(g_file_set_contents(image, "png", 3, NULL));
    g_auto(HistoryParams) params;
    ht_params_for(&params, 0, 1);
    gint64 id = history_store_begin(f->store, &params, HISTORY_STATUS_RUNNING, &error);
    HistoryOutcome o = {.status = HISTORY_STATUS_DONE, .image_path = image};
    g_assert_true(history_store_finish(f->store, id, &o, &error));

    g_assert_true(history_store_delete(f->store, id, &error));
    g_assert_cmpint(history_store_count(f->store, NULL, &error), ==, 1);
    g_assert_null(history_store_get(f->store, id, &error));
    g_assert_error(error, HISTORY_ERROR, HISTORY_ERROR_NOT_FOUND);
    g_clear_error(&error);
    g_assert_true(g_file_test(image, G_FILE_TEST_EXISTS)); /* undo still possible */
    g_assert_false(history_store_delete(f->store, id, &error));
    g_clear_error(&error);

    g_assert_true(history_store_undelete(f->store, id, &error));
    g_assert_cmpint(history_store_count(f->store, NULL, &error), ==, 2);
    g_autoptr(HistoryGeneration) back = history_store_get(f->store, id, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(back->image_path, ==, image);

    g_assert_true(history_store_delete(f->store, id, &error));
    g_assert_cmpint(
        history_store_purge_deleted_before(f->store, g_get_real_time() - 1000000, &error), ==, 0);
    g_assert_true(g_file_test(image, G_FILE_TEST_EXISTS));
    g_assert_cmpint(history_store_purge_deleted_before(f->store, g_get_real_time() + 1, &error), ==,
                    1);
    g_assert_no_error(error);
    g_assert_false(g_file_test(image, G_FILE_TEST_EXISTS));
    g_assert_false(history_store_undelete(f->store, id, &error));
    g_assert_error(error, HISTORY_ERROR, HISTORY_ERROR_NOT_FOUND);
    g_clear_error(&error);

    /* purge also works on a visible row; the cascades remove timings and thumbnail */
    g_assert_true(history_store_purge(f->store, keep, &error));
    sqlite3 *db = ht_sqlite_open(f->path);
    g_assert_cmpint(ht_sqlite_int(db, "SELECT COUNT(*) FROM generations"), ==, 0);
    g_assert_cmpint(ht_sqlite_int(db, "SELECT COUNT(*) FROM timings"), ==, 0);
    g_assert_cmpint(ht_sqlite_int(db, "SELECT COUNT(*) FROM thumbnails"), ==, 0);
    sqlite3_close(db);
}

typedef struct {
    GArray *ids;
    GArray *kinds;
} Recorded;

static void on_changed(HistoryStore *store, gint64 id, int kind, Recorded *r)
{
    g_array_append_val(r->ids, id);
    g_array_append_val(r->kinds, kind);
}

static void recorded_take(Recorded *r, gint64 *ids, int *kinds, guint n)
{
    g_assert_cmpuint(r->ids->len, ==, n);
    g_assert_cmpmem(r->ids->data, n * sizeof(gint64), ids, n * sizeof(gint64));
    g_assert_cmpmem(r->kinds->data, n * sizeof(int), kinds, n * sizeof(int));
    g_array_set_size(r->ids, 0);
    g_array_set_size(r->kinds, 0);
}

static void test_changes(Fixture *f, gconstpointer data)
{
    g_autoptr(HistoryStore) other = ht_open_store(f->path); /* a second connection */
    Recorded mine = {g_array_new(FALSE, FALSE, sizeof(gint64)),
                     g_array_new(FALSE, FALSE, sizeof(int))};
    Recorded theirs = {g_array_new(FALSE, FALSE, sizeof(gint64)),
                       g_array_new(FALSE, FALSE, sizeof(int))};
    g_signal_connect(f->store, "changed", G_CALLBACK(on_changed), &mine);
    g_signal_connect(other, "changed", G_CALLBACK(on_changed), &theirs);
    g_autoptr(GError) error = NULL;

    gint64 id = ht_write_done_job(f->store, 0, 0);
    /* this store's own writes are announced from the main context by itself */
    while (g_main_context_iteration(NULL, FALSE))
        ;
    recorded_take(&mine, (gint64[]){id, id, id},
                  (int[]){HISTORY_CHANGE_ADDED, HISTORY_CHANGE_UPDATED, HISTORY_CHANGE_UPDATED}, 3);
    g_assert_true(history_store_poll_changes(other, &error));
    recorded_take(&theirs, (gint64[]){id, id, id},
                  (int[]){HISTORY_CHANGE_ADDED, HISTORY_CHANGE_UPDATED, HISTORY_CHANGE_UPDATED}, 3);
    g_assert_true(history_store_poll_changes(other, &error)); /* nothing new */
    recorded_take(&theirs, NULL, NULL, 0);

    g_assert_true(history_store_delete(other, id, &error));
    g_assert_true(history_store_undelete(other, id, &error));
    g_assert_true(history_store_poll_changes(f->store, &error));
    recorded_take(&mine, (gint64[]){id, id}, (int[]){HISTORY_CHANGE_REMOVED, HISTORY_CHANGE_ADDED},
                  2);
    g_assert_true(history_store_purge(other, id, &error));
    g_assert_true(history_store_poll_changes(f->store, &error));
    recorded_take(&mine, (gint64[]){id}, (int[]){HISTORY_CHANGE_REMOVED}, 1);
    g_assert_no_error(error);
    g_array_unref(mine.ids);
    g_array_unref(mine.kinds);
    g_array_unref(theirs.ids);
    g_array_unref(theirs.kinds);
}

typedef struct {
    HistoryStore *store;
    int jobs;
} Worker;

static gpointer write_jobs(gpointer data)
{
    Worker *w = data;
    for (int i = 0; i < w->jobs; i++)
        ht_write_done_job(w->store, 2, i);
    return NULL;
}

static void count_added(HistoryStore *store, gint64 id, int kind, int *added)
{
    *added += kind == HISTORY_CHANGE_ADDED;
}

/* A worker thread writes jobs while the main thread pages and polls, as the app will. */
static void test_threads(Fixture *f, gconstpointer data)
{
    enum { JOBS = 200 };
    int added = 0;
    g_signal_connect(f->store, "changed", G_CALLBACK(count_added), &added);
    Worker w = {f->store, JOBS};
    GThread *thread = g_thread_new("history-writer", write_jobs, &w);
    g_autoptr(GError) error = NULL;
    gint64 seen = 0;
    while (seen < JOBS) {
        gint64 count = history_store_count(f->store, NULL, &error);
        g_autoptr(GPtrArray) page = history_store_list(f->store, NULL, 0, 20, &error);
        g_assert_no_error(error);
        g_assert_cmpint(count, >=, seen);
        g_assert_cmpuint(page->len, >=, MIN(count, 20)); /* the worker may add in between */
        g_assert_true(history_store_poll_changes(f->store, &error));
        seen = count;
    }
    g_thread_join(thread);
    g_assert_true(history_store_poll_changes(f->store, &error));
    g_assert_cmpint(added, ==, JOBS);
}

static void test_owner_lock(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_auto(HistoryParams) params;
    ht_params_for(&params, 0, 0);
    gint64 running = history_store_begin(f->store, &params, HISTORY_STATUS_RUNNING, &error);
    gint64 queued = history_store_begin(f->store, &params, HISTORY_STATUS_QUEUED, &error);
    g_assert_no_error(error);
    /* another open while the owner is alive leaves its jobs alone */
    g_autoptr(HistoryStore) second = ht_open_store(f->path);
    g_autoptr(HistoryGeneration) still = history_store_get(second, running, &error);
    g_assert_cmpint(still->status, ==, HISTORY_STATUS_RUNNING);
    /* closing the owner ends them as interrupted */
    history_store_close(f->store);
    g_autoptr(HistoryGeneration) r = history_store_get(second, running, &error);
    g_autoptr(HistoryGeneration) q = history_store_get(second, queued, &error);
    g_assert_no_error(error);
    g_assert_cmpint(r->status, ==, HISTORY_STATUS_INTERRUPTED);
    g_assert_cmpint(q->status, ==, HISTORY_STATUS_INTERRUPTED);
    g_assert_nonnull(r->error_message);
    g_assert_false(history_store_begin(f->store, &params, HISTORY_STATUS_RUNNING, &error) > 0);
    g_assert_error(error, HISTORY_ERROR, HISTORY_ERROR_INVALID);
    g_clear_error(&error);
    g_assert_false(history_store_purge(f->store, running, &error));
    g_assert_error(error, HISTORY_ERROR, HISTORY_ERROR_INVALID);
    g_clear_error(&error);
    g_assert_cmpint(history_store_count(f->store, NULL, &error), ==, -1);
    g_assert_error(error, HISTORY_ERROR, HISTORY_ERROR_INVALID);
}

static void test_newer_schema(Fixture *f, gconstpointer data)
{
    ht_write_done_job(f->store, 0, 0);
    g_clear_object(&f->store);
    sqlite3 *db = ht_sqlite_open(f->path);
    g_assert_cmpint(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), ==, SQLITE_OK);
    sqlite3_close(db);
    g_autofree char *before = NULL;
    gsize before_len;
    g_assert_true(g_file_get_contents(f->path, &before, &before_len, NULL));
    g_autoptr(GError) error = NULL;
    g_assert_null(history_store_open(f->path, &error));
    g_assert_error(error, HISTORY_ERROR, HISTORY_ERROR_NEWER_SCHEMA);
    g_autofree char *after = NULL;
    gsize after_len;
    g_assert_true(g_file_get_contents(f->path, &after, &after_len, NULL));
    g_assert_cmpmem(before, before_len, after, after_len);
}

static void test_default_path(void)
{
    g_setenv("RESDIT_HISTORY_DB", "/tmp/x/h.sqlite3", TRUE);
    g_autofree char *overridden = history_store_default_path();
    g_assert_cmpstr(overridden, ==, "/tmp/x/h.sqlite3");
    g_unsetenv("RESDIT_HISTORY_DB");
    g_autofree char *normal = history_store_default_path();
    g_autofree char *want =
        g_build_filename(g_get_user_data_dir(), "resdit-studio", "history.sqlite3", NULL);
    g_assert_cmpstr(normal, ==, want);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/history/params/json", test_params_json);
    g_test_add_func("/history/store/default-path", test_default_path);
#define ADD(name, fn)                                                                              \
    g_test_add("/history/store/" name, Fixture, NULL, fixture_setup, fn, fixture_teardown)
    ADD("round-trip", test_round_trip);
    ADD("failed-and-queued", test_failed_and_queued);
    ADD("paging", test_paging);
    ADD("search-and-filters", test_search_and_filters);
    ADD("created-after", test_created_after);
    ADD("delete-undo", test_delete_undo);
    ADD("changes", test_changes);
    ADD("threads", test_threads);
    ADD("owner-lock", test_owner_lock);
    ADD("newer-schema", test_newer_schema);
    return g_test_run();
}
