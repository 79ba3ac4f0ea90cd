/* The decoder's weights, shared by loading (vae.c) and decoding (vae_decode.c). */
#pragma once

#include "vae.h"

#define VAE_MAX_LEVELS 6
#define VAE_MAX_RESNETS 4
#define ATTENTION_CHUNK 4096
#define GROUP_NORM_EPS 1e-6f

typedef struct {
    RdWeight w, b;
    int cin, cout, kernel;
} Conv;

typedef struct {
    RdWeight w, b;
} Norm;

typedef struct {
    Norm norm1, norm2;
    Conv conv1, conv2, shortcut;
    gboolean has_shortcut;
} Resnet;

typedef struct {
    Resnet res[VAE_MAX_RESNETS];
    int n_res;
    Conv upsample;
    gboolean has_upsample;
} UpLevel;

struct RdVae {
    RdBackend *be;
    RdSafetensors *st;
    RdVaeConfig config;
    gboolean bfl; /* BFL names (ae.safetensors) instead of diffusers names */
    const char *prefix; /* "" or, in all-in-one checkpoints, "vae." / "first_stage_model." */
    Conv post_quant, conv_in, conv_out;
    gboolean has_post_quant;
    Resnet mid0, mid1;
    Norm attn_norm, norm_out;
    RdWeight q, qb, k, kb, v, vb, proj, projb;
    UpLevel up[VAE_MAX_LEVELS];
    int halo; /* latent rows of context each side of a band */
};
