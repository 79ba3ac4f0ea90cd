// Shared pieces of the CUDA backend: error checks, the backend struct, bf16 tensor access.
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cufft.h>
#include <stdint.h>

extern "C" {
#include "backend.h"
#include "psf_mask.h"
#include "resdit.h"
}

typedef __nv_bfloat16 bf16;

// ---------------------------------------------------------------------------------------------
// Error checks. The *Check macros are for calls that only fail on a broken device or a bug: they
// abort with the call, file and line (llm.c style). Calls that can fail at run time for a reason
// the user can act on (memory) go through cuda_try_alloc, which fills a GError instead.

[[noreturn]] void cuda_fatal(const char *call, const char *message, const char *file, int line);
const char *cufft_result_string(cufftResult result);

#define cudaCheck(call)                                                                            \
    do {                                                                                           \
        cudaError_t err_ = (call);                                                                 \
        if (err_ != cudaSuccess)                                                                   \
            cuda_fatal(#call, cudaGetErrorString(err_), __FILE__, __LINE__);                       \
    } while (0)

#define cublasCheck(call)                                                                          \
    do {                                                                                           \
        cublasStatus_t status_ = (call);                                                           \
        if (status_ != CUBLAS_STATUS_SUCCESS)                                                      \
            cuda_fatal(#call, cublasGetStatusString(status_), __FILE__, __LINE__);                 \
    } while (0)

#define cufftCheck(call)                                                                           \
    do {                                                                                           \
        cufftResult result_ = (call);                                                              \
        if (result_ != CUFFT_SUCCESS)                                                              \
            cuda_fatal(#call, cufft_result_string(result_), __FILE__, __LINE__);                   \
    } while (0)

// After every kernel launch: catches bad launch configurations at the launch site.
#define launchCheck() cudaCheck(cudaGetLastError())

// ---------------------------------------------------------------------------------------------
// The backend. RdBackend is the first member so the table pointer is the struct pointer.

typedef struct CudaBackend {
    RdBackend base;
    int device;
    int sm_count;
    size_t smem_optin; // largest dynamic shared memory a block may ask for
    cudaStream_t stream;
    cudaMemPool_t pool;
    cublasLtHandle_t lt;
    cublasHandle_t blas;
    void *workspace;
    size_t workspace_size;
    size_t library_bytes;      // device memory cuBLAS and cuFFT took outside the pool
    size_t library_bytes_high; // its high-water mark since the last peak reset
    GError *error;             // the first run-time failure inside an op (out of memory), kept
                               // until rd_backend_check hands it to the engine
    void *fft_work;            // spectral.cu: the work area every cuFFT plan shares (pool)
    size_t fft_work_size;
    size_t im2col_bytes;        // image_ops.cu: the convolution's band scratch
    struct GemmCache *gemms;    // linear.cu
    struct SpectralCache *ffts; // spectral.cu
    struct CudnnState *cudnn;   // attention_cudnn.cu: handle and plans, made on first use
    int attention_path;         // attention_cudnn.cuh AttentionPath (RESDIT_ATTENTION)
    int compute_capability;     // major * 10 + minor
    bool fp8_gemm;              // fp8 weights multiply in fp8 (sm_89+; RESDIT_FP8_GEMM=0: off)
    float *fp8_scratch;         // fp8_weights.cu: an activation's amax bits and scale
    guint64 fp8_gemm_calls;     // GEMMs that ran in fp8
    int fp8_check;              // linear.cu: the fp8 path's first-use check (0 not yet, 1 passed,
                                // 2 failed or could not run: fp8 weights dequantised from then on)
    char *fp8_check_note;       // its figures
    int mma_variant;            // RdCudaMmaVariant of our attention kernel (RESDIT_MMA_VARIANT)
    int mma_check;              // attention.cu: its first-use check against the variant first
                                // measured (0 not yet, 1 passed, 2 failed or could not run)
    char *mma_check_note;       // its figures
} CudaBackend;

static inline CudaBackend *cuda_backend(RdBackend *be)
{
    return (CudaBackend *)be;
}

// Stream-ordered allocation from the backend's pool; on failure a GError with the size asked
// (RESDIT_ERROR_OUT_OF_MEMORY) and NULL.
// When the pool cannot provide the memory, the stream is synchronised, the pool trimmed and the
// allocation tried once more (memory pressure).
void *cuda_try_alloc(CudaBackend *cb, size_t bytes, const char *what, GError **error);
void cuda_free(CudaBackend *cb, void *ptr);
// Scratch for an op: on failure the error (size asked, free memory) is kept in cb->error for
// rd_backend_check and NULL comes back; the op then does nothing.
void *cuda_op_alloc(CudaBackend *cb, size_t bytes, const char *what);
// Keeps the first failure of an op (takes ownership of error).
void cuda_op_fail(CudaBackend *cb, GError *error);
// Device memory in use (total - free), for what the libraries allocate themselves.
size_t cuda_device_used(void);
// Adds (or with a negative delta, removes) library allocations to the peak figure.
void cuda_library_bytes(CudaBackend *cb, ptrdiff_t delta);

// ---------------------------------------------------------------------------------------------
// Tensor access in kernels. Activations are bf16; a few tables (RoPE cos/sin, splice weights)
// may be f32. Every kernel reads and writes through DevTensor, so both work.

struct DevTensor {
    void *data;
    int64_t rows, cols, stride;
    int is_f32;
};

static inline DevTensor dev_tensor(const RdTensor *t)
{
    if (t->dtype != RD_BF16 && t->dtype != RD_F32)
        cuda_fatal("dev_tensor", "CUDA tensors must be bf16 or f32", __FILE__, __LINE__);
    DevTensor d = {t->data, t->rows, t->cols, t->stride, t->dtype == RD_F32};
    return d;
}

__device__ __forceinline__ float dev_load(const DevTensor &t, int64_t r, int64_t c)
{
    int64_t i = r * t.stride + c;
    return t.is_f32 ? ((const float *)t.data)[i] : __bfloat162float(((const bf16 *)t.data)[i]);
}

__device__ __forceinline__ void dev_store(const DevTensor &t, int64_t r, int64_t c, float v)
{
    int64_t i = r * t.stride + c;
    if (t.is_f32)
        ((float *)t.data)[i] = v;
    else
        ((bf16 *)t.data)[i] = __float2bfloat16_rn(v);
}

// A prepared weight's bf16 device copy, or an abort naming the weight (also for an fp8 one:
// only linear takes those, through cuda_weight_dequantise).
const bf16 *weight_device(const RdWeight *w);
gboolean cuda_weight_prepare(RdBackend *be, RdWeight *w, GError **error);
// fp8_weights.cu: the E4M3 copy with its scale; and its bf16 copy made for one GEMM (pool
// memory, freed by the caller; NULL with the failure kept for rd_backend_check).
gboolean cuda_weight_prepare_fp8(RdBackend *be, RdWeight *w, GError **error);
const bf16 *cuda_weight_dequantise(CudaBackend *cb, const RdWeight *w);
// x's E4M3 codes (dense [rows, cols]) with the per-tensor scale amax / 448 of fp8_quant.h,
// stream-ordered: *scale points to the scale in device memory, valid until the next call.
bool cuda_quantise_e4m3(CudaBackend *cb, const RdTensor *x, uint8_t *codes, const float **scale,
                        GError **error);
// Where cuda_quantise_e4m3 puts the scale (device memory, fixed for the backend's lifetime).
const float *cuda_fp8_scale_slot(CudaBackend *cb, GError **error);
// weight_stream.cu: the stream_* ops of the table.
void cuda_fill_stream_ops(RdBackend *be);

static inline bool aligned16(const void *p)
{
    return ((uintptr_t)p & 15) == 0;
}

static inline int ceil_div(int64_t a, int64_t b)
{
    return (int)((a + b - 1) / b);
}

// ---------------------------------------------------------------------------------------------
// The ops (one .cu file per group), same contracts as engine/backend.h.

void cuda_linear(RdBackend *be, const RdTensor *x, const RdWeight *w, const RdWeight *bias,
                 RdTensor *y);
void cuda_linear_cache_free(CudaBackend *cb);
void cuda_layer_norm(RdBackend *be, const RdTensor *x, const RdWeight *weight, const RdWeight *bias,
                     float eps, RdTensor *y);
void cuda_rms_norm(RdBackend *be, const RdTensor *x, const RdWeight *weight, int group, float eps,
                   RdTensor *y);
void cuda_modulate(RdBackend *be, const RdTensor *x, const RdTensor *shift, const RdTensor *scale,
                   RdTensor *y);
void cuda_gated_add(RdBackend *be, RdTensor *x, const RdTensor *gate, const RdTensor *y);
void cuda_mul(RdBackend *be, RdTensor *x, const RdTensor *y);
void cuda_fill(RdBackend *be, RdTensor *x, float value);
void cuda_scale_add(RdBackend *be, RdTensor *x, float a, float b);
void cuda_unary(RdBackend *be, RdUnaryOp op, RdTensor *x);
void cuda_copy(RdBackend *be, const RdTensor *src, RdTensor *dst);
void cuda_rope(RdBackend *be, RdTensor *x, const RdTensor *cos, const RdTensor *sin, int heads,
               int head_dim);
void cuda_attention(RdBackend *be, const RdTensor *q, const RdTensor *k, const RdTensor *v,
                    RdTensor *out, int heads, int head_dim, const RdAttentionExtras *extras);
void cuda_grid_gather(RdBackend *be, const RdTensor *grid, int grid_cols, RdWindow win,
                      RdTensor *dst);
void cuda_grid_splice(RdBackend *be, const RdTensor *patch, const RdTensor *row_weight,
                      const RdTensor *col_weight, RdTensor *grid, int grid_cols, RdWindow win);
void cuda_spectral_fuse(RdBackend *be, const RdTensor *global, const RdTensor *local, int h, int w,
                        double cutoff, RdTensor *out);
void cuda_spectral_cache_free(CudaBackend *cb);
void cuda_conv2d(RdBackend *be, const RdTensor *x, int height, int width, const RdWeight *w,
                 const RdWeight *bias, int kernel, RdTensor *y);
void cuda_conv2d_down2(RdBackend *be, const RdTensor *x, int height, int width, const RdWeight *w,
                       const RdWeight *bias, RdTensor *y);
void cuda_group_norm(RdBackend *be, const RdTensor *x, int groups, const RdWeight *weight,
                     const RdWeight *bias, float eps, RdTensor *y);
void cuda_group_sums(RdBackend *be, const RdTensor *x, int groups, double *sum, double *sumsq);
void cuda_upsample_nearest2x(RdBackend *be, const RdTensor *x, int height, int width, RdTensor *y);

// Converts n elements of a weight file dtype (on the device) to bf16.
void cuda_convert_to_bf16(CudaBackend *cb, RdDType dtype, const void *src, bf16 *dst, size_t n);
// The same, times a per-tensor dequantisation scale (0: none).
void cuda_convert_to_bf16_scaled(CudaBackend *cb, RdDType dtype, const void *src, float scale,
                                 bf16 *dst, size_t n);
