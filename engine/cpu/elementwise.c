/* Elementwise ops: modulation, gated residuals, activations. */
#include "cpu_ops.h"

#include <math.h>

void cpu_modulate(RdBackend *be, const RdTensor *x, const RdTensor *shift, const RdTensor *scale,
                  RdTensor *y)
{
    g_assert(shift->cols == x->cols && scale->cols == x->cols);
    const float *sh = shift->data, *sc = scale->data;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < x->rows; r++) {
        const float *xr = &RD_AT(x, r, 0);
        float *yr = &RD_AT(y, r, 0);
        for (int64_t c = 0; c < x->cols; c++)
            yr[c] = xr[c] * (1.0f + sc[c]) + sh[c];
    }
}

void cpu_gated_add(RdBackend *be, RdTensor *x, const RdTensor *gate, const RdTensor *y)
{
    g_assert(x->rows == y->rows && x->cols == y->cols);
    const float *g = gate ? gate->data : NULL;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < x->rows; r++) {
        float *xr = &RD_AT(x, r, 0);
        const float *yr = &RD_AT(y, r, 0);
        for (int64_t c = 0; c < x->cols; c++)
            xr[c] += (g ? g[c] : 1.0f) * yr[c];
    }
}

void cpu_mul(RdBackend *be, RdTensor *x, const RdTensor *y)
{
    g_assert(x->rows == y->rows && x->cols == y->cols);
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < x->rows; r++) {
        float *xr = &RD_AT(x, r, 0);
        const float *yr = &RD_AT(y, r, 0);
        for (int64_t c = 0; c < x->cols; c++)
            xr[c] *= yr[c];
    }
}

void cpu_fill(RdBackend *be, RdTensor *x, float value)
{
    for (int64_t r = 0; r < x->rows; r++) {
        float *xr = &RD_AT(x, r, 0);
        for (int64_t c = 0; c < x->cols; c++)
            xr[c] = value;
    }
}

void cpu_scale_add(RdBackend *be, RdTensor *x, float a, float b)
{
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < x->rows; r++) {
        float *xr = &RD_AT(x, r, 0);
        for (int64_t c = 0; c < x->cols; c++)
            xr[c] = xr[c] * a + b;
    }
}

static float apply_unary(RdUnaryOp op, float v)
{
    switch (op) {
    case RD_UNARY_SILU:
        return v / (1.0f + expf(-v));
    case RD_UNARY_GELU_TANH: {
        const float k = 0.7978845608028654f; /* sqrt(2 / pi) */
        return 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v)));
    }
    case RD_UNARY_GELU_ERF:
        return 0.5f * v * (1.0f + erff(v * 0.7071067811865476f));
    case RD_UNARY_GELU_QUICK:
        return v / (1.0f + expf(-1.702f * v));
    }
    return v;
}

void cpu_unary(RdBackend *be, RdUnaryOp op, RdTensor *x)
{
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < x->rows; r++) {
        float *xr = &RD_AT(x, r, 0);
        for (int64_t c = 0; c < x->cols; c++)
            xr[c] = apply_unary(op, xr[c]);
    }
}
