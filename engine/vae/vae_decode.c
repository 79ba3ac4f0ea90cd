/* The decoder's forward pass: whole-latent head (conv_in, mid block), banded up path; and the
 * building blocks it shares with the encoder (vae_encode.c). */
#include <math.h>
#include <string.h>

#include "resdit.h"
#include "vae-private.h"

GnStats *vae_gn_stats_new(int layers, int groups)
{
    GnStats *st = g_new0(GnStats, 1);
    st->layers = layers;
    st->groups = groups;
    st->sum = g_new0(double, (size_t)layers *groups);
    st->sumsq = g_new0(double, (size_t)layers *groups);
    st->count = g_new0(double, (size_t)layers *groups);
    return st;
}

void vae_gn_stats_free(GnStats *st)
{
    if (!st)
        return;
    g_free(st->sum);
    g_free(st->sumsq);
    g_free(st->count);
    g_free(st);
}

RdTensor vae_alloc(Ctx *cx, int64_t rows, int64_t cols)
{
    RdTensor t = {0};
    if (cx->failed || !cx->be->tensor_alloc(cx->be, &t, rows, cols)) {
        cx->failed = TRUE;
        t.data = NULL;
    }
    t.rows = rows;
    t.cols = cols;
    return t;
}

/* An f32 [1, cols] vector whatever the activation type (per-channel scale and shift). */
static RdTensor alloc_table(Ctx *cx, int64_t cols)
{
    RdTensor t = {0};
    if (cx->failed || !cx->be->table_alloc(cx->be, &t, 1, cols)) {
        cx->failed = TRUE;
        t.data = NULL;
    }
    return t;
}

void vae_release_tensor(Ctx *cx, RdTensor *t)
{
    if (t->data)
        cx->be->tensor_free(cx->be, t);
    t->data = NULL;
}

RdTensor vae_conv(Ctx *cx, const Conv *c, const RdTensor *x, int height, int width)
{
    RdTensor y = vae_alloc(cx, x->rows, c->cout);
    if (!cx->failed)
        cx->be->conv2d(cx->be, x, height, width, &c->w, &c->b, c->kernel, &y);
    return y;
}

/* Adds the sums of x's core rows (the band without its context) to layer `layer`. */
static void record_stats(Ctx *cx, const RdTensor *x, int layer)
{
    const int groups = cx->record->groups, per = (int)(x->cols / groups);
    const int64_t w = (int64_t)cx->width * cx->scale;
    RdTensor core = rd_tensor_view(x, (int64_t)cx->core0 * cx->scale * w,
                                   (int64_t)(cx->core1 - cx->core0) * cx->scale * w, 0, x->cols);
    double *sum = g_new0(double, groups), *sumsq = g_new0(double, groups);
    cx->be->group_sums(cx->be, &core, groups, sum, sumsq);
    for (int k = 0; k < groups; k++) {
        cx->record->sum[layer * groups + k] += sum[k];
        cx->record->sumsq[layer * groups + k] += sumsq[k];
        cx->record->count[layer * groups + k] += (double)core.rows * per;
    }
    g_free(sum);
    g_free(sumsq);
}

/* GroupNorm with the statistics of a previous pass: y = x * a[c] + b[c]. */
static void apply_stats(Ctx *cx, const Norm *n, const RdTensor *x, int layer, RdTensor *y)
{
    const int64_t C = x->cols;
    const int groups = cx->apply->groups, per = (int)(C / groups);
    float *gw = g_new(float, C), *gb = g_new(float, C), *a = g_new(float, C), *b = g_new(float, C);
    rd_convert_to_f32(n->w.dtype, n->w.host, gw, (size_t)C);
    rd_convert_to_f32(n->b.dtype, n->b.host, gb, (size_t)C);
    for (int64_t c = 0; c < C; c++) {
        int k = layer * groups + (int)(c / per);
        double mean = cx->apply->sum[k] / cx->apply->count[k];
        double var = MAX(cx->apply->sumsq[k] / cx->apply->count[k] - mean * mean, 0.0);
        double inv = 1.0 / sqrt(var + GROUP_NORM_EPS);
        a[c] = (float)(gw[c] * inv) - 1.0f; /* modulate computes x * (1 + a) + b */
        b[c] = (float)(gb[c] - mean * inv * gw[c]);
    }
    RdTensor ta = alloc_table(cx, C), tb = alloc_table(cx, C);
    if (!cx->failed) {
        cx->be->upload(cx->be, a, &ta);
        cx->be->upload(cx->be, b, &tb);
        cx->be->modulate(cx->be, x, &tb, &ta, y);
    }
    vae_release_tensor(cx, &ta);
    vae_release_tensor(cx, &tb);
    g_free(gw);
    g_free(gb);
    g_free(a);
    g_free(b);
}

RdTensor vae_norm_silu(Ctx *cx, const Norm *n, const RdTensor *x)
{
    RdTensor y = vae_alloc(cx, x->rows, x->cols);
    int layer = cx->in_band ? cx->gn_layer++ : -1;
    if (!cx->failed && layer >= 0 && cx->record)
        record_stats(cx, x, layer);
    if (!cx->failed && layer >= 0 && cx->apply)
        apply_stats(cx, n, x, layer, &y);
    else if (!cx->failed)
        cx->be->group_norm(cx->be, x, cx->vae->config.groups, &n->w, &n->b, GROUP_NORM_EPS, &y);
    if (!cx->failed)
        cx->be->unary(cx->be, RD_UNARY_SILU, &y);
    return y;
}

/* out = shortcut(x) + conv2(silu(norm2(conv1(silu(norm1(x)))))); frees x. */
RdTensor vae_resnet(Ctx *cx, const Resnet *r, RdTensor *x, int height, int width)
{
    RdTensor a = vae_norm_silu(cx, &r->norm1, x);
    RdTensor h = vae_conv(cx, &r->conv1, &a, height, width);
    vae_release_tensor(cx, &a);
    a = vae_norm_silu(cx, &r->norm2, &h);
    vae_release_tensor(cx, &h);
    RdTensor out = vae_conv(cx, &r->conv2, &a, height, width);
    vae_release_tensor(cx, &a);
    if (r->has_shortcut) {
        RdTensor s = vae_conv(cx, &r->shortcut, x, height, width);
        if (!cx->failed)
            cx->be->gated_add(cx->be, &out, NULL, &s);
        vae_release_tensor(cx, &s);
    } else if (!cx->failed) {
        cx->be->gated_add(cx->be, &out, NULL, x);
    }
    vae_release_tensor(cx, x);
    return out;
}

/* x += proj(attention(q, k, v)) over every position, single head of all channels; the queries
 * run in chunks so only k and v are full-size. */
void vae_mid_attention(Ctx *cx, const MidAttention *at, RdTensor *x)
{
    RdVae *vae = cx->vae;
    RdBackend *be = cx->be;
    const int64_t n = x->rows, C = x->cols;
    RdTensor hn = vae_alloc(cx, n, C), k = vae_alloc(cx, n, C), v = vae_alloc(cx, n, C);
    const int64_t chunk = MIN(n, ATTENTION_CHUNK);
    RdTensor q = vae_alloc(cx, chunk, C), o = vae_alloc(cx, chunk, C), p = vae_alloc(cx, chunk, C);
    if (!cx->failed) {
        be->group_norm(be, x, vae->config.groups, &at->norm.w, &at->norm.b,
                       GROUP_NORM_EPS, &hn);
        be->linear(be, &hn, &at->k, &at->kb, &k);
        be->linear(be, &hn, &at->v, &at->vb, &v);
        for (int64_t r0 = 0; r0 < n; r0 += chunk) {
            int64_t rows = MIN(chunk, n - r0);
            RdTensor hq = rd_tensor_view(&hn, r0, rows, 0, C);
            RdTensor qv = rd_tensor_view(&q, 0, rows, 0, C), ov = rd_tensor_view(&o, 0, rows, 0, C);
            RdTensor pv = rd_tensor_view(&p, 0, rows, 0, C), xv = rd_tensor_view(x, r0, rows, 0, C);
            be->linear(be, &hq, &at->q, &at->qb, &qv);
            be->attention(be, &qv, &k, &v, &ov, 1, (int)C, NULL);
            be->linear(be, &ov, &at->proj, &at->projb, &pv);
            be->gated_add(be, &xv, NULL, &pv);
        }
    }
    RdTensor *all[] = {&hn, &k, &v, &q, &o, &p};
    for (size_t i = 0; i < G_N_ELEMENTS(all); i++)
        vae_release_tensor(cx, all[i]);
}

gboolean vae_oom(Ctx *cx, GError **error)
{
    if (!cx->failed)
        return FALSE;
    g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_OUT_OF_MEMORY,
                "Out of %s memory while %s the image; try a smaller size", cx->be->name,
                cx->task ? cx->task : "decoding");
    return TRUE;
}

gboolean vae_cancelled(Ctx *cx, GCancellable *cancellable, GError **error)
{
    if (!g_cancellable_is_cancelled(cancellable))
        return FALSE;
    g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_CANCELLED, "Cancelled while %s",
                cx->task ? cx->task : "decoding");
    return TRUE;
}

/* conv_in + mid block over the whole latent: returns [h * w, top_channels]. */
static RdTensor decode_head(Ctx *cx, const float *latent, int height, int width)
{
    RdVae *vae = cx->vae;
    const int C = vae->config.latent_channels;
    const int64_t n = (int64_t)height * width;
    float *host = g_new(float, n *C);
    const float inv = (float)(1.0 / vae->config.scaling_factor),
                shift = (float)vae->config.shift_factor;
    for (int c = 0; c < C; c++)
        for (int64_t p = 0; p < n; p++)
            host[p * C + c] = latent[c * n + p] * inv + shift;
    RdTensor z = vae_alloc(cx, n, C);
    if (!cx->failed)
        cx->be->upload(cx->be, host, &z);
    g_free(host);
    if (vae->has_post_quant) {
        RdTensor zq = vae_conv(cx, &vae->post_quant, &z, height, width);
        vae_release_tensor(cx, &z);
        z = zq;
    }
    RdTensor x = vae_conv(cx, &vae->conv_in, &z, height, width);
    vae_release_tensor(cx, &z);
    x = vae_resnet(cx, &vae->mid0, &x, height, width);
    if (!cx->failed)
        vae_mid_attention(cx, &vae->attn, &x);
    return vae_resnet(cx, &vae->mid1, &x, height, width);
}

/* The up path on rows [r0, r1) of the head output; returns [(r1-r0)*8 * w*8, 3]. */
static RdTensor decode_band(Ctx *cx, const RdTensor *head, int r0, int r1, int width,
                            int *scale_out)
{
    RdVae *vae = cx->vae;
    int h = r1 - r0, w = width;
    cx->in_band = TRUE;
    cx->gn_layer = 0;
    cx->scale = 1;
    cx->width = width;
    RdTensor view = rd_tensor_view(head, (int64_t)r0 * width, (int64_t)h * width, 0, head->cols);
    RdTensor x = vae_alloc(cx, view.rows, view.cols);
    if (!cx->failed)
        cx->be->copy(cx->be, &view, &x);
    for (int l = 0; l < vae->config.levels; l++) {
        const UpLevel *up = &vae->up[l];
        for (int j = 0; j < up->n_res; j++)
            x = vae_resnet(cx, &up->res[j], &x, h, w);
        if (up->has_upsample) {
            RdTensor big = vae_alloc(cx, x.rows * 4, x.cols);
            if (!cx->failed)
                cx->be->upsample_nearest2x(cx->be, &x, h, w, &big);
            vae_release_tensor(cx, &x);
            h *= 2;
            w *= 2;
            cx->scale *= 2;
            x = vae_conv(cx, &up->upsample, &big, h, w);
            vae_release_tensor(cx, &big);
        }
    }
    RdTensor a = vae_norm_silu(cx, &vae->norm_out, &x);
    vae_release_tensor(cx, &x);
    RdTensor rgb = vae_conv(cx, &vae->conv_out, &a, h, w);
    vae_release_tensor(cx, &a);
    *scale_out = w / width;
    cx->in_band = FALSE;
    return rgb;
}

static int total_scale(const RdVae *vae)
{
    int s = 1;
    for (int l = 0; l < vae->config.levels; l++)
        s *= vae->up[l].has_upsample ? 2 : 1;
    return s;
}

static int up_path_norms(const RdVae *vae)
{
    int n = 1; /* norm_out */
    for (int l = 0; l < vae->config.levels; l++)
        n += 2 * vae->up[l].n_res;
    return n;
}

/* One pass of the up path over every band; writes rgb on the last pass. */
static gboolean up_pass(Ctx *cx, const RdTensor *head, int height, int width, int band_rows,
                        float *rgb, GCancellable *cancellable, GError **error)
{
    RdVae *vae = cx->vae;
    const int s = total_scale(vae), out_w = width * s;
    float *band = NULL;
    gboolean ok = TRUE;
    for (int r0 = 0; r0 < height && ok; r0 += band_rows) {
        int r1 = MIN(height, r0 + band_rows);
        int c0 = MAX(0, r0 - vae->halo), c1 = MIN(height, r1 + vae->halo);
        int scale = 1;
        cx->core0 = r0 - c0;
        cx->core1 = r1 - c0;
        RdTensor out = decode_band(cx, head, c0, c1, width, &scale);
        if (vae_oom(cx, error) || vae_cancelled(cx, cancellable, error)) {
            vae_release_tensor(cx, &out);
            ok = FALSE;
            break;
        }
        if (rgb) {
            band = g_renew(float, band, out.rows * 3);
            cx->be->download(cx->be, &out, band);
            size_t skip = (size_t)(r0 - c0) * s * out_w * 3;
            size_t count = (size_t)(r1 - r0) * s * out_w * 3;
            memcpy(rgb + (size_t)r0 * s * out_w * 3, band + skip, count * sizeof(float));
        }
        vae_release_tensor(cx, &out);
    }
    g_free(band);
    return ok;
}

gboolean rd_vae_decode_passes(RdVae *vae, const float *latent, int height, int width, int band_rows,
                              int passes, float *rgb, GCancellable *cancellable, GError **error)
{
    Ctx cx = {vae, vae->be, FALSE};
    if (band_rows <= 0 || band_rows >= height) {
        band_rows = height;
        passes = 1; /* one band: its statistics are the image's */
    }
    RdTensor head = decode_head(&cx, latent, height, width);
    if (vae_oom(&cx, error) || vae_cancelled(&cx, cancellable, error)) {
        vae_release_tensor(&cx, &head);
        return FALSE;
    }
    gboolean ok = TRUE;
    GnStats *prev = NULL;
    for (int pass = 1; ok && pass <= MAX(passes, 1); pass++) {
        gboolean last = pass >= passes;
        GnStats *rec = last ? NULL : vae_gn_stats_new(up_path_norms(vae), vae->config.groups);
        cx.record = rec;
        cx.apply = prev;
        ok = up_pass(&cx, &head, height, width, band_rows, last ? rgb : NULL, cancellable, error);
        vae_gn_stats_free(prev);
        prev = rec;
    }
    vae_gn_stats_free(prev);
    vae_release_tensor(&cx, &head);
    return ok;
}

gboolean rd_vae_decode(RdVae *vae, const float *latent, int height, int width, int band_rows,
                       float *rgb, GCancellable *cancellable, GError **error)
{
    return rd_vae_decode_passes(vae, latent, height, width, band_rows, RD_VAE_STAT_PASSES, rgb,
                                cancellable, error);
}

/* ---- memory ------------------------------------------------------------------------------ */

static guint64 up_path_bytes(const RdVae *vae, int64_t rows, int width)
{
    guint64 peak = 0;
    int64_t pixels = rows * width;
    for (int l = 0; l < vae->config.levels; l++) {
        const UpLevel *up = &vae->up[l];
        for (int j = 0; j < up->n_res; j++) {
            int64_t c = MAX(up->res[j].conv1.cin, up->res[j].conv2.cout);
            peak = MAX(peak, (guint64)pixels * c * 4 * sizeof(float));
        }
        if (up->has_upsample) {
            int64_t c = up->upsample.cin;
            peak = MAX(peak, (guint64)pixels * c * sizeof(float) +
                                 (guint64)pixels * 4 * c * 2 * sizeof(float));
            pixels *= 4;
        }
    }
    return peak;
}

guint64 rd_vae_decode_bytes(const RdVae *vae, int height, int width, int band_rows)
{
    if (band_rows <= 0 || band_rows > height)
        band_rows = height;
    const int64_t n = (int64_t)height * width, C = vae->config.top_channels;
    const int64_t chunk = MIN(n, ATTENTION_CHUNK);
    guint64 head = (guint64)n * C * sizeof(float) * 4 + (guint64)chunk * C * 3 * sizeof(float);
    int64_t band = MIN((int64_t)height, band_rows + 2 * (int64_t)vae->halo);
    guint64 up = (guint64)n * C * sizeof(float) + up_path_bytes(vae, band, width);
    return MAX(head, up);
}

int rd_vae_band_rows_for_budget(const RdVae *vae, int height, int width, guint64 budget)
{
    if (rd_vae_decode_bytes(vae, height, width, 0) <= budget)
        return height;
    /* Bands thinner than the halo would spend most of their work on context rows. */
    int rows = height;
    while (rows / 2 >= vae->halo && rd_vae_decode_bytes(vae, height, width, rows) > budget)
        rows /= 2;
    return rows;
}
