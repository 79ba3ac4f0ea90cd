/* Where the weights and the tokenizer of a text encoder are, from what the user points at: a
 * diffusers model root, a component folder (text_encoder/, text_encoder_2/, tokenizer/,
 * tokenizer_2/), or a single weights file. */
#pragma once

#include <glib.h>

typedef enum { RD_TEXT_CLIP, RD_TEXT_T5 } RdTextKind;

typedef struct {
    char *weights;   /* file or folder for rd_safetensors_open; NULL: tokenizer only */
    char *tokenizer; /* CLIP: folder with vocab.json + merges.txt, NULL = bundled;
                        T5: tokenizer.json, spiece.model or a folder with either; NULL = none */
} RdTextPaths;

gboolean rd_text_paths_resolve(const char *path, RdTextKind kind, RdTextPaths *out, GError **error);
/* The same with other component names than FLUX's (text_encoder/tokenizer for CLIP,
 * text_encoder_2/tokenizer_2 for T5): SD3's CLIP-G is text_encoder_2/tokenizer_2, its T5
 * text_encoder_3/tokenizer_3. */
gboolean rd_text_paths_resolve_in(const char *path, RdTextKind kind, const char *encoder,
                                  const char *tokenizer, RdTextPaths *out, GError **error);
void rd_text_paths_clear(RdTextPaths *paths);
/* The error for a T5 path without tokenizer data: what is missing, where it looked (searched,
 * NULL-terminated, may be NULL) and where to put it. */
void rd_text_paths_t5_tokenizer_missing(const char *path, const char *const *searched,
                                        GError **error);
