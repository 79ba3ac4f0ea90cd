// fp8 E4M3 weights on the device: kept as one byte per element with a per-tensor scale
// (engine/fp8_quant.h: the file's E4M3 codes as they are, other matrices quantised at load with
// amax / 448), dequantised to a bf16 scratch just before each GEMM (linear.cu).
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

// amax of the finite |values| as f32 bits: non-negative floats order as their bits.
__global__ void amax_kernel(const bf16 *src, size_t n, unsigned int *amax_bits)
{
    float m = 0.0f;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const float a = fabsf(__bfloat162float(src[i]));
        if (isfinite(a) && a > m)
            m = a;
    }
    for (int offset = 16; offset > 0; offset >>= 1)
        m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, offset));
    if ((threadIdx.x & 31) == 0)
        atomicMax(amax_bits, __float_as_uint(m));
}

__global__ void quantise_kernel(const bf16 *src, size_t n, float scale, uint8_t *dst)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = rd_fp8_encode_e4m3(__bfloat162float(src[i]) / scale);
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

// Quantises n bf16 values on the device: codes into dst, the scale returned (synchronises).
static bool quantise(CudaBackend *cb, const bf16 *src, size_t n, uint8_t *dst, float *scale,
                     const char *what, GError **error)
{
    unsigned int *amax = (unsigned int *)cuda_try_alloc(cb, sizeof(unsigned int), what, error);
    if (!amax)
        return false;
    cudaCheck(cudaMemsetAsync(amax, 0, sizeof(unsigned int), cb->stream));
    amax_kernel<<<grid_for(cb, n), 256, 0, cb->stream>>>(src, n, amax);
    launchCheck();
    unsigned int bits = 0;
    cudaCheck(cudaMemcpyAsync(&bits, amax, sizeof bits, cudaMemcpyDeviceToHost, cb->stream));
    cudaCheck(cudaStreamSynchronize(cb->stream));
    cuda_free(cb, amax);
    float amax_f;
    memcpy(&amax_f, &bits, sizeof amax_f);
    *scale = rd_fp8_scale_of_amax(amax_f); // the host's f32 division, as the reference's
    quantise_kernel<<<grid_for(cb, n), 256, 0, cb->stream>>>(src, n, *scale, dst);
    launchCheck();
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
                  quantise(cb, (const bf16 *)wide.device, n, codes, &scale, what, error);
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
    g_assert(src->dtype == RD_BF16 && src->stride == src->cols);
    const size_t n = (size_t)(src->rows * src->cols);
    uint8_t *dst = (uint8_t *)cuda_try_alloc(cb, MAX(n, (size_t)1), "quantised codes", error);
    if (!dst)
        return FALSE;
    gboolean ok = quantise(cb, (const bf16 *)src->data, n, dst, scale, "quantisation", error);
    if (ok) {
        cudaCheck(cudaMemcpyAsync(codes, dst, n, cudaMemcpyDeviceToHost, cb->stream));
        cudaCheck(cudaStreamSynchronize(cb->stream));
    }
    cuda_free(cb, dst);
    return ok;
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
