/* The CPU backend's ops: plain, readable C; the reference every other backend is checked against. */
#pragma once

#include "backend.h"

/* Element (r, c) of an f32 tensor. */
#define RD_AT(t, r, c) (((float *)(t)->data)[(int64_t)(r) * (t)->stride + (c)])

void cpu_linear(RdBackend *be, const RdTensor *x, const RdWeight *w, const RdWeight *bias,
                RdTensor *y);
void cpu_layer_norm(RdBackend *be, const RdTensor *x, const RdWeight *weight,
                    const RdWeight *bias, float eps, RdTensor *y);
void cpu_rms_norm(RdBackend *be, const RdTensor *x, const RdWeight *weight, int group, float eps,
                  RdTensor *y);
void cpu_modulate(RdBackend *be, const RdTensor *x, const RdTensor *shift, const RdTensor *scale,
                  RdTensor *y);
void cpu_gated_add(RdBackend *be, RdTensor *x, const RdTensor *gate, const RdTensor *y);
void cpu_mul(RdBackend *be, RdTensor *x, const RdTensor *y);
void cpu_fill(RdBackend *be, RdTensor *x, float value);
void cpu_scale_add(RdBackend *be, RdTensor *x, float a, float b);
void cpu_unary(RdBackend *be, RdUnaryOp op, RdTensor *x);
void cpu_copy(RdBackend *be, const RdTensor *src, RdTensor *dst);
void cpu_rope(RdBackend *be, RdTensor *x, const RdTensor *cos, const RdTensor *sin, int heads,
              int head_dim);
void cpu_attention(RdBackend *be, const RdTensor *q, const RdTensor *k, const RdTensor *v,
                   RdTensor *out, int heads, int head_dim, const RdAttentionExtras *extras);
void cpu_grid_gather(RdBackend *be, const RdTensor *grid, int grid_cols, RdWindow win,
                     RdTensor *dst);
void cpu_grid_splice(RdBackend *be, const RdTensor *patch, const RdTensor *row_weight,
                     const RdTensor *col_weight, RdTensor *grid, int grid_cols, RdWindow win);
/* Whether a spectral filter keeps DFT bin (ky, kx) of an h x w grid (0 <= kx <= w / 2). */
typedef gboolean (*CpuSpectralKeep)(int ky, int kx, int h, int w, gconstpointer data);
/* out = IDFT(M DFT(x)) per channel of x [h * w, channels] (token-major), M = 1 on the bins keep
 * accepts; out may be x. */
void cpu_spectral_filter(const float *x, int h, int w, int channels, CpuSpectralKeep keep,
                         gconstpointer data, float *out);
void cpu_spectral_fuse(RdBackend *be, const RdTensor *global, const RdTensor *local, int h, int w,
                       double cutoff, RdTensor *out);
void cpu_conv2d(RdBackend *be, const RdTensor *x, int height, int width, const RdWeight *w,
                const RdWeight *bias, int kernel, RdTensor *y);
void cpu_group_norm(RdBackend *be, const RdTensor *x, int groups, const RdWeight *weight,
                    const RdWeight *bias, float eps, RdTensor *y);
void cpu_group_sums(RdBackend *be, const RdTensor *x, int groups, double *sum, double *sumsq);
void cpu_conv2d_down2(RdBackend *be, const RdTensor *x, int height, int width, const RdWeight *w,
                      const RdWeight *bias, RdTensor *y);
void cpu_upsample_nearest2x(RdBackend *be, const RdTensor *x, int height, int width,
                            RdTensor *y);

/* Widens a weight (any dtype) into f32: rows row0..row0+rows-1, all columns. */
void cpu_weight_rows_f32(const RdWeight *w, int64_t row0, int64_t rows, float *dst);
