/* CPU benchmark of the FLUX forward pass on a mid-size random model:
 *  1. a direct pass at the base grid: achieved GFLOP/s against the CBLAS sgemm rate measured in
 *     the same run;
 *  2. one step of each ResDiT mode at 3x the base grid, as ratios to the global step, with the
 *     share of the spectral fusion (PSF) and of attention in the fused step.
 * Prints figures only; record them in bench/RESULTS.md. */
#include <cblas.h>
#include <glib/gstdio.h>
#include <stdio.h>

#include "config.h"
#include "flux_model.h"
#include "random-flux.h"

static const FluxConfig mid_config = {
    .in_channels = 64, .hidden = 1024, .heads = 8, .head_dim = 128, .mlp_hidden = 4096,
    .double_blocks = 2, .single_blocks = 4, .txt_dim = 512, .vec_dim = 256,
    .rope_axes = {16, 56, 56}, .rope_theta = 10000, .has_guidance = TRUE,
};
#define TXT_LEN 64

/* Time spent inside two ops, by wrapping the backend table. */
static RdBackend cpu_ops;
static double psf_seconds, attention_seconds;

static void timed_spectral(RdBackend *be, const RdTensor *g, const RdTensor *l, int h, int w,
                           double cutoff, RdTensor *out)
{
    gint64 t0 = g_get_monotonic_time();
    cpu_ops.spectral_fuse(be, g, l, h, w, cutoff, out);
    psf_seconds += (g_get_monotonic_time() - t0) / 1e6;
}

static void timed_attention(RdBackend *be, const RdTensor *q, const RdTensor *k, const RdTensor *v,
                            RdTensor *out, int heads, int head_dim, const RdAttentionExtras *x)
{
    gint64 t0 = g_get_monotonic_time();
    cpu_ops.attention(be, q, k, v, out, heads, head_dim, x);
    attention_seconds += (g_get_monotonic_time() - t0) / 1e6;
}

/* The BLAS rate on every core (the CPU backend runs BLAS single-threaded inside its own
 * threads; the reference rate is BLAS's best). */
static double sgemm_gflops(int M, int N, int K)
{
#if HAVE_OPENBLAS_SET_NUM_THREADS
    openblas_set_num_threads((int)g_get_num_processors());
#endif
    float *a = g_new(float, (size_t)M * K), *b = g_new(float, (size_t)N * K);
    float *c = g_new(float, (size_t)M * N);
    for (size_t i = 0; i < (size_t)M * K; i++)
        a[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < (size_t)N * K; i++)
        b[i] = (float)(i % 5) * 0.1f;
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        gint64 t0 = g_get_monotonic_time();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1, a, K, b, K, 0, c, N);
        best = MIN(best, (g_get_monotonic_time() - t0) / 1e6);
    }
    g_free(a);
    g_free(b);
    g_free(c);
#if HAVE_OPENBLAS_SET_NUM_THREADS
    openblas_set_num_threads(1);
#endif
    return 2.0 * M * N * K / best / 1e9;
}

/* Multiply-adds x 2 of one direct forward pass. */
static double direct_flops(const FluxConfig *c, double img, double txt)
{
    double T = img + txt, C = c->hidden, M = c->mlp_hidden;
    double linear = c->double_blocks * 2 * T * (4 * C * C + 2 * C * M) +
                    c->single_blocks * 2 * T * (3 * C * C + C * M + (C + M) * C);
    double attention = (c->double_blocks + c->single_blocks) * 4 * T * T * C;
    return linear + attention;
}

typedef struct {
    FluxModel *model;
    FluxInputs in;
    float *velocity;
} Bench;

static double time_forward(Bench *b, ResditMode mode, int base, int patch, int reps)
{
    FluxAttentionPlan plan = {mode};
    resdit_method_params_init(&plan.method);
    plan.method.base_area = base * base;
    plan.method.patch = patch;
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        psf_seconds = attention_seconds = 0;
        gint64 t0 = g_get_monotonic_time();
        g_autoptr(GError) error = NULL;
        if (!flux_model_forward(b->model, &b->in, &plan, b->velocity, NULL, &error))
            g_error("%s", error->message);
        best = MIN(best, (g_get_monotonic_time() - t0) / 1e6);
    }
    return best;
}

static void set_grid(Bench *b, int side)
{
    const FluxConfig *c = flux_model_config(b->model);
    int64_t n = (int64_t)side * side;
    g_free((float *)b->in.img);
    g_free(b->velocity);
    float *img = g_new(float, n * c->in_channels);
    for (int64_t i = 0; i < n * c->in_channels; i++)
        img[i] = (float)((i * 7919) % 2000) / 1000.0f - 1.0f;
    b->in.img = img;
    b->in.grid_rows = b->in.grid_cols = side;
    b->velocity = g_new(float, n * c->in_channels);
}

int main(int argc, char **argv)
{
    int base = argc > 1 ? atoi(argv[1]) : 16; /* base grid side in tokens */
    g_autofree char *dir = g_dir_make_tmp("resdit-bench-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "mid.safetensors", NULL);
    g_autoptr(GError) error = NULL;
    if (!random_flux_write(&mid_config, 7, path, &error))
        g_error("%s", error->message);
    RdBackend *be = rd_backend_cpu_new();
    cpu_ops = *be;
    be->spectral_fuse = timed_spectral;
    be->attention = timed_attention;
    Bench b = {flux_model_load(path, be, &error)};
    if (!b.model)
        g_error("%s", error->message);
    const FluxConfig *c = flux_model_config(b.model);
    float *txt = g_new(float, TXT_LEN * c->txt_dim), *vec = g_new(float, c->vec_dim);
    for (int i = 0; i < TXT_LEN * c->txt_dim; i++)
        txt[i] = (float)((i * 31) % 200) / 100.0f - 1.0f;
    for (int i = 0; i < c->vec_dim; i++)
        vec[i] = (float)(i % 11) / 5.0f - 1.0f;
    b.in = (FluxInputs){NULL, txt, vec, TXT_LEN, 0, 0, 0.7f, 3.5f};

    printf("model: hidden %d, %d heads x %d, mlp %d, %d double + %d single blocks, bf16 weights\n",
           c->hidden, c->heads, c->head_dim, c->mlp_hidden, c->double_blocks, c->single_blocks);
    set_grid(&b, base);
    double t_base = time_forward(&b, RESDIT_MODE_DIRECT, base, base, 2);
    double flops = direct_flops(c, base * base, TXT_LEN);
    double gemm = sgemm_gflops(base * base + TXT_LEN, 4 * c->hidden, c->hidden);
    printf("\n1. direct forward at the base grid %dx%d (+%d text tokens)\n", base, base, TXT_LEN);
    printf("   %.3f s, %.1f GFLOP, %.1f GFLOP/s; sgemm %dx%dx%d: %.1f GFLOP/s; ratio %.2f\n",
           t_base, flops / 1e9, flops / t_base / 1e9, base * base + TXT_LEN, 4 * c->hidden,
           c->hidden, gemm, flops / t_base / 1e9 / gemm);

    int side = 3 * base;
    set_grid(&b, side);
    printf("\n2. one step at 3x the base grid: %dx%d tokens, base %dx%d, patch %d\n", side, side,
           base, base, base);
    printf("   %-8s %9s %12s %10s %10s\n", "mode", "seconds", "vs global", "attention", "PSF");
    time_forward(&b, RESDIT_MODE_FUSED, base, base, 1); /* warm-up: page faults, FFT plans */
    double t_global = 0;
    const ResditMode modes[] = {RESDIT_MODE_GLOBAL, RESDIT_MODE_FUSED, RESDIT_MODE_LOCAL,
                                RESDIT_MODE_DIRECT};
    for (size_t i = 0; i < G_N_ELEMENTS(modes); i++) {
        double t = time_forward(&b, modes[i], base, base, 2);
        if (modes[i] == RESDIT_MODE_GLOBAL)
            t_global = t;
        printf("   %-8s %9.3f %11.2fx %9.1f%% %9.2f%%\n", resdit_mode_name(modes[i]), t,
               t / t_global, 100 * attention_seconds / t, 100 * psf_seconds / t);
    }
    flux_model_free(b.model);
    rd_backend_free(be);
    g_unlink(path);
    g_rmdir(dir);
    g_free((float *)b.in.img);
    g_free(b.velocity);
    g_free(txt);
    g_free(vec);
    return 0;
}
