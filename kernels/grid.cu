// Token-grid windows for the local branch: gather a patch, splice it back with weights (GWS).
#include "for_each.cuh"

// Row of the grid tensor holding patch token i (row-major inside the window).
__device__ __forceinline__ int64_t window_row(RdWindow win, int grid_cols, int64_t i)
{
    return (int64_t)(win.r0 + i / win.w) * grid_cols + win.c0 + i % win.w;
}

struct Gather {
    DevTensor grid, dst;
    RdWindow win;
    int grid_cols;
    __device__ void operator()(int64_t i, int64_t ch) const
    {
        dev_store(dst, i, ch, dev_load(grid, window_row(win, grid_cols, i), ch));
    }
};

void cuda_grid_gather(RdBackend *be, const RdTensor *grid, int grid_cols, RdWindow win,
                      RdTensor *dst)
{
    g_assert(dst->rows == (int64_t)win.h * win.w && dst->cols == grid->cols);
    g_assert(win.r0 >= 0 && win.c0 >= 0 && win.c0 + win.w <= grid_cols);
    g_assert((int64_t)(win.r0 + win.h) * grid_cols <= grid->rows);
    for_each(cuda_backend(be), dst->rows, dst->cols,
             Gather{dev_tensor(grid), dev_tensor(dst), win, grid_cols});
}

struct Splice {
    DevTensor patch, row_weight, col_weight, grid;
    RdWindow win;
    int grid_cols;
    __device__ void operator()(int64_t i, int64_t ch) const
    {
        float wgt = dev_load(row_weight, 0, i / win.w) * dev_load(col_weight, 0, i % win.w);
        int64_t g = window_row(win, grid_cols, i);
        dev_store(grid, g, ch, dev_load(grid, g, ch) + wgt * dev_load(patch, i, ch));
    }
};

void cuda_grid_splice(RdBackend *be, const RdTensor *patch, const RdTensor *row_weight,
                      const RdTensor *col_weight, RdTensor *grid, int grid_cols, RdWindow win)
{
    g_assert(patch->rows == (int64_t)win.h * win.w && patch->cols == grid->cols);
    g_assert(row_weight->cols >= win.h && col_weight->cols >= win.w);
    g_assert(win.r0 >= 0 && win.c0 >= 0 && win.c0 + win.w <= grid_cols);
    g_assert((int64_t)(win.r0 + win.h) * grid_cols <= grid->rows);
    for_each(cuda_backend(be), patch->rows, patch->cols,
             Splice{dev_tensor(patch), dev_tensor(row_weight), dev_tensor(col_weight),
                    dev_tensor(grid), win, grid_cols});
}
