/* The whole FLUX transformer on the CUDA backend against the CPU backend, in every ResDiT mode:
 * the tiny reference models (head dims 16 and 32: the generic attention kernel) and a random
 * model with FLUX's head dim 128 (the tensor-core attention kernel). The CPU backend is itself
 * matched against the PyTorch goldens by the unit suite. */
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "config.h"

#include "flux_model.h"
#include "gpu-util.h"
#include "random-flux.h"
#if HAVE_CUDA
#include "cuda_backend.h"
#endif

/* bf16 activations through every block: a few per mille of relative error is expected, errors
 * of a wrong op are O(1). */
#define FLUX_REL_L2 3e-2
#define FLUX_TOL_OF_RMS 0.25f
#define FLUX_EPS 0.1f

static char *flux_data(const char *name)
{
    g_autofree char *rel = g_build_filename("flux", name, NULL);
    return tu_data_path(rel);
}

typedef struct {
    FluxModel *cpu, *gpu;
} ModelPair;

static ModelPair load_pair(const char *path, const char *config)
{
    GError *error = NULL;
    ModelPair p = {flux_model_load_with_config(path, config, gu_cpu(), &error), NULL};
    g_assert_no_error(error);
    p.gpu = flux_model_load_with_config(path, config, gu_gpu(), &error);
    g_assert_no_error(error);
    return p;
}

static void free_pair(ModelPair *p)
{
    flux_model_free(p->cpu);
    flux_model_free(p->gpu);
}

static float *forward(FluxModel *m, const FluxInputs *in, const FluxAttentionPlan *plan)
{
    const FluxConfig *c = flux_model_config(m);
    float *v = g_new(float, (int64_t)in->grid_rows * in->grid_cols * c->in_channels);
    GError *error = NULL;
    g_assert_true(flux_model_forward(m, in, plan, v, NULL, &error));
    g_assert_no_error(error);
    return v;
}

static void compare(const char *what, const float *got, const float *ref, size_t n)
{
    double ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += (double)ref[i] * ref[i];
    float rms = (float)sqrt(ss / (double)n);
    double rel = tu_relative_l2(got, ref, n);
    g_test_message("%s: relative L2 %.3g (limit %.0e), rms %.3g", what, rel, FLUX_REL_L2, rms);
    if (!(rel <= FLUX_REL_L2))
        g_error("%s: relative L2 %.3g exceeds %.0e", what, rel, FLUX_REL_L2);
    tu_assert_close(what, got, ref, n, FLUX_TOL_OF_RMS * rms, FLUX_EPS);
}

static const ResditMode modes[] = {RESDIT_MODE_DIRECT, RESDIT_MODE_GLOBAL, RESDIT_MODE_LOCAL,
                                   RESDIT_MODE_FUSED};

/* Every mode on one grid, inputs from fixed random values. */
static void run_modes(ModelPair *p, const char *name, int rows, int cols, int txt_len,
                      const ResditMethodParams *method)
{
    const FluxConfig *c = flux_model_config(p->cpu);
    const int64_t img_n = (int64_t)rows * cols * c->in_channels;
    float *img = g_new(float, img_n), *txt = g_new(float, (int64_t)txt_len * c->txt_dim);
    float *vec = g_new(float, c->vec_dim);
    tu_fill_uniform(img, (size_t)img_n, -1.0f, 1.0f, 1000 + rows * cols);
    tu_fill_uniform(txt, (size_t)txt_len * c->txt_dim, -1.0f, 1.0f, 1001);
    tu_fill_uniform(vec, (size_t)c->vec_dim, -1.0f, 1.0f, 1002);
    FluxInputs in = {img, txt, vec, txt_len, rows, cols, 0.6f, 3.5f};
    for (guint i = 0; i < G_N_ELEMENTS(modes); i++) {
        FluxAttentionPlan plan = {modes[i], *method};
        g_autofree float *ref = forward(p->cpu, &in, &plan);
        g_autofree float *got = forward(p->gpu, &in, &plan);
        g_autofree char *what =
            g_strdup_printf("%s %dx%d %s", name, rows, cols, resdit_mode_name(modes[i]));
        compare(what, got, ref, (size_t)img_n);
    }
    g_free(img);
    g_free(txt);
    g_free(vec);
}

/* The tiny models' parameters (tests/unit/test-flux.c): base 8 x 8, patch 8, sigma 2. */
static ResditMethodParams tiny_method(void)
{
    ResditMethodParams m;
    resdit_method_params_init(&m);
    m.base_area = 64;
    m.patch = 8;
    m.sigma = 2.0;
    m.cutoff = 0.2;
    return m;
}

static void test_tiny_a(void)
{
    g_autofree char *path = flux_data("tiny-a.bfl.bf16.safetensors");
    g_autofree char *config = flux_data("tiny-a/transformer/config.json");
    ModelPair p = load_pair(path, config);
    ResditMethodParams method = tiny_method();
    run_modes(&p, "tiny-a", 16, 24, 7, &method);
    run_modes(&p, "tiny-a", 24, 24, 7, &method);
    free_pair(&p);
}

static void test_tiny_b(void)
{
    g_autofree char *path = flux_data("tiny-b.bfl.bf16.safetensors");
    g_autofree char *config = flux_data("tiny-b/transformer/config.json");
    ModelPair p = load_pair(path, config);
    ResditMethodParams method = tiny_method();
    run_modes(&p, "tiny-b", 12, 20, 5, &method);
    free_pair(&p);
}

/* The fp8 checkpoint layout: weights widened on upload. */
static void test_tiny_a_fp8(void)
{
    g_autofree char *path = flux_data("tiny-a.comfy.fp8.safetensors");
    g_autofree char *config = flux_data("tiny-a/transformer/config.json");
    ModelPair p = load_pair(path, config);
    ResditMethodParams method = tiny_method();
    run_modes(&p, "tiny-a fp8", 16, 16, 7, &method);
    free_pair(&p);
}

/* LoRAs merged on both backends (docs/LORA.md): bf16 weights with two LoRAs, fp8 weights
 * requantised with a per-tensor scale (the CUDA widening honours RdWeight.scale), and a new
 * strength on the loaded model (device copies replaced). */
static void set_loras(ModelPair *p, const char *const *files, const double *strengths, int n)
{
    RdLoraFile *f[4];
    GError *error = NULL;
    for (int i = 0; i < n; i++) {
        g_autofree char *path = flux_data(files[i]);
        f[i] = rd_lora_open(path, &error);
        g_assert_no_error(error);
    }
    g_assert_true(flux_model_set_loras(p->cpu, f, strengths, n, &error));
    g_assert_true(flux_model_set_loras(p->gpu, f, strengths, n, &error));
    g_assert_no_error(error);
    for (int i = 0; i < n; i++)
        rd_lora_close(f[i]);
}

static void test_tiny_a_lora(void)
{
    g_autofree char *config = flux_data("tiny-a/transformer/config.json");
    ResditMethodParams method = tiny_method();
    const char *files[] = {"lora-kohya.safetensors", "lora-peft.safetensors"};
    g_autofree char *bf16 = flux_data("tiny-a.bfl.bf16.safetensors");
    ModelPair p = load_pair(bf16, config);
    set_loras(&p, files, (const double[]){0.8, 0.5}, 2);
    run_modes(&p, "tiny-a bf16 + 2 LoRAs", 16, 24, 7, &method);
    set_loras(&p, files, (const double[]){-1.5, 0.0}, 2);
    run_modes(&p, "tiny-a bf16, new strengths", 16, 16, 7, &method);
    free_pair(&p);
    g_autofree char *fp8 = flux_data("tiny-a.comfy.fp8.safetensors");
    p = load_pair(fp8, config);
    set_loras(&p, files, (const double[]){0.8, 1.0}, 2);
    run_modes(&p, "tiny-a fp8 + 2 LoRAs", 16, 16, 7, &method);
    free_pair(&p);
}

/* The velocity of a fused step on a 16 x 16 grid from fixed random inputs. */
static float *fused_velocity(FluxModel *m, size_t *n)
{
    const FluxConfig *c = flux_model_config(m);
    const int rows = 16, cols = 16, txt_len = 7;
    *n = (size_t)rows * cols * c->in_channels;
    float *img = g_new(float, *n), *txt = g_new(float, (size_t)txt_len * c->txt_dim);
    float *vec = g_new(float, c->vec_dim);
    tu_fill_uniform(img, *n, -1.0f, 1.0f, 2000);
    tu_fill_uniform(txt, (size_t)txt_len * c->txt_dim, -1.0f, 1.0f, 2001);
    tu_fill_uniform(vec, (size_t)c->vec_dim, -1.0f, 1.0f, 2002);
    FluxInputs in = {img, txt, vec, txt_len, rows, cols, 0.6f, 3.5f};
    FluxAttentionPlan plan = {RESDIT_MODE_FUSED, tiny_method()};
    float *v = forward(m, &in, &plan);
    g_free(img);
    g_free(txt);
    g_free(vec);
    return v;
}

static void assert_identical(const char *what, const float *got, const float *ref, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&got[i], &ref[i], sizeof(float)) != 0 || isnan(got[i]))
            g_error("%s: element %zu: %.9g, expected %.9g", what, i, got[i], ref[i]);
}

static void place(FluxModel *m, FluxWeightPlace where, int streamed)
{
    GError *error = NULL;
    g_assert_true(flux_model_place_weights(m, where, streamed, &error));
    g_assert_cmpint(flux_model_streamed_blocks(m), ==, streamed);
    g_assert_no_error(error);
}

/* Weights placed as a job's memory plan says (flux_model_place_weights). Released weights (T5
 * first) come back on the next forward bit for bit. A ComfyUI fp8 file kept as fp8 on the
 * device gives the velocity of its bf16 copies bit for bit: the same E4M3 codes and scale,
 * dequantised to the same bf16 values before each GEMM (fp8 GEMMs off). With fp8 GEMMs (sm_89+)
 * the activations are quantised too, and bf16 weights quantised at load carry E4M3's rounding
 * (up to 2^-4 of each value, about 2.5 % rms): the velocity moves by a few per cent, a wrong
 * scale or code would move it by O(1). */
static void test_placement(void)
{
    g_autofree char *config = flux_data("tiny-a/transformer/config.json");
    g_autofree char *fp8 = flux_data("tiny-a.comfy.fp8.safetensors");
#if HAVE_CUDA
    const gboolean fp8_gemm = rd_cuda_set_fp8_gemm(gu_gpu(), FALSE);
#endif
    GError *error = NULL;
    FluxModel *m = flux_model_load_with_config(fp8, config, gu_gpu(), &error);
    g_assert_no_error(error);
    size_t n;
    g_autofree float *ref = fused_velocity(m, &n);
    place(m, FLUX_WEIGHTS_RELEASED, 0);
    g_autofree float *again = fused_velocity(m, &n);
    assert_identical("fp8 file, weights released then placed by the forward", again, ref, n);
    place(m, FLUX_WEIGHTS_FP8, 0);
    g_autofree float *kept = fused_velocity(m, &n);
    assert_identical("fp8 file kept as fp8 on the device", kept, ref, n);
    place(m, FLUX_WEIGHTS_BF16, 0);
    g_autofree float *back = fused_velocity(m, &n);
    assert_identical("fp8 file back to bf16 copies", back, ref, n);
#if HAVE_CUDA
    rd_cuda_set_fp8_gemm(gu_gpu(), fp8_gemm);
    if (fp8_gemm) {
        const guint64 before = rd_cuda_fp8_gemm_calls(gu_gpu());
        place(m, FLUX_WEIGHTS_FP8, 0);
        g_autofree float *gemm8 = fused_velocity(m, &n);
        g_assert_cmpuint(rd_cuda_fp8_gemm_calls(gu_gpu()), >, before);
        const double rel8 = tu_relative_l2(gemm8, ref, n);
        g_test_message("fp8 file with fp8 GEMMs: relative L2 %.3g of the bf16 velocity", rel8);
        g_assert_cmpfloat(rel8, >, 0.0);
        g_assert_cmpfloat(rel8, <, 0.15);
    }
#endif
    flux_model_free(m);

    g_autofree char *bf16 = flux_data("tiny-a.bfl.bf16.safetensors");
    m = flux_model_load_with_config(bf16, config, gu_gpu(), &error);
    g_assert_no_error(error);
    g_autofree float *wide = fused_velocity(m, &n);
    place(m, FLUX_WEIGHTS_FP8, 0);
    g_autofree float *quantised = fused_velocity(m, &n);
    const double rel = tu_relative_l2(quantised, wide, n);
    g_test_message("bf16 weights quantised at load: relative L2 %.3g of the bf16 velocity", rel);
    g_assert_cmpfloat(rel, >, 0.0); /* the weights did change */
    g_assert_cmpfloat(rel, <, 0.15);
    flux_model_free(m);
}

/* Blocks streamed from pinned host memory through two device slots give the resident model's
 * velocity bit for bit: the same weights (copied, not converted), at the same alignment, so
 * the same GEMM plans. Two forwards in a row (the slots reused across steps), bf16 and fp8,
 * one block (resident ones after it), all but the smallest and all. */
static void test_streaming(void)
{
    g_autofree char *config = flux_data("tiny-a/transformer/config.json");
    g_autofree char *path = flux_data("tiny-a.bfl.bf16.safetensors");
    GError *error = NULL;
    FluxModel *m = flux_model_load_with_config(path, config, gu_gpu(), &error);
    g_assert_no_error(error);
    const FluxConfig *c = flux_model_config(m);
    const int blocks = c->double_blocks + c->single_blocks;
    g_assert_cmpint(blocks, >=, 2);
    const FluxWeightPlace formats[] = {FLUX_WEIGHTS_BF16, FLUX_WEIGHTS_FP8};
    for (guint f = 0; f < G_N_ELEMENTS(formats); f++) {
        place(m, formats[f], 0);
        size_t n;
        g_autofree float *ref = fused_velocity(m, &n);
        const int counts[] = {1, blocks - 1, blocks};
        for (guint i = 0; i < G_N_ELEMENTS(counts); i++) {
            place(m, formats[f], counts[i]);
            for (int step = 0; step < 2; step++) {
                g_autofree float *got = fused_velocity(m, &n);
                g_autofree char *what =
                    g_strdup_printf("%s, %d of %d blocks streamed, forward %d",
                                    formats[f] == FLUX_WEIGHTS_FP8 ? "fp8" : "bf16", counts[i],
                                    blocks, step + 1);
                assert_identical(what, got, ref, n);
            }
        }
    }
    flux_model_free(m);
}

/* Head dim 128 and FLUX's RoPE axes: the flash kernel inside the model. */
static void test_head_dim_128(void)
{
    static const FluxConfig cfg = {
        .in_channels = 64,
        .hidden = 256,
        .heads = 2,
        .head_dim = 128,
        .mlp_hidden = 512,
        .double_blocks = 1,
        .single_blocks = 2,
        .txt_dim = 64,
        .vec_dim = 32,
        .rope_axes = {16, 56, 56},
        .rope_theta = 10000,
        .has_guidance = TRUE,
    };
    g_autofree char *dir = g_dir_make_tmp("resdit-gpu-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "random.safetensors", NULL);
    GError *error = NULL;
    g_assert_true(random_flux_write(&cfg, 11, path, &error));
    g_assert_no_error(error);
    ModelPair p = load_pair(path, NULL);
    ResditMethodParams method;
    resdit_method_params_init(&method);
    method.base_area = 256; /* 16 x 16 */
    method.patch = 16;
    run_modes(&p, "random d128", 16, 16, 24, &method);
    run_modes(&p, "random d128", 32, 24, 24, &method);
    free_pair(&p);
    g_unlink(path);
    g_rmdir(dir);
}

int main(int argc, char **argv)
{
    gu_init_or_skip(&argc, &argv);
    g_test_add_func("/gpu/flux/tiny-a", test_tiny_a);
    g_test_add_func("/gpu/flux/tiny-b", test_tiny_b);
    g_test_add_func("/gpu/flux/tiny-a-fp8", test_tiny_a_fp8);
    g_test_add_func("/gpu/flux/tiny-a-lora", test_tiny_a_lora);
    g_test_add_func("/gpu/flux/placement", test_placement);
    g_test_add_func("/gpu/flux/streaming", test_streaming);
    g_test_add_func("/gpu/flux/head-dim-128", test_head_dim_128);
    return g_test_run();
}
