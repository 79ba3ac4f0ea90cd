/* The tokenizers on every code point below U+30000, one prompt each, compared per block of 256 by
 * an FNV-1a hash of the ids (tools/reference/make_text_goldens.py). For CLIP this checks the
 * character classes, lowercasing and cleanup against Python's; blocks where GLib's Unicode data
 * (general categories) differs from that Python's may differ, no other block may. */
#include <string.h>

#include "clip_tokenizer.h"
#include "t5_tokenizer.h"
#include "text-test-util.h"

static guint64 fnv_add(guint64 h, guint32 v)
{
    return (h ^ v) * 0x100000001b3ULL;
}

static const char *category_code(gunichar c)
{
    static const char *const codes[] = {
        [G_UNICODE_CONTROL] = "Cc",
        [G_UNICODE_FORMAT] = "Cf",
        [G_UNICODE_UNASSIGNED] = "Cn",
        [G_UNICODE_PRIVATE_USE] = "Co",
        [G_UNICODE_SURROGATE] = "Cs",
        [G_UNICODE_LOWERCASE_LETTER] = "Ll",
        [G_UNICODE_MODIFIER_LETTER] = "Lm",
        [G_UNICODE_OTHER_LETTER] = "Lo",
        [G_UNICODE_TITLECASE_LETTER] = "Lt",
        [G_UNICODE_UPPERCASE_LETTER] = "Lu",
        [G_UNICODE_SPACING_MARK] = "Mc",
        [G_UNICODE_ENCLOSING_MARK] = "Me",
        [G_UNICODE_NON_SPACING_MARK] = "Mn",
        [G_UNICODE_DECIMAL_NUMBER] = "Nd",
        [G_UNICODE_LETTER_NUMBER] = "Nl",
        [G_UNICODE_OTHER_NUMBER] = "No",
        [G_UNICODE_CONNECT_PUNCTUATION] = "Pc",
        [G_UNICODE_DASH_PUNCTUATION] = "Pd",
        [G_UNICODE_CLOSE_PUNCTUATION] = "Pe",
        [G_UNICODE_FINAL_PUNCTUATION] = "Pf",
        [G_UNICODE_INITIAL_PUNCTUATION] = "Pi",
        [G_UNICODE_OTHER_PUNCTUATION] = "Po",
        [G_UNICODE_OPEN_PUNCTUATION] = "Ps",
        [G_UNICODE_CURRENCY_SYMBOL] = "Sc",
        [G_UNICODE_MODIFIER_SYMBOL] = "Sk",
        [G_UNICODE_MATH_SYMBOL] = "Sm",
        [G_UNICODE_OTHER_SYMBOL] = "So",
        [G_UNICODE_LINE_SEPARATOR] = "Zl",
        [G_UNICODE_PARAGRAPH_SEPARATOR] = "Zp",
        [G_UNICODE_SPACE_SEPARATOR] = "Zs",
    };
    return codes[g_unichar_type(c)];
}

static gboolean same_hash(guint64 h, JsonArray *hashes, guint index)
{
    char hex[17];
    g_snprintf(hex, sizeof hex, "%016" G_GINT64_MODIFIER "x", h);
    return strcmp(hex, json_array_get_string_element(hashes, index)) == 0;
}

static void test_every_code_point(void)
{
    GError *error = NULL;
    RdClipTokenizer *tok = rd_clip_tokenizer_load(NULL, &error);
    g_assert_no_error(error);
    JsonParser *p = tt_load_json("clip_codepoint_hashes.json");
    JsonObject *root = json_node_get_object(json_parser_get_root(p));
    JsonArray *hashes = json_object_get_array_member(root, "ids");
    JsonArray *categories = json_object_get_array_member(root, "categories");
    int unicode_blocks = 0;
    int32_t ids[77];
    GString *bad = g_string_new(NULL);
    for (guint block = 0; block < json_array_get_length(hashes); block++) {
        guint64 h = 0xcbf29ce484222325ULL, hc = h;
        for (gunichar c = block * 256; c < block * 256 + 256; c++) {
            if (c == 0 || (c >= 0xD800 && c < 0xE000))
                continue;
            const char *cat = category_code(c);
            hc = fnv_add(fnv_add(hc, (guint8)cat[0]), (guint8)cat[1]);
            char in[8] = {0};
            g_unichar_to_utf8(c, in);
            g_assert_true(rd_clip_tokenizer_encode(tok, in, 77, ids, NULL, &error));
            for (int i = 0; i < 77; i++) {
                h = fnv_add(h, (guint32)ids[i]);
                if (ids[i] == rd_clip_tokenizer_eos(tok))
                    break;
            }
            h = fnv_add(h, 0xFFFFFFFFu);
        }
        if (!same_hash(hc, categories, block)) {
            unicode_blocks++; /* a newer or older Unicode version: may differ */
            continue;
        }
        if (!same_hash(h, hashes, block))
            g_string_append_printf(bad, " U+%04X", block * 256);
    }
    g_test_message("%d blocks skipped: GLib's Unicode data differs from Python %s's",
                   unicode_blocks, json_object_get_string_member(root, "unicode"));
    g_assert_cmpint(unicode_blocks, <, 60);
    if (bad->len)
        g_error("blocks that differ from CLIPTokenizer:%s", bad->str);
    g_string_free(bad, TRUE);
    g_object_unref(p);
    rd_clip_tokenizer_free(tok);
}

/* T5TokenizerFast (the test SentencePiece model, nmt_nfkc) on every code point: normaliser
 * tables are the model's own, so every block must match. */
static void test_t5_every_code_point(void)
{
    char *path = tt_path("tiny/tokenizer_2/tokenizer.json");
    GError *error = NULL;
    RdT5Tokenizer *tok = rd_t5_tokenizer_load(path, &error);
    g_assert_no_error(error);
    JsonParser *p = tt_load_json("t5_codepoint_hashes.json");
    JsonArray *hashes = json_node_get_array(json_parser_get_root(p));
    int32_t ids[64];
    GString *bad = g_string_new(NULL);
    for (guint block = 0; block < json_array_get_length(hashes); block++) {
        guint64 h = 0xcbf29ce484222325ULL;
        for (gunichar c = block * 256; c < block * 256 + 256; c++) {
            if (c == 0 || (c >= 0xD800 && c < 0xE000))
                continue;
            char in[8] = {0};
            g_unichar_to_utf8(c, in);
            g_assert_true(rd_t5_tokenizer_encode(tok, in, 64, ids, NULL, &error));
            for (int i = 0; i < 64; i++) {
                h = fnv_add(h, (guint32)ids[i]);
                if (ids[i] == rd_t5_tokenizer_eos(tok))
                    break;
            }
            h = fnv_add(h, 0xFFFFFFFFu);
        }
        if (!same_hash(h, hashes, block))
            g_string_append_printf(bad, " U+%04X", block * 256);
    }
    if (bad->len)
        g_error("blocks that differ from T5TokenizerFast:%s", bad->str);
    g_string_free(bad, TRUE);
    g_object_unref(p);
    rd_t5_tokenizer_free(tok);
    g_free(path);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/text/clip/every-code-point", test_every_code_point);
    g_test_add_func("/text/t5/every-code-point", test_t5_every_code_point);
    return g_test_run();
}
