/* unit suite: RsJobQueue, the studio's waiting jobs (GLib only). Order, moves at and away from
 * the ends, removal by id, the list model's change signals, and that a queued job is a copy. */
#include <string.h>

#include "rs-job-queue.h"

typedef struct {
    guint position, removed, added;
    int n_signals;
    int n_count_notifies;
} Changes;

static void on_items_changed(GListModel *model, guint position, guint removed, guint added,
                             Changes *changes)
{
    changes->position = position;
    changes->removed = removed;
    changes->added = added;
    changes->n_signals++;
}

static void on_n_jobs(GObject *queue, GParamSpec *pspec, Changes *changes)
{
    changes->n_count_notifies++;
}

static guint push(RsJobQueue *queue, const char *prompt, guint64 seed)
{
    ResditJobParams params;
    resdit_job_params_init(&params);
    g_free(params.prompt);
    params.prompt = g_strdup(prompt);
    params.random_seed = FALSE;
    params.seed = seed;
    guint id = rs_job_queue_push(queue, &params, "/tmp/out");
    resdit_job_params_clear(&params);
    return id;
}

static char *order(RsJobQueue *queue)
{
    GString *text = g_string_new(NULL);
    for (guint i = 0; i < g_list_model_get_n_items(G_LIST_MODEL(queue)); i++) {
        RsQueuedJob *job = g_list_model_get_item(G_LIST_MODEL(queue), i);
        g_string_append_printf(text, "%s%s", i > 0 ? "," : "",
                               rs_queued_job_get_params(job)->prompt);
        g_object_unref(job);
    }
    return g_string_free(text, FALSE);
}

static void assert_order(RsJobQueue *queue, const char *want)
{
    char *got = order(queue);
    g_assert_cmpstr(got, ==, want);
    g_free(got);
}

static void test_order(void)
{
    RsJobQueue *queue = rs_job_queue_new();
    Changes changes = {0};
    g_signal_connect(queue, "items-changed", G_CALLBACK(on_items_changed), &changes);
    g_signal_connect(queue, "notify::n-jobs", G_CALLBACK(on_n_jobs), &changes);
    g_assert_true(g_list_model_get_item_type(G_LIST_MODEL(queue)) == RS_TYPE_QUEUED_JOB);
    g_assert_null(rs_job_queue_pop(queue));

    guint a = push(queue, "a", 1), b = push(queue, "b", 2), c = push(queue, "c", 3);
    g_assert_cmpuint(a, !=, 0);
    g_assert_cmpuint(a, !=, b);
    g_assert_cmpuint(b, !=, c);
    g_assert_cmpint(changes.n_signals, ==, 3);
    g_assert_cmpint(changes.n_count_notifies, ==, 3);
    g_assert_cmpuint(changes.position, ==, 2);
    g_assert_cmpuint(changes.added, ==, 1);
    g_assert_cmpuint(rs_job_queue_get_n_jobs(queue), ==, 3);
    g_assert_cmpint(rs_job_queue_find(queue, c), ==, 2);
    assert_order(queue, "a,b,c");

    /* Moves: the range between the two places changes; the count does not. */
    g_assert_true(rs_job_queue_move(queue, c, -2));
    assert_order(queue, "c,a,b");
    g_assert_cmpuint(changes.position, ==, 0);
    g_assert_cmpuint(changes.removed, ==, 3);
    g_assert_cmpuint(changes.added, ==, 3);
    g_assert_cmpint(changes.n_count_notifies, ==, 3);
    g_assert_true(rs_job_queue_move(queue, a, 1));
    assert_order(queue, "c,b,a");
    g_assert_cmpuint(changes.position, ==, 1);
    g_assert_cmpuint(changes.removed, ==, 2);
    /* Not past the ends, not an unknown id, not by nothing. */
    int n_signals = changes.n_signals;
    g_assert_false(rs_job_queue_move(queue, c, -1));
    g_assert_false(rs_job_queue_move(queue, a, 1));
    g_assert_false(rs_job_queue_move(queue, b, 0));
    g_assert_false(rs_job_queue_move(queue, 999999, 1));
    g_assert_cmpint(changes.n_signals, ==, n_signals);
    assert_order(queue, "c,b,a");

    g_assert_true(rs_job_queue_remove(queue, b));
    g_assert_false(rs_job_queue_remove(queue, b));
    g_assert_cmpint(rs_job_queue_find(queue, b), ==, -1);
    g_assert_cmpuint(changes.position, ==, 1);
    g_assert_cmpuint(changes.removed, ==, 1);
    g_assert_cmpuint(changes.added, ==, 0);
    assert_order(queue, "c,a");

    RsQueuedJob *first = rs_job_queue_pop(queue);
    g_assert_cmpuint(rs_queued_job_get_id(first), ==, c);
    g_assert_cmpuint(rs_queued_job_get_params(first)->seed, ==, 3);
    g_assert_cmpstr(rs_queued_job_get_output_folder(first), ==, "/tmp/out");
    g_object_unref(first);
    assert_order(queue, "a");
    rs_job_queue_clear(queue);
    g_assert_cmpuint(rs_job_queue_get_n_jobs(queue), ==, 0);
    g_assert_cmpuint(changes.removed, ==, 1);
    n_signals = changes.n_signals;
    rs_job_queue_clear(queue); /* empty: no signal */
    g_assert_cmpint(changes.n_signals, ==, n_signals);
    g_object_unref(queue);
}

/* A queued job keeps its own copy: the caller's parameters change or go, the job does not. */
static void test_snapshot(void)
{
    RsJobQueue *queue = rs_job_queue_new();
    ResditJobParams params;
    resdit_job_params_init(&params);
    g_free(params.prompt);
    params.prompt = g_strdup("a lighthouse");
    params.random_seed = FALSE;
    params.seed = 7;
    params.width = 256;
    params.height = 128;
    rs_job_queue_push(queue, &params, "/tmp/out");
    params.prompt[0] = 'A';
    params.seed = 8;
    params.width = 512;
    resdit_job_params_clear(&params);
    RsQueuedJob *job = g_list_model_get_item(G_LIST_MODEL(queue), 0);
    const ResditJobParams *kept = rs_queued_job_get_params(job);
    g_assert_cmpstr(kept->prompt, ==, "a lighthouse");
    g_assert_cmpuint(kept->seed, ==, 7);
    g_assert_cmpint(kept->width, ==, 256);
    g_assert_cmpint(kept->height, ==, 128);
    g_assert_false(kept->random_seed);
    g_object_unref(job);
    g_object_unref(queue);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/job-queue/order", test_order);
    g_test_add_func("/job-queue/snapshot", test_snapshot);
    return g_test_run();
}
