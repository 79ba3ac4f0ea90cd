/* FLUX transformer internals shared by the weight loader and the forward pass. */
#pragma once

#include "flux_model.h"
#include "lora.h"
#include "safetensors.h"

typedef struct {
    RdWeight w;
    RdWeight b; /* b.host == NULL: no bias */
} FluxLinear;

typedef struct {
    FluxLinear mod;            /* [6 hidden, hidden]: shift1 scale1 gate1 shift2 scale2 gate2 */
    FluxLinear q, k, v, proj;
    RdWeight q_norm, k_norm;   /* [head_dim] */
    FluxLinear mlp_in, mlp_out;
} FluxStream;

typedef struct {
    FluxStream img, txt;
} FluxDoubleBlock;

typedef struct {
    FluxLinear mod; /* [3 hidden, hidden]: shift scale gate */
    FluxLinear q, k, v, mlp_in;
    RdWeight q_norm, k_norm;
    FluxLinear out; /* linear2: [hidden, hidden + mlp_hidden] */
} FluxSingleBlock;

struct FluxModel {
    FluxConfig cfg;
    RdBackend *be;
    RdSafetensors *st;
    FluxLinear img_in, txt_in;
    FluxLinear time_in1, time_in2, vec_in1, vec_in2, guidance_in1, guidance_in2;
    FluxDoubleBlock *doubles;
    FluxSingleBlock *singles;
    FluxLinear final_shift, final_scale, final_linear;
    RdLoraTargets *lora_targets; /* built on the first LoRA */
    RdLoraState *lora_state;
    gboolean weights_placed; /* every weight has its backend copy (flux_model_place_weights) */
    FluxWeightPlace placed_as; /* the last placement (its format for a forward to restore) */
    RdWeightStream *stream;  /* streamed blocks (flux_model_place_weights), or NULL */
    int *stream_group;       /* per block, doubles then singles: its stream group, -1 resident */
};

/* Drops the streamed blocks' host copies (their weights have no copy left; weights_placed
 * FALSE): before anything replaces a weight's copy (a LoRA merge). */
void flux_model_unstream(FluxModel *model);

/* Applies a diffusers config.json (attention_head_dim, axes_dims_rope) to c, checking every
 * value; exposed for the fuzz targets. */
gboolean flux_config_apply_json(FluxConfig *c, const char *config_json, GError **error);

gboolean flux_weights_load(FluxModel *model, const char *path, const char *config_json,
                           GError **error);
