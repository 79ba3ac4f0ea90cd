/* unit suite: size presets snap to 16 px and keep the ratio; the memory estimate's figures. */
#include <glib.h>
#include <math.h>

#include "rs-memory-estimate.h"
#include "rs-size.h"

static void test_snap(void)
{
    g_assert_cmpint(rs_size_snap(0), ==, 16);
    g_assert_cmpint(rs_size_snap(7), ==, 16);
    g_assert_cmpint(rs_size_snap(23.9), ==, 16);
    g_assert_cmpint(rs_size_snap(24), ==, 32);
    g_assert_cmpint(rs_size_snap(2730.67), ==, 2736);
    g_assert_cmpint(rs_size_snap(4096), ==, 4096);
}

static void test_named_sizes(void)
{
    static const struct {
        const char *aspect, *size;
        int width, height;
    } cases[] = {
        {"1:1", "4K", 4096, 4096},  {"16:9", "4K", 4096, 2304}, {"16:9", "3K", 3072, 1728},
        {"9:16", "2K", 1152, 2048}, {"1:2", "4K", 2048, 4096},  {"2:1", "4K", 4096, 2048},
        {"3:2", "3K", 3072, 2048},  {"2:3", "4K", 2736, 4096},  {"4:3", "2K", 2048, 1536},
        {"3:4", "3K", 2304, 3072},  {"16:9", "512", 512, 288},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        const RsAspectPreset *aspect = rs_aspect_preset_find(cases[i].aspect);
        const RsSizePreset *size = rs_size_preset_find(cases[i].size);
        g_assert_nonnull(aspect);
        g_assert_nonnull(size);
        int w, h;
        rs_size_for_aspect(aspect->w, aspect->h, size->long_side, &w, &h);
        g_assert_cmpint(w, ==, cases[i].width);
        g_assert_cmpint(h, ==, cases[i].height);
    }
    g_assert_null(rs_aspect_preset_find("custom"));
    g_assert_null(rs_size_preset_find("8K"));
}

static void test_every_preset_on_grid_and_ratio(void)
{
    int n_aspects, n_sizes;
    const RsAspectPreset *aspects = rs_aspect_presets(&n_aspects);
    const RsSizePreset *sizes = rs_size_presets(&n_sizes);
    g_assert_cmpint(n_aspects, ==, 9);
    g_assert_cmpint(n_sizes, ==, 4); /* Draft, 2K, 3K, 4K */
    for (int a = 0; a < n_aspects; a++) {
        for (int s = 0; s < n_sizes; s++) {
            int w, h;
            rs_size_for_aspect(aspects[a].w, aspects[a].h, sizes[s].long_side, &w, &h);
            g_assert_cmpint(w % 16, ==, 0);
            g_assert_cmpint(h % 16, ==, 0);
            g_assert_cmpint(MAX(w, h), ==, sizes[s].long_side);
            /* The shorter side is the exact one snapped: within half a grid step. */
            double exact = (double)sizes[s].long_side * MIN(aspects[a].w, aspects[a].h) /
                           MAX(aspects[a].w, aspects[a].h);
            g_assert_cmpfloat(fabs(MIN(w, h) - exact), <=, 8.0);
            if (sizes[s].long_side >= 2048) {
                double want = (double)aspects[a].w / aspects[a].h;
                g_assert_cmpfloat(fabs((double)w / h - want) / want, <, 0.01);
            }
        }
    }
}

static void test_parameter_count(void)
{
    /* FLUX.1-dev's transformer: 11.9 B parameters, 23.8 GB as bf16 (flux1-dev.safetensors). */
    uint64_t params = rs_flux_transformer_parameters();
    g_assert_cmpuint(params, >, 11850000000ull);
    g_assert_cmpuint(params, <, 11950000000ull);
    RsMemoryEstimate e;
    rs_memory_estimate(1024, 1024, &e);
    g_assert_cmpfloat(fabs((double)e.weights - 23.8e9) / 23.8e9, <, 0.002);
}

static void test_estimate_grows_with_tokens(void)
{
    RsMemoryEstimate base, wide, tall, big;
    rs_memory_estimate(1024, 1024, &base);
    rs_memory_estimate(4096, 2304, &wide);
    rs_memory_estimate(2304, 4096, &tall);
    rs_memory_estimate(4096, 4096, &big);
    g_assert_cmpuint(wide.total, ==, tall.total);
    g_assert_cmpuint(base.total, <, wide.total);
    g_assert_cmpuint(wide.total, <, big.total);
    g_assert_cmpuint(big.total, ==, big.weights + big.activations + big.latents);
    g_assert_cmpuint(rs_flux_image_tokens(4096, 4096), ==, 65536);

    /* Activations are linear in the token count (text tokens included). */
    double per_token_base = (double)base.activations / (RS_FLUX_TEXT_TOKENS + 4096);
    double per_token_big = (double)big.activations / (RS_FLUX_TEXT_TOKENS + 65536);
    g_assert_cmpfloat(fabs(per_token_base - per_token_big), <, 1e-9);
    /* A 1024^2 image needs well under 1 GB of activations; 4096^2 fits an 80 GB card. */
    g_assert_cmpuint(base.activations, <, 1000000000ull);
    g_assert_cmpuint(big.total, >, 28000000000ull);
    g_assert_cmpuint(big.total, <, 40000000000ull);
    /* Latents: 3 f32 tensors of 16 x H/8 x W/8 = 3 bytes per pixel. */
    g_assert_cmpuint(big.latents, ==, 3ull * 4096 * 4096);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/size/snap", test_snap);
    g_test_add_func("/size/named-sizes", test_named_sizes);
    g_test_add_func("/size/every-preset", test_every_preset_on_grid_and_ratio);
    g_test_add_func("/memory/parameter-count", test_parameter_count);
    g_test_add_func("/memory/grows-with-tokens", test_estimate_grows_with_tokens);
    return g_test_run();
}
