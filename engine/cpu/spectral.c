/* Spectral filters on the CPU: per channel, a 2-D real FFT over an h x w token grid (FFTW, float).
 * PSF and the low-frequency noise (engine/sampler/noise_lowfreq.c) share the plans, cached per
 * (h, w, channels).
 *
 * PSF: by linearity, IFFT(M F(g) + (1 - M) F(l)) = l + IFFT(M F(g - l)), which needs one forward
 * and one inverse transform instead of two forward ones. An all-zero mask returns the local patch
 * and an all-one mask the global patch exactly. */
#include "cpu_ops.h"
#include "psf_mask.h"

#include <fftw3.h>
#include <math.h>
#include <string.h>

typedef struct {
    int h, w, channels;
    fftwf_plan forward, inverse;
    float *real;
    fftwf_complex *spectrum;
} SpectralPlan;

static GMutex plan_lock;
static GMutex exec_lock; /* one plan executes at a time: the buffers belong to the plan */
static GPtrArray *plan_cache;

static SpectralPlan *plan_get(int h, int w, int channels)
{
    g_mutex_lock(&plan_lock);
    if (!plan_cache)
        plan_cache = g_ptr_array_new();
    for (guint i = 0; i < plan_cache->len; i++) {
        SpectralPlan *p = plan_cache->pdata[i];
        if (p->h == h && p->w == w && p->channels == channels) {
            g_mutex_unlock(&plan_lock);
            return p;
        }
    }
    SpectralPlan *p = g_new0(SpectralPlan, 1);
    p->h = h;
    p->w = w;
    p->channels = channels;
    int n[2] = {h, w};
    int wc = w / 2 + 1;
    p->real = fftwf_alloc_real((size_t)h * w * channels);
    p->spectrum = fftwf_alloc_complex((size_t)h * wc * channels);
    /* Token-major data: element (y, x, ch) at ((y * w + x) * channels + ch). */
    p->forward = fftwf_plan_many_dft_r2c(2, n, channels, p->real, NULL, channels, 1, p->spectrum,
                                         NULL, channels, 1, FFTW_ESTIMATE);
    p->inverse = fftwf_plan_many_dft_c2r(2, n, channels, p->spectrum, NULL, channels, 1, p->real,
                                         NULL, channels, 1, FFTW_ESTIMATE);
    g_ptr_array_add(plan_cache, p);
    g_mutex_unlock(&plan_lock);
    return p;
}

/* p->real = IFFT(M F(p->real)) * h * w (FFTW leaves the 1 / (h w) to the caller), M = 1 on
 * the bins keep() accepts. Holds exec_lock. */
static void filter_in_plan(SpectralPlan *p, CpuSpectralKeep keep, gconstpointer data)
{
    fftwf_execute(p->forward);
    const int wc = p->w / 2 + 1;
    for (int ky = 0; ky < p->h; ky++)
        for (int kx = 0; kx < wc; kx++) {
            if (keep(ky, kx, p->h, p->w, data))
                continue;
            fftwf_complex *bin = p->spectrum + ((int64_t)ky * wc + kx) * p->channels;
            memset(bin, 0, sizeof(fftwf_complex) * (size_t)p->channels);
        }
    fftwf_execute(p->inverse);
}

void cpu_spectral_filter(const float *x, int h, int w, int channels, CpuSpectralKeep keep,
                         gconstpointer data, float *out)
{
    SpectralPlan *p = plan_get(h, w, channels);
    const size_t n = (size_t)h * w * channels;
    g_mutex_lock(&exec_lock);
    memcpy(p->real, x, n * sizeof(float));
    filter_in_plan(p, keep, data);
    const float norm = 1.0f / (float)(h * w);
    for (size_t i = 0; i < n; i++)
        out[i] = p->real[i] * norm;
    g_mutex_unlock(&exec_lock);
}

static gboolean psf_keep(int ky, int kx, int h, int w, gconstpointer cutoff)
{
    return resdit_psf_low_pass(ky, kx, h, w, *(const double *)cutoff);
}

void cpu_spectral_fuse(RdBackend *be, const RdTensor *global, const RdTensor *local, int h, int w,
                       double cutoff, RdTensor *out)
{
    g_assert(global->rows == (int64_t)h * w && local->rows == global->rows);
    g_assert(out->rows == global->rows && out->cols == global->cols);
    const int channels = (int)global->cols;
    ResditPsfMaskKind kind = resdit_psf_mask_kind(h, w, cutoff);
    if (kind != RESDIT_PSF_MASK_MIXED) {
        cpu_copy(be, kind == RESDIT_PSF_MASK_ALL ? global : local, out);
        return;
    }
    SpectralPlan *p = plan_get(h, w, channels);
    g_mutex_lock(&exec_lock);
    for (int64_t t = 0; t < global->rows; t++) {
        const float *g = &RD_AT(global, t, 0), *l = &RD_AT(local, t, 0);
        float *dst = p->real + t * channels;
        for (int ch = 0; ch < channels; ch++)
            dst[ch] = g[ch] - l[ch];
    }
    filter_in_plan(p, psf_keep, &cutoff);
    const float norm = 1.0f / (float)(h * w);
    for (int64_t t = 0; t < global->rows; t++) {
        const float *l = &RD_AT(local, t, 0), *d = p->real + t * channels;
        float *o = &RD_AT(out, t, 0);
        for (int ch = 0; ch < channels; ch++)
            o[ch] = l[ch] + d[ch] * norm;
    }
    g_mutex_unlock(&exec_lock);
}
