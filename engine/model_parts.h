/* What a weights file holds, read from its tensor names and shapes (never from its file name): a
 * FLUX or SD3 transformer, a VAE, a CLIP or T5 text encoder, or several of them in one file
 * (ComfyUI's all-in-one checkpoints, Stability's SD3 files with their text encoders), with the
 * dimensions that decide which parts fit together. */
#pragma once

#include <glib.h>

typedef enum {
    RD_PART_TRANSFORMER = 1 << 0,
    RD_PART_VAE = 1 << 1,
    RD_PART_CLIP = 1 << 2,
    RD_PART_T5 = 1 << 3,
} RdPartKind;

typedef enum {
    RD_FAMILY_FLUX,
    RD_FAMILY_SD3,
} RdFamily;

typedef struct {
    guint parts;        /* RdPartKind bits */
    RdFamily family;    /* transformer: FLUX or SD3 (MMDiT) */
    gboolean guidance;  /* a FLUX transformer with guidance_in (dev), not schnell */
    int in_channels;    /* transformer: latent channels x 4 */
    int txt_dim;        /* transformer: the T5 width it reads */
    int vec_dim;        /* transformer: the pooled CLIP width it reads */
    int latent_channels; /* VAE */
    int clip_hidden;    /* CLIP (a lone CLIP file, or the CLIP-L of an SD3 file) */
    int clip_g_hidden;  /* the OpenCLIP bigG of an SD3 file ("text_encoders.clip_g."), else 0 */
    int t5_dim;         /* T5 */
    const char *other;  /* not usable here: what it is ("a Stable Diffusion UNet"), else NULL */
} RdPartInfo;

/* Reads the header of a .safetensors file, a sharded index or a diffusers component folder.
 * FALSE (and info->parts 0) when it cannot be read as safetensors. */
gboolean rd_part_identify(const char *path, RdPartInfo *info);
typedef struct RdSafetensors RdSafetensors;
/* What an open checkpoint is, for a message ("a VAE (autoencoder)", "a LoRA"), or NULL. */
const char *rd_part_describe(RdSafetensors *st);
/* "transformer", "vae", "clip-l", "t5" for one bit. */
const char *rd_part_name(RdPartKind kind);
/* Whether a VAE, CLIP or T5 part (info b) fits a transformer (info a) by its dimensions. For SD3 a
 * CLIP fits when it is narrower than the pooled width (one of the two CLIPs whose widths add up
 * to it); which two belong together is rd_part_clip_pair's choice. */
gboolean rd_part_fits(const RdPartInfo *transformer, RdPartKind kind, const RdPartInfo *part);
/* SD3's two CLIPs: a part holding both (a Stability file) or two lone CLIPs whose widths add up
 * to the pooled width, the narrower being CLIP-L. */
gboolean rd_part_has_clip_pair(const RdPartInfo *transformer, const RdPartInfo *part);
