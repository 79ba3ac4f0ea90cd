// Attention for every case the tensor-core kernel does not take: any head dim up to 512, causal
// masks, additive bias (T5), unaligned views. One warp per (query, head); each lane holds
// PER_LANE = ceil(D / 32) elements of the query and of the output accumulator (element d lives in
// lane d % 32, slot d / 32); keys are visited one by one with an online softmax in f32, exactly
// the CPU reference's arithmetic. Correct and simple; slow for long sequences with large D.
#pragma once

#include <math.h>

#include "norms.cuh" // warp_sum

namespace attention_generic
{

constexpr int WARPS = 4;

struct Args {
    DevTensor q, k, v, out, bias;
    int heads, head_dim;
    float scale;
    int causal, has_bias;
};

template <int PER_LANE> __global__ void __launch_bounds__(WARPS * 32) generic_kernel(Args a)
{
    const int lane = threadIdx.x & 31;
    const int64_t row = (int64_t)blockIdx.x * WARPS + threadIdx.x / 32;
    const int head = blockIdx.y;
    if (row >= a.q.rows)
        return;
    const int64_t col0 = (int64_t)head * a.head_dim;
    const int D = a.head_dim;

    float qv[PER_LANE], acc[PER_LANE];
#pragma unroll
    for (int i = 0; i < PER_LANE; i++) {
        const int d = lane + 32 * i;
        qv[i] = d < D ? dev_load(a.q, row, col0 + d) : 0.0f;
        acc[i] = 0.0f;
    }
    float row_max = -INFINITY, row_sum = 0.0f;
    const int64_t k_end = a.causal ? min(a.k.rows, row + 1) : a.k.rows;
    for (int64_t key = 0; key < k_end; key++) {
        float partial = 0.0f;
#pragma unroll
        for (int i = 0; i < PER_LANE; i++) {
            const int d = lane + 32 * i;
            if (d < D)
                partial += qv[i] * dev_load(a.k, key, col0 + d);
        }
        float score = warp_sum(partial) * a.scale;
        if (a.has_bias)
            score += dev_load(a.bias, (int64_t)head * a.q.rows + row, key);
        const float new_max = fmaxf(row_max, score);
        if (new_max == -INFINITY)
            continue; // every key so far masked
        const float correction = expf(row_max - new_max);
        const float p = expf(score - new_max);
        row_sum = row_sum * correction + p;
#pragma unroll
        for (int i = 0; i < PER_LANE; i++) {
            const int d = lane + 32 * i;
            const float vv = d < D ? dev_load(a.v, key, col0 + d) : 0.0f;
            acc[i] = acc[i] * correction + p * vv;
        }
        row_max = new_max;
    }
    const float inv = row_sum > 0.0f ? 1.0f / row_sum : 0.0f;
#pragma unroll
    for (int i = 0; i < PER_LANE; i++) {
        const int d = lane + 32 * i;
        if (d < D)
            dev_store(a.out, row, col0 + d, acc[i] * inv);
    }
}

constexpr int MAX_HEAD_DIM = 512;

static void launch(const Args &a, cudaStream_t stream)
{
    if (a.q.rows == 0)
        return;
    dim3 grid((unsigned)((a.q.rows + WARPS - 1) / WARPS), a.heads);
    const int per_lane = (a.head_dim + 31) / 32;
    if (per_lane <= 1)
        generic_kernel<1><<<grid, WARPS * 32, 0, stream>>>(a);
    else if (per_lane <= 2)
        generic_kernel<2><<<grid, WARPS * 32, 0, stream>>>(a);
    else if (per_lane <= 4)
        generic_kernel<4><<<grid, WARPS * 32, 0, stream>>>(a);
    else if (per_lane <= 8)
        generic_kernel<8><<<grid, WARPS * 32, 0, stream>>>(a);
    else if (per_lane <= 16)
        generic_kernel<16><<<grid, WARPS * 32, 0, stream>>>(a);
    else
        cuda_fatal("attention", "head dims above 512 are not supported", __FILE__, __LINE__);
    launchCheck();
}

} // namespace attention_generic
