/* FLUX transformer weights: BFL single files (optionally prefixed "model.diffusion_model.", as
 * ComfyUI saves them) and diffusers folders both map onto one internal layout. BFL's fused
 * matrices (qkv, linear1) become row views, so nothing is copied. */
#include <json-glib/json-glib.h>
#include <string.h>

#include "flux_private.h"
#include "model_parts.h"
#include "json_load.h"

typedef struct {
    FluxModel *m;
    gboolean diffusers;
    const char *prefix;
    GError **error;
} Loader;

static const RdTensorInfo *find(Loader *ld, const char *name)
{
    g_autofree char *full = g_strconcat(ld->prefix, name, NULL);
    return rd_safetensors_find(ld->m->st, full);
}

static gboolean fail_missing(Loader *ld, const char *name)
{
    g_set_error(ld->error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                "%s: tensor %s%s is missing: the file is not a complete FLUX transformer",
                rd_safetensors_path(ld->m->st), ld->prefix, name);
    return FALSE;
}

static char *shape_string(const int64_t *shape, int ndim)
{
    GString *s = g_string_new("[");
    for (int i = 0; i < ndim; i++)
        g_string_append_printf(s, "%s%" G_GINT64_FORMAT, i ? ", " : "", shape[i]);
    g_string_append_c(s, ']');
    return g_string_free(s, FALSE);
}

/* A matrix [rows, cols], or a vector [rows] when cols == 0. */
static gboolean get(Loader *ld, const char *name, int64_t rows, int64_t cols, RdWeight *out)
{
    const RdTensorInfo *t = find(ld, name);
    if (!t)
        return fail_missing(ld, name);
    gboolean vector = cols == 0;
    gboolean ok = vector ? t->ndim == 1 && t->shape[0] == rows
                         : t->ndim == 2 && t->shape[0] == rows && t->shape[1] == cols;
    if (!ok) {
        g_autofree char *got = shape_string(t->shape, t->ndim);
        int64_t want_shape[2] = {rows, cols};
        g_autofree char *want = shape_string(want_shape, vector ? 1 : 2);
        g_set_error(ld->error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                    "%s: tensor %s has shape %s, expected %s: the file does not match this FLUX "
                    "architecture",
                    t->file, t->name, got, want);
        return FALSE;
    }
    if (t->dtype == RD_I64) {
        g_set_error(ld->error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                    "%s: tensor %s has integer dtype", t->file, t->name);
        return FALSE;
    }
    *out = (RdWeight){t->dtype, rows, vector ? 1 : cols, t->data, NULL, t->name};
    return TRUE;
}

static gboolean get_linear(Loader *ld, const char *name, int64_t out_f, int64_t in_f,
                           FluxLinear *lin)
{
    g_autofree char *w = g_strconcat(name, ".weight", NULL);
    g_autofree char *b = g_strconcat(name, ".bias", NULL);
    return get(ld, w, out_f, in_f, &lin->w) && get(ld, b, out_f, 0, &lin->b);
}

/* Row block [row0, row0 + rows) of a fused linear. */
static FluxLinear linear_rows(const FluxLinear *fused, int64_t row0, int64_t rows)
{
    return (FluxLinear){rd_weight_rows(&fused->w, row0, rows), rd_weight_rows(&fused->b, row0, rows)};
}

static gboolean load_stream_bfl(Loader *ld, int block, const char *s, FluxStream *st)
{
    const FluxConfig *c = &ld->m->cfg;
    const int64_t C = c->hidden;
    char n[160];
    FluxLinear qkv;
#define NAME(fmt) (g_snprintf(n, sizeof n, "double_blocks.%d.%s" fmt, block, s), n)
    gboolean ok = get_linear(ld, NAME("_mod.lin"), 6 * C, C, &st->mod) &&
                  get_linear(ld, NAME("_attn.qkv"), 3 * C, C, &qkv) &&
                  get(ld, NAME("_attn.norm.query_norm.scale"), c->head_dim, 0, &st->q_norm) &&
                  get(ld, NAME("_attn.norm.key_norm.scale"), c->head_dim, 0, &st->k_norm) &&
                  get_linear(ld, NAME("_attn.proj"), C, C, &st->proj) &&
                  get_linear(ld, NAME("_mlp.0"), c->mlp_hidden, C, &st->mlp_in) &&
                  get_linear(ld, NAME("_mlp.2"), C, c->mlp_hidden, &st->mlp_out);
#undef NAME
    if (ok) {
        st->q = linear_rows(&qkv, 0, C);
        st->k = linear_rows(&qkv, C, C);
        st->v = linear_rows(&qkv, 2 * C, C);
    }
    return ok;
}

static gboolean load_stream_diffusers(Loader *ld, int block, gboolean text, FluxStream *st)
{
    const FluxConfig *c = &ld->m->cfg;
    const int64_t C = c->hidden;
    char n[160];
#define NAME(fmt) (g_snprintf(n, sizeof n, "transformer_blocks.%d." fmt, block), n)
    if (text)
        return get_linear(ld, NAME("norm1_context.linear"), 6 * C, C, &st->mod) &&
               get_linear(ld, NAME("attn.add_q_proj"), C, C, &st->q) &&
               get_linear(ld, NAME("attn.add_k_proj"), C, C, &st->k) &&
               get_linear(ld, NAME("attn.add_v_proj"), C, C, &st->v) &&
               get(ld, NAME("attn.norm_added_q.weight"), c->head_dim, 0, &st->q_norm) &&
               get(ld, NAME("attn.norm_added_k.weight"), c->head_dim, 0, &st->k_norm) &&
               get_linear(ld, NAME("attn.to_add_out"), C, C, &st->proj) &&
               get_linear(ld, NAME("ff_context.net.0.proj"), c->mlp_hidden, C, &st->mlp_in) &&
               get_linear(ld, NAME("ff_context.net.2"), C, c->mlp_hidden, &st->mlp_out);
    return get_linear(ld, NAME("norm1.linear"), 6 * C, C, &st->mod) &&
           get_linear(ld, NAME("attn.to_q"), C, C, &st->q) &&
           get_linear(ld, NAME("attn.to_k"), C, C, &st->k) &&
           get_linear(ld, NAME("attn.to_v"), C, C, &st->v) &&
           get(ld, NAME("attn.norm_q.weight"), c->head_dim, 0, &st->q_norm) &&
           get(ld, NAME("attn.norm_k.weight"), c->head_dim, 0, &st->k_norm) &&
           get_linear(ld, NAME("attn.to_out.0"), C, C, &st->proj) &&
           get_linear(ld, NAME("ff.net.0.proj"), c->mlp_hidden, C, &st->mlp_in) &&
           get_linear(ld, NAME("ff.net.2"), C, c->mlp_hidden, &st->mlp_out);
#undef NAME
}

static gboolean load_single(Loader *ld, int block, FluxSingleBlock *sb)
{
    const FluxConfig *c = &ld->m->cfg;
    const int64_t C = c->hidden, M = c->mlp_hidden;
    char n[160];
    if (ld->diffusers) {
#define NAME(fmt) (g_snprintf(n, sizeof n, "single_transformer_blocks.%d." fmt, block), n)
        return get_linear(ld, NAME("norm.linear"), 3 * C, C, &sb->mod) &&
               get_linear(ld, NAME("attn.to_q"), C, C, &sb->q) &&
               get_linear(ld, NAME("attn.to_k"), C, C, &sb->k) &&
               get_linear(ld, NAME("attn.to_v"), C, C, &sb->v) &&
               get(ld, NAME("attn.norm_q.weight"), c->head_dim, 0, &sb->q_norm) &&
               get(ld, NAME("attn.norm_k.weight"), c->head_dim, 0, &sb->k_norm) &&
               get_linear(ld, NAME("proj_mlp"), M, C, &sb->mlp_in) &&
               get_linear(ld, NAME("proj_out"), C, C + M, &sb->out);
#undef NAME
    }
    FluxLinear linear1;
#define NAME(fmt) (g_snprintf(n, sizeof n, "single_blocks.%d." fmt, block), n)
    gboolean ok = get_linear(ld, NAME("modulation.lin"), 3 * C, C, &sb->mod) &&
                  get_linear(ld, NAME("linear1"), 3 * C + M, C, &linear1) &&
                  get(ld, NAME("norm.query_norm.scale"), c->head_dim, 0, &sb->q_norm) &&
                  get(ld, NAME("norm.key_norm.scale"), c->head_dim, 0, &sb->k_norm) &&
                  get_linear(ld, NAME("linear2"), C, C + M, &sb->out);
#undef NAME
    if (ok) {
        sb->q = linear_rows(&linear1, 0, C);
        sb->k = linear_rows(&linear1, C, C);
        sb->v = linear_rows(&linear1, 2 * C, C);
        sb->mlp_in = linear_rows(&linear1, 3 * C, M);
    }
    return ok;
}

/* The names of the embedders and the final layer in each layout. */
typedef struct {
    const char *img_in, *txt_in, *time1, *time2, *vec1, *vec2, *guid1, *guid2, *final_mod,
        *final_linear, *mlp_in0, *q_norm0, *double_stem, *double_leaf, *single_stem,
        *single_leaf;
} LayoutNames;

static const LayoutNames bfl_names = {
    "img_in", "txt_in", "time_in.in_layer", "time_in.out_layer", "vector_in.in_layer",
    "vector_in.out_layer", "guidance_in.in_layer", "guidance_in.out_layer",
    "final_layer.adaLN_modulation.1", "final_layer.linear", "double_blocks.0.img_mlp.0.weight",
    "double_blocks.0.img_attn.norm.query_norm.scale", "double_blocks", "img_mod.lin.weight",
    "single_blocks", "linear2.weight"};

static const LayoutNames diffusers_names = {
    "x_embedder", "context_embedder", "time_text_embed.timestep_embedder.linear_1",
    "time_text_embed.timestep_embedder.linear_2", "time_text_embed.text_embedder.linear_1",
    "time_text_embed.text_embedder.linear_2", "time_text_embed.guidance_embedder.linear_1",
    "time_text_embed.guidance_embedder.linear_2", "norm_out.linear", "proj_out",
    "transformer_blocks.0.ff.net.0.proj.weight", "transformer_blocks.0.attn.norm_q.weight",
    "transformer_blocks", "norm1.linear.weight", "single_transformer_blocks", "proj_out.weight"};

/* Blocks are counted by their first tensor: "<stem>.<i>.<leaf>". */
static int count_blocks(Loader *ld, const char *stem, const char *leaf)
{
    int n = 0;
    for (;; n++) {
        g_autofree char *name = g_strdup_printf("%s.%d.%s", stem, n, leaf);
        if (!find(ld, name))
            return n;
    }
}

static int64_t dim(Loader *ld, const char *name, int axis)
{
    const RdTensorInfo *t = find(ld, name);
    return t && axis < t->ndim ? t->shape[axis] : -1;
}

/* Limits far above FLUX.1 (hidden 3072, MLP 12288, T5 4096, head 128) that keep every shape
 * product below 2^40 elements, so no size computed from them can overflow. */
#define MAX_FLUX_DIM (1 << 17)
#define MAX_HEAD_DIM 4096

static gboolean bad_config(GError **error, const char *config_json, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static gboolean bad_config(GError **error, const char *config_json, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                "%s: %s; fix the model's config.json or use the one that came with it",
                config_json, msg);
    return FALSE;
}

gboolean flux_config_apply_json(FluxConfig *c, const char *config_json, GError **error)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) json_error = NULL;
    if (!rd_json_load_file(parser, config_json, &json_error)) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_FORMAT, "%s is not valid JSON: %s",
                    config_json, json_error->message);
        return FALSE;
    }
    JsonNode *root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_FORMAT, "%s is not a JSON object",
                    config_json);
        return FALSE;
    }
    JsonObject *o = json_node_get_object(root);
    if (json_object_has_member(o, "attention_head_dim")) {
        gint64 head_dim;
        if (!rd_json_get_int(o, "attention_head_dim", &head_dim) || head_dim < 2 ||
            head_dim > MAX_HEAD_DIM || head_dim % 2)
            return bad_config(error, config_json,
                              "attention_head_dim must be an even integer from 2 to %d",
                              MAX_HEAD_DIM);
        c->head_dim = (int)head_dim;
    }
    if (json_object_has_member(o, "axes_dims_rope")) {
        JsonArray *axes = rd_json_get_array(o, "axes_dims_rope");
        if (!axes || json_array_get_length(axes) != 3)
            return bad_config(error, config_json,
                              "axes_dims_rope must be a list of three integers (FLUX.1: [16, 56, "
                              "56])");
        for (guint i = 0; i < 3; i++) {
            gint64 v;
            if (!rd_json_element_int(axes, i, &v) || v < 2 || v > MAX_HEAD_DIM || v % 2)
                return bad_config(error, config_json,
                                  "axes_dims_rope[%u] must be an even integer from 2 to %d",
                                  i, MAX_HEAD_DIM);
            c->rope_axes[i] = (int)v;
        }
    }
    return TRUE;
}

/* A single file with a head size other than FLUX's 128 says its RoPE axes in its metadata
 * ("axes_dims_rope": "4,6,6"), as the tiny models of the tests do; a diffusers folder says it in
 * config.json. */
static void axes_from_metadata(Loader *ld, FluxConfig *c)
{
    g_autofree char *axes = rd_safetensors_metadata(ld->m->st, "axes_dims_rope");
    g_auto(GStrv) parts = axes ? g_strsplit(axes, ",", -1) : NULL;
    if (!parts || g_strv_length(parts) != 3)
        return;
    for (int i = 0; i < 3; i++) {
        guint64 v;
        if (!g_ascii_string_to_unsigned(g_strstrip(parts[i]), 10, 1, 4096, &v, NULL))
            return;
        c->rope_axes[i] = (int)v;
    }
}

/* A dimension read from a tensor shape: -1 when it is missing or outside (0, MAX_FLUX_DIM]. */
static int sane_dim(int64_t d)
{
    return d > 0 && d <= MAX_FLUX_DIM ? (int)d : -1;
}

static gboolean infer_config(Loader *ld, const LayoutNames *nm, const char *config_json)
{
    FluxConfig *c = &ld->m->cfg;
    g_autofree char *img_w = g_strconcat(nm->img_in, ".weight", NULL);
    g_autofree char *txt_w = g_strconcat(nm->txt_in, ".weight", NULL);
    g_autofree char *vec_w = g_strconcat(nm->vec1, ".weight", NULL);
    g_autofree char *guid_w = g_strconcat(nm->guid1, ".weight", NULL);
    c->hidden = sane_dim(dim(ld, img_w, 0));
    c->in_channels = sane_dim(dim(ld, img_w, 1));
    c->txt_dim = sane_dim(dim(ld, txt_w, 1));
    c->vec_dim = sane_dim(dim(ld, vec_w, 1));
    c->mlp_hidden = sane_dim(dim(ld, nm->mlp_in0, 0));
    c->head_dim = sane_dim(dim(ld, nm->q_norm0, 0));
    c->double_blocks = count_blocks(ld, nm->double_stem, nm->double_leaf);
    c->single_blocks = count_blocks(ld, nm->single_stem, nm->single_leaf);
    c->has_guidance = find(ld, guid_w) != NULL;
    c->rope_theta = 10000.0;
    c->rope_axes[0] = c->rope_axes[1] = c->rope_axes[2] = 0;
    if (c->head_dim == 128) {
        c->rope_axes[0] = 16;
        c->rope_axes[1] = c->rope_axes[2] = 56;
    }
    if (config_json && !flux_config_apply_json(c, config_json, ld->error))
        return FALSE;
    if (!config_json && c->head_dim != 128)
        axes_from_metadata(ld, c);
    if (c->hidden <= 0 || c->in_channels <= 0 || c->txt_dim <= 0 || c->vec_dim <= 0 ||
        c->mlp_hidden <= 0 || c->head_dim <= 0 || c->hidden % c->head_dim != 0) {
        g_set_error(ld->error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                    "%s: the embedder tensors are missing or malformed: not a FLUX transformer",
                    rd_safetensors_path(ld->m->st));
        return FALSE;
    }
    c->heads = c->hidden / c->head_dim;
    if (c->rope_axes[0] <= 0 || c->rope_axes[1] <= 0 || c->rope_axes[2] <= 0 ||
        c->rope_axes[0] + c->rope_axes[1] + c->rope_axes[2] != c->head_dim ||
        c->rope_axes[0] % 2 || c->rope_axes[1] % 2 || c->rope_axes[2] % 2) {
        if (config_json)
            return bad_config(ld->error, config_json,
                              "axes_dims_rope [%d, %d, %d] do not add up to the head size %d of "
                              "%s",
                              c->rope_axes[0], c->rope_axes[1], c->rope_axes[2], c->head_dim,
                              rd_safetensors_path(ld->m->st));
        g_set_error(ld->error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                    "%s: cannot tell the RoPE axes for head size %d; give the model's config.json",
                    rd_safetensors_path(ld->m->st), c->head_dim);
        return FALSE;
    }
    return TRUE;
}

static gboolean load_embedders(Loader *ld, const LayoutNames *nm)
{
    FluxModel *m = ld->m;
    const FluxConfig *c = &m->cfg;
    const int64_t C = c->hidden;
    FluxLinear final_mod;
    gboolean ok = get_linear(ld, nm->img_in, C, c->in_channels, &m->img_in) &&
                  get_linear(ld, nm->txt_in, C, c->txt_dim, &m->txt_in) &&
                  get_linear(ld, nm->time1, C, 256, &m->time_in1) &&
                  get_linear(ld, nm->time2, C, C, &m->time_in2) &&
                  get_linear(ld, nm->vec1, C, c->vec_dim, &m->vec_in1) &&
                  get_linear(ld, nm->vec2, C, C, &m->vec_in2) &&
                  get_linear(ld, nm->final_mod, 2 * C, C, &final_mod) &&
                  get_linear(ld, nm->final_linear, c->in_channels, C, &m->final_linear);
    if (ok && c->has_guidance)
        ok = get_linear(ld, nm->guid1, C, 256, &m->guidance_in1) &&
             get_linear(ld, nm->guid2, C, C, &m->guidance_in2);
    if (ok) {
        /* BFL stores (shift, scale); diffusers' norm_out stores (scale, shift). */
        int64_t shift_row = ld->diffusers ? C : 0, scale_row = ld->diffusers ? 0 : C;
        m->final_shift = linear_rows(&final_mod, shift_row, C);
        m->final_scale = linear_rows(&final_mod, scale_row, C);
    }
    return ok;
}

static gboolean detect_layout(Loader *ld)
{
    static const char *prefixes[] = {"", "model.diffusion_model."};
    for (size_t i = 0; i < G_N_ELEMENTS(prefixes); i++) {
        ld->prefix = prefixes[i];
        if (find(ld, "x_embedder.weight")) {
            ld->diffusers = TRUE;
            return TRUE;
        }
        if (find(ld, "img_in.weight"))
            return TRUE;
    }
    const char *other = rd_part_describe(ld->m->st);
    g_set_error(ld->error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                "%s is %s, not a FLUX transformer; choose the transformer file "
                "(e.g. flux1-dev.safetensors or the transformer/ folder)",
                rd_safetensors_path(ld->m->st), other ? other : "not a FLUX model");
    return FALSE;
}

/* A diffusers model root (model_index.json, or a transformer/ folder) holds it in transformer/; a component folder may hold its
 * config.json next to the weights. */
static char *resolve_path(const char *path, char **config_json)
{
    *config_json = NULL;
    if (!g_file_test(path, G_FILE_TEST_IS_DIR))
        return g_strdup(path);
    g_autofree char *index = g_build_filename(path, "model_index.json", NULL);
    g_autofree char *sub = g_build_filename(path, "transformer", NULL);
    gboolean root = g_file_test(index, G_FILE_TEST_EXISTS) || g_file_test(sub, G_FILE_TEST_IS_DIR);
    char *dir = g_strdup(root ? sub : path);
    char *config = g_build_filename(dir, "config.json", NULL);
    if (g_file_test(config, G_FILE_TEST_EXISTS))
        *config_json = config;
    else
        g_free(config);
    return dir;
}

gboolean flux_weights_load(FluxModel *m, const char *path, const char *config_json,
                           GError **error)
{
    g_autofree char *folder_config = NULL;
    g_autofree char *target = resolve_path(path, &folder_config);
    m->st = rd_safetensors_open(target, error);
    if (!m->st)
        return FALSE;
    Loader ld = {m, FALSE, "", error};
    if (!detect_layout(&ld))
        return FALSE;
    const LayoutNames *nm = ld.diffusers ? &diffusers_names : &bfl_names;
    if (!infer_config(&ld, nm, config_json ? config_json : folder_config) ||
        !load_embedders(&ld, nm))
        return FALSE;
    m->doubles = g_new0(FluxDoubleBlock, m->cfg.double_blocks);
    m->singles = g_new0(FluxSingleBlock, m->cfg.single_blocks);
    for (int i = 0; i < m->cfg.double_blocks; i++) {
        gboolean ok = ld.diffusers ? load_stream_diffusers(&ld, i, FALSE, &m->doubles[i].img) &&
                                         load_stream_diffusers(&ld, i, TRUE, &m->doubles[i].txt)
                                   : load_stream_bfl(&ld, i, "img", &m->doubles[i].img) &&
                                         load_stream_bfl(&ld, i, "txt", &m->doubles[i].txt);
        if (!ok)
            return FALSE;
    }
    for (int i = 0; i < m->cfg.single_blocks; i++)
        if (!load_single(&ld, i, &m->singles[i]))
            return FALSE;
    return TRUE;
}
