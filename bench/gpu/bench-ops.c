/* Times the CUDA backend's attention and FLUX-shaped linear layers, with peak device memory.
 *
 * Usage: bench-gpu-ops [attention|gemm|all] [--quick]   (RESDIT_ATTENTION=ours|cudnn chooses
 * the attention path; the "# attention path" line says which one ran; RESDIT_MMA_VARIANT=auto|16|
 * 32|16-lds32 the configuration of our mma.sync kernel, kernels/README.md)
 * Prints one line per case (machine-readable, parsed by bench/gpu/report.py):
 *   attention TOKENS HEADS HEAD_DIM MS TFLOPS PEAK_MIB
 *   gemm NAME M N K MS TFLOPS PEAK_MIB   (NAME.fp8: fp8 weights and activations, sm_89+;
 *                                        NAME.fp8-dequant: fp8 weights widened to bf16 per GEMM)
 * Inputs are random bf16 values (a random block tiled over the rows, so no huge host buffers). */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "cuda_backend.h"

static RdBackend *be;

/* A [rows, cols] tensor filled with a random [block, cols] pattern repeated down the rows. */
static RdTensor random_tensor(int64_t rows, int64_t cols, guint32 seed)
{
    RdTensor t;
    if (!be->tensor_alloc(be, &t, rows, cols))
        g_error("out of GPU memory for a %" G_GINT64_FORMAT " x %" G_GINT64_FORMAT " tensor", rows,
                cols);
    const int64_t block = MIN(rows, 1024);
    float *host = g_new(float, block *cols);
    GRand *rng = g_rand_new_with_seed(seed);
    for (int64_t i = 0; i < block * cols; i++)
        host[i] = (float)g_rand_double_range(rng, -1.0, 1.0);
    g_rand_free(rng);
    RdTensor first = rd_tensor_view(&t, 0, block, 0, cols);
    be->upload(be, host, &first);
    for (int64_t r = block; r < rows; r += block) {
        int64_t n = MIN(block, rows - r);
        RdTensor src = rd_tensor_view(&t, 0, n, 0, cols), dst = rd_tensor_view(&t, r, n, 0, cols);
        be->copy(be, &src, &dst);
    }
    g_free(host);
    return t;
}

typedef void (*BenchFn)(void *data);

/* Milliseconds per call: one warm-up call, then `repeats` timed calls. */
static double time_ms(BenchFn fn, void *data, int repeats)
{
    fn(data);
    be->synchronize(be);
    gint64 start = g_get_monotonic_time();
    for (int i = 0; i < repeats; i++)
        fn(data);
    be->synchronize(be);
    return (double)(g_get_monotonic_time() - start) / 1000.0 / repeats;
}

typedef struct {
    RdTensor q, k, v, out;
    int heads, head_dim;
} AttentionCase;

static void run_attention(void *data)
{
    AttentionCase *c = data;
    be->attention(be, &c->q, &c->k, &c->v, &c->out, c->heads, c->head_dim, NULL);
}

static void bench_attention(int tokens, gboolean quick)
{
    const int heads = 24, head_dim = 128;
    rd_cuda_reset_peak(be);
    AttentionCase c = {random_tensor(tokens, heads * head_dim, 1),
                       random_tensor(tokens, heads * head_dim, 2),
                       random_tensor(tokens, heads * head_dim, 3),
                       random_tensor(tokens, heads * head_dim, 4),
                       heads,
                       head_dim};
    double ms = time_ms(run_attention, &c, quick ? 1 : (tokens > 30000 ? 3 : 10));
    double flops = 4.0 * tokens * (double)tokens * head_dim * heads;
    printf("attention %d %d %d %.3f %.1f %.0f\n", tokens, heads, head_dim, ms,
           flops / (ms * 1e-3) / 1e12, rd_cuda_peak_bytes(be) / 1048576.0);
    fflush(stdout);
    be->tensor_free(be, &c.q);
    be->tensor_free(be, &c.k);
    be->tensor_free(be, &c.v);
    be->tensor_free(be, &c.out);
}

typedef struct {
    RdTensor x, y;
    RdWeight w, b;
} GemmCase;

static void run_gemm(void *data)
{
    GemmCase *c = data;
    be->linear(be, &c->x, &c->w, &c->b, &c->y);
}

/* weights: bf16 as the checkpoint holds them; fp8 E4M3 quantised at load, multiplied in fp8
 * (activations quantised per tensor) or dequantised to bf16 before each GEMM */
typedef enum { GEMM_BF16, GEMM_FP8, GEMM_FP8_DEQUANTISED } GemmWeights;

static void bench_gemm_as(const char *name, int64_t m, int64_t n, int64_t k, const guint16 *w,
                          const guint16 *b, GemmWeights kind, gboolean quick)
{
    if (kind == GEMM_FP8 && !rd_cuda_set_fp8_gemm(be, TRUE))
        return; /* before sm_89 */
    if (kind == GEMM_FP8_DEQUANTISED)
        rd_cuda_set_fp8_gemm(be, FALSE);
    rd_cuda_reset_peak(be);
    GemmCase c;
    c.x = random_tensor(m, k, 5);
    c.y = random_tensor(m, n, 6);
    c.w = (RdWeight){RD_BF16, n, k, w, NULL, name};
    c.b = (RdWeight){RD_BF16, n, 1, b, NULL, "bias"};
    GError *error = NULL;
    gboolean ok = kind == GEMM_BF16 ? be->weight_prepare(be, &c.w, &error)
                                    : be->weight_prepare_fp8(be, &c.w, &error);
    if (!ok || !be->weight_prepare(be, &c.b, &error))
        g_error("%s", error->message);
    const guint64 fp8_before = rd_cuda_fp8_gemm_calls(be);
    double ms = time_ms(run_gemm, &c, quick ? 1 : 5);
    double flops = 2.0 * m * n * k;
    const char *suffix = kind == GEMM_FP8              ? ".fp8"
                         : kind == GEMM_FP8_DEQUANTISED ? ".fp8-dequant"
                                                        : "";
    if (kind == GEMM_FP8 && rd_cuda_fp8_gemm_calls(be) == fp8_before)
        suffix = ".fp8-no-algorithm"; /* cuBLASLt had none: it ran dequantised */
    printf("gemm %s%s %" G_GINT64_FORMAT " %" G_GINT64_FORMAT " %" G_GINT64_FORMAT
           " %.3f %.1f %.0f\n",
           name, suffix, m, n, k, ms, flops / (ms * 1e-3) / 1e12,
           rd_cuda_peak_bytes(be) / 1048576.0);
    fflush(stdout);
    rd_cuda_set_fp8_gemm(be, TRUE);
    be->weight_release(be, &c.w);
    be->weight_release(be, &c.b);
    be->tensor_free(be, &c.x);
    be->tensor_free(be, &c.y);
}

/* One FLUX linear layer with bf16 weights (and a bias), as the checkpoint holds them, then the
 * same weights in fp8 both ways. */
static void bench_gemm(const char *name, int64_t m, int64_t n, int64_t k, gboolean quick)
{
    guint16 *w = g_new(guint16, n * k), *b = g_new(guint16, n);
    GRand *rng = g_rand_new_with_seed(7);
    for (int64_t i = 0; i < n * k; i++)
        w[i] = rd_f32_to_bf16((float)g_rand_double_range(rng, -0.02, 0.02));
    for (int64_t i = 0; i < n; i++)
        b[i] = rd_f32_to_bf16((float)g_rand_double_range(rng, -0.1, 0.1));
    g_rand_free(rng);
    bench_gemm_as(name, m, n, k, w, b, GEMM_BF16, quick);
    bench_gemm_as(name, m, n, k, w, b, GEMM_FP8, quick);
    bench_gemm_as(name, m, n, k, w, b, GEMM_FP8_DEQUANTISED, quick);
    g_free(w);
    g_free(b);
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "all";
    gboolean quick = argc > 2 && strcmp(argv[2], "--quick") == 0;
    GError *error = NULL;
    be = rd_backend_cuda_new(&error);
    if (!be) {
        fprintf(stderr, "bench-gpu-ops: %s\n", error->message);
        return 77;
    }
    g_autofree char *device = rd_cuda_device_name(be);
    g_autofree char *path = rd_backend_cuda_attention(be);
    printf("device %s\n", device);
    printf("# attention path: %s\n", path);
    const char *variant = g_getenv("RESDIT_MMA_VARIANT");
    printf("# RESDIT_MMA_VARIANT=%s\n", variant && *variant ? variant : "auto");
    if (strcmp(what, "attention") == 0 || strcmp(what, "all") == 0) {
        static const int sizes[] = {4608, 16896, 37376, 66048};
        for (guint i = 0; i < G_N_ELEMENTS(sizes); i++)
            bench_attention(sizes[i], quick);
    }
    if (strcmp(what, "gemm") == 0 || strcmp(what, "all") == 0) {
        /* FLUX.1 at 4096^2: 65536 image tokens, 512 text tokens */
        const int64_t img = 65536, joint = 65536 + 512;
        bench_gemm("double.img_attn.qkv", img, 9216, 3072, quick);
        bench_gemm("double.img_attn.proj", img, 3072, 3072, quick);
        bench_gemm("double.img_mlp.0", img, 12288, 3072, quick);
        bench_gemm("double.img_mlp.2", img, 3072, 12288, quick);
        bench_gemm("single.linear1", joint, 21504, 3072, quick);
        bench_gemm("single.linear2", joint, 3072, 15360, quick);
    }
    be->destroy(be);
    return 0;
}
