/* The sampler's parts: Philox noise, shifted timesteps (against diffusers), the ResDiT schedule. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "noise.h"
#include "noise_lowfreq.h"
#include "resdit.h"
#include "safetensors.h"
#include "flow_match.h"
#include "schedule.h"
#include "test-util.h"

/* Known-answer vectors of the Random123 distribution (kat_vectors, philox4x32 10 rounds). */
static ResditMethodParams flux_method(void)
{
    return (ResditMethodParams){.base_area = 4096, .patch = 64, .cutoff = 0.2};
}

static void test_philox_kat(void)
{
    const struct {
        uint32_t ctr[4], key[2], out[4];
    } kat[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
         {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
         {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(kat); i++) {
        uint32_t out[4];
        rd_philox4x32_10(kat[i].ctr, kat[i].key, out);
        for (int j = 0; j < 4; j++)
            g_assert_cmphex(out[j], ==, kat[i].out[j]);
    }
}

static void test_noise_statistics(void)
{
    const size_t n = 1 << 18;
    float *a = g_new(float, n), *b = g_new(float, n), *c = g_new(float, n);
    rd_noise_normal(42, a, n);
    rd_noise_normal(42, b, n);
    rd_noise_normal(43, c, n);
    double sum = 0, sq = 0, kurt = 0;
    size_t differ = 0;
    for (size_t i = 0; i < n; i++) {
        g_assert_true(isfinite(a[i]));
        g_assert_cmpfloat(a[i], ==, b[i]);
        differ += a[i] != c[i];
        sum += a[i];
        sq += (double)a[i] * a[i];
        kurt += (double)a[i] * a[i] * a[i] * a[i];
    }
    double mean = sum / n, var = sq / n - mean * mean;
    g_assert_cmpfloat(fabs(mean), <, 0.01);
    g_assert_cmpfloat(fabs(var - 1.0), <, 0.01);
    g_assert_cmpfloat(fabs(kurt / n - 3.0), <, 0.05);
    g_assert_cmpuint(differ, >, n - 10);
    /* A prefix of a longer draw is the shorter draw: element i depends only on (seed, i). */
    rd_noise_normal(42, c, 1001);
    for (size_t i = 0; i < 1001; i++)
        g_assert_cmpfloat(c[i], ==, a[i]);
    g_free(a);
    g_free(b);
    g_free(c);
}

static void test_timesteps_match_diffusers(void)
{
    g_autofree char *path = tu_data_path("pipeline/golden.safetensors");
    g_autoptr(GError) error = NULL;
    RdSafetensors *st = rd_safetensors_open(path, &error);
    g_assert_no_error(error);
    const RdTensorInfo *sigmas = rd_safetensors_find(st, "sigmas");
    g_assert_nonnull(sigmas);
    const int steps = (int)sigmas->shape[0] - 1;
    ResditMethodParams method = flux_method();
    method.base_area = 64;
    /* 8 x 8 tokens: the base grid itself, so base and resolution shift agree (mu = 0.4675). */
    double mu_base = rd_sampler_mu(RESDIT_SHIFT_BASE, 0, TRUE, 8, 8, &method);
    double mu_res = rd_sampler_mu(RESDIT_SHIFT_RESOLUTION, 0, TRUE, 8, 8, &method);
    g_assert_cmpfloat_with_epsilon(mu_base, 0.4675, 1e-12);
    g_assert_cmpfloat_with_epsilon(mu_res, 0.4675, 1e-12);
    double t[64];
    rd_sampler_timesteps(steps, mu_base, t);
    const float *ref = sigmas->data;
    for (int i = 0; i <= steps; i++)
        g_assert_cmpfloat_with_epsilon(t[i], ref[i], 1e-6);
    rd_safetensors_close(st);
}

static void test_shift_modes(void)
{
    ResditMethodParams method = flux_method();
    /* 256 x 256 tokens (4096^2 px): base mode stays at FLUX's 1.15, resolution is unclamped. */
    g_assert_cmpfloat_with_epsilon(rd_sampler_mu(RESDIT_SHIFT_BASE, 0, TRUE, 256, 256, &method),
                                   1.15, 1e-12);
    double res = rd_sampler_mu(RESDIT_SHIFT_RESOLUTION, 0, TRUE, 256, 256, &method);
    g_assert_cmpfloat_with_epsilon(res, 0.5 + 0.65 / 3840.0 * (65536 - 256), 1e-9);
    g_assert_cmpfloat(rd_sampler_mu(RESDIT_SHIFT_FIXED, 2.5, TRUE, 256, 256, &method), ==, 2.5);
    g_assert_cmpfloat(rd_sampler_mu(RESDIT_SHIFT_BASE, 0, FALSE, 256, 256, &method), ==, 0.0);
    double t[5];
    rd_sampler_timesteps(4, 0.0, t); /* mu = 0: no shift */
    for (int i = 0; i <= 4; i++)
        g_assert_cmpfloat_with_epsilon(t[i], 1.0 - i / 4.0, 1e-15);
}

static void test_base_grid(void)
{
    ResditMethodParams method = flux_method();
    int r, c;
    rd_base_grid(128, 256, &method, &r, &c);
    g_assert_cmpint(r, ==, 45);
    g_assert_cmpint(c, ==, 90);
    rd_base_grid(256, 128, &method, &r, &c);
    g_assert_cmpint(r, ==, 90);
    g_assert_cmpint(c, ==, 45);
    rd_base_grid(192, 192, &method, &r, &c);
    g_assert_cmpint(r, ==, 64);
    g_assert_cmpint(c, ==, 64);
    method.base_rows = 10;
    method.base_cols = 20;
    rd_base_grid(192, 192, &method, &r, &c);
    g_assert_cmpint(r * 100 + c, ==, 1020);
}

static void test_schedule(void)
{
    int g, l;
    const struct {
        int steps, g_in, l_in, g, l;
    } ok[] = {
        {35, -1, -1, 10, 15}, {28, -1, -1, 8, 12},  {4, -1, -1, 1, 2},   {1, -1, -1, 0, 0},
        {50, -1, -1, 14, 21}, {35, 20, -1, 20, 15}, {35, 30, -1, 30, 5}, {35, -1, 30, 5, 30},
        {10, 0, 0, 0, 0},     {10, 10, 0, 10, 0},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(ok); i++) {
        g_autoptr(GError) error = NULL;
        g_assert_true(rd_schedule_resolve(ok[i].steps, ok[i].g_in, ok[i].l_in, &g, &l, &error));
        g_assert_no_error(error);
        g_assert_cmpint(g, ==, ok[i].g);
        g_assert_cmpint(l, ==, ok[i].l);
    }
    const int bad[][3] = {{35, 20, 20}, {0, -1, -1}, {10, -2, 0}, {10, 0, 11}};
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;
        g_assert_false(rd_schedule_resolve(bad[i][0], bad[i][1], bad[i][2], &g, &l, &error));
        g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT);
    }
    int counts[4] = {0};
    for (int s = 0; s < 35; s++)
        counts[rd_schedule_mode(s, 35, 10, 15)]++;
    g_assert_cmpint(counts[RESDIT_MODE_GLOBAL], ==, 10);
    g_assert_cmpint(counts[RESDIT_MODE_FUSED], ==, 10);
    g_assert_cmpint(counts[RESDIT_MODE_LOCAL], ==, 15);
    g_assert_cmpint(rd_schedule_mode(9, 35, 10, 15), ==, RESDIT_MODE_GLOBAL);
    g_assert_cmpint(rd_schedule_mode(10, 35, 10, 15), ==, RESDIT_MODE_FUSED);
    g_assert_cmpint(rd_schedule_mode(20, 35, 10, 15), ==, RESDIT_MODE_LOCAL);
}

static void test_euler(void)
{
    float x[6], v[6], x0[6], ref[6];
    tu_fill_uniform(x, 6, -1, 1, 7);
    tu_fill_uniform(v, 6, -1, 1, 8);
    double bound[6];
    for (int i = 0; i < 6; i++) { /* x0 = x - t v: a product and a difference */
        ref[i] = (float)(x[i] - 0.75 * v[i]);
        bound[i] = tu_gamma(2, TU_U_F32) * (fabs(x[i]) + fabs(0.75 * v[i]));
    }
    rd_predict_x0(x, v, 6, 0.75, x0);
    tu_assert_within("x0", x0, ref, bound, 6);
    for (int i = 0; i < 6; i++) { /* x + (t_next - t) v: the step is exact (-0.5), so as above */
        ref[i] = (float)(x[i] - 0.5 * v[i]);
        bound[i] = tu_gamma(2, TU_U_F32) * (fabs(x[i]) + fabs(0.5 * v[i]));
    }
    rd_euler_step(x, v, 6, 0.75, 0.25);
    tu_assert_within("euler", x, ref, bound, 6);
}

/* Signed frequency of bin i of n, and the band of a base grid (noise_lowfreq.h), written out. */
static int ref_frequency(int i, int n)
{
    return 2 * i <= n ? i : i - n;
}

/* Low-frequency noise in double by the DFT's definition, summed over the band's frequencies:
 * out = a band + b (x - band), band = (1/N) sum_band X(k) e^{+2 pi i k.r}. */
static void ref_lowfreq(const float *x, int rows, int cols, int C, int base_rows, int base_cols,
                        double a, double b, float *out)
{
    for (int ch = 0; ch < C; ch++)
        for (int y = 0; y < rows; y++)
            for (int xx = 0; xx < cols; xx++) {
                double band = 0;
                for (int iy = 0; iy < rows; iy++)
                    for (int ix = 0; ix < cols; ix++) {
                        int ky = ref_frequency(iy, rows), kx = ref_frequency(ix, cols);
                        if (2 * abs(ky) > base_rows || 2 * abs(kx) > base_cols)
                            continue;
                        double re, im;
                        tu_dft_bin(x, rows, cols, C, ch, ky, kx, &re, &im);
                        double ph = 2 * M_PI * ((double)ky * y / rows + (double)kx * xx / cols);
                        band += re * cos(ph) - im * sin(ph);
                    }
                band /= (double)rows * cols;
                const size_t i = ((size_t)y * cols + xx) * C + ch;
                out[i] = (float)(a * band + b * (x[i] - band));
            }
}

/* The band's forward and inverse float FFTs (m = ceil log2 rows + ceil log2 cols) are within
 * 16 m u ||x||_2 per channel (as PSF's bound in test-ops.c), scaled by |a - b| in the result,
 * which rounds once more. */
static void check_lowfreq(int rows, int cols, int C, int base_rows, int base_cols, double strength)
{
    const size_t n = (size_t)rows * cols * C;
    g_autofree float *x = g_new(float, n), *ref = g_new(float, n);
    g_autofree double *bound = g_new(double, n);
    rd_noise_normal(77, x, n);
    const double p = rd_noise_lowfreq_share(rows, cols, base_rows, base_cols);
    const double a = strength / sqrt(p), b = sqrt((1 - strength * strength) / (1 - p));
    ref_lowfreq(x, rows, cols, C, base_rows, base_cols, a, b, ref);
    const int m = (int)ceil(log2(rows)) + (int)ceil(log2(cols));
    for (int ch = 0; ch < C; ch++) {
        double norm = 0;
        for (int t = 0; t < rows * cols; t++)
            norm += (double)x[t * C + ch] * x[t * C + ch];
        for (int t = 0; t < rows * cols; t++)
            bound[t * C + ch] = (16.0 * m + 2) * TU_U_F32 * (fabs(a - b) * sqrt(norm) + fabs(b) * fabs(x[t * C + ch])) +
                                2 * TU_U_F32 * fabs(ref[t * C + ch]);
    }
    g_assert_true(rd_noise_lowfreq(x, rows, cols, C, base_rows, base_cols, strength));
    tu_assert_within("low-frequency noise", x, ref, bound, n);
}

static void test_lowfreq_noise(void)
{
    /* the band's share: |k| <= base / 2 per axis, both +-base/2 for an even base */
    g_assert_cmpfloat(rd_noise_lowfreq_share(64, 64, 16, 16), ==, 17.0 * 17 / (64 * 64));
    g_assert_cmpfloat(rd_noise_lowfreq_share(12, 10, 5, 6), ==, 5.0 * 7 / 120);
    g_assert_cmpfloat(rd_noise_lowfreq_share(16, 16, 16, 16), ==, 1.0);
    g_assert_cmpfloat(rd_noise_lowfreq_share(16, 32, 16, 16), ==, 17.0 / 32);
    check_lowfreq(12, 10, 3, 4, 6, 0.7); /* even sides and bases */
    check_lowfreq(9, 15, 2, 5, 3, 0.9);  /* odd sides and bases */
    check_lowfreq(16, 8, 2, 4, 8, 0.8);  /* larger on one axis only */
    check_lowfreq(8, 8, 2, 2, 2, 1.0);   /* all of the variance in the band */
}

/* Where nothing is to do the noise is kept to the bit: at the base size, strength 0, and a band
 * already as strong as asked. */
static void test_lowfreq_noise_unchanged(void)
{
    const size_t n = 16 * 16 * 8;
    g_autofree float *x = g_new(float, n), *y = g_new(float, n);
    rd_noise_normal(5, x, n);
    memcpy(y, x, n * sizeof(float));
    g_assert_false(rd_noise_lowfreq(y, 16, 16, 8, 16, 16, 1.0));
    g_assert_false(rd_noise_lowfreq(y, 16, 16, 8, 24, 20, 0.75));
    g_assert_false(rd_noise_lowfreq(y, 16, 16, 8, 4, 4, 0.0));
    /* p = 9 * 9 / 256: strength sqrt(p) = 0.5625 is what the band has */
    g_assert_false(rd_noise_lowfreq(y, 16, 16, 8, 8, 8, 0.5625));
    g_assert_cmpmem(x, n * sizeof(float), y, n * sizeof(float));
}

/* Every element keeps variance 1 and the band takes strength^2 of it (here at 4x, as the demo
 * model's 1024 px: 64 x 64 tokens of 64 channels on a 16 x 16 base grid). The band has
 * 17 * 17 * 64 independent values, so its variance is known to about sqrt(2 / 18496) = 1 %. */
static void test_lowfreq_noise_statistics(void)
{
    const int rows = 64, cols = 64, C = 64;
    const size_t n = (size_t)rows * cols * C;
    g_autofree float *x = g_new(float, n), *band = g_new(float, n);
    rd_noise_normal(9, x, n);
    const double strength = 0.75, p = rd_noise_lowfreq_share(rows, cols, 16, 16);
    g_assert_true(rd_noise_lowfreq(x, rows, cols, C, 16, 16, strength));
    /* strength 1 keeps only the band, scaled by 1 / sqrt(p) */
    memcpy(band, x, n * sizeof(float));
    g_assert_true(rd_noise_lowfreq(band, rows, cols, C, 16, 16, 1.0));
    double sq = 0, band_sq = 0;
    for (size_t i = 0; i < n; i++) {
        sq += (double)x[i] * x[i];
        band_sq += (double)band[i] * band[i] * p;
    }
    g_assert_cmpfloat(fabs(sq / n - 1.0), <, 0.05);
    g_assert_cmpfloat(fabs(band_sq / n - strength * strength), <, 0.05 * strength * strength);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/sampler/philox-kat", test_philox_kat);
    g_test_add_func("/sampler/noise-statistics", test_noise_statistics);
    g_test_add_func("/sampler/timesteps-match-diffusers", test_timesteps_match_diffusers);
    g_test_add_func("/sampler/shift-modes", test_shift_modes);
    g_test_add_func("/sampler/base-grid", test_base_grid);
    g_test_add_func("/sampler/schedule", test_schedule);
    g_test_add_func("/sampler/euler", test_euler);
    g_test_add_func("/sampler/lowfreq-noise", test_lowfreq_noise);
    g_test_add_func("/sampler/lowfreq-noise-unchanged", test_lowfreq_noise_unchanged);
    g_test_add_func("/sampler/lowfreq-noise-statistics", test_lowfreq_noise_statistics);
    return g_test_run();
}
