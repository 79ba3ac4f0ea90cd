/* Rotary embedding on adjacent pairs (2j, 2j+1), as FLUX does it. */
#include "cpu_ops.h"

void cpu_rope(RdBackend *be, RdTensor *x, const RdTensor *cos, const RdTensor *sin, int heads,
              int head_dim)
{
    g_assert(x->cols == (int64_t)heads * head_dim && cos->cols == head_dim / 2);
    g_assert(cos->rows == x->rows && sin->rows == x->rows);
    const int pairs = head_dim / 2;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < x->rows; r++) {
        const float *cr = &RD_AT(cos, r, 0), *sr = &RD_AT(sin, r, 0);
        for (int h = 0; h < heads; h++) {
            float *xh = &RD_AT(x, r, (int64_t)h * head_dim);
            for (int j = 0; j < pairs; j++) {
                float a = xh[2 * j], b = xh[2 * j + 1];
                xh[2 * j] = a * cr[j] - b * sr[j];
                xh[2 * j + 1] = b * cr[j] + a * sr[j];
            }
        }
    }
}
