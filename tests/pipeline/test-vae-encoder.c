/* The VAE encoder against diffusers' AutoencoderKL (tiny config, random weights, a non-square
 * image), from a diffusers folder and from BFL names; banded against untiled encoding; the
 * decode of the encoded latent (the round trip of `resdit vae encode` / `vae decode`). */
#include <math.h>

#include "noise.h"
#include "resdit.h"
#include "safetensors.h"
#include "test-util.h"
#include "vae.h"

typedef struct {
    RdSafetensors *st;
    const float *image, *latent, *decoded;
    int c, h, w; /* latent */
} Golden;

static Golden load_golden(void)
{
    g_autofree char *path = tu_data_path("vae-encoder/golden.safetensors");
    g_autoptr(GError) error = NULL;
    Golden g = {rd_safetensors_open(path, &error)};
    g_assert_no_error(error);
    const RdTensorInfo *image = rd_safetensors_find(g.st, "image");
    const RdTensorInfo *latent = rd_safetensors_find(g.st, "latent");
    const RdTensorInfo *decoded = rd_safetensors_find(g.st, "decoded");
    g_assert_nonnull(image);
    g_assert_nonnull(latent);
    g_assert_nonnull(decoded);
    g.image = image->data;
    g.latent = latent->data;
    g.decoded = decoded->data;
    g.c = (int)latent->shape[0];
    g.h = (int)latent->shape[1];
    g.w = (int)latent->shape[2];
    g_assert_cmpint(image->shape[0], ==, g.h * 8);
    g_assert_cmpint(image->shape[1], ==, g.w * 8);
    g_assert_cmpint(g.h, !=, g.w); /* non-square: rows and columns cannot be swapped unseen */
    return g;
}

/* The encoder's longest chain of reductions, counted from the loaded model: conv_in; per
 * level two GroupNorms and two 3x3 convolutions per resnet and the stride-2 convolution; the
 * mid block's two resnets and its attention (GroupNorm, q/k/v, scores, values, projection);
 * norm_out, conv_out. The longest reduction is a GroupNorm over a group of the full-resolution
 * image, or a 3x3 convolution over the widest level. */
static double encoder_bound(int h, int w, int depth_levels)
{
    const int depth = 1 + depth_levels + 2 * 4 + 5 + 2;
    const int64_t K = MAX((int64_t)9 * 16, (int64_t)h * 8 * w * 8 * 2);
    return tu_network_bound(depth, K, TU_U_F32);
}

static void check_encode(RdVae *vae, const Golden *g, int band_rows)
{
    size_t n = (size_t)g->c * g->h * g->w;
    float *latent = g_new(float, n);
    g_autoptr(GError) error = NULL;
    g_assert_true(rd_vae_encode(vae, g->image, g->h, g->w, band_rows, latent, NULL, &error));
    g_assert_no_error(error);
    /* 4 levels of 2 resnets (4 reductions each), 3 downsamplings. */
    g_test_message("VAE encode, band_rows %d", band_rows);
    double rel = tu_assert_network_close("vae-encode", latent, g->latent, n,
                                         encoder_bound(g->h, g->w, 4 * 8 + 3));
    g_assert_cmpfloat(rel, <, 1e-4);
    g_free(latent);
}

static void test_diffusers_folder(void)
{
    Golden g = load_golden();
    RdBackend *be = rd_backend_cpu_new();
    g_autofree char *dir = tu_data_path("vae-encoder/diffusers");
    g_autoptr(GError) error = NULL;
    RdVae *vae = rd_vae_load(dir, be, &error);
    g_assert_no_error(error);
    g_assert_true(rd_vae_has_encoder(vae));
    g_assert_true(rd_vae_encode_supported(vae));
    g_assert_cmpint(rd_vae_downscale(vae), ==, 8);
    g_assert_cmpint(rd_vae_config(vae)->groups, ==, 4);
    check_encode(vae, &g, 0);
    /* Every band's context covers the whole 6-row latent: banded, with the statistics passes,
     * is the same computation up to the order of the sums. */
    check_encode(vae, &g, 2);
    rd_vae_free(vae);
    rd_safetensors_close(g.st);
    be->destroy(be);
}

static void test_bfl_names(void)
{
    Golden g = load_golden();
    RdBackend *be = rd_backend_cpu_new();
    g_autofree char *path = tu_data_path("vae-encoder/ae.safetensors");
    g_autoptr(GError) error = NULL;
    RdVae *vae = rd_vae_load(path, be, &error); /* groups from the file's metadata */
    g_assert_no_error(error);
    g_assert_true(rd_vae_has_encoder(vae));
    g_assert_cmpint(rd_vae_config(vae)->groups, ==, 4);
    check_encode(vae, &g, 0);
    rd_vae_free(vae);
    rd_safetensors_close(g.st);
    be->destroy(be);
}

/* Decoding the encoded latent against diffusers' decode of its own latent: the decoder's
 * golden bound, and within one 8-bit level everywhere. */
static void test_round_trip(void)
{
    Golden g = load_golden();
    RdBackend *be = rd_backend_cpu_new();
    g_autofree char *dir = tu_data_path("vae-encoder/diffusers");
    g_autoptr(GError) error = NULL;
    RdVae *vae = rd_vae_load(dir, be, &error);
    g_assert_no_error(error);
    size_t n = (size_t)g.h * 8 * g.w * 8 * 3;
    float *rgb = g_new(float, n);
    g_assert_true(rd_vae_decode(vae, g.latent, g.h, g.w, 0, rgb, NULL, &error));
    g_assert_no_error(error);
    /* decoder: conv_in, mid (2 resnets, attention), 4 levels of 3 resnets and 3 upsamplings,
     * norm_out, conv_out, GroupNorms included. */
    int64_t K = (int64_t)g.h * 8 * g.w * 8 * 2;
    double rel = tu_assert_network_close("vae-decode", rgb, g.decoded, n,
                                         tu_network_bound(1 + 13 + 4 * 12 + 3 + 2, K, TU_U_F32));
    g_assert_cmpfloat(rel, <, 1e-4);
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        worst = MAX(worst, fabs((double)rgb[i] - g.decoded[i]) * 127.5);
    g_test_message("decode: worst difference %.3g of an 8-bit level", worst);
    g_assert_cmpfloat(worst, <, 1.0);
    g_free(rgb);
    rd_vae_free(vae);
    rd_safetensors_close(g.st);
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

/* Banded encoding of an image taller than a band plus its halo: GroupNorm statistics come from
 * the previous pass over the bands, so each pass brings the result closer to the untiled one;
 * bands whose context covers the image agree with it within the arithmetic's bound. */
static void test_banded_close_to_untiled(void)
{
    RdBackend *be = rd_backend_cpu_new();
    g_autofree char *dir = tu_data_path("vae-encoder/diffusers");
    g_autoptr(GError) error = NULL;
    RdVae *vae = rd_vae_load(dir, be, &error);
    g_assert_no_error(error);
    const int h = 40, w = 6;
    size_t npx = (size_t)h * 8 * w * 8 * 3, n = (size_t)16 * h * w;
    float *image = g_new(float, npx);
    tu_fill_uniform(image, npx, -1.0f, 1.0f, 7);
    /* Smooth vertical structure, so that a band's statistics differ from the image's. */
    for (size_t i = 0; i < npx; i++)
        image[i] = 0.5f * image[i] + 0.5f * sinf((float)(i / (w * 8 * 3)) * 0.05f);
    float *full = g_new(float, n), *banded = g_new(float, n);
    g_assert_true(rd_vae_encode(vae, image, h, w, 0, full, NULL, &error));
    g_assert_no_error(error);
    double range = 0;
    for (size_t i = 0; i < n; i++)
        range = MAX(range, fabs(full[i]));
    double max_diff[5], mean[5];
    for (int passes = 1; passes <= 4; passes++) {
        g_assert_true(rd_vae_encode_passes(vae, image, h, w, 5, passes, banded, NULL, &error));
        g_assert_no_error(error);
        diff_stats(full, banded, n, &max_diff[passes], &mean[passes]);
        g_test_message("banded (5 latent rows + halo, %d pass%s) vs untiled, %dx%d px: max |diff| "
                       "%.4g, mean %.4g; max |value| %.3g",
                       passes, passes > 1 ? "es" : "", w * 8, h * 8, max_diff[passes],
                       mean[passes], range);
    }
    /* A broken crop or offset gives differences of the order of the values. */
    g_assert_cmpfloat(mean[1], <, 0.05 * range);
    g_assert_cmpfloat(mean[2], <, mean[1]);
    g_assert_cmpfloat(mean[4], <=, mean[2]);
    g_assert_cmpfloat(max_diff[RD_VAE_STAT_PASSES], <, max_diff[1]);

    /* One pass per GroupNorm layer of the banded path (3 levels x 2 resnets x 2) and one to
     * write: every statistic is the whole image's, so what is left is the halo's reach, which
     * must cover every convolution: within the rounding bound of the untiled encode. */
    g_assert_true(rd_vae_encode_passes(vae, image, h, w, 5, 13, banded, NULL, &error));
    tu_assert_network_close("banded, exact statistics", banded, full, n,
                            encoder_bound(h, w, 4 * 8 + 3));

    /* Bands whose halo reaches both ends of the image see what the whole image sees. */
    const int h2 = 12;
    g_assert_true(rd_vae_encode(vae, image, h2, w, 0, full, NULL, &error));
    g_assert_true(rd_vae_encode(vae, image, h2, w, 6, banded, NULL, &error));
    tu_assert_network_close("banded-vs-untiled", banded, full, (size_t)16 * h2 * w,
                            encoder_bound(h2, w, 4 * 8 + 3));

    guint64 untiled = rd_vae_encode_bytes(vae, h, w, 0), tiled = rd_vae_encode_bytes(vae, h, w, 5);
    g_assert_cmpuint(tiled, <, untiled);
    int band = rd_vae_encode_band_rows_for_budget(vae, h, w, tiled);
    g_assert_cmpint(band, <, h);
    g_assert_cmpuint(rd_vae_encode_bytes(vae, h, w, band), <, untiled);
    g_assert_cmpint(rd_vae_encode_band_rows_for_budget(vae, h, w, untiled), ==, h);
    g_free(image);
    g_free(full);
    g_free(banded);
    rd_vae_free(vae);
    be->destroy(be);
}

/* A decoder-only file loads for decoding and says clearly that it cannot encode. */
static void test_decoder_only(void)
{
    RdBackend *be = rd_backend_cpu_new();
    g_autofree char *dir = tu_data_path("vae/diffusers");
    g_autoptr(GError) error = NULL;
    RdVae *vae = rd_vae_load(dir, be, &error);
    g_assert_no_error(error);
    g_assert_false(rd_vae_has_encoder(vae));
    float image[64 * 64 * 3] = {0}, latent[16 * 8 * 8];
    g_assert_false(rd_vae_encode(vae, image, 8, 8, 0, latent, NULL, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL);
    g_test_message("%s", error->message);
    rd_vae_free(vae);
    be->destroy(be);
}

static void test_cancel(void)
{
    RdBackend *be = rd_backend_cpu_new();
    g_autofree char *dir = tu_data_path("vae-encoder/diffusers");
    g_autoptr(GError) error = NULL;
    RdVae *vae = rd_vae_load(dir, be, &error);
    g_assert_no_error(error);
    float *image = g_new(float, 32 * 32 * 3), latent[16 * 4 * 4];
    tu_fill_uniform(image, 32 * 32 * 3, -1.0f, 1.0f, 3);
    GCancellable *cancellable = g_cancellable_new();
    g_cancellable_cancel(cancellable);
    g_assert_false(rd_vae_encode(vae, image, 4, 4, 0, latent, cancellable, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_CANCELLED);
    g_object_unref(cancellable);
    g_free(image);
    rd_vae_free(vae);
    be->destroy(be);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vae-encoder/diffusers-folder", test_diffusers_folder);
    g_test_add_func("/vae-encoder/bfl-names", test_bfl_names);
    g_test_add_func("/vae-encoder/round-trip", test_round_trip);
    g_test_add_func("/vae-encoder/banded-close-to-untiled", test_banded_close_to_untiled);
    g_test_add_func("/vae-encoder/decoder-only", test_decoder_only);
    g_test_add_func("/vae-encoder/cancel", test_cancel);
    return g_test_run();
}
