/* Helpers shared by the history tests. */
#include "history-test-util.h"

#include <glib/gstdio.h>
#include <grp.h>
#include <png.h>
#include <string.h>
#include <unistd.h>

#define HT_NOBODY 65534

char *ht_make_tmpdir(void)
{
    g_autoptr(GError) error = NULL;
    char *dir = g_dir_make_tmp("resdit-history-XXXXXX", &error);
    g_assert_no_error(error);
    return dir;
}

void ht_give_away(const char *path)
{
    if (geteuid() != 0)
        return;
    g_assert_cmpint(lchown(path, HT_NOBODY, HT_NOBODY), ==, 0);
    if (!g_file_test(path, G_FILE_TEST_IS_DIR) || g_file_test(path, G_FILE_TEST_IS_SYMLINK))
        return;
    g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
    for (const char *name; dir && (name = g_dir_read_name(dir)) != NULL;) {
        g_autofree char *child = g_build_filename(path, name, NULL);
        ht_give_away(child);
    }
}

void ht_drop_privileges(void)
{
    if (geteuid() != 0)
        return;
    g_assert_cmpint(setgroups(0, NULL), ==, 0);
    g_assert_cmpint(setgid(HT_NOBODY), ==, 0);
    g_assert_cmpint(setuid(HT_NOBODY), ==, 0);
    g_assert_cmpint(geteuid(), ==, HT_NOBODY);
}

void ht_remove_tree(const char *path)
{
    if (g_file_test(path, G_FILE_TEST_IS_DIR) && !g_file_test(path, G_FILE_TEST_IS_SYMLINK)) {
        g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
        const char *name;
        while (dir && (name = g_dir_read_name(dir)) != NULL) {
            g_autofree char *child = g_build_filename(path, name, NULL);
            ht_remove_tree(child);
        }
        g_rmdir(path);
    } else {
        g_unlink(path);
    }
}

void ht_params_for(HistoryParams *p, int writer, int index)
{
    history_params_init(p);
    g_free(p->prompt);
    p->prompt = g_strdup_printf("writer %d job %d: a lighthouse on a cliff, storm, \"quoted\" "
                                "text and ünïcödé",
                                writer, index);
    p->width = 1024 + 16 * (index % 64);
    p->height = 2048 - 16 * (writer % 8);
    p->steps = 20 + index % 30;
    p->guidance = 2.75 + 0.125 * index;
    p->seed = G_MAXUINT64 - (guint64)index * 7919u - (guint64)writer; /* above 2^63 */
    p->direct = index % 2 == 1;
    p->global_steps = 3 + index % 5;
    p->local_steps = 4 + index % 6;
    p->base_rows = 40 + index % 3;
    p->base_cols = 90 - index % 4;
    p->base_area = 4100 + index;
    p->patch = 48 + writer;
    p->sigma = 12.5 + 0.01 * index;
    p->cutoff = 0.1 + 0.001 * index;
    p->no_pes = index % 3 == 0;
    p->no_pipe = index % 3 == 1;
    p->no_psf = index % 5 == 2;
    p->no_overlap = index % 7 == 3;
    p->uniform_weights = index % 2 == 0;
    p->shift_mode = (HistoryShiftMode)(index % 3);
    p->shift_mu = 0.75 + 0.03125 * index;
    p->lowfreq_noise = 0.0625 * (index % 9);
    g_free(p->backend);
    p->backend = g_strdup(index % 2 ? "cuda" : "cpu");
    g_free(p->model_name);
    p->model_name = g_strdup_printf("flux1-%s", writer % 2 ? "schnell" : "dev");
    g_free(p->model_fingerprint);
    p->model_fingerprint = g_strdup_printf("sha256:%08x%08x", writer, index);
}

GBytes *ht_png(guint seed)
{
    guint8 pixels[8 * 8 * 3];
    for (guint i = 0; i < sizeof(pixels); i++)
        pixels[i] = (guint8)(i * 37u + seed * 101u + 1u);
    png_image image = {
        .version = PNG_IMAGE_VERSION, .width = 8, .height = 8, .format = PNG_FORMAT_RGB};
    png_alloc_size_t size = 0;
    g_assert_true(png_image_write_to_memory(&image, NULL, &size, 0, pixels, 0, NULL));
    guint8 *buffer = g_malloc(size);
    g_assert_true(png_image_write_to_memory(&image, buffer, &size, 0, pixels, 0, NULL));
    return g_bytes_new_take(buffer, size);
}

sqlite3 *ht_sqlite_open(const char *path)
{
    sqlite3 *db = NULL;
    g_assert_cmpint(sqlite3_open(path, &db), ==, SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    return db;
}

gint64 ht_sqlite_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        g_error("%s: %s", sql, sqlite3_errmsg(db));
    g_assert_cmpint(sqlite3_step(stmt), ==, SQLITE_ROW);
    gint64 v = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return v;
}

char *ht_integrity_check(const char *path)
{
    sqlite3 *db = ht_sqlite_open(path);
    sqlite3_stmt *stmt = NULL;
    g_assert_cmpint(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, NULL), ==,
                    SQLITE_OK);
    int rc = sqlite3_step(stmt);
    char *result = rc == SQLITE_ROW
                       ? g_strdup((const char *)sqlite3_column_text(stmt, 0))
                       : g_strdup_printf("integrity_check failed: %s", sqlite3_errmsg(db));
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return result;
}

HistoryStore *ht_open_store(const char *path)
{
    g_autoptr(GError) error = NULL;
    HistoryStore *store = history_store_open(path, &error);
    g_assert_no_error(error);
    g_assert_nonnull(store);
    return store;
}

static const char *const phases[] = {"text encoding", "denoising", "vae decode"};

gint64 ht_write_done_job(HistoryStore *store, int writer, int index)
{
    g_auto(HistoryParams) params;
    ht_params_for(&params, writer, index);
    g_autoptr(GError) error = NULL;
    gint64 id = history_store_begin(store, &params, HISTORY_STATUS_RUNNING, &error);
    g_assert_no_error(error);
    g_assert_cmpint(id, >, 0);
    HistoryTiming timings[G_N_ELEMENTS(phases)];
    for (guint i = 0; i < G_N_ELEMENTS(phases); i++)
        timings[i] = (HistoryTiming){(char *)phases[i], 0.5 * (i + 1) + index};
    g_autofree char *image = g_strdup_printf("/images/w%d-%d.png", writer, index);
    g_autoptr(GBytes) png = ht_png((guint)(writer * 100000 + index));
    HistoryOutcome outcome = {
        .status = HISTORY_STATUS_DONE,
        .image_path = image,
        .peak_host_bytes = G_GINT64_CONSTANT(1) << 33 | index,
        .peak_device_bytes = G_GINT64_CONSTANT(1) << 34 | writer,
        .timings = timings,
        .n_timings = G_N_ELEMENTS(timings),
        .thumbnail_png = png,
    };
    g_assert_true(history_store_finish(store, id, &outcome, &error));
    g_assert_no_error(error);
    return id;
}

void ht_assert_done_job(const HistoryGeneration *gen, int writer, int index)
{
    g_auto(HistoryParams) expected;
    ht_params_for(&expected, writer, index);
    g_assert_true(history_params_equal(&gen->params, &expected));
    g_autofree char *json = history_params_to_json(&expected);
    g_assert_cmpstr(gen->params_json, ==, json);
    g_assert_cmpint(gen->status, ==, HISTORY_STATUS_DONE);
    g_autofree char *image = g_strdup_printf("/images/w%d-%d.png", writer, index);
    g_assert_cmpstr(gen->image_path, ==, image);
    g_assert_null(gen->error_message);
    g_assert_cmpint(gen->peak_host_bytes, ==, G_GINT64_CONSTANT(1) << 33 | index);
    g_assert_cmpint(gen->peak_device_bytes, ==, G_GINT64_CONSTANT(1) << 34 | writer);
    g_assert_true(gen->has_thumbnail);
    g_assert_cmpint(gen->created_at, >, 0);
    g_assert_cmpint(gen->started_at, >=, gen->created_at);
    g_assert_cmpint(gen->finished_at, >=, gen->started_at);
    g_assert_cmpuint(gen->timings->len, ==, G_N_ELEMENTS(phases));
    for (guint i = 0; i < G_N_ELEMENTS(phases); i++) {
        HistoryTiming *t = &g_array_index(gen->timings, HistoryTiming, i);
        g_assert_cmpstr(t->phase, ==, phases[i]);
        g_assert_cmpfloat(t->seconds, ==, 0.5 * (i + 1) + index);
    }
}
