#include "vae.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "json_load.h"
#include "resdit.h"
#include "vae-private.h"

/* ---- loading ----------------------------------------------------------------------------- */

static const RdTensorInfo *find(RdVae *vae, const char *name)
{
    g_autofree char *full = g_strconcat(vae->prefix, name, NULL);
    return rd_safetensors_find(vae->st, full);
}

/* The key prefix of the VAE's tensors: none, or that of an all-in-one checkpoint. */
static void detect_prefix(RdVae *vae)
{
    static const char *const prefixes[] = {"", "vae.", "first_stage_model."};
    for (size_t i = 0; i < G_N_ELEMENTS(prefixes); i++) {
        vae->prefix = prefixes[i];
        if (find(vae, "decoder.conv_in.weight"))
            return;
    }
    vae->prefix = "";
}

static gboolean weight(RdVae *vae, const char *name, int64_t rows, RdWeight *out, GError **error)
{
    const RdTensorInfo *t = find(vae, name);
    if (!t) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                    "VAE tensor %s is missing from %s; is this a FLUX/SD3 AutoencoderKL?", name,
                    rd_safetensors_path(vae->st));
        return FALSE;
    }
    int64_t numel = rd_tensor_info_numel(t);
    if (rows <= 0 || numel % rows != 0) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                    "VAE tensor %s has %" G_GINT64_FORMAT
                    " elements, expected a multiple of %" G_GINT64_FORMAT,
                    name, numel, rows);
        return FALSE;
    }
    if (rows == 1) /* a vector: rows = its length, cols = 1 (backend.h) */
        rows = numel;
    *out = (RdWeight){t->dtype, rows, numel / rows, t->data, NULL, t->name};
    return vae->be->weight_prepare(vae->be, out, error);
}

static gboolean load_conv(RdVae *vae, const char *prefix, Conv *c, GError **error)
{
    g_autofree char *wn = g_strconcat(prefix, ".weight", NULL);
    g_autofree char *bn = g_strconcat(prefix, ".bias", NULL);
    const RdTensorInfo *t = find(vae, wn);
    if (!t || (t->ndim != 4 && t->ndim != 2)) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                    "VAE convolution %s is missing or not 4-D in %s", wn,
                    rd_safetensors_path(vae->st));
        return FALSE;
    }
    c->cout = (int)t->shape[0];
    c->cin = (int)t->shape[1];
    c->kernel = t->ndim == 4 ? (int)t->shape[2] : 1;
    if (t->ndim == 4 && (t->shape[2] != t->shape[3] || (c->kernel != 1 && c->kernel != 3))) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                    "VAE convolution %s has an unsupported %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT
                    " kernel",
                    wn, t->shape[2], t->shape[3]);
        return FALSE;
    }
    return weight(vae, wn, c->cout, &c->w, error) && weight(vae, bn, 1, &c->b, error);
}

static gboolean load_norm(RdVae *vae, const char *prefix, Norm *n, GError **error)
{
    g_autofree char *wn = g_strconcat(prefix, ".weight", NULL);
    g_autofree char *bn = g_strconcat(prefix, ".bias", NULL);
    return weight(vae, wn, 1, &n->w, error) && weight(vae, bn, 1, &n->b, error);
}

static gboolean load_resnet(RdVae *vae, const char *prefix, Resnet *r, GError **error)
{
    g_autofree char *n1 = g_strconcat(prefix, ".norm1", NULL);
    g_autofree char *n2 = g_strconcat(prefix, ".norm2", NULL);
    g_autofree char *c1 = g_strconcat(prefix, ".conv1", NULL);
    g_autofree char *c2 = g_strconcat(prefix, ".conv2", NULL);
    g_autofree char *sc = g_strconcat(prefix, vae->bfl ? ".nin_shortcut" : ".conv_shortcut", NULL);
    g_autofree char *scw = g_strconcat(sc, ".weight", NULL);
    if (!load_norm(vae, n1, &r->norm1, error) || !load_conv(vae, c1, &r->conv1, error) ||
        !load_norm(vae, n2, &r->norm2, error) || !load_conv(vae, c2, &r->conv2, error))
        return FALSE;
    r->has_shortcut = find(vae, scw) != NULL;
    if (r->has_shortcut)
        return load_conv(vae, sc, &r->shortcut, error);
    if (r->conv1.cin != r->conv2.cout) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                    "VAE block %s changes channels (%d -> %d) but has no shortcut", prefix,
                    r->conv1.cin, r->conv2.cout);
        return FALSE;
    }
    return TRUE;
}

static char *level_prefix(RdVae *vae, int level, int n_levels)
{
    return vae->bfl ? g_strdup_printf("decoder.up.%d", n_levels - 1 - level)
                    : g_strdup_printf("decoder.up_blocks.%d", level);
}

static char *resnet_prefix(RdVae *vae, int level, int n_levels, int j)
{
    g_autofree char *lp = level_prefix(vae, level, n_levels);
    return g_strdup_printf(vae->bfl ? "%s.block.%d" : "%s.resnets.%d", lp, j);
}

static int count_levels(RdVae *vae)
{
    int n = 0;
    for (;; n++) {
        g_autofree char *name =
            vae->bfl ? g_strdup_printf("decoder.up.%d.block.0.conv1.weight", n)
                     : g_strdup_printf("decoder.up_blocks.%d.resnets.0.conv1.weight", n);
        if (!find(vae, name))
            return n;
    }
}

static gboolean load_levels(RdVae *vae, GError **error)
{
    int n_levels = count_levels(vae);
    if (n_levels < 1 || n_levels > VAE_MAX_LEVELS) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                    "%s has %d decoder up levels; expected 1 to %d (is it a VAE?)",
                    rd_safetensors_path(vae->st), n_levels, VAE_MAX_LEVELS);
        return FALSE;
    }
    vae->config.levels = n_levels;
    for (int l = 0; l < n_levels; l++) {
        UpLevel *up = &vae->up[l];
        for (up->n_res = 0; up->n_res < VAE_MAX_RESNETS; up->n_res++) {
            g_autofree char *rp = resnet_prefix(vae, l, n_levels, up->n_res);
            g_autofree char *probe = g_strconcat(rp, ".conv1.weight", NULL);
            if (!find(vae, probe))
                break;
            if (!load_resnet(vae, rp, &up->res[up->n_res], error))
                return FALSE;
        }
        g_autofree char *lp = level_prefix(vae, l, n_levels);
        g_autofree char *upc =
            g_strconcat(lp, vae->bfl ? ".upsample.conv" : ".upsamplers.0.conv", NULL);
        g_autofree char *upw = g_strconcat(upc, ".weight", NULL);
        up->has_upsample = find(vae, upw) != NULL;
        if (up->has_upsample && !load_conv(vae, upc, &up->upsample, error))
            return FALSE;
    }
    return TRUE;
}

/* part: "decoder" or "encoder" */
static gboolean load_attention(RdVae *vae, const char *part, MidAttention *at, GError **error)
{
    g_autofree char *p = g_strconcat(part, vae->bfl ? ".mid.attn_1" : ".mid_block.attentions.0",
                                     NULL);
    const char *names[4][2] = {
        {"q", "to_q"}, {"k", "to_k"}, {"v", "to_v"}, {"proj_out", "to_out.0"}};
    RdWeight *w[4] = {&at->q, &at->k, &at->v, &at->proj};
    RdWeight *b[4] = {&at->qb, &at->kb, &at->vb, &at->projb};
    const RdTensorInfo *probe = NULL;
    g_autofree char *norm = g_strconcat(p, vae->bfl ? ".norm" : ".group_norm", NULL);
    if (!load_norm(vae, norm, &at->norm, error))
        return FALSE;
    const int C = (int)at->norm.w.rows;
    for (int i = 0; i < 4; i++) {
        g_autofree char *wn = g_strdup_printf("%s.%s.weight", p, names[i][vae->bfl ? 0 : 1]);
        g_autofree char *bn = g_strdup_printf("%s.%s.bias", p, names[i][vae->bfl ? 0 : 1]);
        probe = find(vae, wn);
        if (probe && rd_tensor_info_numel(probe) != (int64_t)C * C) {
            g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                        "VAE attention weight %s is not %d x %d", wn, C, C);
            return FALSE;
        }
        if (!weight(vae, wn, C, w[i], error) || !weight(vae, bn, 1, b[i], error))
            return FALSE;
    }
    return TRUE;
}

/* Context rows (latent units) the up path needs each side of a band: one row per 3x3
 * convolution at latent resolution, half a row at 2x, and so on. */
static int compute_halo(const RdVae *vae)
{
    double rows = 0, scale = 1;
    for (int l = 0; l < vae->config.levels; l++) {
        rows += 2.0 * vae->up[l].n_res / scale;
        if (vae->up[l].has_upsample) {
            scale *= 2;
            rows += 1.0 / scale;
        }
    }
    rows += 1.0 / scale; /* conv_out */
    return (int)ceil(rows) + 1;
}

static int total_upscale(const RdVae *vae)
{
    int s = 1;
    for (int l = 0; l < vae->config.levels; l++)
        s *= vae->up[l].has_upsample ? 2 : 1;
    return s;
}

/* ---- the encoder ------------------------------------------------------------------------- */

static char *down_prefix(RdVae *vae, int level)
{
    return g_strdup_printf(vae->bfl ? "encoder.down.%d" : "encoder.down_blocks.%d", level);
}

/* Context rows (latent units) the banded down path needs each side of a band: one pixel row
 * per 3x3 convolution at full resolution (conv_in, two per resnet) and two for each stride-2
 * convolution (it reads rows 2y .. 2y + 2), in latent rows at that resolution. */
static int encoder_halo(const RdVae *vae, int scale)
{
    const Encoder *e = &vae->enc;
    double rows = 1.0 / scale; /* conv_in */
    for (int l = 0; l < e->banded_levels; l++) {
        rows += 2.0 * e->down[l].n_res / scale + 2.0 / scale;
        scale /= 2;
    }
    return (int)ceil(rows) + 1;
}

static gboolean load_encoder(RdVae *vae, GError **error)
{
    Encoder *e = &vae->enc;
    if (!find(vae, "encoder.conv_in.weight"))
        return TRUE; /* a decoder-only file: encoding says so */
    if (!load_conv(vae, "encoder.conv_in", &e->conv_in, error))
        return FALSE;
    for (e->levels = 0;; e->levels++) {
        g_autofree char *lp = down_prefix(vae, e->levels);
        g_autofree char *probe =
            g_strconcat(lp, vae->bfl ? ".block.0.conv1.weight" : ".resnets.0.conv1.weight", NULL);
        if (!find(vae, probe))
            break;
        if (e->levels == VAE_MAX_LEVELS) {
            g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                        "%s has more than %d encoder down levels", rd_safetensors_path(vae->st),
                        VAE_MAX_LEVELS);
            return FALSE;
        }
        DownLevel *d = &e->down[e->levels];
        for (d->n_res = 0; d->n_res < VAE_MAX_RESNETS; d->n_res++) {
            g_autofree char *rp = g_strdup_printf(vae->bfl ? "%s.block.%d" : "%s.resnets.%d", lp,
                                                  d->n_res);
            g_autofree char *rprobe = g_strconcat(rp, ".conv1.weight", NULL);
            if (!find(vae, rprobe))
                break;
            if (!load_resnet(vae, rp, &d->res[d->n_res], error))
                return FALSE;
        }
        g_autofree char *dc =
            g_strconcat(lp, vae->bfl ? ".downsample.conv" : ".downsamplers.0.conv", NULL);
        g_autofree char *dw = g_strconcat(dc, ".weight", NULL);
        d->has_downsample = find(vae, dw) != NULL;
        if (d->has_downsample && !load_conv(vae, dc, &d->downsample, error))
            return FALSE;
        if (d->has_downsample && d->downsample.kernel != 3) {
            g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                        "VAE downsampling %s is not a 3x3 convolution", dc);
            return FALSE;
        }
    }
    int scale = 1;
    for (e->banded_levels = 0;
         e->banded_levels < e->levels && e->down[e->banded_levels].has_downsample;)
        e->banded_levels++, scale *= 2;
    for (int l = e->banded_levels; l < e->levels; l++)
        if (e->down[l].has_downsample) {
            g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                        "VAE encoder level %d downsamples after a level that does not", l);
            return FALSE;
        }
    const char *mid0 = vae->bfl ? "encoder.mid.block_1" : "encoder.mid_block.resnets.0";
    const char *mid1 = vae->bfl ? "encoder.mid.block_2" : "encoder.mid_block.resnets.1";
    if (e->levels < 1 || !load_resnet(vae, mid0, &e->mid0, error) ||
        !load_attention(vae, "encoder", &e->attn, error) ||
        !load_resnet(vae, mid1, &e->mid1, error) ||
        !load_norm(vae, vae->bfl ? "encoder.norm_out" : "encoder.conv_norm_out", &e->norm_out,
                   error) ||
        !load_conv(vae, "encoder.conv_out", &e->conv_out, error)) {
        if (e->levels < 1)
            g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL, "%s has no encoder down levels",
                        rd_safetensors_path(vae->st));
        return FALSE;
    }
    e->has_quant = find(vae, "quant_conv.weight") != NULL;
    if (e->has_quant && !load_conv(vae, "quant_conv", &e->quant, error))
        return FALSE;
    const int moments = e->has_quant ? e->quant.cout : e->conv_out.cout;
    if (e->conv_in.cin != 3 || moments != 2 * vae->config.latent_channels ||
        e->conv_in.kernel != 3 || scale != total_upscale(vae)) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                    "The VAE encoder in %s does not match its decoder (%d input channels, %d "
                    "moments for %d latent channels, %dx downsampling)",
                    rd_safetensors_path(vae->st), e->conv_in.cin, moments,
                    vae->config.latent_channels, scale);
        return FALSE;
    }
    for (int l = 0; l < e->levels; l++)
        for (int j = 0; j < e->down[l].n_res; j++)
            if (e->down[l].res[j].conv1.cout % vae->config.groups != 0 ||
                e->down[l].res[j].conv1.cin % vae->config.groups != 0) {
                g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                            "VAE encoder channels (%d) are not a multiple of the %d GroupNorm "
                            "groups",
                            e->down[l].res[j].conv1.cout, vae->config.groups);
                return FALSE;
            }
    e->halo = encoder_halo(vae, scale);
    e->present = TRUE;
    return TRUE;
}

static gboolean load_all(RdVae *vae, GError **error)
{
    detect_prefix(vae);
    vae->bfl = find(vae, "decoder.mid.block_1.conv1.weight") != NULL;
    const char *mid0 = vae->bfl ? "decoder.mid.block_1" : "decoder.mid_block.resnets.0";
    const char *mid1 = vae->bfl ? "decoder.mid.block_2" : "decoder.mid_block.resnets.1";
    if (!load_conv(vae, "decoder.conv_in", &vae->conv_in, error))
        return FALSE;
    vae->config.latent_channels = vae->conv_in.cin;
    vae->config.top_channels = vae->conv_in.cout;
    vae->has_post_quant = find(vae, "post_quant_conv.weight") != NULL;
    if (vae->has_post_quant && !load_conv(vae, "post_quant_conv", &vae->post_quant, error))
        return FALSE;
    if (!load_resnet(vae, mid0, &vae->mid0, error) ||
        !load_attention(vae, "decoder", &vae->attn, error) ||
        !load_resnet(vae, mid1, &vae->mid1, error) || !load_levels(vae, error) ||
        !load_norm(vae, vae->bfl ? "decoder.norm_out" : "decoder.conv_norm_out", &vae->norm_out,
                   error) ||
        !load_conv(vae, "decoder.conv_out", &vae->conv_out, error))
        return FALSE;
    for (int l = 0; l < vae->config.levels; l++)
        for (int j = 0; j < vae->up[l].n_res; j++)
            if (vae->up[l].res[j].conv1.cout % vae->config.groups != 0) {
                g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                            "VAE channels (%d) are not a multiple of the %d GroupNorm groups",
                            vae->up[l].res[j].conv1.cout, vae->config.groups);
                return FALSE;
            }
    vae->halo = compute_halo(vae);
    return load_encoder(vae, error);
}

gboolean rd_vae_backend_supported(const RdBackend *backend)
{
    return backend->conv2d && backend->group_norm && backend->upsample_nearest2x &&
           backend->group_sums;
}

RdVae *rd_vae_load_safetensors(RdSafetensors *st, const RdVaeConfig *defaults, RdBackend *backend,
                               GError **error)
{
    RdVae *vae = g_new0(RdVae, 1);
    vae->be = backend;
    vae->st = st;
    vae->config = *defaults;
    if (!rd_vae_backend_supported(backend)) {
        g_set_error(
            error, RESDIT_ERROR, RESDIT_ERROR_BACKEND,
            "The %s backend has no VAE ops (conv2d, group_norm, group_sums, upsample) yet; decode "
            "with the CPU backend",
            backend->name);
        rd_safetensors_close(st);
        g_free(vae);
        return NULL;
    }
    if (!load_all(vae, error)) {
        rd_vae_free(vae);
        return NULL;
    }
    return vae;
}

static gboolean bad_vae_config(GError **error, const char *path, const char *what)
{
    g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                "%s: %s; fix the VAE's config.json or use the one that came with it", path, what);
    return FALSE;
}

/* The VAE's config.json, when the folder has one: every value it gives is checked. */
static gboolean read_config_json(const char *dir, RdVaeConfig *config, GError **error)
{
    g_autofree char *path = g_build_filename(dir, "config.json", NULL);
    if (!g_file_test(path, G_FILE_TEST_EXISTS))
        return TRUE;
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) json_error = NULL;
    if (!rd_json_load_file(parser, path, &json_error)) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_FORMAT, "%s is not valid JSON: %s", path,
                    json_error->message);
        return FALSE;
    }
    JsonNode *root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root))
        return bad_vae_config(error, path, "not a JSON object");
    JsonObject *o = json_node_get_object(root);
    double v;
    gint64 groups;
    if (json_object_has_member(o, "scaling_factor")) {
        if (!rd_json_get_double(o, "scaling_factor", &v) || !isfinite(v) || v <= 0 || v > 1e6)
            return bad_vae_config(error, path, "scaling_factor must be a positive number");
        config->scaling_factor = v;
    }
    if (json_object_has_member(o, "shift_factor") &&
        !json_node_is_null(json_object_get_member(o, "shift_factor"))) {
        if (!rd_json_get_double(o, "shift_factor", &v) || !isfinite(v) || fabs(v) > 1e6)
            return bad_vae_config(error, path, "shift_factor must be a number (or null)");
        config->shift_factor = v;
    }
    if (json_object_has_member(o, "norm_num_groups")) {
        if (!rd_json_get_int(o, "norm_num_groups", &groups) || groups < 1 || groups > 4096)
            return bad_vae_config(error, path,
                                  "norm_num_groups must be an integer from 1 to 4096 (FLUX: 32)");
        config->groups = (int)groups;
    }
    return TRUE;
}

/* A single file has no config.json: FLUX's ae.safetensors uses 32 GroupNorm groups; a file with
 * others (the tests' tiny VAE) says so in its metadata ("norm_num_groups": "4"). */
static void groups_from_metadata(RdSafetensors *st, RdVaeConfig *config)
{
    g_autofree char *groups = rd_safetensors_metadata(st, "norm_num_groups");
    guint64 v;
    if (groups && g_ascii_string_to_unsigned(groups, 10, 1, 1024, &v, NULL))
        config->groups = (int)v;
}

RdVae *rd_vae_load(const char *path, RdBackend *backend, GError **error)
{
    return rd_vae_load_scaled(path, 0.3611, 0.1159, backend, error);
}

RdVae *rd_vae_load_scaled(const char *path, double scaling_factor, double shift_factor,
                          RdBackend *backend, GError **error)
{
    RdVaeConfig config = {16, 0, 0, 32, scaling_factor, shift_factor};
    g_autofree char *dir = NULL;
    if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
        g_autofree char *sub = g_build_filename(path, "vae", NULL);
        dir = g_file_test(sub, G_FILE_TEST_IS_DIR) ? g_steal_pointer(&sub) : g_strdup(path);
        if (!read_config_json(dir, &config, error))
            return NULL;
    }
    g_autofree char *file =
        dir ? g_build_filename(dir, "diffusion_pytorch_model.safetensors", NULL) : NULL;
    if (file && !g_file_test(file, G_FILE_TEST_EXISTS))
        g_clear_pointer(&file, g_free);
    RdSafetensors *st = rd_safetensors_open(file ? file : dir ? dir : path, error);
    if (!st)
        return NULL;
    if (!dir)
        groups_from_metadata(st, &config);
    return rd_vae_load_safetensors(st, &config, backend, error);
}

static void release(RdVae *vae, RdWeight *w)
{
    if (w->host)
        vae->be->weight_release(vae->be, w);
}

static void release_conv(RdVae *vae, Conv *c)
{
    release(vae, &c->w);
    release(vae, &c->b);
}

static void release_resnet(RdVae *vae, Resnet *r)
{
    release(vae, &r->norm1.w);
    release(vae, &r->norm1.b);
    release(vae, &r->norm2.w);
    release(vae, &r->norm2.b);
    release_conv(vae, &r->conv1);
    release_conv(vae, &r->conv2);
    if (r->has_shortcut)
        release_conv(vae, &r->shortcut);
}

static void release_attention(RdVae *vae, MidAttention *at)
{
    RdWeight *ws[] = {&at->q, &at->qb, &at->k,      &at->kb,      &at->v,
                      &at->vb, &at->proj, &at->projb, &at->norm.w, &at->norm.b};
    for (size_t i = 0; i < G_N_ELEMENTS(ws); i++)
        release(vae, ws[i]);
}

static void release_encoder(RdVae *vae)
{
    Encoder *e = &vae->enc;
    release_conv(vae, &e->conv_in);
    release_conv(vae, &e->conv_out);
    if (e->has_quant)
        release_conv(vae, &e->quant);
    for (int l = 0; l < e->levels; l++) {
        for (int j = 0; j < e->down[l].n_res; j++)
            release_resnet(vae, &e->down[l].res[j]);
        if (e->down[l].has_downsample)
            release_conv(vae, &e->down[l].downsample);
    }
    release_resnet(vae, &e->mid0);
    release_resnet(vae, &e->mid1);
    release_attention(vae, &e->attn);
    release(vae, &e->norm_out.w);
    release(vae, &e->norm_out.b);
}

void rd_vae_free(RdVae *vae)
{
    if (!vae)
        return;
    release_conv(vae, &vae->conv_in);
    release_conv(vae, &vae->conv_out);
    if (vae->has_post_quant)
        release_conv(vae, &vae->post_quant);
    release_resnet(vae, &vae->mid0);
    release_resnet(vae, &vae->mid1);
    release_attention(vae, &vae->attn);
    release(vae, &vae->norm_out.w);
    release(vae, &vae->norm_out.b);
    for (int l = 0; l < vae->config.levels; l++) {
        for (int j = 0; j < vae->up[l].n_res; j++)
            release_resnet(vae, &vae->up[l].res[j]);
        if (vae->up[l].has_upsample)
            release_conv(vae, &vae->up[l].upsample);
    }
    release_encoder(vae);
    if (vae->st)
        rd_safetensors_close(vae->st);
    g_free(vae);
}

const RdVaeConfig *rd_vae_config(const RdVae *vae)
{
    return &vae->config;
}

const char *rd_vae_path(const RdVae *vae)
{
    return rd_safetensors_path(vae->st);
}

guint64 rd_vae_weight_bytes(const RdVae *vae)
{
    guint64 bytes = 0;
    for (guint i = 0; i < rd_safetensors_count(vae->st); i++) {
        const RdTensorInfo *t = rd_safetensors_get(vae->st, i);
        const char *name = g_str_has_prefix(t->name, vae->prefix) ? t->name + strlen(vae->prefix)
                                                                   : "";
        if (g_str_has_prefix(name, "decoder.") || g_str_has_prefix(name, "post_quant") ||
            (vae->enc.present &&
             (g_str_has_prefix(name, "encoder.") || g_str_has_prefix(name, "quant_conv"))))
            bytes += t->nbytes;
    }
    return bytes;
}
