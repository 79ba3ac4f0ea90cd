/* LoRA on the FLUX transformer: every linear under its BFL and its diffusers name, whichever
 * layout the model was loaded from (a BFL-named LoRA on a diffusers folder and the reverse); the
 * fused BFL matrices (qkv, linear1, the final modulation) cover the row views they were split
 * into. */
#include "flux_private.h"

static void add(RdLoraTargets *t, const char *name, FluxLinear *a, FluxLinear *b, FluxLinear *c,
                FluxLinear *d)
{
    RdWeight *w[4];
    int n = 0;
    FluxLinear *lins[4] = {a, b, c, d};
    for (int i = 0; i < 4; i++)
        if (lins[i])
            w[n++] = &lins[i]->w;
    rd_lora_targets_add(t, name, w, n);
}

#define ONE(name, l) add(t, name, l, NULL, NULL, NULL)

static void add_double(RdLoraTargets *t, int i, FluxDoubleBlock *b)
{
    char n[128];
#define N(fmt) (g_snprintf(n, sizeof n, fmt, i), n)
#define NS(fmt) (g_snprintf(n, sizeof n, fmt, i, s[k]), n)
    const char *s[2] = {"img", "txt"};
    FluxStream *st[2] = {&b->img, &b->txt};
    for (int k = 0; k < 2; k++) {
        ONE(NS("double_blocks.%d.%s_mod.lin"), &st[k]->mod);
        add(t, NS("double_blocks.%d.%s_attn.qkv"), &st[k]->q, &st[k]->k, &st[k]->v, NULL);
        ONE(NS("double_blocks.%d.%s_attn.proj"), &st[k]->proj);
        ONE(NS("double_blocks.%d.%s_mlp.0"), &st[k]->mlp_in);
        ONE(NS("double_blocks.%d.%s_mlp.2"), &st[k]->mlp_out);
    }
    ONE(N("transformer_blocks.%d.norm1.linear"), &b->img.mod);
    ONE(N("transformer_blocks.%d.attn.to_q"), &b->img.q);
    ONE(N("transformer_blocks.%d.attn.to_k"), &b->img.k);
    ONE(N("transformer_blocks.%d.attn.to_v"), &b->img.v);
    ONE(N("transformer_blocks.%d.attn.to_out.0"), &b->img.proj);
    ONE(N("transformer_blocks.%d.ff.net.0.proj"), &b->img.mlp_in);
    ONE(N("transformer_blocks.%d.ff.net.2"), &b->img.mlp_out);
    ONE(N("transformer_blocks.%d.norm1_context.linear"), &b->txt.mod);
    ONE(N("transformer_blocks.%d.attn.add_q_proj"), &b->txt.q);
    ONE(N("transformer_blocks.%d.attn.add_k_proj"), &b->txt.k);
    ONE(N("transformer_blocks.%d.attn.add_v_proj"), &b->txt.v);
    ONE(N("transformer_blocks.%d.attn.to_add_out"), &b->txt.proj);
    ONE(N("transformer_blocks.%d.ff_context.net.0.proj"), &b->txt.mlp_in);
    ONE(N("transformer_blocks.%d.ff_context.net.2"), &b->txt.mlp_out);
}

static void add_single(RdLoraTargets *t, int i, FluxSingleBlock *b)
{
    char n[128];
    ONE(N("single_blocks.%d.modulation.lin"), &b->mod);
    add(t, N("single_blocks.%d.linear1"), &b->q, &b->k, &b->v, &b->mlp_in);
    ONE(N("single_blocks.%d.linear2"), &b->out);
    ONE(N("single_transformer_blocks.%d.norm.linear"), &b->mod);
    ONE(N("single_transformer_blocks.%d.attn.to_q"), &b->q);
    ONE(N("single_transformer_blocks.%d.attn.to_k"), &b->k);
    ONE(N("single_transformer_blocks.%d.attn.to_v"), &b->v);
    ONE(N("single_transformer_blocks.%d.proj_mlp"), &b->mlp_in);
    ONE(N("single_transformer_blocks.%d.proj_out"), &b->out);
}

#undef N
#undef NS

static RdLoraTargets *build_targets(FluxModel *m)
{
    RdLoraTargets *t = rd_lora_targets_new();
    ONE("img_in", &m->img_in);
    ONE("x_embedder", &m->img_in);
    ONE("txt_in", &m->txt_in);
    ONE("context_embedder", &m->txt_in);
    ONE("time_in.in_layer", &m->time_in1);
    ONE("time_in.out_layer", &m->time_in2);
    ONE("time_text_embed.timestep_embedder.linear_1", &m->time_in1);
    ONE("time_text_embed.timestep_embedder.linear_2", &m->time_in2);
    ONE("vector_in.in_layer", &m->vec_in1);
    ONE("vector_in.out_layer", &m->vec_in2);
    ONE("time_text_embed.text_embedder.linear_1", &m->vec_in1);
    ONE("time_text_embed.text_embedder.linear_2", &m->vec_in2);
    if (m->cfg.has_guidance) {
        ONE("guidance_in.in_layer", &m->guidance_in1);
        ONE("guidance_in.out_layer", &m->guidance_in2);
        ONE("time_text_embed.guidance_embedder.linear_1", &m->guidance_in1);
        ONE("time_text_embed.guidance_embedder.linear_2", &m->guidance_in2);
    }
    /* BFL stores the final modulation as (shift, scale), diffusers as (scale, shift) */
    add(t, "final_layer.adaLN_modulation.1", &m->final_shift, &m->final_scale, NULL, NULL);
    add(t, "norm_out.linear", &m->final_scale, &m->final_shift, NULL, NULL);
    ONE("final_layer.linear", &m->final_linear);
    ONE("proj_out", &m->final_linear);
    for (int i = 0; i < m->cfg.double_blocks; i++)
        add_double(t, i, &m->doubles[i]);
    for (int i = 0; i < m->cfg.single_blocks; i++)
        add_single(t, i, &m->singles[i]);
    return t;
}

gboolean flux_model_set_loras(FluxModel *m, RdLoraFile *const *files, const double *strengths,
                              int n, GError **error)
{
    for (int f = 0; f < n; f++)
        for (guint i = 0; i < files[f]->modules->len; i++) {
            const RdLoraModule *mod = g_ptr_array_index(files[f]->modules, i);
            if (mod->part == RD_LORA_T5) {
                g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                            "LoRA %s: module %s is for the T5 text encoder, which LoRAs are not "
                            "applied to; nothing was applied",
                            files[f]->path, mod->name);
                return FALSE;
            }
        }
    if (!m->lora_targets) {
        m->lora_targets = build_targets(m);
        m->lora_state = rd_lora_state_new(m->be);
    }
    /* merges replace weights' copies: streamed ones are placed again by the next job or forward */
    flux_model_unstream(m);
    m->weights_placed = FALSE; /* merged copies are bf16 whatever the placement */
    RdLoraPlan *plan = NULL;
    if (n > 0) {
        plan = rd_lora_plan(m->lora_targets, RD_LORA_TRANSFORMER, files, strengths, n, error);
        if (!plan)
            return FALSE;
    }
    gboolean ok = rd_lora_commit(m->lora_state, plan, error);
    rd_lora_plan_free(plan);
    return ok;
}

guint flux_model_lora_merged(const FluxModel *m)
{
    return m->lora_state ? rd_lora_state_merged(m->lora_state) : 0;
}
