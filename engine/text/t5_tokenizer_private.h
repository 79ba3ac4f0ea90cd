/* Internals shared by the T5 tokenizer's loaders (tokenizer.json, spiece.model). */
#pragma once

#include "precompiled_charsmap.h"
#include "t5_tokenizer.h"

typedef enum {
    T5_NORM_PRECOMPILED,
    T5_NORM_NFKC,
    T5_NORM_NFC,
    T5_NORM_LOWERCASE,
    T5_NORM_STRIP,          /* left / right flags */
    T5_NORM_REPLACE_SPACES, /* Regex " {2,}" -> content */
    T5_NORM_REPLACE,        /* literal pattern -> content */
} T5NormKind;

typedef struct {
    T5NormKind kind;
    gboolean left, right;
    char *pattern, *content;
} T5NormStep;

typedef struct {
    char *content;
    int id;
    gboolean lstrip, rstrip;
} T5AddedToken;

struct RdT5Tokenizer {
    char *source;
    GPtrArray *pieces; /* char *, by id */
    double *scores;
    GHashTable *piece_ids; /* piece -> id + 1 */
    int n_pieces, unk_id, eos_id, pad_id;
    gsize max_piece_bytes;
    double min_score;
    RdCharsmap *charsmap;
    GArray *norm_steps;          /* T5NormStep */
    gboolean whitespace_split;   /* WhitespaceSplit before Metaspace */
    gboolean prepend_first_only; /* Metaspace prepend_scheme "first" */
    gboolean prepend_never;
    gboolean metaspace_split;
    GArray *added; /* T5AddedToken */
};

RdT5Tokenizer *t5_tokenizer_new(const char *source);
void t5_tokenizer_add_piece(RdT5Tokenizer *tok, const char *piece, double score);
void t5_tokenizer_add_special(RdT5Tokenizer *tok, const char *content, int id, gboolean lstrip,
                              gboolean rstrip);
void t5_tokenizer_add_step(RdT5Tokenizer *tok, T5NormKind kind, gboolean left, gboolean right,
                           const char *pattern, const char *content);
/* Looks up EOS and pad, checks the vocabulary; FALSE with an error naming the source. */
gboolean t5_tokenizer_finish(RdT5Tokenizer *tok, GError **error);

gboolean t5_load_tokenizer_json(RdT5Tokenizer *tok, const char *path, GError **error);
gboolean t5_load_spiece_model(RdT5Tokenizer *tok, const char *path, GError **error);
