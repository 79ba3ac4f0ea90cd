/* The VAE's image ops on the GPU (conv2d, the encoder's stride-2 conv2d_down2, GroupNorm, group
 * sums, nearest 2x) against the CPU. */
#include <math.h>

#include "config.h"
#include "gpu-util.h"
#if HAVE_CUDA
#include "cuda_backend.h"
#endif

#define IMG_TOL 1e-2f
#define IMG_EPS 0.08f

static GuWeight random_weight(int64_t rows, int64_t cols, float lo, float hi, guint32 seed,
                              const char *name)
{
    float *v = g_new(float, (size_t)(rows * cols));
    tu_fill_uniform(v, (size_t)(rows * cols), lo, hi, seed);
    GuWeight w = gu_weight_from_f32(RD_BF16, v, rows, cols, name);
    g_free(v);
    return w;
}

/* conv(x) on both backends with a [cout, cin * k * k] weight and a bias; x may be a view. */
static void check_conv(const char *what, const GuMat *x, int height, int width, int cout,
                       int kernel, guint32 seed)
{
    const int64_t kdim = x->cols * kernel * kernel;
    const float bound = 1.0f / sqrtf((float)kdim);
    GuWeight w = random_weight(cout, kdim, -bound, bound, seed, "conv.weight");
    GuWeight b = random_weight(cout, 1, -0.5f, 0.5f, seed + 1, "conv.bias");
    GuMat y = gu_mat_poisoned((int64_t)height * width, cout);
    gu_cpu()->conv2d(gu_cpu(), &x->cpu, height, width, &w.cpu, &b.cpu, kernel, &y.cpu);
    gu_gpu()->conv2d(gu_gpu(), &x->gpu, height, width, &w.gpu, &b.gpu, kernel, &y.gpu);
    gu_mat_check(what, &y, IMG_TOL, IMG_EPS);
    gu_mat_free(&y);
    gu_weight_free(&w);
    gu_weight_free(&b);
}

/* conv2d_down2(x) on both backends: [height * width, cin] -> [height/2 * width/2, cout]. */
static void check_conv_down2(const char *what, const GuMat *x, int height, int width, int cout,
                             guint32 seed)
{
    const int64_t kdim = x->cols * 9;
    const float bound = 1.0f / sqrtf((float)kdim);
    GuWeight w = random_weight(cout, kdim, -bound, bound, seed, "downsample.conv.weight");
    GuWeight b = random_weight(cout, 1, -0.5f, 0.5f, seed + 1, "downsample.conv.bias");
    GuMat y = gu_mat_poisoned((int64_t)(height / 2) * (width / 2), cout);
    gu_cpu()->conv2d_down2(gu_cpu(), &x->cpu, height, width, &w.cpu, &b.cpu, &y.cpu);
    g_assert_nonnull(gu_gpu()->conv2d_down2);
    gu_gpu()->conv2d_down2(gu_gpu(), &x->gpu, height, width, &w.gpu, &b.gpu, &y.gpu);
    gu_mat_check(what, &y, IMG_TOL, IMG_EPS);
    gu_mat_free(&y);
    gu_weight_free(&w);
    gu_weight_free(&b);
}

/* Non-square, the last output row and column read the implicit zero row and column (bottom and
 * right) and nothing on the top and left. */
static void test_conv_down2(void)
{
    GuMat x = gu_mat_random(14 * 22, 40, -1.0f, 1.0f, 240);
    check_conv_down2("conv 3x3 stride 2, 40 -> 24 channels", &x, 14, 22, 24, 241);
    gu_mat_free(&x);
    /* the encoder's first downsampling shape: 128 channels kept */
    GuMat y = gu_mat_random(8 * 6, 128, -2.0f, 2.0f, 242);
    check_conv_down2("conv 3x3 stride 2, 128 -> 128 channels", &y, 8, 6, 128, 243);
    gu_mat_free(&y);
}

/* Bands of a few output pixels that end mid-row, the last one short. */
static void test_conv_down2_bands(void)
{
#if HAVE_CUDA
    GuMat x = gu_mat_random(18 * 20, 32, -2.0f, 2.0f, 250);
    rd_cuda_set_im2col_bytes(gu_gpu(), (size_t)13 * 32 * 9 * 2); /* 13 output pixels a band */
    check_conv_down2("conv 3x3 stride 2 in bands of 13 pixels", &x, 18, 20, 48, 251);
    rd_cuda_set_im2col_bytes(gu_gpu(), (size_t)128 << 20);
    gu_mat_free(&x);
#endif
}

/* An input that is a view with a row stride (a band of the encoder's down path). */
static void test_conv_down2_view(void)
{
    GuMat all = gu_mat_random(10 * 12 + 7, 56, -1.0f, 1.0f, 260);
    GuMat x = gu_mat_view(&all, 5, 10 * 12, 4, 48);
    check_conv_down2("conv 3x3 stride 2 on a strided view", &x, 10, 12, 32, 261);
    gu_mat_free(&all);
}

/* Odd sizes, so every border case of the zero padding shows up; one band. */
static void test_conv3x3(void)
{
    GuMat x = gu_mat_random(13 * 21, 40, -1.0f, 1.0f, 200);
    check_conv("conv 3x3, 40 -> 24 channels", &x, 13, 21, 24, 3, 201);
    gu_mat_free(&x);
}

/* A band of a few pixels: bands end mid-row, the last one short, and each band's GEMM writes
 * its rows of y only. */
static void test_conv3x3_bands(void)
{
#if HAVE_CUDA
    GuMat x = gu_mat_random(17 * 19, 32, -2.0f, 2.0f, 210);
    rd_cuda_set_im2col_bytes(gu_gpu(), (size_t)37 * 32 * 9 * 2); /* 37 pixels a band */
    check_conv("conv 3x3 in bands of 37 pixels", &x, 17, 19, 48, 3, 211);
    rd_cuda_set_im2col_bytes(gu_gpu(), (size_t)128 << 20);
    gu_mat_free(&x);
#endif
}

/* conv_in and conv_out shapes: 16 -> 64 channels, then 64 -> 3 (an output row of 6 bytes). */
static void test_conv3x3_vae_ends(void)
{
    GuMat z = gu_mat_random(9 * 11, 16, -3.0f, 3.0f, 220);
    check_conv("conv 3x3, 16 -> 64 channels", &z, 9, 11, 64, 3, 221);
    GuMat x = gu_mat_random(9 * 11, 64, -1.0f, 1.0f, 222);
    check_conv("conv 3x3, 64 -> 3 channels", &x, 9, 11, 3, 3, 223);
    gu_mat_free(&z);
    gu_mat_free(&x);
}

/* Inputs that are views with a row stride, as the VAE's bands of the head output are. */
static void test_conv_views(void)
{
    GuMat all = gu_mat_random(8 * 10 + 5, 56, -1.0f, 1.0f, 230);
    GuMat x = gu_mat_view(&all, 3, 8 * 10, 4, 48);
    check_conv("conv 3x3 on a strided view", &x, 8, 10, 32, 3, 231);
    check_conv("conv 1x1 (shortcut) on a strided view", &x, 8, 10, 24, 1, 232);
    gu_mat_free(&all);
}

static void check_group_norm(const char *what, int64_t rows, int64_t C, int groups, float lo,
                             float hi, gboolean affine, guint32 seed)
{
    GuMat x = gu_mat_random(rows, C, lo, hi, seed);
    GuWeight g = random_weight(C, 1, 0.5f, 1.5f, seed + 1, "norm.weight");
    GuWeight b = random_weight(C, 1, -1.0f, 1.0f, seed + 2, "norm.bias");
    GuMat y = gu_mat_poisoned(rows, C);
    gu_cpu()->group_norm(gu_cpu(), &x.cpu, groups, affine ? &g.cpu : NULL, affine ? &b.cpu : NULL,
                         1e-6f, &y.cpu);
    gu_gpu()->group_norm(gu_gpu(), &x.gpu, groups, affine ? &g.gpu : NULL, affine ? &b.gpu : NULL,
                         1e-6f, &y.gpu);
    gu_mat_check(what, &y, IMG_TOL, IMG_EPS);
    gu_mat_free(&x);
    gu_mat_free(&y);
    gu_weight_free(&g);
    gu_weight_free(&b);
}

static void test_group_norm(void)
{
    /* 320 channels in groups of 10: a group straddles the 256-column tiles */
    check_group_norm("group norm, 32 groups of 10", 150, 320, 32, -2.0f, 3.0f, TRUE, 240);
    /* a mean far from zero over a small spread */
    check_group_norm("group norm, offset data", 600, 64, 8, 10.0f, 12.0f, TRUE, 243);
    check_group_norm("group norm without affine, groups of 3", 77, 96, 32, -1.0f, 1.0f, FALSE, 246);
}

/* In place on a column view (the VAE's norm may write over its input). */
static void test_group_norm_in_place(void)
{
    GuMat all = gu_mat_random(40, 150, -2.0f, 2.0f, 250);
    GuMat x = gu_mat_view(&all, 5, 30, 11, 128);
    GuWeight g = random_weight(128, 1, -1.0f, 1.0f, 251, "norm.weight");
    gu_cpu()->group_norm(gu_cpu(), &x.cpu, 16, &g.cpu, NULL, 1e-6f, &x.cpu);
    gu_gpu()->group_norm(gu_gpu(), &x.gpu, 16, &g.gpu, NULL, 1e-6f, &x.gpu);
    gu_mat_check("group norm in place on a view", &all, IMG_TOL, IMG_EPS);
    gu_mat_free(&all);
    gu_weight_free(&g);
}

/* Sums over a row range (a band's core) added to what the arrays held. */
static void test_group_sums(void)
{
    const int groups = 32;
    GuMat all = gu_mat_random(5000, 128, -1.5f, 2.5f, 260);
    GuMat core = gu_mat_view(&all, 700, 4000, 0, 128);
    double sum_cpu[32], sq_cpu[32], sum_gpu[32], sq_gpu[32];
    for (int k = 0; k < groups; k++) {
        sum_cpu[k] = sum_gpu[k] = 0.25 * k - 3.0;
        sq_cpu[k] = sq_gpu[k] = 100.0 + k;
    }
    gu_cpu()->group_sums(gu_cpu(), &core.cpu, groups, sum_cpu, sq_cpu);
    gu_gpu()->group_sums(gu_gpu(), &core.gpu, groups, sum_gpu, sq_gpu);
    for (int k = 0; k < groups; k++) {
        /* Same bf16-exact values summed in double in another order: agreement to ~1e-12. */
        if (fabs(sum_gpu[k] - sum_cpu[k]) > 1e-9 * (fabs(sum_cpu[k]) + 1.0) ||
            fabs(sq_gpu[k] - sq_cpu[k]) > 1e-9 * (fabs(sq_cpu[k]) + 1.0))
            g_error("group %d: GPU sums %.12g / %.12g, CPU %.12g / %.12g", k, sum_gpu[k], sq_gpu[k],
                    sum_cpu[k], sq_cpu[k]);
    }
    /* the sums are not the initial values: the data was read */
    g_assert_cmpfloat(fabs(sq_gpu[0] - 100.0), >, 1000.0);
    gu_mat_free(&all);
}

static void test_upsample(void)
{
    GuMat all = gu_mat_random(7 * 5 + 2, 60, -4.0f, 4.0f, 270);
    GuMat x = gu_mat_view(&all, 1, 7 * 5, 6, 48);
    GuMat y = gu_mat_poisoned(4 * 7 * 5, 48);
    gu_cpu()->upsample_nearest2x(gu_cpu(), &x.cpu, 7, 5, &y.cpu);
    gu_gpu()->upsample_nearest2x(gu_gpu(), &x.gpu, 7, 5, &y.gpu);
    gu_mat_check("nearest 2x upsampling", &y, 0.0f, 0.0f);
    gu_mat_free(&all);
    gu_mat_free(&y);
}

int main(int argc, char **argv)
{
    gu_init_or_skip(&argc, &argv);
    g_test_add_func("/gpu/image-ops/conv3x3", test_conv3x3);
    g_test_add_func("/gpu/image-ops/conv3x3-bands", test_conv3x3_bands);
    g_test_add_func("/gpu/image-ops/conv3x3-vae-ends", test_conv3x3_vae_ends);
    g_test_add_func("/gpu/image-ops/conv-views", test_conv_views);
    g_test_add_func("/gpu/image-ops/conv-down2", test_conv_down2);
    g_test_add_func("/gpu/image-ops/conv-down2-bands", test_conv_down2_bands);
    g_test_add_func("/gpu/image-ops/conv-down2-view", test_conv_down2_view);
    g_test_add_func("/gpu/image-ops/group-norm", test_group_norm);
    g_test_add_func("/gpu/image-ops/group-norm-in-place", test_group_norm_in_place);
    g_test_add_func("/gpu/image-ops/group-sums", test_group_sums);
    g_test_add_func("/gpu/image-ops/upsample", test_upsample);
    return g_test_run();
}
