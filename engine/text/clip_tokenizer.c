#include "clip_tokenizer.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "json_load.h"
#include "resdit.h"
#include "text_unicode.h"
#include "tokenizer_data.h"

#define CLIP_MERGES (49152 - 256 - 2) /* the reference keeps this many merges */
#define BOS_TOKEN "<|startoftext|>"
#define EOS_TOKEN "<|endoftext|>"

struct RdClipTokenizer {
    GHashTable *vocab; /* token -> id + 1 */
    GHashTable *ranks; /* "first second" -> rank + 1 */
    GHashTable *cache; /* word -> GArray of ids */
    char byte_char[256][4];
    int vocab_size, bos, eos, pad;
    char *source;
};

static gboolean is_printable_byte(int b)
{
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
}

/* GPT-2's reversible byte -> printable character map. */
static void init_byte_chars(RdClipTokenizer *tok, gunichar *chars)
{
    int n = 0;
    for (int b = 0; b < 256; b++) {
        chars[b] = is_printable_byte(b) ? (gunichar)b : (gunichar)(256 + n++);
        int len = g_unichar_to_utf8(chars[b], tok->byte_char[b]);
        tok->byte_char[b][len] = '\0';
    }
}

static void vocab_add(RdClipTokenizer *tok, char *token, int id)
{
    g_hash_table_replace(tok->vocab, token, GINT_TO_POINTER(id + 1));
    tok->vocab_size = MAX(tok->vocab_size, id + 1);
}

static int vocab_get(const RdClipTokenizer *tok, const char *token)
{
    return GPOINTER_TO_INT(g_hash_table_lookup(tok->vocab, token)) - 1;
}

static gboolean merges_error(GError **error, const char *path, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static gboolean merges_error(GError **error, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_TOKENIZER,
                "%s: %s; download CLIP's tokenizer again (a diffusers folder has it in tokenizer/)",
                path, msg);
    return FALSE;
}

/* Reads the merges (the first line is a header, as in the reference). Returns the merges kept:
 * at least one, each a pair of tokens. */
static GPtrArray *parse_merges(RdClipTokenizer *tok, const char *text, gsize len,
                               const char *path, GError **error)
{
    if (len == 0 || !g_utf8_validate(text, (gssize)len, NULL)) {
        merges_error(error, path, "%s",
                     len == 0 ? "the file is empty (an interrupted download?)"
                              : "the file is not UTF-8 text: not CLIP's merges.txt");
        return NULL;
    }
    GPtrArray *merges = g_ptr_array_new_with_free_func(g_free);
    char **lines = g_strsplit(text, "\n", -1);
    for (int i = 1; lines[0] && lines[i] && merges->len < CLIP_MERGES; i++) {
        char *line = g_strstrip(lines[i]);
        char **parts = g_strsplit_set(line, " \t", -1);
        int n = 0;
        const char *pair[2] = {NULL, NULL};
        for (int k = 0; parts[k]; k++)
            if (*parts[k] && n < 3) {
                if (n < 2)
                    pair[n] = parts[k];
                n++;
            }
        if (n == 0 && !lines[i + 1]) {
            g_strfreev(parts);
            break; /* trailing newline */
        }
        if (n != 2) {
            merges_error(error, path,
                         "line %d is not a BPE merge (\"first second\"): not CLIP's merges.txt",
                         i + 1);
            g_strfreev(parts);
            g_strfreev(lines);
            g_ptr_array_free(merges, TRUE);
            return NULL;
        }
        char *key = g_strconcat(pair[0], " ", pair[1], NULL);
        if (!g_hash_table_contains(tok->ranks, key))
            g_hash_table_insert(tok->ranks, key, GINT_TO_POINTER((int)merges->len + 1));
        else
            g_free(key);
        g_ptr_array_add(merges, g_strconcat(pair[0], pair[1], NULL));
        g_strfreev(parts);
    }
    g_strfreev(lines);
    if (merges->len == 0) {
        merges_error(error, path, "the file holds no BPE merges (an interrupted download?)");
        g_ptr_array_free(merges, TRUE);
        return NULL;
    }
    return merges;
}

/* Every merge joins two tokens of the vocabulary into a token of the vocabulary: random text, or
 * a merges.txt of another tokenizer, fails here instead of giving wrong ids. */
static gboolean check_merges(RdClipTokenizer *tok, GPtrArray *merges, const char *merges_path,
                             const char *vocab_path, GError **error)
{
    const char *sep = vocab_path ? " " : "", *vocab = vocab_path ? vocab_path : "";
    GHashTableIter it;
    gpointer key, value;
    g_hash_table_iter_init(&it, tok->ranks);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        const int rank = GPOINTER_TO_INT(value) - 1;
        g_auto(GStrv) pair = g_strsplit(key, " ", 2);
        for (int k = 0; k < 2; k++)
            if (vocab_get(tok, pair[k]) < 0)
                return merges_error(error, merges_path,
                                    "merge %d (\"%s\") uses \"%s\", which is not in the "
                                    "vocabulary%s%s: not CLIP's merges.txt",
                                    rank + 1, (const char *)key, pair[k], sep, vocab);
        if (vocab_get(tok, merges->pdata[rank]) < 0)
            return merges_error(error, merges_path,
                                "merge %d (\"%s\") makes \"%s\", which is not in the "
                                "vocabulary%s%s: not CLIP's merges.txt",
                                rank + 1, (const char *)key, (const char *)merges->pdata[rank],
                                sep, vocab);
    }
    return TRUE;
}

static gboolean load_vocab_json(RdClipTokenizer *tok, const char *path, GError **error)
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
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_TOKENIZER,
                    "%s is not a vocabulary (expected an object of token: id)", path);
        g_object_unref(parser);
        return FALSE;
    }
    JsonObjectIter it;
    const char *name;
    JsonNode *node;
    GHashTable *by_id = g_hash_table_new(g_direct_hash, g_direct_equal); /* id -> token */
    json_object_iter_init(&it, json_node_get_object(root));
    while (json_object_iter_next(&it, &name, &node)) {
        if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_INT64 ||
            json_node_get_int(node) < 0 || json_node_get_int(node) > G_MAXINT / 2) {
            g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_TOKENIZER,
                        "%s: token \"%s\" has no valid id", path, name);
            g_hash_table_unref(by_id);
            g_object_unref(parser);
            return FALSE;
        }
        int id = (int)json_node_get_int(node);
        const char *other = g_hash_table_lookup(by_id, GINT_TO_POINTER(id));
        if (other) {
            g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_TOKENIZER,
                        "%s: tokens \"%s\" and \"%s\" both have id %d: the vocabulary is "
                        "damaged; download CLIP's tokenizer again",
                        path, other, name, id);
            g_hash_table_unref(by_id);
            g_object_unref(parser);
            return FALSE;
        }
        g_hash_table_insert(by_id, GINT_TO_POINTER(id), (gpointer)name);
        vocab_add(tok, g_strdup(name), id);
    }
    g_hash_table_unref(by_id);
    g_object_unref(parser);
    if (g_hash_table_size(tok->vocab) == 0) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_TOKENIZER,
                    "%s: the vocabulary is empty; download CLIP's tokenizer again", path);
        return FALSE;
    }
    return TRUE;
}

/* The reference's vocabulary: bytes, bytes + "</w>", the merges, BOS, EOS. */
static void derive_vocab(RdClipTokenizer *tok, GPtrArray *merges)
{
    int order[256], n = 0, id = 0; /* printable bytes first, as the reference's map lists them */
    for (int b = 0; b < 256; b++)
        if (is_printable_byte(b))
            order[n++] = b;
    for (int b = 0; b < 256; b++)
        if (!is_printable_byte(b))
            order[n++] = b;
    for (int i = 0; i < 256; i++)
        vocab_add(tok, g_strdup(tok->byte_char[order[i]]), id++);
    for (int i = 0; i < 256; i++)
        vocab_add(tok, g_strconcat(tok->byte_char[order[i]], "</w>", NULL), id++);
    for (guint i = 0; i < merges->len; i++)
        vocab_add(tok, g_strdup(merges->pdata[i]), id++);
    vocab_add(tok, g_strdup(BOS_TOKEN), id++);
    vocab_add(tok, g_strdup(EOS_TOKEN), id++);
}

/* A special token's text from one JSON file of the folder: a string or {"content": ...}. */
static char *special_token_in(const char *folder, const char *file, const char *key)
{
    char *path = g_build_filename(folder, file, NULL);
    JsonParser *parser = json_parser_new();
    char *value = NULL;
    if (rd_json_load_file(parser, path, NULL)) {
        JsonNode *root = json_parser_get_root(parser);
        JsonObject *obj = root && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
        const char *text = rd_json_get_string(obj, key);
        if (!text)
            text = rd_json_get_string(rd_json_get_object(obj, key), "content");
        value = g_strdup(text);
    }
    g_object_unref(parser);
    g_free(path);
    return value;
}

/* special_tokens_map.json, else tokenizer_config.json (where SDXL's and SD3's tokenizer_2 also say
 * pad_token "!"), as transformers reads them. */
static char *special_token(const char *folder, const char *key)
{
    char *value = special_token_in(folder, "special_tokens_map.json", key);
    return value ? value : special_token_in(folder, "tokenizer_config.json", key);
}

static gboolean resolve_specials(RdClipTokenizer *tok, const char *folder, GError **error)
{
    tok->bos = vocab_get(tok, BOS_TOKEN);
    tok->eos = vocab_get(tok, EOS_TOKEN);
    if (tok->bos < 0 || tok->eos < 0) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_TOKENIZER,
                    "%s: the vocabulary has no %s / %s token; is this a CLIP tokenizer?",
                    tok->source, BOS_TOKEN, EOS_TOKEN);
        return FALSE;
    }
    char *pad = folder ? special_token(folder, "pad_token") : NULL;
    tok->pad = pad && vocab_get(tok, pad) >= 0 ? vocab_get(tok, pad) : tok->eos;
    g_free(pad);
    return TRUE;
}

static RdClipTokenizer *tokenizer_new(void)
{
    RdClipTokenizer *tok = g_new0(RdClipTokenizer, 1);
    tok->vocab = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    tok->ranks = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    tok->cache =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_array_unref);
    gunichar chars[256];
    init_byte_chars(tok, chars);
    return tok;
}

static char *missing_message(const char *folder)
{
    if (folder)
        return g_strdup_printf("The CLIP tokenizer folder %s has no vocab.json and merges.txt",
                               folder);
    char *dir = rd_tokenizer_data_dir();
    char *msg = g_strdup_printf("The bundled CLIP vocabulary %s/clip/merges.txt.gz is missing: "
                                "reinstall ResDiT Studio, set RESDIT_DATA_DIR, or use a "
                                "diffusers model folder that has tokenizer/",
                                dir);
    g_free(dir);
    return msg;
}

RdClipTokenizer *rd_clip_tokenizer_load(const char *folder, GError **error)
{
    char *merges_path, *vocab_path = NULL;
    if (folder) {
        const char *merges_names[] = {"merges.txt", NULL}, *vocab_names[] = {"vocab.json", NULL};
        merges_path = rd_tokenizer_find_file(folder, merges_names);
        vocab_path = rd_tokenizer_find_file(folder, vocab_names);
    } else {
        char *dir = rd_tokenizer_data_dir();
        merges_path = g_build_filename(dir, "clip", "merges.txt.gz", NULL);
        g_free(dir);
        if (!g_file_test(merges_path, G_FILE_TEST_IS_REGULAR))
            g_clear_pointer(&merges_path, g_free);
    }
    if (!merges_path || (folder && !vocab_path)) {
        char *msg = missing_message(folder);
        g_set_error_literal(error, RESDIT_ERROR, RESDIT_ERROR_TOKENIZER, msg);
        g_free(msg);
        g_free(merges_path);
        g_free(vocab_path);
        return NULL;
    }
    RdClipTokenizer *tok = tokenizer_new();
    tok->source = g_strdup(folder ? folder : merges_path);
    char *text = NULL;
    gsize len;
    GPtrArray *merges = NULL;
    gboolean ok = rd_tokenizer_read_file(merges_path, &text, &len, error) &&
                  (merges = parse_merges(tok, text, len, merges_path, error)) != NULL;
    if (ok && vocab_path)
        ok = load_vocab_json(tok, vocab_path, error);
    else if (ok)
        derive_vocab(tok, merges);
    ok = ok && check_merges(tok, merges, merges_path, vocab_path, error);
    ok = ok && resolve_specials(tok, folder, error);
    if (merges)
        g_ptr_array_free(merges, TRUE);
    g_free(text);
    g_free(merges_path);
    g_free(vocab_path);
    if (!ok) {
        rd_clip_tokenizer_free(tok);
        return NULL;
    }
    return tok;
}

void rd_clip_tokenizer_free(RdClipTokenizer *tok)
{
    if (!tok)
        return;
    g_hash_table_unref(tok->vocab);
    g_hash_table_unref(tok->ranks);
    g_hash_table_unref(tok->cache);
    g_free(tok->source);
    g_free(tok);
}

const char *rd_clip_tokenizer_source(const RdClipTokenizer *tok)
{
    return tok->source;
}
int rd_clip_tokenizer_vocab_size(const RdClipTokenizer *tok)
{
    return tok->vocab_size;
}
int rd_clip_tokenizer_bos(const RdClipTokenizer *tok)
{
    return tok->bos;
}
int rd_clip_tokenizer_eos(const RdClipTokenizer *tok)
{
    return tok->eos;
}
int rd_clip_tokenizer_pad(const RdClipTokenizer *tok)
{
    return tok->pad;
}

gboolean rd_clip_tokenizer_set_pad(RdClipTokenizer *tok, const char *token)
{
    int id = vocab_get(tok, token);
    if (id < 0)
        return FALSE;
    tok->pad = id;
    return TRUE;
}

/* --- text cleanup (BERT's BasicTokenizer without accent stripping or punctuation split) --- */

static gboolean is_cjk(gunichar c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static gboolean is_dropped_control(gunichar c)
{
    if (c == '\t' || c == '\n' || c == '\r')
        return FALSE;
    switch (g_unichar_type(c)) {
    case G_UNICODE_CONTROL:
    case G_UNICODE_FORMAT:
    case G_UNICODE_UNASSIGNED:
    case G_UNICODE_PRIVATE_USE:
    case G_UNICODE_SURROGATE:
        return TRUE;
    default:
        return FALSE;
    }
}

/* Returns the cleaned, NFC, lowercased text: words joined by single spaces. */
static char *clean_text(const char *text)
{
    GString *spaced = g_string_new(NULL);
    for (const char *p = text; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        if (c == 0xFFFD || is_dropped_control(c))
            continue;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
            g_unichar_type(c) == G_UNICODE_SPACE_SEPARATOR)
            g_string_append_c(spaced, ' ');
        else if (is_cjk(c)) {
            g_string_append_c(spaced, ' ');
            g_string_append_unichar(spaced, c);
            g_string_append_c(spaced, ' ');
        } else
            g_string_append_unichar(spaced, c);
    }
    char *nfc = g_utf8_normalize(spaced->str, -1, G_NORMALIZE_NFC);
    g_string_free(spaced, TRUE);

    GString *out = g_string_new(NULL);
    const char *p = nfc;
    while (*p) {
        while (*p && rd_py_isspace(g_utf8_get_char(p)))
            p = g_utf8_next_char(p);
        const char *word = p;
        while (*p && !rd_py_isspace(g_utf8_get_char(p)))
            p = g_utf8_next_char(p);
        if (p > word) {
            if (out->len)
                g_string_append_c(out, ' ');
            rd_py_lower_append(out, word, p - word);
        }
    }
    g_free(nfc);
    return g_string_free(out, FALSE);
}

/* --- pre-tokens:
 * <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+
 * (case-insensitive) --- */

static gsize match_ascii_ci(const char *p, const char *lit)
{
    gsize n = strlen(lit);
    return g_ascii_strncasecmp(p, lit, n) == 0 ? n : 0;
}

static gsize match_contraction(const char *p)
{
    static const char *const endings[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    if (*p != '\'')
        return 0;
    for (gsize i = 0; i < G_N_ELEMENTS(endings); i++) {
        gsize n = match_ascii_ci(p, endings[i]);
        if (n)
            return n;
    }
    if (g_str_has_prefix(p + 1, "\xC5\xBF")) /* U+017F long s folds to s */
        return 3;
    return 0;
}

/* U+0345 case-folds to a Greek letter, so the reference's case-insensitive pattern matches it with
 * neither the letter class nor the negated one: it is skipped like a space. */
#define YPOGEGRAMMENI 0x345

/* Length of the pre-token at p (0: p is a character to skip). */
static gsize pre_token_length(const char *p)
{
    gsize n;
    if ((n = match_ascii_ci(p, BOS_TOKEN)) || (n = match_ascii_ci(p, EOS_TOKEN)) ||
        (n = match_contraction(p)))
        return n;
    gunichar c = g_utf8_get_char(p);
    const char *q = g_utf8_next_char(p);
    if (rd_uni_is_letter(c)) {
        while (*q && rd_uni_is_letter(g_utf8_get_char(q)))
            q = g_utf8_next_char(q);
    } else if (rd_uni_is_number(c)) {
        /* one digit per token */
    } else if (c == ' ' || c == YPOGEGRAMMENI) {
        return 0;
    } else {
        while (*q) {
            gunichar d = g_utf8_get_char(q);
            if (d == ' ' || d == YPOGEGRAMMENI || rd_uni_is_letter(d) || rd_uni_is_number(d))
                break;
            q = g_utf8_next_char(q);
        }
    }
    return (gsize)(q - p);
}

/* --- BPE --- */

static int pair_rank(const RdClipTokenizer *tok, const char *a, const char *b, GString *scratch)
{
    g_string_assign(scratch, a);
    g_string_append_c(scratch, ' ');
    g_string_append(scratch, b);
    return GPOINTER_TO_INT(g_hash_table_lookup(tok->ranks, scratch->str)) - 1;
}

/* Merges the pre-token's symbols (bytes as characters, "</w>" on the last) as the reference does:
 * repeatedly the lowest-ranked adjacent pair, every occurrence left to right. */
static GPtrArray *bpe(const RdClipTokenizer *tok, const guint8 *bytes, gsize n)
{
    GPtrArray *word = g_ptr_array_new_with_free_func(g_free);
    for (gsize i = 0; i < n; i++)
        g_ptr_array_add(word, i + 1 < n ? g_strdup(tok->byte_char[bytes[i]])
                                        : g_strconcat(tok->byte_char[bytes[i]], "</w>", NULL));
    GString *scratch = g_string_new(NULL);
    while (word->len > 1) {
        int best = -1;
        const char *first = NULL, *second = NULL;
        for (guint i = 0; i + 1 < word->len; i++) {
            int r = pair_rank(tok, word->pdata[i], word->pdata[i + 1], scratch);
            if (r >= 0 && (best < 0 || r < best)) {
                best = r;
                first = word->pdata[i];
                second = word->pdata[i + 1];
            }
        }
        if (best < 0)
            break;
        char *a = g_strdup(first), *b = g_strdup(second);
        GPtrArray *merged = g_ptr_array_new_with_free_func(g_free);
        for (guint i = 0; i < word->len;) {
            if (i + 1 < word->len && strcmp(word->pdata[i], a) == 0 &&
                strcmp(word->pdata[i + 1], b) == 0) {
                g_ptr_array_add(merged, g_strconcat(a, b, NULL));
                i += 2;
            } else {
                g_ptr_array_add(merged, g_strdup(word->pdata[i]));
                i++;
            }
        }
        g_free(a);
        g_free(b);
        g_ptr_array_free(word, TRUE);
        word = merged;
    }
    g_string_free(scratch, TRUE);
    return word;
}

static void append_pre_token(RdClipTokenizer *tok, const char *p, gsize n, GArray *ids)
{
    char *key = g_strndup(p, n);
    GArray *cached = g_hash_table_lookup(tok->cache, key);
    if (cached) {
        g_array_append_vals(ids, cached->data, cached->len);
        g_free(key);
        return;
    }
    GArray *out = g_array_new(FALSE, FALSE, sizeof(int32_t));
    if (strcmp(key, BOS_TOKEN) == 0 || strcmp(key, EOS_TOKEN) == 0) {
        int32_t id = vocab_get(tok, key);
        g_array_append_val(out, id);
    } else {
        GPtrArray *word = bpe(tok, (const guint8 *)p, n);
        for (guint i = 0; i < word->len; i++) {
            int32_t id = vocab_get(tok, word->pdata[i]);
            if (id < 0)
                id = tok->eos; /* the reference's unknown token */
            g_array_append_val(out, id);
        }
        g_ptr_array_free(word, TRUE);
    }
    g_array_append_vals(ids, out->data, out->len);
    g_hash_table_insert(tok->cache, key, out);
}

GArray *rd_clip_tokenizer_tokenize(RdClipTokenizer *tok, const char *text, GError **error)
{
    const char *bad;
    if (!g_utf8_validate(text, -1, &bad)) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_TOKENIZER,
                    "The prompt is not valid UTF-8 (byte %ld)", (long)(bad - text));
        return NULL;
    }
    char *clean = clean_text(text);
    GArray *ids = g_array_new(FALSE, FALSE, sizeof(int32_t));
    for (const char *p = clean; *p;) {
        gsize n = pre_token_length(p);
        if (n == 0) {
            p = g_utf8_next_char(p);
            continue;
        }
        append_pre_token(tok, p, n, ids);
        p += n;
    }
    g_free(clean);
    return ids;
}

gboolean rd_clip_tokenizer_encode(RdClipTokenizer *tok, const char *text, int max_length,
                                  int32_t *ids, int *dropped, GError **error)
{
    g_return_val_if_fail(max_length >= 2, FALSE);
    GArray *tokens = rd_clip_tokenizer_tokenize(tok, text, error);
    if (!tokens)
        return FALSE;
    int keep = MIN((int)tokens->len, max_length - 2);
    ids[0] = tok->bos;
    if (keep > 0)
        memcpy(ids + 1, tokens->data, (size_t)keep * sizeof(int32_t));
    ids[keep + 1] = tok->eos;
    for (int i = keep + 2; i < max_length; i++)
        ids[i] = tok->pad;
    if (dropped)
        *dropped = (int)tokens->len - keep;
    g_array_unref(tokens);
    return TRUE;
}
