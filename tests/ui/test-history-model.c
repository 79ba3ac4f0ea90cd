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
    f->last_position = position;
    f->last_removed = removed;
    f->last_added = added;
}

static void fixture_set_up(Fixture *f, gconstpointer data)
{
    f->dir = g_dir_make_tmp("rs-history-model-XXXXXX", NULL);
    char *path = g_build_filename(f->dir, "history.sqlite3", NULL);
    GError *error = NULL;
    f->store = history_store_open(path, &error);
    g_assert_no_error(error);
    g_free(path);
    for (int i = 0; i < 120; i++) {
        char *prompt = g_strdup_printf("%s number %d", i % 2 ? "lighthouse" : "forest", i);
        add_row(f, prompt, (guint64)i);
        g_free(prompt);
    }
    history_store_poll_changes(f->store, NULL); /* the rows above are not news to the model */
    f->model = rs_history_model_new(f->store);
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
    g_test_add("/history-model/paging", Fixture, NULL, fixture_set_up, test_paging,
               fixture_tear_down);
    g_test_add("/history-model/changes", Fixture, NULL, fixture_set_up, test_changes,
               fixture_tear_down);
    g_test_add("/history-model/search", Fixture, NULL, fixture_set_up, test_search,
               fixture_tear_down);
    return g_test_run();
}
