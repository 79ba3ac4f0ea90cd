/* The backend interface: every op the models need, as a table of functions.
 *
 * The CPU backend (engine/cpu/) is the reference; the CUDA backend (kernels/) implements the same
 * table. Model code only calls through the table and never touches tensor memory itself, so the
 * same forward pass runs on either backend.
 *
 * Activations are 2-D row-major matrices [rows, cols] with a row stride (in elements), so a block
 * of columns (q out of qkv, one chunk of a modulation vector) is a view without a copy. The
 * element type is the backend's activation type (f32 on the CPU). Weights are views of the
 * mmap'd checkpoint in their file dtype; a backend may keep its own copy in `device`.
 */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "dtype.h"

typedef struct {
    void *data;     /* backend memory: first element of the view */
    int64_t rows;
    int64_t cols;
    int64_t stride; /* elements between consecutive rows (>= cols) */
    RdDType dtype;
} RdTensor;

typedef struct {
    RdDType dtype;
    int64_t rows;     /* output features (vectors: their length) */
    int64_t cols;     /* input features (vectors: 1) */
    const void *host; /* first element, in the file (mmap) */
    void *device;     /* backend copy, or NULL */
    const char *name; /* tensor name for messages (owned by the checkpoint) */
    float scale;      /* per-tensor dequantisation factor (fp8 weights requantised by a LoRA
                       * merge): the value is scale * stored; 0 means 1 */
    gboolean device_fp8; /* `device` holds fp8 E4M3 codes (weight_prepare_fp8), the value
                          * device_scale * code; FALSE: the backend's own copy (bf16) */
    float device_scale;
} RdWeight;

typedef enum {
    RD_UNARY_SILU,
    RD_UNARY_GELU_TANH,
    RD_UNARY_GELU_ERF,
    RD_UNARY_GELU_QUICK, /* x * sigmoid(1.702 x), CLIP */
} RdUnaryOp;

/* Options of the attention op beyond plain softmax(q k^T * scale) v. */
typedef struct {
    gboolean causal;     /* query i sees keys 0..i (queries and keys aligned at the start) */
    const RdTensor *bias; /* additive bias [heads * q_rows, k_rows] (T5), or NULL */
} RdAttentionExtras;

/* A rectangular window of a token grid: rows r0..r0+h-1, columns c0..c0+w-1. */
typedef struct {
    int r0, c0, h, w;
} RdWindow;

typedef struct RdBackend RdBackend;
typedef struct RdWeightStream RdWeightStream;

struct RdBackend {
    const char *name;

    /* memory */
    gboolean (*tensor_alloc)(RdBackend *be, RdTensor *t, int64_t rows, int64_t cols);
    void (*tensor_free)(RdBackend *be, RdTensor *t);
    /* An f32 tensor whatever the activation type: lookup tables (RoPE cos/sin, splice weights)
     * that must keep full precision. Freed with tensor_free. */
    gboolean (*table_alloc)(RdBackend *be, RdTensor *t, int64_t rows, int64_t cols);
    void (*upload)(RdBackend *be, const float *host, RdTensor *dst);   /* dst is rows x cols */
    void (*download)(RdBackend *be, const RdTensor *src, float *host); /* contiguous out */
    gboolean (*weight_prepare)(RdBackend *be, RdWeight *w, GError **error);
    /* Optional (NULL: weights are only kept as weight_prepare keeps them). Prepares a matrix
     * (cols > 1) as fp8 E4M3 with a per-tensor scale: the file's E4M3 codes as they are, any
     * other dtype quantised as engine/fp8_quant.h says; linear dequantises it before use. A
     * vector is prepared as weight_prepare does. */
    gboolean (*weight_prepare_fp8)(RdBackend *be, RdWeight *w, GError **error);
    void (*weight_release)(RdBackend *be, RdWeight *w);
    /* Optional (NULL: no streaming). Groups of weights (a transformer block each) kept in
     * pinned host memory and copied, just before use, into one of two device slots on a second
     * stream (double-buffered). stream_park prepares each weight (fp8 as weight_prepare_fp8,
     * else as weight_prepare), moves its copy to the host and leaves w->device NULL; it returns
     * the group's index, or -1 with error set. stream_use makes group g's weights usable by the
     * ops that follow (w->device pointing into its slot) and starts copying group next into
     * the other slot (-1: none; g -1: only that). stream_done: group g's ops are issued, its
     * slot may be reused once they have run (w->device NULL again). stream_free drops every
     * host copy: the grouped weights have no copy left. */
    RdWeightStream *(*stream_new)(RdBackend *be, GError **error);
    int (*stream_park)(RdBackend *be, RdWeightStream *s, RdWeight *const *ws, int n,
                       gboolean fp8, GError **error);
    void (*stream_use)(RdBackend *be, RdWeightStream *s, int g, int next);
    void (*stream_done)(RdBackend *be, RdWeightStream *s, int g);
    void (*stream_free)(RdBackend *be, RdWeightStream *s);
    void (*synchronize)(RdBackend *be);
    /* Optional (NULL: nothing to report or free). check: FALSE with the first run-time failure
     * an op met since the last check (out of device memory for its scratch: the op did
     * nothing), which it hands over. trim: gives memory the backend keeps cached back to the
     * device, after a job or under memory pressure. */
    gboolean (*check)(RdBackend *be, GError **error);
    void (*trim)(RdBackend *be);

    /* y = x w^T (+ bias). x [M, K], w [N, K], y [M, N]. */
    void (*linear)(RdBackend *be, const RdTensor *x, const RdWeight *w, const RdWeight *bias,
                   RdTensor *y);
    /* y = layer norm of each row of x (weight and bias may be NULL). y may alias x. */
    void (*layer_norm)(RdBackend *be, const RdTensor *x, const RdWeight *weight,
                       const RdWeight *bias, float eps, RdTensor *y);
    /* RMS norm over each group of `group` columns, times weight[group] (may be NULL). */
    void (*rms_norm)(RdBackend *be, const RdTensor *x, const RdWeight *weight, int group,
                     float eps, RdTensor *y);
    /* y = x * (1 + scale) + shift, scale and shift [1, cols] broadcast over rows. */
    void (*modulate)(RdBackend *be, const RdTensor *x, const RdTensor *shift,
                     const RdTensor *scale, RdTensor *y);
    /* x += gate * y, gate [1, cols] broadcast over rows (NULL gate: x += y). */
    void (*gated_add)(RdBackend *be, RdTensor *x, const RdTensor *gate, const RdTensor *y);
    /* x *= y elementwise. */
    void (*mul)(RdBackend *be, RdTensor *x, const RdTensor *y);
    /* x = value everywhere (whatever x held, NaN included). */
    void (*fill)(RdBackend *be, RdTensor *x, float value);
    /* x = x * a + b elementwise scalar. */
    void (*scale_add)(RdBackend *be, RdTensor *x, float a, float b);
    void (*unary)(RdBackend *be, RdUnaryOp op, RdTensor *x);
    /* dst = src (same shape, any strides). */
    void (*copy)(RdBackend *be, const RdTensor *src, RdTensor *dst);
    /* Rotates adjacent pairs (2j, 2j+1) of every head: x [N, heads*head_dim], cos/sin [N,
     * head_dim/2] f32 tables in backend memory. */
    void (*rope)(RdBackend *be, RdTensor *x, const RdTensor *cos, const RdTensor *sin, int heads,
                 int head_dim);
    /* out = softmax(q k^T / sqrt(head_dim) + bias) v per head; q [Nq, H*D], k and v [Nk, H*D].
     * Never materialises the full score matrix. */
    void (*attention)(RdBackend *be, const RdTensor *q, const RdTensor *k, const RdTensor *v,
                      RdTensor *out, int heads, int head_dim, const RdAttentionExtras *extras);

    /* ResDiT token-grid ops (grid = rows of a [grid_rows * grid_cols, C] tensor, row-major).
     * gather: dst [w.h * w.w, C] = the window's tokens. */
    void (*grid_gather)(RdBackend *be, const RdTensor *grid, int grid_cols, RdWindow win,
                        RdTensor *dst);
    /* splice: grid[window] += row_weight[r] * col_weight[c] * patch, weights [1, h] and [1, w]. */
    void (*grid_splice)(RdBackend *be, const RdTensor *patch, const RdTensor *row_weight,
                        const RdTensor *col_weight, RdTensor *grid, int grid_cols, RdWindow win);
    /* PSF of one patch pair, each [h * w, C]: out = IFFT(M * FFT(global) + (1 - M) * FFT(local))
     * per channel over the h x w grid, M = 1 where |f| < cutoff (METHOD.md). out may alias local. */
    void (*spectral_fuse)(RdBackend *be, const RdTensor *global, const RdTensor *local, int h,
                          int w, double cutoff, RdTensor *out);

    /* Image ops on channels-last grids: x is [height * width, C], pixel (y, x) in row
     * y * width + x (the VAE). */
    /* y = conv(x) with a kernel x kernel filter (1 or 3), stride 1, zero padding kernel / 2;
     * w is [Cout, Cin * kernel * kernel] in PyTorch's (cin, ky, kx) order; bias [Cout] or NULL. */
    void (*conv2d)(RdBackend *be, const RdTensor *x, int height, int width, const RdWeight *w,
                   const RdWeight *bias, int kernel, RdTensor *y);
    /* 3x3 convolution with stride 2 after padding one zero row at the bottom and one zero column
     * at the right (the VAE encoder's downsampling, diffusers Downsample2D / BFL Downsample):
     * x [height * width, Cin] with height and width even -> y [height/2 * width/2, Cout]; w and
     * bias as in conv2d. NULL in a backend without the encoder. */
    void (*conv2d_down2)(RdBackend *be, const RdTensor *x, int height, int width,
                         const RdWeight *w, const RdWeight *bias, RdTensor *y);
    /* GroupNorm over all rows: channels split into `groups` groups, statistics per group over
     * rows x channels of the group; then weight[C] and bias[C]. y may alias x. */
    void (*group_norm)(RdBackend *be, const RdTensor *x, int groups, const RdWeight *weight,
                       const RdWeight *bias, float eps, RdTensor *y);
    /* Per-group sums over all rows, added to sum[groups] and sumsq[groups] (host memory). */
    void (*group_sums)(RdBackend *be, const RdTensor *x, int groups, double *sum, double *sumsq);
    /* Nearest-neighbour 2x: x [height * width, C] -> y [2 height * 2 width, C]. */
    void (*upsample_nearest2x)(RdBackend *be, const RdTensor *x, int height, int width,
                               RdTensor *y);

    void (*destroy)(RdBackend *be);
};

RdBackend *rd_backend_cpu_new(void);

/* Small helpers shared by every caller of the table. */
gboolean rd_backend_check(RdBackend *be, GError **error); /* TRUE when be has no check op */
void rd_backend_trim(RdBackend *be);
RdTensor rd_tensor_view(const RdTensor *t, int64_t row0, int64_t rows, int64_t col0, int64_t cols);
RdWeight rd_weight_rows(const RdWeight *w, int64_t row0, int64_t rows);
int64_t rd_tensor_numel(const RdTensor *t);

typedef enum {
    RD_BACKEND_AUTO, /* CUDA when a usable device exists, else CPU */
    RD_BACKEND_CUDA,
    RD_BACKEND_CPU,
} RdBackendChoice;

/* NULL with an error naming the cause when the CUDA backend is not built or no device works. */
RdBackend *rd_backend_cuda_new(GError **error);
gboolean rd_backend_cuda_available(char **reason);
/* Which path a CUDA backend's plain bf16 head-dim-128 attention takes and why (cuDNN's fused
 * SDPA with its version and first-use check, or our kernel because cuDNN is not found, failed
 * the check, is turned off by RESDIT_ATTENTION, or is not built in); g_free. */
char *rd_backend_cuda_attention(RdBackend *be);
/* How a CUDA backend multiplies fp8 weights (in fp8, or widened to bf16, and why); g_free. */
char *rd_backend_cuda_fp8(RdBackend *be);
/* TRUE when be multiplies fp8 weights in fp8 (a CUDA backend on sm_89+ without
 * RESDIT_FP8_GEMM=0); the CPU backend never does. */
gboolean rd_backend_fp8_gemm(RdBackend *be);
/* The same for a CUDA backend on the current device, without making one. */
gboolean rd_cuda_device_fp8_gemm(void);
/* Free and total memory of the current CUDA device; FALSE when there is none. */
gboolean rd_cuda_memory(guint64 *free_bytes, guint64 *total_bytes);
RdBackend *rd_backend_new(RdBackendChoice choice, GError **error);

/* Destroys a backend made by any constructor above. */
void rd_backend_free(RdBackend *be);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RdBackend, rd_backend_free)
