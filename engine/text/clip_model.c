#include "clip_model.h"

#include <math.h>
#include <string.h>

#include "json_load.h"
#include "resdit.h"
#include "text_config.h"
#include "text_scratch.h"
#include "text_weights.h"

#define PROBE "embeddings.token_embedding.weight"
#define T5_PROBE "block.0.layer.0.SelfAttention.q.weight"

typedef struct {
    RdWeight ln1_w, ln1_b, q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b;
    RdWeight ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b;
} ClipLayer;

struct RdClipModel {
    RdClipConfig cfg;
    RdBackend *backend;
    RdTextWeights *weights;
    ClipLayer *layers;
    RdWeight final_w, final_b;
    RdWeight proj_w; /* text_projection, when cfg.projection_dim > 0 */
    char *meta;      /* metadata key prefix of a single file: "clip_", "clip_g_" (bundled) */
    RdLoraTargets *lora_targets; /* built on the first LoRA */
    RdLoraState *lora_state;
};

static gboolean parse_act(const char *name, RdUnaryOp *op)
{
    if (g_strcmp0(name, "quick_gelu") == 0)
        *op = RD_UNARY_GELU_QUICK;
    else if (g_strcmp0(name, "gelu") == 0)
        *op = RD_UNARY_GELU_ERF;
    else if (g_strcmp0(name, "gelu_new") == 0 || g_strcmp0(name, "gelu_pytorch_tanh") == 0)
        *op = RD_UNARY_GELU_TANH;
    else
        return FALSE;
    return TRUE;
}

static int count_layers(const RdTextWeights *w)
{
    int n = 0;
    for (;; n++) {
        char *name = g_strdup_printf("encoder.layers.%d.self_attn.q_proj.weight", n);
        gboolean found = rd_text_weights_find(w, name) != NULL;
        g_free(name);
        if (!found)
            return n;
    }
}

/* A "__metadata__" entry of a single file about this encoder: "clip_<key>", or "clip_g_<key>" for
 * the CLIP-G of a checkpoint that bundles several. */
static char *single_file_meta(RdClipModel *m, const char *key)
{
    g_autofree char *full = g_strconcat(m->meta, key, NULL);
    return rd_text_weights_metadata(m->weights, full);
}

/* The tensors cannot tell the head count: CLIP-L's and OpenCLIP's heads are 64 wide; a single file
 * of another shape (the tests' tiny CLIPs) says it in its metadata ("clip_num_attention_heads"). */
static int heads_without_config(RdClipModel *m)
{
    g_autofree char *heads = single_file_meta(m, "num_attention_heads");
    guint64 v;
    if (heads && g_ascii_string_to_unsigned(heads, 10, 1, 4096, &v, NULL))
        return (int)v;
    return MAX(1, m->cfg.hidden / 64);
}

/* Nor the activation: OpenAI's CLIP-L (768) uses quick GELU, OpenCLIP ViT-H (1024) and bigG (1280,
 * SD3's CLIP-G) the exact one; a tiny single file says it ("clip_hidden_act"). */
static char *act_without_config(RdClipModel *m)
{
    char *act = single_file_meta(m, "hidden_act");
    if (act)
        return act;
    return g_strdup(m->cfg.hidden == 1024 || m->cfg.hidden == 1280 ? "gelu" : "quick_gelu");
}

/* Config from config.json when there is one, else from the tensors (CLIP-L defaults). */
static gboolean read_config(RdClipModel *m, const char *path, GError **error)
{
    gboolean failed;
    JsonObject *cfg = rd_text_config_load(path, &failed, error);
    if (failed)
        return FALSE;
    JsonObject *text = rd_json_get_object(cfg, "text_config") ? rd_json_get_object(cfg, "text_config")
                                                               : cfg;
    const RdTensorInfo *emb = rd_text_weights_find(m->weights, PROBE);
    const RdTensorInfo *pos =
        rd_text_weights_find(m->weights, "embeddings.position_embedding.weight");
    RdClipConfig *c = &m->cfg;
    c->vocab_size = (int)emb->shape[0];
    c->hidden = emb->ndim == 2 ? (int)emb->shape[1] : 0;
    c->layers = count_layers(m->weights);
    const RdTensorInfo *fc1 = rd_text_weights_find(m->weights, "encoder.layers.0.mlp.fc1.weight");
    c->intermediate = fc1 ? (int)fc1->shape[0] : 4 * c->hidden;
    c->max_positions = pos ? (int)pos->shape[0] : 77;
    c->heads = rd_text_config_int(text, "num_attention_heads", heads_without_config(m));
    c->eps = (float)rd_text_config_double(text, "layer_norm_eps", 1e-5);
    c->eos_token_id = rd_text_config_int(text, "eos_token_id", -1);
    c->eos_by_argmax = c->eos_token_id == 2;
    g_autofree char *default_act = act_without_config(m);
    const char *act = rd_text_config_string(text, "hidden_act", default_act);
    gboolean ok = TRUE;
    if (!parse_act(act, &c->act)) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL, "%s: unsupported hidden_act \"%s\"",
                    path, act);
        ok = FALSE;
    } else if (c->heads < 1 || c->heads > MAX(c->hidden, 1) || !isfinite(c->eps) ||
               c->eps <= 0 || c->eps >= 1) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                    "%s: num_attention_heads %d or layer_norm_eps %g in config.json is out of "
                    "range; fix the config.json or use the one that came with the model",
                    path, c->heads, (double)c->eps);
        ok = FALSE;
    } else if (c->hidden <= 0 || c->layers == 0 || c->hidden % c->heads != 0 ||
               rd_text_config_int(text, "hidden_size", c->hidden) != c->hidden ||
               rd_text_config_int(text, "num_hidden_layers", c->layers) != c->layers) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                    "%s: the CLIP tensors (hidden %d, %d layers) do not match config.json",
                    rd_text_weights_path(m->weights), c->hidden, c->layers);
        ok = FALSE;
    }
    if (cfg)
        json_object_unref(cfg);
    return ok;
}

static gboolean bind_pair(RdClipModel *m, int layer, const char *part, int64_t rows, int64_t cols,
                          RdWeight *w, RdWeight *b, GError **error)
{
    char *wn = g_strdup_printf("encoder.layers.%d.%s.weight", layer, part);
    char *bn = g_strdup_printf("encoder.layers.%d.%s.bias", layer, part);
    gboolean ok = rd_text_weights_bind(m->weights, wn, rows, cols, w, error) &&
                  rd_text_weights_bind(m->weights, bn, 1, rows > 1 ? rows : cols, b, error);
    g_free(wn);
    g_free(bn);
    return ok;
}

static gboolean bind_layer(RdClipModel *m, int i, GError **error)
{
    ClipLayer *l = &m->layers[i];
    const int64_t H = m->cfg.hidden, I = m->cfg.intermediate;
    return bind_pair(m, i, "layer_norm1", 1, H, &l->ln1_w, &l->ln1_b, error) &&
           bind_pair(m, i, "self_attn.q_proj", H, H, &l->q_w, &l->q_b, error) &&
           bind_pair(m, i, "self_attn.k_proj", H, H, &l->k_w, &l->k_b, error) &&
           bind_pair(m, i, "self_attn.v_proj", H, H, &l->v_w, &l->v_b, error) &&
           bind_pair(m, i, "self_attn.out_proj", H, H, &l->o_w, &l->o_b, error) &&
           bind_pair(m, i, "layer_norm2", 1, H, &l->ln2_w, &l->ln2_b, error) &&
           bind_pair(m, i, "mlp.fc1", I, H, &l->fc1_w, &l->fc1_b, error) &&
           bind_pair(m, i, "mlp.fc2", H, I, &l->fc2_w, &l->fc2_b, error);
}

/* text_projection sits beside text_model. (transformers' CLIPTextModelWithProjection, ComfyUI's
 * clip_g.safetensors, Stability's bundled text_encoders.clip_g.transformer.). */
static gboolean bind_projection(RdClipModel *m, GError **error)
{
    const char *prefix = rd_text_weights_prefix(m->weights);
    g_autofree char *outer = g_str_has_suffix(prefix, "text_model.")
                                 ? g_strndup(prefix, strlen(prefix) - strlen("text_model."))
                                 : g_strdup(prefix);
    g_autofree char *full = g_strconcat(outer, "text_projection.weight", NULL);
    const RdTensorInfo *info = rd_text_weights_find_full(m->weights, full);
    if (!info)
        return TRUE;
    if (info->ndim != 2 || info->shape[1] != m->cfg.hidden) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                    "%s: tensor %s is not a [projection, %d] matrix", info->file, info->name,
                    m->cfg.hidden);
        return FALSE;
    }
    m->cfg.projection_dim = (int)info->shape[0];
    return rd_text_weights_bind_full(m->weights, outer, "text_projection.weight", -1,
                                     m->cfg.hidden, &m->proj_w, error);
}

/* "text_encoders.clip_g." -> "clip_g_"; anything else "clip_". */
static char *meta_prefix(const char *prefer)
{
    if (!prefer || !g_str_has_prefix(prefer, "text_encoders."))
        return g_strdup("clip_");
    g_autofree char *role = g_strdup(prefer + strlen("text_encoders."));
    g_strdelimit(role, ".", '\0');
    return g_strconcat(role, "_", NULL);
}

RdClipModel *rd_clip_model_load(const char *path, RdBackend *backend, GError **error)
{
    return rd_clip_model_load_within(path, NULL, backend, error);
}

RdClipModel *rd_clip_model_load_within(const char *path, const char *prefer, RdBackend *backend,
                                       GError **error)
{
    RdClipModel *m = g_new0(RdClipModel, 1);
    m->backend = backend;
    m->weights = rd_text_weights_open_within(path, prefer, "a CLIP text encoder", PROBE, T5_PROBE,
                                             "a T5 encoder", backend, error);
    m->meta = meta_prefix(prefer && m->weights &&
                                  g_str_has_prefix(rd_text_weights_prefix(m->weights), prefer)
                              ? prefer
                              : NULL);
    gboolean ok = m->weights && read_config(m, path, error);
    if (ok) {
        m->layers = g_new0(ClipLayer, m->cfg.layers);
        for (int i = 0; ok && i < m->cfg.layers; i++)
            ok = bind_layer(m, i, error);
        ok = ok &&
             rd_text_weights_bind(m->weights, "final_layer_norm.weight", 1, m->cfg.hidden,
                                  &m->final_w, error) &&
             rd_text_weights_bind(m->weights, "final_layer_norm.bias", 1, m->cfg.hidden,
                                  &m->final_b, error) &&
             bind_projection(m, error);
    }
    if (!ok) {
        rd_clip_model_free(m);
        return NULL;
    }
    return m;
}

void rd_clip_model_free(RdClipModel *model)
{
    if (!model)
        return;
    rd_text_weights_close(model->weights);
    rd_lora_state_free(model->lora_state); /* the merged copies, after their device copies */
    rd_lora_targets_free(model->lora_targets);
    g_free(model->layers);
    g_free(model->meta);
    g_free(model);
}

const RdClipConfig *rd_clip_model_config(const RdClipModel *model)
{
    return &model->cfg;
}

const char *rd_clip_model_key_prefix(const RdClipModel *model)
{
    return rd_text_weights_prefix(model->weights);
}

void rd_clip_model_drop_projection(RdClipModel *model)
{
    model->cfg.projection_dim = 0; /* its weight stays bound and is released with the others */
}

int rd_clip_model_projected_dim(const RdClipModel *model)
{
    return model->cfg.projection_dim > 0 ? model->cfg.projection_dim : model->cfg.hidden;
}

size_t rd_clip_model_weight_bytes(const RdClipModel *model)
{
    return rd_text_weights_bytes(model->weights);
}

int rd_clip_model_pool_index(const RdClipModel *model, const int32_t *ids, int n, int eos_id)
{
    int best = 0;
    for (int i = 0; i < n; i++) {
        if (model->cfg.eos_by_argmax ? ids[i] > ids[best] : ids[i] == eos_id)
            best = i;
        if (!model->cfg.eos_by_argmax && ids[i] == eos_id)
            break;
    }
    return best;
}

/* x [n, H] host embeddings: token + position. */
static gboolean embed(RdClipModel *m, const int32_t *ids, int n, float *x, GError **error)
{
    const int64_t H = m->cfg.hidden;
    int32_t *positions = g_new(int32_t, n);
    float *pos = g_new(float, (size_t)n *H);
    for (int i = 0; i < n; i++)
        positions[i] = i;
    gboolean ok = rd_text_weights_gather(m->weights, PROBE, ids, n, H, x, error) &&
                  rd_text_weights_gather(m->weights, "embeddings.position_embedding.weight",
                                         positions, n, H, pos, error);
    for (int64_t i = 0; ok && i < n * H; i++)
        x[i] += pos[i];
    g_free(positions);
    g_free(pos);
    return ok;
}

static void run_layer(RdClipModel *m, const ClipLayer *l, RdTensor *x, RdTensor *h, RdTensor *q,
                      RdTensor *k, RdTensor *v, RdTensor *attn, RdTensor *mlp)
{
    RdBackend *be = m->backend;
    const int heads = m->cfg.heads, head_dim = m->cfg.hidden / heads;
    const RdAttentionExtras causal = {.causal = TRUE, .bias = NULL};
    be->layer_norm(be, x, &l->ln1_w, &l->ln1_b, m->cfg.eps, h);
    be->linear(be, h, &l->q_w, &l->q_b, q);
    be->linear(be, h, &l->k_w, &l->k_b, k);
    be->linear(be, h, &l->v_w, &l->v_b, v);
    be->attention(be, q, k, v, attn, heads, head_dim, &causal);
    be->linear(be, attn, &l->o_w, &l->o_b, h);
    be->gated_add(be, x, NULL, h);
    be->layer_norm(be, x, &l->ln2_w, &l->ln2_b, m->cfg.eps, h);
    be->linear(be, h, &l->fc1_w, &l->fc1_b, mlp);
    be->unary(be, m->cfg.act, mlp);
    be->linear(be, mlp, &l->fc2_w, &l->fc2_b, h);
    be->gated_add(be, x, NULL, h);
}

typedef struct {
    float *hidden;      /* [n, H] final hidden state (after the final norm) */
    float *penultimate; /* [n, H] hidden_states[-2]: the input of the last layer, no norm */
    float *pooled;      /* [H] final hidden state at the pool index */
    float *projected;   /* [projected_dim] text_projection(pooled) */
} ClipOutputs;

/* text_projection (no bias) of the pooled row, or a copy without one. in and proj are the
 * caller's: the scratch keeps their addresses until it is freed. */
static gboolean project(RdClipModel *m, RdScratch *s, RdTensor *in, RdTensor *proj,
                        const float *pooled, float *out, GError **error)
{
    const int H = m->cfg.hidden, P = m->cfg.projection_dim;
    if (P <= 0) {
        memcpy(out, pooled, (size_t)H * sizeof(float));
        return TRUE;
    }
    RdBackend *be = m->backend;
    if (!rd_scratch_alloc(s, in, 1, H, "CLIP", error) ||
        !rd_scratch_alloc(s, proj, 1, P, "CLIP", error))
        return FALSE;
    be->upload(be, pooled, in);
    be->linear(be, in, &m->proj_w, NULL, proj);
    be->download(be, proj, out);
    return TRUE;
}

static gboolean clip_pass(RdClipModel *model, const int32_t *ids, int n, int eos_id,
                          const ClipOutputs *out, size_t *peak_bytes, GError **error)
{
    const RdClipConfig *c = &model->cfg;
    if (n <= 0 || n > c->max_positions) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                    "CLIP takes 1 to %d tokens, not %d", c->max_positions, n);
        return FALSE;
    }
    RdBackend *be = model->backend;
    const size_t row = (size_t)c->hidden * sizeof(float);
    float *host = g_new(float, (size_t)n * c->hidden);
    RdScratch s;
    rd_scratch_init(&s, be);
    RdTensor x, h, q, k, v, attn, mlp, pooled_in, projected;
    gboolean ok = embed(model, ids, n, host, error) &&
                  rd_scratch_alloc(&s, &x, n, c->hidden, "CLIP", error) &&
                  rd_scratch_alloc(&s, &h, n, c->hidden, "CLIP", error) &&
                  rd_scratch_alloc(&s, &q, n, c->hidden, "CLIP", error) &&
                  rd_scratch_alloc(&s, &k, n, c->hidden, "CLIP", error) &&
                  rd_scratch_alloc(&s, &v, n, c->hidden, "CLIP", error) &&
                  rd_scratch_alloc(&s, &attn, n, c->hidden, "CLIP", error) &&
                  rd_scratch_alloc(&s, &mlp, n, c->intermediate, "CLIP", error);
    if (ok) {
        be->upload(be, host, &x);
        for (int i = 0; i < c->layers; i++) {
            if (i == c->layers - 1 && out->penultimate)
                be->download(be, &x, out->penultimate);
            run_layer(model, &model->layers[i], &x, &h, &q, &k, &v, &attn, &mlp);
        }
        be->layer_norm(be, &x, &model->final_w, &model->final_b, c->eps, &x);
        be->download(be, &x, host);
        if (out->hidden)
            memcpy(out->hidden, host, (size_t)n * row);
        const float *pooled = host + (size_t)rd_clip_model_pool_index(model, ids, n, eos_id) *
                                         c->hidden;
        if (out->pooled)
            memcpy(out->pooled, pooled, row);
        if (out->projected)
            ok = project(model, &s, &pooled_in, &projected, pooled, out->projected, error);
    }
    if (peak_bytes)
        *peak_bytes = s.bytes + (size_t)n * row * 2;
    rd_scratch_free(&s);
    g_free(host);
    return ok;
}

gboolean rd_clip_model_forward(RdClipModel *model, const int32_t *ids, int n, int eos_id,
                               float *hidden, float *pooled, size_t *peak_bytes, GError **error)
{
    const ClipOutputs out = {.hidden = hidden, .pooled = pooled};
    return clip_pass(model, ids, n, eos_id, &out, peak_bytes, error);
}

gboolean rd_clip_model_forward_penultimate(RdClipModel *model, const int32_t *ids, int n,
                                           int eos_id, float *penultimate, float *projected,
                                           size_t *peak_bytes, GError **error)
{
    const ClipOutputs out = {.penultimate = penultimate, .projected = projected};
    return clip_pass(model, ids, n, eos_id, &out, peak_bytes, error);
}

/* LoRA text-encoder parts name the layers as transformers' CLIPTextModel does
 * ("text_model.encoder.layers.N.self_attn.q_proj"; kohya's lora_te1_ writes the dots as
 * underscores). */
static RdLoraTargets *clip_lora_targets(RdClipModel *m)
{
    RdLoraTargets *t = rd_lora_targets_new();
    for (int i = 0; i < m->cfg.layers; i++) {
        ClipLayer *l = &m->layers[i];
        const struct {
            const char *part;
            RdWeight *w;
        } linears[] = {{"self_attn.q_proj", &l->q_w}, {"self_attn.k_proj", &l->k_w},
                       {"self_attn.v_proj", &l->v_w}, {"self_attn.out_proj", &l->o_w},
                       {"mlp.fc1", &l->fc1_w},        {"mlp.fc2", &l->fc2_w}};
        for (size_t k = 0; k < G_N_ELEMENTS(linears); k++) {
            g_autofree char *name =
                g_strdup_printf("text_model.encoder.layers.%d.%s", i, linears[k].part);
            rd_lora_targets_add(t, name, &linears[k].w, 1);
        }
    }
    return t;
}

gboolean rd_clip_model_set_loras(RdClipModel *m, RdLoraFile *const *files, const double *strengths,
                                 int n, gboolean check_only, GError **error)
{
    if (!m->lora_targets) {
        m->lora_targets = clip_lora_targets(m);
        m->lora_state = rd_lora_state_new(m->backend);
    }
    RdLoraPlan *plan = NULL;
    if (n > 0) {
        plan = rd_lora_plan(m->lora_targets, RD_LORA_CLIP_L, files, strengths, n, error);
        if (!plan)
            return FALSE;
    }
    gboolean ok = check_only || rd_lora_commit(m->lora_state, plan, error);
    rd_lora_plan_free(plan);
    return ok;
}
