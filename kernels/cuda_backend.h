/* CUDA-only extras beyond the RdBackend table, for tests, benchmarks and memory reports. Only
 * valid on a backend made by rd_backend_cuda_new, and only declared when HAVE_CUDA is 1. */
#pragma once

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "backend.h"

/* A [rows, cols] f32 tensor in device memory (RoPE cos/sin tables, splice weights). */
gboolean rd_cuda_tensor_alloc_f32(RdBackend *be, RdTensor *t, int64_t rows, int64_t cols);
/* Highest device memory in use (the pool's tensors, weights and work areas, plus what cuBLAS and
 * cuFFT allocated themselves) since the last reset. Synchronises.
 */
size_t rd_cuda_peak_bytes(RdBackend *be);
void rd_cuda_reset_peak(RdBackend *be);
/* "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB)"; free with g_free. */
char *rd_cuda_device_name(RdBackend *be);
/* Upper bound of conv2d's im2col scratch per band (default 128 MiB); tests make it small so one
 * convolution runs in several bands. */
void rd_cuda_set_im2col_bytes(RdBackend *be, size_t bytes);

/* Benchmarks of models that are not on disk: makes w's device copy (bf16) with uniform random
 * values, never reading w->host (which may be a hole of a sparse file). Matrices: U(-a, a),
 * a = sqrt(3 / cols); vectors: U(-0.1, 0.1), plus 1 for names ending in "scale" (norm scales).
 * Same seed and name, same values. */
gboolean rd_cuda_weight_prepare_random(RdBackend *be, RdWeight *w, guint64 seed, GError **error);
/* The same values quantised to fp8 E4M3 as weight_prepare_fp8 keeps them (vectors stay bf16). */
gboolean rd_cuda_weight_prepare_random_fp8(RdBackend *be, RdWeight *w, guint64 seed,
                                           GError **error);

/* fp8 weights (fp8_weights.cu), for the gpu suite: the device quantiser on a bf16 tensor (a
 * strided view too; codes: rows * cols bytes on the host, dense), and the codes of a weight
 * prepared with weight_prepare_fp8 (FALSE when it holds none). */
gboolean rd_cuda_quantise_e4m3(RdBackend *be, const RdTensor *src, uint8_t *codes, float *scale,
                               GError **error);
gboolean rd_cuda_weight_codes(RdBackend *be, const RdWeight *w, uint8_t *codes);
/* GEMMs with fp8 weights multiply in fp8 (activations quantised per tensor, linear.cu) on sm_89+
 * unless RESDIT_FP8_GEMM=0 or this turns it off; FALSE when the device has no fp8 GEMMs. */
gboolean rd_cuda_set_fp8_gemm(RdBackend *be, gboolean on);
/* How many GEMMs ran in fp8 on this backend (the others dequantised the weight to bf16). */
guint64 rd_cuda_fp8_gemm_calls(RdBackend *be);

/* Plain bf16 attention with head dim 128: cuDNN's fused SDPA (when libcudnn.so.9 loads and its
 * first-use check on this device passed) or our mma.sync kernel. The environment variable
 * RESDIT_ATTENTION=auto|ours|cudnn sets the start value; cudnn means cuDNN whenever it loads,
 * even after a failed check. Any call cuDNN cannot run still falls back to ours. */
typedef enum {
    RD_CUDA_ATTENTION_AUTO,
    RD_CUDA_ATTENTION_OURS,
    RD_CUDA_ATTENTION_CUDNN,
} RdCudaAttentionPath;
void rd_cuda_set_attention_path(RdBackend *be, RdCudaAttentionPath path);

/* Our mma.sync attention kernel's configuration (kernels/README.md): AUTO runs 32 query rows per
 * warp where the device gives a block its shared memory, else 16; the others are for tests and
 * benchmarks (32 still runs 16 where it does not fit; 16_LDS32 is the kernel as first measured).
 * RESDIT_MMA_VARIANT=auto|16|32|16-lds32 sets the start value. */
typedef enum {
    RD_CUDA_MMA_AUTO,
    RD_CUDA_MMA_16,
    RD_CUDA_MMA_32,
    RD_CUDA_MMA_16_LDS32,
} RdCudaMmaVariant;
void rd_cuda_set_mma_variant(RdBackend *be, RdCudaMmaVariant variant);

typedef enum {
    RD_CUDNN_NOT_BUILT,    /* cudnn_graph.h was missing when the build was configured */
    RD_CUDNN_UNAVAILABLE,  /* libcudnn.so.9 not found, too old, or no handle on this device */
    RD_CUDNN_TURNED_OFF,   /* RESDIT_ATTENTION=ours (or rd_cuda_set_attention_path) */
    RD_CUDNN_CHECK_FAILED, /* it disagreed with our kernel on the first-use check */
    RD_CUDNN_ACTIVE,       /* in use (check passed, or forced with RESDIT_ATTENTION=cudnn) */
} RdCudaCudnnState;
/* Where cuDNN stands for this backend, running the first-use check if it has not run on this
 * device; *why (g_free, may be NULL) is the sentence rd_backend_cuda_attention gives. */
RdCudaCudnnState rd_cuda_cudnn_state(RdBackend *be, char **why);
/* How many attention calls cuDNN ran on this backend (the rest ran our kernels). */
guint64 rd_cuda_cudnn_attention_calls(RdBackend *be);

#ifdef __cplusplus
}
#endif
