// fp8 E4M3 weights on the device: kept as one byte per element with a per-tensor scale
// (engine/fp8_quant.h: the file's E4M3 codes as they are, other matrices quantised at load with
// amax / 448). linear.cu multiplies them in fp8 on sm_89+ (the activations quantised per tensor
// by the same kernels) or dequantises them to a bf16 scratch just before each GEMM.
#include <string.h>

#include "cuda_backend.h"
#include "for_each.cuh"

extern "C" {
#include "fp8_quant.h"
}

static int grid_for(const CudaBackend *cb, size_t n)
{
    const size_t blocks = (n + 255) / 256, most = (size_t)cb->sm_count * 8;
    return (int)MAX(MIN(blocks, most), (size_t)1);
}

// amax of the finite |values| of a [rows, cols] tensor with a row stride, as f32 bits:
// non-negative floats order as their bits.
__global__ void amax_kernel(const bf16 *src, int64_t rows, int64_t cols, int64_t stride,
                            unsigned int *amax_bits)
{
    const int64_t n = rows * cols;
    float m = 0.0f;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        const float a = fabsf(__bfloat162float(src[i / cols * stride + i % cols]));
        if (isfinite(a) && a > m)
            m = a;
    }
    for (int offset = 16; offset > 0; offset >>= 1)
        m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, offset));
    if ((threadIdx.x & 31) == 0)
        atomicMax(amax_bits, __float_as_uint(m));
}

// The scale from the amax, on the device (no round trip to the host between the two kernels).
__global__ void scale_kernel(const unsigned int *amax_bits, float *scale)
{
    *scale = rd_fp8_scale_of_amax(__uint_as_float(*amax_bits));
}

// Codes of a strided tensor into a dense [rows, cols] array: the same f32 division and encoder
// as the reference (fp8_quant.c).
__global__ void quantise_kernel(const bf16 *src, int64_t rows, int64_t cols, int64_t stride,
                                const float *scale, uint8_t *dst)
{
    const int64_t n = rows * cols;
    const float s = *scale;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        dst[i] = rd_fp8_encode_e4m3(__bfloat162float(src[i / cols * stride + i % cols]) / s);
}

__global__ void dequantise_kernel(const uint8_t *src, size_t n, float scale, bf16 *dst)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const uint32_t v = src[i];
        const int exp = (v >> 3) & 0xf, mant = v & 0x7;
        // codes are never NaN here (fp8_quant.h; a file's NaN code reads as 0)
        float f = exp == 0 ? ldexpf((float)mant, -9) : ldexpf(1.0f + mant / 8.0f, exp - 7);
        if (exp == 0xf && mant == 0x7)
            f = 0.0f;
        dst[i] = __float2bfloat16_rn((v & 0x80 ? -f : f) * scale);
    }
}

// The backend's two scratch floats (amax bits, scale), made on first use.
static float *fp8_scratch(CudaBackend *cb, GError **error)
{
    if (!cb->fp8_scratch)
        cb->fp8_scratch = (float *)cuda_try_alloc(cb, 2 * sizeof(float), "fp8 scale", error);
    return cb->fp8_scratch;
}

const float *cuda_fp8_scale_slot(CudaBackend *cb, GError **error)
{
    float *scratch = fp8_scratch(cb, error);
    return scratch ? scratch + 1 : NULL;
}

bool cuda_quantise_e4m3(CudaBackend *cb, const RdTensor *x, uint8_t *codes, const float **scale,
                        GError **error)
{
    float *scratch = fp8_scratch(cb, error);
    if (!scratch)
        return false;
    unsigned int *amax = (unsigned int *)scratch;
    const size_t n = (size_t)(x->rows * x->cols);
    cudaCheck(cudaMemsetAsync(amax, 0, sizeof(unsigned int), cb->stream));
    amax_kernel<<<grid_for(cb, n), 256, 0, cb->stream>>>((const bf16 *)x->data, x->rows, x->cols,
                                                         x->stride, amax);
    launchCheck();
    scale_kernel<<<1, 1, 0, cb->stream>>>(amax, scratch + 1);
    launchCheck();
    quantise_kernel<<<grid_for(cb, n), 256, 0, cb->stream>>>((const bf16 *)x->data, x->rows,
                                                             x->cols, x->stride, scratch + 1, codes);
    launchCheck();
    *scale = scratch + 1;
    return true;
}

// Quantises n contiguous bf16 values: codes into dst, the scale returned (synchronises).
static bool quantise(CudaBackend *cb, const bf16 *src, size_t n, uint8_t *dst, float *scale,
                     GError **error)
{
    RdTensor t = {(void *)src, 1, (int64_t)n, (int64_t)n, RD_BF16};
    const float *device_scale = NULL;
    if (!cuda_quantise_e4m3(cb, &t, dst, &device_scale, error))
        return false;
    cudaCheck(cudaMemcpyAsync(scale, device_scale, sizeof(float), cudaMemcpyDeviceToHost,
                              cb->stream));
    cudaCheck(cudaStreamSynchronize(cb->stream));
    return true;
}

gboolean cuda_weight_prepare_fp8(RdBackend *be, RdWeight *w, GError **error)
{
    CudaBackend *cb = cuda_backend(be);
    if (w->device)
        return TRUE;
    if (w->cols <= 1 || (w->dtype != RD_F8_E4M3 && w->dtype != RD_F8_E5M2 && w->dtype != RD_BF16 &&
                         w->dtype != RD_F16 && w->dtype != RD_F32))
        return cuda_weight_prepare(be, w, error); // vectors (and its message for other dtypes)
    if (!w->host) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL, "Weight %s has no data",
                    w->name ? w->name : "(unnamed)");
        return FALSE;
    }
    const size_t n = (size_t)(w->rows * w->cols);
    g_autofree char *what = g_strdup_printf("weight %s (fp8)", w->name ? w->name : "(unnamed)");
    uint8_t *codes = (uint8_t *)cuda_try_alloc(cb, n, what, error);
    if (!codes)
        return FALSE;
    float scale = 1.0f;
    if (w->dtype == RD_F8_E4M3) {
        cudaCheck(cudaMemcpyAsync(codes, w->host, n, cudaMemcpyHostToDevice, cb->stream));
        scale = w->scale != 0.0f ? w->scale : 1.0f;
    } else {
        // the bf16 copy weight_prepare makes (the file's dtype and scale applied), quantised
        RdWeight wide = *w;
        wide.device = NULL;
        bool ok = cuda_weight_prepare(be, &wide, error) &&
                  quantise(cb, (const bf16 *)wide.device, n, codes, &scale, error);
        if (wide.device)
            cuda_free(cb, wide.device);
        if (!ok) {
            cuda_free(cb, codes);
            return FALSE;
        }
    }
    cudaCheck(cudaStreamSynchronize(cb->stream)); // the host data may be unmapped after this
    w->device = codes;
    w->device_fp8 = TRUE;
    w->device_scale = scale;
    return TRUE;
}

const bf16 *cuda_weight_dequantise(CudaBackend *cb, const RdWeight *w)
{
    const size_t n = (size_t)(w->rows * w->cols);
    bf16 *dst = (bf16 *)cuda_op_alloc(cb, n * sizeof(bf16), "an fp8 weight's bf16 copy");
    if (!dst)
        return NULL;
    dequantise_kernel<<<grid_for(cb, n), 256, 0, cb->stream>>>((const uint8_t *)w->device, n,
                                                                w->device_scale, dst);
    launchCheck();
    return dst;
}

extern "C" gboolean rd_cuda_quantise_e4m3(RdBackend *be, const RdTensor *src, uint8_t *codes,
                                          float *scale, GError **error)
{
    CudaBackend *cb = cuda_backend(be);
    g_assert(src->dtype == RD_BF16);
    const size_t n = (size_t)(src->rows * src->cols);
    uint8_t *dst = (uint8_t *)cuda_try_alloc(cb, MAX(n, (size_t)1), "quantised codes", error);
    if (!dst)
        return FALSE;
    const float *device_scale = NULL;
    gboolean ok = cuda_quantise_e4m3(cb, src, dst, &device_scale, error);
    if (ok) {
        cudaCheck(cudaMemcpyAsync(codes, dst, n, cudaMemcpyDeviceToHost, cb->stream));
        cudaCheck(cudaMemcpyAsync(scale, device_scale, sizeof(float), cudaMemcpyDeviceToHost,
                                  cb->stream));
        cudaCheck(cudaStreamSynchronize(cb->stream));
    }
    cuda_free(cb, dst);
    return ok;
}

extern "C" gboolean rd_cuda_weight_prepare_random_fp8(RdBackend *be, RdWeight *w, guint64 seed,
                                                      GError **error)
{
    CudaBackend *cb = cuda_backend(be);
    if (w->device)
        return TRUE;
    RdWeight wide = *w;
    if (!rd_cuda_weight_prepare_random(be, &wide, seed, error))
        return FALSE;
    if (w->cols <= 1) { // vectors stay bf16, as weight_prepare_fp8 leaves them
        *w = wide;
        return TRUE;
    }
    const size_t n = (size_t)(w->rows * w->cols);
    g_autofree char *what = g_strdup_printf("weight %s (fp8)", w->name ? w->name : "(unnamed)");
    uint8_t *codes = (uint8_t *)cuda_try_alloc(cb, n, what, error);
    float scale = 1.0f;
    const bool ok = codes && quantise(cb, (const bf16 *)wide.device, n, codes, &scale, error);
    cuda_free(cb, wide.device);
    if (!ok) {
        cuda_free(cb, codes);
        return FALSE;
    }
    w->device = codes;
    w->device_fp8 = TRUE;
    w->device_scale = scale;
    return TRUE;
}

extern "C" gboolean rd_cuda_set_fp8_gemm(RdBackend *be, gboolean on)
{
    CudaBackend *cb = cuda_backend(be);
    cb->fp8_gemm = on && cb->compute_capability >= 89;
    return cb->compute_capability >= 89;
}

extern "C" guint64 rd_cuda_fp8_gemm_calls(RdBackend *be)
{
    return cuda_backend(be)->fp8_gemm_calls;
}

extern "C" gboolean rd_cuda_weight_codes(RdBackend *be, const RdWeight *w, uint8_t *codes)
{
    CudaBackend *cb = cuda_backend(be);
    if (!w->device || !w->device_fp8)
        return FALSE;
    cudaCheck(cudaMemcpyAsync(codes, w->device, (size_t)(w->rows * w->cols),
                              cudaMemcpyDeviceToHost, cb->stream));
    cudaCheck(cudaStreamSynchronize(cb->stream));
    return TRUE;
}
