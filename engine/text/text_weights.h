/* Named weights of a text encoder checkpoint: the key prefix is found from a probe tensor (so
 * diffusers, transformers and ComfyUI/SD-style prefixed files all load), every weight is checked
 * for dtype and shape, prepared on the backend, and released together. */
#pragma once

#include <gio/gio.h>

#include "backend.h"
#include "safetensors.h"

typedef struct RdTextWeights RdTextWeights;

/* Opens path (file, index.json or folder) and finds the prefix of the key ending in probe. When
 * no key does, the error says what the file looks like instead (other_probe: the other encoder's
 * probe key, other_name its name, e.g. "a CLIP text encoder"). */
RdTextWeights *rd_text_weights_open(const char *path, const char *model_name, const char *probe,
                                    const char *other_probe, const char *other_name,
                                    RdBackend *backend, GError **error);
/* The same, preferring a key that starts with `prefer` (a checkpoint bundling several encoders of
 * one kind: "text_encoders.clip_g."); without one, any key ending in probe. */
RdTextWeights *rd_text_weights_open_within(const char *path, const char *prefer,
                                           const char *model_name, const char *probe,
                                           const char *other_probe, const char *other_name,
                                           RdBackend *backend, GError **error);
void rd_text_weights_close(RdTextWeights *w);
/* The key prefix found (e.g. "text_encoders.clip_l.transformer.text_model."). */
const char *rd_text_weights_prefix(const RdTextWeights *w);
const char *rd_text_weights_path(const RdTextWeights *w);
/* A "__metadata__" string of the weights file (see rd_safetensors_metadata), or NULL. */
char *rd_text_weights_metadata(const RdTextWeights *w, const char *key);
/* The tensor prefix + name, or NULL. */
const RdTensorInfo *rd_text_weights_find(const RdTextWeights *w, const char *name);
/* Binds prefix + name as a [rows, cols] weight; rows 1 asks for a vector of cols elements, bound
 * as [cols, 1] (the op table's vector layout). rows or cols < 0 take the file's value. The error
 * names the file and the tensor. */
gboolean rd_text_weights_bind(RdTextWeights *w, const char *name, int64_t rows, int64_t cols,
                              RdWeight *out, GError **error);
/* A tensor by its full key, and binding prefix + name for another prefix than the probe's (CLIP's
 * text_projection sits beside text_model.). */
const RdTensorInfo *rd_text_weights_find_full(const RdTextWeights *w, const char *full_name);
gboolean rd_text_weights_bind_full(RdTextWeights *w, const char *prefix, const char *name,
                                   int64_t rows, int64_t cols, RdWeight *out, GError **error);
/* Rows `ids` of the [vocab, cols] table prefix + name, widened to f32 into out[n * cols]. */
gboolean rd_text_weights_gather(RdTextWeights *w, const char *name, const int32_t *ids, int n,
                                int64_t cols, float *out, GError **error);
/* Bytes of the tensors bound so far. */
size_t rd_text_weights_bytes(const RdTextWeights *w);
