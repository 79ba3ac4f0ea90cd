// Elementwise kernel development: CPU references, the for_each functors of elementwise.cuh and
// rope.cuh, check and timing (effective bandwidth) at a 4096^2 FLUX image's token count.
//
//   version 1: modulate      y = x (1 + scale) + shift, [66048, 3072]
//   version 2: gated add     x += gate * y
//   version 3: GELU (tanh)   in place, [66048, 12288]
//   version 4: RoPE          24 heads x 128 on [66048, 3072] (f32 tables)
//
// Usage: dev-elementwise [version]   (default 1)
#include "../elementwise.cuh"
#include "../rope.cuh"
#include "dev_common.cuh"

static float gelu_tanh_cpu(float v)
{
    const double k = 0.7978845608028654;
    return (float)(0.5 * v * (1.0 + tanh(k * (v + 0.044715 * (double)v * v * v))));
}

struct Case {
    const char *name;
    int cols;
    int inputs; // tensors read besides x (for the bandwidth figure)
};

static const Case cases[] = {{"modulate", 3072, 0},
                             {"gated add", 3072, 1},
                             {"gelu tanh", 12288, 0},
                             {"rope 24 x 128", 3072, 0}};

// Runs version v on x (rows x cols); y, vec (3 x cols: shift, scale, gate), cos/sin f32 tables.
static void run_version(int v, bf16 *x, bf16 *y, bf16 *vec, float *cos_t, float *sin_t, int rows,
                        int cols)
{
    DevTensor xt = {x, rows, cols, cols, 0}, yt = {y, rows, cols, cols, 0};
    DevTensor shift = {vec, 1, cols, cols, 0}, scale = {vec + cols, 1, cols, cols, 0};
    DevTensor gate = {vec + 2 * cols, 1, cols, cols, 0};
    switch (v) {
    case 1:
        for_each_on(0, rows, cols, Modulate{xt, shift, scale, yt});
        break;
    case 2:
        for_each_on(0, rows, cols, GatedAdd{xt, yt, gate, true});
        break;
    case 3:
        for_each_on(0, rows, cols, Unary{xt, RD_UNARY_GELU_TANH});
        break;
    default: {
        DevTensor ct = {cos_t, rows, 64, 64, 1}, st = {sin_t, rows, 64, 64, 1};
        for_each_on(0, rows, (int64_t)24 * 64, Rope{xt, ct, st, 64});
    }
    }
}

static std::vector<float> reference(int v, const std::vector<float> &x, const std::vector<float> &y,
                                    const std::vector<float> &vec, const std::vector<float> &cos_t,
                                    const std::vector<float> &sin_t, int rows, int cols)
{
    std::vector<float> out(x);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            size_t i = (size_t)r * cols + c;
            if (v == 1)
                out[i] = x[i] * (1.0f + vec[cols + c]) + vec[c];
            else if (v == 2)
                out[i] = x[i] + vec[2 * cols + c] * y[i];
            else if (v == 3)
                out[i] = gelu_tanh_cpu(x[i]);
            else if (c % 2 == 0) {
                int j = (c % 128) / 2;
                float cs = cos_t[(size_t)r * 64 + j], sn = sin_t[(size_t)r * 64 + j];
                out[i] = x[i] * cs - x[i + 1] * sn;
                out[i + 1] = x[i + 1] * cs + x[i] * sn;
            }
        }
    return out;
}

int main(int argc, char **argv)
{
    const int v = argc > 1 ? atoi(argv[1]) : 1;
    if (v < 1 || v > 4) {
        fprintf(stderr, "usage: dev-elementwise [1|2|3|4]\n");
        return 2;
    }
    const Case &c = cases[v - 1];
    printf("%s\n", c.name);
    for (int rows : {1000, 66048}) {
        const int cols = c.cols;
        const size_t n = (size_t)rows * cols;
        auto x = random_bf16_values(n, -4.0f, 4.0f, 1);
        auto y = random_bf16_values(n, -4.0f, 4.0f, 2);
        auto vec = random_bf16_values((size_t)3 * cols, -1.0f, 1.0f, 3);
        std::vector<float> cos_t((size_t)rows * 64), sin_t((size_t)rows * 64);
        for (size_t i = 0; i < cos_t.size(); i++) {
            double angle = 0.001 * (double)i;
            cos_t[i] = (float)cos(angle);
            sin_t[i] = (float)sin(angle);
        }
        bf16 *dx = to_device_bf16(x), *dy = to_device_bf16(y), *dvec = to_device_bf16(vec);
        bf16 *dout = v == 1 ? device_nan_bf16(n) : dx; // modulate writes y; the rest in place
        float *dcos = NULL, *dsin = NULL;
        cudaCheck(cudaMalloc(&dcos, cos_t.size() * sizeof(float)));
        cudaCheck(cudaMalloc(&dsin, sin_t.size() * sizeof(float)));
        cudaCheck(cudaMemcpy(dcos, cos_t.data(), cos_t.size() * 4, cudaMemcpyHostToDevice));
        cudaCheck(cudaMemcpy(dsin, sin_t.data(), sin_t.size() * 4, cudaMemcpyHostToDevice));
        if (rows == 1000) {
            run_version(v, dx, v == 1 ? dout : dy, dvec, dcos, dsin, rows, cols);
            cudaCheck(cudaDeviceSynchronize());
            auto ref = reference(v, x, y, vec, cos_t, sin_t, rows, cols);
            if (!check(c.name, from_device_bf16(dout, n), ref, 1e-2f, 0.08f))
                return 1;
        } else {
            float ms = time_ms(
                20, [&] { run_version(v, dx, v == 1 ? dout : dy, dvec, dcos, dsin, rows, cols); });
            double bytes = (2.0 + c.inputs) * n * sizeof(bf16);
            printf("%d x %d: %.3f ms, %.0f GB/s\n", rows, cols, ms, bytes / (ms * 1e-3) / 1e9);
        }
        if (dout != dx)
            cudaCheck(cudaFree(dout));
        cudaCheck(cudaFree(dx));
        cudaCheck(cudaFree(dy));
        cudaCheck(cudaFree(dvec));
        cudaCheck(cudaFree(dcos));
        cudaCheck(cudaFree(dsin));
    }
    return 0;
}
