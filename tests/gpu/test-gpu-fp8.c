/* fp8 E4M3 weights on the GPU (kernels/fp8_weights.cu): the device quantiser equals the engine's
 * reference (engine/fp8_quant.h) bit for bit, a file's E4M3 codes are kept as they are, and a
 * GEMM with an fp8 weight equals the GEMM with its dequantised bf16 copy bit for bit. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "gpu-util.h"
#if HAVE_CUDA /* the whole program: it calls the CUDA backend's own functions */
#include "cuda_backend.h"
#include "fp8_quant.h"

/* bf16 values whose magnitudes span 2^-20 .. 2^6, both signs, so that after scaling they take
 * normal and subnormal codes and some fall below the smallest one. */
static float *wide_values(size_t n, guint32 seed)
{
    float *v = g_new(float, n);
    GRand *r = g_rand_new_with_seed(seed);
    for (size_t i = 0; i < n; i++) {
        const double mag = ldexp(g_rand_double_range(r, 1.0, 2.0), g_rand_int_range(r, -20, 6));
        v[i] = gu_round_bf16((float)(g_rand_boolean(r) ? mag : -mag));
    }
    g_rand_free(r);
    return v;
}

static guint16 *to_bf16(const float *v, size_t n)
{
    guint16 *b = g_new(guint16, n);
    for (size_t i = 0; i < n; i++)
        b[i] = rd_f32_to_bf16(v[i]);
    return b;
}

static void check_codes(const char *what, const uint8_t *got, float got_scale,
                        const uint8_t *want, float want_scale, size_t n)
{
    if (memcmp(&got_scale, &want_scale, sizeof got_scale) != 0)
        g_error("%s: scale %.9g, the reference %.9g", what, got_scale, want_scale);
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i])
            g_error("%s: element %zu: code %02x, the reference %02x", what, i, got[i], want[i]);
}

static void test_quantiser(void)
{
    const int64_t rows = 301, cols = 517; /* no multiple of a warp or block */
    const size_t n = (size_t)(rows * cols);
    float *v = wide_values(n, 3);
    RdBackend *be = gu_gpu();
    RdTensor t;
    g_assert_true(be->tensor_alloc(be, &t, rows, cols));
    be->upload(be, v, &t);
    uint8_t *got = g_new(uint8_t, n), *want = g_new(uint8_t, n);
    float got_scale = 0;
    GError *error = NULL;
    g_assert_true(rd_cuda_quantise_e4m3(be, &t, got, &got_scale, &error));
    g_assert_no_error(error);
    const float want_scale = rd_fp8_quantise(v, n, want);
    check_codes("device quantiser", got, got_scale, want, want_scale, n);
    be->tensor_free(be, &t);
    g_free(v);
    g_free(got);
    g_free(want);
}

/* weight_prepare_fp8 on a bf16 matrix quantises it; on an E4M3 matrix keeps its codes and
 * scale; a vector stays bf16. */
static void test_prepare(void)
{
    RdBackend *be = gu_gpu();
    const int64_t rows = 96, cols = 200;
    const size_t n = (size_t)(rows * cols);
    float *v = wide_values(n, 5);
    guint16 *b = to_bf16(v, n);
    RdWeight w = {RD_BF16, rows, cols, b, NULL, "blocks.0.w"};
    GError *error = NULL;
    g_assert_true(be->weight_prepare_fp8(be, &w, &error));
    g_assert_no_error(error);
    g_assert_true(w.device_fp8);
    uint8_t *got = g_new(uint8_t, n), *want = g_new(uint8_t, n);
    g_assert_true(rd_cuda_weight_codes(be, &w, got));
    const float scale = rd_fp8_quantise(v, n, want);
    check_codes("weight_prepare_fp8 (bf16)", got, w.device_scale, want, scale, n);
    be->weight_release(be, &w);
    g_assert_false(w.device_fp8);

    RdWeight f8 = {RD_F8_E4M3, rows, cols, want, NULL, "blocks.0.f8", 0.375f};
    g_assert_true(be->weight_prepare_fp8(be, &f8, &error));
    g_assert_true(rd_cuda_weight_codes(be, &f8, got));
    check_codes("weight_prepare_fp8 (E4M3 file)", got, f8.device_scale, want, 0.375f, n);
    be->weight_release(be, &f8);

    RdWeight vec = {RD_BF16, rows, 1, b, NULL, "blocks.0.bias"};
    g_assert_true(be->weight_prepare_fp8(be, &vec, &error));
    g_assert_false(vec.device_fp8);
    g_assert_false(rd_cuda_weight_codes(be, &vec, got));
    be->weight_release(be, &vec);
    g_free(v);
    g_free(b);
    g_free(got);
    g_free(want);
}

/* y = x w^T + b with w in fp8 equals the same GEMM with w's dequantised values in bf16
 * (bf16(scale * E4M3), computed here): the same inputs, shapes and plan. */
static void run_linear(int64_t m, int64_t nout, int64_t k, guint32 seed)
{
    RdBackend *be = gu_gpu();
    const size_t n = (size_t)(nout * k);
    float *v = wide_values(n, seed);
    guint16 *b = to_bf16(v, n);
    uint8_t *codes = g_new(uint8_t, n);
    const float scale = rd_fp8_quantise(v, n, codes);
    float *deq = g_new(float, n), bias[512];
    for (size_t i = 0; i < n; i++)
        deq[i] = gu_round_bf16(rd_e4m3_to_f32(codes[i]) * scale);
    tu_fill_uniform(bias, (size_t)nout, -1.0f, 1.0f, seed + 1);
    RdWeight w8 = {RD_BF16, nout, k, b, NULL, "w8"};
    GError *error = NULL;
    g_assert_true(be->weight_prepare_fp8(be, &w8, &error));
    GuWeight wd = gu_weight_from_f32(RD_BF16, deq, nout, k, "deq");
    GuWeight bb = gu_weight_from_f32(RD_BF16, bias, nout, 1, "bias");
    GuMat x = gu_mat_random(m, k, -1.0f, 1.0f, seed + 2);
    GuMat y8 = gu_mat_poisoned(m, nout), yd = gu_mat_poisoned(m, nout);
    be->linear(be, &x.gpu, &w8, &bb.gpu, &y8.gpu);
    be->linear(be, &x.gpu, &wd.gpu, &bb.gpu, &yd.gpu);
    g_assert_true(rd_backend_check(be, &error));
    float *a = gu_mat_download_gpu(&y8), *c = gu_mat_download_gpu(&yd);
    for (size_t i = 0; i < (size_t)(m * nout); i++)
        if (memcmp(&a[i], &c[i], sizeof(float)) != 0 || isnan(a[i]))
            g_error("linear %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT "x%" G_GINT64_FORMAT
                    ": element %zu: fp8 %.9g, dequantised bf16 %.9g",
                    m, nout, k, i, a[i], c[i]);
    be->weight_release(be, &w8);
    gu_weight_free(&wd);
    gu_weight_free(&bb);
    gu_mat_free(&x);
    gu_mat_free(&y8);
    gu_mat_free(&yd);
    g_free(a);
    g_free(c);
    g_free(v);
    g_free(b);
    g_free(codes);
    g_free(deq);
}

static void test_linear(void)
{
    run_linear(200, 96, 128, 7);
    run_linear(5, 33, 40, 9); /* the cuBLAS fallback shapes */
}

#endif

int main(int argc, char **argv)
{
    gu_init_or_skip(&argc, &argv); /* exits 77 (skip) in a build without CUDA */
#if HAVE_CUDA
    g_test_add_func("/gpu/fp8/quantiser", test_quantiser);
    g_test_add_func("/gpu/fp8/prepare", test_prepare);
    g_test_add_func("/gpu/fp8/linear", test_linear);
#endif
    return g_test_run();
}
