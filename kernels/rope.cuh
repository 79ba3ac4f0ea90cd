// RoPE functor for for_each: rotates the adjacent pair (2j, 2j+1) of one head of one row, in f32,
// with cos/sin tables [rows, D/2] in f32 (or bf16).
#pragma once

#include "for_each.cuh"

struct Rope {
    DevTensor x, cos, sin;
    int pairs; // head_dim / 2
    __device__ void operator()(int64_t r, int64_t p) const
    {
        const int64_t head = p / pairs, j = p % pairs;
        const int64_t c = head * 2 * pairs + 2 * j;
        float a = dev_load(x, r, c), b = dev_load(x, r, c + 1);
        float cs = dev_load(cos, r, j), sn = dev_load(sin, r, j);
        dev_store(x, r, c, a * cs - b * sn);
        dev_store(x, r, c + 1, b * cs + a * sn);
    }
};
