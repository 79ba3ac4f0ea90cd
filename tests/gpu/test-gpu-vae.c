/* The whole VAE decoder on the GPU (conv2d, GroupNorm, group sums, upsampling, attention, in bf16)
 * against the same decode on the CPU, on the tiny diffusers VAE of tests/data: untiled, and in
 * bands with the GroupNorm statistics of earlier passes. The encoder (conv2d_down2 too) the same
 * way, on the tiny VAE with an encoder. */
#include <math.h>

#include "gpu-util.h"
#include "noise.h"
#include "vae.h"

/* bf16 activations through ~20 layers: a few per cent of the values' RMS (about 1). A wrong
 * convolution, norm or band offset gives errors of the order of the values. */
#define VAE_REL_L2 0.04
#define VAE_TOL 0.2f
#define VAE_EPS 0.08f

static RdVae *load(RdBackend *be)
{
    g_autofree char *dir = tu_data_path("vae/diffusers");
    g_autoptr(GError) error = NULL;
    RdVae *vae = rd_vae_load(dir, be, &error);
    g_assert_no_error(error);
    g_assert_nonnull(vae);
    return vae;
}

/* Into an image poisoned with NaN first: every pixel must be written. */
static float *decode(RdVae *vae, const float *latent, int h, int w, int band_rows)
{
    const size_t n = (size_t)h * 8 * w * 8 * 3;
    float *rgb = g_new(float, n);
    for (size_t i = 0; i < n; i++)
        rgb[i] = NAN;
    g_autoptr(GError) error = NULL;
    g_assert_true(rd_vae_decode(vae, latent, h, w, band_rows, rgb, NULL, &error));
    g_assert_no_error(error);
    return rgb;
}

static void check_decode(int h, int w, int band_rows, guint64 seed)
{
    RdVae *cpu = load(gu_cpu()), *gpu = load(gu_gpu());
    float *latent = g_new(float, 16 * (size_t)h * w);
    rd_noise_normal(seed, latent, 16 * (size_t)h * w);
    const size_t n = (size_t)h * 8 * w * 8 * 3;
    float *ref = decode(cpu, latent, h, w, band_rows);
    float *got = decode(gpu, latent, h, w, band_rows);
    double rel = tu_relative_l2(got, ref, n);
    g_test_message("VAE %dx%d latent, band rows %d: GPU vs CPU relative L2 %.3g", h, w, band_rows,
                   rel);
    g_assert_cmpfloat(rel, <, VAE_REL_L2);
    tu_assert_close("vae decode", got, ref, n, VAE_TOL, VAE_EPS);
    g_free(latent);
    g_free(ref);
    g_free(got);
    rd_vae_free(cpu);
    rd_vae_free(gpu);
}

static void test_untiled(void)
{
    check_decode(12, 10, 0, 31);
}

/* 48 latent rows in bands of 6 plus the halo, RD_VAE_STAT_PASSES passes. */
static void test_banded(void)
{
    check_decode(48, 8, 6, 32);
}

/* The encoder runs on the GPU itself (no CPU copy) and agrees with the CPU's encode. */
static void check_encode(int h, int w, int band_rows, guint32 seed)
{
    g_autofree char *dir = tu_data_path("vae-encoder/diffusers");
    g_autoptr(GError) error = NULL;
    RdVae *cpu = rd_vae_load(dir, gu_cpu(), &error);
    g_assert_no_error(error);
    RdVae *gpu = rd_vae_load(dir, gu_gpu(), &error);
    g_assert_no_error(error);
    g_assert_true(rd_vae_encode_supported(gpu));
    const int s = rd_vae_downscale(cpu);
    const size_t pixels = (size_t)h * s * w * s * 3, n = 16 * (size_t)h * w;
    float *rgb = g_new(float, pixels);
    tu_fill_uniform(rgb, pixels, -1.0f, 1.0f, seed);
    float *ref = g_new(float, n), *got = g_new(float, n);
    for (size_t i = 0; i < n; i++)
        ref[i] = got[i] = NAN; /* every element must be written */
    g_assert_true(rd_vae_encode(cpu, rgb, h, w, band_rows, ref, NULL, &error));
    g_assert_no_error(error);
    g_assert_true(rd_vae_encode(gpu, rgb, h, w, band_rows, got, NULL, &error));
    g_assert_no_error(error);
    double rel = tu_relative_l2(got, ref, n);
    g_test_message("VAE encode %dx%d latent, band rows %d: GPU vs CPU relative L2 %.3g", h, w,
                   band_rows, rel);
    g_assert_cmpfloat(rel, <, VAE_REL_L2);
    tu_assert_close("vae encode", got, ref, n, VAE_TOL, VAE_EPS);
    g_free(rgb);
    g_free(ref);
    g_free(got);
    rd_vae_free(cpu);
    rd_vae_free(gpu);
}

static void test_encode_untiled(void)
{
    check_encode(6, 5, 0, 41);
}

/* 24 latent rows in bands of 5 plus the halo. */
static void test_encode_banded(void)
{
    check_encode(24, 4, 5, 42);
}

int main(int argc, char **argv)
{
    gu_init_or_skip(&argc, &argv);
    g_test_add_func("/gpu/vae/untiled", test_untiled);
    g_test_add_func("/gpu/vae/banded", test_banded);
    g_test_add_func("/gpu/vae/encode-untiled", test_encode_untiled);
    g_test_add_func("/gpu/vae/encode-banded", test_encode_banded);
    return g_test_run();
}
