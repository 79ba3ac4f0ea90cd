// Elementwise ops: modulation, gated residuals, products, activations, strided copies. Every value
// is computed in f32 and rounded once on store.
#include "for_each.cuh"

struct Modulate {
    DevTensor x, shift, scale, y;
    __device__ void operator()(int64_t r, int64_t c) const
    {
        float v = dev_load(x, r, c) * (1.0f + dev_load(scale, 0, c)) + dev_load(shift, 0, c);
        dev_store(y, r, c, v);
    }
};

void cuda_modulate(RdBackend *be, const RdTensor *x, const RdTensor *shift, const RdTensor *scale,
                   RdTensor *y)
{
    g_assert(shift->cols == x->cols && scale->cols == x->cols);
    g_assert(y->rows == x->rows && y->cols == x->cols);
    for_each(cuda_backend(be), x->rows, x->cols,
             Modulate{dev_tensor(x), dev_tensor(shift), dev_tensor(scale), dev_tensor(y)});
}

struct GatedAdd {
    DevTensor x, y, gate;
    bool has_gate;
    __device__ void operator()(int64_t r, int64_t c) const
    {
        float g = has_gate ? dev_load(gate, 0, c) : 1.0f;
        dev_store(x, r, c, dev_load(x, r, c) + g * dev_load(y, r, c));
    }
};

void cuda_gated_add(RdBackend *be, RdTensor *x, const RdTensor *gate, const RdTensor *y)
{
    g_assert(x->rows == y->rows && x->cols == y->cols);
    g_assert(!gate || gate->cols == x->cols);
    GatedAdd f = {dev_tensor(x), dev_tensor(y), gate ? dev_tensor(gate) : dev_tensor(y),
                  gate != NULL};
    for_each(cuda_backend(be), x->rows, x->cols, f);
}

struct Mul {
    DevTensor x, y;
    __device__ void operator()(int64_t r, int64_t c) const
    {
        dev_store(x, r, c, dev_load(x, r, c) * dev_load(y, r, c));
    }
};

void cuda_mul(RdBackend *be, RdTensor *x, const RdTensor *y)
{
    g_assert(x->rows == y->rows && x->cols == y->cols);
    for_each(cuda_backend(be), x->rows, x->cols, Mul{dev_tensor(x), dev_tensor(y)});
}

struct ScaleAdd {
    DevTensor x;
    float a, b;
    __device__ void operator()(int64_t r, int64_t c) const
    {
        dev_store(x, r, c, dev_load(x, r, c) * a + b);
    }
};

void cuda_scale_add(RdBackend *be, RdTensor *x, float a, float b)
{
    for_each(cuda_backend(be), x->rows, x->cols, ScaleAdd{dev_tensor(x), a, b});
}

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

void cuda_unary(RdBackend *be, RdUnaryOp op, RdTensor *x)
{
    for_each(cuda_backend(be), x->rows, x->cols, Unary{dev_tensor(x), op});
}

struct Copy {
    DevTensor src, dst;
    __device__ void operator()(int64_t r, int64_t c) const
    {
        dev_store(dst, r, c, dev_load(src, r, c));
    }
};

// Overlapping src and dst views of different offsets are not supported (the CPU's per-row memmove
// is sequential); identical views are a no-op either way.
void cuda_copy(RdBackend *be, const RdTensor *src, RdTensor *dst)
{
    g_assert(src->rows == dst->rows && src->cols == dst->cols);
    if (src->data == dst->data && src->stride == dst->stride && src->dtype == dst->dtype)
        return;
    for_each(cuda_backend(be), src->rows, src->cols, Copy{dev_tensor(src), dev_tensor(dst)});
}
