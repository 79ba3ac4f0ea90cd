/* CPU benchmark of the generation job's parts:
 *   steps: seconds per sampling step (one transformer forward) at 2x the base grid, in the
 *          direct, fused and local modes, on the self-test model and on a mid-size random model;
 *   vae:   VAE decode time and peak memory of a FLUX-architecture decoder (random weights,
 *          channels 128/256/512/512, 3 resnets per level, 32 groups) at the given sizes, untiled
 *          or in bands under the pipeline's 2 GiB budget.
 * Usage: bench-generate [steps] [vae [SIDE...]]   (default: steps, then vae 1024 2048;
 *        "vae 0" prints only the memory estimates; "passes N" sets the statistics passes
 *        of banded decodes)
 * Prints figures only; record them in bench/RESULTS.md. */
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "noise.h"
#include "pipeline-private.h"
#include "random-flux.h"
#include "random-vae.h"
#include "selftest_model.h"

#define REPEATS 3

static double median3(double a, double b, double c)
{
    return MAX(MIN(a, b), MIN(MAX(a, b), c));
}

/* Median seconds of one forward in `mode` on a grid x grid token image. */
static double time_step(FluxModel *flux, const ResditMethodParams *method, int grid, int txt_len,
                        ResditMode mode)
{
    const FluxConfig *c = flux_model_config(flux);
    size_t n_img = (size_t)grid * grid * c->in_channels;
    float *img = g_new(float, n_img), *txt = g_new(float, (size_t)txt_len * c->txt_dim);
    float *vec = g_new(float, c->vec_dim), *out = g_new(float, n_img);
    rd_noise_normal(1, img, n_img);
    rd_noise_normal(2, txt, (size_t)txt_len * c->txt_dim);
    rd_noise_normal(3, vec, c->vec_dim);
    FluxInputs in = {img, txt, vec, txt_len, grid, grid, 0.7f, 3.5f};
    FluxAttentionPlan plan = {mode, *method};
    double t[REPEATS];
    for (int r = 0; r < REPEATS; r++) {
        gint64 t0 = g_get_monotonic_time();
        GError *error = NULL;
        if (!flux_model_forward(flux, &in, &plan, out, NULL, &error))
            g_error("forward: %s", error->message);
        t[r] = (g_get_monotonic_time() - t0) / 1e6;
    }
    g_free(img);
    g_free(txt);
    g_free(vec);
    g_free(out);
    return median3(t[0], t[1], t[2]);
}

static void bench_modes(const char *label, FluxModel *flux, int base_area, int patch, int txt_len)
{
    ResditMethodParams method;
    resdit_method_params_init(&method);
    method.base_area = base_area;
    method.patch = patch;
    int base = (int)lround(sqrt(base_area)), grid = 2 * base;
    const ResditMode modes[] = {RESDIT_MODE_DIRECT, RESDIT_MODE_FUSED, RESDIT_MODE_LOCAL};
    double secs[3];
    for (int i = 0; i < 3; i++)
        secs[i] = time_step(flux, &method, grid, txt_len, modes[i]);
    const FluxConfig *c = flux_model_config(flux);
    printf("| %s (hidden %d, %d+%d blocks) | %dx%d tokens (%dx%d px), base %dx%d, patch %d, "
           "%d text | %.3f | %.3f (%.2fx) | %.3f (%.2fx) |\n",
           label, c->hidden, c->double_blocks, c->single_blocks, grid, grid, grid * 16, grid * 16,
           base, base, patch, txt_len, secs[0], secs[1], secs[1] / secs[0], secs[2],
           secs[2] / secs[0]);
    fflush(stdout);
}

static void bench_steps(void)
{
    printf("## seconds per step at 2x the base grid (median of %d)\n\n", REPEATS);
    printf("| model | grid | direct s | fused s | local s |\n|---|---|---|---|---|\n");
    GError *error = NULL;
    ResditModel *selftest = rd_selftest_model_new(rd_backend_cpu_new(), &error);
    if (!selftest)
        g_error("%s", error->message);
    bench_modes("self-test", rd_denoiser_flux(selftest->denoiser), 64, 8, 16);
    resdit_model_free(selftest);

    const FluxConfig mid = {
        .in_channels = 64,
        .hidden = 1024,
        .heads = 8,
        .head_dim = 128,
        .mlp_hidden = 4096,
        .double_blocks = 2,
        .single_blocks = 4,
        .txt_dim = 512,
        .vec_dim = 256,
        .rope_axes = {16, 56, 56},
        .rope_theta = 10000,
        .has_guidance = TRUE,
    };
    char *path = NULL;
    int fd = g_file_open_tmp("resdit-bench-XXXXXX.safetensors", &path, &error);
    if (fd < 0)
        g_error("%s", error->message);
    close(fd);
    if (!random_flux_write(&mid, 7, path, &error))
        g_error("%s", error->message);
    RdBackend *be = rd_backend_cpu_new();
    FluxModel *flux = flux_model_load(path, be, &error);
    if (!flux)
        g_error("%s", error->message);
    bench_modes("mid-size random (bf16)", flux, 256, 16, 64);
    flux_model_free(flux);
    rd_backend_free(be);
    g_unlink(path);
    g_free(path);
}

/* ---- VAE --------------------------------------------------------------------------------- */

static guint64 status_kb(const char *key)
{
    g_autofree char *text = NULL;
    if (!g_file_get_contents("/proc/self/status", &text, NULL, NULL))
        return 0;
    const char *line = strstr(text, key);
    return line ? g_ascii_strtoull(line + strlen(key), NULL, 10) : 0;
}

static int stat_passes = RD_VAE_STAT_PASSES;

static void bench_vae(const int *sides, int n_sides)
{
    GError *error = NULL;
    RdVaeConfig defaults;
    int fd = random_flux_vae_fd(&defaults, &error);
    if (fd < 0)
        g_error("%s", error->message);
    g_autofree char *path = rd_memory_file_path(fd);
    RdBackend *be = rd_backend_cpu_new();
    RdSafetensors *st = rd_safetensors_open(path, &error);
    RdVae *vae = st ? rd_vae_load_safetensors(st, &defaults, be, &error) : NULL;
    if (!vae)
        g_error("%s", error->message);
    printf("\n## VAE decode, FLUX decoder layout (random weights, f32)\n\n");
    printf(
        "| image | band rows (latent), statistics passes | seconds | peak RSS GB | estimate GB |\n"
        "|---|---|---|---|---|\n");
    for (int i = 0; i < n_sides && sides[0] > 0; i++) {
        int lat = sides[i] / 8;
        float *latent = g_new(float, (size_t)16 * lat * lat);
        float *rgb = g_new(float, (size_t)sides[i] * sides[i] * 3);
        rd_noise_normal(9, latent, (size_t)16 * lat * lat);
        /* The CPU pipeline's budget: a quarter of the free memory, at least 2 GiB. */
        guint64 budget = MAX(RD_HOST_DECODE_BUDGET, rd_host_available() / 4);
        int band = rd_vae_band_rows_for_budget(vae, lat, lat, budget);
        g_file_set_contents("/proc/self/clear_refs", "5", 1, NULL);
        gint64 t0 = g_get_monotonic_time();
        if (!rd_vae_decode_passes(vae, latent, lat, lat, band, stat_passes, rgb, NULL, &error))
            g_error("%s", error->message);
        double secs = (g_get_monotonic_time() - t0) / 1e6;
        int passes = band >= lat ? 1 : stat_passes;
        printf("| %dx%d | %s%d, %d pass%s | %.1f | %.2f | %.2f |\n", sides[i], sides[i],
               band >= lat ? "untiled " : "", band, passes, passes > 1 ? "es" : "", secs,
               status_kb("VmHWM:") / 1e6 * 1.024, rd_vae_decode_bytes(vae, lat, lat, band) / 1e9);
        fflush(stdout);
        g_free(latent);
        g_free(rgb);
    }
    const int big = 4096 / 8;
    int band = rd_vae_band_rows_for_budget(vae, big, big, RD_HOST_DECODE_BUDGET);
    for (int side = 1024; side <= 4096; side *= 2) {
        int lat = side / 8;
        printf("Estimated decode memory at %dx%d: untiled %.2f GB\n", side, side,
               rd_vae_decode_bytes(vae, lat, lat, 0) / 1e9);
    }
    printf("\nEstimated decode memory at 4096x4096 under a 2 GiB budget: %.2f GB in bands of %d "
           "latent rows "
           "(untiled: %.2f GB), plus %.2f GB for the f32 and RGB8 image.\n",
           rd_vae_decode_bytes(vae, big, big, band) / 1e9, band,
           rd_vae_decode_bytes(vae, big, big, 0) / 1e9, 4096.0 * 4096 * 3 * 5 / 1e9);
    rd_vae_free(vae);
    rd_backend_free(be);
    close(fd);
}

int main(int argc, char **argv)
{
    gboolean steps = argc < 2, vae = argc < 2;
    int sides[8] = {1024, 2048}, n_sides = 2;
    for (int i = 1; i < argc; i++) {
        if (g_str_equal(argv[i], "steps"))
            steps = TRUE;
        else if (g_str_equal(argv[i], "passes") && i + 1 < argc) {
            int passes = atoi(argv[++i]);
            stat_passes = CLAMP(passes, 1, 8);
        }
        else if (g_str_equal(argv[i], "vae")) {
            vae = TRUE;
            n_sides = 0;
            while (i + 1 < argc && g_ascii_isdigit(argv[i + 1][0]) && n_sides < 8 &&
                   (n_sides == 0 || sides[0] > 0))
                sides[n_sides++] = atoi(argv[++i]);
            if (n_sides == 0)
                n_sides = 2;
        }
    }
    if (steps)
        bench_steps();
    if (vae)
        bench_vae(sides, n_sides);
    return 0;
}
