/* The decoder's and encoder's weights, shared by loading (vae.c), decoding (vae_decode.c) and
 * encoding (vae_encode.c), and the building blocks both passes use. */
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

typedef struct {
    Resnet res[VAE_MAX_RESNETS];
    int n_res;
    Conv downsample; /* 3x3, stride 2, padded at the bottom and right */
    gboolean has_downsample;
} DownLevel;

/* Single-head attention over every latent position (q, k, v, proj as 1x1 convolutions). */
typedef struct {
    Norm norm;
    RdWeight q, qb, k, kb, v, vb, proj, projb;
} MidAttention;

/* The encoder (absent from decoder-only files): conv_in, down levels, mid block, norm_out,
 * conv_out to 2 x latent channels (mean, log variance), quant_conv in SD-style files. */
typedef struct {
    gboolean present;
    Conv conv_in, conv_out, quant;
    gboolean has_quant;
    DownLevel down[VAE_MAX_LEVELS];
    int levels;
    int banded_levels; /* the leading levels with a downsampling: run on bands of rows */
    Resnet mid0, mid1;
    MidAttention attn;
    Norm norm_out;
    int halo; /* latent rows of context each side of a band */
} Encoder;

struct RdVae {
    RdBackend *be;
    RdSafetensors *st;
    RdVaeConfig config;
    gboolean bfl; /* BFL names (ae.safetensors) instead of diffusers names */
    const char *prefix; /* "" or, in all-in-one checkpoints, "vae." / "first_stage_model." */
    Conv post_quant, conv_in, conv_out;
    gboolean has_post_quant;
    Resnet mid0, mid1;
    Norm norm_out;
    MidAttention attn;
    UpLevel up[VAE_MAX_LEVELS];
    int halo; /* latent rows of context each side of a band */
    Encoder enc;
};


/* GroupNorm statistics of the banded path (decoder: up path, encoder: down path), one entry per GroupNorm layer in call order: sums
 * gathered over the core rows of every band (so over the whole image exactly once). */
typedef struct {
    int layers, groups;
    double *sum, *sumsq, *count; /* [layers * groups] */
} GnStats;

typedef struct {
    RdVae *vae;
    RdBackend *be;
    gboolean failed;      /* an allocation failed */
    gboolean in_band;     /* in the banded path (else the whole latent: plain GroupNorm) */
    int gn_layer;         /* index of the next banded GroupNorm in this band */
    int scale;            /* pixel rows per latent row here */
    int core0, core1;     /* the band's own latent rows, relative to its first (context) row */
    int width;            /* latent width */
    const char *task;     /* "decoding" or "encoding", for messages */
    GnStats *record;      /* accumulate the statistics of this pass, or NULL */
    const GnStats *apply; /* normalise with these statistics instead of the band's, or NULL */
} Ctx;


GnStats *vae_gn_stats_new(int layers, int groups);
void vae_gn_stats_free(GnStats *st);
RdTensor vae_alloc(Ctx *cx, int64_t rows, int64_t cols);
void vae_release_tensor(Ctx *cx, RdTensor *t);
RdTensor vae_conv(Ctx *cx, const Conv *c, const RdTensor *x, int height, int width);
/* GroupNorm (in a band: with the recorded/applied statistics of the pass) then SiLU. */
RdTensor vae_norm_silu(Ctx *cx, const Norm *n, const RdTensor *x);
/* out = shortcut(x) + conv2(silu(norm2(conv1(silu(norm1(x)))))); frees x. */
RdTensor vae_resnet(Ctx *cx, const Resnet *r, RdTensor *x, int height, int width);
/* x += proj(attention(q, k, v)) over every position. */
void vae_mid_attention(Ctx *cx, const MidAttention *at, RdTensor *x);
/* Set error and return TRUE after a failed allocation / when cancelled. */
gboolean vae_oom(Ctx *cx, GError **error);
gboolean vae_cancelled(Ctx *cx, GCancellable *cancellable, GError **error);
