/* The CLIP text transformer (CLIPTextModel): token + position embeddings, pre-norm layers with
 * causal self-attention and a quick-GELU MLP, final LayerNorm; pooled output = the final hidden
 * state at the EOS position. Runs on any backend through the op table. */
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
