/* History across processes: a writer killed with SIGKILL in the middle of its jobs, and several
 * processes writing many jobs at once. The test binary runs itself as the helper processes. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "history-test-util.h"

enum { HELD_INDEX = 100000, CRASH_WRITER = 7 };

/* ---- helper modes (child processes) ----------------------------------------------------- */

/* Writes count finished jobs as writer; any error ends the process with status 1. */
static int run_writer(const char *path, int writer, int count)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(HistoryStore) store = history_store_open(path, &error);
    if (store == NULL) {
        fprintf(stderr, "writer %d: %s\n", writer, error->message);
        return 1;
    }
    for (int i = 0; i < count; i++)
        ht_write_done_job(store, writer, i); /* aborts on any error */
    history_store_close(store);
    return 0;
}

/* Writes jobs forever, reporting each finished one; after `first` jobs it starts one job it
 * never finishes. The parent kills it with SIGKILL. */
G_GNUC_NORETURN static void run_crash_writer(const char *path, int first)
{
    g_autoptr(HistoryStore) store = ht_open_store(path);
    for (int i = 0;; i++) {
        if (i == first) {
            g_auto(HistoryParams) params;
            ht_params_for(&params, CRASH_WRITER, HELD_INDEX);
            g_autoptr(GError) error = NULL;
            gint64 id = history_store_begin(store, &params, HISTORY_STATUS_RUNNING, &error);
            g_assert_no_error(error);
            printf("held %" G_GINT64_FORMAT "\n", id);
        }
        gint64 id = ht_write_done_job(store, CRASH_WRITER, i);
        printf("done %d %" G_GINT64_FORMAT "\n", i, id);
        fflush(stdout);
    }
}

/* ---- the tests -------------------------------------------------------------------------- */

static char *self_path(void)
{
    g_autoptr(GError) error = NULL;
    char *path = g_file_read_link("/proc/self/exe", &error);
    g_assert_no_error(error);
    return path;
}

static GSubprocess *spawn_self(GSubprocessFlags flags, const char *mode, const char *db,
                               const char *a, const char *b)
{
    g_autofree char *exe = self_path();
    g_autoptr(GError) error = NULL;
    GSubprocess *child = g_subprocess_new(flags, &error, exe, mode, db, a, b, NULL);
    g_assert_no_error(error);
    return child;
}

typedef struct {
    GHashTable *done; /* index -> id, as reported by the child */
    gint64 held_id;
} CrashReport;

static void test_kill_during_writes(void)
{
    g_autofree char *dir = ht_make_tmpdir();
    g_autofree char *path = g_build_filename(dir, "history.sqlite3", NULL);
    /* rows written before the crashing process started must survive untouched */
    {
        g_autoptr(HistoryStore) store = ht_open_store(path);
        for (int i = 0; i < 20; i++)
            ht_write_done_job(store, 0, i);
    }
    enum { FIRST = 25, AFTER_HELD = 15 };
    g_autofree char *first = g_strdup_printf("%d", FIRST);
    g_autoptr(GSubprocess) child =
        spawn_self(G_SUBPROCESS_FLAGS_STDOUT_PIPE, "--crash-writer", path, first, NULL);
    g_autoptr(GDataInputStream) lines =
        g_data_input_stream_new(g_subprocess_get_stdout_pipe(child));
    CrashReport report = {g_hash_table_new(g_direct_hash, g_direct_equal), 0};
    int after_held = 0;
    while (report.held_id == 0 || after_held < AFTER_HELD) {
        g_autoptr(GError) error = NULL;
        g_autofree char *line = g_data_input_stream_read_line(lines, NULL, NULL, &error);
        g_assert_no_error(error);
        g_assert_nonnull(line); /* the child must not exit by itself */
        int index;
        gint64 id;
        if (sscanf(line, "done %d %" G_GINT64_FORMAT, &index, &id) == 2) {
            g_hash_table_insert(report.done, GINT_TO_POINTER(index), GINT_TO_POINTER(id));
            after_held += report.held_id != 0;
        } else {
            g_assert_cmpint(sscanf(line, "held %" G_GINT64_FORMAT, &report.held_id), ==, 1);
        }
    }
    g_subprocess_send_signal(child, SIGKILL); /* the child is still writing jobs */
    g_assert_true(g_subprocess_wait(child, NULL, NULL));
    g_assert_true(g_subprocess_get_if_signaled(child));
    g_assert_cmpint(g_subprocess_get_term_sig(child), ==, SIGKILL);

    g_autofree char *check = ht_integrity_check(path);
    g_assert_cmpstr(check, ==, "ok");

    g_autoptr(HistoryStore) store = ht_open_store(path);
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) rows = history_store_list(store, NULL, 0, 100000, &error);
    g_assert_no_error(error);
    guint earlier = 0, reported = 0, interrupted = 0, in_flight = 0;
    for (guint i = 0; i < rows->len; i++) {
        HistoryGeneration *row = g_ptr_array_index(rows, i);
        g_assert_cmpint(row->status, !=, HISTORY_STATUS_RUNNING);
        g_autoptr(HistoryGeneration) gen = history_store_get(store, row->id, &error);
        g_assert_no_error(error);
        int index = (int)strtol(strstr(gen->params.prompt, "job ") + 4, NULL, 10);
        if (row->id == report.held_id) {
            g_assert_cmpint(gen->status, ==, HISTORY_STATUS_INTERRUPTED);
            g_assert_cmpint(index, ==, HELD_INDEX);
            interrupted++;
        } else if (gen->params.patch == 48 + 0) { /* writer 0: before the crash */
            ht_assert_done_job(gen, 0, index);
            earlier++;
        } else if (g_hash_table_contains(report.done, GINT_TO_POINTER(index))) {
            g_assert_cmpint(
                GPOINTER_TO_INT(g_hash_table_lookup(report.done, GINT_TO_POINTER(index))), ==,
                gen->id);
            ht_assert_done_job(gen, CRASH_WRITER, index);
            reported++;
        } else {
            /* written after the last line this test read (the pipe runs ahead): complete if
             * done; only the job in flight at the kill may be interrupted */
            g_assert_cmpint(index, >=, (int)g_hash_table_size(report.done));
            if (gen->status == HISTORY_STATUS_DONE) {
                ht_assert_done_job(gen, CRASH_WRITER, index);
            } else {
                g_assert_cmpint(gen->status, ==, HISTORY_STATUS_INTERRUPTED);
                g_assert_cmpint(in_flight++, ==, 0);
                g_assert_cmpint(i, ==, 0); /* the newest row */
            }
        }
    }
    g_assert_cmpuint(earlier, ==, 20);
    g_assert_cmpuint(reported, ==, g_hash_table_size(report.done));
    g_assert_cmpuint(interrupted, ==, 1);
    g_hash_table_unref(report.done);
    g_clear_object(&store);
    ht_remove_tree(dir);
}

static void test_concurrent_writers(void)
{
    enum { JOBS = 150, CHILDREN = 2 };
    g_autofree char *dir = ht_make_tmpdir();
    g_autofree char *path = g_build_filename(dir, "history.sqlite3", NULL);
    g_autofree char *jobs = g_strdup_printf("%d", JOBS);
    GSubprocess *children[CHILDREN];
    for (int c = 0; c < CHILDREN; c++) {
        g_autofree char *writer = g_strdup_printf("%d", c + 1);
        children[c] = spawn_self(G_SUBPROCESS_FLAGS_STDERR_PIPE, "--writer", path, writer, jobs);
    }
    g_autoptr(HistoryStore) store = ht_open_store(path); /* this process writes too */
    for (int i = 0; i < JOBS; i++)
        ht_write_done_job(store, 0, i);
    for (int c = 0; c < CHILDREN; c++) {
        g_autofree char *err = NULL;
        g_assert_true(g_subprocess_communicate_utf8(children[c], NULL, NULL, NULL, &err, NULL));
        if (!g_subprocess_get_if_exited(children[c]) ||
            g_subprocess_get_exit_status(children[c]) != 0)
            g_error("writer %d failed: %s", c + 1, err);
        g_assert_cmpstr(err, ==, "");
        g_object_unref(children[c]);
    }
    g_autoptr(GError) error = NULL;
    g_assert_cmpint(history_store_count(store, NULL, &error), ==, JOBS * (CHILDREN + 1));
    g_autoptr(GPtrArray) rows = history_store_list(store, NULL, 0, 100000, &error);
    g_assert_no_error(error);
    guint8 seen[CHILDREN + 1][JOBS] = {{0}};
    for (guint i = 0; i < rows->len; i++) {
        g_autoptr(HistoryGeneration) gen =
            history_store_get(store, ((HistoryGeneration *)g_ptr_array_index(rows, i))->id, &error);
        g_assert_no_error(error);
        int writer = gen->params.patch - 48;
        int index = (int)strtol(strstr(gen->params.prompt, "job ") + 4, NULL, 10);
        g_assert_cmpint(writer, >=, 0);
        g_assert_cmpint(writer, <=, CHILDREN);
        g_assert_cmpint(index, <, JOBS);
        g_assert_cmpint(seen[writer][index]++, ==, 0);
        ht_assert_done_job(gen, writer, index);
    }
    g_clear_object(&store);
    g_autofree char *check = ht_integrity_check(path);
    g_assert_cmpstr(check, ==, "ok");
    ht_remove_tree(dir);
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--writer") == 0)
        return run_writer(argv[2], atoi(argv[3]), atoi(argv[4]));
    if (argc == 4 && strcmp(argv[1], "--crash-writer") == 0)
        run_crash_writer(argv[2], atoi(argv[3]));
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/history/process/kill-during-writes", test_kill_during_writes);
    g_test_add_func("/history/process/concurrent-writers", test_concurrent_writers);
    return g_test_run();
}
