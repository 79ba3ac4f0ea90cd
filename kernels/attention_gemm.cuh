// Attention for large head dims (the VAE's single 512-dim head over up to 262 144 positions):
// flash attention at the level of tiles, the products on tensor cores through cuBLAS. Per chunk
// of queries and tile of keys: S = scale * Q K^T (bf16 in, f32 out), a row kernel turns S into
// P = exp(S - m) in bf16 with the running max m and sum l and rescales the f32 accumulator O,
// then O += P V (bf16 in, f32 accumulate). At the end out = O / l. The scratch is bounded by
// the tile sizes (about 52 MiB for head dim 512), whatever the sequence lengths.
#pragma once

#include <math.h>

#include "for_each.cuh"
#include "norms.cuh" // warp_sum, warp_max

namespace attention_gemm
{

constexpr int64_t Q_CHUNK = 2048;
constexpr int64_t K_TILE = 4096;
constexpr int MIN_HEAD_DIM = 256; // below, the mma or generic kernels are the better choice
constexpr int ROW_THREADS = 256;

static bool supported(int head_dim, int64_t k_rows, bool causal, bool bias, bool all_bf16)
{
    return head_dim >= MIN_HEAD_DIM && k_rows > 0 && !causal && !bias && all_bf16;
}

// Reduction over the block (ROW_THREADS threads); every thread gets the result.
template <bool IS_MAX> __device__ float block_reduce(float v, float *shared)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x / 32;
    v = IS_MAX ? warp_max(v) : warp_sum(v);
    if (lane == 0)
        shared[warp] = v;
    __syncthreads();
    v = lane < ROW_THREADS / 32 ? shared[lane] : (IS_MAX ? -INFINITY : 0.0f);
    v = IS_MAX ? warp_max(v) : warp_sum(v);
    __syncthreads(); // shared is reused by the next reduction
    return v;
}

// One block per query row of the chunk: s [rows, ld] scores of this key tile (n_keys valid),
// p [rows, ld] the probabilities out, o [rows, head_dim] the accumulator, m and l per row.
static __global__ void __launch_bounds__(ROW_THREADS)
    softmax_tile_kernel(const float *s, bf16 *p, int64_t ld, int64_t n_keys, float *o, int head_dim,
                        float *m, float *l)
{
    __shared__ float shared[32];
    const int64_t r = blockIdx.x;
    const float *srow = s + r * ld;
    bf16 *prow = p + r * ld;
    float tile_max = -INFINITY;
    for (int64_t j = threadIdx.x; j < n_keys; j += ROW_THREADS)
        tile_max = fmaxf(tile_max, srow[j]);
    tile_max = block_reduce<true>(tile_max, shared);
    const float m_old = m[r], m_new = fmaxf(m_old, tile_max);
    const float correction = expf(m_old - m_new); // 0 on the first tile (m_old = -inf)
    float sum = 0.0f;
    for (int64_t j = threadIdx.x; j < n_keys; j += ROW_THREADS) {
        const bf16 pb = __float2bfloat16_rn(expf(srow[j] - m_new));
        prow[j] = pb;
        sum += __bfloat162float(pb); // l sums exactly the weights the product will use
    }
    sum = block_reduce<false>(sum, shared); // its barriers order the reads of m[r] before
    if (threadIdx.x == 0) {
        l[r] = l[r] * correction + sum;
        m[r] = m_new;
    }
    float *orow = o + r * head_dim;
    for (int d = threadIdx.x; d < head_dim; d += ROW_THREADS)
        orow[d] *= correction;
}

struct InitRows {
    float *m, *l;
    __device__ void operator()(int64_t, int64_t r) const
    {
        m[r] = -INFINITY;
        l[r] = 0.0f;
    }
};

struct Finish {
    const float *o, *l;
    int head_dim;
    DevTensor out; // the chunk's rows of out
    int64_t col0;
    __device__ void operator()(int64_t r, int64_t d) const
    {
        dev_store(out, r, col0 + d, o[r * head_dim + d] / l[r]);
    }
};

struct Scratch {
    float *s, *o, *m, *l;
    bf16 *p;
};

static void *scratch_alloc(CudaBackend *cb, size_t bytes)
{
    return cuda_op_alloc(cb, bytes, "attention tiles"); // NULL: kept for rd_backend_check
}

static void gemm_bf16_f32(CudaBackend *cb, cublasOperation_t ta, int m, int n, int k,
                          const float *alpha, const void *a, int64_t lda, const void *b,
                          int64_t ldb, const float *beta, float *c, int64_t ldc)
{
    cublasCheck(cublasGemmEx(cb->blas, ta, CUBLAS_OP_N, m, n, k, alpha, a, CUDA_R_16BF, (int)lda, b,
                             CUDA_R_16BF, (int)ldb, beta, c, CUDA_R_32F, (int)ldc,
                             CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

// One head over one chunk of queries (rows q0 .. q0 + nq - 1), every key tile.
static void chunk(CudaBackend *cb, const Scratch &t, const RdTensor *q, const RdTensor *k,
                  const RdTensor *v, RdTensor *out, int64_t q0, int64_t nq, int64_t col0,
                  int head_dim, int64_t ld)
{
    const float scale = 1.0f / sqrtf((float)head_dim), one = 1.0f, zero = 0.0f;
    const bf16 *qp = (const bf16 *)q->data + q0 * q->stride + col0;
    cudaCheck(cudaMemsetAsync(t.o, 0, (size_t)(nq * head_dim) * sizeof(float), cb->stream));
    for_each(cb, 1, nq, InitRows{t.m, t.l});
    for (int64_t k0 = 0; k0 < k->rows; k0 += ld) {
        const int64_t nk = k->rows - k0 < ld ? k->rows - k0 : ld;
        const bf16 *kp = (const bf16 *)k->data + k0 * k->stride + col0;
        const bf16 *vp = (const bf16 *)v->data + k0 * v->stride + col0;
        // Row-major S [nq, nk] is column-major S^T = K Q^T (as in linear.cu).
        gemm_bf16_f32(cb, CUBLAS_OP_T, (int)nk, (int)nq, head_dim, &scale, kp, k->stride, qp,
                      q->stride, &zero, t.s, ld);
        softmax_tile_kernel<<<(unsigned)nq, ROW_THREADS, 0, cb->stream>>>(t.s, t.p, ld, nk, t.o,
                                                                          head_dim, t.m, t.l);
        launchCheck();
        // Row-major O [nq, D] += P [nq, nk] V [nk, D]: column-major O^T += V^T P^T.
        gemm_bf16_f32(cb, CUBLAS_OP_N, head_dim, (int)nq, (int)nk, &one, vp, v->stride, t.p, ld,
                      &one, t.o, head_dim);
    }
    RdTensor rows = *out;
    rows.data = (bf16 *)out->data + q0 * out->stride;
    rows.rows = nq;
    for_each(cb, nq, head_dim, Finish{t.o, t.l, head_dim, dev_tensor(&rows), col0});
}

static void run(CudaBackend *cb, const RdTensor *q, const RdTensor *k, const RdTensor *v,
                RdTensor *out, int heads, int head_dim)
{
    if (q->rows == 0)
        return;
    const int64_t qc = q->rows < Q_CHUNK ? q->rows : Q_CHUNK;
    const int64_t ld = k->rows < K_TILE ? k->rows : K_TILE;
    Scratch t;
    t.s = (float *)scratch_alloc(cb, (size_t)(qc * ld) * sizeof(float));
    t.p = (bf16 *)scratch_alloc(cb, (size_t)(qc * ld) * sizeof(bf16));
    t.o = (float *)scratch_alloc(cb, (size_t)(qc * (head_dim + 2)) * sizeof(float));
    if (!t.s || !t.p || !t.o) { // out of memory: the output is left as it was
        cuda_free(cb, t.s);
        cuda_free(cb, t.p);
        cuda_free(cb, t.o);
        return;
    }
    t.m = t.o + qc * head_dim;
    t.l = t.m + qc;
    for (int h = 0; h < heads; h++)
        for (int64_t q0 = 0; q0 < q->rows; q0 += qc)
            chunk(cb, t, q, k, v, out, q0, q->rows - q0 < qc ? q->rows - q0 : qc,
                  (int64_t)h * head_dim, head_dim, ld);
    cuda_free(cb, t.s);
    cuda_free(cb, t.p);
    cuda_free(cb, t.o);
}

} // namespace attention_gemm
