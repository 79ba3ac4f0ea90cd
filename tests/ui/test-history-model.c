/* ui suite: the history list model pages through the store, follows its changes and searches. */
#include "config.h"

#include <glib/gstdio.h>

#include "rs-history-model.h"
#include "ui-test-util.h"

typedef struct {
    char *dir;
    HistoryStore *store;
    RsHistoryModel *model;
    guint changes, last_position, last_removed, last_added;
    guint tracked;    /* the count a view has from the signals alone */
    guint mismatches; /* signals after which the model's count was not the view's */
    guint beyond_end; /* signals naming rows past the end of the view's count */
} Fixture;

static gint64 add_row(Fixture *f, const char *prompt, guint64 seed)
{
    HistoryParams params;
    history_params_init(&params);
    g_free(params.prompt);
    params.prompt = g_strdup(prompt);
    params.seed = seed;
    params.width = 512;
    params.height = 288;
    GError *error = NULL;
    gint64 id = history_store_begin(f->store, &params, HISTORY_STATUS_RUNNING, &error);
    g_assert_no_error(error);
    history_params_clear(&params);
    return id;
}

static void on_items_changed(GListModel *model, guint position, guint removed, guint added,
                             Fixture *f)
{
    f->changes++;
    if (position + removed > f->tracked)
        f->beyond_end++;
    f->last_position = position;
    f->last_removed = removed;
    f->last_added = added;
    f->tracked = f->tracked - removed + added;
    if (f->tracked != g_list_model_get_n_items(model))
        f->mismatches++;
}

static void fixture_set_up(Fixture *f, gconstpointer data)
{
    f->dir = g_dir_make_tmp("rs-history-model-XXXXXX", NULL);
    char *path = g_build_filename(f->dir, "history.sqlite3", NULL);
    GError *error = NULL;
    f->store = history_store_open(path, &error);
    g_assert_no_error(error);
    g_free(path);
    for (int i = 0; i < GPOINTER_TO_INT(data); i++) {
        char *prompt = g_strdup_printf("%s number %d", i % 2 ? "lighthouse" : "forest", i);
        add_row(f, prompt, (guint64)i);
        g_free(prompt);
    }
    history_store_poll_changes(f->store, NULL); /* the rows above are not news to the model */
    f->model = rs_history_model_new(f->store);
    f->tracked = g_list_model_get_n_items(G_LIST_MODEL(f->model));
    g_signal_connect(f->model, "items-changed", G_CALLBACK(on_items_changed), f);
}

static void fixture_tear_down(Fixture *f, gconstpointer data)
{
    g_assert_finalize_object(f->model);
    history_store_close(f->store);
    g_assert_finalize_object(f->store);
    GDir *dir = g_dir_open(f->dir, 0, NULL);
    for (const char *name; (name = g_dir_read_name(dir)) != NULL;) {
        char *child = g_build_filename(f->dir, name, NULL);
        if (g_file_test(child, G_FILE_TEST_IS_DIR)) {
            GDir *sub = g_dir_open(child, 0, NULL);
            for (const char *n; (n = g_dir_read_name(sub)) != NULL;) {
                char *file = g_build_filename(child, n, NULL);
                g_unlink(file);
                g_free(file);
            }
            g_dir_close(sub);
            g_rmdir(child);
        } else {
            g_unlink(child);
        }
        g_free(child);
    }
    g_dir_close(dir);
    g_rmdir(f->dir);
    g_free(f->dir);
}

static guint64 seed_at(Fixture *f, guint position)
{
    RsHistoryItem *item = g_list_model_get_item(G_LIST_MODEL(f->model), position);
    g_assert_nonnull(item);
    guint64 seed = rs_history_item_get_generation(item)->params.seed;
    g_object_unref(item);
    return seed;
}

static void test_paging(Fixture *f, gconstpointer data)
{
    GListModel *model = G_LIST_MODEL(f->model);
    g_assert_cmpuint(g_list_model_get_n_items(model), ==, 120);
    g_assert_cmpuint(rs_history_model_get_n_loaded_pages(f->model), ==, 0);
    g_assert_cmpuint(seed_at(f, 0), ==, 119); /* newest first */
    g_assert_cmpuint(rs_history_model_get_n_loaded_pages(f->model), ==, 1);
    g_assert_cmpuint(seed_at(f, 49), ==, 70);
    g_assert_cmpuint(rs_history_model_get_n_loaded_pages(f->model), ==, 1);
    g_assert_cmpuint(seed_at(f, 119), ==, 0);
    g_assert_cmpuint(rs_history_model_get_n_loaded_pages(f->model), ==, 2); /* page 1 skipped */
    g_assert_null(g_list_model_get_item(model, 120));
}

static void test_changes(Fixture *f, gconstpointer data)
{
    GListModel *model = G_LIST_MODEL(f->model);
    seed_at(f, 0);
    gint64 id = add_row(f, "lighthouse at night", 1000);
    history_store_poll_changes(f->store, NULL);
    g_assert_cmpuint(g_list_model_get_n_items(model), ==, 121);
    g_assert_cmpuint(f->last_position, ==, 0);
    g_assert_cmpuint(f->last_added, ==, 1);
    g_assert_cmpuint(f->last_removed, ==, 0);
    g_assert_cmpuint(seed_at(f, 0), ==, 1000);

    HistoryOutcome outcome = {.status = HISTORY_STATUS_DONE};
    g_assert_true(history_store_finish(f->store, id, &outcome, NULL));
    history_store_poll_changes(f->store, NULL);
    g_assert_cmpuint(f->last_position, ==, 0);
    g_assert_cmpuint(f->last_added, ==, 1);
    g_assert_cmpuint(f->last_removed, ==, 1);
    RsHistoryItem *item = g_list_model_get_item(model, 0);
    g_assert_cmpint(rs_history_item_get_generation(item)->status, ==, HISTORY_STATUS_DONE);
    g_object_unref(item);

    g_assert_true(history_store_delete(f->store, id, NULL));
    history_store_poll_changes(f->store, NULL);
    g_assert_cmpuint(g_list_model_get_n_items(model), ==, 120);
    g_assert_cmpuint(f->last_removed, ==, 1);
    g_assert_cmpuint(f->last_added, ==, 0);
    g_assert_cmpuint(seed_at(f, 0), ==, 119);
}

/* Two jobs between two polls (a quick job, then the next): every signal keeps the count a view
 * holds equal to the model's (a list view crashes otherwise). */
static void test_changes_in_one_poll(Fixture *f, gconstpointer data)
{
    GListModel *model = G_LIST_MODEL(f->model);
    seed_at(f, 0);
    gint64 first = add_row(f, "first of two", 2000);
    add_row(f, "second of two", 2001);
    history_store_poll_changes(f->store, NULL);
    g_assert_cmpuint(f->mismatches, ==, 0);
    g_assert_cmpuint(g_list_model_get_n_items(model), ==, 122);
    g_assert_cmpuint(seed_at(f, 0), ==, 2001);
    g_assert_cmpuint(seed_at(f, 1), ==, 2000);

    g_assert_true(history_store_delete(f->store, first, NULL));
    g_assert_true(history_store_delete(f->store, first + 1, NULL));
    history_store_poll_changes(f->store, NULL);
    g_assert_cmpuint(f->mismatches, ==, 0);
    g_assert_cmpuint(g_list_model_get_n_items(model), ==, 120);
    g_assert_cmpuint(f->tracked, ==, 120);
}

/* A row finished and the next job began between two polls, and the view read the rows in
 * between: the update must not name a position past the rows the view knows (a list view crashes
 * then); the addition follows in the same poll. */
static void test_update_before_addition(Fixture *f, gconstpointer data)
{
    GListModel *model = G_LIST_MODEL(f->model);
    gint64 a = add_row(f, "first job", 1);
    history_store_poll_changes(f->store, NULL);
    g_assert_cmpuint(g_list_model_get_n_items(model), ==, 1);
    HistoryOutcome outcome = {.status = HISTORY_STATUS_DONE};
    g_assert_true(history_store_finish(f->store, a, &outcome, NULL));
    add_row(f, "second job", 2);
    seed_at(f, 0); /* the view draws: the page read now holds the second row too */
    history_store_poll_changes(f->store, NULL);
    g_assert_cmpuint(f->beyond_end, ==, 0);
    g_assert_cmpuint(f->mismatches, ==, 0);
    g_assert_cmpuint(g_list_model_get_n_items(model), ==, 2);
    g_assert_cmpuint(seed_at(f, 0), ==, 2);
    g_assert_cmpuint(seed_at(f, 1), ==, 1);
    RsHistoryItem *item = g_list_model_get_item(model, 1);
    g_assert_cmpint(rs_history_item_get_generation(item)->status, ==, HISTORY_STATUS_DONE);
    g_object_unref(item);
}

static void test_search(Fixture *f, gconstpointer data)
{
    rs_history_model_set_search(f->model, "lighthouse");
    g_assert_cmpuint(g_list_model_get_n_items(G_LIST_MODEL(f->model)), ==, 60);
    g_assert_cmpuint(seed_at(f, 0), ==, 119);
    g_assert_cmpuint(seed_at(f, 1), ==, 117);
    rs_history_model_set_search(f->model, "zebra");
    g_assert_cmpuint(g_list_model_get_n_items(G_LIST_MODEL(f->model)), ==, 0);
    rs_history_model_set_search(f->model, "");
    g_assert_cmpuint(g_list_model_get_n_items(G_LIST_MODEL(f->model)), ==, 120);
}

int main(int argc, char **argv)
{
    ui_test_init(&argc, &argv);
    g_test_add("/history-model/paging", Fixture, GINT_TO_POINTER(120), fixture_set_up, test_paging,
               fixture_tear_down);
    g_test_add("/history-model/changes", Fixture, GINT_TO_POINTER(120), fixture_set_up, test_changes,
               fixture_tear_down);
    g_test_add("/history-model/changes-in-one-poll", Fixture, GINT_TO_POINTER(120), fixture_set_up,
               test_changes_in_one_poll, fixture_tear_down);
    g_test_add("/history-model/update-before-addition", Fixture, GINT_TO_POINTER(0),
               fixture_set_up, test_update_before_addition, fixture_tear_down);
    g_test_add("/history-model/search", Fixture, GINT_TO_POINTER(120), fixture_set_up, test_search,
               fixture_tear_down);
    return g_test_run();
}
