// Attention kernel development: CPU reference, kernel versions, check and timing.
//
//   version 1: attention_generic (one warp per query and head, scalar f32)
//   version 2: attention_mma (flash attention on mma.sync tensor cores, D = 64 or 128), 16 query
//              rows per warp, K fragments by 32-bit shared loads (the kernel as first measured)
//   version 3: version 2 with K fragments through ldmatrix.x4
//   version 4: version 3 with 32 query rows per warp (128 per block; the backend's default where
//              the device has the shared memory, else it runs version 3)
//
// Usage: dev-attention [version] [head_dim]   (defaults: 4, 128)
// Checks against the CPU at 1000 queries x 1100 keys, 2 heads, then times FLUX sizes (24 heads):
// 4608, 16896 and 37376 tokens, in TFLOP/s of 4 N^2 D H.
#include "../attention_generic.cuh"
#include "../attention_mma.cuh"
#include "dev_common.cuh"

// Straightforward softmax(q k^T / sqrt(D)) v with the whole score row: a different algorithm from
// both the CPU backend's blocked one and the kernels'.
static std::vector<float> attention_cpu(const std::vector<float> &q, const std::vector<float> &k,
                                        const std::vector<float> &v, int nq, int nk, int heads,
                                        int D)
{
    const int width = heads * D;
    std::vector<float> out((size_t)nq * width);
    std::vector<double> scores(nk);
    const double scale = 1.0 / sqrt((double)D);
    for (int h = 0; h < heads; h++)
        for (int i = 0; i < nq; i++) {
            double max_score = -INFINITY;
            for (int j = 0; j < nk; j++) {
                double s = 0;
                for (int d = 0; d < D; d++)
                    s +=
                        (double)q[(size_t)i * width + h * D + d] * k[(size_t)j * width + h * D + d];
                scores[j] = s * scale;
                max_score = fmax(max_score, scores[j]);
            }
            double sum = 0;
            for (int j = 0; j < nk; j++) {
                scores[j] = exp(scores[j] - max_score);
                sum += scores[j];
            }
            for (int d = 0; d < D; d++) {
                double acc = 0;
                for (int j = 0; j < nk; j++)
                    acc += scores[j] * v[(size_t)j * width + h * D + d];
                out[(size_t)i * width + h * D + d] = (float)(acc / sum);
            }
        }
    return out;
}

static void run_version(int version, const bf16 *q, const bf16 *k, const bf16 *v, bf16 *out, int nq,
                        int nk, int heads, int D)
{
    const int64_t width = (int64_t)heads * D;
    if (version >= 2) {
        const attention_mma::Variant variants[] = {
            attention_mma::VARIANT_16_LDS32, attention_mma::VARIANT_16, attention_mma::VARIANT_32};
        attention_mma::launch(D, q, width, k, width, v, width, out, width, nq, nk, heads, 0,
                              variants[version - 2]);
        return;
    }
    attention_generic::Args a;
    a.q = DevTensor{(void *)q, nq, width, width, 0};
    a.k = DevTensor{(void *)k, nk, width, width, 0};
    a.v = DevTensor{(void *)v, nk, width, width, 0};
    a.out = DevTensor{(void *)out, nq, width, width, 0};
    a.bias = a.q;
    a.heads = heads;
    a.head_dim = D;
    a.scale = 1.0f / sqrtf((float)D);
    a.causal = 0;
    a.has_bias = 0;
    attention_generic::launch(a, 0);
}

static bool check_version(int version, int D)
{
    const int nq = 1000, nk = 1100, heads = 2, width = heads * D;
    auto q = random_bf16_values((size_t)nq * width, -2.0f, 2.0f, 1);
    auto k = random_bf16_values((size_t)nk * width, -1.0f, 1.0f, 2);
    auto v = random_bf16_values((size_t)nk * width, -1.0f, 1.0f, 3);
    auto ref = attention_cpu(q, k, v, nq, nk, heads, D);
    bf16 *dq = to_device_bf16(q), *dk = to_device_bf16(k), *dv = to_device_bf16(v);
    bf16 *dout = device_nan_bf16(ref.size());
    run_version(version, dq, dk, dv, dout, nq, nk, heads, D);
    cudaCheck(cudaDeviceSynchronize());
    bool ok = check("attention 1000 x 1100 keys, 2 heads", from_device_bf16(dout, ref.size()), ref,
                    5e-3f, 0.08f);
    cudaCheck(cudaFree(dq));
    cudaCheck(cudaFree(dk));
    cudaCheck(cudaFree(dv));
    cudaCheck(cudaFree(dout));
    return ok;
}

static void time_version(int version, int D, int tokens)
{
    const int heads = 24;
    const size_t n = (size_t)tokens * heads * D;
    auto values = random_bf16_values(n, -1.0f, 1.0f, 4);
    bf16 *q = to_device_bf16(values), *k = to_device_bf16(values), *v = to_device_bf16(values);
    bf16 *out = device_nan_bf16(n);
    int repeats = tokens > 20000 ? 3 : 10;
    if (version == 1 && tokens > 5000) {
        printf("%6d tokens: skipped for version 1 (too slow)\n", tokens);
    } else {
        float ms =
            time_ms(repeats, [&] { run_version(version, q, k, v, out, tokens, tokens, heads, D); });
        double flops = 4.0 * tokens * (double)tokens * D * heads;
        printf("%6d tokens: %9.3f ms  %7.1f TFLOP/s\n", tokens, ms, flops / (ms * 1e-3) / 1e12);
    }
    cudaCheck(cudaFree(q));
    cudaCheck(cudaFree(k));
    cudaCheck(cudaFree(v));
    cudaCheck(cudaFree(out));
}

int main(int argc, char **argv)
{
    const int version = argc > 1 ? atoi(argv[1]) : 4;
    const int D = argc > 2 ? atoi(argv[2]) : 128;
    if (version < 1 || version > 4 || (version >= 2 && D != 64 && D != 128) || D < 1 ||
        D > attention_generic::MAX_HEAD_DIM) {
        fprintf(stderr, "usage: dev-attention [1|2|3|4] [head_dim: 64 or 128 for versions 2-4]\n");
        return 2;
    }
    printf("attention version %d, head dim %d\n", version, D);
    if (!check_version(version, D))
        return 1;
    for (int tokens : {4608, 16896, 37376})
        time_version(version, D, tokens);
    return 0;
}
