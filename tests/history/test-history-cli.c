/* resdit history: the command line over the shared history (list, search, show, delete). */
#include <errno.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "history-test-util.h"

typedef struct {
    int status;
    char *out;
    char *err;
} CliRun;

static void cli_run_clear(CliRun *r)
{
    g_free(r->out);
    g_free(r->err);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(CliRun, cli_run_clear)

static void become_nobody(gpointer data)
{
    ht_drop_privileges();
}

static CliRun run_cli_va(gboolean unprivileged, const char *db, va_list ap)
{
    const char *exe = g_getenv("RESDIT_CLI");
    g_assert_nonnull(exe);
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_ptr_array_add(argv, (char *)exe);
    g_ptr_array_add(argv, "history");
    g_ptr_array_add(argv, "--db");
    g_ptr_array_add(argv, (char *)db);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL;)
        g_ptr_array_add(argv, (char *)a);
    g_ptr_array_add(argv, NULL);
    CliRun r = {0};
    g_autoptr(GError) error = NULL;
    g_assert_true(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT,
                               unprivileged ? become_nobody : NULL, NULL, &r.out, &r.err, &r.status,
                               &error));
    g_assert_no_error(error);
    r.status = WIFEXITED(r.status) ? WEXITSTATUS(r.status) : -1;
    g_assert_null(strstr(r.err, "locked"));
    return r;
}

static CliRun run_cli(const char *db, ...)
{
    va_list ap;
    va_start(ap, db);
    CliRun r = run_cli_va(FALSE, db, ap);
    va_end(ap);
    return r;
}

/* As an unprivileged user when the test runs as root (see ht_drop_privileges). */
static CliRun run_cli_unprivileged(const char *db, ...)
{
    va_list ap;
    va_start(ap, db);
    CliRun r = run_cli_va(TRUE, db, ap);
    va_end(ap);
    return r;
}

static JsonNode *parse(const char *text)
{
    g_autoptr(GError) error = NULL;
    JsonNode *node = json_from_string(text, &error);
    g_assert_no_error(error);
    return node;
}

static void test_cli(void)
{
    g_autofree char *dir = ht_make_tmpdir();
    g_autofree char *db = g_build_filename(dir, "history.sqlite3", NULL);
    g_autofree char *image = g_build_filename(dir, "one.png", NULL);
    gint64 ids[3];
    {
        g_autoptr(HistoryStore) store = ht_open_store(db);
        for (int i = 0; i < 3; i++)
            ids[i] = ht_write_done_job(store, 0, i);
        g_assert_true(g_file_set_contents(image, "png", 3, NULL));
        g_auto(HistoryParams) p;
        ht_params_for(&p, 5, 5);
        gint64 id = history_store_begin(store, &p, HISTORY_STATUS_RUNNING, NULL);
        HistoryOutcome o = {
            .status = HISTORY_STATUS_FAILED, .image_path = image, .error_message = "boom"};
        g_assert_true(history_store_finish(store, id, &o, NULL));
    }
    {
        g_auto(CliRun) r = run_cli(db, "list", "--json", "--status", "done", NULL);
        g_assert_cmpint(r.status, ==, 0);
        g_autoptr(JsonNode) root = parse(r.out);
        JsonArray *rows = json_node_get_array(root);
        g_assert_cmpuint(json_array_get_length(rows), ==, 3);
        for (int i = 0; i < 3; i++) {
            JsonObject *row = json_array_get_object_element(rows, (guint)(2 - i));
            g_assert_cmpint(json_object_get_int_member(row, "id"), ==, ids[i]);
            g_auto(HistoryParams) p;
            ht_params_for(&p, 0, i);
            JsonObject *params = json_object_get_object_member(row, "params");
            g_assert_cmpstr(json_object_get_string_member(params, "prompt"), ==, p.prompt);
            g_assert_cmpint(json_object_get_int_member(params, "seed"), ==, (gint64)p.seed);
            g_assert_cmpstr(json_object_get_string_member(row, "status"), ==, "done");
        }
    }
    {
        g_auto(CliRun) r = run_cli(db, "search", "--json", "job", "1:", NULL);
        g_assert_cmpint(r.status, ==, 0);
        g_autoptr(JsonNode) root = parse(r.out);
        g_assert_cmpuint(json_array_get_length(json_node_get_array(root)), ==, 1);
    }
    {
        g_autofree char *id = g_strdup_printf("%" G_GINT64_FORMAT, ids[1]);
        g_auto(CliRun) r = run_cli(db, "show", id, "--json", NULL);
        g_assert_cmpint(r.status, ==, 0);
        g_autoptr(JsonNode) root = parse(r.out);
        JsonObject *timings = json_object_get_object_member(json_node_get_object(root), "timings");
        g_assert_cmpfloat(json_object_get_double_member(timings, "denoising"), ==, 1.0 + 1);
        g_auto(CliRun) text = run_cli(db, "show", id, NULL);
        g_assert_nonnull(strstr(text.out, "vae decode"));
    }
    {
        g_auto(CliRun) del = run_cli(db, "delete", "4", NULL);
        g_assert_cmpint(del.status, ==, 0);
        g_auto(CliRun) hidden = run_cli(db, "list", NULL);
        g_assert_nonnull(strstr(hidden.out, "(3 of 3)"));
        g_assert_true(g_file_test(image, G_FILE_TEST_EXISTS));
        g_auto(CliRun) undo = run_cli(db, "undelete", "4", NULL);
        g_assert_cmpint(undo.status, ==, 0);
        g_auto(CliRun) back = run_cli(db, "list", "--status", "failed", NULL);
        g_assert_nonnull(strstr(back.out, "(1 of 1)"));
        g_auto(CliRun) now = run_cli(db, "delete", "4", "--now", NULL);
        g_assert_cmpint(now.status, ==, 0);
        g_assert_false(g_file_test(image, G_FILE_TEST_EXISTS));
    }
    {
        g_auto(CliRun) missing = run_cli(db, "show", "999", NULL);
        g_assert_cmpint(missing.status, ==, 1);
        g_assert_nonnull(strstr(missing.err, "not in the history"));
        g_auto(CliRun) usage = run_cli(db, "show", "x", NULL);
        g_assert_cmpint(usage.status, ==, 2);
        g_auto(CliRun) unknown = run_cli(db, "frobnicate", NULL);
        g_assert_cmpint(unknown.status, ==, 2);
    }
    {
        g_autofree char *garbage = g_build_filename(dir, "garbage.sqlite3", NULL);
        g_assert_true(g_file_set_contents(garbage, "this is no database", -1, NULL));
        g_auto(CliRun) r = run_cli(garbage, "list", NULL);
        g_assert_cmpint(r.status, ==, 0);
        g_assert_nonnull(strstr(r.err, "kept as"));
        g_assert_nonnull(strstr(r.out, "(0 of 0)"));
    }
    ht_remove_tree(dir);
}

/* The PROMPT column: short, empty and multibyte prompts whole (nothing read past their end),
 * long ones cut at 60 characters with "...", line breaks as spaces. */
static void test_list_prompts(void)
{
    g_autofree char *dir = ht_make_tmpdir();
    g_autofree char *db = g_build_filename(dir, "history.sqlite3", NULL);
    static const char *const prompts[] = {
        "",
        "a",
        "fox",
        "ünï 日本",
        "two\nlines",
        "a lighthouse on a cliff at dusk, storm clouds, oil painting, highly detailed, 4k",
    };
    {
        g_autoptr(HistoryStore) store = ht_open_store(db);
        for (guint i = 0; i < G_N_ELEMENTS(prompts); i++) {
            g_auto(HistoryParams) p;
            ht_params_for(&p, 0, (int)i);
            g_free(p.prompt);
            p.prompt = g_strdup(prompts[i]);
            g_autoptr(GError) error = NULL;
            g_assert_cmpint(history_store_begin(store, &p, HISTORY_STATUS_QUEUED, &error), >, 0);
            g_assert_no_error(error);
        }
    }
    g_auto(CliRun) r = run_cli(db, "list", NULL);
    g_assert_cmpint(r.status, ==, 0);
    g_auto(GStrv) lines = g_strsplit(r.out, "\n", -1);
    /* header, newest first, "(6 of 6)" */
    g_assert_cmpuint(g_strv_length(lines), ==, G_N_ELEMENTS(prompts) + 3);
    static const char *const shown[] = {
        "",         "a",         "fox",
        "ünï 日本", "two lines", "a lighthouse on a cliff at dusk, storm clouds, oil painting,...",
    };
    for (guint i = 0; i < G_N_ELEMENTS(prompts); i++) {
        const char *line = lines[G_N_ELEMENTS(prompts) - i];
        g_autofree char *ending = g_strconcat("  ", shown[i], NULL);
        g_test_message("row %u: '%s'", i, line);
        g_assert_true(g_str_has_suffix(line, ending));
    }
    g_assert_cmpstr(lines[G_N_ELEMENTS(prompts) + 1], ==, "(6 of 6)");
    g_auto(CliRun) found = run_cli(db, "search", "fox", NULL);
    g_assert_cmpint(found.status, ==, 0);
    g_assert_nonnull(strstr(found.out, "  fox\n(1 of 1)"));
    ht_remove_tree(dir);
}

/* A history file the user may not read is reported (path, reason, what to do) and left exactly
 * as it was: never renamed .corrupt-*, not even by a plain list. */
static void test_unreadable_file_left_alone(void)
{
    g_autofree char *dir = ht_make_tmpdir();
    g_autofree char *db = g_build_filename(dir, "history.sqlite3", NULL);
    {
        g_autoptr(HistoryStore) store = ht_open_store(db);
        ht_write_done_job(store, 0, 1);
    }
    g_autofree char *before = NULL;
    gsize before_len = 0;
    g_assert_true(g_file_get_contents(db, &before, &before_len, NULL));
    g_assert_cmpint(g_chmod(db, 0), ==, 0);
    ht_give_away(dir);
    for (int i = 0; i < 2; i++) {
        g_auto(CliRun) r = i == 0 ? run_cli_unprivileged(db, "list", NULL)
                                  : run_cli_unprivileged(db, "search", "lighthouse", NULL);
        g_test_message("%s", r.err);
        g_assert_cmpint(r.status, ==, 1);
        g_assert_nonnull(strstr(r.err, db));
        g_assert_nonnull(strstr(r.err, g_strerror(EACCES)));
        g_assert_nonnull(strstr(r.err, "--db"));
        g_assert_null(strstr(r.err, "corrupt"));
        g_assert_cmpstr(r.out, ==, "");
    }
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    for (const char *name; (name = g_dir_read_name(d)) != NULL;)
        g_assert_null(strstr(name, "corrupt"));
    g_assert_cmpint(g_chmod(db, 0600), ==, 0);
    g_autofree char *after = NULL;
    gsize after_len = 0;
    g_assert_true(g_file_get_contents(db, &after, &after_len, NULL));
    g_assert_cmpmem(after, after_len, before, before_len);
    ht_remove_tree(dir);
}

/* --limit, --offset, --size and ids: the whole text, within range, or exit status 2 naming the
 * option; before, " 5" was 5, "4096x4096junk" was 4096x4096 and --limit -1 the default. */
static void test_bad_numbers(void)
{
    g_autofree char *dir = ht_make_tmpdir();
    g_autofree char *db = g_build_filename(dir, "history.sqlite3", NULL);
    {
        g_autoptr(HistoryStore) store = ht_open_store(db);
        ht_write_done_job(store, 0, 1);
    }
    static const char *const cases[][3] = {
        {"--limit", "0", "--limit '0': out of range; give a whole number from 1 to 1000000"},
        {"--limit", "-1", "--limit '-1': out of range"},
        {"--limit", " 5", "--limit ' 5': not a whole number"},
        {"--offset", "-3", "--offset '-3': out of range"},
        {"--offset", "4294967296", "--offset '4294967296': out of range"},
        {"--size", "4096x4096junk", "--size '4096x4096junk': expected RxC"},
        {"--size", "4096", "--size '4096': expected RxC"},
        {"--size", "-16x16", "--size '-16x16': expected RxC"},
    };
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_auto(CliRun) r = run_cli(db, "list", cases[i][0], cases[i][1], NULL);
        g_test_message("%s", r.err);
        g_assert_cmpint(r.status, ==, 2);
        g_assert_nonnull(strstr(r.err, cases[i][2]));
    }
    static const char *const ids[][2] = {
        {" 1", "history show ID ' 1': not a whole number"},
        {"1 ", "history show ID '1 ': not a whole number"},
        {"0", "history show ID '0': out of range; give a whole number from 1 to"},
        {"99999999999999999999", "history show ID '99999999999999999999': out of range"},
    };
    for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
        g_auto(CliRun) r = run_cli(db, "show", ids[i][0], NULL);
        g_test_message("%s", r.err);
        g_assert_cmpint(r.status, ==, 2);
        g_assert_nonnull(strstr(r.err, ids[i][1]));
    }
    g_auto(CliRun) ok = run_cli(db, "list", "--limit", "1", "--offset", "0", NULL);
    g_assert_cmpint(ok.status, ==, 0);
    g_assert_nonnull(strstr(ok.out, "(1 of 1)"));
    ht_remove_tree(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/history/cli/list-search-show-delete", test_cli);
    g_test_add_func("/history/cli/list-prompts", test_list_prompts);
    g_test_add_func("/history/cli/unreadable-file-left-alone", test_unreadable_file_left_alone);
    g_test_add_func("/history/cli/bad-numbers", test_bad_numbers);
    return g_test_run();
}
