// LayerNorm / RMSNorm kernel development: CPU reference (double), the kernels of norms.cuh,
// check and timing (effective bandwidth).
//
//   version 1: layer_norm_kernel (warp per row), no affine, FLUX's LayerNorm
//   version 2: rms_norm_kernel (warp per group of 128 columns, learned scale), FLUX's q/k norm
//
// Usage: dev-norms [version]   (default 1). Times 66048 x 3072 (a 4096^2 FLUX image's tokens).
#include "../norms.cuh"
#include "dev_common.cuh"

static std::vector<float> layer_norm_cpu(const std::vector<float> &x, int rows, int cols, float eps)
{
    std::vector<float> y(x.size());
    for (int r = 0; r < rows; r++) {
        const float *xr = &x[(size_t)r * cols];
        double mean = 0, var = 0;
        for (int c = 0; c < cols; c++)
            mean += xr[c];
        mean /= cols;
        for (int c = 0; c < cols; c++)
            var += (xr[c] - mean) * (xr[c] - mean);
        var /= cols;
        for (int c = 0; c < cols; c++)
            y[(size_t)r * cols + c] = (float)((xr[c] - mean) / sqrt(var + eps));
    }
    return y;
}

static std::vector<float> rms_norm_cpu(const std::vector<float> &x, const std::vector<float> &g,
                                       int rows, int cols, int group, float eps)
{
    std::vector<float> y(x.size());
    for (int r = 0; r < rows; r++)
        for (int c0 = 0; c0 < cols; c0 += group) {
            const float *xr = &x[(size_t)r * cols + c0];
            double ss = 0;
            for (int c = 0; c < group; c++)
                ss += (double)xr[c] * xr[c];
            double inv = 1.0 / sqrt(ss / group + eps);
            for (int c = 0; c < group; c++)
                y[(size_t)r * cols + c0 + c] = (float)(xr[c] * inv * g[c]);
        }
    return y;
}

static void run_version(int version, bf16 *x, const bf16 *g, bf16 *y, int rows, int cols)
{
    DevTensor xt = {x, rows, cols, cols, 0}, yt = {y, rows, cols, cols, 0};
    if (version == 1)
        layer_norm_kernel<<<warp_grid(rows), 256>>>(xt, NULL, NULL, 1e-6f, yt);
    else
        rms_norm_kernel<<<warp_grid((int64_t)rows * (cols / 128)), 256>>>(xt, g, 128, 1e-6f, yt);
    launchCheck();
}

int main(int argc, char **argv)
{
    const int version = argc > 1 ? atoi(argv[1]) : 1;
    if (version < 1 || version > 2) {
        fprintf(stderr, "usage: dev-norms [1|2]\n");
        return 2;
    }
    const int rows = 1000, cols = 3072;
    auto x = random_bf16_values((size_t)rows * cols, -3.0f, 5.0f, 1);
    auto g = random_bf16_values(128, 0.5f, 1.5f, 2);
    auto ref = version == 1 ? layer_norm_cpu(x, rows, cols, 1e-6f)
                            : rms_norm_cpu(x, g, rows, cols, 128, 1e-6f);
    bf16 *dx = to_device_bf16(x), *dg = to_device_bf16(g), *dy = device_nan_bf16(ref.size());
    run_version(version, dx, dg, dy, rows, cols);
    cudaCheck(cudaDeviceSynchronize());
    bool ok = check(version == 1 ? "layer norm 1000 x 3072" : "rms norm 1000 x 3072 (heads of 128)",
                    from_device_bf16(dy, ref.size()), ref, 1e-2f, 0.08f);
    cudaCheck(cudaFree(dx));
    cudaCheck(cudaFree(dy));
    if (!ok)
        return 1;

    const int big_rows = 66048;
    auto big = random_bf16_values((size_t)big_rows * cols, -1.0f, 1.0f, 3);
    dx = to_device_bf16(big);
    dy = device_nan_bf16(big.size());
    float ms = time_ms(20, [&] { run_version(version, dx, dg, dy, big_rows, cols); });
    double bytes = 2.0 * big.size() * sizeof(bf16);
    printf("%d x %d: %.3f ms, %.0f GB/s\n", big_rows, cols, ms, bytes / (ms * 1e-3) / 1e9);
    cudaCheck(cudaFree(dx));
    cudaCheck(cudaFree(dy));
    cudaCheck(cudaFree(dg));
    return 0;
}
