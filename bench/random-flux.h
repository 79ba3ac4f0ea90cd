/* A FLUX-architecture transformer with random bf16 weights, written as a BFL single file, for
 * benchmarks of models that are not on disk. */
#pragma once

#include "flux_model.h"

/* Writes the file; head_dim must be 128 (FLUX's RoPE axes are then implied). */
gboolean random_flux_write(const FluxConfig *cfg, guint32 seed, const char *path, GError **error);

/* The same tensors (names, shapes, bf16) as a sparse file: the real header and a data region that
 * is a hole (reads as zeros, takes no disk). For backends that make the values themselves
 * (rd_cuda_weight_prepare_random). */
gboolean random_flux_write_sparse(const FluxConfig *cfg, const char *path, GError **error);
