// CUDA backend entry points: device probing, the op table, memory, uploads and weights.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention_cudnn.cuh"
#include "cuda_backend.h"
#include "for_each.cuh"

#define WORKSPACE_BYTES (32u << 20)      // cuBLASLt workspace (32 MiB is what Hopper kernels want)
#define STAGING_BYTES ((size_t)64 << 20) // weight conversion chunk
#define IM2COL_BYTES ((size_t)128 << 20) // convolution band scratch (bf16 columns)

void cuda_fatal(const char *call, const char *message, const char *file, int line)
{
    fprintf(stderr, "resdit CUDA error: %s failed: %s (%s:%d)\n", call, message, file, line);
    fflush(stderr);
    abort();
}

const char *cufft_result_string(cufftResult result)
{
    switch (result) {
    case CUFFT_SUCCESS:
        return "success";
    case CUFFT_INVALID_PLAN:
        return "invalid plan";
    case CUFFT_ALLOC_FAILED:
        return "allocation failed (out of GPU memory)";
    case CUFFT_INVALID_VALUE:
        return "invalid value";
    case CUFFT_INTERNAL_ERROR:
        return "internal error";
    case CUFFT_EXEC_FAILED:
        return "execution failed";
    case CUFFT_SETUP_FAILED:
        return "setup failed";
    case CUFFT_INVALID_SIZE:
        return "invalid size";
    default:
        return "cuFFT error";
    }
}

size_t cuda_device_used(void)
{
    size_t free_bytes = 0, total_bytes = 0;
    if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return total_bytes - free_bytes;
}

void cuda_library_bytes(CudaBackend *cb, ptrdiff_t delta)
{
    if (delta < 0 && (size_t)-delta > cb->library_bytes)
        cb->library_bytes = 0;
    else
        cb->library_bytes += delta;
    cb->library_bytes_high = MAX(cb->library_bytes_high, cb->library_bytes);
}

// Gives the pool's cached blocks back to the device (after a job, under memory pressure).
static void trim_pool(CudaBackend *cb)
{
    cudaCheck(cudaStreamSynchronize(cb->stream));
    cudaCheck(cudaMemPoolTrimTo(cb->pool, 0));
}

void *cuda_try_alloc(CudaBackend *cb, size_t bytes, const char *what, GError **error)
{
    void *ptr = NULL;
    const size_t asked = bytes ? bytes : 16;
    cudaError_t err = cudaMallocFromPoolAsync(&ptr, asked, cb->pool, cb->stream);
    if (err == cudaErrorMemoryAllocation) {
        // memory pressure: what the pool caches may be in pieces too small, or other pools and
        // libraries may need it; give it back and try once more
        cudaGetLastError();
        trim_pool(cb);
        err = cudaMallocFromPoolAsync(&ptr, asked, cb->pool, cb->stream);
    }
    if (err == cudaSuccess)
        return ptr;
    cudaGetLastError(); // reset the last-error state (allocation failures are not sticky)
    size_t free_bytes = 0, total_bytes = 0;
    cudaMemGetInfo(&free_bytes, &total_bytes);
    cudaGetLastError();
    // A size beyond the whole device can come back as an invalid value: still out of memory.
    const bool out_of_memory = err == cudaErrorMemoryAllocation || bytes > total_bytes;
    g_set_error(error, RESDIT_ERROR,
                out_of_memory ? RESDIT_ERROR_OUT_OF_MEMORY : RESDIT_ERROR_BACKEND,
                "Could not allocate %.1f MiB of GPU memory for %s: %s (%.1f of %.1f MiB free); "
                "try a smaller image size or the CPU backend",
                bytes / 1048576.0, what, cudaGetErrorString(err), free_bytes / 1048576.0,
                total_bytes / 1048576.0);
    return NULL;
}

void cuda_op_fail(CudaBackend *cb, GError *error)
{
    if (!cb->error)
        cb->error = error;
    else
        g_error_free(error);
}

void *cuda_op_alloc(CudaBackend *cb, size_t bytes, const char *what)
{
    GError *error = NULL;
    void *ptr = cuda_try_alloc(cb, bytes, what, &error);
    if (!ptr)
        cuda_op_fail(cb, error);
    return ptr;
}

static gboolean cuda_check(RdBackend *be, GError **error)
{
    CudaBackend *cb = cuda_backend(be);
    if (!cb->error)
        return TRUE;
    g_propagate_error(error, cb->error);
    cb->error = NULL;
    return FALSE;
}

static void cuda_trim(RdBackend *be)
{
    trim_pool(cuda_backend(be));
}

void cuda_free(CudaBackend *cb, void *ptr)
{
    if (ptr)
        cudaCheck(cudaFreeAsync(ptr, cb->stream));
}

const bf16 *weight_device(const RdWeight *w)
{
    if (w->device_fp8) {
        fprintf(stderr, "resdit CUDA: fp8 weight %s was given to an op that takes bf16\n",
                w->name ? w->name : "(unnamed)");
        abort();
    }
    if (!w->device) {
        fprintf(stderr, "resdit CUDA: weight %s was used before weight_prepare\n",
                w->name ? w->name : "(unnamed)");
        abort();
    }
    return (const bf16 *)w->device;
}

// ---------------------------------------------------------------------------------------------
// Probing

static bool probe_device(char **reason)
{
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
        if (reason)
            *reason = g_strdup_printf("CUDA is not usable: %s (is the NVIDIA driver loaded and "
                                      "/dev/nvidia-uvm present?)",
                                      cudaGetErrorString(err));
        return false;
    }
    if (count == 0) {
        if (reason)
            *reason = g_strdup("no CUDA device found");
        return false;
    }
    int device = 0, major = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) {
        cudaGetLastError();
        if (reason)
            *reason = g_strdup("the current CUDA device cannot be queried");
        return false;
    }
    if (major < 8) {
        if (reason)
            *reason = g_strdup_printf("the CUDA device has compute capability %d.x; this backend "
                                      "needs 8.0 (Ampere) or newer",
                                      major);
        return false;
    }
    return true;
}

extern "C" gboolean rd_backend_cuda_available(char **reason)
{
    return probe_device(reason) ? TRUE : FALSE;
}

extern "C" gboolean rd_cuda_memory(guint64 *free_bytes, guint64 *total_bytes)
{
    *free_bytes = *total_bytes = 0;
    if (!probe_device(NULL))
        return FALSE;
    size_t f = 0, t = 0;
    if (cudaMemGetInfo(&f, &t) != cudaSuccess) {
        cudaGetLastError();
        return FALSE;
    }
    *free_bytes = f;
    *total_bytes = t;
    return TRUE;
}

// ---------------------------------------------------------------------------------------------
// Memory

static gboolean cuda_tensor_alloc_dtype(RdBackend *be, RdTensor *t, int64_t rows, int64_t cols,
                                        RdDType dtype)
{
    size_t bytes = (size_t)(rows * cols) * rd_dtype_size(dtype);
    t->data = cuda_op_alloc(cuda_backend(be), bytes, "a tensor");
    t->rows = rows;
    t->cols = cols;
    t->stride = cols;
    t->dtype = dtype;
    return t->data != NULL;
}

static gboolean cuda_tensor_alloc(RdBackend *be, RdTensor *t, int64_t rows, int64_t cols)
{
    return cuda_tensor_alloc_dtype(be, t, rows, cols, RD_BF16);
}

extern "C" gboolean rd_cuda_tensor_alloc_f32(RdBackend *be, RdTensor *t, int64_t rows, int64_t cols)
{
    return cuda_tensor_alloc_dtype(be, t, rows, cols, RD_F32);
}

static void cuda_tensor_free(RdBackend *be, RdTensor *t)
{
    cuda_free(cuda_backend(be), t->data);
    t->data = NULL;
}

static void cuda_upload(RdBackend *be, const float *host, RdTensor *dst)
{
    CudaBackend *cb = cuda_backend(be);
    if (dst->rows == 0 || dst->cols == 0)
        return;
    size_t pitch = (size_t)dst->cols * sizeof(float);
    if (dst->dtype == RD_F32) {
        cudaCheck(cudaMemcpy2DAsync(dst->data, (size_t)dst->stride * sizeof(float), host, pitch,
                                    pitch, (size_t)dst->rows, cudaMemcpyHostToDevice, cb->stream));
        return;
    }
    GError *error = NULL;
    float *staging = (float *)cuda_try_alloc(cb, pitch * dst->rows, "an upload", &error);
    if (!staging)
        return (void)cuda_op_fail(cb, error);
    cudaCheck(
        cudaMemcpyAsync(staging, host, pitch * dst->rows, cudaMemcpyHostToDevice, cb->stream));
    RdTensor src = {staging, dst->rows, dst->cols, dst->cols, RD_F32};
    cuda_copy(be, &src, dst);
    cuda_free(cb, staging);
}

static void cuda_download(RdBackend *be, const RdTensor *src, float *host)
{
    CudaBackend *cb = cuda_backend(be);
    if (src->rows == 0 || src->cols == 0)
        return;
    size_t pitch = (size_t)src->cols * sizeof(float);
    if (src->dtype == RD_F32) {
        cudaCheck(cudaMemcpy2DAsync(host, pitch, src->data, (size_t)src->stride * sizeof(float),
                                    pitch, (size_t)src->rows, cudaMemcpyDeviceToHost, cb->stream));
    } else {
        GError *error = NULL;
        float *staging = (float *)cuda_try_alloc(cb, pitch * src->rows, "a download", &error);
        if (!staging) { // the caller's buffer is left as it was; rd_backend_check reports why
            cuda_op_fail(cb, error);
            return;
        }
        RdTensor dst = {staging, src->rows, src->cols, src->cols, RD_F32};
        cuda_copy(be, src, &dst);
        cudaCheck(
            cudaMemcpyAsync(host, staging, pitch * src->rows, cudaMemcpyDeviceToHost, cb->stream));
        cuda_free(cb, staging);
    }
    cudaCheck(cudaStreamSynchronize(cb->stream));
}

static void cuda_synchronize(RdBackend *be)
{
    cudaCheck(cudaStreamSynchronize(cuda_backend(be)->stream));
}

// ---------------------------------------------------------------------------------------------
// Weights: one bf16 copy per weight, converted on the device from the file's dtype.

// Bit-exact twins of engine/dtype.c's decoders.
__device__ __forceinline__ float f16_bits_to_f32(uint32_t h)
{
    uint32_t sign = (h & 0x8000u) << 16;
    int exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    if (exp == 0)
        return (sign ? -1.0f : 1.0f) * ldexpf((float)mant, -24);
    if (exp == 31)
        return __uint_as_float(sign | 0x7f800000u | (mant << 13));
    return __uint_as_float(sign | ((uint32_t)(exp - 15 + 127) << 23) | (mant << 13));
}

__device__ __forceinline__ float e4m3_bits_to_f32(uint32_t v)
{
    float sign = (v & 0x80) ? -1.0f : 1.0f;
    int exp = (v >> 3) & 0xf;
    int mant = v & 0x7;
    if (exp == 0xf && mant == 0x7)
        return __uint_as_float(0x7fc00000u);
    if (exp == 0)
        return sign * ldexpf((float)mant, -9);
    return sign * ldexpf(1.0f + (float)mant / 8.0f, exp - 7);
}

struct ConvertToBf16 {
    const void *src;
    bf16 *dst;
    RdDType dtype;
    float scale; // per-tensor dequantisation factor (RdWeight.scale; 0 means 1)
    __device__ void operator()(int64_t, int64_t i) const
    {
        float v;
        switch (dtype) {
        case RD_F32:
            v = ((const float *)src)[i];
            break;
        case RD_F16:
            v = f16_bits_to_f32(((const uint16_t *)src)[i]);
            break;
        case RD_F8_E4M3:
            v = e4m3_bits_to_f32(((const uint8_t *)src)[i]);
            break;
        case RD_F8_E5M2:
            v = f16_bits_to_f32((uint32_t)((const uint8_t *)src)[i] << 8);
            break;
        default:
            v = __bfloat162float(((const bf16 *)src)[i]);
        }
        if (scale != 0.0f)
            v *= scale;
        dst[i] = __float2bfloat16_rn(v);
    }
};

void cuda_convert_to_bf16(CudaBackend *cb, RdDType dtype, const void *src, bf16 *dst, size_t n)
{
    cuda_convert_to_bf16_scaled(cb, dtype, src, 0.0f, dst, n);
}

void cuda_convert_to_bf16_scaled(CudaBackend *cb, RdDType dtype, const void *src, float scale,
                                 bf16 *dst, size_t n)
{
    for_each(cb, 1, (int64_t)n, ConvertToBf16{src, dst, dtype, scale});
}

gboolean cuda_weight_prepare(RdBackend *be, RdWeight *w, GError **error)
{
    CudaBackend *cb = cuda_backend(be);
    const char *name = w->name ? w->name : "(unnamed)";
    if (w->device)
        return TRUE;
    if (!w->host) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL, "Weight %s has no data", name);
        return FALSE;
    }
    switch (w->dtype) {
    case RD_F32:
    case RD_F16:
    case RD_BF16:
    case RD_F8_E4M3:
    case RD_F8_E5M2:
        break;
    default:
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                    "Weight %s has dtype %s, which is not a floating-point type", name,
                    rd_dtype_name(w->dtype));
        return FALSE;
    }
    const size_t n = (size_t)(w->rows * w->cols);
    g_autofree char *what = g_strdup_printf("weight %s", name);
    bf16 *dst = (bf16 *)cuda_try_alloc(cb, n * sizeof(bf16), what, error);
    if (!dst)
        return FALSE;
    const gboolean scaled = w->scale != 0.0f && w->scale != 1.0f;
    if (w->dtype == RD_BF16 && !scaled) {
        cudaCheck(
            cudaMemcpyAsync(dst, w->host, n * sizeof(bf16), cudaMemcpyHostToDevice, cb->stream));
    } else {
        const size_t esize = rd_dtype_size(w->dtype);
        const size_t chunk = STAGING_BYTES / esize;
        void *staging = cuda_try_alloc(cb, MIN(n, chunk) * esize, what, error);
        if (!staging) {
            cuda_free(cb, dst);
            return FALSE;
        }
        for (size_t i = 0; i < n; i += chunk) {
            size_t count = MIN(chunk, n - i);
            cudaCheck(cudaMemcpyAsync(staging, (const char *)w->host + i * esize, count * esize,
                                      cudaMemcpyHostToDevice, cb->stream));
            cuda_convert_to_bf16_scaled(cb, w->dtype, staging, scaled ? w->scale : 0.0f, dst + i,
                                        count);
        }
        cuda_free(cb, staging);
    }
    // The host data may be unmapped once this returns.
    cudaCheck(cudaStreamSynchronize(cb->stream));
    w->device = dst;
    w->device_fp8 = FALSE;
    return TRUE;
}

// Uniform values offset + U(-a, a) from a counter hash (splitmix64) of (seed, index).
__global__ void random_bf16_kernel(bf16 *dst, size_t n, uint64_t seed, float a, float offset)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        uint64_t z = seed + (i + 1) * 0x9E3779B97F4A7C15ull;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        const float u = (float)(z >> 40) * (1.0f / 16777216.0f); // [0, 1)
        dst[i] = __float2bfloat16_rn(offset + a * (2.0f * u - 1.0f));
    }
}

extern "C" gboolean rd_cuda_weight_prepare_random(RdBackend *be, RdWeight *w, guint64 seed,
                                                  GError **error)
{
    CudaBackend *cb = cuda_backend(be);
    if (w->device)
        return TRUE;
    const char *name = w->name ? w->name : "(unnamed)";
    const size_t n = (size_t)(w->rows * w->cols);
    g_autofree char *what = g_strdup_printf("weight %s", name);
    bf16 *dst = (bf16 *)cuda_try_alloc(cb, MAX(n, (size_t)1) * sizeof(bf16), what, error);
    if (!dst)
        return FALSE;
    const bool vector = w->cols <= 1;
    const float a = vector ? 0.1f : sqrtf(3.0f / (float)w->cols);
    const float offset = vector && g_str_has_suffix(name, "scale") ? 1.0f : 0.0f;
    const guint64 name_seed = seed ^ ((guint64)g_str_hash(name) << 32);
    const int blocks = (int)MIN((n + 255) / 256, (size_t)cb->sm_count * 8);
    if (n > 0) {
        random_bf16_kernel<<<MAX(blocks, 1), 256, 0, cb->stream>>>(dst, n, name_seed, a, offset);
        launchCheck();
    }
    w->device = dst;
    w->device_fp8 = FALSE;
    return TRUE;
}

static void cuda_weight_release(RdBackend *be, RdWeight *w)
{
    cuda_free(cuda_backend(be), w->device);
    w->device = NULL;
    w->device_fp8 = FALSE;
}

// ---------------------------------------------------------------------------------------------
// Peak memory

extern "C" size_t rd_cuda_peak_bytes(RdBackend *be)
{
    CudaBackend *cb = cuda_backend(be);
    uint64_t high = 0;
    cudaCheck(cudaStreamSynchronize(cb->stream));
    cudaCheck(cudaMemPoolGetAttribute(cb->pool, cudaMemPoolAttrUsedMemHigh, &high));
    // The workspace, im2col bands, PSF buffers and cuFFT's work area all come from the pool (in
    // high); what cuBLAS and cuFFT allocated themselves is added.
    return (size_t)high + cb->library_bytes_high;
}

extern "C" void rd_cuda_reset_peak(RdBackend *be)
{
    CudaBackend *cb = cuda_backend(be);
    uint64_t zero = 0;
    cudaCheck(cudaStreamSynchronize(cb->stream));
    cudaCheck(cudaMemPoolSetAttribute(cb->pool, cudaMemPoolAttrUsedMemHigh, &zero));
    cb->library_bytes_high = cb->library_bytes;
}

extern "C" void rd_cuda_set_im2col_bytes(RdBackend *be, size_t bytes)
{
    cuda_backend(be)->im2col_bytes = bytes;
}

extern "C" char *rd_cuda_device_name(RdBackend *be)
{
    cudaDeviceProp prop;
    cudaCheck(cudaGetDeviceProperties(&prop, cuda_backend(be)->device));
    return g_strdup_printf("%s (sm_%d%d, %d SMs, %.1f GiB)", prop.name, prop.major, prop.minor,
                           prop.multiProcessorCount, prop.totalGlobalMem / 1073741824.0);
}

extern "C" char *rd_backend_cuda_attention(RdBackend *be)
{
    RdCudaCudnnState state;
    return cudnn_attention_describe(cuda_backend(be), &state);
}

static bool fp8_gemm_allowed(int compute_capability)
{
    const char *env = g_getenv("RESDIT_FP8_GEMM");
    return compute_capability >= 89 && !(env && strcmp(env, "0") == 0);
}

extern "C" gboolean rd_backend_fp8_gemm(RdBackend *be)
{
    return strcmp(be->name, "cuda") == 0 && cuda_backend(be)->fp8_gemm;
}

extern "C" gboolean rd_cuda_device_fp8_gemm(void)
{
    int device = 0, major = 0, minor = 0;
    if (!probe_device(NULL) || cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) != cudaSuccess) {
        cudaGetLastError();
        return FALSE;
    }
    return fp8_gemm_allowed(major * 10 + minor);
}

extern "C" char *rd_backend_cuda_fp8(RdBackend *be)
{
    const CudaBackend *cb = cuda_backend(be);
    const char *note = cb->fp8_check_note ? cb->fp8_check_note : "first-use check not run yet";
    if (cb->fp8_check == 2)
        return g_strdup_printf("widened to bf16 before each GEMM (the fp8 GEMMs' first-use check "
                               "failed: %s)",
                               note);
    if (cb->fp8_gemm)
        return g_strdup_printf("multiplied in fp8 (cuBLASLt, sm_%d, activations scaled per "
                               "tensor; %s)",
                               cb->compute_capability, note);
    if (cb->compute_capability >= 89)
        return g_strdup("widened to bf16 before each GEMM (RESDIT_FP8_GEMM=0)");
    return g_strdup_printf("widened to bf16 before each GEMM (fp8 GEMMs need sm_89; this is sm_%d)",
                           cb->compute_capability);
}

extern "C" RdCudaCudnnState rd_cuda_cudnn_state(RdBackend *be, char **why)
{
    RdCudaCudnnState state;
    char *text = cudnn_attention_describe(cuda_backend(be), &state);
    if (why)
        *why = text;
    else
        g_free(text);
    return state;
}

extern "C" guint64 rd_cuda_cudnn_attention_calls(RdBackend *be)
{
    return cudnn_attention_calls(cuda_backend(be));
}

extern "C" void rd_cuda_set_attention_path(RdBackend *be, RdCudaAttentionPath path)
{
    cuda_backend(be)->attention_path = path == RD_CUDA_ATTENTION_OURS    ? ATTENTION_OURS
                                       : path == RD_CUDA_ATTENTION_CUDNN ? ATTENTION_CUDNN
                                                                         : ATTENTION_AUTO;
}

extern "C" void rd_cuda_set_mma_variant(RdBackend *be, RdCudaMmaVariant variant)
{
    cuda_backend(be)->mma_variant = variant;
    cuda_backend(be)->mma_check = 0;
}

// ---------------------------------------------------------------------------------------------
// Creation

static void cuda_destroy(RdBackend *be)
{
    CudaBackend *cb = cuda_backend(be);
    cudaStreamSynchronize(cb->stream);
    cudnn_attention_free(cb);
    cuda_spectral_cache_free(cb);
    cuda_linear_cache_free(cb);
    cuda_free(cb, cb->workspace);
    cuda_free(cb, cb->fp8_scratch);
    g_free(cb->fp8_check_note);
    g_free(cb->mma_check_note);
    cudaStreamSynchronize(cb->stream);
    if (cb->lt)
        cublasLtDestroy(cb->lt);
    if (cb->blas)
        cublasDestroy(cb->blas);
    if (cb->pool) {
        cudaMemPoolTrimTo(cb->pool, 0);
        cudaMemPoolDestroy(cb->pool);
    }
    cudaStreamDestroy(cb->stream);
    g_clear_error(&cb->error);
    g_free(cb);
}

static void fill_table(RdBackend *be)
{
    be->name = "cuda";
    be->tensor_alloc = cuda_tensor_alloc;
    be->table_alloc = rd_cuda_tensor_alloc_f32;
    be->tensor_free = cuda_tensor_free;
    be->upload = cuda_upload;
    be->download = cuda_download;
    be->weight_prepare = cuda_weight_prepare;
    be->weight_prepare_fp8 = cuda_weight_prepare_fp8;
    be->weight_release = cuda_weight_release;
    cuda_fill_stream_ops(be);
    be->synchronize = cuda_synchronize;
    be->check = cuda_check;
    be->trim = cuda_trim;
    be->linear = cuda_linear;
    be->layer_norm = cuda_layer_norm;
    be->rms_norm = cuda_rms_norm;
    be->modulate = cuda_modulate;
    be->gated_add = cuda_gated_add;
    be->mul = cuda_mul;
    be->fill = cuda_fill;
    be->scale_add = cuda_scale_add;
    be->unary = cuda_unary;
    be->copy = cuda_copy;
    be->rope = cuda_rope;
    be->attention = cuda_attention;
    be->grid_gather = cuda_grid_gather;
    be->grid_splice = cuda_grid_splice;
    be->spectral_fuse = cuda_spectral_fuse;
    be->conv2d = cuda_conv2d;
    be->conv2d_down2 = cuda_conv2d_down2;
    be->group_norm = cuda_group_norm;
    be->group_sums = cuda_group_sums;
    be->upsample_nearest2x = cuda_upsample_nearest2x;
    be->destroy = cuda_destroy;
}

static gboolean runtime_ok(cudaError_t err, const char *what, GError **error)
{
    if (err == cudaSuccess)
        return TRUE;
    g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_BACKEND, "CUDA setup failed at %s: %s", what,
                cudaGetErrorString(err));
    return FALSE;
}

static gboolean blas_ok(cublasStatus_t status, const char *what, GError **error)
{
    if (status == CUBLAS_STATUS_SUCCESS)
        return TRUE;
    g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_BACKEND, "cuBLAS setup failed at %s: %s", what,
                cublasGetStatusString(status));
    return FALSE;
}

extern "C" RdBackend *rd_backend_cuda_new(GError **error)
{
    char *reason = NULL;
    if (!probe_device(&reason)) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_BACKEND, "%s", reason);
        g_free(reason);
        return NULL;
    }
    CudaBackend *cb = g_new0(CudaBackend, 1);
    fill_table(&cb->base);
    cb->attention_path = attention_path_from_env();
    cb->mma_variant = mma_variant_from_env();
    cudaDeviceProp prop;
    // Freed blocks stay in the pool while a job runs (activations come and go every layer);
    // rd_backend_trim gives them back after each job and under memory pressure.
    uint64_t keep_all = UINT64_MAX;
    int optin = 0;
    cudaMemPoolProps pool_props;
    memset(&pool_props, 0, sizeof pool_props);
    pool_props.allocType = cudaMemAllocationTypePinned;
    pool_props.location.type = cudaMemLocationTypeDevice;
    gboolean ok =
        runtime_ok(cudaGetDevice(&cb->device), "cudaGetDevice", error) &&
        runtime_ok(cudaGetDeviceProperties(&prop, cb->device), "device properties", error) &&
        runtime_ok(
            cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, cb->device),
            "shared memory limit", error) &&
        runtime_ok(cudaStreamCreateWithFlags(&cb->stream, cudaStreamNonBlocking), "stream creation",
                   error);
    // a private pool: its high-water mark is ours alone, and trimming it frees only ours
    pool_props.location.id = cb->device;
    ok = ok && runtime_ok(cudaMemPoolCreate(&cb->pool, &pool_props), "memory pool", error) &&
         runtime_ok(cudaMemPoolSetAttribute(cb->pool, cudaMemPoolAttrReleaseThreshold, &keep_all),
                    "memory pool setup", error);
    // what the libraries allocate for their handles counts in the peak figure
    const size_t used_before = ok ? cuda_device_used() : 0;
    ok = ok && blas_ok(cublasLtCreate(&cb->lt), "cublasLtCreate", error) &&
         blas_ok(cublasCreate(&cb->blas), "cublasCreate", error) &&
         blas_ok(cublasSetStream(cb->blas, cb->stream), "cublasSetStream", error);
    if (ok)
        cuda_library_bytes(cb, (ptrdiff_t)cuda_device_used() - (ptrdiff_t)used_before);
    if (ok) {
        cb->sm_count = prop.multiProcessorCount;
        cb->compute_capability = prop.major * 10 + prop.minor;
        cb->fp8_gemm = fp8_gemm_allowed(cb->compute_capability);
        cb->smem_optin = (size_t)optin;
        cb->workspace_size = WORKSPACE_BYTES;
        cb->im2col_bytes = IM2COL_BYTES;
        cb->workspace = cuda_try_alloc(cb, cb->workspace_size, "the cuBLASLt workspace", error);
        ok = cb->workspace != NULL &&
             blas_ok(cublasSetWorkspace(cb->blas, cb->workspace, cb->workspace_size),
                     "cublasSetWorkspace", error);
    }
    if (!ok) {
        if (cb->stream)
            cuda_destroy(&cb->base);
        else
            g_free(cb);
        return NULL;
    }
    return &cb->base;
}
