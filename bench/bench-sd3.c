/* CPU benchmark: the cost of one sampling step of SD3-shaped transformers against a FLUX-shaped
 * one, at the real widths, text lengths and depths of FLUX.1-dev, SD3.5 Large and SD3 / SD3.5
 * Medium. Whole models do not fit a CPU benchmark, so each is timed at two depths and the cost of
 * one block is the difference; a step is projected to the real depth from it. SD3 runs
 * classifier-free guidance (two passes a step), FLUX.1-dev does not (guidance is an input).
 * Prints figures only (ratios to the FLUX step in the same run); record them in bench/RESULTS.md.
 * Usage: bench-sd3 [GRID_SIDE_TOKENS (default 32 = 512 px)] */
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

#include "flux_model.h"
#include "random-flux.h"
#include "random-sd3.h"

#define FLUX_TXT 512 /* T5 tokens of FLUX.1-dev */
#define SD3_TXT 333  /* 77 CLIP + 256 T5 tokens */
#define REPS 3

typedef struct {
    int side;
    char *dir;
    float *img, *txt, *vec, *velocity;
} Bench;

static void fill(float *x, size_t n, int mul)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)((i * mul) % 2000) / 1000.0f - 1.0f;
}

static double seconds_since(gint64 t0)
{
    return (g_get_monotonic_time() - t0) / 1e6;
}

typedef struct {
    const char *name;
    int hidden, heads, depth;
    gboolean qk_norm;
} Sd3Shape;

/* A model of one depth, loaded, and its best time so far. */
typedef struct {
    FluxModel *flux;
    Sd3Model *sd3;
    double best;
} Timed;

static FluxModel *load_flux(Bench *b, RdBackend *be, int doubles, int singles)
{
    const FluxConfig cfg = {
        .in_channels = 64, .hidden = 3072, .heads = 24, .head_dim = 128, .mlp_hidden = 12288,
        .double_blocks = doubles, .single_blocks = singles, .txt_dim = 4096, .vec_dim = 768,
        .rope_axes = {16, 56, 56}, .rope_theta = 10000, .has_guidance = TRUE,
    };
    g_autofree char *path = g_build_filename(b->dir, "flux.safetensors", NULL);
    g_autoptr(GError) error = NULL;
    if (!random_flux_write(&cfg, 11, path, &error))
        g_error("%s", error->message);
    FluxModel *model = flux_model_load(path, be, &error);
    if (!model)
        g_error("%s", error->message);
    g_unlink(path); /* the mapping stays valid */
    return model;
}

static Sd3Model *load_sd3(Bench *b, RdBackend *be, const Sd3Shape *s, int layers)
{
    const Sd3Config cfg = {
        .in_channels = 64, .hidden = s->hidden, .heads = s->heads,
        .head_dim = s->hidden / s->heads, .mlp_hidden = 4 * s->hidden, .layers = layers,
        .txt_dim = 4096, .vec_dim = 2048, .pos_max = MAX(b->side, 64), .qk_norm = s->qk_norm,
    };
    g_autofree char *path = g_build_filename(b->dir, "sd3.safetensors", NULL);
    g_autoptr(GError) error = NULL;
    if (!random_sd3_write(&cfg, 13, path, &error))
        g_error("%s", error->message);
    Sd3Model *model = sd3_model_load(path, be, &error);
    if (!model)
        g_error("%s", error->message);
    g_unlink(path);
    return model;
}

/* One direct pass of the model; keeps the best time. */
static void time_pass(Bench *b, Timed *t)
{
    g_autoptr(GError) error = NULL;
    gint64 t0 = g_get_monotonic_time();
    gboolean ok;
    if (t->flux) {
        FluxInputs in = {b->img, b->txt, b->vec, FLUX_TXT, b->side, b->side, 0.7f, 3.5f};
        FluxAttentionPlan plan = {RESDIT_MODE_DIRECT};
        resdit_method_params_init(&plan.method);
        ok = flux_model_forward(t->flux, &in, &plan, b->velocity, NULL, &error);
    } else {
        Sd3Inputs in = {b->img, b->txt, b->vec, SD3_TXT, b->side, b->side, 0.7f};
        ok = sd3_model_forward(t->sd3, &in, b->velocity, NULL, &error);
    }
    if (!ok)
        g_error("%s", error->message);
    t->best = MIN(t->best, seconds_since(t0));
}

static void timed_free(Timed *t)
{
    if (t->flux)
        flux_model_free(t->flux);
    if (t->sd3)
        sd3_model_free(t->sd3);
}

int main(int argc, char **argv)
{
    Bench b = {argc > 1 ? atoi(argv[1]) : 32};
    if (b.side < 2 || b.side > 256)
        g_error("the grid side must be 2..256 tokens");
    b.dir = g_dir_make_tmp("resdit-bench-sd3-XXXXXX", NULL);
    size_t tokens = (size_t)b.side * b.side;
    b.img = g_new(float, tokens * 64);
    b.velocity = g_new(float, tokens * 64);
    b.txt = g_new(float, (size_t)FLUX_TXT * 4096);
    b.vec = g_new(float, 2048);
    fill(b.img, tokens * 64, 7919);
    fill(b.txt, (size_t)FLUX_TXT * 4096, 31);
    fill(b.vec, 2048, 11);
    RdBackend *be = rd_backend_cpu_new();
    printf("grid %dx%d tokens (%d px), text %d (FLUX) / %d (SD3) tokens, bf16 weights, "
           "best of %d\n\n", b.side, b.side, b.side * 16, FLUX_TXT, SD3_TXT, REPS);

    const Sd3Shape shapes[] = {
        {"SD3.5 Large", 2432, 38, 38, TRUE},
        {"SD3 Medium", 1536, 24, 24, FALSE},
    };
    /* FLUX at 1+1, 1+1+SPAN double and 1+1+SPAN single blocks; each SD3 at 2 and 2+SPAN joint
     * blocks (the last block of each is the text-side-light one). Timed in rounds, so that a
     * busy machine slows every model alike. */
    enum { SPAN = 2, N_FLUX = 3 };
    Timed timed[N_FLUX + 2 * G_N_ELEMENTS(shapes)];
    memset(timed, 0, sizeof timed);
    timed[0].flux = load_flux(&b, be, 1, 1);
    timed[1].flux = load_flux(&b, be, 1 + SPAN, 1);
    timed[2].flux = load_flux(&b, be, 1, 1 + SPAN);
    for (size_t i = 0; i < G_N_ELEMENTS(shapes); i++) {
        timed[N_FLUX + 2 * i].sd3 = load_sd3(&b, be, &shapes[i], 2);
        timed[N_FLUX + 2 * i + 1].sd3 = load_sd3(&b, be, &shapes[i], 2 + SPAN);
    }
    time_pass(&b, &timed[0]); /* warm-up: page faults, thread start */
    for (size_t i = 0; i < G_N_ELEMENTS(timed); i++)
        timed[i].best = 1e30;
    for (int r = 0; r < REPS; r++)
        for (size_t i = 0; i < G_N_ELEMENTS(timed); i++)
            time_pass(&b, &timed[i]);

    double dbl = (timed[1].best - timed[0].best) / SPAN;
    double sgl = (timed[2].best - timed[0].best) / SPAN;
    double flux_step = timed[0].best + 18 * dbl + 37 * sgl;
    printf("%-22s %9s %9s %12s %12s %9s\n", "model", "block s", "passes", "step s", "vs FLUX",
           "depth");
    printf("%-22s %9.3f %9d %12.2f %11.2fx %9s\n", "FLUX.1-dev (double)", dbl, 1, flux_step, 1.0,
           "19+38");
    printf("%-22s %9.3f\n", "FLUX.1-dev (single)", sgl);
    for (size_t i = 0; i < G_N_ELEMENTS(shapes); i++) {
        const Sd3Shape *s = &shapes[i];
        double t2 = timed[N_FLUX + 2 * i].best, t4 = timed[N_FLUX + 2 * i + 1].best;
        double joint = (t4 - t2) / SPAN, pass = t2 + (s->depth - 2) * joint;
        g_autofree char *depth = g_strdup_printf("%d", s->depth);
        printf("%-22s %9.3f %9d %12.2f %11.2fx %9s\n", s->name, joint, 2, 2 * pass,
               2 * pass / flux_step, depth);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(timed); i++)
        timed_free(&timed[i]);
    printf("\n(step s: the projected seconds of one sampling step at full depth; SD3 counts "
           "its two CFG passes)\n");
    rd_backend_free(be);
    g_rmdir(b.dir);
    g_free(b.dir);
    g_free(b.img);
    g_free(b.velocity);
    g_free(b.txt);
    g_free(b.vec);
    return 0;
}
