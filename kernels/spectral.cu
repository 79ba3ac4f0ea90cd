// PSF on the GPU with cuFFT, same algebra as engine/cpu/spectral.c:
//   IFFT(M F(g) + (1 - M) F(l)) = l + IFFT(M F(g - l)),
// one batched R2C over every channel of the h x w patch (token-major data: element (y, x, ch) at
// ((y * w + x) * channels + ch), so stride = channels, distance = 1), the mask applied to the
// half spectrum, one C2R, then out = l + d / (h w). All-zero and all-one masks are copies.
// Plans and their f32 buffers are cached per (h, w, channels); the plans share one work area
// from the backend's pool (cufftSetAutoAllocation(0) + cufftSetWorkArea), so that no cuFFT
// allocation can fail outside the pool's error path.
#include <math.h>

#include "for_each.cuh"

typedef struct {
    int h, w, channels;
    cufftHandle forward, inverse;
    bool have_forward, have_inverse; // handles are plain ints: 0 may be a valid one
    float *real;                     // [h * w, channels]
    cufftComplex *spectrum;          // [h * (w / 2 + 1), channels]
} SpectralPlan;

struct SpectralCache {
    GPtrArray *plans;
};

// A cuFFT failure while planning, as a GError (out of memory when cuFFT says so).
static void plan_error(CudaBackend *cb, cufftResult r, const char *what, size_t bytes)
{
    size_t free_bytes = 0, total_bytes = 0;
    cudaMemGetInfo(&free_bytes, &total_bytes);
    cudaGetLastError();
    GError *error = NULL;
    g_set_error(&error, RESDIT_ERROR,
                r == CUFFT_ALLOC_FAILED ? RESDIT_ERROR_OUT_OF_MEMORY : RESDIT_ERROR_BACKEND,
                "cuFFT could not plan %s (%.1f MiB): %s (%.1f of %.1f MiB of GPU memory free)",
                what, bytes / 1048576.0, cufft_result_string(r), free_bytes / 1048576.0,
                total_bytes / 1048576.0);
    cuda_op_fail(cb, error);
}

static void plan_destroy(CudaBackend *cb, SpectralPlan *p)
{
    const size_t before = cuda_device_used();
    if (p->have_forward)
        cufftDestroy(p->forward);
    if (p->have_inverse)
        cufftDestroy(p->inverse);
    cuda_library_bytes(cb, (ptrdiff_t)cuda_device_used() - (ptrdiff_t)before);
    cuda_free(cb, p->real);
    cuda_free(cb, p->spectrum);
    g_free(p);
}

// One plan without its own work area (cufftSetAutoAllocation(0)); *work its size.
static bool make_plan(CudaBackend *cb, cufftHandle *plan, bool *made, int rank, int *n,
                      int *in_embed, int *out_embed, int channels, cufftType type, size_t *work)
{
    cufftResult r = cufftCreate(plan);
    *made = r == CUFFT_SUCCESS;
    if (r == CUFFT_SUCCESS)
        r = cufftSetAutoAllocation(*plan, 0);
    if (r == CUFFT_SUCCESS)
        r = cufftMakePlanMany(*plan, rank, n, in_embed, channels, 1, out_embed, channels, 1, type,
                              channels, work);
    if (r == CUFFT_SUCCESS)
        r = cufftSetStream(*plan, cb->stream);
    if (r != CUFFT_SUCCESS)
        plan_error(cb, r,
                   type == CUFFT_R2C ? "the PSF's forward transform"
                                     : "the PSF's inverse transform",
                   *work);
    return r == CUFFT_SUCCESS;
}

// The shared work area, grown from the pool to at least bytes and handed to every plan.
static bool work_area(CudaBackend *cb, size_t bytes, SpectralPlan *extra)
{
    if (bytes <= cb->fft_work_size && cb->fft_work) {
        if (extra) {
            cufftCheck(cufftSetWorkArea(extra->forward, cb->fft_work));
            cufftCheck(cufftSetWorkArea(extra->inverse, cb->fft_work));
        }
        return true;
    }
    void *area = cuda_op_alloc(cb, bytes, "cuFFT's work area");
    if (!area)
        return false;
    cuda_free(cb, cb->fft_work); // stream-ordered: transforms queued before still see it
    cb->fft_work = area;
    cb->fft_work_size = bytes;
    for (guint i = 0; cb->ffts && i < cb->ffts->plans->len; i++) {
        SpectralPlan *p = (SpectralPlan *)cb->ffts->plans->pdata[i];
        cufftCheck(cufftSetWorkArea(p->forward, area));
        cufftCheck(cufftSetWorkArea(p->inverse, area));
    }
    if (extra) {
        cufftCheck(cufftSetWorkArea(extra->forward, area));
        cufftCheck(cufftSetWorkArea(extra->inverse, area));
    }
    return true;
}

// NULL (with the failure kept for rd_backend_check) when memory runs out.
static SpectralPlan *plan_get(CudaBackend *cb, int h, int w, int channels)
{
    if (!cb->ffts) {
        cb->ffts = g_new0(struct SpectralCache, 1);
        cb->ffts->plans = g_ptr_array_new();
    }
    for (guint i = 0; i < cb->ffts->plans->len; i++) {
        SpectralPlan *p = (SpectralPlan *)cb->ffts->plans->pdata[i];
        if (p->h == h && p->w == w && p->channels == channels)
            return p;
    }
    SpectralPlan *p = g_new0(SpectralPlan, 1);
    p->h = h;
    p->w = w;
    p->channels = channels;
    const int wc = w / 2 + 1;
    p->real = (float *)cuda_op_alloc(cb, sizeof(float) * h * w * channels, "a PSF buffer");
    if (p->real)
        p->spectrum = (cufftComplex *)cuda_op_alloc(cb, sizeof(cufftComplex) * h * wc * channels,
                                                    "a PSF spectrum");
    if (!p->spectrum) {
        plan_destroy(cb, p);
        return NULL;
    }
    // A 1 x w grid is a 1-D transform (callers turn h x 1 into 1 x h): no size-1 axes for cuFFT.
    const int rank = h == 1 ? 1 : 2;
    int n[2] = {h, w}, real_embed[2] = {h, w}, spectrum_embed[2] = {h, wc};
    int *n_r = n + (2 - rank), *re_r = real_embed + (2 - rank), *se_r = spectrum_embed + (2 - rank);
    // cuFFT's own allocations (twiddles, plan data) count in the peak figure; its work areas
    // come from the pool
    const size_t before = cuda_device_used();
    size_t work_forward = 0, work_inverse = 0;
    bool ok = make_plan(cb, &p->forward, &p->have_forward, rank, n_r, re_r, se_r, channels,
                        CUFFT_R2C, &work_forward) &&
              make_plan(cb, &p->inverse, &p->have_inverse, rank, n_r, se_r, re_r, channels,
                        CUFFT_C2R, &work_inverse);
    cuda_library_bytes(cb, (ptrdiff_t)cuda_device_used() - (ptrdiff_t)before);
    ok = ok && work_area(cb, MAX(MAX(work_forward, work_inverse), (size_t)16), p);
    if (!ok) {
        plan_destroy(cb, p);
        return NULL;
    }
    g_ptr_array_add(cb->ffts->plans, p);
    return p;
}

void cuda_spectral_cache_free(CudaBackend *cb)
{
    if (cb->ffts) {
        for (guint i = 0; i < cb->ffts->plans->len; i++)
            plan_destroy(cb, (SpectralPlan *)cb->ffts->plans->pdata[i]);
        g_ptr_array_free(cb->ffts->plans, TRUE);
        g_free(cb->ffts);
        cb->ffts = NULL;
    }
    cuda_free(cb, cb->fft_work);
    cb->fft_work = NULL;
    cb->fft_work_size = 0;
}

// Device twin of engine/resdit/psf_mask.c's resdit_psf_low_pass (the host decides the shortcuts with
// resdit_psf_mask_kind itself); same double arithmetic, so the same bins.
__device__ static inline double normalised_frequency(int k, int n)
{
    if (n == 1)
        return 0.0;
    int signed_k = k < (n + 1) / 2 ? k : k - n;
    return (double)signed_k / (n / 2.0);
}

__device__ static inline bool in_low_pass(int ky, int kx, int h, int w, double cutoff)
{
    double fy = normalised_frequency(ky, h), fx = normalised_frequency(kx, w);
    return sqrt(fy * fy + fx * fx) < cutoff;
}

struct Difference {
    DevTensor global, local;
    float *real;
    __device__ void operator()(int64_t t, int64_t ch) const
    {
        real[t * global.cols + ch] = dev_load(global, t, ch) - dev_load(local, t, ch);
    }
};

struct HighCut {
    cufftComplex *spectrum;
    int h, w, channels;
    double cutoff;
    __device__ void operator()(int64_t bin, int64_t ch) const
    {
        const int wc = w / 2 + 1;
        const int ky = (int)(bin / wc), kx = (int)(bin % wc);
        if (!in_low_pass(ky, kx, h, w, cutoff))
            spectrum[bin * channels + ch] = make_cuFloatComplex(0.0f, 0.0f);
    }
};

struct AddBack {
    DevTensor local, out;
    const float *real;
    float norm;
    __device__ void operator()(int64_t t, int64_t ch) const
    {
        dev_store(out, t, ch, dev_load(local, t, ch) + real[t * local.cols + ch] * norm);
    }
};

void cuda_spectral_fuse(RdBackend *be, const RdTensor *global, const RdTensor *local, int h, int w,
                        double cutoff, RdTensor *out)
{
    CudaBackend *cb = cuda_backend(be);
    g_assert(global->rows == (int64_t)h * w && local->rows == global->rows);
    g_assert(local->cols == global->cols);
    g_assert(out->rows == global->rows && out->cols == global->cols);
    const int channels = (int)global->cols;
    const ResditPsfMaskKind kind = resdit_psf_mask_kind(h, w, cutoff);
    if (kind != RESDIT_PSF_MASK_MIXED) {
        cuda_copy(be, kind == RESDIT_PSF_MASK_ALL ? global : local, out);
        return;
    }
    if (w == 1) { // same tokens and the same mask as a 1 x h grid
        w = h;
        h = 1;
    }
    SpectralPlan *p = plan_get(cb, h, w, channels);
    if (!p)
        return; // out of memory: rd_backend_check reports it
    const int64_t tokens = (int64_t)h * w;
    for_each(cb, tokens, channels, Difference{dev_tensor(global), dev_tensor(local), p->real});
    cufftCheck(cufftExecR2C(p->forward, p->real, p->spectrum));
    for_each(cb, (int64_t)h * (w / 2 + 1), channels, HighCut{p->spectrum, h, w, channels, cutoff});
    cufftCheck(cufftExecC2R(p->inverse, p->spectrum, p->real));
    for_each(cb, tokens, channels,
             AddBack{dev_tensor(local), dev_tensor(out), p->real, 1.0f / (float)(h * w)});
}
