/* The encoder's forward pass: banded down path (conv_in and every level that downsamples, on
 * bands of latent rows with a halo of context rows), then the whole latent (the levels at
 * latent resolution, the mid block with its attention over every position, norm_out, conv_out).
 * GroupNorm statistics of the banded path come from the previous pass over the bands, as in
 * the decoder (vae.h). */
#include <math.h>
#include <string.h>

#include "resdit.h"
#include "vae-private.h"

gboolean rd_vae_has_encoder(const RdVae *vae)
{
    return vae->enc.present;
}

gboolean rd_vae_encode_supported(const RdVae *vae)
{
    return vae->enc.present && vae->be->conv2d_down2 != NULL;
}

int rd_vae_downscale(const RdVae *vae)
{
    int s = 1;
    for (int l = 0; l < vae->enc.banded_levels; l++)
        s *= 2;
    return s;
}

static int banded_norms(const RdVae *vae)
{
    int n = 0;
    for (int l = 0; l < vae->enc.banded_levels; l++)
        n += 2 * vae->enc.down[l].n_res;
    return n;
}

/* conv_in and the downsampling levels on latent rows [c0, c1) of the image (pixel rows
 * c0 * s .. c1 * s); returns [(c1 - c0) * w, channels]. */
static RdTensor encode_band(Ctx *cx, const float *rgb, int c0, int c1, int width)
{
    RdVae *vae = cx->vae;
    const Encoder *e = &vae->enc;
    const int s = rd_vae_downscale(vae);
    int h = (c1 - c0) * s, w = width * s;
    cx->in_band = TRUE;
    cx->gn_layer = 0;
    cx->scale = s;
    cx->width = width;
    RdTensor in = vae_alloc(cx, (int64_t)h * w, 3);
    if (!cx->failed)
        cx->be->upload(cx->be, rgb + (size_t)c0 * s * w * 3, &in);
    RdTensor x = vae_conv(cx, &e->conv_in, &in, h, w);
    vae_release_tensor(cx, &in);
    for (int l = 0; l < e->banded_levels; l++) {
        const DownLevel *d = &e->down[l];
        for (int j = 0; j < d->n_res; j++)
            x = vae_resnet(cx, &d->res[j], &x, h, w);
        RdTensor small = vae_alloc(cx, x.rows / 4, d->downsample.cout);
        if (!cx->failed)
            cx->be->conv2d_down2(cx->be, &x, h, w, &d->downsample.w, &d->downsample.b, &small);
        vae_release_tensor(cx, &x);
        x = small;
        h /= 2;
        w /= 2;
        cx->scale /= 2;
    }
    cx->in_band = FALSE;
    return x;
}

/* One pass over the bands; on the last one the bands' own rows go into body. */
static gboolean down_pass(Ctx *cx, const float *rgb, int height, int width, int band_rows,
                          RdTensor *body, GCancellable *cancellable, GError **error)
{
    const int halo = cx->vae->enc.halo;
    for (int r0 = 0; r0 < height; r0 += band_rows) {
        int r1 = MIN(height, r0 + band_rows);
        int c0 = MAX(0, r0 - halo), c1 = MIN(height, r1 + halo);
        cx->core0 = r0 - c0;
        cx->core1 = r1 - c0;
        RdTensor out = encode_band(cx, rgb, c0, c1, width);
        if (vae_oom(cx, error) || vae_cancelled(cx, cancellable, error)) {
            vae_release_tensor(cx, &out);
            return FALSE;
        }
        if (body) {
            RdTensor src = rd_tensor_view(&out, (int64_t)(r0 - c0) * width,
                                          (int64_t)(r1 - r0) * width, 0, out.cols);
            RdTensor dst = rd_tensor_view(body, (int64_t)r0 * width, (int64_t)(r1 - r0) * width,
                                          0, body->cols);
            cx->be->copy(cx->be, &src, &dst);
        }
        vae_release_tensor(cx, &out);
    }
    return TRUE;
}

static int body_channels(const RdVae *vae)
{
    const Encoder *e = &vae->enc;
    return e->banded_levels ? e->down[e->banded_levels - 1].downsample.cout : e->conv_in.cout;
}

/* Levels at latent resolution, mid block, norm_out, conv_out (and quant_conv): the moments. */
static RdTensor encode_tail(Ctx *cx, RdTensor *x, int height, int width)
{
    const Encoder *e = &cx->vae->enc;
    for (int l = e->banded_levels; l < e->levels; l++)
        for (int j = 0; j < e->down[l].n_res; j++)
            *x = vae_resnet(cx, &e->down[l].res[j], x, height, width);
    *x = vae_resnet(cx, &e->mid0, x, height, width);
    if (!cx->failed)
        vae_mid_attention(cx, &e->attn, x);
    *x = vae_resnet(cx, &e->mid1, x, height, width);
    RdTensor a = vae_norm_silu(cx, &e->norm_out, x);
    vae_release_tensor(cx, x);
    RdTensor m = vae_conv(cx, &e->conv_out, &a, height, width);
    vae_release_tensor(cx, &a);
    if (e->has_quant) {
        RdTensor q = vae_conv(cx, &e->quant, &m, height, width);
        vae_release_tensor(cx, &m);
        m = q;
    }
    return m;
}

static gboolean check_encode(RdVae *vae, int height, int width, GError **error)
{
    if (!vae->enc.present) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                    "%s has no VAE encoder (encoder.* tensors); use a complete VAE such as "
                    "FLUX's ae.safetensors or a diffusers vae/ folder",
                    rd_vae_path(vae));
        return FALSE;
    }
    if (!vae->be->conv2d_down2) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_BACKEND,
                    "The %s backend cannot run the VAE encoder yet; encode with the CPU backend",
                    vae->be->name);
        return FALSE;
    }
    if (height < 1 || width < 1 || height > 65536 || width > 65536) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT, "Cannot encode a %dx%d latent",
                    width, height);
        return FALSE;
    }
    return TRUE;
}

gboolean rd_vae_encode_passes(RdVae *vae, const float *rgb, int height, int width, int band_rows,
                              int passes, float *latent, GCancellable *cancellable,
                              GError **error)
{
    if (!check_encode(vae, height, width, error))
        return FALSE;
    Ctx cx = {vae, vae->be, FALSE};
    cx.task = "encoding";
    if (band_rows <= 0 || band_rows >= height) {
        band_rows = height;
        passes = 1; /* one band: its statistics are the image's */
    }
    const int64_t n = (int64_t)height * width;
    RdTensor body = vae_alloc(&cx, n, body_channels(vae));
    if (vae_oom(&cx, error)) {
        vae_release_tensor(&cx, &body);
        return FALSE;
    }
    gboolean ok = TRUE;
    GnStats *prev = NULL;
    for (int pass = 1; ok && pass <= MAX(passes, 1); pass++) {
        gboolean last = pass >= passes;
        GnStats *rec = last ? NULL : vae_gn_stats_new(banded_norms(vae), vae->config.groups);
        cx.record = rec;
        cx.apply = prev;
        ok = down_pass(&cx, rgb, height, width, band_rows, last ? &body : NULL, cancellable,
                       error);
        vae_gn_stats_free(prev);
        prev = rec;
    }
    vae_gn_stats_free(prev);
    cx.record = NULL;
    cx.apply = NULL;
    if (!ok) {
        vae_release_tensor(&cx, &body);
        return FALSE;
    }
    RdTensor m = encode_tail(&cx, &body, height, width);
    if (vae_oom(&cx, error) || vae_cancelled(&cx, cancellable, error)) {
        vae_release_tensor(&cx, &m);
        return FALSE;
    }
    /* The mean is the first half of the moments: latent = (mean - shift) * scale. */
    const int C = vae->config.latent_channels;
    float *host = g_new(float, (size_t)n * m.cols);
    vae->be->download(vae->be, &m, host);
    vae_release_tensor(&cx, &m);
    const double scale = vae->config.scaling_factor, shift = vae->config.shift_factor;
    for (int c = 0; c < C; c++)
        for (int64_t p = 0; p < n; p++)
            latent[c * n + p] = (float)(((double)host[p * 2 * C + c] - shift) * scale);
    g_free(host);
    return TRUE;
}

gboolean rd_vae_encode(RdVae *vae, const float *rgb, int height, int width, int band_rows,
                       float *latent, GCancellable *cancellable, GError **error)
{
    return rd_vae_encode_passes(vae, rgb, height, width, band_rows, RD_VAE_STAT_PASSES, latent,
                                cancellable, error);
}

/* ---- memory ------------------------------------------------------------------------------ */

guint64 rd_vae_encode_bytes(const RdVae *vae, int height, int width, int band_rows)
{
    const Encoder *e = &vae->enc;
    if (!e->present)
        return 0;
    if (band_rows <= 0 || band_rows > height)
        band_rows = height;
    const int s = rd_vae_downscale(vae);
    const int64_t n = (int64_t)height * width;
    /* The band: at each level a resnet holds its input, two activations and its output. */
    int64_t pixels = MIN((int64_t)height, band_rows + 2 * (int64_t)e->halo) * width * s * s;
    guint64 band = (guint64)pixels * (3 + e->conv_in.cout) * sizeof(float);
    for (int l = 0; l < e->banded_levels; l++) {
        const DownLevel *d = &e->down[l];
        for (int j = 0; j < d->n_res; j++) {
            int64_t c = MAX(d->res[j].conv1.cin, d->res[j].conv2.cout);
            band = MAX(band, (guint64)pixels * c * 4 * sizeof(float));
        }
        band = MAX(band, (guint64)pixels * d->downsample.cin * sizeof(float) +
                             (guint64)pixels / 4 * d->downsample.cout * sizeof(float));
        pixels /= 4;
    }
    guint64 body = (guint64)n * body_channels(vae) * sizeof(float);
    const int64_t C = e->attn.norm.w.rows, chunk = MIN(n, ATTENTION_CHUNK);
    guint64 tail = (guint64)n * C * sizeof(float) * 4 + (guint64)chunk * C * 3 * sizeof(float);
    return MAX(body + band, tail);
}

int rd_vae_encode_band_rows_for_budget(const RdVae *vae, int height, int width, guint64 budget)
{
    if (rd_vae_encode_bytes(vae, height, width, 0) <= budget)
        return height;
    int rows = height;
    while (rows / 2 >= vae->enc.halo && rd_vae_encode_bytes(vae, height, width, rows) > budget)
        rows /= 2;
    return rows;
}
