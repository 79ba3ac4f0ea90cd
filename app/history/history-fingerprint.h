/* A cheap identity of a model's weight files, kept with every generation. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* "v1:" and 32 hex digits of SHA-256 over, for each file in the given order: its size, its first
 * MiB and its last MiB. A safetensors header (tensor names, dtypes, offsets) sits at the start,
 * so different checkpoints differ; copying or touching a file does not change it. Reads at most
 * 2 MiB per file, whatever its size. */
char *history_model_fingerprint(const char *const *paths, GError **error);

G_END_DECLS
