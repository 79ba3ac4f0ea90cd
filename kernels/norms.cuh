// LayerNorm and RMSNorm kernels: one warp per normalised group (a row for LayerNorm, `group`
// columns for RMSNorm), statistics in f32, two passes for the variance (no E[x^2] - E[x]^2).
#pragma once

#include "cuda_common.cuh"

__device__ __forceinline__ float warp_sum(float v)
{
    for (int off = 16; off > 0; off >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}

__device__ __forceinline__ float warp_max(float v)
{
    for (int off = 16; off > 0; off >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
    return v;
}

// y may alias x: every element is read by the lane that writes it, after the statistics.
static __global__ void layer_norm_kernel(DevTensor x, const bf16 *weight, const bf16 *bias,
                                         float eps, DevTensor y)
{
    const int lane = threadIdx.x & 31;
    const int64_t warps = (int64_t)gridDim.x * (blockDim.x / 32);
    const int64_t n = x.cols;
    for (int64_t r = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; r < x.rows;
         r += warps) {
        float sum = 0.0f;
        for (int64_t c = lane; c < n; c += 32)
            sum += dev_load(x, r, c);
        const float mean = warp_sum(sum) / (float)n;
        float sq = 0.0f;
        for (int64_t c = lane; c < n; c += 32) {
            float d = dev_load(x, r, c) - mean;
            sq += d * d;
        }
        const float inv = 1.0f / sqrtf(warp_sum(sq) / (float)n + eps);
        for (int64_t c = lane; c < n; c += 32) {
            float v = (dev_load(x, r, c) - mean) * inv;
            if (weight)
                v *= __bfloat162float(weight[c]);
            if (bias)
                v += __bfloat162float(bias[c]);
            dev_store(y, r, c, v);
        }
    }
}

static __global__ void rms_norm_kernel(DevTensor x, const bf16 *weight, int group, float eps,
                                       DevTensor y)
{
    const int lane = threadIdx.x & 31;
    const int64_t groups_per_row = x.cols / group;
    const int64_t total = x.rows * groups_per_row;
    const int64_t warps = (int64_t)gridDim.x * (blockDim.x / 32);
    for (int64_t gi = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; gi < total;
         gi += warps) {
        const int64_t r = gi / groups_per_row, c0 = (gi % groups_per_row) * group;
        float sq = 0.0f;
        for (int c = lane; c < group; c += 32) {
            float v = dev_load(x, r, c0 + c);
            sq += v * v;
        }
        const float inv = 1.0f / sqrtf(warp_sum(sq) / (float)group + eps);
        for (int c = lane; c < group; c += 32) {
            float v = dev_load(x, r, c0 + c) * inv;
            if (weight)
                v *= __bfloat162float(weight[c]);
            dev_store(y, r, c0 + c, v);
        }
    }
}

// Grid for `items` warps of work, 8 warps per block, capped (the kernels stride).
static inline int warp_grid(int64_t items)
{
    int64_t blocks = (items + 7) / 8;
    return blocks > 65535 ? 65535 : (int)(blocks > 0 ? blocks : 1);
}
