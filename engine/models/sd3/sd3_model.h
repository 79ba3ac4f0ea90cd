/* The SD3 / SD3.5 transformer (MMDiT; SD3.5's q/k RMSNorm; SD3.5 Medium's MMDiT-X second
 * attention), loaded from a diffusers folder or a Stability single file, with one plain forward
 * pass over the backend op table. Tokens in and out use FLUX's packing: the 16-channel latent in 2x2 patches, token (i, j)
 * holding feature c*4 + a*2 + b = latent[c, 2i+a, 2j+b]. */
#pragma once

#include <gio/gio.h>

#include "backend.h"
#include "resdit_attention.h"

typedef struct {
    int in_channels;    /* 64: 16 latent channels x 2 x 2 */
    int hidden;         /* heads * head_dim (SD3.5 Large: 2432) */
    int heads;          /* SD3.5 Large: 38 */
    int head_dim;       /* 64 */
    int mlp_hidden;     /* 4 hidden */
    int layers;         /* joint blocks; the last one updates the image stream only */
    int txt_dim;        /* joint_attention_dim: 4096 (T5-XXL, CLIP-L and -G padded) */
    int vec_dim;        /* pooled_projection_dim: 2048 (CLIP-L + CLIP-G pooled) */
    int pos_max;        /* pos_embed_max_size: the position table is pos_max x pos_max */
    gboolean qk_norm;   /* SD3.5: RMSNorm on q and k of every head */
    gboolean *dual;     /* [layers]: MMDiT-X second, image-only attention */
} Sd3Config;

typedef struct Sd3Model Sd3Model;

/* path: a diffusers transformer folder (config.json + safetensors, sharded or not), a model root
 * holding one in transformer/, or a Stability single file (ComfyUI's prefix or none). */
Sd3Model *sd3_model_load(const char *path, RdBackend *backend, GError **error);
void sd3_model_free(Sd3Model *model);
const Sd3Config *sd3_model_config(const Sd3Model *model);
/* TRUE when the safetensors' tensors are an SD3 transformer's (by names, any layout we read). */
gboolean sd3_weights_recognise(const char *path);

typedef struct {
    const float *img; /* [grid_rows * grid_cols, 64] packed latent tokens */
    const float *txt; /* [txt_len, txt_dim] joint text embeddings */
    const float *vec; /* [vec_dim] pooled embedding */
    int txt_len;
    int grid_rows, grid_cols; /* at most pos_max each */
    float timestep;           /* sigma in [0, 1]; the model sees 1000 * sigma */
} Sd3Inputs;

/* The forward pass in a ResDiT mode (docs/METHOD.md, "SD3"): direct is sd3_model_forward; global,
 * local and fused run whole forward passes with PES / PIPE positions read from the table and fuse
 * their velocities, at any grid size. */
gboolean sd3_model_forward_plan(Sd3Model *model, const Sd3Inputs *inputs,
                                const ResditAttentionPlan *plan, float *velocity,
                                GCancellable *cancellable, GError **error);
/* TRUE when the position table is diffusers' sin-cos formula (read exactly between entries);
 * FALSE for a learned one (read bilinearly). */
gboolean sd3_model_pos_table_is_sincos(const Sd3Model *model);

/* velocity: [grid_rows * grid_cols, 64] in the same packing. FALSE with RESDIT_ERROR_CANCELLED
 * when cancelled between blocks, or with an error naming a grid the position table cannot hold. */
gboolean sd3_model_forward(Sd3Model *model, const Sd3Inputs *inputs, float *velocity,
                           GCancellable *cancellable, GError **error);
