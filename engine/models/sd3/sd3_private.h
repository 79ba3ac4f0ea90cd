/* SD3 transformer internals shared by the weight loader and the forward pass. */
#pragma once

#include "safetensors.h"
#include "sd3_model.h"
#include "sd3_pos_table.h"

typedef struct {
    RdWeight w;
    RdWeight b;
} Sd3Linear;

/* One attention: the stream's own q, k, v, output and (SD3.5) q/k RMSNorm weights. */
typedef struct {
    Sd3Linear q, k, v, out; /* out.w.host == NULL: no output projection (last block's text) */
    RdWeight q_norm, k_norm; /* [head_dim], host NULL without qk norm */
} Sd3Attention;

typedef struct {
    Sd3Linear mod;          /* image: [6 or 9 hidden, hidden] (shift scale gate ... ) */
    Sd3Linear ctx_mod;      /* text: [6 hidden, hidden], or [2 hidden, hidden] (scale shift)
                             * in the last block */
    Sd3Attention img, txt;  /* the joint attention's two streams */
    Sd3Attention img2;      /* MMDiT-X second attention (image only) */
    Sd3Linear mlp_in, mlp_out, ctx_mlp_in, ctx_mlp_out;
    gboolean context_pre_only, dual;
} Sd3Block;

struct Sd3Model {
    Sd3Config cfg;
    RdBackend *be;
    RdSafetensors *st;
    Sd3Linear patch_in;   /* the 2x2 patch convolution as [hidden, 64] */
    RdWeight pos_table;   /* [pos_max * pos_max, hidden] */
    Sd3PosTable pos;      /* the same, read at fractional positions (ResDiT) */
    Sd3Linear time_in1, time_in2, vec_in1, vec_in2, txt_in;
    Sd3Block *blocks;
    Sd3Linear final_mod;  /* [2 hidden, hidden]: scale shift (shift scale when shift_first) */
    gboolean shift_first; /* Stability's order in the final and last-context modulations */
    Sd3Linear final_out;  /* [64, hidden] in diffusers' (a, b, c) order */
};

gboolean sd3_weights_load(Sd3Model *model, const char *path, GError **error);

/* The forward pass with given position rows ([grid_rows * grid_cols, hidden], added after the
 * patch embedding) instead of the table's centre crop; any grid size. */
gboolean sd3_forward_positions(Sd3Model *model, const Sd3Inputs *inputs, const float *positions,
                               float *velocity, GCancellable *cancellable, GError **error);
