/* `resdit tokenize` and `resdit encode-text` as a user runs them (the binary from $RESDIT_CLI). */
#include <glib/gstdio.h>
#include <string.h>
#include <sys/wait.h>

#include "safetensors.h"
#include "test-util.h"
#include "text-test-util.h"

static int run_cli_env(const char *const *args, char **envp, char **out, char **err)
{
    GPtrArray *argv = g_ptr_array_new();
    g_ptr_array_add(argv, (gpointer)g_getenv("RESDIT_CLI"));
    for (int i = 0; args[i]; i++)
        g_ptr_array_add(argv, (gpointer)args[i]);
    g_ptr_array_add(argv, NULL);
    int status = -1;
    GError *error = NULL;
    g_assert_true(g_spawn_sync(NULL, (char **)argv->pdata, envp, G_SPAWN_DEFAULT, NULL, NULL, out,
                               err, &status, &error));
    g_assert_no_error(error);
    g_ptr_array_free(argv, TRUE);
    return g_spawn_check_wait_status(status, NULL) ? 0 : 1;
}

static int run_cli(const char *const *args, char **out, char **err)
{
    return run_cli_env(args, NULL, out, err);
}

/* The exit status (128 + signal when killed) and stderr. */
static int run_cli_status(const char *const *args, char **err)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_ptr_array_add(argv, (gpointer)g_getenv("RESDIT_CLI"));
    for (int i = 0; args[i]; i++)
        g_ptr_array_add(argv, (gpointer)args[i]);
    g_ptr_array_add(argv, NULL);
    int status = -1;
    g_autofree char *out = NULL;
    g_autoptr(GError) error = NULL;
    g_assert_true(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out,
                               err, &status, &error));
    g_assert_no_error(error);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* --max-length and --t5-length: the whole text, within 2 (1) to 4096, or exit status 2 naming
 * the option and the range; before, -5 was silently the default and " 77" was 77. */
static void test_bad_numbers(void)
{
    g_autofree char *root = tt_path("tiny");
    g_autofree char *dir = g_dir_make_tmp("resdit-cli-text-XXXXXX", NULL);
    g_autofree char *file = g_build_filename(dir, "out.safetensors", NULL);
    static const struct {
        const char *value, *needle;
    } lengths[] = {
        {"-5", "--max-length '-5': out of range; give a whole number from 2 to 4096"},
        {"1", "--max-length '1': out of range"},
        {" 77", "--max-length ' 77': not a whole number"},
        {"77 ", "--max-length '77 ': not a whole number"},
        {"4294967373", "--max-length '4294967373': out of range"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(lengths); i++) {
        const char *args[] = {"tokenize",       "--clip", root, "--max-length",
                              lengths[i].value, "x",      NULL};
        g_autofree char *err = NULL;
        g_assert_cmpint(run_cli_status(args, &err), ==, 2);
        g_test_message("%s", err);
        g_assert_nonnull(strstr(err, lengths[i].needle));
    }
    static const struct {
        const char *value, *needle;
    } t5[] = {
        {"0", "--t5-length '0': out of range; give a whole number from 1 to 4096"},
        {"-256", "--t5-length '-256': out of range"},
        {"256abc", "--t5-length '256abc': not a whole number"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(t5); i++) {
        const char *args[] = {"encode-text", "--clip",      root,        "--t5",
                              root,          "--prompt",    "x",         "--output",
                              file,          "--t5-length", t5[i].value, NULL};
        g_autofree char *err = NULL;
        g_assert_cmpint(run_cli_status(args, &err), ==, 2);
        g_test_message("%s", err);
        g_assert_nonnull(strstr(err, t5[i].needle));
        g_assert_false(g_file_test(file, G_FILE_TEST_EXISTS));
    }
    /* the smallest length still tokenizes */
    const char *two[] = {"tokenize", "--clip", root, "--max-length", "2", "x", NULL};
    g_autofree char *err = NULL;
    g_assert_cmpint(run_cli_status(two, &err), ==, 0);
    g_rmdir(dir);
}

static void test_tokenize(void)
{
    JsonParser *cp = tt_load_json("corpus.json"), *gp = tt_load_json("tokenizer_goldens.json");
    JsonArray *corpus = json_node_get_array(json_parser_get_root(cp));
    JsonObject *goldens = json_node_get_object(json_parser_get_root(gp));
    char *root = tt_path("tiny");
    const char *sections[] = {"clip_small", "t5"}, *flags[] = {"--clip", "--t5"};
    for (int s = 0; s < 2; s++)
        for (guint i = 0; i < json_array_get_length(corpus); i += 97) {
            const char *prompt = json_array_get_string_element(corpus, i);
            JsonArray *want = json_object_get_array_member(
                json_array_get_object_element(
                    json_object_get_array_member(
                        json_object_get_object_member(goldens, sections[s]), "items"),
                    i),
                "ids");
            GString *expected = g_string_new("[");
            for (guint k = 0; k < json_array_get_length(want); k++)
                g_string_append_printf(expected, k ? ", %" G_GINT64_FORMAT : "%" G_GINT64_FORMAT,
                                       json_array_get_int_element(want, k));
            g_string_append(expected, "]\n");
            char *out = NULL, *err = NULL;
            const char *args[] = {"tokenize", flags[s], root, "--", prompt, NULL};
            g_assert_cmpint(run_cli(args, &out, &err), ==, 0);
            g_assert_cmpstr(out, ==, expected->str);
            g_string_free(expected, TRUE);
            g_free(out);
            g_free(err);
        }
    g_free(root);
    g_object_unref(cp);
    g_object_unref(gp);
}

static void test_encode_text(void)
{
    char *dir = g_dir_make_tmp("resdit-cli-text-XXXXXX", NULL);
    char *file = g_build_filename(dir, "out.safetensors", NULL);
    char *root = tt_path("tiny"), *prompts_path = tt_path("pipeline_prompts.json");
    JsonParser *pp = tt_load_json("pipeline_prompts.json");
    const char *prompt =
        json_array_get_string_element(json_node_get_array(json_parser_get_root(pp)), 0);
    char *out = NULL, *err = NULL;
    const char *args[] = {"encode-text", "--clip",   root, "--t5",      root,  "--prompt",
                          prompt,        "--output", file, "--backend", "cpu", NULL};
    g_assert_cmpint(run_cli(args, &out, &err), ==, 0);
    g_assert_nonnull(strstr(err, "peak"));
    GError *error = NULL;
    RdSafetensors *got = rd_safetensors_open(file, &error);
    g_assert_no_error(error);
    char *golden_path = tt_path("encoder_goldens.safetensors");
    RdSafetensors *ref = rd_safetensors_open(golden_path, &error);
    g_assert_no_error(error);
    const RdTensorInfo *txt = rd_safetensors_find(got, "txt"),
                       *vec = rd_safetensors_find(got, "vec");
    g_assert_cmpint(txt->ndim, ==, 3);
    g_assert_cmpint(txt->shape[1], ==, 512);
    g_assert_cmpint(vec->ndim, ==, 2);
    g_assert_nonnull(rd_safetensors_find(got, "clip_ids"));
    g_assert_nonnull(rd_safetensors_find(got, "t5_ids"));
    const RdTensorInfo *rt = rd_safetensors_find(ref, "pipeline0_txt");
    const RdTensorInfo *rv = rd_safetensors_find(ref, "pipeline0_vec");
    g_assert_cmpint(rd_tensor_info_numel(txt), ==, rd_tensor_info_numel(rt));
    tu_assert_network_close("cli txt", txt->data, rt->data, (size_t)rd_tensor_info_numel(rt),
                            tt_encoder_bound());
    tu_assert_network_close("cli vec", vec->data, rv->data, (size_t)rd_tensor_info_numel(rv),
                            tt_encoder_bound());
    rd_safetensors_close(got);
    rd_safetensors_close(ref);
    g_free(out);
    g_free(err);

    /* a non-ASCII prompt in the C locale, with T5 at schnell's length */
    const char *prompt2 =
        json_array_get_string_element(json_node_get_array(json_parser_get_root(pp)), 2);
    const char *args2[] = {"encode-text", "--clip",    root,       "--t5", root,
                           "--prompt",    prompt2,     "--output", file,   "--t5-length",
                           "256",         "--backend", "cpu",      NULL};
    char **envp = g_environ_setenv(g_get_environ(), "LC_ALL", "C", TRUE);
    g_assert_cmpint(run_cli_env(args2, envp, &out, &err), ==, 0);
    g_strfreev(envp);
    got = rd_safetensors_open(file, &error);
    g_assert_no_error(error);
    ref = rd_safetensors_open(golden_path, &error);
    txt = rd_safetensors_find(got, "txt");
    rt = rd_safetensors_find(ref, "pipeline2_txt");
    g_assert_cmpint(txt->shape[1], ==, 256);
    tu_assert_network_close("cli txt (C locale)", txt->data, rt->data,
                            (size_t)rd_tensor_info_numel(rt), tt_encoder_bound());
    rd_safetensors_close(got);
    rd_safetensors_close(ref);
    g_free(out);
    g_free(err);

    /* a CLIP file given as T5: exit status 1 and the file named */
    char *clip_file = tt_path("tiny/text_encoder/model.safetensors");
    const char *bad[] = {"encode-text", "--clip", root,       "--t5", clip_file,
                         "--prompt",    "x",      "--output", file,   NULL};
    g_unlink(file);
    g_assert_cmpint(run_cli(bad, &out, &err), ==, 1);
    g_assert_nonnull(strstr(err, clip_file));
    g_assert_nonnull(strstr(err, "not a T5"));
    g_assert_false(g_file_test(file, G_FILE_TEST_EXISTS));
    g_free(out);
    g_free(err);
    g_free(clip_file);
    g_free(golden_path);
    g_object_unref(pp);
    g_rmdir(dir);
    g_free(prompts_path);
    g_free(root);
    g_free(file);
    g_free(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_assert_nonnull(g_getenv("RESDIT_CLI"));
    g_test_add_func("/text/cli/tokenize", test_tokenize);
    g_test_add_func("/text/cli/encode-text", test_encode_text);
    g_test_add_func("/text/cli/bad-numbers", test_bad_numbers);
    return g_test_run();
}
