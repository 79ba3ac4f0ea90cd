/* fp8 E4M3 weights on the GPU (kernels/fp8_weights.cu): the device quantiser equals the engine's
 * reference (engine/fp8_quant.h) bit for bit, on dense tensors and views; a file's E4M3 codes are
 * kept as they are; with fp8 GEMMs off, a GEMM with an fp8 weight equals the GEMM with its
 * dequantised bf16 copy bit for bit; with them on (sm_89+), it is the reference's fp8 product
 * (activations quantised per tensor) within the bound of its arithmetic. */
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
    /* a view (rows 7.., columns 5..): the codes come out dense */
    const int64_t vr = rows - 9, vc = cols - 11;
    RdTensor view = rd_tensor_view(&t, 7, vr, 5, vc);
    float *vv = g_new(float, vr * vc);
    for (int64_t r = 0; r < vr; r++)
        memcpy(vv + r * vc, v + (r + 7) * cols + 5, (size_t)vc * sizeof(float));
    g_assert_true(rd_cuda_quantise_e4m3(be, &view, got, &got_scale, &error));
    check_codes("device quantiser on a view", got, got_scale, want,
                rd_fp8_quantise(vv, (size_t)(vr * vc), want), (size_t)(vr * vc));
    g_free(vv);
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

/* A weight matrix of wide_values, its bf16 bits and its reference E4M3 codes and scale. */
typedef struct {
    float *values;
    guint16 *bf16;
    uint8_t *codes;
    float scale;
} Fp8Matrix;

static Fp8Matrix fp8_matrix_new(size_t n, guint32 seed)
{
    Fp8Matrix w;
    w.values = wide_values(n, seed);
    w.bf16 = to_bf16(w.values, n);
    w.codes = g_new(uint8_t, n);
    w.scale = rd_fp8_quantise(w.values, n, w.codes);
    return w;
}

static void fp8_matrix_free(Fp8Matrix *w)
{
    g_free(w->values);
    g_free(w->bf16);
    g_free(w->codes);
}

/* y = x w^T + b with w in fp8 equals the same GEMM with w's dequantised values in bf16
 * (bf16(scale * E4M3), computed here): the same inputs, shapes and plan. */
static void run_linear(int64_t m, int64_t nout, int64_t k, guint32 seed)
{
    RdBackend *be = gu_gpu();
    const size_t n = (size_t)(nout * k);
    Fp8Matrix w = fp8_matrix_new(n, seed);
    float *deq = g_new(float, n), bias[512];
    for (size_t i = 0; i < n; i++)
        deq[i] = gu_round_bf16(rd_e4m3_to_f32(w.codes[i]) * w.scale);
    tu_fill_uniform(bias, (size_t)nout, -1.0f, 1.0f, seed + 1);
    RdWeight w8 = {RD_BF16, nout, k, w.bf16, NULL, "w8"};
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
    fp8_matrix_free(&w);
    g_free(deq);
}

static void test_linear(void)
{
    const gboolean fp8 = rd_cuda_set_fp8_gemm(gu_gpu(), FALSE); /* the dequantising path */
    run_linear(200, 96, 128, 7);
    run_linear(5, 33, 40, 9); /* the cuBLAS fallback shapes */
    rd_cuda_set_fp8_gemm(gu_gpu(), fp8);
}

/* Bound of an fp8 GEMM element against the double reference: the products of two E4M3 numbers
 * are exact in f32; Hopper's fp8 tensor cores keep fewer bits while they accumulate (about 14,
 * DeepSeek-V3's report, section 3.3.2), so each of the K additions may lose 2^-13 of the running
 * sum, which is at most the sum of magnitudes; then the scales' two f32 products and the bias's
 * f32 addition (2^-24 each), and the bf16 rounding of the result (2^-9). */
static double fp8_gemm_bound(int64_t k, double ref, double abs_sum)
{
    return ((double)k * ldexp(1, -13) + 3 * ldexp(1, -24)) * abs_sum + ldexp(1, -9) * fabs(ref);
}

/* y = x w^T + b with fp8 GEMMs on: the fp8 reference within its bound when the GEMM ran in fp8
 * (the call counter says so), else the dequantising path's result bit for bit. x may be a view
 * (col0 > 0: columns col0 .. col0 + k - 1 of a wider matrix). */
static void run_linear_fp8(int64_t m, int64_t nout, int64_t k, int64_t col0, guint32 seed)
{
    RdBackend *be = gu_gpu();
    Fp8Matrix w = fp8_matrix_new((size_t)(nout * k), seed);
    float bias[512];
    tu_fill_uniform(bias, (size_t)nout, -1.0f, 1.0f, seed + 1);
    RdWeight w8 = {RD_BF16, nout, k, w.bf16, NULL, "w8"};
    GError *error = NULL;
    g_assert_true(be->weight_prepare_fp8(be, &w8, &error));
    GuWeight bb = gu_weight_from_f32(RD_BF16, bias, nout, 1, "bias");
    GuMat wide = gu_mat_random(m, k + col0 + 3, -4.0f, 4.0f, seed + 2);
    GuMat x = gu_mat_view(&wide, 0, m, col0, k);
    GuMat y = gu_mat_poisoned(m, nout);
    const guint64 before = rd_cuda_fp8_gemm_calls(be);
    be->linear(be, &x.gpu, &w8, &bb.gpu, &y.gpu);
    g_assert_true(rd_backend_check(be, &error));
    float *got = gu_mat_download_gpu(&y);
    if (rd_cuda_fp8_gemm_calls(be) == before + 1) {
        float *xv = g_new(float, m * k);
        for (int64_t r = 0; r < m; r++)
            memcpy(xv + r * k, wide.host + r * wide.cols + col0, (size_t)k * sizeof(float));
        double *ref = g_new(double, m * nout), *mag = g_new(double, m * nout);
        rd_fp8_linear_reference(xv, m, k, w.codes, w.scale, nout, bias, ref, mag);
        double worst = 0.0;
        for (size_t i = 0; i < (size_t)(m * nout); i++) {
            const double bound = fp8_gemm_bound(k, ref[i], mag[i]), err = fabs(got[i] - ref[i]);
            if (!(err <= bound))
                g_error("fp8 GEMM %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT "x%" G_GINT64_FORMAT
                        ": element %zu: %.9g, the reference %.9g (bound %.3g)",
                        m, nout, k, i, got[i], ref[i], bound);
            worst = MAX(worst, err / bound);
        }
        g_test_message("fp8 GEMM %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT "x%" G_GINT64_FORMAT
                       " (x from column %" G_GINT64_FORMAT "): largest error %.3f of its bound",
                       m, nout, k, col0, worst);
        g_free(xv);
        g_free(ref);
        g_free(mag);
    } else {
        rd_cuda_set_fp8_gemm(be, FALSE);
        GuMat yd = gu_mat_poisoned(m, nout);
        be->linear(be, &x.gpu, &w8, &bb.gpu, &yd.gpu);
        rd_cuda_set_fp8_gemm(be, TRUE);
        float *want = gu_mat_download_gpu(&yd);
        g_assert_cmpint(memcmp(got, want, sizeof(float) * (size_t)(m * nout)), ==, 0);
        g_test_message("GEMM %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT "x%" G_GINT64_FORMAT
                       ": no fp8 algorithm, dequantised (bit for bit)", m, nout, k);
        gu_mat_free(&yd);
        g_free(want);
    }
    be->weight_release(be, &w8);
    gu_weight_free(&bb);
    gu_mat_free(&wide);
    gu_mat_free(&y);
    g_free(got);
    fp8_matrix_free(&w);
}

static void test_linear_fp8_gemm(void)
{
    if (!rd_cuda_set_fp8_gemm(gu_gpu(), TRUE)) {
        g_test_skip("this GPU has no fp8 GEMMs (sm_89 or newer)");
        return;
    }
    run_linear_fp8(200, 96, 128, 0, 11);
    run_linear_fp8(67, 144, 272, 16, 12); /* x a view, K not a power of two */
    run_linear_fp8(333, 40, 64, 0, 13);
    run_linear_fp8(5, 33, 40, 0, 14); /* K = 40: cuBLASLt may have no fp8 algorithm */
    g_autofree char *how = rd_backend_cuda_fp8(gu_gpu());
    g_test_message("fp8 weights: %s", how);
    if (rd_cuda_fp8_gemm_calls(gu_gpu()) == 0)
        g_error("no GEMM ran in fp8 on an sm_89+ device: %s", how);
}

#endif

int main(int argc, char **argv)
{
    gu_init_or_skip(&argc, &argv); /* exits 77 (skip) in a build without CUDA */
#if HAVE_CUDA
    g_test_add_func("/gpu/fp8/quantiser", test_quantiser);
    g_test_add_func("/gpu/fp8/prepare", test_prepare);
    g_test_add_func("/gpu/fp8/linear", test_linear);
    g_test_add_func("/gpu/fp8/linear-fp8-gemm", test_linear_fp8_gemm);
#endif
    return g_test_run();
}
