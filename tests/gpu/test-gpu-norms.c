/* LayerNorm and RMSNorm on the GPU (f32 statistics on bf16 data) against the CPU (double). */
#include "gpu-util.h"

#define NORM_TOL 1e-2f
#define NORM_EPS 0.08f

static GuWeight random_weight(int64_t n, float lo, float hi, guint32 seed, const char *name)
{
    float *v = g_new(float, n);
    tu_fill_uniform(v, (size_t)n, lo, hi, seed);
    GuWeight w = gu_weight_from_f32(RD_BF16, v, n, 1, name);
    g_free(v);
    return w;
}

static void test_layer_norm_affine(void)
{
    /* a large mean over a small spread: a one-pass variance would lose it */
    GuMat x = gu_mat_random(45, 3072, 20.0f, 24.0f, 100);
    GuWeight g = random_weight(3072, 0.5f, 1.5f, 101, "norm.weight");
    GuWeight b = random_weight(3072, -1.0f, 1.0f, 102, "norm.bias");
    GuMat y = gu_mat_poisoned(45, 3072);
    gu_cpu()->layer_norm(gu_cpu(), &x.cpu, &g.cpu, &b.cpu, 1e-6f, &y.cpu);
    gu_gpu()->layer_norm(gu_gpu(), &x.gpu, &g.gpu, &b.gpu, 1e-6f, &y.gpu);
    gu_mat_check("layer norm with weight and bias", &y, NORM_TOL, NORM_EPS);
    gu_mat_free(&x);
    gu_mat_free(&y);
    gu_weight_free(&g);
    gu_weight_free(&b);
}

/* FLUX's parameter-free LayerNorm, in place, on a column view. */
static void test_layer_norm_in_place(void)
{
    GuMat all = gu_mat_random(33, 300, -3.0f, 5.0f, 110);
    GuMat x = gu_mat_view(&all, 2, 30, 40, 250);
    gu_cpu()->layer_norm(gu_cpu(), &x.cpu, NULL, NULL, 1e-6f, &x.cpu);
    gu_gpu()->layer_norm(gu_gpu(), &x.gpu, NULL, NULL, 1e-6f, &x.gpu);
    gu_mat_check("layer norm in place on a view", &all, NORM_TOL, NORM_EPS);
    gu_mat_free(&all);
}

/* The q/k norm of FLUX: every head of 128 columns on its own, learned scale. */
static void test_rms_norm_heads(void)
{
    GuMat x = gu_mat_random(70, 3 * 128, -2.0f, 2.0f, 120);
    GuWeight g = random_weight(128, 0.2f, 2.0f, 121, "norm.query_norm.scale");
    GuMat y = gu_mat_poisoned(70, 3 * 128);
    gu_cpu()->rms_norm(gu_cpu(), &x.cpu, &g.cpu, 128, 1e-6f, &y.cpu);
    gu_gpu()->rms_norm(gu_gpu(), &x.gpu, &g.gpu, 128, 1e-6f, &y.gpu);
    gu_mat_check("rms norm per head", &y, NORM_TOL, NORM_EPS);
    gu_mat_free(&x);
    gu_mat_free(&y);
    gu_weight_free(&g);
}

/* T5's RMSNorm over whole rows, in place; a group that is not a multiple of 32. */
static void test_rms_norm_rows(void)
{
    GuMat x = gu_mat_random(19, 1000, -4.0f, 1.0f, 130);
    gu_cpu()->rms_norm(gu_cpu(), &x.cpu, NULL, 1000, 1e-6f, &x.cpu);
    gu_gpu()->rms_norm(gu_gpu(), &x.gpu, NULL, 1000, 1e-6f, &x.gpu);
    gu_mat_check("rms norm over rows in place", &x, NORM_TOL, NORM_EPS);
    GuMat z = gu_mat_random(9, 5 * 20, -1.0f, 1.0f, 131);
    GuWeight g = random_weight(20, -1.0f, 1.0f, 132, "small.scale");
    GuMat y = gu_mat_poisoned(9, 5 * 20);
    gu_cpu()->rms_norm(gu_cpu(), &z.cpu, &g.cpu, 20, 1e-5f, &y.cpu);
    gu_gpu()->rms_norm(gu_gpu(), &z.gpu, &g.gpu, 20, 1e-5f, &y.gpu);
    gu_mat_check("rms norm, groups of 20", &y, NORM_TOL, NORM_EPS);
    gu_mat_free(&x);
    gu_mat_free(&z);
    gu_mat_free(&y);
    gu_weight_free(&g);
}

int main(int argc, char **argv)
{
    gu_init_or_skip(&argc, &argv);
    g_test_add_func("/gpu/norms/layer-norm-affine", test_layer_norm_affine);
    g_test_add_func("/gpu/norms/layer-norm-in-place", test_layer_norm_in_place);
    g_test_add_func("/gpu/norms/rms-norm-heads", test_rms_norm_heads);
    g_test_add_func("/gpu/norms/rms-norm-rows", test_rms_norm_rows);
    return g_test_run();
}
