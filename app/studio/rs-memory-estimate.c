/* Memory a FLUX.1-dev generation needs at a given image size; the formula is in the header. */
#include "rs-memory-estimate.h"

enum {
    HIDDEN = 3072,
    MLP = 12288,
    HEAD_DIM = 128,
    PATCH_IN = 64, /* 16 latent channels x 2 x 2 */
    T5_DIM = 4096,
    CLIP_DIM = 768,
    TIME_DIM = 256, /* 128 frequencies, cos and sin */
    DOUBLE_BLOCKS = 19,
    SINGLE_BLOCKS = 38,
    ROPE_PAIRS = 64,
};

static uint64_t linear(uint64_t in, uint64_t out)
{
    return in * out + out;
}

static uint64_t mlp_embedder(uint64_t in)
{
    return linear(in, HIDDEN) + linear(HIDDEN, HIDDEN);
}

static uint64_t double_block(void)
{
    uint64_t stream = linear(HIDDEN, 6 * HIDDEN) + linear(HIDDEN, 3 * HIDDEN) + 2 * HEAD_DIM +
                      linear(HIDDEN, HIDDEN) + linear(HIDDEN, MLP) + linear(MLP, HIDDEN);
    return 2 * stream; /* image and text streams have their own weights */
}

static uint64_t single_block(void)
{
    return linear(HIDDEN, 3 * HIDDEN) + linear(HIDDEN, 3 * HIDDEN + MLP) +
           linear(HIDDEN + MLP, HIDDEN) + 2 * HEAD_DIM;
}

uint64_t rs_flux_transformer_parameters(void)
{
    uint64_t inputs = linear(PATCH_IN, HIDDEN) + linear(T5_DIM, HIDDEN) +
                      2 * mlp_embedder(TIME_DIM) /* time and guidance */ + mlp_embedder(CLIP_DIM);
    uint64_t final_layer = linear(HIDDEN, 2 * HIDDEN) + linear(HIDDEN, PATCH_IN);
    return inputs + DOUBLE_BLOCKS * double_block() + SINGLE_BLOCKS * single_block() + final_layer;
}

uint64_t rs_flux_image_tokens(int width, int height)
{
    return (uint64_t)(width / 16) * (uint64_t)(height / 16);
}

void rs_memory_estimate(int width, int height, RsMemoryEstimate *estimate)
{
    const uint64_t bf16 = 2, f32 = 4;
    uint64_t tokens = RS_FLUX_TEXT_TOKENS + rs_flux_image_tokens(width, height);
    uint64_t values_per_token = 2 * HIDDEN + (3 * HIDDEN + MLP) + 2 * HIDDEN + MLP + HIDDEN;
    uint64_t rope_per_token = 2 * ROPE_PAIRS * 2 * f32;
    uint64_t latent_values = 16 * (uint64_t)(width / 8) * (uint64_t)(height / 8);

    estimate->weights = rs_flux_transformer_parameters() * bf16;
    estimate->activations = tokens * (values_per_token * bf16 + rope_per_token);
    estimate->latents = 3 * latent_values * f32;
    estimate->total = estimate->weights + estimate->activations + estimate->latents;
}
