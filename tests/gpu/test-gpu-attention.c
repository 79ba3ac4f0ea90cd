/* Attention on the GPU: the tensor-core flash kernel (head dims 64 and 128), the tiled cuBLAS path
 * (head dims 256 and up, the VAE) and the generic kernel (other head dims, causal, bias,
 * unaligned views) against the CPU's blocked reference. cuDNN's fused attention is turned off
 * here so that these are our kernels (test-gpu-attention-cudnn.c checks cuDNN). */
#include "config.h"
#include "gpu-util.h"
#if HAVE_CUDA
#include "cuda_backend.h"
#endif

#define ATT_TOL 5e-3f
#define ATT_EPS 0.08f

typedef struct {
    const char *what;
    int nq, nk, heads, head_dim;
    float q_range; /* larger -> peakier softmax */
    gboolean causal, bias;
    int col_offset; /* of q, k, v inside a wider [tokens, 3 * width + offset] tensor */
} AttentionCase;

static void run_attention(const AttentionCase *c, guint32 seed)
{
    const int64_t width = (int64_t)c->heads * c->head_dim;
    const int64_t rows = MAX(c->nq, c->nk);
    /* q, k, v as column blocks of one qkv tensor, like the model's */
    GuMat qkv = gu_mat_random(rows, 3 * width + c->col_offset, -1.0f, 1.0f, seed);
    GuMat scaled_q = gu_mat_random(c->nq, width, -c->q_range, c->q_range, seed + 1);
    GuMat q = gu_mat_view(&qkv, 0, c->nq, c->col_offset, width);
    gu_cpu()->copy(gu_cpu(), &scaled_q.cpu, &q.cpu);
    gu_gpu()->copy(gu_gpu(), &scaled_q.gpu, &q.gpu);
    GuMat k = gu_mat_view(&qkv, 0, c->nk, c->col_offset + width, width);
    GuMat v = gu_mat_view(&qkv, 0, c->nk, c->col_offset + 2 * width, width);
    GuMat bias = {0};
    RdAttentionExtras cpu_extras = {c->causal, NULL}, gpu_extras = {c->causal, NULL};
    if (c->bias) {
        bias = gu_mat_random((int64_t)c->heads * c->nq, c->nk, -3.0f, 3.0f, seed + 2);
        cpu_extras.bias = &bias.cpu;
        gpu_extras.bias = &bias.gpu;
    }
    GuMat out = gu_mat_poisoned(c->nq, width);
    gu_cpu()->attention(gu_cpu(), &q.cpu, &k.cpu, &v.cpu, &out.cpu, c->heads, c->head_dim,
                        &cpu_extras);
    gu_gpu()->attention(gu_gpu(), &q.gpu, &k.gpu, &v.gpu, &out.gpu, c->heads, c->head_dim,
                        &gpu_extras);
    gu_mat_check(c->what, &out, ATT_TOL, ATT_EPS);
    if (c->bias)
        gu_mat_free(&bias);
    gu_mat_free(&out);
    gu_mat_free(&scaled_q);
    gu_mat_free(&qkv);
}

/* Token counts that are not multiples of the 64-row tiles, queries != keys. */
static void test_flash_128(void)
{
    AttentionCase cases[] = {
        {"flash d128 200x200", 200, 200, 3, 128, 1.0f, FALSE, FALSE, 0},
        {"flash d128 70 queries x 333 keys", 70, 333, 2, 128, 2.0f, FALSE, FALSE, 0},
        {"flash d128 1 query x 1 key", 1, 1, 1, 128, 1.0f, FALSE, FALSE, 0},
        {"flash d128 peaked softmax", 129, 65, 2, 128, 4.0f, FALSE, FALSE, 0},
        {"flash d128 600x600", 600, 600, 2, 128, 1.0f, FALSE, FALSE, 0},
    };
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++)
        run_attention(&cases[i], 300 + 10 * i);
}

static void test_flash_64(void)
{
    AttentionCase cases[] = {
        {"flash d64 77x77", 77, 77, 4, 64, 1.0f, FALSE, FALSE, 0},
        {"flash d64 300 queries x 64 keys", 300, 64, 2, 64, 3.0f, FALSE, FALSE, 0},
        {"flash d64 64 queries x 500 keys", 64, 500, 2, 64, 1.0f, FALSE, FALSE, 8},
    };
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++)
        run_attention(&cases[i], 400 + 10 * i);
}

/* Head dims of the tiny test models, the VAE's 512, and odd ones. */
static void test_generic_head_dims(void)
{
    AttentionCase cases[] = {
        {"generic d16", 90, 90, 4, 16, 1.0f, FALSE, FALSE, 0},
        {"generic d32", 65, 130, 2, 32, 2.0f, FALSE, FALSE, 0},
        {"generic d40", 33, 47, 3, 40, 1.0f, FALSE, FALSE, 0},
        {"generic d320 causal", 40, 40, 1, 320, 0.5f, TRUE, FALSE, 0},
        {"generic d96", 50, 50, 2, 96, 1.0f, FALSE, FALSE, 0},
    };
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++)
        run_attention(&cases[i], 500 + 10 * i);
}

/* Head dims of 256 and more (the VAE's 512) through tiles of cuBLAS products: several key tiles
 * (4096 keys each) with a short last one, several query chunks (2048 rows each), two heads on
 * an unaligned view. */
static void test_gemm_tiles(void)
{
    AttentionCase cases[] = {
        {"tiled d512 (VAE) 40x40", 40, 40, 1, 512, 0.2f, FALSE, FALSE, 0},
        {"tiled d512 300 queries x 5000 keys", 300, 5000, 1, 512, 4.0f, FALSE, FALSE, 0},
        {"tiled d256 2100 queries x 300 keys, 2 heads", 2100, 300, 2, 256, 2.0f, FALSE, FALSE, 1},
    };
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++)
        run_attention(&cases[i], 800 + 10 * i);
}

static void test_causal_and_bias(void)
{
    AttentionCase cases[] = {
        {"causal d64 (CLIP)", 77, 77, 3, 64, 1.0f, TRUE, FALSE, 0},
        {"causal d128", 100, 100, 2, 128, 1.0f, TRUE, FALSE, 0},
        {"bias d64 (T5)", 60, 60, 4, 64, 1.0f, FALSE, TRUE, 0},
        {"causal + bias d32", 40, 40, 2, 32, 1.0f, TRUE, TRUE, 0},
    };
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++)
        run_attention(&cases[i], 600 + 10 * i);
}

/* Views that are not 16-byte aligned take the generic kernel and must agree just the same. */
static void test_unaligned_views(void)
{
    AttentionCase cases[] = {
        {"d128 at column offset 1", 80, 80, 2, 128, 1.0f, FALSE, FALSE, 1},
        {"d64 at column offset 3", 70, 90, 2, 64, 1.0f, FALSE, FALSE, 3},
    };
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++)
        run_attention(&cases[i], 700 + 10 * i);
}

#if HAVE_CUDA
/* Our mma.sync kernel's other configurations (kernels/README.md) on every flash case; the tests
 * above run the default. */
static void test_flash_variant(gconstpointer variant)
{
    rd_cuda_set_mma_variant(gu_gpu(), (RdCudaMmaVariant)GPOINTER_TO_INT(variant));
    test_flash_128();
    test_flash_64();
    rd_cuda_set_mma_variant(gu_gpu(), RD_CUDA_MMA_AUTO);
}
#endif

int main(int argc, char **argv)
{
    gu_init_or_skip(&argc, &argv);
#if HAVE_CUDA
    rd_cuda_set_attention_path(gu_gpu(), RD_CUDA_ATTENTION_OURS);
#endif
    g_test_add_func("/gpu/attention/flash-128", test_flash_128);
    g_test_add_func("/gpu/attention/flash-64", test_flash_64);
#if HAVE_CUDA
    g_test_add_data_func("/gpu/attention/flash/16-rows", GINT_TO_POINTER(RD_CUDA_MMA_16),
                         test_flash_variant);
    g_test_add_data_func("/gpu/attention/flash/32-rows", GINT_TO_POINTER(RD_CUDA_MMA_32),
                         test_flash_variant);
    g_test_add_data_func("/gpu/attention/flash/16-rows-lds32",
                         GINT_TO_POINTER(RD_CUDA_MMA_16_LDS32), test_flash_variant);
#endif
    g_test_add_func("/gpu/attention/generic-head-dims", test_generic_head_dims);
    g_test_add_func("/gpu/attention/gemm-tiles", test_gemm_tiles);
    g_test_add_func("/gpu/attention/causal-and-bias", test_causal_and_bias);
    g_test_add_func("/gpu/attention/unaligned-views", test_unaligned_views);
    return g_test_run();
}
