#include "t5_model.h"

#include <math.h>
#include <string.h>

#include "resdit.h"
#include "text_config.h"
#include "text_scratch.h"
#include "text_weights.h"

#define PROBE "encoder.block.0.layer.0.SelfAttention.q.weight"
#define CLIP_PROBE "embeddings.token_embedding.weight"
#define REL_BIAS "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"

typedef struct {
    RdWeight ln0, q, k, v, o, ln1, wi0, wi1, wo;
} T5Layer;

struct RdT5Model {
    RdT5Config cfg;
    RdBackend *backend;
    RdTextWeights *weights;
    T5Layer *layers;
    RdWeight final_norm;
    const char *embedding; /* "shared.weight" or "encoder.embed_tokens.weight" */
};

static int count_blocks(const RdTextWeights *w)
{
    int n = 0;
    for (;; n++) {
        char *name = g_strdup_printf("encoder.block.%d.layer.0.SelfAttention.q.weight", n);
        gboolean found = rd_text_weights_find(w, name) != NULL;
        g_free(name);
        if (!found)
            return n;
    }
}

static gboolean model_error(GError **error, const RdT5Model *m, const char *what)
{
    g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL, "%s: %s", rd_text_weights_path(m->weights),
                what);
    return FALSE;
}

/* Sizes from the tensors, checked against config.json when there is one. */
static gboolean read_config(RdT5Model *m, const char *path, GError **error)
{
    RdTextWeights *w = m->weights;
    m->embedding =
        rd_text_weights_find(w, "shared.weight") ? "shared.weight" : "encoder.embed_tokens.weight";
    const RdTensorInfo *emb = rd_text_weights_find(w, m->embedding);
    const RdTensorInfo *q = rd_text_weights_find(w, PROBE);
    const RdTensorInfo *rel = rd_text_weights_find(w, REL_BIAS);
    const RdTensorInfo *wi =
        rd_text_weights_find(w, "encoder.block.0.layer.1.DenseReluDense.wi_0.weight");
    if (rd_text_weights_find(w, "encoder.block.0.layer.0.SelfAttention.q.scale_weight"))
        return model_error(error, m,
                           "scaled fp8 weights (scale_weight tensors) are not supported; "
                           "use t5xxl_fp16.safetensors or t5xxl_fp8_e4m3fn.safetensors");
    if (!emb || emb->ndim != 2)
        return model_error(error, m, "missing tensor shared.weight (the token embedding)");
    if (!rel || rel->ndim != 2)
        return model_error(error, m, "missing tensor " REL_BIAS);
    if (!wi || wi->ndim != 2)
        return model_error(error, m,
                           "no gated feed-forward (DenseReluDense.wi_0): not a T5 v1.1 "
                           "encoder such as T5-XXL");
    RdT5Config *c = &m->cfg;
    c->vocab_size = (int)emb->shape[0];
    c->d_model = (int)emb->shape[1];
    c->num_buckets = (int)rel->shape[0];
    c->heads = (int)rel->shape[1];
    c->d_kv = q->ndim == 2 && c->heads > 0 ? (int)(q->shape[0] / c->heads) : 0;
    c->d_ff = (int)wi->shape[0];
    c->layers = count_blocks(w);
    c->max_distance = 128;
    c->eps = 1e-6f;

    gboolean failed;
    JsonObject *cfg = rd_text_config_load(path, &failed, error);
    if (failed)
        return FALSE;
    gboolean ok = TRUE;
    if (cfg) {
        c->max_distance = rd_text_config_int(cfg, "relative_attention_max_distance", 128);
        c->eps = (float)rd_text_config_double(cfg, "layer_norm_epsilon", 1e-6);
        const char *ff = rd_text_config_string(cfg, "feed_forward_proj", "gated-gelu");
        ok = rd_text_config_int(cfg, "d_model", c->d_model) == c->d_model &&
             rd_text_config_int(cfg, "num_heads", c->heads) == c->heads &&
             rd_text_config_int(cfg, "d_kv", c->d_kv) == c->d_kv &&
             rd_text_config_int(cfg, "num_layers", c->layers) == c->layers &&
             g_strcmp0(ff, "gated-gelu") == 0;
        json_object_unref(cfg);
        if (!ok)
            return model_error(error, m,
                               "the tensors do not match config.json (or its "
                               "feed_forward_proj is not gated-gelu)");
    }
    if (c->num_buckets < 4 || c->max_distance <= c->num_buckets / 4 ||
        c->max_distance > (1 << 20) || !isfinite(c->eps) || c->eps <= 0 || c->eps >= 1)
        return model_error(error, m,
                           "relative_attention_max_distance or layer_norm_epsilon in "
                           "config.json is out of range (or the relative attention bias has "
                           "fewer than 4 buckets)");
    if (c->d_kv <= 0 || c->layers == 0 || (int64_t)c->d_kv * c->heads != q->shape[0])
        return model_error(error, m, "the attention shapes do not fit (q rows not heads x d_kv)");
    return TRUE;
}

static gboolean bind(RdT5Model *m, int block, const char *part, int64_t rows, int64_t cols,
                     RdWeight *w, GError **error)
{
    char *name = g_strdup_printf("encoder.block.%d.layer.%s.weight", block, part);
    gboolean ok = rd_text_weights_bind(m->weights, name, rows, cols, w, error);
    g_free(name);
    return ok;
}

static gboolean bind_layer(RdT5Model *m, int i, GError **error)
{
    T5Layer *l = &m->layers[i];
    const int64_t D = m->cfg.d_model, inner = (int64_t)m->cfg.heads * m->cfg.d_kv, F = m->cfg.d_ff;
    return bind(m, i, "0.layer_norm", 1, D, &l->ln0, error) &&
           bind(m, i, "0.SelfAttention.q", inner, D, &l->q, error) &&
           bind(m, i, "0.SelfAttention.k", inner, D, &l->k, error) &&
           bind(m, i, "0.SelfAttention.v", inner, D, &l->v, error) &&
           bind(m, i, "0.SelfAttention.o", D, inner, &l->o, error) &&
           bind(m, i, "1.layer_norm", 1, D, &l->ln1, error) &&
           bind(m, i, "1.DenseReluDense.wi_0", F, D, &l->wi0, error) &&
           bind(m, i, "1.DenseReluDense.wi_1", F, D, &l->wi1, error) &&
           bind(m, i, "1.DenseReluDense.wo", D, F, &l->wo, error);
}

RdT5Model *rd_t5_model_load(const char *path, RdBackend *backend, GError **error)
{
    RdT5Model *m = g_new0(RdT5Model, 1);
    m->backend = backend;
    m->weights = rd_text_weights_open(path, "a T5 encoder", PROBE, CLIP_PROBE,
                                      "a CLIP text encoder", backend, error);
    gboolean ok = m->weights && read_config(m, path, error);
    if (ok) {
        m->layers = g_new0(T5Layer, m->cfg.layers);
        for (int i = 0; ok && i < m->cfg.layers; i++)
            ok = bind_layer(m, i, error);
        ok = ok && rd_text_weights_bind(m->weights, "encoder.final_layer_norm.weight", 1,
                                        m->cfg.d_model, &m->final_norm, error);
    }
    if (!ok) {
        rd_t5_model_free(m);
        return NULL;
    }
    return m;
}

void rd_t5_model_free(RdT5Model *model)
{
    if (!model)
        return;
    rd_text_weights_close(model->weights);
    g_free(model->layers);
    g_free(model);
}

const RdT5Config *rd_t5_model_config(const RdT5Model *model)
{
    return &model->cfg;
}

size_t rd_t5_model_weight_bytes(const RdT5Model *model)
{
    return rd_text_weights_bytes(model->weights);
}

int rd_t5_relative_bucket(int relative_position, int num_buckets, int max_distance)
{
    int half = num_buckets / 2, bucket = relative_position > 0 ? half : 0;
    int n = abs(relative_position), max_exact = half / 2;
    if (n < max_exact)
        return bucket + n;
    /* float32 as the reference computes it, truncated toward zero */
    float large = logf((float)n / (float)max_exact) / (float)log((double)max_distance / max_exact) *
                  (float)(half - max_exact);
    return bucket + MIN(max_exact + (int)large, half - 1);
}

/* bias [heads * n, n]: row h * n + i, column j = table[bucket(j - i), h]. */
static gboolean position_bias(RdT5Model *m, int n, float *bias, GError **error)
{
    const RdT5Config *c = &m->cfg;
    int32_t *rows = g_new(int32_t, c->num_buckets);
    float *table = g_new(float, (size_t)c->num_buckets * c->heads);
    for (int b = 0; b < c->num_buckets; b++)
        rows[b] = b;
    gboolean ok =
        rd_text_weights_gather(m->weights, REL_BIAS, rows, c->num_buckets, c->heads, table, error);
    int *buckets = g_new(int, 2 * n + 1);
    for (int d = -n; d <= n; d++)
        buckets[d + n] = rd_t5_relative_bucket(d, c->num_buckets, c->max_distance);
    for (int h = 0; ok && h < c->heads; h++)
        for (int i = 0; i < n; i++) {
            float *row = bias + ((size_t)h * n + i) * n;
            for (int j = 0; j < n; j++)
                row[j] = table[(size_t)buckets[j - i + n] * c->heads + h];
        }
    g_free(buckets);
    g_free(rows);
    g_free(table);
    return ok;
}

typedef struct {
    RdTensor x, h, q, k, v, attn, gate, up, bias;
} T5Activations;

static void run_layer(RdT5Model *m, const T5Layer *l, T5Activations *a)
{
    RdBackend *be = m->backend;
    const RdT5Config *c = &m->cfg;
    const RdAttentionExtras extras = {.causal = FALSE, .bias = &a->bias};
    be->rms_norm(be, &a->x, &l->ln0, c->d_model, c->eps, &a->h);
    be->linear(be, &a->h, &l->q, NULL, &a->q);
    be->linear(be, &a->h, &l->k, NULL, &a->k);
    be->linear(be, &a->h, &l->v, NULL, &a->v);
    /* T5 does not scale scores; the op divides by sqrt(d_kv), so q is multiplied first */
    be->scale_add(be, &a->q, sqrtf((float)c->d_kv), 0.0f);
    be->attention(be, &a->q, &a->k, &a->v, &a->attn, c->heads, c->d_kv, &extras);
    be->linear(be, &a->attn, &l->o, NULL, &a->h);
    be->gated_add(be, &a->x, NULL, &a->h);
    be->rms_norm(be, &a->x, &l->ln1, c->d_model, c->eps, &a->h);
    be->linear(be, &a->h, &l->wi0, NULL, &a->gate);
    be->linear(be, &a->h, &l->wi1, NULL, &a->up);
    be->unary(be, RD_UNARY_GELU_TANH, &a->gate);
    be->mul(be, &a->gate, &a->up);
    be->linear(be, &a->gate, &l->wo, NULL, &a->h);
    be->gated_add(be, &a->x, NULL, &a->h);
}

gboolean rd_t5_model_forward(RdT5Model *model, const int32_t *ids, int n, float *hidden,
                             size_t *peak_bytes, GCancellable *cancellable, GError **error)
{
    const RdT5Config *c = &model->cfg;
    if (n <= 0) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT, "T5 needs tokens");
        return FALSE;
    }
    RdBackend *be = model->backend;
    const int64_t inner = (int64_t)c->heads * c->d_kv;
    float *host = g_new(float, (size_t)n * c->d_model);
    float *bias = g_try_new(float, (size_t)c->heads *n *n);
    RdScratch s;
    rd_scratch_init(&s, be);
    T5Activations a;
    gboolean ok = bias != NULL;
    if (!ok)
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_OUT_OF_MEMORY,
                    "Not enough memory for the T5 position bias");
    ok =
        ok &&
        rd_text_weights_gather(model->weights, model->embedding, ids, n, c->d_model, host, error) &&
        position_bias(model, n, bias, error) &&
        rd_scratch_alloc(&s, &a.x, n, c->d_model, "T5", error) &&
        rd_scratch_alloc(&s, &a.h, n, c->d_model, "T5", error) &&
        rd_scratch_alloc(&s, &a.q, n, inner, "T5", error) &&
        rd_scratch_alloc(&s, &a.k, n, inner, "T5", error) &&
        rd_scratch_alloc(&s, &a.v, n, inner, "T5", error) &&
        rd_scratch_alloc(&s, &a.attn, n, inner, "T5", error) &&
        rd_scratch_alloc(&s, &a.gate, n, c->d_ff, "T5", error) &&
        rd_scratch_alloc(&s, &a.up, n, c->d_ff, "T5", error) &&
        rd_scratch_alloc(&s, &a.bias, (int64_t)c->heads * n, n, "T5 position bias", error);
    if (ok) {
        be->upload(be, host, &a.x);
        be->upload(be, bias, &a.bias);
        g_clear_pointer(&bias, g_free);
        for (int i = 0; ok && i < c->layers; i++) {
            if (g_cancellable_is_cancelled(cancellable)) {
                g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_CANCELLED, "Text encoding cancelled");
                ok = FALSE;
                break;
            }
            run_layer(model, &model->layers[i], &a);
        }
    }
    if (ok) {
        be->rms_norm(be, &a.x, &model->final_norm, c->d_model, c->eps, &a.x);
        be->download(be, &a.x, hidden);
    }
    if (peak_bytes)
        *peak_bytes = s.bytes + (size_t)n * c->d_model * sizeof(float) +
                      (size_t)c->heads * n * n * sizeof(float);
    rd_scratch_free(&s);
    g_free(bias);
    g_free(host);
    return ok;
}
