#include "random-sd3.h"

#include <math.h>

#include "safetensors.h"

typedef struct {
    RdSafetensorsWriter *w;
    GPtrArray *buffers;
    GRand *rng;
} Builder;

/* A tensor of the given shape of bf16 values offset + U(-a, a), a = sqrt(3 / fan_in). */
static void add(Builder *b, const char *name, int ndim, const int64_t *shape, double fan_in,
                double offset)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    uint16_t *data = g_new(uint16_t, n);
    double a = sqrt(3.0 / fan_in);
    for (int64_t i = 0; i < n; i++)
        data[i] = rd_f32_to_bf16((float)(offset + g_rand_double_range(b->rng, -a, a)));
    g_ptr_array_add(b->buffers, data);
    rd_safetensors_writer_add(b->w, name, RD_BF16, ndim, shape, data);
}

static void add_linear(Builder *b, const char *name, int64_t out, int64_t in)
{
    g_autofree char *w = g_strconcat(name, ".weight", NULL);
    g_autofree char *bias = g_strconcat(name, ".bias", NULL);
    const int64_t ws[2] = {out, in}, bs[1] = {out};
    add(b, w, 2, ws, (double)in, 0.0);
    add(b, bias, 1, bs, 100.0, 0.0);
}

static void add_norm(Builder *b, const char *name, int64_t dim)
{
    const int64_t shape[1] = {dim};
    add(b, name, 1, shape, 100.0, 1.0);
}

/* One stream of a joint block: "x_block" (image) or "context_block" (text). pre_only: the last
 * block's text side (modulation by scale and shift only, no projection, no MLP). */
static void add_stream(Builder *b, int block, const char *stream, const Sd3Config *c,
                       gboolean pre_only)
{
    const int64_t C = c->hidden;
    g_autofree char *p = g_strdup_printf("joint_blocks.%d.%s.", block, stream);
    g_autofree char *mod = g_strconcat(p, "adaLN_modulation.1", NULL);
    g_autofree char *qkv = g_strconcat(p, "attn.qkv", NULL);
    add_linear(b, mod, (pre_only ? 2 : 6) * C, C);
    add_linear(b, qkv, 3 * C, C);
    if (c->qk_norm) {
        g_autofree char *lq = g_strconcat(p, "attn.ln_q.weight", NULL);
        g_autofree char *lk = g_strconcat(p, "attn.ln_k.weight", NULL);
        add_norm(b, lq, c->head_dim);
        add_norm(b, lk, c->head_dim);
    }
    if (pre_only)
        return;
    g_autofree char *proj = g_strconcat(p, "attn.proj", NULL);
    g_autofree char *fc1 = g_strconcat(p, "mlp.fc1", NULL);
    g_autofree char *fc2 = g_strconcat(p, "mlp.fc2", NULL);
    add_linear(b, proj, C, C);
    add_linear(b, fc1, 4 * C, C);
    add_linear(b, fc2, C, 4 * C);
}

gboolean random_sd3_write(const Sd3Config *c, guint32 seed, const char *path, GError **error)
{
    Builder b = {rd_safetensors_writer_new(), g_ptr_array_new_with_free_func(g_free),
                 g_rand_new_with_seed(seed)};
    const int64_t C = c->hidden;
    const int64_t table[3] = {1, (int64_t)c->pos_max * c->pos_max, C};
    add(&b, "pos_embed", 3, table, 3.0, 0.0);
    const int64_t patch[4] = {C, 16, 2, 2}, patch_bias[1] = {C};
    add(&b, "x_embedder.proj.weight", 4, patch, 64.0, 0.0);
    add(&b, "x_embedder.proj.bias", 1, patch_bias, 100.0, 0.0);
    add_linear(&b, "t_embedder.mlp.0", C, 256);
    add_linear(&b, "t_embedder.mlp.2", C, C);
    add_linear(&b, "y_embedder.mlp.0", C, c->vec_dim);
    add_linear(&b, "y_embedder.mlp.2", C, C);
    add_linear(&b, "context_embedder", C, c->txt_dim);
    for (int i = 0; i < c->layers; i++) {
        add_stream(&b, i, "x_block", c, FALSE);
        add_stream(&b, i, "context_block", c, i == c->layers - 1);
    }
    add_linear(&b, "final_layer.adaLN_modulation.1", 2 * C, C);
    add_linear(&b, "final_layer.linear", 64, C);
    g_autofree char *head_dim = g_strdup_printf("%d", c->head_dim);
    rd_safetensors_writer_set_metadata(b.w, "attention_head_dim", head_dim);
    gboolean ok = rd_safetensors_writer_save(b.w, path, error);
    rd_safetensors_writer_free(b.w);
    g_ptr_array_free(b.buffers, TRUE);
    g_rand_free(b.rng);
    return ok;
}
