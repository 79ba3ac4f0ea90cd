/* The FLUX.1 forward pass over the backend op table (FLUX.md has the architecture). The joint
 * sequence is [text; image] in one buffer, so the single blocks need no concatenation and the
 * double blocks write each stream's q, k, v straight into its rows of the joint q, k, v. */
#include <math.h>

#include "flux_private.h"
#include "timestep_embedding.h"

typedef struct {
    RdBackend *be;
    const FluxConfig *cfg;
    int64_t txt_len, img_len, tokens;
    RdTensor x;        /* [tokens, hidden]: the residual stream, text rows first */
    RdTensor normed;   /* [tokens, hidden] */
    RdTensor q, k, v;  /* [tokens, hidden] */
    RdTensor wide;     /* [tokens, hidden + mlp]: attention output | MLP hidden */
    RdTensor proj;     /* [tokens, hidden] */
    RdTensor out;      /* [image tokens, in_channels]: the velocity */
    RdTensor vec_silu; /* [1, hidden]: SiLU of the conditioning vector */
    RdTensor mod_txt;  /* [1, 6 hidden]: modulation of the text stream */
    RdTensor mod_img;  /* [1, 6 hidden]: of the image stream, the single blocks, the final layer */
    ResditAttention *attention;
    gboolean failed; /* an input embedding's temporaries could not be allocated */
} Forward;

static RdTensor rows(const RdTensor *t, int64_t row0, int64_t n)
{
    return rd_tensor_view(t, row0, n, 0, t->cols);
}

static RdTensor cols(const RdTensor *t, int64_t col0, int64_t n)
{
    return rd_tensor_view(t, 0, t->rows, col0, n);
}

static void linear(Forward *f, const RdTensor *x, const FluxLinear *l, RdTensor *y)
{
    f->be->linear(f->be, x, &l->w, l->b.host ? &l->b : NULL, y);
}

/* x_hat = (1 + scale) * LayerNorm(x) + shift */
static void norm_modulate(Forward *f, const RdTensor *x, const RdTensor *shift,
                          const RdTensor *scale, RdTensor *out)
{
    f->be->layer_norm(f->be, x, NULL, NULL, 1e-6f, out);
    f->be->modulate(f->be, out, shift, scale, out);
}

/* MLPEmbedder: Linear, SiLU, Linear, added into acc. */
static void embed_add(Forward *f, const float *input, int64_t in_dim, const FluxLinear *l1,
                      const FluxLinear *l2, RdTensor *acc)
{
    RdBackend *be = f->be;
    RdTensor in = {0}, hidden = {0}, out = {0};
    if (f->failed)
        return;
    /* out of memory: nothing is added; the backend's check (or the forward's) reports it */
    if (!be->tensor_alloc(be, &in, 1, in_dim) ||
        !be->tensor_alloc(be, &hidden, 1, f->cfg->hidden) ||
        !be->tensor_alloc(be, &out, 1, f->cfg->hidden)) {
        RdTensor *ts[] = {&in, &hidden, &out};
        for (size_t i = 0; i < G_N_ELEMENTS(ts); i++)
            if (ts[i]->data)
                be->tensor_free(be, ts[i]);
        f->failed = TRUE;
        return;
    }
    be->upload(be, input, &in);
    linear(f, &in, l1, &hidden);
    be->unary(be, RD_UNARY_SILU, &hidden);
    linear(f, &hidden, l2, &out);
    be->gated_add(be, acc, NULL, &out);
    be->tensor_free(be, &in);
    be->tensor_free(be, &hidden);
    be->tensor_free(be, &out);
}

static void conditioning(Forward *f, const FluxModel *m, const FluxInputs *in)
{
    float emb[RD_TIMESTEP_CHANNELS];
    f->be->fill(f->be, &f->vec_silu, 0.0f);
    rd_timestep_embedding(in->timestep, emb);
    embed_add(f, emb, RD_TIMESTEP_CHANNELS, &m->time_in1, &m->time_in2, &f->vec_silu);
    if (m->cfg.has_guidance) {
        rd_timestep_embedding(in->guidance, emb);
        embed_add(f, emb, RD_TIMESTEP_CHANNELS, &m->guidance_in1, &m->guidance_in2, &f->vec_silu);
    }
    embed_add(f, in->vec, m->cfg.vec_dim, &m->vec_in1, &m->vec_in2, &f->vec_silu);
    f->be->unary(f->be, RD_UNARY_SILU, &f->vec_silu); /* every modulation reads SiLU(vec) */
}

/* q, k, v of one stream's rows (after the q/k RMSNorm), written into the joint buffers. */
static void stream_qkv(Forward *f, const RdTensor *x_hat, const FluxLinear *q, const FluxLinear *k,
                       const FluxLinear *v, const RdWeight *q_norm, const RdWeight *k_norm,
                       int64_t row0)
{
    RdTensor qs = rows(&f->q, row0, x_hat->rows), ks = rows(&f->k, row0, x_hat->rows);
    RdTensor vs = rows(&f->v, row0, x_hat->rows);
    linear(f, x_hat, q, &qs);
    linear(f, x_hat, k, &ks);
    linear(f, x_hat, v, &vs);
    f->be->rms_norm(f->be, &qs, q_norm, f->cfg->head_dim, 1e-6f, &qs);
    f->be->rms_norm(f->be, &ks, k_norm, f->cfg->head_dim, 1e-6f, &ks);
}

/* x += gate1 * proj(attn); x += gate2 * MLP(modulated LayerNorm(x)) for one stream. */
static void stream_finish(Forward *f, const FluxStream *s, const RdTensor *mod, int64_t row0,
                          int64_t n)
{
    RdBackend *be = f->be;
    const int64_t C = f->cfg->hidden;
    RdTensor x = rows(&f->x, row0, n), x_hat = rows(&f->normed, row0, n);
    RdTensor wide = rows(&f->wide, row0, n), proj = rows(&f->proj, row0, n);
    RdTensor attn = cols(&wide, 0, C), hidden = cols(&wide, C, f->cfg->mlp_hidden);
    RdTensor shift2 = cols(mod, 3 * C, C), scale2 = cols(mod, 4 * C, C);
    RdTensor gate1 = cols(mod, 2 * C, C), gate2 = cols(mod, 5 * C, C);

    linear(f, &attn, &s->proj, &proj);
    be->gated_add(be, &x, &gate1, &proj);
    norm_modulate(f, &x, &shift2, &scale2, &x_hat);
    linear(f, &x_hat, &s->mlp_in, &hidden);
    be->unary(be, RD_UNARY_GELU_TANH, &hidden);
    linear(f, &hidden, &s->mlp_out, &proj);
    be->gated_add(be, &x, &gate2, &proj);
}

static void double_block(Forward *f, const FluxDoubleBlock *blk)
{
    const int64_t C = f->cfg->hidden;
    const FluxStream *streams[2] = {&blk->txt, &blk->img};
    const RdTensor *mods[2] = {&f->mod_txt, &f->mod_img};
    const int64_t starts[2] = {0, f->txt_len}, counts[2] = {f->txt_len, f->img_len};
    for (int s = 0; s < 2; s++) {
        const FluxStream *st = streams[s];
        RdTensor x = rows(&f->x, starts[s], counts[s]);
        RdTensor x_hat = rows(&f->normed, starts[s], counts[s]);
        RdTensor mod = *mods[s];
        linear(f, &f->vec_silu, &st->mod, &mod);
        RdTensor shift1 = cols(&mod, 0, C), scale1 = cols(&mod, C, C);
        norm_modulate(f, &x, &shift1, &scale1, &x_hat);
        stream_qkv(f, &x_hat, &st->q, &st->k, &st->v, &st->q_norm, &st->k_norm, starts[s]);
    }
    RdTensor attn = cols(&f->wide, 0, C);
    resdit_attention_run(f->attention, &f->q, &f->k, &f->v, &attn);
    for (int s = 0; s < 2; s++)
        stream_finish(f, streams[s], mods[s], starts[s], counts[s]);
}

static void single_block(Forward *f, const FluxSingleBlock *blk)
{
    RdBackend *be = f->be;
    const int64_t C = f->cfg->hidden;
    RdTensor mod = cols(&f->mod_img, 0, 3 * C);
    linear(f, &f->vec_silu, &blk->mod, &mod);
    RdTensor shift = cols(&mod, 0, C), scale = cols(&mod, C, C), gate = cols(&mod, 2 * C, C);
    norm_modulate(f, &f->x, &shift, &scale, &f->normed);
    stream_qkv(f, &f->normed, &blk->q, &blk->k, &blk->v, &blk->q_norm, &blk->k_norm, 0);
    RdTensor attn = cols(&f->wide, 0, C), hidden = cols(&f->wide, C, f->cfg->mlp_hidden);
    linear(f, &f->normed, &blk->mlp_in, &hidden);
    be->unary(be, RD_UNARY_GELU_TANH, &hidden);
    resdit_attention_run(f->attention, &f->q, &f->k, &f->v, &attn);
    linear(f, &f->wide, &blk->out, &f->proj);
    be->gated_add(be, &f->x, &gate, &f->proj);
}

static void final_layer(Forward *f, const FluxModel *m, float *velocity)
{
    RdBackend *be = f->be;
    const int64_t C = f->cfg->hidden;
    RdTensor shift = cols(&f->mod_img, 0, C), scale = cols(&f->mod_img, C, C);
    linear(f, &f->vec_silu, &m->final_shift, &shift);
    linear(f, &f->vec_silu, &m->final_scale, &scale);
    RdTensor img = rows(&f->x, f->txt_len, f->img_len), img_hat = rows(&f->normed, f->txt_len, f->img_len);
    norm_modulate(f, &img, &shift, &scale, &img_hat);
    linear(f, &img_hat, &m->final_linear, &f->out);
    be->download(be, &f->out, velocity);
}

static gboolean forward_alloc(Forward *f, GError **error)
{
    RdBackend *be = f->be;
    const int64_t T = f->tokens, C = f->cfg->hidden;
    RdTensor *bufs[] = {&f->x, &f->normed, &f->q, &f->k, &f->v, &f->proj};
    gboolean ok = TRUE;
    for (size_t i = 0; i < G_N_ELEMENTS(bufs); i++)
        ok = ok && be->tensor_alloc(be, bufs[i], T, C);
    ok = ok && be->tensor_alloc(be, &f->wide, T, C + f->cfg->mlp_hidden) &&
         be->tensor_alloc(be, &f->out, f->img_len, f->cfg->in_channels) &&
         be->tensor_alloc(be, &f->vec_silu, 1, C) && be->tensor_alloc(be, &f->mod_txt, 1, 6 * C) &&
         be->tensor_alloc(be, &f->mod_img, 1, 6 * C);
    /* the backend's own words first: they name the size asked and the memory free */
    if (!ok && rd_backend_check(be, error))
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_OUT_OF_MEMORY,
                    "not enough memory for the activations of %" G_GINT64_FORMAT
                    " tokens; try a smaller image size",
                    T);
    return ok;
}

static void forward_free(Forward *f)
{
    RdTensor *bufs[] = {&f->x,    &f->normed, &f->q,        &f->k,       &f->v,      &f->wide,
                        &f->proj, &f->out,    &f->vec_silu, &f->mod_txt, &f->mod_img};
    for (size_t i = 0; i < G_N_ELEMENTS(bufs); i++)
        if (bufs[i]->data)
            f->be->tensor_free(f->be, bufs[i]);
    resdit_attention_free(f->attention);
}

static void embed_inputs(Forward *f, const FluxModel *m, const FluxInputs *in)
{
    RdBackend *be = f->be;
    RdTensor img_in, txt_in;
    if (!be->tensor_alloc(be, &img_in, f->img_len, m->cfg.in_channels)) {
        f->failed = TRUE;
        return;
    }
    be->upload(be, in->img, &img_in);
    RdTensor x_img = rows(&f->x, f->txt_len, f->img_len);
    linear(f, &img_in, &m->img_in, &x_img);
    be->tensor_free(be, &img_in);
    if (f->txt_len > 0) {
        if (!be->tensor_alloc(be, &txt_in, f->txt_len, m->cfg.txt_dim)) {
            f->failed = TRUE;
            return;
        }
        be->upload(be, in->txt, &txt_in);
        RdTensor x_txt = rows(&f->x, 0, f->txt_len);
        linear(f, &txt_in, &m->txt_in, &x_txt);
        be->tensor_free(be, &txt_in);
    }
}

static gboolean cancelled(GCancellable *cancellable, GError **error)
{
    if (!g_cancellable_is_cancelled(cancellable))
        return FALSE;
    g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_CANCELLED, "Cancelled");
    return TRUE;
}

/* ---- streamed blocks ---------------------------------------------------------------------- */

#define BLOCK_WEIGHTS 32

typedef struct {
    RdWeight *w[BLOCK_WEIGHTS];
    int n;
    guint64 elements;
} BlockWeights;

static void add_weight(BlockWeights *b, RdWeight *w)
{
    if (!w->host) /* no bias */
        return;
    g_assert(b->n < BLOCK_WEIGHTS);
    b->w[b->n++] = w;
    b->elements += (guint64)(w->rows * w->cols);
}

static void add_linears(BlockWeights *b, FluxLinear *const *lins, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        add_weight(b, &lins[i]->w);
        add_weight(b, &lins[i]->b);
    }
}

static void add_stream(BlockWeights *b, FluxStream *s)
{
    FluxLinear *lins[] = {&s->mod, &s->q, &s->k, &s->v, &s->proj, &s->mlp_in, &s->mlp_out};
    add_linears(b, lins, G_N_ELEMENTS(lins));
    add_weight(b, &s->q_norm);
    add_weight(b, &s->k_norm);
}

/* Block index b: double blocks first, then single ones. */
static void block_weights(FluxModel *m, int b, BlockWeights *out)
{
    memset(out, 0, sizeof *out);
    if (b < m->cfg.double_blocks) {
        add_stream(out, &m->doubles[b].img);
        add_stream(out, &m->doubles[b].txt);
        return;
    }
    FluxSingleBlock *s = &m->singles[b - m->cfg.double_blocks];
    FluxLinear *lins[] = {&s->mod, &s->q, &s->k, &s->v, &s->mlp_in, &s->out};
    add_linears(out, lins, G_N_ELEMENTS(lins));
    add_weight(out, &s->q_norm);
    add_weight(out, &s->k_norm);
}

static int n_blocks(const FluxModel *m)
{
    return m->cfg.double_blocks + m->cfg.single_blocks;
}

/* The group of the first streamed block after b, or -1. */
static int next_streamed(const FluxModel *m, int b)
{
    for (int j = b + 1; j < n_blocks(m); j++)
        if (m->stream_group[j] >= 0)
            return m->stream_group[j];
    return -1;
}

/* Before block b: its weights copied in (waited for on the compute stream) and the next streamed
 * block's copy started; before the first block, the first streamed block's copy. */
static gboolean stream_in(FluxModel *m, int b, GError **error)
{
    if (!m->stream || (m->stream_group[b] < 0 && b > 0))
        return TRUE;
    m->be->stream_use(m->be, m->stream, m->stream_group[b], next_streamed(m, b));
    return rd_backend_check(m->be, error); /* a slot that could not be allocated */
}

static void stream_out(FluxModel *m, int b)
{
    if (m->stream && m->stream_group[b] >= 0)
        m->be->stream_done(m->be, m->stream, m->stream_group[b]);
}

void flux_model_unstream(FluxModel *m)
{
    if (!m->stream)
        return;
    m->be->stream_free(m->be, m->stream);
    m->stream = NULL;
    g_clear_pointer(&m->stream_group, g_free);
    m->weights_placed = FALSE;
}

int flux_model_streamed_blocks(const FluxModel *m)
{
    int count = 0;
    for (int b = 0; m->stream && b < n_blocks(m); b++)
        count += m->stream_group[b] >= 0;
    return count;
}

/* Parks the `streamed` largest blocks (ties in index order, as memory_plan.c orders them). */
static gboolean stream_blocks(FluxModel *m, int streamed, gboolean fp8, GError **error)
{
    const int nb = n_blocks(m);
    BlockWeights *bw = g_new(BlockWeights, (size_t)MAX(nb, 1));
    int *order = g_new(int, (size_t)MAX(nb, 1));
    for (int i = 0; i < nb; i++) {
        block_weights(m, i, &bw[i]);
        int j = i;
        while (j > 0 && bw[order[j - 1]].elements < bw[i].elements) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    m->stream_group = g_new(int, (size_t)MAX(nb, 1));
    for (int i = 0; i < nb; i++)
        m->stream_group[i] = -1;
    m->stream = m->be->stream_new(m->be, error);
    if (!m->stream)
        g_clear_pointer(&m->stream_group, g_free);
    gboolean ok = m->stream != NULL;
    for (int k = 0; k < streamed && ok; k++) {
        const int b = order[k];
        m->stream_group[b] = m->be->stream_park(m->be, m->stream, bw[b].w, bw[b].n, fp8, error);
        ok = m->stream_group[b] >= 0;
    }
    g_free(bw);
    g_free(order);
    return ok;
}

gboolean flux_model_forward(FluxModel *m, const FluxInputs *in, const FluxAttentionPlan *plan,
                            float *velocity, GCancellable *cancellable, GError **error)
{
    if (in->grid_rows <= 0 || in->grid_cols <= 0 || in->txt_len < 1) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                    "invalid forward inputs: grid %d x %d, %d text tokens", in->grid_rows,
                    in->grid_cols, in->txt_len);
        return FALSE;
    }
    Forward f = {.be = m->be, .cfg = &m->cfg, .txt_len = in->txt_len};
    f.img_len = (int64_t)in->grid_rows * in->grid_cols;
    f.tokens = f.txt_len + f.img_len;
    RdRopeSpec rope = {{m->cfg.rope_axes[0], m->cfg.rope_axes[1], m->cfg.rope_axes[2]},
                       m->cfg.rope_theta};
    /* weights a job released (T5 first) or that did not fit as bf16 at load */
    if (!m->weights_placed &&
        !flux_model_place_weights(
            m, m->placed_as == FLUX_WEIGHTS_FP8 ? FLUX_WEIGHTS_FP8 : FLUX_WEIGHTS_BF16, 0, error))
        return FALSE;
    gboolean ok = forward_alloc(&f, error);
    if (ok) {
        f.attention = resdit_attention_new(m->be, &rope, m->cfg.heads, m->cfg.head_dim,
                                           in->txt_len, in->grid_rows, in->grid_cols, plan, error);
        ok = f.attention != NULL;
    }
    if (ok) {
        embed_inputs(&f, m, in);
        if (!f.failed)
            conditioning(&f, m, in);
        if (f.failed && rd_backend_check(m->be, error))
            g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_OUT_OF_MEMORY,
                        "not enough memory for the input embeddings; try a smaller image size");
        ok = !f.failed;
    }
    /* an op that ran out of device memory for its scratch did nothing: stop at the next block */
    for (int i = 0; ok && i < m->cfg.double_blocks; i++) {
        ok = !cancelled(cancellable, error) && rd_backend_check(m->be, error) &&
             stream_in(m, i, error);
        if (ok) {
            double_block(&f, &m->doubles[i]);
            stream_out(m, i);
        }
    }
    for (int i = 0; ok && i < m->cfg.single_blocks; i++) {
        const int b = m->cfg.double_blocks + i;
        ok = !cancelled(cancellable, error) && rd_backend_check(m->be, error) &&
             stream_in(m, b, error);
        if (ok) {
            single_block(&f, &m->singles[i]);
            stream_out(m, b);
        }
    }
    if (ok)
        final_layer(&f, m, velocity);
    ok = ok && rd_backend_check(m->be, error);
    forward_free(&f);
    return ok;
}

typedef gboolean (*WeightVisitor)(RdBackend *be, RdWeight *w, GError **error);

static gboolean visit_linears(RdBackend *be, FluxLinear **lins, size_t n, WeightVisitor visit,
                              GError **error)
{
    for (size_t i = 0; i < n; i++)
        if (!visit(be, &lins[i]->w, error) || !visit(be, &lins[i]->b, error))
            return FALSE;
    return TRUE;
}

static gboolean visit_stream(RdBackend *be, FluxStream *s, WeightVisitor visit, GError **error)
{
    FluxLinear *lins[] = {&s->mod, &s->q, &s->k, &s->v, &s->proj, &s->mlp_in, &s->mlp_out};
    return visit_linears(be, lins, G_N_ELEMENTS(lins), visit, error) &&
           visit(be, &s->q_norm, error) && visit(be, &s->k_norm, error);
}

static gboolean visit_single(RdBackend *be, FluxSingleBlock *s, WeightVisitor visit,
                             GError **error)
{
    FluxLinear *lins[] = {&s->mod, &s->q, &s->k, &s->v, &s->mlp_in, &s->out};
    return visit_linears(be, lins, G_N_ELEMENTS(lins), visit, error) &&
           visit(be, &s->q_norm, error) && visit(be, &s->k_norm, error);
}

/* Every weight view the forward pass uses: prepared on load, released on free. */
static gboolean visit_weights(FluxModel *m, WeightVisitor visit, GError **error)
{
    RdBackend *be = m->be;
    FluxLinear *lins[] = {&m->img_in,       &m->txt_in,       &m->time_in1,    &m->time_in2,
                          &m->vec_in1,      &m->vec_in2,      &m->final_shift, &m->final_scale,
                          &m->final_linear, &m->guidance_in1, &m->guidance_in2};
    size_t n = G_N_ELEMENTS(lins) - (m->cfg.has_guidance ? 0 : 2);
    if (!visit_linears(be, lins, n, visit, error))
        return FALSE;
    /* streamed blocks' weights belong to the stream (flux_model_unstream drops them) */
    const int *streamed = m->stream ? m->stream_group : NULL;
    for (int i = 0; i < m->cfg.double_blocks; i++)
        if ((!streamed || streamed[i] < 0) &&
            (!visit_stream(be, &m->doubles[i].img, visit, error) ||
             !visit_stream(be, &m->doubles[i].txt, visit, error)))
            return FALSE;
    for (int i = 0; i < m->cfg.single_blocks; i++)
        if ((!streamed || streamed[m->cfg.double_blocks + i] < 0) &&
            !visit_single(be, &m->singles[i], visit, error))
            return FALSE;
    return TRUE;
}

static gboolean release_weight(RdBackend *be, RdWeight *w, GError **error)
{
    if (w->device)
        be->weight_release(be, w);
    return TRUE;
}

/* A weight as the placement wants it; one already so is left alone (LoRA merges re-prepare
 * theirs in bf16: they are converted here). */
static gboolean place_bf16(RdBackend *be, RdWeight *w, GError **error)
{
    if (w->device && !w->device_fp8)
        return TRUE;
    release_weight(be, w, NULL);
    return be->weight_prepare(be, w, error);
}

static gboolean place_fp8(RdBackend *be, RdWeight *w, GError **error)
{
    if (w->device && (w->device_fp8 || w->cols <= 1))
        return TRUE;
    release_weight(be, w, NULL);
    return be->weight_prepare_fp8(be, w, error);
}

gboolean flux_model_place_weights(FluxModel *m, FluxWeightPlace place, int streamed,
                                  GError **error)
{
    flux_model_unstream(m);
    const gboolean fp8 = place == FLUX_WEIGHTS_FP8 && m->be->weight_prepare_fp8;
    streamed = place == FLUX_WEIGHTS_RELEASED || !m->be->stream_new ? 0
                                                                     : CLAMP(streamed, 0, n_blocks(m));
    gboolean ok = TRUE;
    if (streamed > 0) {
        /* the streamed blocks first, one weight at a time, so that the device never holds
         * more than the plan's resident weights */
        for (int b = 0; b < n_blocks(m); b++) {
            BlockWeights bw;
            block_weights(m, b, &bw);
            for (int i = 0; i < bw.n; i++)
                release_weight(m->be, bw.w[i], NULL);
        }
        ok = stream_blocks(m, streamed, fp8, error);
    }
    if (ok && fp8)
        ok = visit_weights(m, place_fp8, error);
    else if (ok && place != FLUX_WEIGHTS_RELEASED)
        ok = visit_weights(m, place_bf16, error);
    if (!ok || place == FLUX_WEIGHTS_RELEASED) {
        flux_model_unstream(m);
        /* a placement that failed half way leaves nothing behind (its error says why) */
        visit_weights(m, release_weight, NULL);
        m->be->synchronize(m->be);
    }
    m->weights_placed = ok && place != FLUX_WEIGHTS_RELEASED;
    m->placed_as = ok ? place : FLUX_WEIGHTS_RELEASED;
    return ok;
}

gboolean flux_model_weights_placed_as(const FluxModel *m, FluxWeightPlace place, int streamed)
{
    return place == FLUX_WEIGHTS_RELEASED
               ? m->placed_as == FLUX_WEIGHTS_RELEASED && !m->weights_placed
               : m->weights_placed && m->placed_as == place &&
                     flux_model_streamed_blocks(m) == streamed;
}

FluxModel *flux_model_load_with_config(const char *path, const char *config_json,
                                       RdBackend *backend, GError **error)
{
    FluxModel *m = g_new0(FluxModel, 1);
    m->be = backend;
    if (!flux_weights_load(m, path, config_json, error)) {
        flux_model_free(m);
        return NULL;
    }
    GError *local = NULL;
    if (flux_model_place_weights(m, FLUX_WEIGHTS_BF16, 0, &local))
        return m;
    /* bf16 copies that do not fit the device are left to a job's memory plan (fp8 weights, T5
     * first), where the backend keeps fp8 */
    if (m->be->weight_prepare_fp8 &&
        g_error_matches(local, RESDIT_ERROR, RESDIT_ERROR_OUT_OF_MEMORY)) {
        g_info("%s: %s; the weights are placed when a job runs", path, local->message);
        g_error_free(local);
        return m;
    }
    g_propagate_error(error, local);
    flux_model_free(m);
    return NULL;
}

FluxModel *flux_model_load(const char *path, RdBackend *backend, GError **error)
{
    return flux_model_load_with_config(path, NULL, backend, error);
}

void flux_model_free(FluxModel *m)
{
    if (!m)
        return;
    flux_model_unstream(m);
    if (m->doubles && m->singles)
        visit_weights(m, release_weight, NULL);
    rd_lora_state_free(m->lora_state); /* the merged copies, after their device copies */
    rd_lora_targets_free(m->lora_targets);
    g_free(m->doubles);
    g_free(m->singles);
    rd_safetensors_close(m->st);
    g_free(m);
}

const FluxConfig *flux_model_config(const FluxModel *m)
{
    return &m->cfg;
}

const char *flux_model_path(const FluxModel *m)
{
    return rd_safetensors_path(m->st);
}
