/* The AutoencoderKL decoder of FLUX (16 latent channels) and SD3, from a BFL ae.safetensors or a
 * diffusers vae/ folder (names and channel counts are read from the tensors).
 *
 * Memory: conv_in and the mid block (with its single-head attention over every latent position,
 * run through the backend's blocked attention) work on the whole latent; the up path, where the
 * activations are 8x larger per side, runs on bands of latent rows with a halo of context rows
 * that are cropped away. GroupNorm statistics are taken per band (the band plus its halo), so a
 * banded decode differs slightly from the untiled one (figures in docs and tests/pipeline). */
#pragma once

#include <gio/gio.h>

#include "backend.h"
#include "safetensors.h"

typedef struct RdVae RdVae;

typedef struct {
    int latent_channels; /* 16 for FLUX and SD3 */
    int levels;          /* up levels (4) */
    int top_channels;    /* channels of the mid block (512) */
    int groups;          /* GroupNorm groups (32) */
    double scaling_factor, shift_factor; /* FLUX 0.3611 / 0.1159, SD3 1.5305 / 0.0609 */
} RdVaeConfig;

/* path: ae.safetensors, a diffusers vae/ folder (config.json read for the scaling factors and
 * groups) or a diffusers model root holding vae/. */
RdVae *rd_vae_load(const char *path, RdBackend *backend, GError **error);
/* From an open checkpoint (the self-test model); takes ownership of st. */
RdVae *rd_vae_load_safetensors(RdSafetensors *st, const RdVaeConfig *defaults, RdBackend *backend,
                               GError **error);
void rd_vae_free(RdVae *vae);
const RdVaeConfig *rd_vae_config(const RdVae *vae);
/* Bytes of the decoder's weights. */
guint64 rd_vae_weight_bytes(const RdVae *vae);

/* Bytes of backend memory a decode of a height x width latent needs with bands of band_rows
 * latent rows (0 = the whole latent at once). */
guint64 rd_vae_decode_bytes(const RdVae *vae, int height, int width, int band_rows);
/* The band height (latent rows) that keeps a decode under budget bytes (at least 1). */
int rd_vae_band_rows_for_budget(const RdVae *vae, int height, int width, guint64 budget);

/* latent [C, height, width] (channels first, as sampled) -> rgb [8h * 8w * 3] in [-1, 1]
 * (float, pixel-major). band_rows: latent rows per band of the up path (0 = untiled). */
gboolean rd_vae_decode(RdVae *vae, const float *latent, int height, int width, int band_rows,
                       float *rgb, GCancellable *cancellable, GError **error);
