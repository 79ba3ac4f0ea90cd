/* Image to image on the self-test model (it has a VAE encoder): strength 1 is text to image
 * exactly, strength 0 the encoded-decoded image exactly, the record names the source, its
 * SHA-256 and the strength, and bad inputs fail cleanly. */
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "image_load.h"
#include "pipeline-private.h"
#include "test-util.h"
#include "vae.h"

static ResditModel *open_selftest(void)
{
    g_autoptr(GError) error = NULL;
    ResditModel *m = resdit_model_open_selftest(RESDIT_BACKEND_CPU, &error);
    g_assert_no_error(error);
    return m;
}

static void small_params(ResditModel *m, ResditJobParams *p)
{
    resdit_job_params_init(p);
    resdit_model_job_defaults(m, p);
    g_free(p->prompt);
    p->prompt = g_strdup("a lighthouse at dusk");
    p->width = 160; /* 10 x 8 tokens: larger than the 8 x 8 base grid, not square */
    p->height = 128;
    p->steps = 6;
    p->random_seed = FALSE;
    p->seed = 4242;
}

static char *temp_dir(void)
{
    g_autoptr(GError) error = NULL;
    char *dir = g_dir_make_tmp("resdit-img2img-XXXXXX", &error);
    g_assert_no_error(error);
    return dir;
}

static void remove_dir(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        g_unlink(path);
    }
    g_rmdir(dir);
}

/* A text-to-image result saved as the init image; returns its path. */
static char *make_source(ResditModel *m, const char *dir, ResditImage **image)
{
    ResditJobParams p;
    small_params(m, &p);
    g_autoptr(GError) error = NULL;
    *image = resdit_generate(m, &p, NULL, NULL, &error);
    g_assert_no_error(error);
    char *path = g_build_filename(dir, "source.png", NULL);
    g_assert_true(resdit_image_save_png(*image, path, &error));
    resdit_job_params_clear(&p);
    return path;
}

static char *file_sha256(const char *path)
{
    g_autofree char *data = NULL;
    gsize len;
    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    return g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)data, len);
}

static void test_strength_one_is_text_to_image(void)
{
    ResditModel *m = open_selftest();
    g_autofree char *dir = temp_dir();
    ResditImage *t2i;
    g_autofree char *source = make_source(m, dir, &t2i);
    ResditJobParams p;
    small_params(m, &p);
    resdit_job_params_set_init_image(&p, source, 1.0);
    g_autoptr(GError) error = NULL;
    ResditImage *i2i = resdit_generate(m, &p, NULL, NULL, &error);
    g_assert_no_error(error);
    /* Bit for bit by construction: the first latent is 0 * latent + 1 * noise = the noise, the
     * schedule starts at t = 1, the same job in the same process. */
    g_assert_cmpint(i2i->width, ==, t2i->width);
    g_assert_true(memcmp(i2i->rgb, t2i->rgb, (size_t)t2i->width * t2i->height * 3) == 0);
    /* The record: source path, its SHA-256, the strength; read back, the same job. */
    g_autofree char *sha = file_sha256(source);
    g_assert_nonnull(strstr(i2i->parameters_json, "\"init_image\""));
    g_assert_nonnull(strstr(i2i->parameters_json, sha));
    g_assert_nonnull(strstr(i2i->parameters, "Denoising strength: 1"));
    ResditJobParams back;
    resdit_job_params_init(&back);
    g_assert_true(resdit_job_params_from_json(&back, i2i->parameters_json, &error));
    g_assert_cmpstr(back.init_image, ==, source);
    g_assert_cmpfloat(back.strength, ==, 1.0);
    /* A copy carries it too. */
    ResditJobParams copy;
    resdit_job_params_copy(&copy, &back);
    g_assert_cmpstr(copy.init_image, ==, source);
    resdit_job_params_clear(&copy);
    resdit_job_params_clear(&back);
    resdit_image_free(i2i);
    resdit_image_free(t2i);
    resdit_job_params_clear(&p);
    resdit_model_free(m);
    remove_dir(dir);
}

static guint8 *to_rgb8(const float *rgb, size_t n)
{
    guint8 *out = g_new(guint8, n);
    for (size_t i = 0; i < n; i++)
        out[i] = (guint8)nearbyintf(CLAMP(rgb[i] * 0.5f + 0.5f, 0.0f, 1.0f) * 255.0f);
    return out;
}

static void test_strength_zero_is_encode_decode(void)
{
    ResditModel *m = open_selftest();
    g_autofree char *dir = temp_dir();
    ResditImage *t2i;
    g_autofree char *source = make_source(m, dir, &t2i);
    ResditJobParams p;
    small_params(m, &p);
    p.seed = 99; /* another noise: at strength 0 it has no weight */
    resdit_job_params_set_init_image(&p, source, 0.0);
    g_autoptr(GError) error = NULL;
    ResditImage *i2i = resdit_generate(m, &p, NULL, NULL, &error);
    g_assert_no_error(error);
    /* The same through the VAE by hand: read, fit (the same size: unchanged), encode, decode.
     * Bit for bit: (1 - 0) * latent + 0 * noise is the latent, no step runs, and the encode and
     * decode are the job's own calls in this process. */
    int w, h;
    g_autofree guint8 *rgb8 = resdit_png_load_rgb(source, &w, &h, &error);
    g_assert_no_error(error);
    float *rgb = rd_image_fit(rgb8, w, h, p.width, p.height);
    const int lh = p.height / 8, lw = p.width / 8;
    float *latent = g_new(float, 16 * (size_t)lh * lw);
    int band = rd_vae_encode_band_rows_for_budget(m->vae, lh, lw, rd_decode_budget(m));
    g_assert_true(rd_vae_encode(m->vae, rgb, lh, lw, band, latent, NULL, &error));
    size_t n = (size_t)p.width * p.height * 3;
    float *out = g_new(float, n);
    band = rd_vae_band_rows_for_budget(m->vae, lh, lw, rd_decode_budget(m));
    g_assert_true(rd_vae_decode(m->vae, latent, lh, lw, band, out, NULL, &error));
    g_autofree guint8 *expected = to_rgb8(out, n);
    g_assert_true(memcmp(i2i->rgb, expected, n) == 0);
    g_assert_nonnull(strstr(i2i->parameters_json, "\"start_step\":6"));
    g_free(rgb);
    g_free(latent);
    g_free(out);
    resdit_image_free(i2i);
    resdit_image_free(t2i);
    resdit_job_params_clear(&p);
    resdit_model_free(m);
    remove_dir(dir);
}

typedef struct {
    int first, calls;
} Progress;

static void on_progress(const ResditProgress *pr, gpointer data)
{
    Progress *p = data;
    if (pr->phase != RESDIT_PHASE_ENCODING && pr->phase != RESDIT_PHASE_DECODING &&
        p->first < 0)
        p->first = pr->step;
    p->calls++;
}

/* Strength in between: sampling starts mid-way (the later steps of the full schedule), the
 * result is neither the source nor the text-to-image image; another size is fitted. */
static void test_mid_strength(void)
{
    ResditModel *m = open_selftest();
    g_autofree char *dir = temp_dir();
    ResditImage *t2i;
    g_autofree char *source = make_source(m, dir, &t2i);
    ResditJobParams p;
    small_params(m, &p);
    resdit_job_params_set_init_image(&p, source, 0.5);
    Progress pr = {-1, 0};
    ResditCallbacks cb = {on_progress, NULL, &pr};
    g_autoptr(GError) error = NULL;
    ResditImage *i2i = resdit_generate(m, &p, &cb, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpint(pr.first, >, 0);
    g_assert_cmpint(pr.first, <, p.steps);
    g_autofree char *start = g_strdup_printf("\"start_step\":%d", pr.first);
    g_assert_nonnull(strstr(i2i->parameters_json, start));
    g_assert_false(memcmp(i2i->rgb, t2i->rgb, (size_t)t2i->width * t2i->height * 3) == 0);
    resdit_image_free(i2i);
    /* Square output from the 5:4 source: scaled to cover, centre-cropped. */
    p.width = p.height = 128;
    i2i = resdit_generate(m, &p, NULL, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpint(i2i->width, ==, 128);
    resdit_image_free(i2i);
    resdit_image_free(t2i);
    resdit_job_params_clear(&p);
    resdit_model_free(m);
    remove_dir(dir);
}

static void test_bad_inputs(void)
{
    ResditModel *m = open_selftest();
    g_autofree char *dir = temp_dir();
    ResditJobParams p;
    small_params(m, &p);
    g_autoptr(GError) error = NULL;
    /* strength out of range, or without an image */
    const double bad[] = {-0.1, 1.5, NAN, INFINITY};
    g_autofree char *missing = g_build_filename(dir, "missing.png", NULL);
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        resdit_job_params_set_init_image(&p, missing, bad[i]);
        g_assert_null(resdit_generate(m, &p, NULL, NULL, &error));
        g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
    }
    resdit_job_params_set_init_image(&p, NULL, 1.0);
    p.strength = 0.5;
    g_assert_null(resdit_generate(m, &p, NULL, NULL, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    /* a missing file, a file that is not a PNG, a truncated PNG */
    resdit_job_params_set_init_image(&p, missing, 0.5);
    g_assert_null(resdit_generate(m, &p, NULL, NULL, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_IO);
    g_clear_error(&error);
    g_autofree char *text = g_build_filename(dir, "text.png", NULL);
    g_assert_true(g_file_set_contents(text, "not an image", -1, NULL));
    resdit_job_params_set_init_image(&p, text, 0.5);
    g_assert_null(resdit_generate(m, &p, NULL, NULL, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_FORMAT);
    g_test_message("%s", error->message);
    g_clear_error(&error);
    ResditImage *t2i;
    g_autofree char *source = make_source(m, dir, &t2i);
    g_autofree char *data = NULL;
    gsize len;
    g_assert_true(g_file_get_contents(source, &data, &len, NULL));
    g_autofree char *cut = g_build_filename(dir, "cut.png", NULL);
    g_assert_true(g_file_set_contents(cut, data, (gssize)(len * 2 / 3), NULL));
    resdit_job_params_set_init_image(&p, cut, 0.5);
    g_assert_null(resdit_generate(m, &p, NULL, NULL, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_FORMAT);
    g_test_message("%s", error->message);
    g_clear_error(&error);
    resdit_image_free(t2i);
    resdit_job_params_clear(&p);
    resdit_model_free(m);
    remove_dir(dir);
}

/* Fitting: the same size is unchanged; another aspect is scaled to cover and centre-cropped. */
static void test_fit(void)
{
    const int w0 = 8, h0 = 4;
    guint8 src[8 * 4 * 3];
    for (int y = 0; y < h0; y++)
        for (int x = 0; x < w0; x++)
            for (int c = 0; c < 3; c++)
                src[(y * w0 + x) * 3 + c] = (guint8)(x < w0 / 2 ? 0 : 255);
    float *same = rd_image_fit(src, w0, h0, w0, h0);
    for (int i = 0; i < w0 * h0 * 3; i++) /* exact: each output reads one source pixel */
        g_assert_cmpfloat(same[i], ==, src[i] / 127.5f - 1.0f);
    g_free(same);
    /* 2:1 into 4x4 (the middle 4 columns of 8): the left half black, the right half white */
    float *square = rd_image_fit(src, w0, h0, 4, 4);
    for (int y = 0; y < 4; y++) {
        g_assert_cmpfloat(square[(y * 4 + 0) * 3], ==, -1.0f);
        g_assert_cmpfloat(square[(y * 4 + 3) * 3], ==, 1.0f);
    }
    g_free(square);
    /* Enlarged 4x: constant regions stay constant, values stay in [-1, 1]. */
    float *big = rd_image_fit(src, w0, h0, 32, 16);
    for (int i = 0; i < 32 * 16 * 3; i++)
        g_assert_true(big[i] >= -1.0f && big[i] <= 1.0f);
    g_assert_cmpfloat(big[0], ==, -1.0f);
    g_assert_cmpfloat(big[(32 * 16 - 1) * 3], ==, 1.0f);
    g_free(big);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/img2img/strength-one-is-text-to-image", test_strength_one_is_text_to_image);
    g_test_add_func("/img2img/strength-zero-is-encode-decode",
                    test_strength_zero_is_encode_decode);
    g_test_add_func("/img2img/mid-strength", test_mid_strength);
    g_test_add_func("/img2img/bad-inputs", test_bad_inputs);
    g_test_add_func("/img2img/fit", test_fit);
    return g_test_run();
}
