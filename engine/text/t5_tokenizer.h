/* T5's SentencePiece unigram tokenizer, matching Hugging Face's T5TokenizerFast: the added
 * (special) tokens split off first, then the tokenizer.json normaliser (SentencePiece's
 * precompiled nmt_nfkc map, or NFKC) and the "▁" word marker, Viterbi over the pieces' scores
 * with unknown characters fused into one <unk>, EOS appended, padding with <pad>. */
#pragma once

#include <glib.h>
#include <stdint.h>

typedef struct RdT5Tokenizer RdT5Tokenizer;

/* path: tokenizer.json, spiece.model, or a folder holding either (tokenizer.json preferred). */
RdT5Tokenizer *rd_t5_tokenizer_load(const char *path, GError **error);
void rd_t5_tokenizer_free(RdT5Tokenizer *tok);
const char *rd_t5_tokenizer_source(const RdT5Tokenizer *tok);
int rd_t5_tokenizer_vocab_size(const RdT5Tokenizer *tok);
int rd_t5_tokenizer_eos(const RdT5Tokenizer *tok);
int rd_t5_tokenizer_pad(const RdT5Tokenizer *tok);

/* The ids of text without EOS. Invalid UTF-8 is an error. */
GArray *rd_t5_tokenizer_tokenize(RdT5Tokenizer *tok, const char *text, GError **error);
/* ids[max_length] = tokens, EOS, padding; a longer prompt keeps its first max_length - 1 tokens
 * and *dropped (may be NULL) says how many were cut. */
gboolean rd_t5_tokenizer_encode(RdT5Tokenizer *tok, const char *text, int max_length, int32_t *ids,
                                int *dropped, GError **error);
