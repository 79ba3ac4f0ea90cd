/* An SD3-architecture transformer (MMDiT, q/k RMSNorm when asked) with random bf16 weights,
 * written as a Stability single file, for benchmarks of models that are not on disk. */
#pragma once

#include "sd3_model.h"

/* Writes the file from cfg's hidden, heads, head_dim, layers, txt_dim, vec_dim, pos_max and
 * qk_norm (mlp_hidden is 4 hidden; no MMDiT-X layers). */
gboolean random_sd3_write(const Sd3Config *cfg, guint32 seed, const char *path, GError **error);
