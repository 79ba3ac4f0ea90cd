/* The VAE decoder against diffusers' AutoencoderKL (tiny config, random weights), BFL names, and
 * banded against untiled decoding. */
#include <math.h>

#include "noise.h"
#include "resdit.h"
#include "safetensors.h"
#include "test-util.h"
#include "vae.h"

typedef struct {
    RdSafetensors *golden;
    const float *latent, *image;
    int c, h, w;
} Golden;

static Golden load_golden(void)
{
    g_autofree char *path = tu_data_path("vae/golden.safetensors");
    g_autoptr(GError) error = NULL;
    Golden g = {rd_safetensors_open(path, &error)};
    g_assert_no_error(error);
    const RdTensorInfo *latent = rd_safetensors_find(g.golden, "latent");
    const RdTensorInfo *image = rd_safetensors_find(g.golden, "image");
    g_assert_nonnull(latent);
    g_assert_nonnull(image);
    g.latent = latent->data;
    g.image = image->data;
    g.c = (int)latent->shape[0];
    g.h = (int)latent->shape[1];
    g.w = (int)latent->shape[2];
    g_assert_cmpint(image->shape[0], ==, g.h * 8);
    g_assert_cmpint(image->shape[1], ==, g.w * 8);
    return g;
}

static void check_decode(RdVae *vae, const Golden *g, int band_rows)
{
    size_t n = (size_t)g->h * 8 * g->w * 8 * 3;
    float *rgb = g_new(float, n);
    g_autoptr(GError) error = NULL;
    g_assert_true(rd_vae_decode(vae, g->latent, g->h, g->w, band_rows, rgb, NULL, &error));
    g_assert_no_error(error);
    /* The decoder's longest chain: conv_in, two resnets (two 3x3 convs each) around the mid
     * attention (q/k/v, scores, values, projection), per level up to three resnets and an
     * upsampling conv, conv_out: at most 40 reductions, the longest a 3x3 conv over the top
     * channels or the attention over every latent position. */
    const RdVaeConfig *config = rd_vae_config(vae);
    int64_t K = MAX(9 * (int64_t)config->top_channels, (int64_t)g->h * g->w);
    g_test_message("VAE decode, band_rows %d", band_rows);
    double rel = tu_assert_network_close("vae", rgb, g->image, n, tu_network_bound(40, K, TU_U_F32));
    g_assert_cmpfloat(rel, <, 1e-4);
    g_free(rgb);
}

static void test_diffusers_folder(void)
{
    Golden g = load_golden();
    RdBackend *be = rd_backend_cpu_new();
    g_autofree char *dir = tu_data_path("vae/diffusers");
    g_autoptr(GError) error = NULL;
    RdVae *vae = rd_vae_load(dir, be, &error);
    g_assert_no_error(error);
    const RdVaeConfig *config = rd_vae_config(vae);
    g_assert_cmpint(config->latent_channels, ==, 16);
    g_assert_cmpint(config->levels, ==, 4);
    g_assert_cmpint(config->top_channels, ==, 32);
    g_assert_cmpint(config->groups, ==, 4);
    g_assert_cmpfloat(config->scaling_factor, ==, 0.3611);
    check_decode(vae, &g, 0);
    /* Every band's context covers the whole 12-row latent: banding is then exact too. */
    check_decode(vae, &g, 2);
    rd_vae_free(vae);
    rd_safetensors_close(g.golden);
    be->destroy(be);
}

static void test_bfl_names(void)
{
    Golden g = load_golden();
    RdBackend *be = rd_backend_cpu_new();
    g_autofree char *path = tu_data_path("vae/ae.safetensors");
    g_autoptr(GError) error = NULL;
    RdSafetensors *st = rd_safetensors_open(path, &error);
    g_assert_no_error(error);
    RdVaeConfig defaults = {16, 0, 0, 4, 0.3611, 0.1159};
    RdVae *vae = rd_vae_load_safetensors(st, &defaults, be, &error);
    g_assert_no_error(error);
    check_decode(vae, &g, 0);
    rd_vae_free(vae);

    /* FLUX's 32 groups do not divide the tiny model's 8 channels: a clear error, no crash. */
    st = rd_safetensors_open(path, &error);
    g_assert_no_error(error);
    defaults.groups = 32;
    g_assert_null(rd_vae_load_safetensors(st, &defaults, be, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL);
    rd_safetensors_close(g.golden);
    be->destroy(be);
}

static void test_not_a_vae(void)
{
    RdBackend *be = rd_backend_cpu_new();
    g_autofree char *path = tu_data_path("pipeline/transformer");
    g_autoptr(GError) error = NULL;
    g_assert_null(rd_vae_load(path, be, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL);
    g_test_message("%s", error->message);
    be->destroy(be);
}

static void diff_stats(const float *a, const float *b, size_t n, double *max_diff, double *mean)
{
    double sum = 0;
    *max_diff = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        *max_diff = MAX(*max_diff, d);
        sum += d;
    }
    *mean = sum / n;
}

/* Banded decoding of a latent taller than a band plus its halo. GroupNorm statistics come from
 * a previous pass over the bands, so each pass makes the result closer to the untiled decode. */
static void test_banded_close_to_untiled(void)
{
    RdBackend *be = rd_backend_cpu_new();
    g_autofree char *dir = tu_data_path("vae/diffusers");
    g_autoptr(GError) error = NULL;
    RdVae *vae = rd_vae_load(dir, be, &error);
    g_assert_no_error(error);
    const int h = 48, w = 8;
    float *latent = g_new(float, 16 * h * w);
    rd_noise_normal(11, latent, 16 * (size_t)h * w);
    size_t n = (size_t)h * 8 * w * 8 * 3;
    float *full = g_new(float, n), *banded = g_new(float, n);
    g_assert_true(rd_vae_decode(vae, latent, h, w, 0, full, NULL, &error));
    double range = 0;
    for (size_t i = 0; i < n; i++)
        range = MAX(range, fabs(full[i]));
    double max_diff[5], mean[5];
    for (int passes = 1; passes <= 4; passes++) {
        g_assert_true(rd_vae_decode_passes(vae, latent, h, w, 6, passes, banded, NULL, &error));
        g_assert_no_error(error);
        diff_stats(full, banded, n, &max_diff[passes], &mean[passes]);
        /* In 8-bit terms: [-1, 1] spans 255 levels. */
        g_test_message("banded (6 latent rows + halo, %d pass%s) vs untiled, %dx%d px: max |diff| "
                       "%.4g (%.2f/255), mean %.4g (%.3f/255); max |value| %.3g",
                       passes, passes > 1 ? "es" : "", w * 8, h * 8, max_diff[passes],
                       max_diff[passes] * 127.5, mean[passes], mean[passes] * 127.5, range);
    }
    /* A broken crop or offset gives differences of the order of the values (~1). */
    g_assert_cmpfloat(mean[1], <, 0.05);
    g_assert_cmpfloat(mean[2], <, mean[1] / 2);
    g_assert_cmpfloat(mean[4], <, mean[2]);
    g_assert_cmpfloat(max_diff[RD_VAE_STAT_PASSES], <, 0.5 * max_diff[1]);
    guint64 untiled = rd_vae_decode_bytes(vae, h, w, 0), tiled = rd_vae_decode_bytes(vae, h, w, 6);
    g_assert_cmpuint(tiled, <, untiled);
    /* A budget below what one band needs still gives bands, no thinner than the halo. */
    int band = rd_vae_band_rows_for_budget(vae, h, w, tiled);
    g_assert_cmpint(band, <, h);
    g_assert_cmpint(band, >=, 8);
    g_assert_cmpuint(rd_vae_decode_bytes(vae, h, w, band), <, untiled);
    g_assert_cmpint(rd_vae_band_rows_for_budget(vae, h, w, untiled), ==, h);
    g_free(latent);
    g_free(full);
    g_free(banded);
    rd_vae_free(vae);
    be->destroy(be);
}

static void test_cancel(void)
{
    RdBackend *be = rd_backend_cpu_new();
    g_autofree char *dir = tu_data_path("vae/diffusers");
    g_autoptr(GError) error = NULL;
    RdVae *vae = rd_vae_load(dir, be, &error);
    g_assert_no_error(error);
    float latent[16 * 4 * 4], rgb[32 * 32 * 3];
    rd_noise_normal(3, latent, G_N_ELEMENTS(latent));
    GCancellable *cancellable = g_cancellable_new();
    g_cancellable_cancel(cancellable);
    g_assert_false(rd_vae_decode(vae, latent, 4, 4, 0, rgb, cancellable, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_CANCELLED);
    g_object_unref(cancellable);
    rd_vae_free(vae);
    be->destroy(be);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vae/diffusers-folder", test_diffusers_folder);
    g_test_add_func("/vae/bfl-names", test_bfl_names);
    g_test_add_func("/vae/not-a-vae", test_not_a_vae);
    g_test_add_func("/vae/banded-close-to-untiled", test_banded_close_to_untiled);
    g_test_add_func("/vae/cancel", test_cancel);
    return g_test_run();
}
