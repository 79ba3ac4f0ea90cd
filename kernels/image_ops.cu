// The VAE decoder's image ops on channels-last grids [height * width, C] (pixel (y, x) in row
// y * width + x), same contracts as engine/cpu/image_ops.c:
// - conv2d: 1x1 is a plain linear; 3x3 gathers a band of output pixels into columns (im2col, in
//   PyTorch's (cin, ky, kx) weight order) and multiplies through cuda_linear (cuBLASLt, bf16,
//   f32 accumulation, bias epilogue). The band is sized so the scratch stays under
//   CudaBackend::im2col_bytes whatever the image size.
// - conv2d_down2: the same im2col with stride 2 and no leading padding (the encoder's
//   downsampling; a last row/column past the input reads zeros), [h * w] -> [h/2 * w/2].
// - group_sums / group_norm: per-group sums and sums of squares in double (the CPU's arithmetic),
//   one partial per thread over a stride of rows, folded per block in shared memory, then one
//   global atomic per group and block.
// - upsample_nearest2x: one thread per output element.
#include "for_each.cuh"

#define IM2COL_MIN_PIXELS 256 // below this a band is not worth a GEMM launch: out of memory

// ---------------------------------------------------------------------------------------------
// conv2d

// Output pixel (py, px) of an out_w wide output reads input (py * stride + ky - pad,
// px * stride + kx - pad), zero outside the input.
struct Im2col {
    DevTensor x;
    bf16 *cols; // [np, kdim] contiguous
    int64_t kdim, p0;
    int height, width, kernel, stride, pad, out_w;
    __device__ void operator()(int64_t i, int64_t j) const
    {
        const int kk = kernel * kernel;
        const int64_t c = j / kk;
        const int k = (int)(j - c * kk);
        const int ky = k / kernel, kx = k - ky * kernel;
        const int64_t p = p0 + i, py = p / out_w, px = p - py * out_w;
        const int64_t sy = py * stride + ky - pad, sx = px * stride + kx - pad;
        float v = 0.0f;
        if (sy >= 0 && sy < height && sx >= 0 && sx < width)
            v = dev_load(x, sy * width + sx, c);
        cols[i * kdim + j] = __float2bfloat16_rn(v);
    }
};

// Scratch for bands of `band` pixels, halving the band while the pool cannot provide it; NULL
// (the failure kept for rd_backend_check) when not even the smallest band fits.
static bf16 *im2col_scratch(CudaBackend *cb, int64_t kdim, int64_t *band)
{
    for (;;) {
        const bool last = *band <= IM2COL_MIN_PIXELS;
        GError *error = NULL;
        bf16 *cols = (bf16 *)cuda_try_alloc(cb, (size_t)(*band * kdim) * sizeof(bf16),
                                            "the convolution's im2col band", last ? &error : NULL);
        if (cols)
            return cols;
        if (last) {
            cuda_op_fail(cb, error);
            return NULL;
        }
        *band = *band / 2 > IM2COL_MIN_PIXELS ? *band / 2 : IM2COL_MIN_PIXELS;
    }
}

// Both convolutions: stride 1 with padding kernel / 2 (same size), or stride 2 without leading
// padding (half size); x is [height * width, Cin], y [out pixels, Cout].
static void conv_any(RdBackend *be, const RdTensor *x, int height, int width, const RdWeight *w,
                     const RdWeight *bias, int kernel, int stride, RdTensor *y)
{
    CudaBackend *cb = cuda_backend(be);
    const int out_h = stride == 1 ? height : height / 2, out_w = stride == 1 ? width : width / 2;
    const int pad = stride == 1 ? kernel / 2 : 0;
    const int64_t pixels = (int64_t)out_h * out_w, kdim = x->cols * kernel * kernel;
    g_assert(kernel == 1 || kernel == 3);
    g_assert(x->rows == (int64_t)height * width && y->rows == pixels && w->cols == kdim &&
             y->cols == w->rows);
    g_assert(y->dtype == RD_BF16);
    if ((kernel == 1 && stride == 1) || kdim == 0 || pixels == 0) { // nothing to gather: a linear
        cuda_linear(be, x, w, bias, y);
        return;
    }
    int64_t band = (int64_t)(cb->im2col_bytes / ((size_t)kdim * sizeof(bf16)));
    band = band < 1 ? 1 : band;
    band = band < pixels ? band : pixels;
    bf16 *cols = im2col_scratch(cb, kdim, &band);
    if (!cols)
        return; // out of memory: rd_backend_check reports it
    const DevTensor xd = dev_tensor(x);
    for (int64_t p0 = 0; p0 < pixels; p0 += band) {
        const int64_t np = pixels - p0 < band ? pixels - p0 : band;
        for_each(cb, np, kdim,
                 Im2col{xd, cols, kdim, p0, height, width, kernel, stride, pad, out_w});
        RdTensor a = {cols, np, kdim, kdim, RD_BF16};
        RdTensor yv = {(bf16 *)y->data + p0 * y->stride, np, y->cols, y->stride, RD_BF16};
        cuda_linear(be, &a, w, bias, &yv);
    }
    cuda_free(cb, cols); // stream-ordered: after the last GEMM has read it
}

void cuda_conv2d(RdBackend *be, const RdTensor *x, int height, int width, const RdWeight *w,
                 const RdWeight *bias, int kernel, RdTensor *y)
{
    conv_any(be, x, height, width, w, bias, kernel, 1, y);
}

void cuda_conv2d_down2(RdBackend *be, const RdTensor *x, int height, int width, const RdWeight *w,
                       const RdWeight *bias, RdTensor *y)
{
    g_assert(height % 2 == 0 && width % 2 == 0);
    conv_any(be, x, height, width, w, bias, 3, 2, y);
}

// ---------------------------------------------------------------------------------------------
// Group statistics

// Block (tx, ty): thread x takes column blockIdx.y * tx + x, thread y every ty-th row of a
// grid-stride loop. sums: [groups] sums then [groups] sums of squares, added to.
static __global__ void group_sums_kernel(DevTensor x, int groups, int per, double *sums)
{
    extern __shared__ double shared_sums[]; // [2 * groups this tile touches]
    const int tid = threadIdx.y * blockDim.x + threadIdx.x, nthreads = blockDim.x * blockDim.y;
    const int64_t tile0 = (int64_t)blockIdx.y * blockDim.x;
    const int64_t tile_end = min(x.cols, tile0 + (int64_t)blockDim.x);
    const int g0 = (int)(tile0 / per), ng = (int)((tile_end - 1) / per) - g0 + 1;
    for (int i = tid; i < 2 * ng; i += nthreads)
        shared_sums[i] = 0.0;
    __syncthreads();
    const int64_t c = tile0 + threadIdx.x;
    if (c < x.cols) {
        double s = 0.0, s2 = 0.0;
        for (int64_t r = (int64_t)blockIdx.x * blockDim.y + threadIdx.y; r < x.rows;
             r += (int64_t)gridDim.x * blockDim.y) {
            const double v = dev_load(x, r, c);
            s += v;
            s2 += v * v;
        }
        const int g = (int)(c / per) - g0;
        atomicAdd(&shared_sums[g], s);
        atomicAdd(&shared_sums[ng + g], s2);
    }
    __syncthreads();
    for (int i = tid; i < ng; i += nthreads) {
        atomicAdd(&sums[g0 + i], shared_sums[i]);
        atomicAdd(&sums[groups + g0 + i], shared_sums[ng + i]);
    }
}

// Zeroes sums [2 * groups] (device) and adds x's per-group sums and sums of squares into it.
static void device_group_sums(CudaBackend *cb, const RdTensor *x, int groups, double *sums)
{
    g_assert(groups > 0 && x->cols % groups == 0);
    cudaCheck(cudaMemsetAsync(sums, 0, 2 * (size_t)groups * sizeof(double), cb->stream));
    if (x->rows == 0 || x->cols == 0)
        return;
    const int per = (int)(x->cols / groups);
    const int tx = x->cols >= 256 ? 256 : (int)((x->cols + 31) / 32 * 32), ty = 256 / tx;
    const int64_t row_blocks = (x->rows + ty - 1) / ty, cap = (int64_t)cb->sm_count * 8;
    const dim3 grid((unsigned)(row_blocks < cap ? row_blocks : cap),
                    (unsigned)ceil_div(x->cols, tx));
    const size_t smem = 2 * (size_t)tx * sizeof(double); // a tile touches at most tx groups
    group_sums_kernel<<<grid, dim3(tx, ty), smem, cb->stream>>>(dev_tensor(x), groups, per, sums);
    launchCheck();
}

void cuda_group_sums(RdBackend *be, const RdTensor *x, int groups, double *sum, double *sumsq)
{
    CudaBackend *cb = cuda_backend(be);
    double *dev = (double *)cuda_op_alloc(cb, 2 * (size_t)groups * sizeof(double), "group sums");
    if (!dev)
        return; // out of memory: the sums stay as they were; rd_backend_check reports it
    device_group_sums(cb, x, groups, dev);
    double *host = g_new(double, 2 * (size_t)groups);
    cudaCheck(cudaMemcpyAsync(host, dev, 2 * (size_t)groups * sizeof(double),
                              cudaMemcpyDeviceToHost, cb->stream));
    cuda_free(cb, dev);
    cudaCheck(cudaStreamSynchronize(cb->stream));
    for (int k = 0; k < groups; k++) {
        sum[k] += host[k];
        sumsq[k] += host[groups + k];
    }
    g_free(host);
}

// ---------------------------------------------------------------------------------------------
// GroupNorm: y = x * scale[c] + shift[c], scale and shift from the group statistics in double
// exactly as the CPU computes them.

static __global__ void group_affine_kernel(const double *sums, int groups, int per, double count,
                                           const bf16 *weight, const bf16 *bias, float eps,
                                           int channels, float *scale, float *shift)
{
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= channels)
        return;
    const int k = c / per;
    const double mean = sums[k] / count;
    const double var = fmax(sums[groups + k] / count - mean * mean, 0.0);
    const double inv = 1.0 / sqrt(var + eps);
    const float g = weight ? __bfloat162float(weight[c]) : 1.0f;
    const float b = bias ? __bfloat162float(bias[c]) : 0.0f;
    scale[c] = (float)(g * inv);
    shift[c] = (float)(b - mean * inv * g);
}

struct ChannelAffine {
    DevTensor x, y;
    const float *scale, *shift;
    __device__ void operator()(int64_t r, int64_t c) const
    {
        dev_store(y, r, c, dev_load(x, r, c) * scale[c] + shift[c]);
    }
};

void cuda_group_norm(RdBackend *be, const RdTensor *x, int groups, const RdWeight *weight,
                     const RdWeight *bias, float eps, RdTensor *y)
{
    CudaBackend *cb = cuda_backend(be);
    const int64_t C = x->cols;
    g_assert(groups > 0 && C % groups == 0 && y->rows == x->rows && y->cols == C);
    g_assert(!weight || weight->rows * weight->cols == C);
    g_assert(!bias || bias->rows * bias->cols == C);
    if (x->rows == 0 || C == 0)
        return;
    const bf16 *g = weight ? weight_device(weight) : NULL;
    const bf16 *b = bias ? weight_device(bias) : NULL;
    // One scratch block: the sums (doubles first, so the floats after them stay aligned).
    const size_t sum_bytes = 2 * (size_t)groups * sizeof(double);
    char *scratch = (char *)cuda_op_alloc(cb, sum_bytes + 2 * (size_t)C * sizeof(float),
                                          "group norm statistics");
    if (!scratch)
        return; // out of memory: rd_backend_check reports it
    double *sums = (double *)scratch;
    float *scale = (float *)(scratch + sum_bytes), *shift = scale + C;
    device_group_sums(cb, x, groups, sums);
    const int per = (int)(C / groups);
    group_affine_kernel<<<ceil_div(C, 256), 256, 0, cb->stream>>>(
        sums, groups, per, (double)x->rows * per, g, b, eps, (int)C, scale, shift);
    launchCheck();
    // y may alias x: every element is read by the thread that writes it.
    for_each(cb, x->rows, C, ChannelAffine{dev_tensor(x), dev_tensor(y), scale, shift});
    cuda_free(cb, scratch);
}

// ---------------------------------------------------------------------------------------------
// Nearest-neighbour 2x

struct Upsample2x {
    DevTensor x, y;
    int64_t width; // of x
    __device__ void operator()(int64_t r, int64_t c) const
    {
        const int64_t oy = r / (2 * width), ox = r - oy * 2 * width;
        dev_store(y, r, c, dev_load(x, (oy / 2) * width + ox / 2, c));
    }
};

void cuda_upsample_nearest2x(RdBackend *be, const RdTensor *x, int height, int width, RdTensor *y)
{
    g_assert(x->rows == (int64_t)height * width && y->rows == 4 * x->rows && y->cols == x->cols);
    for_each(cuda_backend(be), y->rows, y->cols, Upsample2x{dev_tensor(x), dev_tensor(y), width});
}
