/* The FLUX.1 transformer (dev and schnell): weights from BFL single files or diffusers folders,
 * and one forward pass with the ResDiT attention of the chosen mode. */
#pragma once

#include <gio/gio.h>

#include "backend.h"
#include "lora.h"
#include "resdit.h"
#include "resdit_attention.h"

typedef struct {
    int in_channels;       /* 64: 16 latent channels x 2 x 2 */
    int hidden;            /* heads * head_dim (3072) */
    int heads;             /* 24 */
    int head_dim;          /* 128 */
    int mlp_hidden;        /* 12288 */
    int double_blocks;     /* 19 */
    int single_blocks;     /* 38 */
    int txt_dim;           /* joint_attention_dim: 4096 (T5-XXL) */
    int vec_dim;           /* pooled_projection_dim: 768 (CLIP-L) */
    int rope_axes[3];      /* 16, 56, 56 */
    double rope_theta;     /* 10000 */
    gboolean has_guidance; /* dev: TRUE, schnell: FALSE */
} FluxConfig;

typedef struct FluxModel FluxModel;

/* path: a BFL single file (with or without the "model.diffusion_model." prefix), a diffusers
 * transformer folder (config.json + safetensors, sharded or not) or a diffusers model root. */
FluxModel *flux_model_load(const char *path, RdBackend *backend, GError **error);

/* Where the weights' backend copies are (the memory plan's choice for a job): released (T5 runs
 * first), the backend's own copies (bf16 on CUDA), or fp8 E4M3 matrices with per-tensor scales
 * where the backend keeps them (weight_prepare_fp8; elsewhere as FLUX_WEIGHTS_BF16). Weights
 * already as asked stay. Loading places them as FLUX_WEIGHTS_BF16 (on a backend with fp8
 * weights, bf16 copies that do not fit are left for a job to place); a forward places released
 * weights as FLUX_WEIGHTS_BF16 first. A failure releases every copy. */
typedef enum {
    FLUX_WEIGHTS_RELEASED,
    FLUX_WEIGHTS_BF16,
    FLUX_WEIGHTS_FP8,
} FluxWeightPlace;
/* streamed: how many blocks (the largest first, as the memory planner orders them) stay in
 * pinned host memory and are copied to the device just before use, on a backend with stream_*
 * ops (elsewhere none). */
gboolean flux_model_place_weights(FluxModel *model, FluxWeightPlace place, int streamed,
                                  GError **error);
/* Blocks streamed now. */
int flux_model_streamed_blocks(const FluxModel *model);
/* TRUE when the last placement was this one and every weight still has its copy (no LoRA merge
 * since). */
gboolean flux_model_weights_placed_as(const FluxModel *model, FluxWeightPlace place,
                                      int streamed);
void flux_model_free(FluxModel *model);
const FluxConfig *flux_model_config(const FluxModel *model);
/* The file (or index) the weights were read from. */
const char *flux_model_path(const FluxModel *model);

/* How attention runs in one forward pass (METHOD.md). */
typedef ResditAttentionPlan FluxAttentionPlan;

/* Like flux_model_load, with the architecture read from config_json (a diffusers config.json)
 * instead of inferred; for single files of non-standard shapes (the tiny test models). */
FluxModel *flux_model_load_with_config(const char *path, const char *config_json,
                                       RdBackend *backend, GError **error);

typedef struct {
    const float *img;  /* [grid_rows * grid_cols, in_channels] patchified latent tokens */
    const float *txt;  /* [txt_len, txt_dim] T5 hidden states */
    const float *vec;  /* [vec_dim] CLIP pooled output */
    int txt_len;
    int grid_rows, grid_cols;
    float timestep;    /* in [0, 1]; scaled by 1000 inside as FLUX does */
    float guidance;    /* plain value such as 3.5 (ignored without a guidance embedder) */
} FluxInputs;

/* velocity: [grid_rows * grid_cols, in_channels]. Returns FALSE with RESDIT_ERROR_CANCELLED when
 * cancellable is cancelled between blocks. */
gboolean flux_model_forward(FluxModel *model, const FluxInputs *inputs,
                            const FluxAttentionPlan *plan, float *velocity,
                            GCancellable *cancellable, GError **error);

/* Applies n LoRAs (docs/LORA.md) at the given strengths, replacing the ones applied before (n = 0:
 * none). The transformer parts of every file are checked first: a module the model lacks or of
 * the wrong shape refuses the whole list and leaves the model as it was. CLIP-L parts are left to
 * the text encoders; a T5 part is refused. Never reopens the model's files. */
gboolean flux_model_set_loras(FluxModel *model, RdLoraFile *const *files, const double *strengths,
                              int n, GError **error);
/* How many weights hold LoRA-merged copies. */
guint flux_model_lora_merged(const FluxModel *model);
