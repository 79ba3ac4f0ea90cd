// Elementwise ops: modulation, gated residuals, products, activations, strided copies. Every value
// is computed in f32 and rounded once on store.
#include "elementwise.cuh"

void cuda_modulate(RdBackend *be, const RdTensor *x, const RdTensor *shift, const RdTensor *scale,
                   RdTensor *y)
{
    g_assert(shift->cols == x->cols && scale->cols == x->cols);
    g_assert(y->rows == x->rows && y->cols == x->cols);
    for_each(cuda_backend(be), x->rows, x->cols,
             Modulate{dev_tensor(x), dev_tensor(shift), dev_tensor(scale), dev_tensor(y)});
}

void cuda_gated_add(RdBackend *be, RdTensor *x, const RdTensor *gate, const RdTensor *y)
{
    g_assert(x->rows == y->rows && x->cols == y->cols);
    g_assert(!gate || gate->cols == x->cols);
    GatedAdd f = {dev_tensor(x), dev_tensor(y), gate ? dev_tensor(gate) : dev_tensor(y),
                  gate != NULL};
    for_each(cuda_backend(be), x->rows, x->cols, f);
}

void cuda_mul(RdBackend *be, RdTensor *x, const RdTensor *y)
{
    g_assert(x->rows == y->rows && x->cols == y->cols);
    for_each(cuda_backend(be), x->rows, x->cols, Mul{dev_tensor(x), dev_tensor(y)});
}

void cuda_fill(RdBackend *be, RdTensor *x, float value)
{
    for_each(cuda_backend(be), x->rows, x->cols, Fill{dev_tensor(x), value});
}

void cuda_scale_add(RdBackend *be, RdTensor *x, float a, float b)
{
    for_each(cuda_backend(be), x->rows, x->cols, ScaleAdd{dev_tensor(x), a, b});
}

void cuda_unary(RdBackend *be, RdUnaryOp op, RdTensor *x)
{
    for_each(cuda_backend(be), x->rows, x->cols, Unary{dev_tensor(x), op});
}

// Overlapping src and dst views of different offsets are not supported (the CPU's per-row memmove
// is sequential); identical views are a no-op either way.
void cuda_copy(RdBackend *be, const RdTensor *src, RdTensor *dst)
{
    g_assert(src->rows == dst->rows && src->cols == dst->cols);
    if (src->data == dst->data && src->stride == dst->stride && src->dtype == dst->dtype)
        return;
    for_each(cuda_backend(be), src->rows, src->cols, Copy{dev_tensor(src), dev_tensor(dst)});
}
