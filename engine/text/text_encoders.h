/* FLUX's text side: CLIP-L (pooled vector) and T5-XXL (token sequence) with their tokenizers.
 * This is the API the generation pipeline calls. An RdTextEncoders is used by one thread at a
 * time (the tokenizers keep caches). */
#pragma once

#include <gio/gio.h>
#include <stdint.h>

#include "backend.h"
#include "lora.h"

G_BEGIN_DECLS

typedef struct RdTextEncoders RdTextEncoders;

/* clip_path / t5_path: a diffusers model root, a component folder (text_encoder/, text_encoder_2/
 * with config.json, or a tokenizer folder next to it) or a single weights file (clip_l.safetensors,
 * t5xxl_fp16.safetensors, t5xxl_fp8_e4m3fn.safetensors). clip_tokenizer / t5_tokenizer, when
 * given, are used instead of what sits beside the weights (discovery found them elsewhere).
 * Without either, CLIP uses the bundled vocabulary and T5 is looked for where users keep it
 * (model_places.h); none is an error that names where it looked. */
RdTextEncoders *rd_text_encoders_load(const char *clip_path, const char *t5_path,
                                      const char *clip_tokenizer, const char *t5_tokenizer,
                                      RdBackend *backend, GError **error);

typedef struct {
    int clip_dropped;  /* prompt tokens cut by CLIP's 77-token limit */
    int t5_dropped;    /* prompt tokens cut by the T5 length */
    size_t peak_bytes; /* weights bound + activations at the fullest point of the encoding */
} RdTextEncodeInfo;

/* txt: [t5_len, d_model] (caller frees with g_free), vec: [clip hidden] pooled. t5_len is 512
 * (dev) or 256 (schnell). The T5 weights are released after encoding when release_t5 is TRUE
 * (and mapped again by the next call). */
gboolean rd_text_encode(RdTextEncoders *enc, const char *prompt, int t5_len, gboolean release_t5,
                        float **txt, float **vec, RdTextEncodeInfo *info, GCancellable *cancellable,
                        GError **error);
int rd_text_encoders_txt_dim(const RdTextEncoders *enc);
int rd_text_encoders_vec_dim(const RdTextEncoders *enc);
void rd_text_encoders_free(RdTextEncoders *enc);

/* The token ids the encoders see: clip_ids [rd_text_encoders_clip_length()] and t5_ids [t5_len],
 * padded as the references pad them. info may be NULL (peak_bytes stays 0). */
int rd_text_encoders_clip_length(const RdTextEncoders *enc);
gboolean rd_text_encoders_tokenize(RdTextEncoders *enc, const char *prompt, int t5_len,
                                   int32_t *clip_ids, int32_t *t5_ids, RdTextEncodeInfo *info,
                                   GError **error);
/* How many tokens prompt takes: clip with BOS and EOS, t5 with EOS (before any cut). */
gboolean rd_text_encoders_count_tokens(RdTextEncoders *enc, const char *prompt, int *clip,
                                       int *t5, GError **error);
/* Whether the T5 weights are currently loaded (FALSE after a releasing encode). */
gboolean rd_text_encoders_t5_loaded(const RdTextEncoders *enc);

G_END_DECLS

/* The CLIP-L parts of n LoRAs (lora.h): checked only, or merged (replacing earlier ones). A
 * NULL enc has no CLIP: a LoRA with CLIP-L parts is then refused by the check. */
gboolean rd_text_encoders_check_loras(RdTextEncoders *enc, RdLoraFile *const *files, int n,
                                      GError **error);
gboolean rd_text_encoders_set_loras(RdTextEncoders *enc, RdLoraFile *const *files,
                                    const double *strengths, int n, GError **error);
