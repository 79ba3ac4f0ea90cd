/* CLIP's byte-level BPE tokenizer, matching Hugging Face's CLIPTokenizer (without ftfy): BERT's
 * basic cleanup (control characters dropped, whitespace folded, CJK ideographs spaced, NFC,
 * lowercase), CLIP's pre-token pattern, BPE with "</w>" word ends, BOS/EOS, padding. */
#pragma once

#include <glib.h>
#include <stdint.h>

typedef struct RdClipTokenizer RdClipTokenizer;

/* folder holds vocab.json + merges.txt (a diffusers tokenizer/ folder); NULL loads the bundled
 * vocabulary (data/tokenizers/clip/merges.txt.gz, the vocabulary derived as the reference does). */
RdClipTokenizer *rd_clip_tokenizer_load(const char *folder, GError **error);
void rd_clip_tokenizer_free(RdClipTokenizer *tok);
const char *rd_clip_tokenizer_source(const RdClipTokenizer *tok);
int rd_clip_tokenizer_vocab_size(const RdClipTokenizer *tok);
int rd_clip_tokenizer_bos(const RdClipTokenizer *tok);
int rd_clip_tokenizer_eos(const RdClipTokenizer *tok);
int rd_clip_tokenizer_pad(const RdClipTokenizer *tok);
/* Pads with token instead (SD3's CLIP-G pads with "!"); FALSE when the vocabulary lacks it. */
gboolean rd_clip_tokenizer_set_pad(RdClipTokenizer *tok, const char *token);

/* The BPE ids of text, without BOS/EOS. Invalid UTF-8 is an error. */
GArray *rd_clip_tokenizer_tokenize(RdClipTokenizer *tok, const char *text, GError **error);
/* ids[max_length] = BOS, tokens, EOS, padding; a longer prompt keeps its first max_length - 2
 * tokens and *dropped (may be NULL) says how many were cut. */
gboolean rd_clip_tokenizer_encode(RdClipTokenizer *tok, const char *text, int max_length,
                                  int32_t *ids, int *dropped, GError **error);
