/* SD3's text side: CLIP-L and OpenCLIP bigG (CLIP-G) plus T5-XXL, combined exactly as diffusers'
 * StableDiffusion3Pipeline.encode_prompt does (docs/SD3.md, "Text conditioning"):
 *   txt = cat_seq(pad_features(cat_features(L penultimate [77, hL], G penultimate [77, hG]), D),
 *                 T5 [t5_len, D])                                   -> [77 + t5_len, D]
 *   vec = cat(L projected pooled [pL], G projected pooled [pG])    -> [pL + pG]
 * where D is T5's d_model. Without T5 the T5 part is zeros [77, joint_dim] (diffusers uses the CLIP
 * tokenizer length there, not t5_len). An RdSd3Text is used by one thread at a time. */
#pragma once

#include <gio/gio.h>
#include <stdint.h>

#include "backend.h"

G_BEGIN_DECLS

typedef struct RdSd3Text RdSd3Text;

/* Where the encoders are. root: a diffusers SD3 folder (text_encoder/, text_encoder_2/,
 * text_encoder_3/, tokenizer/, tokenizer_2/, tokenizer_3/) or a Stability checkpoint with bundled
 * encoders (text_encoders.clip_l.transformer., text_encoders.clip_g.transformer.,
 * text_encoders.t5xxl.transformer.). clip_l / clip_g / t5, when set, replace what root holds: a
 * component folder or a single file (ComfyUI's clip_l.safetensors, clip_g.safetensors,
 * t5xxl_fp16.safetensors; a bundled checkpoint works too). The tokenizers, when set, replace what
 * sits beside the weights; without one the CLIPs use the bundled vocabulary (CLIP-G padded with
 * "!") and T5 is looked for where users keep it. */
typedef struct {
    const char *root;
    const char *clip_l, *clip_g, *t5;
    const char *clip_l_tokenizer, *clip_g_tokenizer, *t5_tokenizer;
    gboolean
        without_t5; /* run without T5 even when one is found (diffusers' text_encoder_3=None) */
    int joint_dim;  /* the transformer's joint_attention_dim (4096 in every SD3); 0: T5's
                       d_model, 4096 without T5. A T5 of another width is an error. */
} RdSd3TextSources;

/* T5 missing from root (no text_encoder_3/, no t5xxl keys) and not given is not an error: the
 * encoders then run without it, as diffusers does. */
RdSd3Text *rd_sd3_text_load(const RdSd3TextSources *src, RdBackend *backend, GError **error);
void rd_sd3_text_free(RdSd3Text *enc);

gboolean rd_sd3_text_has_t5(const RdSd3Text *enc);
/* Features of txt (D) and length of vec (pL + pG). */
int rd_sd3_text_txt_dim(const RdSd3Text *enc);
int rd_sd3_text_vec_dim(const RdSd3Text *enc);
/* The CLIP sequence length (77). */
int rd_sd3_text_clip_length(const RdSd3Text *enc);
/* Rows of txt for t5_len: 77 + t5_len with T5, 77 + 77 without. */
int rd_sd3_text_txt_rows(const RdSd3Text *enc, int t5_len);

typedef struct {
    int clip_l_dropped, clip_g_dropped; /* prompt tokens cut by the 77-token limit */
    int t5_dropped;                     /* prompt tokens cut by t5_len (0 without T5) */
    size_t peak_bytes; /* weights + activations at the fullest point of the encoding */
} RdSd3TextInfo;

/* The ids each encoder sees: ids_l, ids_g [77], ids_t5 [t5_len] (NULL or unused without T5). */
gboolean rd_sd3_text_tokenize(RdSd3Text *enc, const char *prompt, int t5_len, int32_t *ids_l,
                              int32_t *ids_g, int32_t *ids_t5, RdSd3TextInfo *info, GError **error);

/* How many tokens prompt takes, before any cut: clip (CLIP-L's, with BOS and EOS; CLIP-G's BPE
 * is the same) and t5 (with EOS; 0 without T5). */
gboolean rd_sd3_text_count_tokens(RdSd3Text *enc, const char *prompt, int *clip, int *t5,
                                  GError **error);

/* Encodes prompt into txt [rd_sd3_text_txt_rows(t5_len), txt_dim] and vec [vec_dim], and, when
 * neg_txt is not NULL, negative (NULL = "", diffusers' default) the same way into neg_txt and
 * neg_vec, for classifier-free guidance. Outputs are g_free'd by the caller. t5_len is diffusers'
 * max_sequence_length: 256 by default, 1 to 512. info (may be NULL) is the prompt's. */
gboolean rd_sd3_text_encode(RdSd3Text *enc, const char *prompt, const char *negative, int t5_len,
                            float **txt, float **vec, float **neg_txt, float **neg_vec,
                            RdSd3TextInfo *info, GCancellable *cancellable, GError **error);

G_END_DECLS
