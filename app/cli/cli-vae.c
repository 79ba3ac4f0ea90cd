/* resdit vae encode|decode: a PNG to a FLUX latent and back, with the VAE alone (checks,
 * scripts, image-to-image experiments). The latent file holds one f32 tensor `latent`
 * [1, C, H/8, W/8] = (mean - shift_factor) * scaling_factor, the sampler's latent. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "cli.h"
#include "pipeline-private.h"
#include "resdit.h"
#include "safetensors.h"
#include "vae.h"

typedef struct {
    char *vae, *image, *latent, *output;
} VaeOptions;

static RdVae *open_vae(const VaeOptions *o, RdBackend **be, GError **error)
{
    *be = rd_backend_cpu_new(); /* the encoder's ops are on the CPU backend for now */
    RdVae *vae = rd_vae_load(o->vae, *be, error);
    if (!vae) {
        (*be)->destroy(*be);
        *be = NULL;
    }
    return vae;
}

static int encode(const VaeOptions *o)
{
    GError *error = NULL;
    RdBackend *be = NULL;
    int w = 0, h = 0, rc = 1;
    guint8 *rgb8 = resdit_png_load_rgb(o->image, &w, &h, &error);
    RdVae *vae = rgb8 ? open_vae(o, &be, &error) : NULL;
    if (vae && !rd_vae_has_encoder(vae))
        rd_vae_encode(vae, NULL, 1, 1, 0, NULL, NULL, &error); /* says what is missing */
    else if (vae) {
        const int s = rd_vae_downscale(vae);
        if (w % s || h % s) {
            rc = cli_fail("%s is %dx%d; the VAE needs sides that are multiples of %d pixels",
                          o->image, w, h, s);
        } else {
            const int lh = h / s, lw = w / s, C = rd_vae_config(vae)->latent_channels;
            float *rgb = g_new(float, (size_t)w * h * 3);
            for (size_t i = 0; i < (size_t)w * h * 3; i++)
                rgb[i] = rgb8[i] / 127.5f - 1.0f;
            /* bands within a quarter of the free memory, at least 2 GB */
            guint64 budget = MAX(G_GUINT64_CONSTANT(2) << 30, rd_host_available() / 4);
            int band = rd_vae_encode_band_rows_for_budget(vae, lh, lw, budget);
            float *latent = g_new(float, (size_t)C * lh * lw);
            if (rd_vae_encode(vae, rgb, lh, lw, band, latent, NULL, &error)) {
                RdSafetensorsWriter *wr = rd_safetensors_writer_new();
                const int64_t shape[4] = {1, C, lh, lw};
                rd_safetensors_writer_add(wr, "latent", RD_F32, 4, shape, latent);
                rd_safetensors_writer_set_metadata(wr, "source", o->image);
                if (rd_safetensors_writer_save(wr, o->output, &error)) {
                    fprintf(stderr, "resdit: wrote %s (latent 1x%dx%dx%d)\n", o->output, C, lh,
                            lw);
                    rc = 0;
                }
                rd_safetensors_writer_free(wr);
            }
            g_free(latent);
            g_free(rgb);
        }
    }
    if (error) {
        rc = cli_fail("%s", error->message);
        g_error_free(error);
    }
    g_free(rgb8);
    rd_vae_free(vae);
    if (be)
        be->destroy(be);
    return rc;
}

static guint8 *to_rgb8(const float *rgb, size_t n)
{
    guint8 *out = g_new(guint8, n);
    for (size_t i = 0; i < n; i++) {
        float v = CLAMP(rgb[i] * 0.5f + 0.5f, 0.0f, 1.0f) * 255.0f;
        out[i] = (guint8)nearbyintf(v);
    }
    return out;
}

static int decode(const VaeOptions *o)
{
    GError *error = NULL;
    RdBackend *be = NULL;
    int rc = 1;
    RdSafetensors *st = rd_safetensors_open(o->latent, &error);
    const RdTensorInfo *t = st ? rd_safetensors_find(st, "latent") : NULL;
    RdVae *vae = NULL;
    if (st && (!t || t->dtype != RD_F32 || (t->ndim != 4 && t->ndim != 3) ||
               (t->ndim == 4 && t->shape[0] != 1))) {
        g_set_error(&error, RESDIT_ERROR, RESDIT_ERROR_FORMAT,
                    "%s has no f32 tensor 'latent' of shape [1, C, H, W] (as resdit vae encode "
                    "writes)",
                    o->latent);
    } else if (st) {
        vae = open_vae(o, &be, &error);
    }
    if (vae) {
        const int64_t *shape = t->shape + (t->ndim - 3);
        const int s = 8, C = rd_vae_config(vae)->latent_channels;
        if (shape[0] != C || shape[1] < 1 || shape[2] < 1 || shape[1] * s > 16384 ||
            shape[2] * s > 16384) {
            g_set_error(&error, RESDIT_ERROR, RESDIT_ERROR_FORMAT,
                        "%s: the latent is %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT "x%" G_GINT64_FORMAT
                        "; this VAE takes %d channels and at most 2048 rows and columns",
                        o->latent, shape[0], shape[1], shape[2], C);
        } else {
            const int lh = (int)shape[1], lw = (int)shape[2];
            const size_t n = (size_t)lh * s * lw * s * 3;
            /* the mapped data may be unaligned for floats: copy it */
            float *latent = g_new(float, (size_t)C * lh * lw);
            memcpy(latent, t->data, (size_t)C * lh * lw * sizeof(float));
            guint64 budget = MAX(G_GUINT64_CONSTANT(2) << 30, rd_host_available() / 4);
            int band = rd_vae_band_rows_for_budget(vae, lh, lw, budget);
            float *rgb = g_try_new(float, n);
            if (!rgb)
                g_set_error(&error, RESDIT_ERROR, RESDIT_ERROR_OUT_OF_MEMORY,
                            "Not enough memory for a %dx%d image", lw * s, lh * s);
            else if (rd_vae_decode(vae, latent, lh, lw, band, rgb, NULL, &error)) {
                g_autofree guint8 *rgb8 = to_rgb8(rgb, n);
                if (resdit_save_rgb_png(o->output, lw * s, lh * s, rgb8, &error)) {
                    fprintf(stderr, "resdit: wrote %s (%dx%d)\n", o->output, lw * s, lh * s);
                    rc = 0;
                }
            }
            g_free(rgb);
            g_free(latent);
        }
    }
    if (error) {
        rc = cli_fail("%s", error->message);
        g_error_free(error);
    }
    rd_vae_free(vae);
    if (be)
        be->destroy(be);
    if (st)
        rd_safetensors_close(st);
    return rc;
}

int cli_vae(int argc, char **argv)
{
    VaeOptions o = {0};
    GOptionEntry entries[] = {
        {"vae", 0, 0, G_OPTION_ARG_FILENAME, &o.vae,
         "ae.safetensors, a diffusers vae/ folder or a model folder holding vae/", "PATH"},
        {"image", 'i', 0, G_OPTION_ARG_FILENAME, &o.image, "encode: the PNG to encode", "PNG"},
        {"latent", 'l', 0, G_OPTION_ARG_FILENAME, &o.latent,
         "decode: the latent (safetensors, tensor 'latent')", "FILE"},
        {"output", 'o', 0, G_OPTION_ARG_FILENAME, &o.output,
         "encode: safetensors file to write; decode: PNG to write", "FILE"},
        {NULL}};
    GOptionContext *ctx = g_option_context_new("encode|decode - the VAE alone");
    g_option_context_set_summary(
        ctx, "resdit vae encode --vae PATH --image IN.png --output OUT.safetensors\n"
             "resdit vae decode --vae PATH --latent IN.safetensors --output OUT.png\n"
             "The latent is (mean - shift) * scale, [1, 16, H/8, W/8] in f32: what the sampler "
             "works on.");
    g_option_context_add_main_entries(ctx, entries, NULL);
    GError *error = NULL;
    int rc;
    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        rc = cli_fail("%s (see resdit vae --help)", error->message) + 1;
        g_error_free(error);
    } else if (argc != 2 || (strcmp(argv[1], "encode") != 0 && strcmp(argv[1], "decode") != 0)) {
        rc = cli_fail("expected resdit vae encode or resdit vae decode (see resdit vae --help)") + 1;
    } else if (!o.vae || !o.output) {
        rc = cli_fail("give --vae and --output (see resdit vae --help)") + 1;
    } else if (strcmp(argv[1], "encode") == 0) {
        rc = o.image ? encode(&o) : cli_fail("vae encode needs --image IN.png") + 1;
    } else {
        rc = o.latent ? decode(&o) : cli_fail("vae decode needs --latent IN.safetensors") + 1;
    }
    g_option_context_free(ctx);
    g_free(o.vae);
    g_free(o.image);
    g_free(o.latent);
    g_free(o.output);
    return rc;
}
