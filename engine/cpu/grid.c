/* Token-grid windows for the local branch: gather a patch, splice it back with weights (GWS). */
#include "cpu_ops.h"

#include <string.h>

void cpu_grid_gather(RdBackend *be, const RdTensor *grid, int grid_cols, RdWindow win,
                     RdTensor *dst)
{
    g_assert(dst->rows == (int64_t)win.h * win.w && dst->cols == grid->cols);
#pragma omp parallel for schedule(static)
    for (int r = 0; r < win.h; r++)
        for (int c = 0; c < win.w; c++) {
            int64_t src_row = (int64_t)(win.r0 + r) * grid_cols + win.c0 + c;
            memcpy(&RD_AT(dst, (int64_t)r * win.w + c, 0), &RD_AT(grid, src_row, 0),
                   (size_t)grid->cols * sizeof(float));
        }
}

void cpu_grid_splice(RdBackend *be, const RdTensor *patch, const RdTensor *row_weight,
                     const RdTensor *col_weight, RdTensor *grid, int grid_cols, RdWindow win)
{
    g_assert(patch->rows == (int64_t)win.h * win.w && patch->cols == grid->cols);
    const float *wr = row_weight->data, *wc = col_weight->data;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < win.h; r++)
        for (int c = 0; c < win.w; c++) {
            float wgt = wr[r] * wc[c];
            const float *src = &RD_AT(patch, (int64_t)r * win.w + c, 0);
            float *dst = &RD_AT(grid, (int64_t)(win.r0 + r) * grid_cols + win.c0 + c, 0);
            for (int64_t ch = 0; ch < grid->cols; ch++)
                dst[ch] += wgt * src[ch];
        }
}
