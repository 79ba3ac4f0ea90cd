/* A FLUX-architecture transformer with random bf16 weights, written as a BFL single file, for
 * benchmarks of models that are not on disk. */
#pragma once

#include "flux_model.h"

/* Writes the file; head_dim must be 128 (FLUX's RoPE axes are then implied). */
gboolean random_flux_write(const FluxConfig *cfg, guint32 seed, const char *path, GError **error);
