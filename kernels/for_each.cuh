// Runs a functor f(r, c) over every element of a rows x cols index space: rows on grid.y (strided
// beyond 65535), columns on grid.x and threads, so a warp touches consecutive columns (coalesced).
#pragma once

#include "cuda_common.cuh"

template <typename F> __global__ void for_each_kernel(int64_t rows, int64_t cols, F f)
{
    const int64_t c0 = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    const int64_t c_step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t r = blockIdx.y; r < rows; r += gridDim.y)
        for (int64_t c = c0; c < cols; c += c_step)
            f(r, c);
}

template <typename F> static void for_each_on(cudaStream_t stream, int64_t rows, int64_t cols, F f)
{
    if (rows <= 0 || cols <= 0)
        return;
    const int threads = 256;
    int grid_x = ceil_div(cols, threads);
    if (grid_x > 64)
        grid_x = 64;
    int grid_y = rows < 65535 ? (int)rows : 65535;
    for_each_kernel<<<dim3(grid_x, grid_y), threads, 0, stream>>>(rows, cols, f);
    launchCheck();
}

template <typename F> static void for_each(CudaBackend *cb, int64_t rows, int64_t cols, F f)
{
    for_each_on(cb->stream, rows, cols, f);
}
