/* Memory a FLUX.1-dev generation needs at a given image size, in bf16. Pure C.
 *
 * estimate = weights + activations + latents, where
 *   weights     = transformer parameters x 2 bytes (bf16). The parameter count is computed from the
 *                 architecture (hidden 3072, MLP 12288, 19 double and 38 single blocks, ...):
 *                 11 901 408 320, that is the 23.8 GB of flux1-dev.safetensors.
 *   activations = tokens x 98 304 bytes + tokens x 1 024 bytes, with tokens = 512 text tokens +
 *                 (W/16)(H/16) image tokens. 98 304 = 2 bytes x 49 152 values per token, the peak
 *                 bf16 working set of a single-stream block: residual x and modulated x (2 x 3072),
 *                 linear1 output (3 x 3072 + 12288), attention output twice (global and local
 *                 branch in fused steps, 2 x 3072), GELU output (12288) and linear2 output (3072).
 *                 Attention is computed in tiles, so no tokens x tokens matrix is ever stored.
 *                 1 024 = two RoPE tables (PES and PIPE positions), 64 (cos, sin) pairs, f32.
 *   latents     = 3 f32 latent tensors (state, velocity, noise) of 16 x H/8 x W/8: 3 bytes/pixel.
 * The text encoders run before the transformer is loaded and the VAE decodes in tiles, so neither
 * adds to the peak. The figure is an estimate: allocator slack and the backend's workspace come on
 * top. */
#pragma once

#include <stdint.h>

typedef struct {
    uint64_t weights;
    uint64_t activations;
    uint64_t latents;
    uint64_t total;
} RsMemoryEstimate;

#define RS_FLUX_TEXT_TOKENS 512

uint64_t rs_flux_transformer_parameters(void);
uint64_t rs_flux_image_tokens(int width, int height);
void rs_memory_estimate(int width, int height, RsMemoryEstimate *estimate);
