/* Tokenizer parity with Hugging Face on the corpus in tests/data/text (ids made by
 * tools/reference/make_text_goldens.py): CLIPTokenizer with the bundled vocabulary and with a
 * diffusers tokenizer/ folder, GLib's NFKC against Python's. */
#include <glib/gstdio.h>
#include <string.h>

#include "clip_tokenizer.h"
#include "resdit.h"
#include "t5_tokenizer.h"
#include "text-test-util.h"

static JsonArray *corpus;
static JsonObject *goldens;

/* Checks every prompt of the corpus: ids (BOS ... EOS, padded) and the dropped count. */
static void check_clip_corpus(RdClipTokenizer *tok, const char *section)
{
    JsonObject *sec = json_object_get_object_member(goldens, section);
    int max_length = (int)json_object_get_int_member(sec, "max_length");
    int pad = (int)json_object_get_int_member(sec, "pad_id");
    JsonArray *items = json_object_get_array_member(sec, "items");
    g_assert_cmpint(rd_clip_tokenizer_pad(tok), ==, pad);
    int32_t *ids = g_new(int32_t, max_length);
    guint n = json_array_get_length(corpus);
    g_assert_cmpuint(n, >=, 1000);
    g_assert_cmpuint(json_array_get_length(items), ==, n);
    int truncated = 0;
    for (guint i = 0; i < n; i++) {
        const char *prompt = json_array_get_string_element(corpus, i);
        JsonObject *item = json_array_get_object_element(items, i);
        JsonArray *want = json_object_get_array_member(item, "ids");
        int dropped = -1;
        GError *error = NULL;
        g_assert_true(rd_clip_tokenizer_encode(tok, prompt, max_length, ids, &dropped, &error));
        g_assert_no_error(error);
        int len = (int)json_array_get_length(want);
        tt_assert_ids(section, (int)i, prompt, ids, len, want);
        for (int k = len; k < max_length; k++)
            g_assert_cmpint(ids[k], ==, pad);
        g_assert_cmpint(dropped, ==, json_object_get_int_member(item, "dropped"));
        truncated += dropped > 0;
    }
    g_assert_cmpint(truncated, >, 5); /* the corpus exercises truncation */
    g_free(ids);
}

static void test_clip_bundled(void)
{
    GError *error = NULL;
    RdClipTokenizer *tok = rd_clip_tokenizer_load(NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpint(rd_clip_tokenizer_vocab_size(tok), ==, 49408);
    g_assert_cmpint(rd_clip_tokenizer_bos(tok), ==, 49406);
    g_assert_cmpint(rd_clip_tokenizer_eos(tok), ==, 49407);
    check_clip_corpus(tok, "clip");
    rd_clip_tokenizer_free(tok);
}

static void test_clip_folder(void)
{
    char *folder = tt_path("tiny/tokenizer");
    GError *error = NULL;
    RdClipTokenizer *tok = rd_clip_tokenizer_load(folder, &error);
    g_assert_no_error(error);
    g_assert_cmpint(rd_clip_tokenizer_vocab_size(tok), ==, 1014);
    check_clip_corpus(tok, "clip_small");
    rd_clip_tokenizer_free(tok);
    g_free(folder);
}

static void test_clip_errors(void)
{
    GError *error = NULL;
    char *folder = tt_path("tiny/text_encoder");
    g_assert_null(rd_clip_tokenizer_load(folder, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_TOKENIZER);
    g_assert_nonnull(strstr(error->message, folder));
    g_clear_error(&error);
    g_free(folder);

    RdClipTokenizer *tok = rd_clip_tokenizer_load(NULL, &error);
    g_assert_no_error(error);
    int32_t ids[77];
    g_assert_false(rd_clip_tokenizer_encode(tok, "bad \xC3\x28 utf8", 77, ids, NULL, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_TOKENIZER);
    g_assert_nonnull(strstr(error->message, "UTF-8"));
    g_clear_error(&error);
    rd_clip_tokenizer_free(tok);

    /* no bundled data: a clear error naming the file */
    g_setenv("RESDIT_DATA_DIR", "/nonexistent-resdit-data", TRUE);
    g_assert_null(rd_clip_tokenizer_load(NULL, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_TOKENIZER);
    g_assert_nonnull(
        strstr(error->message, "/nonexistent-resdit-data/tokenizers/clip/merges.txt.gz"));
    g_clear_error(&error);
    g_unsetenv("RESDIT_DATA_DIR");
}

static void check_t5_corpus(RdT5Tokenizer *tok, const char *section)
{
    JsonObject *sec = json_object_get_object_member(goldens, section);
    int max_length = (int)json_object_get_int_member(sec, "max_length");
    int pad = (int)json_object_get_int_member(sec, "pad_id");
    JsonArray *items = json_object_get_array_member(sec, "items");
    g_assert_cmpint(rd_t5_tokenizer_pad(tok), ==, pad);
    int32_t *ids = g_new(int32_t, max_length);
    guint n = json_array_get_length(corpus);
    g_assert_cmpuint(json_array_get_length(items), ==, n);
    int truncated = 0;
    for (guint i = 0; i < n; i++) {
        const char *prompt = json_array_get_string_element(corpus, i);
        JsonObject *item = json_array_get_object_element(items, i);
        JsonArray *want = json_object_get_array_member(item, "ids");
        int dropped = -1;
        GError *error = NULL;
        g_assert_true(rd_t5_tokenizer_encode(tok, prompt, max_length, ids, &dropped, &error));
        g_assert_no_error(error);
        int len = (int)json_array_get_length(want);
        tt_assert_ids(section, (int)i, prompt, ids, len, want);
        for (int k = len; k < max_length; k++)
            g_assert_cmpint(ids[k], ==, pad);
        g_assert_cmpint(dropped, ==, json_object_get_int_member(item, "dropped"));
        truncated += dropped > 0;
    }
    g_assert_cmpint(truncated, >, 3);
    g_free(ids);
}

static void test_t5_file(gconstpointer name)
{
    char *path = tt_path(name);
    GError *error = NULL;
    RdT5Tokenizer *tok = rd_t5_tokenizer_load(path, &error);
    g_assert_no_error(error);
    g_assert_cmpint(rd_t5_tokenizer_eos(tok), ==, 1);
    check_t5_corpus(tok, "t5");
    check_t5_corpus(tok, "t5_256");
    rd_t5_tokenizer_free(tok);
    g_free(path);
}

static void check_t5_file(const char *path, const char *section)
{
    GError *error = NULL;
    RdT5Tokenizer *tok = rd_t5_tokenizer_load(path, &error);
    g_assert_no_error(error);
    check_t5_corpus(tok, section);
    rd_t5_tokenizer_free(tok);
}

/* A plain NFKC normaliser instead of the precompiled map. */
static void test_t5_nfkc(void)
{
    char *path = tt_path("t5_variants/t5_nfkc.json");
    check_t5_file(path, "t5_nfkc");
    g_free(path);
}

/* The older T5 export (as make_text_goldens.py builds it): the precompiled map alone as the
 * normaliser, then WhitespaceSplit and Metaspace. Rebuilt here from tokenizer.json. */
static void test_t5_legacy_layout(void)
{
    JsonParser *p = tt_load_json("tiny/tokenizer_2/tokenizer.json");
    JsonObject *root = json_node_get_object(json_parser_get_root(p));
    JsonArray *norms = json_object_get_array_member(
        json_object_get_object_member(root, "normalizer"), "normalizers");
    JsonNode *precompiled = json_node_copy(json_array_get_element(norms, 0));
    json_object_set_member(root, "normalizer", precompiled);
    JsonParser *pre = json_parser_new();
    g_assert_true(json_parser_load_from_data(
        pre,
        "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"WhitespaceSplit\"}, "
        "{\"type\": \"Metaspace\", \"replacement\": \"\u2581\", \"add_prefix_space\": true, "
        "\"prepend_scheme\": \"always\", \"split\": true}]}",
        -1, NULL));
    json_object_set_member(root, "pre_tokenizer", json_node_copy(json_parser_get_root(pre)));
    char *dir = g_dir_make_tmp("resdit-t5-XXXXXX", NULL);
    char *path = g_build_filename(dir, "tokenizer.json", NULL);
    JsonGenerator *gen = json_generator_new();
    json_generator_set_root(gen, json_parser_get_root(p));
    g_assert_true(json_generator_to_file(gen, path, NULL));
    check_t5_file(path, "t5_legacy");
    g_unlink(path);
    g_rmdir(dir);
    g_object_unref(gen);
    g_object_unref(pre);
    g_object_unref(p);
    g_free(path);
    g_free(dir);
}

static void assert_t5_load_fails(const char *name, const char *needle)
{
    char *path = tt_path(name);
    GError *error = NULL;
    g_assert_null(rd_t5_tokenizer_load(path, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_TOKENIZER);
    g_assert_nonnull(strstr(error->message, path));
    if (needle && !strstr(error->message, needle))
        g_error("message \"%s\" lacks \"%s\"", error->message, needle);
    g_error_free(error);
    g_free(path);
}

/* A damaged tokenizer file: an error naming it, never a crash. */
static void assert_damaged_fails(const char *name, const char *contents, gssize len)
{
    char *dir = g_dir_make_tmp("resdit-tok-XXXXXX", NULL);
    char *path = g_build_filename(dir, name, NULL);
    g_assert_true(g_file_set_contents(path, contents, len, NULL));
    GError *error = NULL;
    g_assert_null(rd_t5_tokenizer_load(path, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_TOKENIZER);
    g_assert_nonnull(strstr(error->message, path));
    g_error_free(error);
    g_unlink(path);
    g_rmdir(dir);
    g_free(path);
    g_free(dir);
}

static void test_t5_damaged(void)
{
    assert_damaged_fails("tokenizer.json", "{\"model\": {\"type\": \"Unigram\", \"vo", -1);
    assert_damaged_fails("tokenizer.json", "{\"model\": {\"type\": \"BPE\"}}", -1);
    assert_damaged_fails("tokenizer.json", "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}",
                         -1);
    assert_damaged_fails("tokenizer.json",
                         "{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", -1]]},"
                         " \"normalizer\": {\"type\": \"BertNormalizer\"}}",
                         -1);
    assert_damaged_fails("spiece.model",
                         "\x0a\x05\x0a\x03"
                         "abc\x12",
                         8);
    assert_damaged_fails("spiece.model", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11);

    /* a truncated copy of the real model */
    char *src = tt_path("tiny/tokenizer_2/spiece.model");
    char *bytes;
    gsize len;
    g_assert_true(g_file_get_contents(src, &bytes, &len, NULL));
    assert_damaged_fails("spiece.model", bytes, (gssize)(len / 2));
    g_free(bytes);
    g_free(src);
}

static void test_t5_errors(void)
{
    assert_t5_load_fails("tiny/tokenizer", "neither tokenizer.json nor spiece.model");
    assert_t5_load_fails("tiny/tokenizer/vocab.json", "not a tokenizer.json");
    assert_t5_load_fails("tiny/tokenizer/merges.txt", "not a SentencePiece model");
    assert_t5_load_fails("tiny/missing-folder", "does not exist");

    char *path = tt_path("tiny/tokenizer_2");
    GError *error = NULL;
    RdT5Tokenizer *tok = rd_t5_tokenizer_load(path, &error);
    g_assert_no_error(error);
    int32_t ids[16];
    g_assert_false(rd_t5_tokenizer_encode(tok, "caf\xE9", 16, ids, NULL, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_TOKENIZER);
    g_clear_error(&error);
    g_assert_true(rd_t5_tokenizer_encode(tok, "", 16, ids, NULL, &error));
    g_assert_cmpint(ids[0], ==, rd_t5_tokenizer_eos(tok));
    g_assert_cmpint(ids[15], ==, rd_t5_tokenizer_pad(tok));
    rd_t5_tokenizer_free(tok);
    g_free(path);
}

static void test_nfkc_matches_python(void)
{
    JsonArray *nfkc = json_object_get_array_member(goldens, "nfkc");
    int same = 0;
    for (guint i = 0; i < json_array_get_length(corpus); i++) {
        const char *prompt = json_array_get_string_element(corpus, i);
        char *got = g_utf8_normalize(prompt, -1, G_NORMALIZE_NFKC);
        const char *want = json_array_get_string_element(nfkc, i);
        if (g_strcmp0(got, want) != 0)
            g_error("NFKC of prompt %u \"%s\": GLib \"%s\", Python \"%s\"", i, prompt, got, want);
        same += strcmp(got, prompt) != 0;
        g_free(got);
    }
    g_assert_cmpint(same, >, 100); /* many prompts really change under NFKC */
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    JsonParser *cp = tt_load_json("corpus.json"), *gp = tt_load_json("tokenizer_goldens.json");
    corpus = json_node_get_array(json_parser_get_root(cp));
    goldens = json_node_get_object(json_parser_get_root(gp));
    g_test_add_func("/text/nfkc", test_nfkc_matches_python);
    g_test_add_func("/text/clip/bundled", test_clip_bundled);
    g_test_add_func("/text/clip/folder", test_clip_folder);
    g_test_add_func("/text/clip/errors", test_clip_errors);
    g_test_add_data_func("/text/t5/tokenizer.json", "tiny/tokenizer_2/tokenizer.json",
                         test_t5_file);
    g_test_add_data_func("/text/t5/spiece.model", "tiny/tokenizer_2/spiece.model", test_t5_file);
    g_test_add_func("/text/t5/legacy-layout", test_t5_legacy_layout);
    g_test_add_func("/text/t5/nfkc", test_t5_nfkc);
    g_test_add_func("/text/t5/errors", test_t5_errors);
    g_test_add_func("/text/t5/damaged", test_t5_damaged);
    int rc = g_test_run();
    g_object_unref(cp);
    g_object_unref(gp);
    return rc;
}
