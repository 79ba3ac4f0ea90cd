/* The CLIP text transformer (CLIPTextModel, CLIPTextModelWithProjection): token + position
 * embeddings, pre-norm layers with causal self-attention and a quick-GELU (OpenAI CLIP-L) or GELU
 * (OpenCLIP bigG) MLP, final LayerNorm; pooled output = the final hidden state at the EOS
 * position, projected by text_projection (no bias) when the checkpoint has one. Runs on any
 * backend through the op table. */
#pragma once

#include <gio/gio.h>
#include <stdint.h>

#include "backend.h"
#include "lora.h"

typedef struct {
    int vocab_size, hidden, intermediate, layers, heads, max_positions;
    float eps;
    RdUnaryOp act;
    int eos_token_id;       /* from config.json; -1 when unknown (single files) */
    gboolean eos_by_argmax; /* config eos_token_id == 2: the reference pools at argmax(ids) */
    int projection_dim;     /* text_projection rows; 0 without one */
} RdClipConfig;

typedef struct RdClipModel RdClipModel;

/* path: an encoder folder (config.json + safetensors) or a single weights file (CLIP-L shapes
 * are read from the tensors; heads = hidden / 64). Errors name the file and tensor. */
/* Merges the CLIP-L parts (lora_te1_, text_encoder.) of n LoRAs, replacing earlier ones; with
 * check_only, only resolves them (an unknown module or wrong shape fails). lora.h. */
gboolean rd_clip_model_set_loras(RdClipModel *model, RdLoraFile *const *files,
                                 const double *strengths, int n, gboolean check_only,
                                 GError **error);
RdClipModel *rd_clip_model_load(const char *path, RdBackend *backend, GError **error);
/* The same from a checkpoint bundling several CLIPs: the one whose keys start with prefer
 * ("text_encoders.clip_g."), else the first. A single file's metadata may then name its head
 * count and activation as "clip_g_num_attention_heads" / "clip_g_hidden_act" (tiny test models;
 * real ones follow from the hidden size). */
RdClipModel *rd_clip_model_load_within(const char *path, const char *prefer, RdBackend *backend,
                                       GError **error);
/* The key prefix the weights were found under ("text_model.", "text_encoders.clip_l.transformer.
 * text_model.", ...). */
const char *rd_clip_model_key_prefix(const RdClipModel *model);
/* Use the identity for text_projection (diffusers does so for the CLIP-L of a bundled SD3
 * checkpoint). */
void rd_clip_model_drop_projection(RdClipModel *model);
/* Length of the projected pooled output: projection_dim, or hidden without a projection. */
int rd_clip_model_projected_dim(const RdClipModel *model);
void rd_clip_model_free(RdClipModel *model);
const RdClipConfig *rd_clip_model_config(const RdClipModel *model);
size_t rd_clip_model_weight_bytes(const RdClipModel *model);

/* Index whose hidden state is pooled: argmax(ids) for legacy configs, else the first eos_id. */
int rd_clip_model_pool_index(const RdClipModel *model, const int32_t *ids, int n, int eos_id);

/* ids[n] (n <= max_positions) -> hidden [n, hidden] (may be NULL) and pooled [hidden] (may be
 * NULL), pooled at rd_clip_model_pool_index(ids, eos_id). *peak_bytes (may be NULL) gets the
 * activation memory this pass used. */
gboolean rd_clip_model_forward(RdClipModel *model, const int32_t *ids, int n, int eos_id,
                               float *hidden, float *pooled, size_t *peak_bytes, GError **error);
/* SD3's use: penultimate [n, hidden] = hidden_states[-2] (the last layer's input, without the
 * final norm; the embeddings for a one-layer model) and projected [rd_clip_model_projected_dim]
 * = text_projection(pooled). Either may be NULL. */
gboolean rd_clip_model_forward_penultimate(RdClipModel *model, const int32_t *ids, int n,
                                           int eos_id, float *penultimate, float *projected,
                                           size_t *peak_bytes, GError **error);
