// Elementwise functors for for_each (one thread per element): modulation, gated residuals,
// products, activations, strided copies. Every value is computed in f32 and rounded once on store.
#pragma once

#include "for_each.cuh"

struct Modulate {
    DevTensor x, shift, scale, y;
    __device__ void operator()(int64_t r, int64_t c) const
    {
        float v = dev_load(x, r, c) * (1.0f + dev_load(scale, 0, c)) + dev_load(shift, 0, c);
        dev_store(y, r, c, v);
    }
};

struct GatedAdd {
    DevTensor x, y, gate;
    bool has_gate;
    __device__ void operator()(int64_t r, int64_t c) const
    {
        float g = has_gate ? dev_load(gate, 0, c) : 1.0f;
        dev_store(x, r, c, dev_load(x, r, c) + g * dev_load(y, r, c));
    }
};

struct Mul {
    DevTensor x, y;
    __device__ void operator()(int64_t r, int64_t c) const
    {
        dev_store(x, r, c, dev_load(x, r, c) * dev_load(y, r, c));
    }
};

struct Fill {
    DevTensor x;
    float value;
    __device__ void operator()(int64_t r, int64_t c) const
    {
        dev_store(x, r, c, value);
    }
};

struct ScaleAdd {
    DevTensor x;
    float a, b;
    __device__ void operator()(int64_t r, int64_t c) const
    {
        dev_store(x, r, c, dev_load(x, r, c) * a + b);
    }
};

__device__ __forceinline__ float apply_unary(RdUnaryOp op, float v)
{
    switch (op) {
    case RD_UNARY_SILU:
        return v / (1.0f + expf(-v));
    case RD_UNARY_GELU_TANH: {
        const float k = 0.7978845608028654f; // sqrt(2 / pi)
        return 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v)));
    }
    case RD_UNARY_GELU_ERF:
        return 0.5f * v * (1.0f + erff(v * 0.7071067811865476f));
    case RD_UNARY_GELU_QUICK:
        return v / (1.0f + expf(-1.702f * v));
    }
    return v;
}

struct Unary {
    DevTensor x;
    RdUnaryOp op;
    __device__ void operator()(int64_t r, int64_t c) const
    {
        dev_store(x, r, c, apply_unary(op, dev_load(x, r, c)));
    }
};

struct Copy {
    DevTensor src, dst;
    __device__ void operator()(int64_t r, int64_t c) const
    {
        dev_store(dst, r, c, dev_load(src, r, c));
    }
};
