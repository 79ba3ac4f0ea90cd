/* The SD3 transformer on the CUDA backend against the CPU backend (itself matched against
 * diffusers by the unit suite): the three tiny structures (SD3, SD3.5's q/k norm, SD3.5 Medium's
 * MMDiT-X), in both weight layouts, on their golden inputs; and ResDiT's global, local and fused
 * modes (whole passes fused on the velocity) on a grid beyond the tiny position table. */
#include <math.h>

#include "gpu-util.h"
#include "safetensors.h"
#include "sd3_model.h"

/* bf16 activations through every block: a few per mille of relative error is expected, errors
 * of a wrong op are O(1). The same limits as the FLUX test. */
#define SD3_REL_L2 3e-2
#define SD3_TOL_OF_RMS 0.25f
#define SD3_EPS 0.1f

static const char *const configs[] = {"sd3-tiny", "sd35-tiny", "sd35m-tiny"};

static char *sd3_data(const char *name)
{
    g_autofree char *rel = g_build_filename("sd3", name, NULL);
    return tu_data_path(rel);
}

static float *tensor(RdSafetensors *st, const char *name, int64_t *numel)
{
    const RdTensorInfo *t = rd_safetensors_find(st, name);
    g_assert_nonnull(t);
    *numel = rd_tensor_info_numel(t);
    float *v = g_new(float, *numel);
    rd_convert_to_f32(t->dtype, t->data, v, (size_t)*numel);
    return v;
}

static float *forward(const char *path, RdBackend *be, const Sd3Inputs *in)
{
    GError *error = NULL;
    Sd3Model *m = sd3_model_load(path, be, &error);
    g_assert_no_error(error);
    float *v = g_new(float, (int64_t)in->grid_rows * in->grid_cols * 64);
    g_assert_true(sd3_model_forward(m, in, v, NULL, &error));
    g_assert_no_error(error);
    sd3_model_free(m);
    return v;
}

static void compare(const char *what, const float *got, const float *ref, size_t n)
{
    double ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += (double)ref[i] * ref[i];
    float rms = (float)sqrt(ss / (double)n);
    double rel = tu_relative_l2(got, ref, n);
    g_test_message("%s: relative L2 %.3g (limit %.0e), rms %.3g", what, rel, SD3_REL_L2, rms);
    if (!(rel <= SD3_REL_L2))
        g_error("%s: relative L2 %.3g exceeds %.0e", what, rel, SD3_REL_L2);
    tu_assert_close(what, got, ref, n, SD3_TOL_OF_RMS * rms, SD3_EPS);
}

static void test_config(gconstpointer data)
{
    const char *config = data;
    g_autofree char *inputs_name = g_strdup_printf("%s.inputs.8x12.safetensors", config);
    g_autofree char *inputs_path = sd3_data(inputs_name);
    GError *error = NULL;
    RdSafetensors *st = rd_safetensors_open(inputs_path, &error);
    g_assert_no_error(error);
    int64_t n_img, n_txt, n_vec, n_t;
    g_autofree float *img = tensor(st, "img", &n_img), *txt = tensor(st, "txt", &n_txt);
    g_autofree float *vec = tensor(st, "vec", &n_vec), *t = tensor(st, "timestep", &n_t);
    rd_safetensors_close(st);
    Sd3Inputs in = {img, txt, vec, (int)(n_txt / 24), 8, 12, t[0]}; /* joint_attention_dim 24 */
    g_autofree char *folder_name = g_strdup_printf("%s/transformer", config);
    g_autofree char *single_name = g_strdup_printf("%s.stability.safetensors", config);
    const char *paths[] = {folder_name, single_name};
    for (gsize i = 0; i < G_N_ELEMENTS(paths); i++) {
        g_autofree char *path = sd3_data(paths[i]);
        g_autofree float *ref = forward(path, gu_cpu(), &in);
        g_autofree float *got = forward(path, gu_gpu(), &in);
        g_autofree char *what = g_strdup_printf("%s (%s) 8x12", config, paths[i]);
        compare(what, got, ref, (size_t)n_img);
    }
}

/* sd3-tiny at 30 x 36 tokens (its table has 24 x 24 rows): base grid 8 x 8, patch 8, sigma 2,
 * cutoff 0.2; the CUDA backend's gathers, splices and spectral fusion against the CPU's. */
static void test_resdit(void)
{
    g_autofree char *inputs_path = sd3_data("sd3-tiny.inputs.8x12.safetensors");
    GError *error = NULL;
    RdSafetensors *st = rd_safetensors_open(inputs_path, &error);
    g_assert_no_error(error);
    int64_t n_txt, n_vec, n_t;
    g_autofree float *txt = tensor(st, "txt", &n_txt), *vec = tensor(st, "vec", &n_vec);
    g_autofree float *t = tensor(st, "timestep", &n_t);
    rd_safetensors_close(st);
    const int rows = 30, cols = 36;
    const size_t n = (size_t)rows * cols * 64;
    g_autofree float *img = g_new(float, n);
    tu_fill_uniform(img, n, -1.0f, 1.0f, 9);
    Sd3Inputs in = {img, txt, vec, (int)(n_txt / 24), rows, cols, t[0]};
    g_autofree char *path = sd3_data("sd3-tiny/transformer");
    Sd3Model *cpu = sd3_model_load(path, gu_cpu(), &error);
    g_assert_no_error(error);
    Sd3Model *gpu = sd3_model_load(path, gu_gpu(), &error);
    g_assert_no_error(error);
    const ResditMode modes[] = {RESDIT_MODE_GLOBAL, RESDIT_MODE_LOCAL, RESDIT_MODE_FUSED};
    for (gsize i = 0; i < G_N_ELEMENTS(modes); i++) {
        ResditAttentionPlan plan = {modes[i], {0}};
        resdit_method_params_init(&plan.method);
        plan.method.base_area = 64;
        plan.method.patch = 8;
        plan.method.sigma = 2.0;
        g_autofree float *ref = g_new(float, n), *got = g_new(float, n);
        g_assert_true(sd3_model_forward_plan(cpu, &in, &plan, ref, NULL, &error));
        g_assert_true(sd3_model_forward_plan(gpu, &in, &plan, got, NULL, &error));
        g_assert_no_error(error);
        g_autofree char *what = g_strdup_printf("sd3-tiny %s 30x36", resdit_mode_name(modes[i]));
        compare(what, got, ref, n);
    }
    sd3_model_free(cpu);
    sd3_model_free(gpu);
}

int main(int argc, char **argv)
{
    gu_init_or_skip(&argc, &argv);
    for (gsize i = 0; i < G_N_ELEMENTS(configs); i++) {
        g_autofree char *path = g_strdup_printf("/gpu/sd3/%s", configs[i]);
        g_test_add_data_func(path, configs[i], test_config);
    }
    g_test_add_func("/gpu/sd3/resdit", test_resdit);
    return g_test_run();
}
