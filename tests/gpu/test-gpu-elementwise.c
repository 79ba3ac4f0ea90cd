/* Elementwise ops and RoPE on the GPU against the CPU. */
#include <math.h>

#include "config.h"
#include "gpu-util.h"
#if HAVE_CUDA
#include "cuda_backend.h"
#endif

#define EW_TOL 1e-2f
#define EW_EPS 0.08f

/* shift and scale are chunks of one modulation vector [1, 6 * C], as in a FLUX block. */
static void test_modulate(void)
{
    const int64_t c = 200;
    GuMat mod = gu_mat_random(1, 6 * c, -1.0f, 1.0f, 200);
    GuMat shift = gu_mat_view(&mod, 0, 1, 3 * c, c), scale = gu_mat_view(&mod, 0, 1, 4 * c, c);
    GuMat x = gu_mat_random(57, c, -3.0f, 3.0f, 201);
    GuMat y = gu_mat_poisoned(57, c);
    gu_cpu()->modulate(gu_cpu(), &x.cpu, &shift.cpu, &scale.cpu, &y.cpu);
    gu_gpu()->modulate(gu_gpu(), &x.gpu, &shift.gpu, &scale.gpu, &y.gpu);
    gu_mat_check("modulate", &y, EW_TOL, EW_EPS);
    gu_cpu()->modulate(gu_cpu(), &x.cpu, &shift.cpu, &scale.cpu, &x.cpu);
    gu_gpu()->modulate(gu_gpu(), &x.gpu, &shift.gpu, &scale.gpu, &x.gpu);
    gu_mat_check("modulate in place", &x, EW_TOL, EW_EPS);
    gu_mat_free(&mod);
    gu_mat_free(&x);
    gu_mat_free(&y);
}

static void test_gated_add(void)
{
    GuMat gate = gu_mat_random(1, 130, -2.0f, 2.0f, 210);
    GuMat x = gu_mat_random(40, 130, -3.0f, 3.0f, 211);
    GuMat y = gu_mat_random(40, 130, -3.0f, 3.0f, 212);
    gu_cpu()->gated_add(gu_cpu(), &x.cpu, &gate.cpu, &y.cpu);
    gu_gpu()->gated_add(gu_gpu(), &x.gpu, &gate.gpu, &y.gpu);
    gu_mat_check("gated add", &x, EW_TOL, EW_EPS);
    gu_cpu()->gated_add(gu_cpu(), &x.cpu, NULL, &y.cpu);
    gu_gpu()->gated_add(gu_gpu(), &x.gpu, NULL, &y.gpu);
    gu_mat_check("add without gate", &x, EW_TOL, EW_EPS);
    gu_mat_free(&gate);
    gu_mat_free(&x);
    gu_mat_free(&y);
}

static void test_mul_scale_add(void)
{
    GuMat x = gu_mat_random(31, 77, -3.0f, 3.0f, 220);
    GuMat y = gu_mat_random(31, 77, -3.0f, 3.0f, 221);
    gu_cpu()->mul(gu_cpu(), &x.cpu, &y.cpu);
    gu_gpu()->mul(gu_gpu(), &x.gpu, &y.gpu);
    gu_mat_check("mul", &x, EW_TOL, EW_EPS);
    gu_cpu()->scale_add(gu_cpu(), &x.cpu, 1.0f / 0.3611f, 0.1159f);
    gu_gpu()->scale_add(gu_gpu(), &x.gpu, 1.0f / 0.3611f, 0.1159f);
    gu_mat_check("scale_add", &x, EW_TOL, EW_EPS);
    gu_mat_free(&x);
    gu_mat_free(&y);
}

/* fill overwrites NaN too; only the view changes */
static void test_fill(void)
{
    GuMat all = gu_mat_poisoned(12, 40);
    GuMat part = gu_mat_view(&all, 2, 8, 5, 30);
    gu_cpu()->fill(gu_cpu(), &all.cpu, -1.5f);
    gu_gpu()->fill(gu_gpu(), &all.gpu, -1.5f);
    gu_cpu()->fill(gu_cpu(), &part.cpu, 0.25f);
    gu_gpu()->fill(gu_gpu(), &part.gpu, 0.25f);
    gu_mat_check("fill", &all, 0.0f, 0.0f);
    gu_mat_free(&all);
}

static void test_unary(void)
{
    static const struct {
        RdUnaryOp op;
        const char *name;
    } ops[] = {{RD_UNARY_SILU, "silu"},
               {RD_UNARY_GELU_TANH, "gelu tanh"},
               {RD_UNARY_GELU_ERF, "gelu erf"},
               {RD_UNARY_GELU_QUICK, "quick gelu"}};
    for (guint i = 0; i < G_N_ELEMENTS(ops); i++) {
        GuMat all = gu_mat_random(23, 150, -8.0f, 8.0f, 230 + i);
        GuMat x = gu_mat_view(&all, 1, 20, 10, 129); /* strided: the rest must stay */
        gu_cpu()->unary(gu_cpu(), ops[i].op, &x.cpu);
        gu_gpu()->unary(gu_gpu(), ops[i].op, &x.gpu);
        gu_mat_check(ops[i].name, &all, EW_TOL, EW_EPS);
        gu_mat_free(&all);
    }
}

static void test_copy(void)
{
    GuMat src = gu_mat_random(50, 90, -3.0f, 3.0f, 240);
    GuMat dst = gu_mat_poisoned(60, 100);
    GuMat from = gu_mat_view(&src, 5, 40, 11, 70), to = gu_mat_view(&dst, 13, 40, 29, 70);
    gu_cpu()->copy(gu_cpu(), &from.cpu, &to.cpu);
    gu_gpu()->copy(gu_gpu(), &from.gpu, &to.gpu);
    /* the rest of dst stays NaN on both: compare only the view */
    float *got = gu_mat_download_gpu(&to);
    float ref[40 * 70];
    gu_cpu()->download(gu_cpu(), &to.cpu, ref);
    tu_assert_close("strided copy", got, ref, 40 * 70, 0.0f, 0.0f);
    g_free(got);
    gu_mat_free(&src);
    gu_mat_free(&dst);
}

/* FLUX-like RoPE angles: positions times theta^(-2j/d), tables as the model would build them. */
static void rope_tables(int64_t rows, int pairs, float *cos_t, float *sin_t)
{
    for (int64_t r = 0; r < rows; r++)
        for (int j = 0; j < pairs; j++) {
            double pos = 0.37 * (double)r + 1.5;
            double angle = pos * pow(10000.0, -2.0 * j / (2.0 * pairs));
            cos_t[r * pairs + j] = (float)cos(angle);
            sin_t[r * pairs + j] = (float)sin(angle);
        }
}

static void run_rope(const char *what, gboolean f32_tables)
{
    const int heads = 3, head_dim = 128, pairs = 64;
    const int64_t rows = 90;
    float *cos_t = g_new(float, rows *pairs), *sin_t = g_new(float, rows *pairs);
    rope_tables(rows, pairs, cos_t, sin_t);
    RdTensor cos_cpu, sin_cpu, cos_gpu, sin_gpu;
    g_assert_true(gu_cpu()->tensor_alloc(gu_cpu(), &cos_cpu, rows, pairs));
    g_assert_true(gu_cpu()->tensor_alloc(gu_cpu(), &sin_cpu, rows, pairs));
#if HAVE_CUDA
    if (f32_tables) {
        g_assert_true(rd_cuda_tensor_alloc_f32(gu_gpu(), &cos_gpu, rows, pairs));
        g_assert_true(rd_cuda_tensor_alloc_f32(gu_gpu(), &sin_gpu, rows, pairs));
    } else
#endif
    {
        g_assert_true(gu_gpu()->tensor_alloc(gu_gpu(), &cos_gpu, rows, pairs));
        g_assert_true(gu_gpu()->tensor_alloc(gu_gpu(), &sin_gpu, rows, pairs));
        /* bf16 tables: the CPU gets the same rounded values */
        for (int64_t i = 0; i < rows * pairs; i++) {
            cos_t[i] = gu_round_bf16(cos_t[i]);
            sin_t[i] = gu_round_bf16(sin_t[i]);
        }
    }
    gu_cpu()->upload(gu_cpu(), cos_t, &cos_cpu);
    gu_cpu()->upload(gu_cpu(), sin_t, &sin_cpu);
    gu_gpu()->upload(gu_gpu(), cos_t, &cos_gpu);
    gu_gpu()->upload(gu_gpu(), sin_t, &sin_gpu);
    /* x is the k block of a qkv tensor */
    GuMat qkv = gu_mat_random(rows, 3 * heads * head_dim, -2.0f, 2.0f, 250);
    GuMat k = gu_mat_view(&qkv, 0, rows, heads * head_dim, heads * head_dim);
    gu_cpu()->rope(gu_cpu(), &k.cpu, &cos_cpu, &sin_cpu, heads, head_dim);
    gu_gpu()->rope(gu_gpu(), &k.gpu, &cos_gpu, &sin_gpu, heads, head_dim);
    gu_mat_check(what, &qkv, EW_TOL, EW_EPS);
    gu_mat_free(&qkv);
    gu_cpu()->tensor_free(gu_cpu(), &cos_cpu);
    gu_cpu()->tensor_free(gu_cpu(), &sin_cpu);
    gu_gpu()->tensor_free(gu_gpu(), &cos_gpu);
    gu_gpu()->tensor_free(gu_gpu(), &sin_gpu);
    g_free(cos_t);
    g_free(sin_t);
}

static void test_rope_bf16_tables(void)
{
    run_rope("rope with tables from tensor_alloc (bf16)", FALSE);
}

#if HAVE_CUDA
static void test_rope_f32_tables(void)
{
    run_rope("rope with f32 tables", TRUE);
}
#endif

int main(int argc, char **argv)
{
    gu_init_or_skip(&argc, &argv);
    g_test_add_func("/gpu/elementwise/modulate", test_modulate);
    g_test_add_func("/gpu/elementwise/gated-add", test_gated_add);
    g_test_add_func("/gpu/elementwise/mul-scale-add", test_mul_scale_add);
    g_test_add_func("/gpu/elementwise/fill", test_fill);
    g_test_add_func("/gpu/elementwise/unary", test_unary);
    g_test_add_func("/gpu/elementwise/copy", test_copy);
    g_test_add_func("/gpu/elementwise/rope-bf16-tables", test_rope_bf16_tables);
#if HAVE_CUDA
    g_test_add_func("/gpu/elementwise/rope-f32-tables", test_rope_f32_tables);
#endif
    return g_test_run();
}
