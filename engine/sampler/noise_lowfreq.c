#include "noise_lowfreq.h"

#include "cpu_ops.h"

#include <fftw3.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Signed integer frequency of DFT bin i of n (fftfreq order times n). */
static int bin_frequency(int i, int n)
{
    return i <= n / 2 ? i : i - n;
}

/* The frequencies a grid of base points holds: |k| <= base / 2 (for an even base both +-base/2,
 * one bin on the base grid itself, so at the base size the band is every bin). */
static gboolean in_band(int k, int base)
{
    return 2 * abs(k) <= base;
}

static int band_bins(int n, int base)
{
    int count = 0;
    for (int i = 0; i < n; i++)
        count += in_band(bin_frequency(i, n), base);
    return count;
}

double rd_noise_lowfreq_share(int rows, int cols, int base_rows, int base_cols)
{
    return (double)band_bins(rows, base_rows) * band_bins(cols, base_cols) / ((double)rows * cols);
}

/* noise = a * band + b * (noise - band), band = IDFT(mask * DFT(noise)), per channel. */
static void scale_band(float *noise, int rows, int cols, int channels, int base_rows, int base_cols,
                       double a, double b)
{
    const int wc = cols / 2 + 1;
    const size_t n = (size_t)rows * cols * channels;
    float *band = fftwf_alloc_real(n);
    fftwf_complex *spectrum = fftwf_alloc_complex((size_t)rows * wc * channels);
    int dims[2] = {rows, cols};
    /* token-major: element (y, x, c) at ((y * cols + x) * channels + c), as PSF's transform */
    cpu_fftw_planner_lock();
    fftwf_plan forward = fftwf_plan_many_dft_r2c(2, dims, channels, band, NULL, channels, 1,
                                                 spectrum, NULL, channels, 1, FFTW_ESTIMATE);
    fftwf_plan inverse = fftwf_plan_many_dft_c2r(2, dims, channels, spectrum, NULL, channels, 1,
                                                 band, NULL, channels, 1, FFTW_ESTIMATE);
    cpu_fftw_planner_unlock();
    memcpy(band, noise, n * sizeof(float));
    fftwf_execute(forward);
    const float norm = 1.0f / ((float)rows * cols);
    for (int y = 0; y < rows; y++)
        for (int x = 0; x < wc; x++) {
            const float m =
                in_band(bin_frequency(y, rows), base_rows) && in_band(x, base_cols) ? norm : 0.0f;
            fftwf_complex *v = &spectrum[((size_t)y * wc + x) * channels];
            for (int c = 0; c < channels; c++) {
                v[c][0] *= m;
                v[c][1] *= m;
            }
        }
    fftwf_execute(inverse);
    for (size_t i = 0; i < n; i++)
        noise[i] = (float)(a * band[i] + b * (noise[i] - band[i]));
    cpu_fftw_planner_lock();
    fftwf_destroy_plan(forward);
    fftwf_destroy_plan(inverse);
    cpu_fftw_planner_unlock();
    fftwf_free(band);
    fftwf_free(spectrum);
}

gboolean rd_noise_lowfreq(float *noise, int rows, int cols, int channels, int base_rows,
                          int base_cols, double strength)
{
    const double p = rd_noise_lowfreq_share(rows, cols, base_rows, base_cols);
    if (!(strength > 0) || strength * strength <= p || p >= 1.0)
        return FALSE;
    const double a = strength / sqrt(p), b = sqrt(fmax(0.0, 1.0 - strength * strength) / (1.0 - p));
    scale_band(noise, rows, cols, channels, base_rows, base_cols, a, b);
    return TRUE;
}
