#include <math.h>
#include <string.h>

#include "resdit.h"
#include "t5_tokenizer_private.h"
#include "text_unicode.h"
#include "tokenizer_data.h"

#define METASPACE "\xE2\x96\x81" /* U+2581 */
#define UNK_PENALTY 10.0         /* unknown characters score min_score - 10 */

RdT5Tokenizer *t5_tokenizer_new(const char *source)
{
    RdT5Tokenizer *tok = g_new0(RdT5Tokenizer, 1);
    tok->source = g_strdup(source);
    tok->pieces = g_ptr_array_new_with_free_func(g_free);
    tok->piece_ids = g_hash_table_new(g_str_hash, g_str_equal);
    tok->norm_steps = g_array_new(FALSE, TRUE, sizeof(T5NormStep));
    tok->added = g_array_new(FALSE, TRUE, sizeof(T5AddedToken));
    tok->unk_id = -1;
    tok->metaspace_split = TRUE;
    tok->min_score = INFINITY;
    return tok;
}

void t5_tokenizer_add_piece(RdT5Tokenizer *tok, const char *piece, double score)
{
    int id = tok->n_pieces++;
    tok->scores = g_renew(double, tok->scores, tok->n_pieces);
    tok->scores[id] = score;
    char *copy = g_strdup(piece);
    g_ptr_array_add(tok->pieces, copy);
    if (!g_hash_table_contains(tok->piece_ids, copy))
        g_hash_table_insert(tok->piece_ids, copy, GINT_TO_POINTER(id + 1));
    tok->max_piece_bytes = MAX(tok->max_piece_bytes, strlen(piece));
    tok->min_score = MIN(tok->min_score, score);
}

void t5_tokenizer_add_special(RdT5Tokenizer *tok, const char *content, int id, gboolean lstrip,
                              gboolean rstrip)
{
    if (!*content)
        return;
    T5AddedToken t = {g_strdup(content), id, lstrip, rstrip};
    g_array_append_val(tok->added, t);
}

void t5_tokenizer_add_step(RdT5Tokenizer *tok, T5NormKind kind, gboolean left, gboolean right,
                           const char *pattern, const char *content)
{
    T5NormStep step = {kind, left, right, g_strdup(pattern), g_strdup(content)};
    g_array_append_val(tok->norm_steps, step);
}

static int piece_id(const RdT5Tokenizer *tok, const char *piece)
{
    return GPOINTER_TO_INT(g_hash_table_lookup(tok->piece_ids, piece)) - 1;
}

gboolean t5_tokenizer_finish(RdT5Tokenizer *tok, GError **error)
{
    tok->eos_id = piece_id(tok, "</s>");
    tok->pad_id = piece_id(tok, "<pad>");
    if (tok->n_pieces == 0 || tok->eos_id < 0 || tok->pad_id < 0 || tok->unk_id < 0 ||
        tok->unk_id >= tok->n_pieces) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_TOKENIZER,
                    "%s: not a T5 vocabulary (it needs the pieces <pad>, </s> and an unknown "
                    "piece)",
                    tok->source);
        return FALSE;
    }
    return TRUE;
}

void rd_t5_tokenizer_free(RdT5Tokenizer *tok)
{
    if (!tok)
        return;
    for (guint i = 0; i < tok->norm_steps->len; i++) {
        T5NormStep *s = &g_array_index(tok->norm_steps, T5NormStep, i);
        g_free(s->pattern);
        g_free(s->content);
    }
    for (guint i = 0; i < tok->added->len; i++)
        g_free(g_array_index(tok->added, T5AddedToken, i).content);
    g_array_free(tok->norm_steps, TRUE);
    g_array_free(tok->added, TRUE);
    g_hash_table_unref(tok->piece_ids);
    g_ptr_array_free(tok->pieces, TRUE);
    g_free(tok->scores);
    rd_charsmap_free(tok->charsmap);
    g_free(tok->source);
    g_free(tok);
}

RdT5Tokenizer *rd_t5_tokenizer_load(const char *path, GError **error)
{
    char *file = NULL;
    if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
        const char *names[] = {"tokenizer.json", "spiece.model", NULL};
        file = rd_tokenizer_find_file(path, names);
        if (!file) {
            g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_TOKENIZER,
                        "The T5 tokenizer folder %s has neither tokenizer.json nor spiece.model",
                        path);
            return NULL;
        }
    } else if (g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
        file = g_strdup(path);
    } else {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_TOKENIZER, "T5 tokenizer %s does not exist",
                    path);
        return NULL;
    }
    RdT5Tokenizer *tok = t5_tokenizer_new(file);
    gboolean ok = g_str_has_suffix(file, ".json") ? t5_load_tokenizer_json(tok, file, error)
                                                  : t5_load_spiece_model(tok, file, error);
    g_free(file);
    if (!ok || !t5_tokenizer_finish(tok, error)) {
        rd_t5_tokenizer_free(tok);
        return NULL;
    }
    return tok;
}

const char *rd_t5_tokenizer_source(const RdT5Tokenizer *tok)
{
    return tok->source;
}
int rd_t5_tokenizer_vocab_size(const RdT5Tokenizer *tok)
{
    return tok->n_pieces;
}
int rd_t5_tokenizer_eos(const RdT5Tokenizer *tok)
{
    return tok->eos_id;
}
int rd_t5_tokenizer_pad(const RdT5Tokenizer *tok)
{
    return tok->pad_id;
}

/* --- normalisation --- */

static char *strip_white_space(const char *s, gboolean left, gboolean right)
{
    const char *start = s, *end = s + strlen(s);
    while (left && start < end && rd_uni_is_white_space(g_utf8_get_char(start)))
        start = g_utf8_next_char(start);
    while (right && end > start) {
        const char *prev = g_utf8_prev_char(end);
        if (!rd_uni_is_white_space(g_utf8_get_char(prev)))
            break;
        end = prev;
    }
    return g_strndup(start, (gsize)(end - start));
}

static char *replace_space_runs(const char *s, const char *content)
{
    GString *out = g_string_new(NULL);
    for (const char *p = s; *p;) {
        if (p[0] == ' ' && p[1] == ' ') {
            while (*p == ' ')
                p++;
            g_string_append(out, content);
        } else {
            g_string_append_c(out, *p++);
        }
    }
    return g_string_free(out, FALSE);
}

static char *replace_literal(const char *s, const char *pattern, const char *content)
{
    if (!*pattern)
        return g_strdup(s);
    GString *out = g_string_new(NULL);
    gsize n = strlen(pattern);
    for (const char *p = s; *p;) {
        if (strncmp(p, pattern, n) == 0) {
            g_string_append(out, content);
            p += n;
        } else {
            g_string_append_c(out, *p++);
        }
    }
    return g_string_free(out, FALSE);
}

static char *normalize(const RdT5Tokenizer *tok, const char *text)
{
    char *s = g_strdup(text), *next = NULL;
    for (guint i = 0; i < tok->norm_steps->len; i++) {
        const T5NormStep *step = &g_array_index(tok->norm_steps, T5NormStep, i);
        switch (step->kind) {
        case T5_NORM_PRECOMPILED:
            next = rd_charsmap_normalize(tok->charsmap, s);
            break;
        case T5_NORM_NFKC:
            next = g_utf8_normalize(s, -1, G_NORMALIZE_NFKC);
            break;
        case T5_NORM_NFC:
            next = g_utf8_normalize(s, -1, G_NORMALIZE_NFC);
            break;
        case T5_NORM_LOWERCASE:
            next = g_utf8_strdown(s, -1);
            break;
        case T5_NORM_STRIP:
            next = strip_white_space(s, step->left, step->right);
            break;
        case T5_NORM_REPLACE_SPACES:
            next = replace_space_runs(s, step->content);
            break;
        case T5_NORM_REPLACE:
            next = replace_literal(s, step->pattern, step->content);
            break;
        }
        g_free(s);
        s = next;
    }
    return s;
}

/* --- unigram Viterbi (the tokenizers library's encode_optimized) --- */

typedef struct {
    double score;
    int start; /* -1: not reached */
    int id;
} PathNode;

static void viterbi(const RdT5Tokenizer *tok, const char *word, gsize n, GArray *ids)
{
    PathNode *best = g_new(PathNode, n + 1);
    for (gsize i = 0; i <= n; i++)
        best[i] = (PathNode){0.0, -1, -1};
    const double unk_score = tok->min_score - UNK_PENALTY;
    char *key = g_malloc(tok->max_piece_bytes + 1);
    for (gsize start = 0; start < n;) {
        gsize char_len = (gsize)(g_utf8_next_char(word + start) - (word + start));
        double base = best[start].score;
        gboolean single = FALSE;
        for (gsize end = start + char_len; end <= n && end - start <= tok->max_piece_bytes;
             end = (gsize)(g_utf8_next_char(word + end) - word)) {
            memcpy(key, word + start, end - start);
            key[end - start] = '\0';
            int id = piece_id(tok, key);
            if (id >= 0) {
                double cand = base + tok->scores[id];
                if (best[end].start < 0 || cand > best[end].score)
                    best[end] = (PathNode){cand, (int)start, id};
                single |= end - start == char_len;
            }
            if (end == n)
                break;
        }
        if (!single) {
            double cand = base + unk_score;
            gsize end = start + char_len;
            if (best[end].start < 0 || cand > best[end].score)
                best[end] = (PathNode){cand, (int)start, tok->unk_id};
        }
        start += char_len;
    }
    g_free(key);
    /* Backtrack; consecutive unknown pieces fuse into one (looked up as a whole, so <unk>). */
    GArray *rev = g_array_new(FALSE, FALSE, sizeof(int32_t));
    gboolean in_unk = FALSE;
    for (gsize end = n; end > 0;) {
        const PathNode *node = &best[end];
        gboolean unk = node->id == tok->unk_id;
        if (!(unk && in_unk)) {
            int32_t id = node->id;
            if (unk) { /* a run of unknowns: the fused text is looked up, usually unknown */
                gsize run_start = (gsize)node->start;
                while (run_start > 0 && best[run_start].id == tok->unk_id)
                    run_start = (gsize)best[run_start].start;
                char *fused = g_strndup(word + run_start, end - run_start);
                int found = piece_id(tok, fused);
                g_free(fused);
                id = found >= 0 ? found : tok->unk_id;
            }
            g_array_append_val(rev, id);
        }
        in_unk = unk;
        end = (gsize)node->start;
    }
    for (guint i = rev->len; i > 0; i--)
        g_array_append_val(ids, g_array_index(rev, int32_t, i - 1));
    g_array_unref(rev);
    g_free(best);
}

/* --- pre-tokenisation: Metaspace (and WhitespaceSplit) on one normalised segment --- */

static void metaspace_words(const RdT5Tokenizer *tok, const char *segment, gboolean first,
                            GArray *ids)
{
    char *replaced = replace_literal(segment, " ", METASPACE);
    gboolean prepend = !tok->prepend_never && (!tok->prepend_first_only || first) &&
                       !g_str_has_prefix(replaced, METASPACE);
    char *s = prepend ? g_strconcat(METASPACE, replaced, NULL) : g_strdup(replaced);
    g_free(replaced);
    gsize n = strlen(s), m = strlen(METASPACE);
    if (!tok->metaspace_split) {
        viterbi(tok, s, n, ids);
        g_free(s);
        return;
    }
    /* split before each marker (the marker starts the next word) */
    gsize word = 0;
    for (gsize i = m; i <= n; i++) {
        if (i == n || strncmp(s + i, METASPACE, m) == 0) {
            if (i > word)
                viterbi(tok, s + word, i - word, ids);
            word = i;
        }
    }
    g_free(s);
}

static void encode_segment(const RdT5Tokenizer *tok, const char *raw, gboolean first, GArray *ids)
{
    char *norm = normalize(tok, raw);
    if (!*norm) {
        g_free(norm);
        return;
    }
    if (!tok->whitespace_split) {
        metaspace_words(tok, norm, first, ids);
    } else {
        const char *p = norm;
        gboolean first_word = first;
        while (*p) {
            while (*p && rd_uni_is_white_space(g_utf8_get_char(p)))
                p = g_utf8_next_char(p);
            const char *w = p;
            while (*p && !rd_uni_is_white_space(g_utf8_get_char(p)))
                p = g_utf8_next_char(p);
            if (p > w) {
                char *piece = g_strndup(w, (gsize)(p - w));
                metaspace_words(tok, piece, first_word, ids);
                g_free(piece);
                first_word = FALSE;
            }
        }
    }
    g_free(norm);
}

/* The longest added token at p, or NULL. */
static const T5AddedToken *added_at(const RdT5Tokenizer *tok, const char *p)
{
    const T5AddedToken *best = NULL;
    for (guint i = 0; i < tok->added->len; i++) {
        const T5AddedToken *t = &g_array_index(tok->added, T5AddedToken, i);
        if (g_str_has_prefix(p, t->content) &&
            (!best || strlen(t->content) > strlen(best->content)))
            best = t;
    }
    return best;
}

GArray *rd_t5_tokenizer_tokenize(RdT5Tokenizer *tok, const char *text, GError **error)
{
    const char *bad;
    if (!g_utf8_validate(text, -1, &bad)) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_TOKENIZER,
                    "The prompt is not valid UTF-8 (byte %ld)", (long)(bad - text));
        return NULL;
    }
    GArray *ids = g_array_new(FALSE, FALSE, sizeof(int32_t));
    const char *seg = text, *p = text;
    gboolean first = TRUE;
    while (*p) {
        const T5AddedToken *t = added_at(tok, p);
        if (!t) {
            p = g_utf8_next_char(p);
            continue;
        }
        const char *seg_end = p;
        while (t->lstrip && seg_end > seg &&
               rd_uni_is_white_space(g_utf8_get_char(g_utf8_prev_char(seg_end))))
            seg_end = g_utf8_prev_char(seg_end);
        char *raw = g_strndup(seg, (gsize)(seg_end - seg));
        encode_segment(tok, raw, first && seg == text, ids);
        g_free(raw);
        g_array_append_val(ids, t->id);
        first = FALSE;
        p += strlen(t->content);
        while (t->rstrip && *p && rd_uni_is_white_space(g_utf8_get_char(p)))
            p = g_utf8_next_char(p);
        seg = p;
    }
    encode_segment(tok, seg, first && seg == text, ids);
    return ids;
}

gboolean rd_t5_tokenizer_encode(RdT5Tokenizer *tok, const char *text, int max_length, int32_t *ids,
                                int *dropped, GError **error)
{
    g_return_val_if_fail(max_length >= 1, FALSE);
    GArray *tokens = rd_t5_tokenizer_tokenize(tok, text, error);
    if (!tokens)
        return FALSE;
    int keep = MIN((int)tokens->len, max_length - 1);
    if (keep > 0)
        memcpy(ids, tokens->data, (size_t)keep * sizeof(int32_t));
    ids[keep] = tok->eos_id;
    for (int i = keep + 1; i < max_length; i++)
        ids[i] = tok->pad_id;
    if (dropped)
        *dropped = (int)tokens->len - keep;
    g_array_unref(tokens);
    return TRUE;
}
