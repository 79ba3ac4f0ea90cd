/* SentencePiece's precompiled normaliser (nmt_nfkc, as in T5's spiece.model) against the tokenizers
 * library: every code point, and base + mark sequences that form grapheme clusters. */
#include <string.h>

#include "precompiled_charsmap.h"
#include "text-test-util.h"

static RdCharsmap *load_charsmap(void)
{
    JsonParser *p = tt_load_json("tiny/tokenizer_2/tokenizer.json");
    JsonObject *norm =
        json_object_get_object_member(json_node_get_object(json_parser_get_root(p)), "normalizer");
    JsonObject *pre =
        json_array_get_object_element(json_object_get_array_member(norm, "normalizers"), 0);
    gsize size;
    guchar *blob =
        g_base64_decode(json_object_get_string_member(pre, "precompiled_charsmap"), &size);
    GError *error = NULL;
    RdCharsmap *map = rd_charsmap_new(blob, size, "test", &error);
    g_assert_no_error(error);
    g_free(blob);
    g_object_unref(p);
    return map;
}

static void test_every_code_point(void)
{
    RdCharsmap *map = load_charsmap();
    JsonParser *gp = tt_load_json("charsmap_goldens.json");
    JsonObject *singles =
        json_object_get_object_member(json_node_get_object(json_parser_get_root(gp)), "singles");
    int changed = 0;
    for (gunichar c = 1; c < 0x110000; c++) {
        if (c >= 0xD800 && c < 0xE000)
            continue;
        char in[8] = {0}, key[16];
        g_unichar_to_utf8(c, in);
        g_snprintf(key, sizeof key, "%u", c);
        const char *want =
            json_object_has_member(singles, key) ? json_object_get_string_member(singles, key) : in;
        char *got = rd_charsmap_normalize(map, in);
        if (strcmp(got, want) != 0)
            g_error("U+%04X: got \"%s\", reference \"%s\"", c, got, want);
        changed += strcmp(got, in) != 0;
        g_free(got);
    }
    g_assert_cmpint(changed, >, 4000);
    g_object_unref(gp);
    rd_charsmap_free(map);
}

static void test_clusters(void)
{
    RdCharsmap *map = load_charsmap();
    JsonParser *gp = tt_load_json("charsmap_goldens.json");
    JsonArray *pairs =
        json_object_get_array_member(json_node_get_object(json_parser_get_root(gp)), "pairs");
    g_assert_cmpuint(json_array_get_length(pairs), >, 3000);
    for (guint i = 0; i < json_array_get_length(pairs); i++) {
        JsonArray *pair = json_array_get_array_element(pairs, i);
        const char *in = json_array_get_string_element(pair, 0);
        const char *want = json_array_get_string_element(pair, 1);
        char *got = rd_charsmap_normalize(map, in);
        if (strcmp(got, want) != 0) {
            GString *hex = g_string_new(NULL);
            for (const char *q = in; *q; q = g_utf8_next_char(q))
                g_string_append_printf(hex, " U+%04X", g_utf8_get_char(q));
            g_error("%s: got \"%s\", reference \"%s\"", hex->str, got, want);
        }
        g_free(got);
    }
    g_object_unref(gp);
    rd_charsmap_free(map);
}

static void test_malformed(void)
{
    const guint8 bad[] = {0xFF, 0xFF, 0x00, 0x00, 1, 2, 3};
    GError *error = NULL;
    g_assert_null(rd_charsmap_new(bad, sizeof bad, "some/tokenizer.json", &error));
    g_assert_nonnull(strstr(error->message, "some/tokenizer.json"));
    g_error_free(error);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/text/charsmap/every-code-point", test_every_code_point);
    g_test_add_func("/text/charsmap/clusters", test_clusters);
    g_test_add_func("/text/charsmap/malformed", test_malformed);
    return g_test_run();
}
