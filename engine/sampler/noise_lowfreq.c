#include "noise_lowfreq.h"

#include "cpu_ops.h"

#include <math.h>
#include <stdlib.h>

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

/* The base grid's band: data is the base grid's {rows, cols}. */
static gboolean keep_band(int ky, int kx, int h, int w, gconstpointer data)
{
    const int *base = data;
    (void)w;
    return in_band(bin_frequency(ky, h), base[0]) && in_band(kx, base[1]);
}

gboolean rd_noise_lowfreq(float *noise, int rows, int cols, int channels, int base_rows,
                          int base_cols, double strength)
{
    const double p = rd_noise_lowfreq_share(rows, cols, base_rows, base_cols);
    if (!(strength > 0) || strength * strength <= p || p >= 1.0)
        return FALSE;
    const double a = strength / sqrt(p), b = sqrt(fmax(0.0, 1.0 - strength * strength) / (1.0 - p));
    const size_t n = (size_t)rows * cols * channels;
    float *band = g_new(float, n);
    const int base[2] = {base_rows, base_cols};
    cpu_spectral_filter(noise, rows, cols, channels, keep_band, base, band);
    for (size_t i = 0; i < n; i++)
        noise[i] = (float)(a * band[i] + b * (noise[i] - band[i]));
    g_free(band);
    return TRUE;
}
