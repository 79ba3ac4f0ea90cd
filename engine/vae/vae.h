/* The AutoencoderKL decoder of FLUX (16 latent channels) and SD3, from a BFL ae.safetensors or a
 * diffusers vae/ folder (names and channel counts are read from the tensors).
 *
 * Memory: conv_in and the mid block (with its single-head attention over every latent position,
 * run through the backend's blocked attention) work on the whole latent; the up path, where the
 * activations are 8x larger per side, runs on bands of latent rows with a halo of context rows
 * that are cropped away. GroupNorm needs statistics over the whole image, which no band has: a
 * first pass over the bands normalises each band by its own statistics and gathers every
 * up-path GroupNorm's sums over the bands' own rows; the next pass normalises every band with
 * those whole-image statistics (consistent across bands: no seams) and the last pass writes the
 * image. Each pass makes one more GroupNorm layer's statistics exact; RD_VAE_STAT_PASSES
 * balances cost and fidelity (figures in tests/pipeline/test-vae.c and docs). */
#pragma once

#include <gio/gio.h>

#include "backend.h"
#include "safetensors.h"

typedef struct RdVae RdVae;

typedef struct {
    int latent_channels;                 /* 16 for FLUX and SD3 */
    int levels;                          /* up levels (4) */
    int top_channels;                    /* channels of the mid block (512) */
    int groups;                          /* GroupNorm groups (32) */
    double scaling_factor, shift_factor; /* FLUX 0.3611 / 0.1159, SD3 1.5305 / 0.0609 */
} RdVaeConfig;

/* Whether a backend has the ops the decoder needs (conv2d, group_norm, group_sums, upsample). */
gboolean rd_vae_backend_supported(const RdBackend *backend);

/* path: ae.safetensors, a diffusers vae/ folder (config.json read for the scaling factors and
 * groups) or a diffusers model root holding vae/. */
RdVae *rd_vae_load(const char *path, RdBackend *backend, GError **error);
/* The same with the latent constants of a file that has no config.json (FLUX's are rd_vae_load's;
 * the model interface gives each model's); a config.json's own values win. */
RdVae *rd_vae_load_scaled(const char *path, double scaling_factor, double shift_factor,
                          RdBackend *backend, GError **error);
/* From an open checkpoint (the self-test model); takes ownership of st. */
RdVae *rd_vae_load_safetensors(RdSafetensors *st, const RdVaeConfig *defaults, RdBackend *backend,
                               GError **error);
void rd_vae_free(RdVae *vae);
const RdVaeConfig *rd_vae_config(const RdVae *vae);
/* The file the weights were read from. */
const char *rd_vae_path(const RdVae *vae);
/* Bytes of the decoder's weights (and the encoder's, when the file has one). */
guint64 rd_vae_weight_bytes(const RdVae *vae);

/* Bytes of backend memory a decode of a height x width latent needs with bands of band_rows
 * latent rows (0 = the whole latent at once). */
guint64 rd_vae_decode_bytes(const RdVae *vae, int height, int width, int band_rows);
/* The band height (latent rows) that keeps a decode under budget bytes, but never below the
 * halo (then the decode may exceed the budget: rd_vae_decode_bytes says by how much). */
int rd_vae_band_rows_for_budget(const RdVae *vae, int height, int width, guint64 budget);

/* Passes over the bands in a banded decode (see above); an untiled decode needs one. */
#define RD_VAE_STAT_PASSES 3

/* latent [C, height, width] (channels first, as sampled) -> rgb [8h * 8w * 3] in [-1, 1]
 * (float, pixel-major). band_rows: latent rows per band of the up path (0 = untiled). */
gboolean rd_vae_decode(RdVae *vae, const float *latent, int height, int width, int band_rows,
                       float *rgb, GCancellable *cancellable, GError **error);
/* The same with an explicit number of statistics passes (1 = per-band statistics). */
gboolean rd_vae_decode_passes(RdVae *vae, const float *latent, int height, int width, int band_rows,
                              int passes, float *rgb, GCancellable *cancellable, GError **error);

/* ---- the encoder (vae_encode.c) ----
 * Banded like the decoder, the other way round: conv_in and the levels that downsample run on
 * bands of latent rows (pixel rows band * 8) with a halo of context rows, GroupNorm with the
 * previous pass's whole-image statistics; the levels at latent resolution, the mid block (its
 * attention over every latent position), norm_out and conv_out on the whole latent. */

/* Whether the file has encoder.* tensors, and whether this backend can run them too. */
gboolean rd_vae_has_encoder(const RdVae *vae);
gboolean rd_vae_encode_supported(const RdVae *vae);
/* Pixels per latent row and column (8 for FLUX); 1 without an encoder. */
int rd_vae_downscale(const RdVae *vae);
/* rgb [8h * 8w * 3] in [-1, 1] (float, pixel-major) -> latent [C, h, w] (channels first, as
 * sampled) = (mean - shift_factor) * scaling_factor, the mean of the encoder's distribution.
 * band_rows: latent rows per band of the down path (0 = untiled). */
gboolean rd_vae_encode(RdVae *vae, const float *rgb, int height, int width, int band_rows,
                       float *latent, GCancellable *cancellable, GError **error);
gboolean rd_vae_encode_passes(RdVae *vae, const float *rgb, int height, int width, int band_rows,
                              int passes, float *latent, GCancellable *cancellable,
                              GError **error);
/* Bytes of backend memory an encode of an image with a height x width latent needs. */
guint64 rd_vae_encode_bytes(const RdVae *vae, int height, int width, int band_rows);
int rd_vae_encode_band_rows_for_budget(const RdVae *vae, int height, int width, guint64 budget);
