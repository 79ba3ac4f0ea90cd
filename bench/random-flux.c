#include "random-flux.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "safetensors.h"

typedef struct {
    RdSafetensorsWriter *w;
    GPtrArray *buffers;
    GRand *rng;
    GString *json;  /* sparse: the header being written */
    int64_t offset; /* sparse: bytes of data so far */
} Builder;

/* A matrix [rows, cols] (cols == 0: a vector) of bf16 values ~ U(-a, a), a = sqrt(3 / fan_in). */
static void add(Builder *b, const char *name, int64_t rows, int64_t cols, double fan_in,
                double offset)
{
    int64_t n = rows * (cols ? cols : 1);
    if (b->json) {
        g_autofree char *shape =
            cols ? g_strdup_printf("%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT, rows, cols)
                 : g_strdup_printf("%" G_GINT64_FORMAT, rows);
        g_string_append_printf(b->json,
                               ",\"%s\":{\"dtype\":\"BF16\",\"shape\":[%s],\"data_offsets\":"
                               "[%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT "]}",
                               name, shape, b->offset, b->offset + 2 * n);
        b->offset += 2 * n;
        return;
    }
    uint16_t *data = g_new(uint16_t, n);
    double a = sqrt(3.0 / fan_in);
    for (int64_t i = 0; i < n; i++)
        data[i] = rd_f32_to_bf16((float)(offset + g_rand_double_range(b->rng, -a, a)));
    g_ptr_array_add(b->buffers, data);
    int64_t shape[2] = {rows, cols};
    rd_safetensors_writer_add(b->w, name, RD_BF16, cols ? 2 : 1, shape, data);
}

static void add_linear(Builder *b, const char *name, int64_t out, int64_t in)
{
    g_autofree char *w = g_strconcat(name, ".weight", NULL);
    g_autofree char *bias = g_strconcat(name, ".bias", NULL);
    add(b, w, out, in, (double)in, 0.0);
    add(b, bias, out, 0, 100.0, 0.0);
}

static void add_tensors(Builder *bp, const FluxConfig *c)
{
    Builder b = *bp;
    const int64_t C = c->hidden, M = c->mlp_hidden, D = c->head_dim;
    add_linear(&b, "img_in", C, c->in_channels);
    add_linear(&b, "txt_in", C, c->txt_dim);
    add_linear(&b, "time_in.in_layer", C, 256);
    add_linear(&b, "time_in.out_layer", C, C);
    add_linear(&b, "vector_in.in_layer", C, c->vec_dim);
    add_linear(&b, "vector_in.out_layer", C, C);
    if (c->has_guidance) {
        add_linear(&b, "guidance_in.in_layer", C, 256);
        add_linear(&b, "guidance_in.out_layer", C, C);
    }
    for (int i = 0; i < c->double_blocks; i++)
        for (int s = 0; s < 2; s++) {
            g_autofree char *p = g_strdup_printf("double_blocks.%d.%s", i, s ? "txt" : "img");
            g_autofree char *mod = g_strconcat(p, "_mod.lin", NULL);
            g_autofree char *qkv = g_strconcat(p, "_attn.qkv", NULL);
            g_autofree char *qn = g_strconcat(p, "_attn.norm.query_norm.scale", NULL);
            g_autofree char *kn = g_strconcat(p, "_attn.norm.key_norm.scale", NULL);
            g_autofree char *proj = g_strconcat(p, "_attn.proj", NULL);
            g_autofree char *m0 = g_strconcat(p, "_mlp.0", NULL);
            g_autofree char *m2 = g_strconcat(p, "_mlp.2", NULL);
            add_linear(&b, mod, 6 * C, C);
            add_linear(&b, qkv, 3 * C, C);
            add(&b, qn, D, 0, 100.0, 1.0);
            add(&b, kn, D, 0, 100.0, 1.0);
            add_linear(&b, proj, C, C);
            add_linear(&b, m0, M, C);
            add_linear(&b, m2, C, M);
        }
    for (int i = 0; i < c->single_blocks; i++) {
        g_autofree char *p = g_strdup_printf("single_blocks.%d.", i);
        g_autofree char *l1 = g_strconcat(p, "linear1", NULL), *l2 = g_strconcat(p, "linear2", NULL);
        g_autofree char *qn = g_strconcat(p, "norm.query_norm.scale", NULL);
        g_autofree char *kn = g_strconcat(p, "norm.key_norm.scale", NULL);
        g_autofree char *mod = g_strconcat(p, "modulation.lin", NULL);
        add_linear(&b, l1, 3 * C + M, C);
        add_linear(&b, l2, C, C + M);
        add(&b, qn, D, 0, 100.0, 1.0);
        add(&b, kn, D, 0, 100.0, 1.0);
        add_linear(&b, mod, 3 * C, C);
    }
    add_linear(&b, "final_layer.adaLN_modulation.1", 2 * C, C);
    add_linear(&b, "final_layer.linear", c->in_channels, C);
    *bp = b;
}

gboolean random_flux_write(const FluxConfig *c, guint32 seed, const char *path, GError **error)
{
    Builder b = {rd_safetensors_writer_new(), g_ptr_array_new_with_free_func(g_free),
                 g_rand_new_with_seed(seed), NULL, 0};
    add_tensors(&b, c);
    gboolean ok = rd_safetensors_writer_save(b.w, path, error);
    rd_safetensors_writer_free(b.w);
    g_ptr_array_free(b.buffers, TRUE);
    g_rand_free(b.rng);
    return ok;
}

gboolean random_flux_write_sparse(const FluxConfig *c, const char *path, GError **error)
{
    Builder b = {NULL, NULL, NULL, g_string_new("{\"__metadata__\":{\"format\":\"pt\"}"), 0};
    add_tensors(&b, c);
    g_string_append_c(b.json, '}');
    while (b.json->len % 8)
        g_string_append_c(b.json, ' ');
    const guint64 len_le = GUINT64_TO_LE((guint64)b.json->len);
    const int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    gboolean ok = fd >= 0 && write(fd, &len_le, 8) == 8 &&
                  write(fd, b.json->str, b.json->len) == (ssize_t)b.json->len &&
                  ftruncate(fd, (off_t)(8 + b.json->len + b.offset)) == 0;
    if (!ok)
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s", path,
                    g_strerror(errno));
    if (fd >= 0)
        close(fd);
    g_string_free(b.json, TRUE);
    return ok;
}
