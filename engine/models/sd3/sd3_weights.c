/* SD3 transformer weights from a diffusers folder or one of Stability's single files
 * (sd3.5_large.safetensors, sd3_medium*.safetensors; with "model.diffusion_model." as ComfyUI and
 * the all-in-one files name them). The loader asks for diffusers names; in a single file each is
 * translated to Stability's (fused q/k/v become row views, nothing is copied). The architecture
 * is read from the tensors (blocks, q/k norms, MMDiT-X layers, the last block's text side); the
 * head size, which no shape tells, from config.json, the file's metadata, the q/k norm length,
 * or SD3's 64. */
#include <json-glib/json-glib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "json_load.h"
#include "resdit.h"
#include "sd3_private.h"

typedef struct {
    Sd3Model *m;
    gboolean stability; /* Stability's names (else diffusers') */
    const char *prefix; /* before every Stability name: "" or "model.diffusion_model." */
    GError **error;
} Loader;

typedef struct {
    const char *diffusers, *stability;
    int third; /* -1, or which third (q, k, v) of a fused qkv */
} NameRule;

/* Modules inside transformer_blocks.N / joint_blocks.N. */
static const NameRule block_rules[] = {
    {"norm1.linear", "x_block.adaLN_modulation.1", -1},
    {"norm1_context.linear", "context_block.adaLN_modulation.1", -1},
    {"attn.to_q", "x_block.attn.qkv", 0},
    {"attn.to_k", "x_block.attn.qkv", 1},
    {"attn.to_v", "x_block.attn.qkv", 2},
    {"attn.add_q_proj", "context_block.attn.qkv", 0},
    {"attn.add_k_proj", "context_block.attn.qkv", 1},
    {"attn.add_v_proj", "context_block.attn.qkv", 2},
    {"attn.to_out.0", "x_block.attn.proj", -1},
    {"attn.to_add_out", "context_block.attn.proj", -1},
    {"attn.norm_q", "x_block.attn.ln_q", -1},
    {"attn.norm_k", "x_block.attn.ln_k", -1},
    {"attn.norm_added_q", "context_block.attn.ln_q", -1},
    {"attn.norm_added_k", "context_block.attn.ln_k", -1},
    {"attn2.to_q", "x_block.attn2.qkv", 0},
    {"attn2.to_k", "x_block.attn2.qkv", 1},
    {"attn2.to_v", "x_block.attn2.qkv", 2},
    {"attn2.to_out.0", "x_block.attn2.proj", -1},
    {"attn2.norm_q", "x_block.attn2.ln_q", -1},
    {"attn2.norm_k", "x_block.attn2.ln_k", -1},
    {"ff.net.0.proj", "x_block.mlp.fc1", -1},
    {"ff.net.2", "x_block.mlp.fc2", -1},
    {"ff_context.net.0.proj", "context_block.mlp.fc1", -1},
    {"ff_context.net.2", "context_block.mlp.fc2", -1},
};

static const NameRule top_rules[] = {
    {"pos_embed.proj", "x_embedder.proj", -1},
    {"time_text_embed.timestep_embedder.linear_1", "t_embedder.mlp.0", -1},
    {"time_text_embed.timestep_embedder.linear_2", "t_embedder.mlp.2", -1},
    {"time_text_embed.text_embedder.linear_1", "y_embedder.mlp.0", -1},
    {"time_text_embed.text_embedder.linear_2", "y_embedder.mlp.2", -1},
    {"context_embedder", "context_embedder", -1},
    {"norm_out.linear", "final_layer.adaLN_modulation.1", -1},
    {"proj_out", "final_layer.linear", -1},
};

static char *apply_rules(const NameRule *rules, gsize n, const char *module, const char *param,
                         const char *block, int *third)
{
    for (gsize i = 0; i < n; i++)
        if (strcmp(module, rules[i].diffusers) == 0) {
            *third = rules[i].third;
            return g_strconcat(block, rules[i].stability, ".", param, NULL);
        }
    return NULL;
}

/* Stability's name of a diffusers tensor name (without the prefix), or NULL. */
static char *stability_name(const char *diffusers, int *third)
{
    *third = -1;
    if (strcmp(diffusers, "pos_embed.pos_embed") == 0)
        return g_strdup("pos_embed");
    const char *dot = strrchr(diffusers, '.');
    if (dot == NULL)
        return NULL;
    g_autofree char *module = g_strndup(diffusers, (gsize)(dot - diffusers));
    int index, used = 0;
    if (sscanf(module, "transformer_blocks.%d.%n", &index, &used) == 1 && used > 0) {
        g_autofree char *block = g_strdup_printf("joint_blocks.%d.", index);
        return apply_rules(block_rules, G_N_ELEMENTS(block_rules), module + used, dot + 1, block,
                           third);
    }
    return apply_rules(top_rules, G_N_ELEMENTS(top_rules), module, dot + 1, "", third);
}

/* The tensor holding a diffusers-named weight; *third says which third of it (-1: all). */
static const RdTensorInfo *find_part(Loader *ld, const char *name, int *third)
{
    *third = -1;
    if (!ld->stability)
        return rd_safetensors_find(ld->m->st, name);
    g_autofree char *mapped = stability_name(name, third);
    if (mapped == NULL)
        return NULL;
    g_autofree char *full = g_strconcat(ld->prefix, mapped, NULL);
    return rd_safetensors_find(ld->m->st, full);
}

static const RdTensorInfo *find(Loader *ld, const char *name)
{
    int third;
    return find_part(ld, name, &third);
}

static gboolean fail(Loader *ld, const char *what, const char *name)
{
    g_set_error(ld->error, RESDIT_ERROR, RESDIT_ERROR_MODEL, "%s: tensor %s %s",
                rd_safetensors_path(ld->m->st), name, what);
    return FALSE;
}

/* A tensor of rows x cols elements in any number of dimensions whose first is rows (a conv
 * kernel [out, in, 2, 2] is the matrix [out, in * 4]); a vector when cols == 0. */
static gboolean get(Loader *ld, const char *name, int64_t rows, int64_t cols, RdWeight *out)
{
    int third;
    const RdTensorInfo *t = find_part(ld, name, &third);
    if (t == NULL)
        return fail(ld, "is missing: the file is not a complete SD3 transformer", name);
    int64_t parts = third >= 0 ? 3 : 1;
    int64_t want = parts * rows * (cols > 0 ? cols : 1);
    gboolean leading = t->ndim >= 1 && (t->shape[0] == parts * rows ||
                                        (t->ndim == 3 && t->shape[0] == 1 && parts == 1));
    if (!leading || rd_tensor_info_numel(t) != want || t->dtype == RD_I64) {
        g_autofree char *what = g_strdup_printf(
            "has the wrong shape or type (expected %" G_GINT64_FORMAT " x %" G_GINT64_FORMAT
            " values): the file does not match this SD3 architecture",
            rows, cols > 0 ? cols : 1);
        return fail(ld, what, name);
    }
    RdWeight whole = {t->dtype, parts * rows, cols > 0 ? cols : 1, t->data, NULL, t->name, 0};
    *out = third >= 0 ? rd_weight_rows(&whole, third * rows, rows) : whole;
    return TRUE;
}

static gboolean get_linear(Loader *ld, const char *prefix, int64_t out_f, int64_t in_f,
                           Sd3Linear *lin)
{
    g_autofree char *w = g_strconcat(prefix, ".weight", NULL);
    g_autofree char *b = g_strconcat(prefix, ".bias", NULL);
    return get(ld, w, out_f, in_f, &lin->w) && get(ld, b, out_f, 0, &lin->b);
}

/* Whether block index has the tensor transformer_blocks.<index><suffix>. */
static gboolean has(Loader *ld, int index, const char *suffix)
{
    g_autofree char *name = g_strdup_printf("transformer_blocks.%d%s", index, suffix);
    return find(ld, name) != NULL;
}

static int64_t dim(Loader *ld, const char *name, int axis)
{
    const RdTensorInfo *t = find(ld, name);
    return t != NULL && axis < t->ndim ? t->shape[axis] : -1;
}

/* attention_head_dim from config.json beside the weights; 0 when there is none. */
static int head_dim_from_config(const char *config_path, GError **error)
{
    if (config_path == NULL || !g_file_test(config_path, G_FILE_TEST_EXISTS))
        return 0;
    g_autoptr(JsonParser) parser = json_parser_new();
    if (!rd_json_load_file(parser, config_path, error))
        return -1;
    JsonNode *root = json_parser_get_root(parser);
    JsonObject *o = JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
    gint64 v = 0;
    if (o == NULL || !json_object_has_member(o, "attention_head_dim"))
        return 0;
    if (!rd_json_get_int(o, "attention_head_dim", &v))
        v = -1;
    if (v < 1 || v > 1024) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                    "%s: attention_head_dim must be a whole number from 1 to 1024",
                    config_path);
        return -1;
    }
    return (int)v;
}

/* A single file has no config: its metadata ("attention_head_dim", as the tiny test files carry
 * it), else the q/k norm's length, else SD3's 64. */
static int head_dim_of_file(Loader *ld)
{
    g_autofree char *meta = rd_safetensors_metadata(ld->m->st, "attention_head_dim");
    gint64 v = meta != NULL ? g_ascii_strtoll(meta, NULL, 10) : 0;
    if (v >= 1 && v <= 1024)
        return (int)v;
    int64_t norm = dim(ld, "transformer_blocks.0.attn.norm_q.weight", 0);
    return norm >= 1 && norm <= 1024 ? (int)norm : 64;
}

static gboolean infer_config(Loader *ld, const char *config_path)
{
    Sd3Config *c = &ld->m->cfg;
    c->in_channels = 64;
    c->hidden = (int)dim(ld, "pos_embed.proj.weight", 0);
    c->txt_dim = (int)dim(ld, "context_embedder.weight", 1);
    c->vec_dim = (int)dim(ld, "time_text_embed.text_embedder.linear_1.weight", 1);
    int64_t positions = dim(ld, "pos_embed.pos_embed", 1);
    c->pos_max = positions > 0 ? (int)llround(sqrt((double)positions)) : -1;
    if (c->hidden <= 0 || c->txt_dim <= 0 || c->vec_dim <= 0 || c->pos_max <= 0 ||
        (int64_t)c->pos_max * c->pos_max != positions)
        return fail(ld, "(or the patch embedding, text embedder, position table) is missing or "
                        "malformed: the file is not an SD3 transformer",
                    "context_embedder.weight");
    c->head_dim = head_dim_from_config(config_path, ld->error);
    if (c->head_dim < 0)
        return FALSE;
    if (c->head_dim == 0)
        c->head_dim = head_dim_of_file(ld);
    if (c->hidden % c->head_dim != 0) {
        g_set_error(ld->error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                    "%s: hidden size %d is not a multiple of the head size %d",
                    rd_safetensors_path(ld->m->st), c->hidden, c->head_dim);
        return FALSE;
    }
    c->heads = c->hidden / c->head_dim;
    c->mlp_hidden = 4 * c->hidden;
    while (c->layers < 1000 && has(ld, c->layers, ".norm1.linear.weight"))
        c->layers++;
    if (c->layers == 0)
        return fail(ld, "is missing: the file has no joint blocks", "transformer_blocks.0");
    c->qk_norm = has(ld, 0, ".attn.norm_q.weight");
    c->dual = g_new0(gboolean, c->layers);
    for (int i = 0; i < c->layers; i++)
        c->dual[i] = has(ld, i, ".attn2.to_q.weight");
    return TRUE;
}

static gboolean load_attention(Loader *ld, const char *block, const char *attn, gboolean added,
                               gboolean with_out, Sd3Attention *a)
{
    const int64_t C = ld->m->cfg.hidden;
    const char *names[2][4] = {{"to_q", "to_k", "to_v", "to_out.0"},
                               {"add_q_proj", "add_k_proj", "add_v_proj", "to_add_out"}};
    const char *norms[2][2] = {{"norm_q", "norm_k"}, {"norm_added_q", "norm_added_k"}};
    Sd3Linear *lins[4] = {&a->q, &a->k, &a->v, &a->out};
    for (int i = 0; i < 4; i++) {
        if (i == 3 && !with_out)
            break;
        g_autofree char *p = g_strdup_printf("%s.%s.%s", block, attn, names[added][i]);
        if (!get_linear(ld, p, C, C, lins[i]))
            return FALSE;
    }
    if (!ld->m->cfg.qk_norm)
        return TRUE;
    g_autofree char *qn = g_strdup_printf("%s.%s.%s.weight", block, attn, norms[added][0]);
    g_autofree char *kn = g_strdup_printf("%s.%s.%s.weight", block, attn, norms[added][1]);
    return get(ld, qn, ld->m->cfg.head_dim, 0, &a->q_norm) &&
           get(ld, kn, ld->m->cfg.head_dim, 0, &a->k_norm);
}

static gboolean load_mlp(Loader *ld, const char *block, const char *ff, Sd3Linear *in,
                         Sd3Linear *out)
{
    const Sd3Config *c = &ld->m->cfg;
    g_autofree char *pin = g_strdup_printf("%s.%s.net.0.proj", block, ff);
    g_autofree char *pout = g_strdup_printf("%s.%s.net.2", block, ff);
    return get_linear(ld, pin, c->mlp_hidden, c->hidden, in) &&
           get_linear(ld, pout, c->hidden, c->mlp_hidden, out);
}

static gboolean load_block(Loader *ld, int i, Sd3Block *b)
{
    const Sd3Config *c = &ld->m->cfg;
    const int64_t C = c->hidden;
    g_autofree char *p = g_strdup_printf("transformer_blocks.%d", i);
    g_autofree char *mod = g_strconcat(p, ".norm1.linear", NULL);
    g_autofree char *ctx_mod = g_strconcat(p, ".norm1_context.linear", NULL);
    b->dual = c->dual[i];
    b->context_pre_only = !has(ld, i, ".attn.to_add_out.weight");
    if (!get_linear(ld, mod, (b->dual ? 9 : 6) * C, C, &b->mod) ||
        !get_linear(ld, ctx_mod, (b->context_pre_only ? 2 : 6) * C, C, &b->ctx_mod) ||
        !load_attention(ld, p, "attn", FALSE, TRUE, &b->img) ||
        !load_attention(ld, p, "attn", TRUE, !b->context_pre_only, &b->txt) ||
        (b->dual && !load_attention(ld, p, "attn2", FALSE, TRUE, &b->img2)) ||
        !load_mlp(ld, p, "ff", &b->mlp_in, &b->mlp_out))
        return FALSE;
    return b->context_pre_only || load_mlp(ld, p, "ff_context", &b->ctx_mlp_in, &b->ctx_mlp_out);
}

static gboolean load_embedders(Loader *ld)
{
    Sd3Model *m = ld->m;
    const int64_t C = m->cfg.hidden;
    return get_linear(ld, "pos_embed.proj", C, m->cfg.in_channels, &m->patch_in) &&
           get(ld, "pos_embed.pos_embed", (int64_t)m->cfg.pos_max * m->cfg.pos_max, C,
               &m->pos_table) &&
           get_linear(ld, "time_text_embed.timestep_embedder.linear_1", C, 256, &m->time_in1) &&
           get_linear(ld, "time_text_embed.timestep_embedder.linear_2", C, C, &m->time_in2) &&
           get_linear(ld, "time_text_embed.text_embedder.linear_1", C, m->cfg.vec_dim,
                      &m->vec_in1) &&
           get_linear(ld, "time_text_embed.text_embedder.linear_2", C, C, &m->vec_in2) &&
           get_linear(ld, "context_embedder", C, m->cfg.txt_dim, &m->txt_in) &&
           get_linear(ld, "norm_out.linear", 2 * C, C, &m->final_mod) &&
           get_linear(ld, "proj_out", m->cfg.in_channels, C, &m->final_out);
}

/* A model root holds the transformer in transformer/; a component folder may hold its
 * config.json next to the weights. */
static char *resolve_path(const char *path, char **config_path)
{
    *config_path = NULL;
    if (!g_file_test(path, G_FILE_TEST_IS_DIR))
        return g_strdup(path);
    g_autofree char *sub = g_build_filename(path, "transformer", NULL);
    char *dir = g_strdup(g_file_test(sub, G_FILE_TEST_IS_DIR) ? sub : path);
    *config_path = g_build_filename(dir, "config.json", NULL);
    return dir;
}

static const char *const stability_prefixes[] = {"", "model.diffusion_model."};

/* The joint blocks' text projections, the patch convolution and the position table: FLUX has
 * the first (in diffusers' names) but neither of the others. */
static gboolean is_sd3(Loader *ld)
{
    return find(ld, "transformer_blocks.0.attn.add_q_proj.weight") != NULL &&
           find(ld, "pos_embed.proj.weight") != NULL && find(ld, "pos_embed.pos_embed") != NULL;
}

/* Diffusers' names, or Stability's with or without ComfyUI's prefix. */
static gboolean detect_layout(Loader *ld)
{
    if (is_sd3(ld))
        return TRUE;
    ld->stability = TRUE;
    for (gsize i = 0; i < G_N_ELEMENTS(stability_prefixes); i++) {
        ld->prefix = stability_prefixes[i];
        if (is_sd3(ld))
            return TRUE;
    }
    ld->stability = FALSE;
    ld->prefix = "";
    return FALSE;
}

gboolean sd3_weights_load(Sd3Model *m, const char *path, GError **error)
{
    g_autofree char *config_path = NULL;
    g_autofree char *target = resolve_path(path, &config_path);
    m->st = rd_safetensors_open(target, error);
    if (m->st == NULL)
        return FALSE;
    Loader ld = {m, FALSE, "", error};
    if (!detect_layout(&ld)) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                    "%s is not an SD3 transformer (neither diffusers' transformer_blocks.0.attn."
                    "add_q_proj nor Stability's joint_blocks.0.context_block.attn.qkv)",
                    rd_safetensors_path(m->st));
        return FALSE;
    }
    m->shift_first = ld.stability;
    if (!infer_config(&ld, config_path) || !load_embedders(&ld))
        return FALSE;
    m->blocks = g_new0(Sd3Block, m->cfg.layers);
    for (int i = 0; i < m->cfg.layers; i++)
        if (!load_block(&ld, i, &m->blocks[i]))
            return FALSE;
    if (!m->blocks[m->cfg.layers - 1].context_pre_only)
        return fail(&ld, "exists: the last block of an SD3 transformer updates the image only",
                    "to_add_out of the last block");
    return TRUE;
}

gboolean sd3_weights_recognise(const char *path)
{
    g_autofree char *config_path = NULL;
    g_autofree char *target = resolve_path(path, &config_path);
    Sd3Model probe = {0};
    probe.st = rd_safetensors_open(target, NULL);
    Loader ld = {&probe, FALSE, "", NULL};
    gboolean yes = probe.st != NULL && detect_layout(&ld);
    rd_safetensors_close(probe.st);
    return yes;
}
