/* Damaged or hostile tokenizer and config files: each is refused with an error that names the
 * file, never a crash, a hang or a silent wrong vocabulary. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

#include "clip_model.h"
#include "clip_tokenizer.h"
#include "resdit.h"
#include "t5_model.h"
#include "t5_tokenizer.h"
#include "text-test-util.h"
#include "text_config.h"

static char *tmpdir;

/* A fresh folder holding a copy of the tiny CLIP tokenizer (vocab.json, merges.txt,
 * special_tokens_map.json), with `name` replaced by `contents` (len bytes, or up to its NUL). */
static char *clip_folder_with(const char *name, const char *contents, gssize len)
{
    static int n;
    char *dir = g_strdup_printf("%s/clip-%d", tmpdir, n++);
    g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
    const char *files[] = {"vocab.json", "merges.txt", "special_tokens_map.json"};
    for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
        g_autofree char *src = g_build_filename("tiny/tokenizer", files[i], NULL);
        g_autofree char *src_path = tt_path(src);
        g_autofree char *text = NULL;
        gsize text_len;
        g_assert_true(g_file_get_contents(src_path, &text, &text_len, NULL));
        g_autofree char *dst = g_build_filename(dir, files[i], NULL);
        gboolean replaced = strcmp(files[i], name) == 0;
        g_assert_true(g_file_set_contents(dst, replaced ? contents : text,
                                          replaced ? len : (gssize)text_len, NULL));
    }
    return dir;
}

static void expect_clip_error(const char *dir, const char *file, const char *needle)
{
    g_autoptr(GError) error = NULL;
    RdClipTokenizer *tok = rd_clip_tokenizer_load(dir, &error);
    if (tok) {
        rd_clip_tokenizer_free(tok);
        g_error("%s/%s was accepted; expected an error about \"%s\"", dir, file, needle);
    }
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_TOKENIZER);
    g_autofree char *path = g_build_filename(dir, file, NULL);
    if (!strstr(error->message, path) || !strstr(error->message, needle))
        g_error("message '%s' does not name %s or say '%s'", error->message, path, needle);
}

/* "[[[[...]]]]" n levels deep inside an object member (the shape of a hostile config). */
static char *deep_json(int n)
{
    GString *s = g_string_new("{\"a\": ");
    for (int i = 0; i < n; i++)
        g_string_append_c(s, '[');
    for (int i = 0; i < n; i++)
        g_string_append_c(s, ']');
    g_string_append_c(s, '}');
    return g_string_free(s, FALSE);
}

static void test_clip_empty_merges(void)
{
    g_autofree char *dir = clip_folder_with("merges.txt", "", 0);
    expect_clip_error(dir, "merges.txt", "empty");
    g_autofree char *header = clip_folder_with("merges.txt", "#version: 0.2\n", -1);
    expect_clip_error(header, "merges.txt", "no BPE merges");
}

static void test_clip_random_merges(void)
{
    g_autofree char *random = clip_folder_with("merges.txt", "#version: 0.2\nqzx vwk\nfoo bar\n", -1);
    expect_clip_error(random, "merges.txt", "not in the vocabulary");
    static const char binary[] = "\x89PNG\r\n\x1a\n\x00\x00\xff\xfe garbage";
    g_autofree char *bin = clip_folder_with("merges.txt", binary, sizeof binary - 1);
    expect_clip_error(bin, "merges.txt", "not UTF-8");
}

static void test_clip_zero_ids(void)
{
    g_autofree char *zeros =
        clip_folder_with("vocab.json", "{\"a\": 0, \"b\": 0, \"<|startoftext|>\": 0, "
                                       "\"<|endoftext|>\": 0}", -1);
    expect_clip_error(zeros, "vocab.json", "both have id 0");
    g_autofree char *empty = clip_folder_with("vocab.json", "{}", -1);
    expect_clip_error(empty, "vocab.json", "empty");
}

static void test_clip_deep_json(void)
{
    g_autofree char *deep = deep_json(200000);
    g_autofree char *vocab = clip_folder_with("vocab.json", deep, -1);
    expect_clip_error(vocab, "vocab.json", "nest deeper");
    /* special_tokens_map.json is optional: a hostile one is ignored, not followed down. */
    g_autofree char *specials = clip_folder_with("special_tokens_map.json", deep, -1);
    g_autoptr(GError) error = NULL;
    RdClipTokenizer *tok = rd_clip_tokenizer_load(specials, &error);
    g_assert_no_error(error);
    g_assert_cmpint(rd_clip_tokenizer_pad(tok), ==, rd_clip_tokenizer_eos(tok));
    rd_clip_tokenizer_free(tok);
}

/* A merges.txt.gz of 80 MB of zeros (80 KB compressed) in place of the bundled one. */
static void test_clip_gzip_bomb(void)
{
    g_autofree char *data_dir = g_build_filename(tmpdir, "bomb", NULL);
    g_autofree char *clip_dir = g_build_filename(data_dir, "tokenizers", "clip", NULL);
    g_assert_cmpint(g_mkdir_with_parents(clip_dir, 0700), ==, 0);
    g_autofree char *path = g_build_filename(clip_dir, "merges.txt.gz", NULL);
    g_autoptr(GFile) file = g_file_new_for_path(path);
    g_autoptr(GFileOutputStream) raw =
        g_file_replace(file, NULL, FALSE, G_FILE_CREATE_NONE, NULL, NULL);
    g_autoptr(GZlibCompressor) gz = g_zlib_compressor_new(G_ZLIB_COMPRESSOR_FORMAT_GZIP, 9);
    g_autoptr(GOutputStream) out =
        g_converter_output_stream_new(G_OUTPUT_STREAM(raw), G_CONVERTER(gz));
    static const char head[] = "#version: 0.2\na b\n";
    g_assert_true(g_output_stream_write_all(out, head, sizeof head - 1, NULL, NULL, NULL));
    static char zeros[1 << 20];
    for (int i = 0; i < 80; i++)
        g_assert_true(g_output_stream_write_all(out, zeros, sizeof zeros, NULL, NULL, NULL));
    g_assert_true(g_output_stream_close(out, NULL, NULL));
    g_setenv("RESDIT_DATA_DIR", data_dir, TRUE);
    g_autoptr(GError) error = NULL;
    g_assert_null(rd_clip_tokenizer_load(NULL, &error));
    g_unsetenv("RESDIT_DATA_DIR");
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_TOKENIZER);
    if (!strstr(error->message, path) || !strstr(error->message, "decompressed"))
        g_error("message '%s' does not name %s or say why", error->message, path);
}

static void test_t5_deep_json(void)
{
    g_autofree char *dir = g_build_filename(tmpdir, "t5", NULL);
    g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
    g_autofree char *path = g_build_filename(dir, "tokenizer.json", NULL);
    g_autofree char *deep = deep_json(200000);
    g_assert_true(g_file_set_contents(path, deep, -1, NULL));
    g_autoptr(GError) error = NULL;
    g_assert_null(rd_t5_tokenizer_load(path, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_TOKENIZER);
    g_assert_nonnull(strstr(error->message, path));
    g_assert_nonnull(strstr(error->message, "nest deeper"));
}

static void test_text_config_deep_json(void)
{
    g_autofree char *dir = g_build_filename(tmpdir, "encoder", NULL);
    g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
    g_autofree char *path = g_build_filename(dir, "config.json", NULL);
    g_autofree char *deep = deep_json(200000);
    g_assert_true(g_file_set_contents(path, deep, -1, NULL));
    g_autoptr(GError) error = NULL;
    gboolean failed = FALSE;
    g_assert_null(rd_text_config_load(dir, &failed, &error));
    g_assert_true(failed);
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_FORMAT);
    g_assert_nonnull(strstr(error->message, path));
    g_assert_nonnull(strstr(error->message, "nest deeper"));
}

/* A copy of tests/data/text/tiny/<part> whose config.json has `key` set to `value`. */
static char *encoder_with(const char *part, const char *key, const char *value)
{
    static int n;
    char *dir = g_strdup_printf("%s/%s-%d", tmpdir, part, n++);
    g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
    g_autofree char *src_dir = g_build_filename("tiny", part, NULL);
    g_autofree char *src = tt_path(src_dir);
    g_autoptr(GDir) d = g_dir_open(src, 0, NULL);
    g_assert_nonnull(d);
    const char *name;
    while ((name = g_dir_read_name(d))) {
        g_autofree char *from = g_build_filename(src, name, NULL);
        g_autofree char *to = g_build_filename(dir, name, NULL);
        g_autofree char *text = NULL;
        gsize len;
        g_assert_true(g_file_get_contents(from, &text, &len, NULL));
        if (strcmp(name, "config.json") == 0) {
            g_autofree char *pattern = g_strdup_printf("\"%s\": [^,\n}]*", key);
            g_autofree char *replacement = g_strdup_printf("\"%s\": %s", key, value);
            g_autoptr(GRegex) re = g_regex_new(pattern, 0, 0, NULL);
            char *changed = g_regex_replace_literal(re, text, -1, 0, replacement, 0, NULL);
            g_assert_cmpstr(changed, !=, text);
            g_free(text);
            text = changed;
            len = strlen(text);
        }
        g_assert_true(g_file_set_contents(to, text, (gssize)len, NULL));
    }
    return dir;
}

static void expect_encoder_error(const char *part, const char *key, const char *value,
                                 const char *needle)
{
    g_autofree char *dir = encoder_with(part, key, value);
    RdBackend *be = rd_backend_cpu_new();
    g_autoptr(GError) error = NULL;
    gboolean clip = strcmp(part, "text_encoder") == 0;
    void *model = clip ? (void *)rd_clip_model_load(dir, be, &error)
                       : (void *)rd_t5_model_load(dir, be, &error);
    if (model)
        g_error("%s with %s = %s was accepted", part, key, value);
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL);
    if (!strstr(error->message, needle))
        g_error("message '%s' does not say '%s'", error->message, needle);
    be->destroy(be);
}

/* Config values that used to divide by zero (CLIP heads) or reach the bucket logarithms (T5). */
static void test_encoder_config_values(void)
{
    expect_encoder_error("text_encoder", "num_attention_heads", "0", "num_attention_heads");
    expect_encoder_error("text_encoder", "num_attention_heads", "-4", "num_attention_heads");
    expect_encoder_error("text_encoder", "layer_norm_eps", "-1e-05", "layer_norm_eps");
    expect_encoder_error("text_encoder_2", "relative_attention_max_distance", "0",
                         "relative_attention_max_distance");
    expect_encoder_error("text_encoder_2", "layer_norm_epsilon", "0", "layer_norm_epsilon");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    tmpdir = g_dir_make_tmp("resdit-text-files-XXXXXX", NULL);
    g_test_add_func("/text-files/clip/empty-merges", test_clip_empty_merges);
    g_test_add_func("/text-files/clip/random-merges", test_clip_random_merges);
    g_test_add_func("/text-files/clip/zero-ids", test_clip_zero_ids);
    g_test_add_func("/text-files/clip/deep-json", test_clip_deep_json);
    g_test_add_func("/text-files/clip/gzip-bomb", test_clip_gzip_bomb);
    g_test_add_func("/text-files/t5/deep-json", test_t5_deep_json);
    g_test_add_func("/text-files/config/deep-json", test_text_config_deep_json);
    g_test_add_func("/text-files/config/encoder-values", test_encoder_config_values);
    int status = g_test_run();
    g_autofree char *rm = g_strdup_printf("rm -rf '%s'", tmpdir);
    if (system(rm) != 0)
        g_printerr("could not remove %s\n", tmpdir);
    g_free(tmpdir);
    return status;
}
