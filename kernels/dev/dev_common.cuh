// Shared helpers of the kernel development programs (llm.c's dev/cuda style): random bf16 data,
// device copies, the tol + |ref| * eps check over every element, and event timing.
#pragma once

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <vector>

#include "../cuda_common.cuh"

void cuda_fatal(const char *call, const char *message, const char *file, int line)
{
    fprintf(stderr, "CUDA error: %s failed: %s (%s:%d)\n", call, message, file, line);
    exit(1);
}

// Deterministic uniform values in [lo, hi), rounded to bf16 so host and device agree exactly.
static std::vector<float> random_bf16_values(size_t n, float lo, float hi, uint32_t seed)
{
    std::vector<float> v(n);
    uint64_t state = 0x9E3779B97F4A7C15ull ^ seed;
    for (size_t i = 0; i < n; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        float u = (float)((state >> 40) & 0xffffff) / 16777216.0f;
        v[i] = __bfloat162float(__float2bfloat16_rn(lo + (hi - lo) * u));
    }
    return v;
}

static bf16 *to_device_bf16(const std::vector<float> &v)
{
    std::vector<bf16> h(v.size());
    for (size_t i = 0; i < v.size(); i++)
        h[i] = __float2bfloat16_rn(v[i]);
    bf16 *d = NULL;
    cudaCheck(cudaMalloc(&d, h.size() * sizeof(bf16)));
    cudaCheck(cudaMemcpy(d, h.data(), h.size() * sizeof(bf16), cudaMemcpyHostToDevice));
    return d;
}

static bf16 *device_nan_bf16(size_t n)
{
    bf16 *d = NULL;
    cudaCheck(cudaMalloc(&d, n * sizeof(bf16)));
    cudaCheck(cudaMemset(d, 0xff, n * sizeof(bf16))); // 0xffff is a bf16 NaN
    return d;
}

static std::vector<float> from_device_bf16(const bf16 *d, size_t n)
{
    std::vector<bf16> h(n);
    cudaCheck(cudaMemcpy(h.data(), d, n * sizeof(bf16), cudaMemcpyDeviceToHost));
    std::vector<float> v(n);
    for (size_t i = 0; i < n; i++)
        v[i] = __bfloat162float(h[i]);
    return v;
}

// Every element: |got - ref| <= tol + |ref| * eps. Prints the first failures; returns ok.
static bool check(const char *what, const std::vector<float> &got, const std::vector<float> &ref,
                  float tol, float eps)
{
    int failures = 0;
    double max_err = 0;
    for (size_t i = 0; i < ref.size(); i++) {
        float err = fabsf(got[i] - ref[i]);
        if (!(err <= tol + fabsf(ref[i]) * eps)) {
            if (failures++ < 5)
                printf("  %s: element %zu is %g, reference %g\n", what, i, got[i], ref[i]);
        }
        if (err > max_err)
            max_err = err;
    }
    printf("%-40s %s (max abs error %.3g, %d of %zu elements out of tolerance)\n", what,
           failures ? "FAIL" : "ok", max_err, failures, ref.size());
    return failures == 0;
}

// Mean milliseconds of `repeats` calls of f after one warm-up call.
template <typename F> static float time_ms(int repeats, F f)
{
    cudaEvent_t start, stop;
    cudaCheck(cudaEventCreate(&start));
    cudaCheck(cudaEventCreate(&stop));
    f();
    cudaCheck(cudaEventRecord(start));
    for (int i = 0; i < repeats; i++)
        f();
    cudaCheck(cudaEventRecord(stop));
    cudaCheck(cudaEventSynchronize(stop));
    float ms = 0;
    cudaCheck(cudaEventElapsedTime(&ms, start, stop));
    cudaCheck(cudaEventDestroy(start));
    cudaCheck(cudaEventDestroy(stop));
    return ms / repeats;
}
