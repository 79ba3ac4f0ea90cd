// Flash attention (FlashAttention-2 scheme) on tensor cores with mma.sync m16n8k16 bf16 (sm_80+).
//
// One block = 4 warps = 64 queries of one head; each warp owns 16 query rows and keeps its Q
// fragments, the running max/sum and the output accumulator in registers. Keys and values stream
// through shared memory in tiles of 64 rows, double-buffered with cp.async. Scores are scaled by
// log2(e) / sqrt(D) so the softmax uses exp2. Rows of shared memory are padded by 16 bytes so the
// fragment loads (8 rows x 4 lanes) and ldmatrix (8 rows x 16 bytes) hit 32 distinct banks.
//
// Requirements (checked by supported()): D in {64, 128}, every row start 16-byte
// aligned (pointers and strides), at least one key.
//
// Fragment layouts (PTX ISA, mma.m16n8k16, g = lane / 4, t = lane % 4):
//   A (16x16, row-major): a0 = (g, 2t..2t+1), a1 = (g+8, 2t..), a2 = (g, 2t+8..),
//                         a3 = (g+8, 2t+8..)
//   B (16x8, "col"):      b0 = (k 2t..2t+1, n g), b1 = (k 2t+8.., n g)
//   C (16x8, f32):        c0,c1 = (g, 2t..2t+1), c2,c3 = (g+8, 2t..2t+1)
//
// tests/kernel-emu runs this kernel's source on the CPU, lane by lane, with the PTX helpers
// (attention_mma_ptx.cuh) emulated; see kernels/README.md.
#pragma once

#include <math.h>
#include <stdint.h>

// The PTX helpers (cp.async, ldmatrix, mma.sync, bf16 packing). A host build of the kernel
// (tests/kernel-emu) includes its emulation of them, which defines RD_WARP_EMULATION, first.
#ifndef RD_WARP_EMULATION
#include <atomic>

#include "attention_mma_ptx.cuh"
#endif

namespace attention_mma
{

constexpr int BR = 64; // queries per block
constexpr int BC = 64; // keys per tile
constexpr int THREADS = 128;
constexpr int PAD = 8; // bf16 elements of padding per shared-memory row

template <int D> constexpr int smem_bytes()
{
    return (BR + 4 * BC) * (D + PAD) * (int)sizeof(bf16); // Q + 2 x (K, V)
}

// Copies rows row0..row0+63 (zeros past n_rows) of a [*, D] head slice into shared memory.
template <int D>
__device__ __forceinline__ void load_tile(bf16 *dst, const bf16 *src, int64_t stride, int row0,
                                          int n_rows)
{
    constexpr int CHUNKS = D / 8; // 16-byte chunks per row
    for (int i = threadIdx.x; i < 64 * CHUNKS; i += THREADS) {
        const int r = i / CHUNKS, ch = i % CHUNKS;
        const int row = row0 + r;
        const bool valid = row < n_rows;
        const bf16 *s = src + (int64_t)(valid ? row : 0) * stride + ch * 8;
        cp_async_16(dst + r * (D + PAD) + ch * 8, s, valid);
    }
}

// K_LDMATRIX: K fragments through ldmatrix.x4 (4 registers per instruction) instead of 32-bit
// shared loads. Off in the backend until measured and checked on a GPU (dev-attention version 3).
template <int D, bool K_LDMATRIX = false>
__global__ void __launch_bounds__(THREADS)
    flash_kernel(const bf16 *__restrict__ q, int64_t q_stride, const bf16 *__restrict__ k,
                 int64_t k_stride, const bf16 *__restrict__ v, int64_t v_stride,
                 bf16 *__restrict__ out, int64_t out_stride, int nq, int nk, float scale_log2)
{
    constexpr int LDS = D + PAD;
    constexpr int KT = D / 16; // k-steps of Q K^T
    constexpr int DT = D / 8;  // 8-wide column tiles of the output
    constexpr int NT = BC / 8; // 8-wide key tiles of the scores
    extern __shared__ __align__(16) unsigned char smem_raw[];
    bf16 *q_s = reinterpret_cast<bf16 *>(smem_raw);
    bf16 *k_s = q_s + BR * LDS; // two buffers of BC * LDS
    bf16 *v_s = k_s + 2 * BC * LDS;

    const int head = blockIdx.y;
    const int q0 = blockIdx.x * BR;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int g = lane >> 2, t = lane & 3;
    q += (int64_t)head * D;
    k += (int64_t)head * D;
    v += (int64_t)head * D;
    out += (int64_t)head * D;

    load_tile<D>(q_s, q, q_stride, q0, nq);
    cp_async_commit();
    load_tile<D>(k_s, k, k_stride, 0, nk);
    load_tile<D>(v_s, v, v_stride, 0, nk);
    cp_async_commit();
    cp_async_wait<1>(); // Q has landed
    __syncthreads();

    uint32_t qf[KT][4];
    {
        const bf16 *qw = q_s + warp * 16 * LDS;
#pragma unroll
        for (int kk = 0; kk < KT; kk++) {
            qf[kk][0] = lds32(qw + g * LDS + kk * 16 + 2 * t);
            qf[kk][1] = lds32(qw + (g + 8) * LDS + kk * 16 + 2 * t);
            qf[kk][2] = lds32(qw + g * LDS + kk * 16 + 8 + 2 * t);
            qf[kk][3] = lds32(qw + (g + 8) * LDS + kk * 16 + 8 + 2 * t);
        }
    }

    float row_max[2] = {-INFINITY, -INFINITY};
    float row_sum[2] = {0.0f, 0.0f}; // partial: this lane's columns only, reduced at the end
    float acc[DT][4];
#pragma unroll
    for (int dt = 0; dt < DT; dt++)
        acc[dt][0] = acc[dt][1] = acc[dt][2] = acc[dt][3] = 0.0f;

    const int tiles = (nk + BC - 1) / BC;
    for (int j = 0; j < tiles; j++) {
        const int buf = j & 1;
        if (j + 1 < tiles) {
            load_tile<D>(k_s + (buf ^ 1) * BC * LDS, k, k_stride, (j + 1) * BC, nk);
            load_tile<D>(v_s + (buf ^ 1) * BC * LDS, v, v_stride, (j + 1) * BC, nk);
            cp_async_commit();
            cp_async_wait<1>(); // tile j has landed, tile j + 1 may be in flight
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();

        // S = Q K^T for this warp's 16 rows and the tile's 64 keys.
        const bf16 *ks = k_s + buf * BC * LDS;
        float s[NT][4];
        if constexpr (K_LDMATRIX) {
            // Matrices: 0 = keys +0..7, d +0..7 (b0 of tile 2 nt2); 1 = keys +0..7, d +8..15
            // (b1); 2 and 3 = the same for keys +8..15 (tile 2 nt2 + 1).
            const int mat = lane >> 3, mat_row = lane & 7;
            const bf16 *krow = ks + (mat_row + (mat >> 1) * 8) * LDS + (mat & 1) * 8;
#pragma unroll
            for (int nt2 = 0; nt2 < NT / 2; nt2++) {
#pragma unroll
                for (int e = 0; e < 4; e++)
                    s[2 * nt2][e] = s[2 * nt2 + 1][e] = 0.0f;
#pragma unroll
                for (int kk = 0; kk < KT; kk++) {
                    uint32_t b[4];
                    ldmatrix_x4(b, krow + nt2 * 16 * LDS + kk * 16);
                    mma_16816(s[2 * nt2], qf[kk], b[0], b[1]);
                    mma_16816(s[2 * nt2 + 1], qf[kk], b[2], b[3]);
                }
            }
        } else {
#pragma unroll
            for (int nt = 0; nt < NT; nt++) {
                s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
                const bf16 *kr = ks + (nt * 8 + g) * LDS + 2 * t;
#pragma unroll
                for (int kk = 0; kk < KT; kk++)
                    mma_16816(s[nt], qf[kk], lds32(kr + kk * 16), lds32(kr + kk * 16 + 8));
            }
        }

        // Online softmax (rows g and g + 8 of the warp's 16).
        const int key0 = j * BC;
        float tile_max[2] = {row_max[0], row_max[1]};
#pragma unroll
        for (int nt = 0; nt < NT; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int key = key0 + nt * 8 + 2 * t + (e & 1);
                const float val = key < nk ? s[nt][e] * scale_log2 : -INFINITY;
                s[nt][e] = val;
                tile_max[e >> 1] = fmaxf(tile_max[e >> 1], val);
            }
        float correction[2];
#pragma unroll
        for (int i = 0; i < 2; i++) {
            tile_max[i] = fmaxf(tile_max[i], __shfl_xor_sync(0xffffffffu, tile_max[i], 1));
            tile_max[i] = fmaxf(tile_max[i], __shfl_xor_sync(0xffffffffu, tile_max[i], 2));
            // Every tile holds at least one real key, so tile_max is finite here.
            correction[i] = exp2f(row_max[i] - tile_max[i]);
            row_max[i] = tile_max[i];
            row_sum[i] *= correction[i];
        }
#pragma unroll
        for (int nt = 0; nt < NT; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const float p = exp2f(s[nt][e] - row_max[e >> 1]);
                s[nt][e] = p;
                row_sum[e >> 1] += p;
            }
#pragma unroll
        for (int dt = 0; dt < DT; dt++) {
            acc[dt][0] *= correction[0];
            acc[dt][1] *= correction[0];
            acc[dt][2] *= correction[1];
            acc[dt][3] *= correction[1];
        }

        // O += P V: P from the score registers (C layout of two n-tiles = A layout of one
        // k-step), V^T fragments from ldmatrix.trans.
        const bf16 *vs = v_s + buf * BC * LDS;
        const int mat = lane >> 3, mat_row = lane & 7;
#pragma unroll
        for (int kt = 0; kt < BC / 16; kt++) {
            uint32_t a[4];
            a[0] = pack_bf16(s[2 * kt][0], s[2 * kt][1]);
            a[1] = pack_bf16(s[2 * kt][2], s[2 * kt][3]);
            a[2] = pack_bf16(s[2 * kt + 1][0], s[2 * kt + 1][1]);
            a[3] = pack_bf16(s[2 * kt + 1][2], s[2 * kt + 1][3]);
            // Matrices: 0 = keys +0..7, cols +0..7; 1 = keys +8..15, cols +0..7;
            //           2 = keys +0..7, cols +8..15; 3 = keys +8..15, cols +8..15.
            const bf16 *vrow = vs + (kt * 16 + mat_row + (mat & 1) * 8) * LDS + (mat >> 1) * 8;
#pragma unroll
            for (int dt2 = 0; dt2 < D / 16; dt2++) {
                uint32_t b[4];
                ldmatrix_x4_trans(b, vrow + dt2 * 16);
                mma_16816(acc[2 * dt2], a, b[0], b[1]);
                mma_16816(acc[2 * dt2 + 1], a, b[2], b[3]);
            }
        }
        __syncthreads(); // everyone is done with buffer `buf` before it is refilled
    }

    float inv[2];
#pragma unroll
    for (int i = 0; i < 2; i++) {
        float total = row_sum[i];
        total += __shfl_xor_sync(0xffffffffu, total, 1);
        total += __shfl_xor_sync(0xffffffffu, total, 2);
        inv[i] = 1.0f / total;
    }
    const int r0 = q0 + warp * 16 + g, r1 = r0 + 8;
#pragma unroll
    for (int dt = 0; dt < DT; dt++) {
        const int col = dt * 8 + 2 * t;
        if (r0 < nq)
            *reinterpret_cast<__nv_bfloat162 *>(out + (int64_t)r0 * out_stride + col) =
                __floats2bfloat162_rn(acc[dt][0] * inv[0], acc[dt][1] * inv[0]);
        if (r1 < nq)
            *reinterpret_cast<__nv_bfloat162 *>(out + (int64_t)r1 * out_stride + col) =
                __floats2bfloat162_rn(acc[dt][2] * inv[1], acc[dt][3] * inv[1]);
    }
}

static inline bool row_aligned(const void *p, int64_t stride)
{
    return ((uintptr_t)p & 15) == 0 && stride % 8 == 0;
}

static inline bool supported(int head_dim, const void *q, int64_t q_stride, const void *k,
                             int64_t k_stride, const void *v, int64_t v_stride, const void *out,
                             int64_t out_stride, int nk)
{
    return (head_dim == 64 || head_dim == 128) && nk > 0 && row_aligned(q, q_stride) &&
           row_aligned(k, k_stride) && row_aligned(v, v_stride) && row_aligned(out, out_stride);
}

// The factor of the scores: log2(e) / sqrt(D), so that the softmax uses exp2.
static inline float softmax_scale_log2(int head_dim)
{
    return 1.4426950408889634f / sqrtf((float)head_dim);
}

#ifndef RD_WARP_EMULATION
// Shared memory above 48 KB must be opted into once per kernel and device. Several threads may
// run jobs (one backend each, on any device): a bit per device, set after the attribute is, so a
// thread that sees the bit knows the attribute holds; two threads that both miss it both set
// it, which is harmless.
template <int D, bool K_LDMATRIX> static void prepare_kernel()
{
    static std::atomic<uint64_t> done{0};
    int device = 0;
    cudaCheck(cudaGetDevice(&device));
    const uint64_t bit = device < 64 ? (uint64_t)1 << device : 0;
    if (bit && (done.load(std::memory_order_acquire) & bit))
        return;
    cudaCheck(cudaFuncSetAttribute(flash_kernel<D, K_LDMATRIX>,
                                   cudaFuncAttributeMaxDynamicSharedMemorySize, smem_bytes<D>()));
    done.fetch_or(bit, std::memory_order_release);
}

template <int D, bool K_LDMATRIX>
static void launch_d(dim3 grid, const bf16 *q, int64_t q_stride, const bf16 *k, int64_t k_stride,
                     const bf16 *v, int64_t v_stride, bf16 *out, int64_t out_stride, int nq, int nk,
                     float scale_log2, cudaStream_t stream)
{
    prepare_kernel<D, K_LDMATRIX>();
    flash_kernel<D, K_LDMATRIX><<<grid, THREADS, smem_bytes<D>(), stream>>>(
        q, q_stride, k, k_stride, v, v_stride, out, out_stride, nq, nk, scale_log2);
}

// Launches over all heads; pointers are the first element of head 0.
static void launch(int head_dim, const bf16 *q, int64_t q_stride, const bf16 *k, int64_t k_stride,
                   const bf16 *v, int64_t v_stride, bf16 *out, int64_t out_stride, int nq, int nk,
                   int heads, cudaStream_t stream, bool k_ldmatrix = false)
{
    if (nq == 0)
        return;
    dim3 grid((nq + BR - 1) / BR, heads);
    if (head_dim == 64 && !k_ldmatrix)
        launch_d<64, false>(grid, q, q_stride, k, k_stride, v, v_stride, out, out_stride, nq, nk,
                            softmax_scale_log2(head_dim), stream);
    else if (head_dim == 64)
        launch_d<64, true>(grid, q, q_stride, k, k_stride, v, v_stride, out, out_stride, nq, nk,
                           softmax_scale_log2(head_dim), stream);
    else if (!k_ldmatrix)
        launch_d<128, false>(grid, q, q_stride, k, k_stride, v, v_stride, out, out_stride, nq, nk,
                             softmax_scale_log2(head_dim), stream);
    else
        launch_d<128, true>(grid, q, q_stride, k, k_stride, v, v_stride, out, out_stride, nq, nk,
                            softmax_scale_log2(head_dim), stream);
    launchCheck();
}

#endif // RD_WARP_EMULATION

} // namespace attention_mma
