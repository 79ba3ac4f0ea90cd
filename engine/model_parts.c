#include "model_parts.h"

#include <string.h>

#include "safetensors.h"

/* The key prefixes under which parts are stored: plain, ComfyUI's single files and all-in-one
 * checkpoints ("model.diffusion_model.", "vae.", "first_stage_model.", "text_encoders.*."). */
static const RdTensorInfo *find_suffix(RdSafetensors *st, const char *suffix,
                                       const char *const *prefixes)
{
    for (; *prefixes; prefixes++) {
        g_autofree char *name = g_strconcat(*prefixes, suffix, NULL);
        const RdTensorInfo *t = rd_safetensors_find(st, name);
        if (t)
            return t;
    }
    return NULL;
}

/* A tensor whose name ends in suffix, under any prefix (text encoders in all-in-one files sit
 * under "text_encoders.clip_l.transformer." and the like). */
static const RdTensorInfo *find_any(RdSafetensors *st, const char *suffix)
{
    for (guint i = 0; i < rd_safetensors_count(st); i++) {
        const RdTensorInfo *t = rd_safetensors_get(st, i);
        if (g_str_has_suffix(t->name, suffix))
            return t;
    }
    return NULL;
}

static const char *const transformer_prefixes[] = {"", "model.diffusion_model.", NULL};

/* SD3 / SD3.5 (MMDiT): Stability's names or diffusers'. */
static gboolean identify_sd3(RdSafetensors *st, RdPartInfo *info)
{
    const char *const *pre = transformer_prefixes;
    const RdTensorInfo *patch = find_suffix(st, "x_embedder.proj.weight", pre);
    const RdTensorInfo *vec = find_suffix(st, "y_embedder.mlp.0.weight", pre);
    const RdTensorInfo *blocks = find_suffix(st, "joint_blocks.0.x_block.attn.qkv.weight", pre);
    if (!patch) {
        patch = find_suffix(st, "pos_embed.proj.weight", pre);
        vec = find_suffix(st, "time_text_embed.text_embedder.linear_1.weight", pre);
        blocks = find_suffix(st, "transformer_blocks.0.attn.to_q.weight", pre);
    }
    const RdTensorInfo *txt = find_suffix(st, "context_embedder.weight", pre);
    if (!patch || !txt || !vec || !blocks || patch->ndim != 4 || txt->ndim != 2 || vec->ndim != 2)
        return FALSE;
    info->parts |= RD_PART_TRANSFORMER;
    info->family = RD_FAMILY_SD3;
    info->in_channels = (int)(patch->shape[1] * patch->shape[2] * patch->shape[3]);
    info->txt_dim = (int)txt->shape[1];
    info->vec_dim = (int)vec->shape[1];
    return TRUE;
}

static void identify_transformer(RdSafetensors *st, RdPartInfo *info)
{
    const char *const *prefixes = transformer_prefixes;
    if (identify_sd3(st, info))
        return;
    const RdTensorInfo *img = find_suffix(st, "img_in.weight", prefixes);
    const RdTensorInfo *txt = find_suffix(st, "txt_in.weight", prefixes);
    const RdTensorInfo *vec = find_suffix(st, "vector_in.in_layer.weight", prefixes);
    const RdTensorInfo *blocks = find_suffix(st, "double_blocks.0.img_attn.qkv.weight", prefixes);
    gboolean diffusers = FALSE;
    if (!img) { /* diffusers names */
        img = find_suffix(st, "x_embedder.weight", prefixes);
        txt = find_suffix(st, "context_embedder.weight", prefixes);
        vec = find_suffix(st, "time_text_embed.text_embedder.linear_1.weight", prefixes);
        blocks = find_suffix(st, "transformer_blocks.0.attn.to_q.weight", prefixes);
        diffusers = TRUE;
    }
    if (!img || !txt || !vec || !blocks || img->ndim != 2 || txt->ndim != 2 || vec->ndim != 2)
        return;
    info->parts |= RD_PART_TRANSFORMER;
    info->family = RD_FAMILY_FLUX;
    info->in_channels = (int)img->shape[1];
    info->txt_dim = (int)txt->shape[1];
    info->vec_dim = (int)vec->shape[1];
    info->guidance = find_suffix(st,
                                 diffusers ? "time_text_embed.guidance_embedder.linear_1.weight"
                                           : "guidance_in.in_layer.weight",
                                 prefixes) != NULL;
}

static void identify_vae(RdSafetensors *st, RdPartInfo *info)
{
    static const char *const prefixes[] = {"", "vae.", "first_stage_model.", NULL};
    const RdTensorInfo *conv_in = find_suffix(st, "decoder.conv_in.weight", prefixes);
    if (!conv_in || conv_in->ndim != 4)
        return;
    info->parts |= RD_PART_VAE;
    info->latent_channels = (int)conv_in->shape[1];
}

/* Every CLIP in the file: Stability's SD3 files hold CLIP-L and CLIP-G under
 * "text_encoders.clip_l." and "text_encoders.clip_g."; a lone CLIP has no such name. */
static void identify_clips(RdSafetensors *st, RdPartInfo *info)
{
    for (guint i = 0; i < rd_safetensors_count(st); i++) {
        const RdTensorInfo *t = rd_safetensors_get(st, i);
        if (!g_str_has_suffix(t->name, "text_model.embeddings.token_embedding.weight") ||
            t->ndim != 2)
            continue;
        info->parts |= RD_PART_CLIP;
        if (strstr(t->name, "clip_g."))
            info->clip_g_hidden = (int)t->shape[1];
        else if (!info->clip_hidden || strstr(t->name, "clip_l."))
            info->clip_hidden = (int)t->shape[1];
    }
}

static void identify_text(RdSafetensors *st, RdPartInfo *info)
{
    identify_clips(st, info);
    const RdTensorInfo *t5 = find_any(st, "encoder.block.0.layer.0.SelfAttention.q.weight");
    if (t5 && t5->ndim == 2) {
        info->parts |= RD_PART_T5;
        info->t5_dim = (int)t5->shape[1];
    }
}

/* Files people keep beside their models that are not for them, so that a listing can say so. */
static const char *identify_other(RdSafetensors *st)
{
    static const struct {
        const char *suffix, *what;
    } known[] = {
        /* parts whose shapes are off: still named for what they look like */
        {"decoder.conv_in.weight", "a VAE (autoencoder)"},
        {"encoder.conv_in.weight", "a VAE (autoencoder)"},
        {"text_model.embeddings.token_embedding.weight", "a CLIP text encoder"},
        {"shared.weight", "a T5 text encoder"},
        {"diffusion_model.input_blocks.0.0.weight", "a Stable Diffusion UNet checkpoint"},
        {"lora_down.weight", "a LoRA"},
        {"lora_A.weight", "a LoRA"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(known); i++)
        if (find_any(st, known[i].suffix))
            return known[i].what;
    return NULL;
}

static void identify(RdSafetensors *st, RdPartInfo *info)
{
    memset(info, 0, sizeof *info);
    identify_transformer(st, info);
    identify_vae(st, info);
    identify_text(st, info);
    if (!info->parts)
        info->other = identify_other(st);
}

gboolean rd_part_identify(const char *path, RdPartInfo *info)
{
    memset(info, 0, sizeof *info);
    RdSafetensors *st = rd_safetensors_open(path, NULL);
    if (!st)
        return FALSE;
    identify(st, info);
    rd_safetensors_close(st);
    return TRUE;
}

const char *rd_part_describe(RdSafetensors *st)
{
    RdPartInfo info;
    identify(st, &info);
    if (info.parts & RD_PART_TRANSFORMER)
        return info.family == RD_FAMILY_SD3 ? "an SD3 transformer" : "a FLUX transformer";
    if (info.parts & RD_PART_VAE)
        return "a VAE (autoencoder)";
    if (info.parts & RD_PART_CLIP)
        return "a CLIP text encoder";
    if (info.parts & RD_PART_T5)
        return "a T5 text encoder";
    return info.other;
}

const char *rd_part_name(RdPartKind kind)
{
    switch (kind) {
    case RD_PART_TRANSFORMER: return "transformer";
    case RD_PART_VAE: return "vae";
    case RD_PART_CLIP: return "clip-l";
    case RD_PART_T5: return "t5";
    }
    return "?";
}

gboolean rd_part_fits(const RdPartInfo *t, RdPartKind kind, const RdPartInfo *part)
{
    if (!(part->parts & kind))
        return FALSE;
    gboolean sd3 = t->family == RD_FAMILY_SD3;
    switch (kind) {
    case RD_PART_VAE: return part->latent_channels * 4 == t->in_channels;
    case RD_PART_CLIP:
        return sd3 ? part->clip_hidden > 0 && part->clip_hidden < t->vec_dim
                   : part->clip_hidden == t->vec_dim;
    case RD_PART_T5: return part->t5_dim == t->txt_dim;
    case RD_PART_TRANSFORMER: return TRUE;
    }
    return FALSE;
}

gboolean rd_part_has_clip_pair(const RdPartInfo *t, const RdPartInfo *part)
{
    return (part->parts & RD_PART_CLIP) && part->clip_g_hidden > part->clip_hidden &&
           part->clip_hidden + part->clip_g_hidden == t->vec_dim;
}
