// The tensor-core flash attention kernel (kernels/attention_mma.cuh) run on the CPU: its own
// source, compiled as host C++ against warp_emulation.h, which emulates every lane of the block
// and the PTX fragment layouts of ldmatrix and mma.sync m16n8k16. Every output element is checked
// against attention in double precision with a bound from the kernel's arithmetic, so a broken
// fragment map, address, mask or softmax step fails here, without a GPU.
#include <glib.h>

#include "warp_emulation.h"

#include "attention_mma.cuh"

#include "test-util.h"

namespace attention_mma
{
// The kernel's dynamic shared memory (extern __shared__ smem_raw[]): blocks run one at a time.
alignas(16) unsigned char smem_raw[smem_bytes<128, 32>()];
} // namespace attention_mma

namespace
{

constexpr uint16_t SENTINEL = 0x7fa1; // a NaN the kernel never writes: untouched output

struct Problem {
    int nq, nk, heads, D;
    float q_scale; // peaky scores: queries scaled up
    float ramp;    // > 0: keys get a component along the queries that grows with the key index,
                   // so the row maximum moves to later tiles (rescaling of earlier ones)
};

struct Buffers {
    // q: [nq, q_stride], k and v share [nk, kv_stride] (k at column 0, v after k and a gap),
    // out: [nq, out_stride]. Strides leave gaps the kernel must not touch.
    int64_t q_stride, kv_stride, out_stride, v_offset;
    bf16 *q, *kv, *out;
};

struct LaunchArgs {
    void (*kernel)(const bf16 *, int64_t, const bf16 *, int64_t, const bf16 *, int64_t, bf16 *,
                   int64_t, int, int, float);
    const bf16 *q, *k, *v;
    bf16 *out;
    int64_t q_stride, k_stride, v_stride, out_stride;
    int nq, nk;
    float scale;
};

void run_thread(void *p)
{
    const LaunchArgs *a = (const LaunchArgs *)p;
    a->kernel(a->q, a->q_stride, a->k, a->k_stride, a->v, a->v_stride, a->out, a->out_stride, a->nq,
              a->nk, a->scale);
}

float to_f32(bf16 h)
{
    return warp_emu_bf16_bits_to_f32(h.bits);
}

bf16 *bf16_alloc(size_t n)
{
    // Exactly n elements (sanitizers see reads past the end), 16-byte aligned as the kernel needs.
    size_t bytes = (n * sizeof(bf16) + 15) / 16 * 16;
    bf16 *p = (bf16 *)aligned_alloc(16, bytes);
    g_assert_nonnull(p);
    return p;
}

void fill_bf16(bf16 *dst, size_t n, float scale, guint32 seed)
{
    float *tmp = g_new(float, n);
    tu_fill_uniform(tmp, n, -1.0f, 1.0f, seed);
    for (size_t i = 0; i < n; i++)
        dst[i] = __float2bfloat16_rn(scale * tmp[i]);
    g_free(tmp);
}

Buffers make_buffers(const Problem &p, guint32 seed)
{
    const int W = p.heads * p.D;
    Buffers b;
    b.q_stride = W + 8;
    b.v_offset = W + 8;
    b.kv_stride = 2 * W + 24;
    b.out_stride = W + 16;
    b.q = bf16_alloc((size_t)p.nq * b.q_stride);
    b.kv = bf16_alloc((size_t)p.nk * b.kv_stride);
    b.out = bf16_alloc((size_t)p.nq * b.out_stride);
    fill_bf16(b.q, (size_t)p.nq * b.q_stride, p.q_scale, seed);
    fill_bf16(b.kv, (size_t)p.nk * b.kv_stride, 1.0f, seed + 1);
    if (p.ramp > 0) // component 0 of every head: q large and positive, k growing with the key
        for (int h = 0; h < p.heads; h++) {
            for (int i = 0; i < p.nq; i++)
                b.q[i * b.q_stride + h * p.D] = __float2bfloat16_rn(p.q_scale);
            for (int j = 0; j < p.nk; j++)
                b.kv[j * b.kv_stride + h * p.D] = __float2bfloat16_rn(p.ramp * j / p.nk);
        }
    for (size_t i = 0; i < (size_t)p.nq * b.out_stride; i++)
        b.out[i].bits = SENTINEL;
    return b;
}

/* Attention in double on the bf16 inputs, and for each element the bound of the kernel's
 * arithmetic. The kernel computes x_j = fl(s_j) * c in f32, c = log2(e) / sqrt(D) (a constant
 * rounded three times), s_j = q . k_j by mma.sync over D products (exact: bf16 x bf16 fits f32),
 * so x_j is off by at most gamma_(D+4) c sum_d |q_d k_dj| (Higham, eq. 3.5). Then
 * p_j = exp2f(x_j - m) against the running maximum m, rescaled by exp2f(m_old - m_new) at each
 * later tile: the subtractions add u |x_j - m| and u (m_final - m_tile) <= u range in the
 * exponent, exp2f 2 ulp (4u, CUDA programming guide) per call, at most one per tile. An exponent
 * error d is a relative error 2^d - 1 <= d for d < 1/2, so every p_j carries a relative error
 * E <= max_j(err x_j) + 2u (range + 2 max err) + 4u tiles; p_j appears in numerator and
 * denominator alike, so o = sum p v / sum p moves by 2E / (1 - E) pbar, pbar = sum p |v| / sum p.
 * The numerator takes p rounded to bf16 (u_bf16 pbar; underflow below 2^-126: 2^-133 per term,
 * and the product's 2^-150), sums every term into f32 accumulators through at most nk additions
 * and `tiles` rescalings (gamma_(nk + tiles) pbar), the denominator through at most nk + tiles + 2
 * (the two shuffles): gamma relative to |o|; 1 / sum and the product two roundings of |o|. Each
 * step scales the error of the earlier ones by at most (1 + its relative error): the sum of the
 * first-order terms is multiplied by the exponential of their relative sizes. Last, the bf16
 * store: u_bf16 of the value. */
void reference(const Problem &p, const Buffers &b, float *ref, double *bound)
{
    const double u = TU_U_F32, ub = TU_U_BF16, c = 1.4426950408889634 / sqrt((double)p.D);
    const int tiles = (p.nk + attention_mma::BC - 1) / attention_mma::BC;
    const int W = p.heads * p.D;
    double *x = g_new(double, p.nk), *err = g_new(double, p.nk), *pr = g_new(double, p.nk);
    double widest = 0; // largest spread of a row's scores, log2 units
    for (int h = 0; h < p.heads; h++)
        for (int i = 0; i < p.nq; i++) {
            double mx = -INFINITY, mn = INFINITY, max_err = 0, max_v = 0;
            for (int j = 0; j < p.nk; j++) {
                double s = 0, mag = 0;
                for (int d = 0; d < p.D; d++) {
                    double t = (double)to_f32(b.q[i * b.q_stride + h * p.D + d]) *
                               to_f32(b.kv[j * b.kv_stride + h * p.D + d]);
                    s += t;
                    mag += fabs(t);
                }
                x[j] = c * s;
                err[j] = tu_dot_bound(p.D + 4, c * mag, u);
                mx = fmax(mx, x[j]);
                mn = fmin(mn, x[j]);
                max_err = fmax(max_err, err[j]);
            }
            widest = fmax(widest, mx - mn);
            const double E = max_err + 2 * u * (mx - mn + 2 * max_err) + 4 * u * tiles;
            g_assert_cmpfloat(E, <, 0.01);
            double sum = 0;
            for (int j = 0; j < p.nk; j++)
                sum += (pr[j] = exp2(x[j] - mx));
            const double g_acc = tu_gamma(p.nk + tiles, u), g_sum = tu_gamma(p.nk + tiles + 2, u);
            const double g_out = tu_gamma(2, u);
            const double growth = exp(2 * E + ub + g_acc + g_sum + g_out) / (1 - E) / (1 - g_sum);
            for (int d = 0; d < p.D; d++) {
                double o = 0, pbar = 0;
                for (int j = 0; j < p.nk; j++) {
                    double v = to_f32(b.kv[j * b.kv_stride + b.v_offset + h * p.D + d]);
                    o += pr[j] * v;
                    pbar += pr[j] * fabs(v);
                    max_v = fmax(max_v, fabs(v));
                }
                o /= sum;
                pbar /= sum;
                const double underflow = p.nk * (0x1p-133 * max_v + 0x1p-150) / sum;
                const double pre = growth * ((2 * E / (1 - E) + ub + g_acc * (1 + ub)) * pbar +
                                             (g_sum + g_out) * fabs(o) + underflow);
                ref[(size_t)i * W + h * p.D + d] = (float)o;
                bound[(size_t)i * W + h * p.D + d] = pre + ub * (fabs(o) + pre);
            }
        }
    g_test_message("the probabilities of a row span up to a factor 2^%.1f", widest);
    g_free(x);
    g_free(err);
    g_free(pr);
}

const char *schedule_name(warp_emu::Schedule schedule)
{
    return schedule == warp_emu::ROUND_ROBIN    ? "round robin"
           : schedule == warp_emu::LOWEST_FIRST ? "warp 0 ahead"
                                                : "last warp ahead";
}

// Runs the kernel on one problem under one schedule, checks every output element against its
// bound and the gaps of the output view against the sentinel; returns the output (g_free).
template <int D, bool K_LDMATRIX, int WARP_ROWS>
float *check(const Problem &p, guint32 seed, warp_emu::Schedule schedule = warp_emu::ROUND_ROBIN,
             warp_emu::CopyLanding landing = warp_emu::LAND_AT_WAIT)
{
    g_assert_cmpint(p.D, ==, D);
    Buffers b = make_buffers(p, seed);
    LaunchArgs a;
    a.kernel = attention_mma::flash_kernel<D, K_LDMATRIX, WARP_ROWS>;
    a.q = b.q;
    a.k = b.kv;
    a.v = b.kv + b.v_offset;
    a.out = b.out;
    a.q_stride = b.q_stride;
    a.k_stride = a.v_stride = b.kv_stride;
    a.out_stride = b.out_stride;
    a.nq = p.nq;
    a.nk = p.nk;
    a.scale = attention_mma::softmax_scale_log2(D);
    // The backend's gate: these views are ones it sends to this kernel.
    g_assert_true(attention_mma::supported(D, a.q, a.q_stride, a.k, a.k_stride, a.v, a.v_stride,
                                           a.out, a.out_stride, p.nk));
    constexpr int BR = attention_mma::block_rows<WARP_ROWS>();
    const warp_emu_dim3 grid = {(unsigned)((p.nq + BR - 1) / BR), (unsigned)p.heads, 1};
    warp_emu::launch(grid, attention_mma::THREADS, attention_mma::smem_raw,
                     attention_mma::smem_bytes<D, WARP_ROWS>(), run_thread, &a, schedule, landing);

    const int W = p.heads * D;
    const size_t n = (size_t)p.nq * W;
    float *got = g_new(float, n), *ref = g_new(float, n);
    double *bound = g_new(double, n);
    for (int i = 0; i < p.nq; i++) {
        for (int col = 0; col < W; col++)
            got[(size_t)i * W + col] = to_f32(b.out[i * b.out_stride + col]);
        for (int col = W; col < b.out_stride; col++) // the gap after the heads: never written
            g_assert_cmphex(b.out[i * b.out_stride + col].bits, ==, SENTINEL);
    }
    reference(p, b, ref, bound);
    char *what = g_strdup_printf("D %d (%d rows per warp, K by %s), %d queries, %d keys, "
                                 "%d heads, q x%g, ramp %g, %s, cp.async lands at %s",
                                 D, WARP_ROWS, K_LDMATRIX ? "ldmatrix" : "32-bit loads", p.nq, p.nk,
                                 p.heads, p.q_scale, p.ramp, schedule_name(schedule),
                                 landing == warp_emu::LAND_AT_WAIT ? "the wait" : "issue");
    tu_assert_within(what, got, ref, bound, n);
    g_free(what);
    g_free(ref);
    g_free(bound);
    free(b.q);
    free(b.kv);
    free(b.out);
    return got;
}

// Shapes: tails of queries (partial block, warps or a warp's second row tile entirely past the
// end) and of keys (a partial last tile, down to one key), several blocks and tiles, two heads
// on strided views, scores peaky enough that the running maximum and the rescaling matter.
// Warps past the end with 16 rows per warp (64 per block), then with 32 (128 per block).
template <int D, bool K_LDMATRIX, int WARP_ROWS> void test_shapes()
{
    constexpr int BR = attention_mma::block_rows<WARP_ROWS>();
    const Problem problems[] = {
        {1, 1, 1, D, 3.0f, 0},        // one query, one key
        {BR, 64, 1, D, 3.0f, 0},      // exactly one block and one tile
        {20, 65, 1, D, 3.0f, 0},      // warps 2, 3 past the end; 1 to 3; a 1-key tail tile
        {48, 70, 1, D, 3.0f, 0},      // warp 3 past the end; warp 1's second row tile, 2, 3
        {70, 130, 2, D, 3.0f, 0},     // tails of both, two heads
        {129, 191, 1, D, 8.0f, 0},    // three blocks (two), peaky scores
        {33, 200, 1, D, 2.0f, 48.0f}, // the maximum moves to later tiles: rescaling
    };
    guint32 seed = 10;
    for (const Problem &p : problems)
        g_free(check<D, K_LDMATRIX, WARP_ROWS>(p, seed++));
}

// Barriers and cp.async: one warp running ahead to the next __syncthreads, copies landing at
// issue or at the wait. Each lane's arithmetic does not depend on the interleaving, so a
// race-free kernel gives the same bits under every schedule (compared with memcmp); a missing
// barrier or wait shows up as NaN from the poisoned shared memory or as another tile's data.
template <int D, bool K_LDMATRIX, int WARP_ROWS> void test_schedules()
{
    const Problem p = {70, 150, 1, D, 3.0f, 0};
    const size_t bytes = sizeof(float) * p.nq * p.heads * D;
    float *first = check<D, K_LDMATRIX, WARP_ROWS>(p, 20);
    const warp_emu::Schedule schedules[] = {warp_emu::ROUND_ROBIN, warp_emu::LOWEST_FIRST,
                                            warp_emu::HIGHEST_FIRST};
    const warp_emu::CopyLanding landings[] = {warp_emu::LAND_AT_WAIT, warp_emu::LAND_AT_ISSUE};
    for (warp_emu::Schedule schedule : schedules)
        for (warp_emu::CopyLanding landing : landings) {
            if (schedule == warp_emu::ROUND_ROBIN && landing == warp_emu::LAND_AT_WAIT)
                continue; // the first run
            float *other = check<D, K_LDMATRIX, WARP_ROWS>(p, 20, schedule, landing);
            g_assert_cmpmem(other, bytes, first, bytes);
            g_free(other);
        }
    g_free(first);
}

} // namespace

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/attention-mma-emu/d64", test_shapes<64, false, 16>);
    g_test_add_func("/attention-mma-emu/d128", test_shapes<128, false, 16>);
    g_test_add_func("/attention-mma-emu/d64-k-ldmatrix", test_shapes<64, true, 16>);
    g_test_add_func("/attention-mma-emu/d128-k-ldmatrix", test_shapes<128, true, 16>);
    g_test_add_func("/attention-mma-emu/d64-32-rows", test_shapes<64, true, 32>);
    g_test_add_func("/attention-mma-emu/d128-32-rows", test_shapes<128, true, 32>);
    g_test_add_func("/attention-mma-emu/schedules/d64", test_schedules<64, false, 16>);
    g_test_add_func("/attention-mma-emu/schedules/d128-k-ldmatrix", test_schedules<128, true, 16>);
    g_test_add_func("/attention-mma-emu/schedules/d64-32-rows", test_schedules<64, true, 32>);
    g_test_add_func("/attention-mma-emu/schedules/d128-32-rows", test_schedules<128, true, 32>);
    return g_test_run();
}
