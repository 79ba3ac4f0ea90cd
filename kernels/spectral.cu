// PSF on the GPU with cuFFT, same algebra as engine/cpu/spectral.c:
//   IFFT(M F(g) + (1 - M) F(l)) = l + IFFT(M F(g - l)),
// one batched R2C over every channel of the h x w patch (token-major data: element (y, x, ch) at
// ((y * w + x) * channels + ch), so stride = channels, distance = 1), the mask applied to the
// half spectrum, one C2R, then out = l + d / (h w). All-zero and all-one masks are copies.
// Plans and their f32 buffers are cached per (h, w, channels).
#include <math.h>

#include "for_each.cuh"

typedef struct {
    int h, w, channels;
    cufftHandle forward, inverse;
    float *real;            // [h * w, channels]
    cufftComplex *spectrum; // [h * (w / 2 + 1), channels]
} SpectralPlan;

struct SpectralCache {
    GPtrArray *plans;
};

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
    GError *error = NULL;
    p->real = (float *)cuda_try_alloc(cb, sizeof(float) * h * w * channels, "a PSF buffer", &error);
    if (p->real)
        p->spectrum = (cufftComplex *)cuda_try_alloc(cb, sizeof(cufftComplex) * h * wc * channels,
                                                     "a PSF spectrum", &error);
    if (!p->spectrum)
        cuda_fatal("spectral_fuse", error->message, __FILE__, __LINE__);
    // A 1 x w grid is a 1-D transform (callers turn h x 1 into 1 x h): no size-1 axes for cuFFT.
    const int rank = h == 1 ? 1 : 2;
    int n[2] = {h, w}, real_embed[2] = {h, w}, spectrum_embed[2] = {h, wc};
    int *n_r = n + (2 - rank), *re_r = real_embed + (2 - rank), *se_r = spectrum_embed + (2 - rank);
    cufftCheck(cufftPlanMany(&p->forward, rank, n_r, re_r, channels, 1, se_r, channels, 1,
                             CUFFT_R2C, channels));
    cufftCheck(cufftPlanMany(&p->inverse, rank, n_r, se_r, channels, 1, re_r, channels, 1,
                             CUFFT_C2R, channels));
    cufftCheck(cufftSetStream(p->forward, cb->stream));
    cufftCheck(cufftSetStream(p->inverse, cb->stream));
    g_ptr_array_add(cb->ffts->plans, p);
    return p;
}

void cuda_spectral_cache_free(CudaBackend *cb)
{
    if (!cb->ffts)
        return;
    for (guint i = 0; i < cb->ffts->plans->len; i++) {
        SpectralPlan *p = (SpectralPlan *)cb->ffts->plans->pdata[i];
        cufftDestroy(p->forward);
        cufftDestroy(p->inverse);
        cuda_free(cb, p->real);
        cuda_free(cb, p->spectrum);
        g_free(p);
    }
    g_ptr_array_free(cb->ffts->plans, TRUE);
    g_free(cb->ffts);
    cb->ffts = NULL;
}

// Device twin of engine/psf_mask.c's resdit_psf_low_pass (the host decides the shortcuts with
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
    const int64_t tokens = (int64_t)h * w;
    for_each(cb, tokens, channels, Difference{dev_tensor(global), dev_tensor(local), p->real});
    cufftCheck(cufftExecR2C(p->forward, p->real, p->spectrum));
    for_each(cb, (int64_t)h * (w / 2 + 1), channels, HighCut{p->spectrum, h, w, channels, cutoff});
    cufftCheck(cufftExecC2R(p->inverse, p->spectrum, p->real));
    for_each(cb, tokens, channels,
             AddBack{dev_tensor(local), dev_tensor(out), p->real, 1.0f / (float)(h * w)});
}
