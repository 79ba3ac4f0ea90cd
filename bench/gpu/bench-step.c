/* One FLUX transformer step on the CUDA backend, per ResDiT mode, at 1024^2, 2048^2 and 4096^2.
 *
 * The model has FLUX.1-dev's widths (hidden 3072, 24 heads x 128, MLP 12288, T5 4096, CLIP 768,
 * guidance) with random bf16 weights, but only DOUBLE double blocks and SINGLE single blocks
 * (default 1 and 2) so that its file is written in seconds; bench/gpu/torch_ref.py times
 * diffusers' FluxTransformer2DModel with the same depth, so the ratio is like for like. Per-step
 * figures of the full 19 + 38 blocks are about 19x the double-block share plus 38x the
 * single-block share; this program reports the measured reduced-depth step.
 *
 * Usage: bench-gpu-step [DOUBLE SINGLE] [--quick]
 * Prints: step SIDE_PX MODE MS PEAK_MIB  (one line per size and mode) */
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

#include "cuda_backend.h"
#include "flux_model.h"
#include "random-flux.h"

#define TXT_LEN 512

static double step_ms(FluxModel *m, const FluxInputs *in, ResditMode mode, float *velocity,
                      int repeats)
{
    FluxAttentionPlan plan = {mode};
    resdit_method_params_init(&plan.method); /* FLUX defaults: base 64 x 64, patch 64 */
    GError *error = NULL;
    double best = 1e30;
    for (int r = 0; r < repeats; r++) {
        gint64 t0 = g_get_monotonic_time();
        if (!flux_model_forward(m, in, &plan, velocity, NULL, &error))
            g_error("%s", error->message);
        best = MIN(best, (g_get_monotonic_time() - t0) / 1000.0);
    }
    return best;
}

int main(int argc, char **argv)
{
    gboolean quick = FALSE;
    int depth[2] = {1, 2}, n_depth = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = TRUE;
        else if (n_depth < 2)
            depth[n_depth++] = atoi(argv[i]);
    }
    const FluxConfig cfg = {
        .in_channels = 64,
        .hidden = 3072,
        .heads = 24,
        .head_dim = 128,
        .mlp_hidden = 12288,
        .double_blocks = depth[0],
        .single_blocks = depth[1],
        .txt_dim = 4096,
        .vec_dim = 768,
        .rope_axes = {16, 56, 56},
        .rope_theta = 10000,
        .has_guidance = TRUE,
    };
    GError *error = NULL;
    RdBackend *be = rd_backend_cuda_new(&error);
    if (!be) {
        fprintf(stderr, "bench-gpu-step: %s\n", error->message);
        return 77;
    }
    g_autofree char *device = rd_cuda_device_name(be);
    printf("device %s\n", device);
    printf("model FLUX.1-dev widths, %d double + %d single blocks, random bf16 weights\n", depth[0],
           depth[1]);
    fflush(stdout);
    g_autofree char *dir = g_dir_make_tmp("resdit-step-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "flux-widths.safetensors", NULL);
    if (!random_flux_write(&cfg, 5, path, &error))
        g_error("%s", error->message);
    FluxModel *m = flux_model_load(path, be, &error);
    if (!m)
        g_error("%s", error->message);
    g_unlink(path); /* weights are on the device now */
    g_rmdir(dir);

    float *txt = g_new(float, (int64_t)TXT_LEN *cfg.txt_dim), *vec = g_new(float, cfg.vec_dim);
    for (int64_t i = 0; i < (int64_t)TXT_LEN * cfg.txt_dim; i++)
        txt[i] = (float)((i * 31) % 200) / 100.0f - 1.0f;
    for (int i = 0; i < cfg.vec_dim; i++)
        vec[i] = (float)(i % 11) / 5.0f - 1.0f;
    static const int sides_px[] = {1024, 2048, 4096};
    static const ResditMode modes[] = {RESDIT_MODE_DIRECT, RESDIT_MODE_GLOBAL, RESDIT_MODE_LOCAL,
                                       RESDIT_MODE_FUSED};
    for (guint s = 0; s < G_N_ELEMENTS(sides_px); s++) {
        const int side = sides_px[s] / 16;
        const int64_t n = (int64_t)side * side * cfg.in_channels;
        float *img = g_new(float, n), *velocity = g_new(float, n);
        for (int64_t i = 0; i < n; i++)
            img[i] = (float)((i * 7919) % 2000) / 1000.0f - 1.0f;
        FluxInputs in = {img, txt, vec, TXT_LEN, side, side, 0.7f, 3.5f};
        for (guint k = 0; k < G_N_ELEMENTS(modes); k++) {
            rd_cuda_reset_peak(be);
            step_ms(m, &in, modes[k], velocity, 1); /* warm-up: plans, pools */
            double ms = step_ms(m, &in, modes[k], velocity, quick ? 1 : 2);
            printf("step %d %s %.1f %.0f\n", sides_px[s], resdit_mode_name(modes[k]), ms,
                   rd_cuda_peak_bytes(be) / 1048576.0);
            fflush(stdout);
        }
        g_free(img);
        g_free(velocity);
    }
    flux_model_free(m);
    rd_backend_free(be);
    g_free(txt);
    g_free(vec);
    return 0;
}
