/* LayerNorm and RMSNorm over rows (or groups of columns), accumulated in double. */
#include "cpu_ops.h"

#include <math.h>

static float *weight_f32(const RdWeight *w)
{
    if (!w)
        return NULL;
    float *out = g_new(float, w->rows * w->cols);
    cpu_weight_rows_f32(w, 0, w->rows, out);
    return out;
}

void cpu_layer_norm(RdBackend *be, const RdTensor *x, const RdWeight *weight,
                    const RdWeight *bias, float eps, RdTensor *y)
{
    g_assert(x->rows == y->rows && x->cols == y->cols);
    float *g = weight_f32(weight), *b = weight_f32(bias);
    const int64_t n = x->cols;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < x->rows; r++) {
        const float *xr = &RD_AT(x, r, 0);
        float *yr = &RD_AT(y, r, 0);
        double mean = 0, var = 0;
        for (int64_t c = 0; c < n; c++)
            mean += xr[c];
        mean /= (double)n;
        for (int64_t c = 0; c < n; c++)
            var += (xr[c] - mean) * (xr[c] - mean);
        var /= (double)n;
        float inv = (float)(1.0 / sqrt(var + eps));
        for (int64_t c = 0; c < n; c++) {
            float v = (xr[c] - (float)mean) * inv;
            yr[c] = v * (g ? g[c] : 1.0f) + (b ? b[c] : 0.0f);
        }
    }
    g_free(g);
    g_free(b);
}

void cpu_rms_norm(RdBackend *be, const RdTensor *x, const RdWeight *weight, int group, float eps,
                  RdTensor *y)
{
    g_assert(x->rows == y->rows && x->cols == y->cols && x->cols % group == 0);
    float *g = weight_f32(weight);
    const int64_t groups = x->cols / group;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < x->rows; r++) {
        for (int64_t gi = 0; gi < groups; gi++) {
            const float *xr = &RD_AT(x, r, gi * group);
            float *yr = &RD_AT(y, r, gi * group);
            double ss = 0;
            for (int c = 0; c < group; c++)
                ss += (double)xr[c] * xr[c];
            float inv = (float)(1.0 / sqrt(ss / group + eps));
            for (int c = 0; c < group; c++)
                yr[c] = xr[c] * inv * (g ? g[c] : 1.0f);
        }
    }
    g_free(g);
}
