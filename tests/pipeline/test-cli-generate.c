/* `resdit generate` and `resdit models` as a user runs them (the binary from $RESDIT_CLI), on the
 * built-in self-test model. */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>

#include "test-util.h"

typedef struct {
    int status; /* exit status, or 128 + signal */
    char *out, *err;
} Result;

static GPtrArray *argv_for(const char *const *args)
{
    GPtrArray *argv = g_ptr_array_new();
    g_ptr_array_add(argv, (gpointer)g_getenv("RESDIT_CLI"));
    for (int i = 0; args[i]; i++)
        g_ptr_array_add(argv, (gpointer)args[i]);
    g_ptr_array_add(argv, NULL);
    return argv;
}

static Result run(const char *const *args)
{
    g_autoptr(GPtrArray) argv = argv_for(args);
    Result r = {0};
    int wait_status = 0;
    g_autoptr(GError) error = NULL;
    g_assert_true(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                               &r.out, &r.err, &wait_status, &error));
    g_assert_no_error(error);
    r.status = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
    return r;
}

static void result_clear(Result *r)
{
    g_free(r->out);
    g_free(r->err);
}

static char *temp_dir(void)
{
    g_autoptr(GError) error = NULL;
    char *dir = g_dir_make_tmp("resdit-cli-XXXXXX", &error);
    g_assert_no_error(error);
    return dir;
}

static void remove_tree(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        if (g_file_test(path, G_FILE_TEST_IS_DIR))
            remove_tree(path);
        else
            g_unlink(path);
    }
    g_rmdir(dir);
}

static int count_entries(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    int n = 0;
    while (d && g_dir_read_name(d))
        n++;
    return n;
}

static void test_same_seed_same_file(void)
{
    g_autofree char *dir = temp_dir();
    g_autofree char *a = g_build_filename(dir, "a.png", NULL);
    g_autofree char *b = g_build_filename(dir, "b.png", NULL);
    const char *args_a[] = {"generate", "--selftest", "-p",       "a red fox", "--seed",  "99",
                            "--width",  "192",        "--height", "128",       "--steps", "4",
                            "-q",       "-o",         a,          NULL};
    const char *args_b[] = {"generate", "--selftest", "-p",       "a red fox", "--seed",  "99",
                            "--width",  "192",        "--height", "128",       "--steps", "4",
                            "-q",       "-o",         b,          NULL};
    Result ra = run(args_a), rb = run(args_b);
    g_assert_cmpint(ra.status, ==, 0);
    g_assert_cmpint(rb.status, ==, 0);
    gchar *da, *db;
    gsize la, lb;
    g_assert_true(g_file_get_contents(a, &da, &la, NULL));
    g_assert_true(g_file_get_contents(b, &db, &lb, NULL));
    g_assert_cmpuint(la, ==, lb);
    g_assert_true(memcmp(da, db, la) == 0);
    g_assert_nonnull(memmem(da, la, "Seed: 99", 8));
    g_free(da);
    g_free(db);
    result_clear(&ra);
    result_clear(&rb);

    /* A random seed, then --params-from that PNG: the same file again. */
    g_autofree char *c = g_build_filename(dir, "c.png", NULL);
    g_autofree char *d = g_build_filename(dir, "d.png", NULL);
    const char *args_c[] = {"generate", "--selftest", "-p",      "a fox", "--width",  "128",
                            "--height", "192",        "--steps", "3",     "--no-psf", "--shift",
                            "0.7",      "-q",         "-o",      c,       NULL};
    const char *args_d[] = {"generate", "--selftest", "--params-from", c, "-q", "-o", d, NULL};
    Result rc = run(args_c), rd = run(args_d);
    g_assert_cmpint(rc.status, ==, 0);
    g_assert_cmpint(rd.status, ==, 0);
    gchar *dc, *dd;
    gsize lc, ld;
    g_assert_true(g_file_get_contents(c, &dc, &lc, NULL));
    g_assert_true(g_file_get_contents(d, &dd, &ld, NULL));
    g_assert_cmpuint(lc, ==, ld);
    g_assert_true(memcmp(dc, dd, lc) == 0);
    g_assert_nonnull(memmem(dc, lc, "ResDiT ablation: no_psf", 23));
    g_free(dc);
    g_free(dd);
    result_clear(&rc);
    result_clear(&rd);
    remove_tree(dir);
}

/* Every stdout line is one JSON event; previews land in --preview-dir. */
static void test_json_events_and_previews(void)
{
    g_autofree char *dir = temp_dir();
    g_autofree char *out = g_build_filename(dir, "x.png", NULL);
    g_autofree char *prev = g_build_filename(dir, "frames", NULL);
    const char *args[] = {"generate", "--selftest",
                          "-p",       "x",
                          "--seed",   "5",
                          "--width",  "256",
                          "--height", "256",
                          "--steps",  "5",
                          "--json",   "--preview-dir",
                          prev,       "--preview-size",
                          "32",       "--inspect-branches",
                          "-o",       out,
                          NULL};
    Result r = run(args);
    g_assert_cmpint(r.status, ==, 0);
    g_auto(GStrv) lines = g_strsplit(g_strchomp(r.out), "\n", -1);
    int progress = 0, previews = 0, extra = 0, done = 0;
    for (char **l = lines; *l; l++) {
        g_autoptr(JsonParser) p = json_parser_new();
        g_assert_true(json_parser_load_from_data(p, *l, -1, NULL));
        JsonObject *o = json_node_get_object(json_parser_get_root(p));
        const char *ev = json_object_get_string_member(o, "event");
        if (g_str_equal(ev, "progress")) {
            progress++;
            g_assert_cmpint(json_object_get_int_member(o, "n_steps"), ==, 5);
        } else if (g_str_equal(ev, "preview")) {
            previews++;
            extra += json_object_get_boolean_member(o, "extra_pass");
            g_assert_true(
                g_file_test(json_object_get_string_member(o, "path"), G_FILE_TEST_IS_REGULAR));
        } else if (g_str_equal(ev, "done")) {
            done++;
            g_assert_cmpstr(json_object_get_string_member(o, "seed"), ==, "5");
            g_assert_cmpstr(json_object_get_string_member(o, "path"), ==, out);
        }
    }
    g_assert_cmpint(progress, >=, 6);
    g_assert_cmpint(previews, ==, 5 + 4); /* one per step, + global and local in 2 fused steps */
    g_assert_cmpint(extra, ==, 4);
    g_assert_cmpint(done, ==, 1);
    g_assert_cmpint(count_entries(prev), ==, 9);
    result_clear(&r);
    remove_tree(dir);
}

/* SIGINT (Ctrl-C) mid-run: exit status 130, no image and no temporary file left. */
static void test_cancel(void)
{
    g_autofree char *dir = temp_dir();
    g_autofree char *out = g_build_filename(dir, "never.png", NULL);
    const char *args[] = {"generate", "--selftest", "-p",  "x",      "--width", "512", "--height",
                          "512",      "--steps",    "200", "--json", "-o",      out,   NULL};
    g_autoptr(GPtrArray) argv = argv_for(args);
    g_autoptr(GError) error = NULL;
    g_autoptr(GSubprocess) proc =
        g_subprocess_newv((const char *const *)argv->pdata, G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
    g_assert_no_error(error);
    g_autoptr(GDataInputStream) lines = g_data_input_stream_new(g_subprocess_get_stdout_pipe(proc));
    /* Wait for the second step to start, then interrupt. */
    int seen = 0;
    while (seen < 3) {
        g_autofree char *line = g_data_input_stream_read_line(lines, NULL, NULL, &error);
        g_assert_no_error(error);
        g_assert_nonnull(line);
        seen += strstr(line, "\"progress\"") != NULL;
    }
    g_subprocess_send_signal(proc, SIGINT);
    g_assert_true(g_subprocess_wait(proc, NULL, &error));
    g_assert_true(g_subprocess_get_if_exited(proc));
    g_assert_cmpint(g_subprocess_get_exit_status(proc), ==, 130);
    g_assert_false(g_file_test(out, G_FILE_TEST_EXISTS));
    g_assert_cmpint(count_entries(dir), ==, 0);
    remove_tree(dir);
}

/* The rows `resdit history list --json` prints, newest first. */
static JsonArray *history_rows(JsonParser *parser)
{
    const char *args[] = {"history", "list", "--json", NULL};
    Result r = run(args);
    g_assert_cmpint(r.status, ==, 0);
    g_autoptr(GError) error = NULL;
    g_assert_true(json_parser_load_from_data(parser, r.out, -1, &error));
    result_clear(&r);
    return json_node_get_array(json_parser_get_root(parser));
}

/* Every job lands in the history shared with the app, unless --no-history. */
static void test_history(void)
{
    g_autofree char *dir = temp_dir();
    g_autofree char *db = g_build_filename(dir, "history.sqlite3", NULL);
    g_setenv("RESDIT_HISTORY_DB", db, TRUE);
    g_autofree char *out = g_build_filename(dir, "fox.png", NULL);
    const char *kept[] = {"generate", "--selftest", "-p", "a red fox in snow", "--width", "256",
                          "--height", "256", "--seed", "77", "-q", "-o", out, NULL};
    Result r = run(kept);
    g_assert_cmpint(r.status, ==, 0);
    result_clear(&r);
    g_autofree char *skipped_out = g_build_filename(dir, "skipped.png", NULL);
    const char *skipped[] = {"generate", "--selftest", "-p", "not recorded", "--width", "256",
                             "--height", "256", "-q", "--no-history", "-o", skipped_out, NULL};
    r = run(skipped);
    g_assert_cmpint(r.status, ==, 0);
    result_clear(&r);

    g_autoptr(JsonParser) parser = json_parser_new();
    JsonArray *rows = history_rows(parser);
    g_assert_cmpuint(json_array_get_length(rows), ==, 1);
    JsonObject *row = json_array_get_object_element(rows, 0);
    JsonObject *params = json_object_get_object_member(row, "params");
    g_assert_cmpstr(json_object_get_string_member(row, "status"), ==, "done");
    g_assert_cmpstr(json_object_get_string_member(params, "prompt"), ==, "a red fox in snow");
    g_assert_cmpint(json_object_get_int_member(params, "seed"), ==, 77);
    g_assert_cmpint(json_object_get_int_member(params, "width"), ==, 256);
    g_assert_cmpstr(json_object_get_string_member(row, "image_path"), ==, out);
    g_assert_true(json_object_get_boolean_member(row, "has_thumbnail"));
    g_unsetenv("RESDIT_HISTORY_DB");
    remove_tree(dir);
}

static void expect_failure(const char *const *args, int status, const char *needle)
{
    Result r = run(args);
    g_test_message("%s", r.err);
    g_assert_cmpint(r.status, ==, status);
    g_assert_nonnull(strstr(r.err, needle));
    result_clear(&r);
}

static void test_bad_inputs(void)
{
    g_autofree char *dir = temp_dir();
    g_autofree char *out = g_build_filename(dir, "r.png", NULL);
    /* Not a multiple of 16: rounded, with a note, and the image has the rounded size. */
    const char *round_args[] = {"generate", "--selftest", "-p",  "x",        "--seed",
                                "1",        "--width",    "200", "--height", "120",
                                "--steps",  "2",          "-o",  out,        NULL};
    Result r = run(round_args);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_nonnull(strstr(r.err, "200x120 is not a multiple of 16 pixels; using 208x128"));
    result_clear(&r);
    g_assert_true(g_file_test(out, G_FILE_TEST_IS_REGULAR));

    const char *sched[] = {"generate", "--selftest",    "--steps", "8",  "--global-steps",
                           "5",        "--local-steps", "5",       "-o", out,
                           NULL};
    expect_failure(sched, 2, "exceed the 8 steps");
    const char *mode_and_sched[] = {"generate",       "--selftest", "--mode", "local",
                                    "--global-steps", "2",          NULL};
    expect_failure(mode_and_sched, 2, "cannot go with --mode");
    const char *bad_mode[] = {"generate", "--selftest", "--mode", "sideways", NULL};
    expect_failure(bad_mode, 2, "expected direct, global, local or fused");
    const char *bad_shift[] = {"generate", "--selftest", "--shift", "lots", NULL};
    expect_failure(bad_shift, 2, "--shift 'lots'");
    const char *bad_seed[] = {"generate", "--selftest", "--seed", "-4", NULL};
    expect_failure(bad_seed, 2, "--seed '-4'");
    const char *huge[] = {"generate", "--selftest", "--width", "20000", NULL};
    expect_failure(huge, 2, "16384-pixel limit");
    const char *bad_size[] = {"generate", "--selftest", "--size", "8k+", NULL};
    expect_failure(bad_size, 2, "--size '8k+'");
    g_autofree char *vae = g_build_filename(dir, "ae.safetensors", NULL);
    const char *missing[] = {"generate", "--vae", vae, "--models-dir", dir, NULL};
    expect_failure(missing, 1, "transformer, clip-l, t5 missing");
    const char *nowhere[] = {"generate", "--model", dir, NULL};
    expect_failure(nowhere, 1, "No FLUX model found in");
    const char *stray[] = {"generate", "--selftest", "a", "prompt", NULL};
    expect_failure(stray, 2, "unexpected argument 'a'");
    remove_tree(dir);
}

/* Parts named by flags, and --model for a folder that has only some parts (the tiny text
 * encoders' diffusers folder) completed by --transformer and --vae. */
static void test_model_flags(void)
{
    g_autofree char *dir = temp_dir();
    g_autofree char *out = g_build_filename(dir, "files.png", NULL);
    g_autofree char *transformer = tu_data_path("pipeline/transformer");
    g_autofree char *vae = tu_data_path("vae/diffusers");
    g_autofree char *text = tu_data_path("text/tiny");
    const char *files[] = {"generate",
                           "--transformer",
                           transformer,
                           "--vae",
                           vae,
                           "--clip-l",
                           text,
                           "--t5",
                           text,
                           "--backend",
                           "cpu",
                           "-p",
                           "a lighthouse",
                           "--base-area",
                           "64",
                           "--patch",
                           "8",
                           "-W",
                           "256",
                           "-H",
                           "128",
                           "--steps",
                           "3",
                           "--seed",
                           "8",
                           "-q",
                           "-o",
                           out,
                           NULL};
    Result r = run(files);
    g_test_message("%s", r.err);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_true(g_file_test(out, G_FILE_TEST_IS_REGULAR));
    result_clear(&r);
    const char *partial[] = {
        "generate", "--model",     text,  "--transformer", transformer, "--vae",
        vae,        "--base-area", "64",  "--patch",       "8",         "-W",
        "128",      "-H",          "128", "--steps",       "2",         "-q",
        "-o",       out,           NULL};
    r = run(partial);
    g_test_message("%s", r.err);
    g_assert_cmpint(r.status, ==, 0);
    result_clear(&r);
    const char *incomplete[] = {"generate", "--model", text, "-o", out, NULL};
    expect_failure(incomplete, 1, "transformer, vae missing");
    remove_tree(dir);
}

static void touch(const char *dir, const char *rel)
{
    g_autofree char *path = g_build_filename(dir, rel, NULL);
    g_autofree char *parent = g_path_get_dirname(path);
    g_mkdir_with_parents(parent, 0755);
    g_assert_true(g_file_set_contents(path, "{}", -1, NULL));
}

/* Discovery: a diffusers snapshot in a Hugging Face cache lacking T5, and a complete ComfyUI
 * folder. */
static void test_models(void)
{
    g_autofree char *dir = temp_dir();
    const char *snap = "hub/models--black-forest-labs--FLUX.1-dev/snapshots/0123456789abcdef";
    const char *hf[] = {"model_index.json", "transformer/diffusion_pytorch_model.safetensors",
                        "vae/diffusion_pytorch_model.safetensors",
                        "text_encoder/model.safetensors"};
    for (size_t i = 0; i < G_N_ELEMENTS(hf); i++) {
        g_autofree char *rel = g_build_filename(snap, hf[i], NULL);
        touch(dir, rel);
    }
    const char *comfy[] = {"ComfyUI/models/unet/flux1-schnell-fp8.safetensors",
                           "ComfyUI/models/vae/ae.safetensors",
                           "ComfyUI/models/clip/clip_l.safetensors",
                           "ComfyUI/models/clip/t5xxl_fp8_e4m3fn.safetensors"};
    for (size_t i = 0; i < G_N_ELEMENTS(comfy); i++)
        touch(dir, comfy[i]);
    g_autofree char *hub = g_build_filename(dir, "hub", NULL);
    g_autofree char *comfy_root = g_build_filename(dir, "ComfyUI", NULL);
    g_setenv("HF_HUB_CACHE", hub, TRUE);
    const char *args[] = {"models", "--json", "--models-dir", comfy_root, NULL};
    Result r = run(args);
    g_assert_cmpint(r.status, ==, 0);
    g_autoptr(JsonParser) p = json_parser_new();
    g_assert_true(json_parser_load_from_data(p, r.out, -1, NULL));
    JsonArray *list = json_node_get_array(json_parser_get_root(p));
    gboolean saw_hf = FALSE, saw_comfy = FALSE;
    for (guint i = 0; i < json_array_get_length(list); i++) {
        JsonObject *o = json_array_get_object_element(list, i);
        const char *name = json_object_get_string_member(o, "name");
        if (g_str_has_prefix(name, "black-forest-labs/FLUX.1-dev (Hugging Face cache")) {
            saw_hf = TRUE;
            g_assert_false(json_object_get_boolean_member(o, "complete"));
            JsonArray *miss = json_object_get_array_member(o, "missing");
            g_assert_cmpuint(json_array_get_length(miss), ==, 1);
            g_assert_cmpstr(json_array_get_string_element(miss, 0), ==, "t5");
            g_assert_true(g_str_has_suffix(json_object_get_string_member(o, "vae"), "vae"));
        } else if (g_str_has_prefix(name, "flux1-schnell-fp8.safetensors (ComfyUI)")) {
            saw_comfy = TRUE;
            g_assert_true(json_object_get_boolean_member(o, "complete"));
            g_assert_true(g_str_has_suffix(json_object_get_string_member(o, "t5"),
                                           "t5xxl_fp8_e4m3fn.safetensors"));
            g_assert_true(
                g_str_has_suffix(json_object_get_string_member(o, "clip_l"), "clip_l.safetensors"));
        }
    }
    g_assert_true(saw_hf);
    g_assert_true(saw_comfy);
    result_clear(&r);
    const char *text_args[] = {"models", "--models-dir", comfy_root, NULL};
    r = run(text_args);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_nonnull(strstr(r.out, "missing:     t5 (give it with --t5)"));
    result_clear(&r);
    g_unsetenv("HF_HUB_CACHE");
    remove_tree(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_assert_nonnull(g_getenv("RESDIT_CLI"));
    g_test_add_func("/cli/generate/same-seed-same-file", test_same_seed_same_file);
    g_test_add_func("/cli/generate/json-events-and-previews", test_json_events_and_previews);
    g_test_add_func("/cli/generate/cancel", test_cancel);
    g_test_add_func("/cli/generate/history", test_history);
    g_test_add_func("/cli/generate/bad-inputs", test_bad_inputs);
    g_test_add_func("/cli/generate/model-flags", test_model_flags);
    g_test_add_func("/cli/models", test_models);
    return g_test_run();
}
