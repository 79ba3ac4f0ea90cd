/* cuDNN's fused SDPA against our mma.sync kernel and the CPU reference, on the shapes ResDiT
 * runs (global self-attention with a text prefix, one local patch, text queries over every key,
 * q/k/v as column blocks of one qkv tensor) with lengths that are not multiples of 64. Skips
 * (exit 77) with the reason when there is no GPU or cuDNN is not built in / not found / turned
 * off; fails when cuDNN is found but failed its first-use check, or did not run a call.
 *
 * Bounds (inputs bf16-exact, v in [-1, 1], so max|v| = 1): both GPU paths round P to bf16 before
 * P V (relative 2^-8 per probability: at most 2 * 2^-8 max|v| after normalisation, whether the
 * row sum is taken before or after the rounding), round the output to bf16 (2^-8 |o|), and
 * compute scores in f32 over D = 128 terms of |q k| <= 9 times 1/sqrt(128): an absolute score
 * error below gamma_128 * 102 < 1e-3, a relative probability error below 2e-3. The CPU backend
 * is f32 throughout. So |gpu - cpu| <= 2 * 2^-8 + 2e-3 + 2^-8 |cpu|. */
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "gpu-util.h"
#if HAVE_CUDA
#include "cuda_backend.h"
#endif

#define SDPA_TOL (2.0f / 256.0f + 2e-3f)
#define SDPA_EPS (1.0f / 256.0f)

typedef struct {
    const char *what;
    int nq, nk, heads;
    float qk_range;     /* q and k in [-r, r]: larger -> peakier softmax */
    gboolean fused_qkv; /* q, k, v as column blocks of one [tokens, 3 * width] tensor */
    gboolean may_fall_back; /* not a ResDiT shape: cuDNN may decline it (s_q = 1 on some GPUs) */
} SdpaCase;

#if HAVE_CUDA
static void run_case(const SdpaCase *c, guint32 seed)
{
    const int D = 128;
    const int64_t width = (int64_t)c->heads * D;
    GuMat q, k, v, qkv = {0}, q_own = {0}, k_own = {0}, v_own = {0};
    if (c->fused_qkv) {
        g_assert_cmpint(c->nq, ==, c->nk);
        qkv = gu_mat_random(c->nq, 3 * width, -c->qk_range, c->qk_range, seed);
        /* v keeps [-1, 1]: overwrite its block */
        v_own = gu_mat_random(c->nk, width, -1.0f, 1.0f, seed + 1);
        q = gu_mat_view(&qkv, 0, c->nq, 0, width);
        k = gu_mat_view(&qkv, 0, c->nk, width, width);
        v = gu_mat_view(&qkv, 0, c->nk, 2 * width, width);
        gu_cpu()->copy(gu_cpu(), &v_own.cpu, &v.cpu);
        gu_gpu()->copy(gu_gpu(), &v_own.gpu, &v.gpu);
    } else {
        q = q_own = gu_mat_random(c->nq, width, -c->qk_range, c->qk_range, seed);
        k = k_own = gu_mat_random(c->nk, width, -c->qk_range, c->qk_range, seed + 2);
        v = v_own = gu_mat_random(c->nk, width, -1.0f, 1.0f, seed + 3);
    }
    GuMat ours = gu_mat_poisoned(c->nq, width), cudnn = gu_mat_poisoned(c->nq, width);
    gu_cpu()->attention(gu_cpu(), &q.cpu, &k.cpu, &v.cpu, &ours.cpu, c->heads, D, NULL);
    gu_cpu()->attention(gu_cpu(), &q.cpu, &k.cpu, &v.cpu, &cudnn.cpu, c->heads, D, NULL);

    rd_cuda_set_attention_path(gu_gpu(), RD_CUDA_ATTENTION_OURS);
    const guint64 before_ours = rd_cuda_cudnn_attention_calls(gu_gpu());
    gu_gpu()->attention(gu_gpu(), &q.gpu, &k.gpu, &v.gpu, &ours.gpu, c->heads, D, NULL);
    g_assert_cmpuint(rd_cuda_cudnn_attention_calls(gu_gpu()), ==, before_ours);

    rd_cuda_set_attention_path(gu_gpu(), RD_CUDA_ATTENTION_AUTO);
    const guint64 before = rd_cuda_cudnn_attention_calls(gu_gpu());
    gu_gpu()->attention(gu_gpu(), &q.gpu, &k.gpu, &v.gpu, &cudnn.gpu, c->heads, D, NULL);
    if (!c->may_fall_back && rd_cuda_cudnn_attention_calls(gu_gpu()) != before + 1) {
        printf("FAIL: %s: cuDNN did not run this call (our kernel did; see the log above)\n",
               c->what);
        g_test_fail();
    }
    g_autofree char *what_ours = g_strdup_printf("%s: ours vs CPU", c->what);
    g_autofree char *what_cudnn = g_strdup_printf("%s: cuDNN vs CPU", c->what);
    gu_mat_check(what_ours, &ours, SDPA_TOL, SDPA_EPS);
    gu_mat_check(what_cudnn, &cudnn, SDPA_TOL, SDPA_EPS);
    gu_mat_free(&ours);
    gu_mat_free(&cudnn);
    if (c->fused_qkv) {
        gu_mat_free(&qkv);
        gu_mat_free(&v_own);
    } else {
        gu_mat_free(&q_own);
        gu_mat_free(&k_own);
        gu_mat_free(&v_own);
    }
}

static void test_shapes(void)
{
    const SdpaCase cases[] = {
        /* global: 32 x 32 image tokens after 77 text tokens, q/k/v from one qkv tensor */
        {"global 1101 tokens, 3 heads, fused qkv", 1101, 1101, 3, 1.0f, TRUE},
        /* one local patch: its 600 queries over [77 text; 600 patch] keys */
        {"local patch 600 queries x 677 keys", 600, 677, 2, 2.0f, FALSE},
        /* text queries over text + every image key */
        {"text queries 77 x 2125 keys", 77, 2125, 2, 1.0f, FALSE},
        {"peaky scores 129 x 65", 129, 65, 2, 3.0f, FALSE},
        {"1 query x 1 key", 1, 1, 1, 1.0f, FALSE, TRUE},
        {"64 x 64, one tile", 64, 64, 24, 1.0f, FALSE},
    };
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++)
        run_case(&cases[i], 900 + 10 * i);
}
#endif

int main(int argc, char **argv)
{
    gu_init_or_skip(&argc, &argv);
#if HAVE_CUDA
    char *why = NULL;
    const RdCudaCudnnState state = rd_cuda_cudnn_state(gu_gpu(), &why);
    printf("attention path: %s\n", why);
    if (state == RD_CUDNN_CHECK_FAILED) {
        printf("FAIL: cuDNN was found but disagreed with our kernel on its first-use check\n");
        return 1;
    }
    if (state != RD_CUDNN_ACTIVE) {
        printf("SKIP: cuDNN attention is not in use here: %s\n", why);
        g_free(why);
        return 77;
    }
    g_free(why);
    g_test_add_func("/gpu/attention-cudnn/shapes", test_shapes);
    return g_test_run();
#else
    return 77;
#endif
}
