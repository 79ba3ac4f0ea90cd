/* Reads a Hugging Face tokenizer.json with a Unigram model (T5TokenizerFast's file). */
#include <json-glib/json-glib.h>
#include <string.h>

#include "json_load.h"
#include "resdit.h"
#include "t5_tokenizer_private.h"

#define T5_MAX_PIECES (1 << 24)

static gboolean fail(GError **error, const char *path, const char *what)
{
    g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_TOKENIZER, "%s: %s", path, what);
    return FALSE;
}

static const char *member_string(JsonObject *obj, const char *name)
{
    return rd_json_get_string(obj, name);
}

static gboolean member_bool(JsonObject *obj, const char *name, gboolean fallback)
{
    gboolean v;
    return rd_json_get_bool(obj, name, &v) ? v : fallback;
}

static gboolean load_normalizer(RdT5Tokenizer *tok, JsonObject *obj, const char *path,
                                GError **error)
{
    if (!obj)
        return TRUE;
    const char *type = member_string(obj, "type");
    if (!type)
        return fail(error, path, "a normalizer has no type");
    if (strcmp(type, "Sequence") == 0) {
        JsonArray *list = rd_json_get_array(obj, "normalizers");
        for (guint i = 0; list && i < json_array_get_length(list); i++)
            if (!load_normalizer(tok, rd_json_element_object(list, i), path, error))
                return FALSE;
        return TRUE;
    }
    if (strcmp(type, "Precompiled") == 0) {
        const char *b64 = member_string(obj, "precompiled_charsmap");
        if (!b64 || !*b64)
            return TRUE; /* an empty map changes nothing */
        gsize size;
        guchar *blob = g_base64_decode(b64, &size);
        rd_charsmap_free(tok->charsmap);
        tok->charsmap = rd_charsmap_new(blob, size, path, error);
        g_free(blob);
        if (!tok->charsmap)
            return FALSE;
        t5_tokenizer_add_step(tok, T5_NORM_PRECOMPILED, FALSE, FALSE, NULL, NULL);
    } else if (strcmp(type, "NFKC") == 0) {
        t5_tokenizer_add_step(tok, T5_NORM_NFKC, FALSE, FALSE, NULL, NULL);
    } else if (strcmp(type, "NFC") == 0) {
        t5_tokenizer_add_step(tok, T5_NORM_NFC, FALSE, FALSE, NULL, NULL);
    } else if (strcmp(type, "Lowercase") == 0) {
        t5_tokenizer_add_step(tok, T5_NORM_LOWERCASE, FALSE, FALSE, NULL, NULL);
    } else if (strcmp(type, "Strip") == 0) {
        t5_tokenizer_add_step(tok, T5_NORM_STRIP, member_bool(obj, "strip_left", TRUE),
                              member_bool(obj, "strip_right", TRUE), NULL, NULL);
    } else if (strcmp(type, "Replace") == 0) {
        JsonObject *pattern = rd_json_get_object(obj, "pattern");
        const char *content = member_string(obj, "content");
        const char *regex = member_string(pattern, "Regex"),
                   *lit = member_string(pattern, "String");
        if (!content || (!regex && !lit))
            return fail(error, path, "a Replace normalizer has no pattern or content");
        if (regex && strcmp(regex, " {2,}") != 0) {
            char *msg = g_strdup_printf("unsupported Replace pattern /%s/", regex);
            fail(error, path, msg);
            g_free(msg);
            return FALSE;
        }
        t5_tokenizer_add_step(tok, regex ? T5_NORM_REPLACE_SPACES : T5_NORM_REPLACE, FALSE, FALSE,
                              lit, content);
    } else {
        char *msg = g_strdup_printf("unsupported normalizer \"%s\" (not a T5 tokenizer?)", type);
        fail(error, path, msg);
        g_free(msg);
        return FALSE;
    }
    return TRUE;
}

static gboolean load_pre_tokenizer(RdT5Tokenizer *tok, JsonObject *obj, const char *path,
                                   GError **error)
{
    const char *type = member_string(obj, "type");
    if (!type)
        return fail(error, path, "the pre_tokenizer has no type");
    if (strcmp(type, "Sequence") == 0) {
        JsonArray *list = rd_json_get_array(obj, "pretokenizers");
        for (guint i = 0; list && i < json_array_get_length(list); i++)
            if (!load_pre_tokenizer(tok, rd_json_element_object(list, i), path, error))
                return FALSE;
        return TRUE;
    }
    if (strcmp(type, "WhitespaceSplit") == 0) {
        tok->whitespace_split = TRUE;
        return TRUE;
    }
    if (strcmp(type, "Metaspace") == 0) {
        const char *replacement = member_string(obj, "replacement");
        if (replacement && strcmp(replacement, "\xE2\x96\x81") != 0)
            return fail(error, path, "the Metaspace replacement is not \"\xE2\x96\x81\"");
        const char *scheme = member_string(obj, "prepend_scheme");
        gboolean add_prefix = member_bool(obj, "add_prefix_space", TRUE);
        tok->prepend_first_only = scheme && strcmp(scheme, "first") == 0;
        tok->prepend_never = scheme ? strcmp(scheme, "never") == 0 : !add_prefix;
        tok->metaspace_split = member_bool(obj, "split", TRUE);
        return TRUE;
    }
    char *msg = g_strdup_printf("unsupported pre_tokenizer \"%s\" (not a T5 tokenizer?)", type);
    fail(error, path, msg);
    g_free(msg);
    return FALSE;
}

static gboolean load_model(RdT5Tokenizer *tok, JsonObject *model, const char *path, GError **error)
{
    const char *type = member_string(model, "type");
    if (!type || strcmp(type, "Unigram") != 0)
        return fail(error, path,
                    "the model is not a SentencePiece Unigram (is this T5's "
                    "tokenizer.json, or CLIP's?)");
    if (member_bool(model, "byte_fallback", FALSE))
        return fail(error, path, "byte fallback is not supported (T5 does not use it)");
    JsonArray *vocab = rd_json_get_array(model, "vocab");
    if (vocab && json_array_get_length(vocab) > T5_MAX_PIECES)
        return fail(error, path, "the vocabulary has more than 2^24 pieces");
    for (guint i = 0; vocab && i < json_array_get_length(vocab); i++) {
        JsonArray *entry = rd_json_element_array(vocab, i);
        const char *piece = rd_json_element_string(entry, 0);
        double score;
        if (!entry || json_array_get_length(entry) != 2 || !piece ||
            !rd_json_element_double(entry, 1, &score))
            return fail(error, path, "a vocabulary entry is not [piece, score]");
        t5_tokenizer_add_piece(tok, piece, score);
    }
    gint64 unk;
    tok->unk_id = rd_json_get_int(model, "unk_id", &unk) && unk >= 0 && unk < T5_MAX_PIECES
                      ? (int)unk
                      : -1;
    return TRUE;
}

gboolean t5_load_tokenizer_json(RdT5Tokenizer *tok, const char *path, GError **error)
{
    JsonParser *parser = json_parser_new();
    GError *local = NULL;
    if (!rd_json_load_file(parser, path, &local)) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_TOKENIZER, "%s is not valid JSON: %s", path,
                    local->message);
        g_error_free(local);
        g_object_unref(parser);
        return FALSE;
    }
    JsonNode *root = json_parser_get_root(parser);
    JsonObject *obj = root && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
    JsonNode *model = obj ? json_object_get_member(obj, "model") : NULL;
    gboolean ok;
    if (!model || !JSON_NODE_HOLDS_OBJECT(model)) {
        ok = fail(error, path, "not a tokenizer.json (no \"model\")");
    } else {
        JsonNode *norm = json_object_get_member(obj, "normalizer");
        JsonNode *pre = json_object_get_member(obj, "pre_tokenizer");
        ok = load_model(tok, json_node_get_object(model), path, error) &&
             load_normalizer(
                 tok, norm && JSON_NODE_HOLDS_OBJECT(norm) ? json_node_get_object(norm) : NULL,
                 path, error);
        if (ok && pre && JSON_NODE_HOLDS_OBJECT(pre))
            ok = load_pre_tokenizer(tok, json_node_get_object(pre), path, error);
        else if (ok)
            tok->prepend_never = TRUE;
    }
    JsonNode *added = ok ? json_object_get_member(obj, "added_tokens") : NULL;
    if (added && JSON_NODE_HOLDS_ARRAY(added)) {
        JsonArray *list = json_node_get_array(added);
        for (guint i = 0; i < json_array_get_length(list); i++) {
            JsonObject *t = rd_json_element_object(list, i);
            const char *content = member_string(t, "content");
            gint64 id;
            if (content && rd_json_get_int(t, "id", &id) && id >= 0 && id < T5_MAX_PIECES)
                t5_tokenizer_add_special(tok, content, (int)id,
                                         member_bool(t, "lstrip", FALSE),
                                         member_bool(t, "rstrip", FALSE));
        }
    }
    g_object_unref(parser);
    return ok;
}
