/* The SD3 forward pass over the backend op table. As in FLUX, the joint sequence is [text; image]
 * in one buffer: each stream writes its q, k, v into its rows of the joint q, k, v, and one
 * attention covers both. Positions enter once, as rows of a learned table added to the patch
 * embedding: the table is pos_max x pos_max and a grid takes its centre. */
#include <math.h>

#include "resdit.h"
#include "sd3_private.h"
#include "timestep_embedding.h"

typedef struct {
    RdBackend *be;
    const Sd3Config *cfg;
    int64_t txt_len, img_len, tokens;
    RdTensor x;        /* [tokens, hidden]: the residual stream, text rows first */
    RdTensor ln;       /* [tokens, hidden]: LayerNorm(x), before modulation */
    RdTensor normed;   /* [tokens, hidden]: modulated */
    RdTensor normed2;  /* [image tokens, hidden]: MMDiT-X second modulation */
    RdTensor q, k, v;  /* [tokens, hidden] */
    RdTensor attn;     /* [tokens, hidden] */
    RdTensor proj;     /* [tokens, hidden] */
    RdTensor hidden;   /* [tokens, mlp_hidden] */
    RdTensor out;      /* [image tokens, 64] */
    RdTensor vec_silu; /* [1, hidden]: SiLU of the conditioning vector */
    RdTensor mod_img;  /* [1, 9 hidden] */
    RdTensor mod_txt;  /* [1, 6 hidden] */
    gboolean shift_first;
} Forward;

static RdTensor rows(const RdTensor *t, int64_t row0, int64_t n)
{
    return rd_tensor_view(t, row0, n, 0, t->cols);
}

static RdTensor chunk(const RdTensor *mod, int index, int64_t width)
{
    return rd_tensor_view(mod, 0, 1, index * width, width);
}

static void linear(Forward *f, const RdTensor *x, const Sd3Linear *l, RdTensor *y)
{
    f->be->linear(f->be, x, &l->w, l->b.host ? &l->b : NULL, y);
}

/* ---- embeddings ---------------------------------------------------------------------------- */

/* Linear, SiLU, Linear of a host vector, added into acc. */
static void embed_add(Forward *f, const float *input, int64_t in_dim, const Sd3Linear *l1,
                      const Sd3Linear *l2, RdTensor *acc)
{
    RdBackend *be = f->be;
    RdTensor in, hid, out;
    be->tensor_alloc(be, &in, 1, in_dim);
    be->tensor_alloc(be, &hid, 1, f->cfg->hidden);
    be->tensor_alloc(be, &out, 1, f->cfg->hidden);
    be->upload(be, input, &in);
    linear(f, &in, l1, &hid);
    be->unary(be, RD_UNARY_SILU, &hid);
    linear(f, &hid, l2, &out);
    be->gated_add(be, acc, NULL, &out);
    be->tensor_free(be, &in);
    be->tensor_free(be, &hid);
    be->tensor_free(be, &out);
}

static void conditioning(Forward *f, const Sd3Model *m, const Sd3Inputs *in)
{
    float emb[RD_TIMESTEP_CHANNELS];
    rd_timestep_embedding(in->timestep, emb);
    f->be->fill(f->be, &f->vec_silu, 0.0f);
    embed_add(f, emb, RD_TIMESTEP_CHANNELS, &m->time_in1, &m->time_in2, &f->vec_silu);
    embed_add(f, in->vec, m->cfg.vec_dim, &m->vec_in1, &m->vec_in2, &f->vec_silu);
    f->be->unary(f->be, RD_UNARY_SILU, &f->vec_silu); /* every modulation reads SiLU(temb) */
}

/* The centre rows x cols of the position table, as diffusers crops it: [rows * cols, hidden]. */
static float *crop_positions(const Sd3Model *m, int grid_rows, int grid_cols)
{
    const int64_t C = m->cfg.hidden;
    const int top = (m->cfg.pos_max - grid_rows) / 2, left = (m->cfg.pos_max - grid_cols) / 2;
    const size_t elem = rd_dtype_size(m->pos_table.dtype);
    float *table = g_new(float, (size_t)grid_rows * grid_cols * C);
    for (int i = 0; i < grid_rows; i++) {
        int64_t src_row = (int64_t)(top + i) * m->cfg.pos_max + left;
        const guint8 *src = (const guint8 *)m->pos_table.host + (size_t)(src_row * C) * elem;
        rd_convert_to_f32(m->pos_table.dtype, src, table + (size_t)i * grid_cols * C,
                          (size_t)grid_cols * C);
    }
    return table;
}

/* positions: one embedding row per image token, added to the patch embedding. */
static void add_positions(Forward *f, const float *positions)
{
    RdTensor pos, img = rows(&f->x, f->txt_len, f->img_len);
    f->be->tensor_alloc(f->be, &pos, f->img_len, f->cfg->hidden);
    f->be->upload(f->be, positions, &pos);
    f->be->gated_add(f->be, &img, NULL, &pos);
    f->be->tensor_free(f->be, &pos);
}

static void embed_tokens(Forward *f, const Sd3Model *m, const Sd3Inputs *in,
                         const float *positions)
{
    RdBackend *be = f->be;
    RdTensor host_img, host_txt;
    be->tensor_alloc(be, &host_img, f->img_len, m->cfg.in_channels);
    be->tensor_alloc(be, &host_txt, f->txt_len, m->cfg.txt_dim);
    be->upload(be, in->img, &host_img);
    be->upload(be, in->txt, &host_txt);
    RdTensor img = rows(&f->x, f->txt_len, f->img_len), txt = rows(&f->x, 0, f->txt_len);
    linear(f, &host_img, &m->patch_in, &img);
    linear(f, &host_txt, &m->txt_in, &txt);
    be->tensor_free(be, &host_img);
    be->tensor_free(be, &host_txt);
    add_positions(f, positions);
}

/* ---- joint blocks -------------------------------------------------------------------------- */

/* q, k, v of x_hat (after the q/k RMSNorm) into rows row0.. of q, k, v. */
static void stream_qkv(Forward *f, const RdTensor *x_hat, const Sd3Attention *a, RdTensor *q,
                       RdTensor *k, RdTensor *v)
{
    linear(f, x_hat, &a->q, q);
    linear(f, x_hat, &a->k, k);
    linear(f, x_hat, &a->v, v);
    if (a->q_norm.host != NULL) {
        f->be->rms_norm(f->be, q, &a->q_norm, f->cfg->head_dim, 1e-6f, q);
        f->be->rms_norm(f->be, k, &a->k_norm, f->cfg->head_dim, 1e-6f, k);
    }
}

/* x_hat = LayerNorm(x) * (1 + scale) + shift, keeping LayerNorm(x) in ln. */
static void norm_modulate(Forward *f, const RdTensor *x, RdTensor *ln, const RdTensor *shift,
                          const RdTensor *scale, RdTensor *out)
{
    f->be->layer_norm(f->be, x, NULL, NULL, 1e-6f, ln);
    f->be->modulate(f->be, ln, shift, scale, out);
}

/* x += gate * MLP(LayerNorm(x) * (1 + scale) + shift) over one stream's rows. */
static void stream_mlp(Forward *f, int64_t row0, int64_t n, const Sd3Linear *in,
                       const Sd3Linear *out, const RdTensor *shift, const RdTensor *scale,
                       const RdTensor *gate)
{
    RdTensor x = rows(&f->x, row0, n), ln = rows(&f->ln, row0, n);
    RdTensor x_hat = rows(&f->normed, row0, n), hid = rows(&f->hidden, row0, n);
    RdTensor proj = rows(&f->proj, row0, n);
    norm_modulate(f, &x, &ln, shift, scale, &x_hat);
    linear(f, &x_hat, in, &hid);
    f->be->unary(f->be, RD_UNARY_GELU_TANH, &hid);
    linear(f, &hid, out, &proj);
    f->be->gated_add(f->be, &x, gate, &proj);
}

/* The MMDiT-X attention of the image over itself, from its second modulation. */
static void second_attention(Forward *f, const Sd3Block *b, const RdTensor *gate)
{
    const int64_t T = f->txt_len, N = f->img_len;
    RdTensor q = rows(&f->q, T, N), k = rows(&f->k, T, N), v = rows(&f->v, T, N);
    RdTensor attn = rows(&f->attn, T, N), proj = rows(&f->proj, T, N), x = rows(&f->x, T, N);
    stream_qkv(f, &f->normed2, &b->img2, &q, &k, &v);
    f->be->attention(f->be, &q, &k, &v, &attn, f->cfg->heads, f->cfg->head_dim, NULL);
    linear(f, &attn, &b->img2.out, &proj);
    f->be->gated_add(f->be, &x, gate, &proj);
}

static void joint_block(Forward *f, const Sd3Block *b)
{
    RdBackend *be = f->be;
    const int64_t C = f->cfg->hidden, T = f->txt_len, N = f->img_len;
    RdTensor x_img = rows(&f->x, T, N), x_txt = rows(&f->x, 0, T);
    RdTensor ln_img = rows(&f->ln, T, N), ln_txt = rows(&f->ln, 0, T);
    RdTensor hat_img = rows(&f->normed, T, N), hat_txt = rows(&f->normed, 0, T);

    /* Image: shift scale gate (attention), shift scale gate (MLP), [shift scale gate (attn2)]. */
    RdTensor mod = rd_tensor_view(&f->mod_img, 0, 1, 0, (b->dual ? 9 : 6) * C);
    linear(f, &f->vec_silu, &b->mod, &mod);
    RdTensor shift = chunk(&mod, 0, C), scale = chunk(&mod, 1, C);
    norm_modulate(f, &x_img, &ln_img, &shift, &scale, &hat_img);
    if (b->dual) {
        RdTensor shift2 = chunk(&mod, 6, C), scale2 = chunk(&mod, 7, C);
        be->modulate(be, &ln_img, &shift2, &scale2, &f->normed2);
    }
    /* Text: the same six chunks, or (scale, shift) alone in the last block. */
    RdTensor cmod = rd_tensor_view(&f->mod_txt, 0, 1, 0, (b->context_pre_only ? 2 : 6) * C);
    linear(f, &f->vec_silu, &b->ctx_mod, &cmod);
    gboolean swapped = b->context_pre_only && !f->shift_first; /* diffusers: (scale, shift) */
    RdTensor cshift = chunk(&cmod, swapped ? 1 : 0, C), cscale = chunk(&cmod, swapped ? 0 : 1, C);
    norm_modulate(f, &x_txt, &ln_txt, &cshift, &cscale, &hat_txt);

    RdTensor q_img = rows(&f->q, T, N), k_img = rows(&f->k, T, N), v_img = rows(&f->v, T, N);
    RdTensor q_txt = rows(&f->q, 0, T), k_txt = rows(&f->k, 0, T), v_txt = rows(&f->v, 0, T);
    stream_qkv(f, &hat_img, &b->img, &q_img, &k_img, &v_img);
    stream_qkv(f, &hat_txt, &b->txt, &q_txt, &k_txt, &v_txt);
    be->attention(be, &f->q, &f->k, &f->v, &f->attn, f->cfg->heads, f->cfg->head_dim, NULL);

    RdTensor attn_img = rows(&f->attn, T, N), proj_img = rows(&f->proj, T, N);
    RdTensor gate = chunk(&mod, 2, C);
    linear(f, &attn_img, &b->img.out, &proj_img);
    if (!b->context_pre_only) { /* before the second attention reuses the image rows */
        RdTensor attn_txt = rows(&f->attn, 0, T), proj_txt = rows(&f->proj, 0, T);
        RdTensor cgate = chunk(&cmod, 2, C);
        linear(f, &attn_txt, &b->txt.out, &proj_txt);
        be->gated_add(be, &x_txt, &cgate, &proj_txt);
    }
    be->gated_add(be, &x_img, &gate, &proj_img);
    if (b->dual) {
        RdTensor gate2 = chunk(&mod, 8, C);
        second_attention(f, b, &gate2);
    }
    RdTensor shift_mlp = chunk(&mod, 3, C), scale_mlp = chunk(&mod, 4, C);
    RdTensor gate_mlp = chunk(&mod, 5, C);
    stream_mlp(f, T, N, &b->mlp_in, &b->mlp_out, &shift_mlp, &scale_mlp, &gate_mlp);
    if (!b->context_pre_only) {
        RdTensor cs = chunk(&cmod, 3, C), cc = chunk(&cmod, 4, C), cg = chunk(&cmod, 5, C);
        stream_mlp(f, 0, T, &b->ctx_mlp_in, &b->ctx_mlp_out, &cs, &cc, &cg);
    }
}

/* ---- output -------------------------------------------------------------------------------- */

/* proj_out gives each token's 2 x 2 x 16 values as (a, b, c); the engine's packing is (c, a, b). */
static void repack(const float *diffusers_order, int64_t tokens, float *velocity)
{
    for (int64_t t = 0; t < tokens; t++)
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 2; b++)
                for (int c = 0; c < 16; c++)
                    velocity[t * 64 + c * 4 + a * 2 + b] =
                        diffusers_order[t * 64 + a * 32 + b * 16 + c];
}

static void final_layer(Forward *f, const Sd3Model *m, float *velocity)
{
    const int64_t C = f->cfg->hidden, T = f->txt_len, N = f->img_len;
    RdTensor mod = rd_tensor_view(&f->mod_img, 0, 1, 0, 2 * C);
    linear(f, &f->vec_silu, &m->final_mod, &mod);
    RdTensor scale = chunk(&mod, m->shift_first ? 1 : 0, C);
    RdTensor shift = chunk(&mod, m->shift_first ? 0 : 1, C);
    RdTensor x = rows(&f->x, T, N), ln = rows(&f->ln, T, N), hat = rows(&f->normed, T, N);
    norm_modulate(f, &x, &ln, &shift, &scale, &hat);
    linear(f, &hat, &m->final_out, &f->out);
    float *host = g_new(float, (size_t)N * 64);
    f->be->download(f->be, &f->out, host);
    repack(host, N, velocity);
    g_free(host);
}

/* ---- buffers ------------------------------------------------------------------------------- */

static gboolean forward_alloc(Forward *f, GError **error)
{
    RdBackend *be = f->be;
    const int64_t T = f->tokens, C = f->cfg->hidden;
    RdTensor *bufs[] = {&f->x, &f->ln, &f->normed, &f->q, &f->k, &f->v, &f->attn, &f->proj};
    gboolean ok = TRUE;
    for (size_t i = 0; i < G_N_ELEMENTS(bufs); i++)
        ok = ok && be->tensor_alloc(be, bufs[i], T, C);
    ok = ok && be->tensor_alloc(be, &f->normed2, f->img_len, C) &&
         be->tensor_alloc(be, &f->hidden, T, f->cfg->mlp_hidden) &&
         be->tensor_alloc(be, &f->out, f->img_len, f->cfg->in_channels) &&
         be->tensor_alloc(be, &f->vec_silu, 1, C) && be->tensor_alloc(be, &f->mod_img, 1, 9 * C) &&
         be->tensor_alloc(be, &f->mod_txt, 1, 6 * C);
    if (!ok)
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_OUT_OF_MEMORY,
                    "not enough memory for the activations of %" G_GINT64_FORMAT
                    " tokens; try a smaller image size",
                    T);
    return ok;
}

static void forward_free(Forward *f)
{
    RdTensor *bufs[] = {&f->x,    &f->ln,   &f->normed, &f->normed2, &f->q,
                        &f->k,    &f->v,    &f->attn,   &f->proj,    &f->hidden,
                        &f->out,  &f->vec_silu, &f->mod_img, &f->mod_txt};
    for (size_t i = 0; i < G_N_ELEMENTS(bufs); i++)
        if (bufs[i]->data)
            f->be->tensor_free(f->be, bufs[i]);
}

gboolean sd3_model_forward(Sd3Model *m, const Sd3Inputs *in, float *velocity,
                           GCancellable *cancellable, GError **error)
{
    if (in->grid_rows < 1 || in->grid_cols < 1 || in->grid_rows > m->cfg.pos_max ||
        in->grid_cols > m->cfg.pos_max) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                    "a %d x %d token grid does not fit this SD3 model's %d x %d position table "
                    "(at most %d x %d pixels); ResDiT draws larger images from the base grid",
                    in->grid_rows, in->grid_cols, m->cfg.pos_max, m->cfg.pos_max,
                    m->cfg.pos_max * 16, m->cfg.pos_max * 16);
        return FALSE;
    }
    g_autofree float *positions = crop_positions(m, in->grid_rows, in->grid_cols);
    return sd3_forward_positions(m, in, positions, velocity, cancellable, error);
}

gboolean sd3_forward_positions(Sd3Model *m, const Sd3Inputs *in, const float *positions,
                               float *velocity, GCancellable *cancellable, GError **error)
{
    if (in->grid_rows < 1 || in->grid_cols < 1 || in->txt_len < 1) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                    "invalid SD3 forward inputs: grid %d x %d, %d text tokens", in->grid_rows,
                    in->grid_cols, in->txt_len);
        return FALSE;
    }
    Forward f = {.be = m->be, .cfg = &m->cfg, .txt_len = in->txt_len, .shift_first = m->shift_first};
    f.img_len = (int64_t)in->grid_rows * in->grid_cols;
    f.tokens = f.txt_len + f.img_len;
    gboolean ok = forward_alloc(&f, error);
    if (ok) {
        conditioning(&f, m, in);
        embed_tokens(&f, m, in, positions);
        for (int i = 0; ok && i < m->cfg.layers; i++) {
            if (g_cancellable_set_error_if_cancelled(cancellable, error))
                ok = FALSE;
            else
                joint_block(&f, &m->blocks[i]);
        }
        if (ok)
            final_layer(&f, m, velocity);
    }
    forward_free(&f);
    if (!ok && error && *error && (*error)->domain == G_IO_ERROR) {
        g_clear_error(error);
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_CANCELLED, "cancelled");
    }
    return ok;
}

/* ---- the model ----------------------------------------------------------------------------- */

typedef gboolean (*WeightVisitor)(RdBackend *be, RdWeight *w, GError **error);

static gboolean visit_linear(RdBackend *be, Sd3Linear *l, WeightVisitor visit, GError **error)
{
    return (l->w.host == NULL || visit(be, &l->w, error)) &&
           (l->b.host == NULL || visit(be, &l->b, error));
}

static gboolean visit_attention(RdBackend *be, Sd3Attention *a, WeightVisitor visit,
                                GError **error)
{
    Sd3Linear *lins[] = {&a->q, &a->k, &a->v, &a->out};
    for (size_t i = 0; i < G_N_ELEMENTS(lins); i++)
        if (!visit_linear(be, lins[i], visit, error))
            return FALSE;
    return (a->q_norm.host == NULL || visit(be, &a->q_norm, error)) &&
           (a->k_norm.host == NULL || visit(be, &a->k_norm, error));
}

static gboolean visit_block(RdBackend *be, Sd3Block *b, WeightVisitor visit, GError **error)
{
    Sd3Linear *lins[] = {&b->mod,    &b->ctx_mod,    &b->mlp_in,
                         &b->mlp_out, &b->ctx_mlp_in, &b->ctx_mlp_out};
    for (size_t i = 0; i < G_N_ELEMENTS(lins); i++)
        if (!visit_linear(be, lins[i], visit, error))
            return FALSE;
    return visit_attention(be, &b->img, visit, error) &&
           visit_attention(be, &b->txt, visit, error) &&
           visit_attention(be, &b->img2, visit, error);
}

/* Every weight the forward pass uses through the op table (the position table is read on the
 * host): prepared on load, released on free. */
static gboolean visit_weights(Sd3Model *m, WeightVisitor visit, GError **error)
{
    Sd3Linear *lins[] = {&m->patch_in, &m->time_in1,  &m->time_in2,  &m->vec_in1,
                         &m->vec_in2,  &m->txt_in,    &m->final_mod, &m->final_out};
    for (size_t i = 0; i < G_N_ELEMENTS(lins); i++)
        if (!visit_linear(m->be, lins[i], visit, error))
            return FALSE;
    for (int i = 0; m->blocks && i < m->cfg.layers; i++)
        if (!visit_block(m->be, &m->blocks[i], visit, error))
            return FALSE;
    return TRUE;
}

static gboolean release_weight(RdBackend *be, RdWeight *w, GError **error)
{
    if (w->device)
        be->weight_release(be, w);
    return TRUE;
}

Sd3Model *sd3_model_load(const char *path, RdBackend *backend, GError **error)
{
    Sd3Model *m = g_new0(Sd3Model, 1);
    m->be = backend;
    if (!sd3_weights_load(m, path, error) || !visit_weights(m, m->be->weight_prepare, error)) {
        sd3_model_free(m);
        return NULL;
    }
    sd3_pos_table_open(&m->pos, m->pos_table.host, m->pos_table.dtype, m->cfg.pos_max,
                       m->cfg.hidden);
    return m;
}

void sd3_model_free(Sd3Model *m)
{
    if (m == NULL)
        return;
    visit_weights(m, release_weight, NULL);
    g_free(m->blocks);
    g_free(m->cfg.dual);
    rd_safetensors_close(m->st);
    g_free(m);
}

const Sd3Config *sd3_model_config(const Sd3Model *m)
{
    return &m->cfg;
}

gboolean sd3_model_pos_table_is_sincos(const Sd3Model *m)
{
    return m->pos.sincos;
}
