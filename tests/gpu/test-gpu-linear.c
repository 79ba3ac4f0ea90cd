/* linear on the GPU (cuBLASLt, bf16 in, f32 accumulation) against the CPU's sgemm. */
#include "gpu-util.h"

/* |error| of a K-term f32 sum of bf16 products rounded once to bf16: the relative part is the
 * output rounding (2^-9); the absolute part covers sums that cancel to near zero. */
#define LINEAR_TOL 2e-2f
#define LINEAR_EPS 2e-2f

static void run_linear(const char *what, int64_t m, int64_t n, int64_t k, gboolean with_bias,
                       guint32 seed)
{
    GuMat x = gu_mat_random(m, k, -1.0f, 1.0f, seed);
    float *wv = g_new(float, n *k), bv[4096];
    tu_fill_uniform(wv, (size_t)(n * k), -0.5f, 0.5f, seed + 1);
    tu_fill_uniform(bv, (size_t)n, -2.0f, 2.0f, seed + 2);
    GuWeight w = gu_weight_from_f32(RD_BF16, wv, n, k, "linear.weight");
    GuWeight b = gu_weight_from_f32(RD_BF16, bv, n, 1, "linear.bias");
    GuMat y = gu_mat_poisoned(m, n);
    gu_cpu()->linear(gu_cpu(), &x.cpu, &w.cpu, with_bias ? &b.cpu : NULL, &y.cpu);
    gu_gpu()->linear(gu_gpu(), &x.gpu, &w.gpu, with_bias ? &b.gpu : NULL, &y.gpu);
    gu_mat_check(what, &y, LINEAR_TOL, LINEAR_EPS);
    gu_mat_free(&x);
    gu_mat_free(&y);
    gu_weight_free(&w);
    gu_weight_free(&b);
    g_free(wv);
}

static void test_bias(void)
{
    run_linear("linear 200x96x128 + bias", 200, 96, 128, TRUE, 10);
}

static void test_no_bias(void)
{
    run_linear("linear 77x256x64", 77, 256, 64, FALSE, 20);
}

/* Shapes no tensor-core tile divides, strides not multiples of 8: the fallback path. */
static void test_odd_shapes(void)
{
    run_linear("linear 5x33x40 + bias", 5, 33, 40, TRUE, 30);
    run_linear("linear 1x3x17", 1, 3, 17, FALSE, 40);
    run_linear("linear 130x7x301 + bias", 130, 7, 301, TRUE, 50);
}

/* x is a column block of a wider tensor (q out of qkv), y a column block of another. */
static void test_strided_views(void)
{
    const int64_t m = 70, n = 48, k = 64;
    GuMat xs = gu_mat_random(m, 3 * k, -1.0f, 1.0f, 60);
    GuMat x = gu_mat_view(&xs, 0, m, k, k);
    float *wv = g_new(float, n *k), bv[48];
    tu_fill_uniform(wv, (size_t)(n * k), -0.5f, 0.5f, 61);
    tu_fill_uniform(bv, (size_t)n, -1.0f, 1.0f, 62);
    GuWeight w = gu_weight_from_f32(RD_BF16, wv, n, k, "proj.weight");
    GuWeight b = gu_weight_from_f32(RD_BF16, bv, n, 1, "proj.bias");
    GuMat ys = gu_mat_random(m, 2 * n + 8, -1.0f, 1.0f, 63); /* columns outside the view stay */
    GuMat y = gu_mat_view(&ys, 0, m, n + 8, n);
    gu_cpu()->linear(gu_cpu(), &x.cpu, &w.cpu, &b.cpu, &y.cpu);
    gu_gpu()->linear(gu_gpu(), &x.gpu, &w.gpu, &b.gpu, &y.gpu);
    gu_mat_check("linear on strided views (whole output tensor)", &ys, LINEAR_TOL, LINEAR_EPS);
    /* an odd column offset: 2-byte aligned operands */
    GuMat x_odd = gu_mat_view(&xs, 0, m, 1, k);
    GuMat y_odd = gu_mat_view(&ys, 0, m, 3, n);
    gu_cpu()->linear(gu_cpu(), &x_odd.cpu, &w.cpu, &b.cpu, &y_odd.cpu);
    gu_gpu()->linear(gu_gpu(), &x_odd.gpu, &w.gpu, &b.gpu, &y_odd.gpu);
    gu_mat_check("linear on 2-byte aligned views", &ys, LINEAR_TOL, LINEAR_EPS);
    gu_mat_free(&xs);
    gu_mat_free(&ys);
    gu_weight_free(&w);
    gu_weight_free(&b);
    g_free(wv);
}

/* FLUX-like widths at a small token count; the same shape twice uses the cached plan. */
static void test_flux_widths(void)
{
    run_linear("linear 64x3072x3072 + bias", 64, 3072, 3072, TRUE, 70);
    run_linear("linear 64x3072x3072 + bias (cached plan)", 64, 3072, 3072, TRUE, 71);
    run_linear("linear 48x64x3072 + bias", 48, 64, 3072, TRUE, 72);
}

int main(int argc, char **argv)
{
    gu_init_or_skip(&argc, &argv);
    g_test_add_func("/gpu/linear/bias", test_bias);
    g_test_add_func("/gpu/linear/no-bias", test_no_bias);
    g_test_add_func("/gpu/linear/odd-shapes", test_odd_shapes);
    g_test_add_func("/gpu/linear/strided-views", test_strided_views);
    g_test_add_func("/gpu/linear/flux-widths", test_flux_widths);
    return g_test_run();
}
