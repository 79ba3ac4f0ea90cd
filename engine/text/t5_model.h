/* The T5 v1.1 encoder (T5EncoderModel): shared embedding, pre-RMSNorm layers with unscaled
 * self-attention plus a bucketed relative position bias (computed from the first layer's table and
 * shared by all), gated-GELU (tanh) feed-forward, final RMSNorm. No attention mask: BFL and
 * diffusers' FLUX pipelines encode the padded sequence without one. f32 activations. */
#pragma once

#include <gio/gio.h>
#include <stdint.h>

#include "backend.h"

typedef struct {
    int vocab_size, d_model, d_kv, heads, d_ff, layers;
    int num_buckets, max_distance;
    float eps;
} RdT5Config;

typedef struct RdT5Model RdT5Model;

/* path: an encoder folder (config.json + safetensors, sharded or not) or a single weights file
 * (t5xxl_fp16.safetensors, t5xxl_fp8_e4m3fn.safetensors; sizes read from the tensors). */
RdT5Model *rd_t5_model_load(const char *path, RdBackend *backend, GError **error);
void rd_t5_model_free(RdT5Model *model);
const RdT5Config *rd_t5_model_config(const RdT5Model *model);
size_t rd_t5_model_weight_bytes(const RdT5Model *model);

/* ids[n] -> hidden [n, d_model]. Cancellation is checked between layers. *peak_bytes (may be
 * NULL) gets the activation memory this pass used. */
gboolean rd_t5_model_forward(RdT5Model *model, const int32_t *ids, int n, float *hidden,
                             size_t *peak_bytes, GCancellable *cancellable, GError **error);

/* The bucket of a relative position (key - query), bidirectional, as T5 computes it. */
int rd_t5_relative_bucket(int relative_position, int num_buckets, int max_distance);
