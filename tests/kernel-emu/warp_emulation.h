// Host emulation of the CUDA pieces the tensor-core attention kernel uses, so that the kernel's
// own source (kernels/attention_mma.cuh) compiles as host C++ and runs on a CPU, lane by lane.
//
// Include this header before the kernel header: it defines RD_WARP_EMULATION, which makes the
// kernel header take these helpers instead of its inline PTX (kernels/attention_mma_ptx.cuh).
//
// Threads: every CUDA thread of a block is a coroutine (ucontext) on one host thread; a scheduler
// resumes them, each runs until it waits at a barrier. Deterministic: no host threads, the order
// is fixed by the schedule chosen at launch (Schedule below), so a race shows up the same way
// every run, and a race-free kernel gives the same bits under every schedule. Warp-collective
// instructions (ldmatrix, mma.sync, shfl.sync) write the lane's operands into a per-warp slot, wait
// at a warp barrier, then compute the lane's result from every lane's slot, exactly as the PTX ISA
// distributes the fragments (section "Matrix Fragments for mma.m16n8k16 with floating point type",
// and "ldmatrix"). Slots alternate between two sets, so one barrier per instruction suffices: a
// lane writes a set again only after the next instruction's barrier, which every lane reaches only
// after reading this one.
//
// Checks that the hardware would make undefined or wrong: every lane of a warp must execute the
// same collective (the .aligned qualifier), shared-memory addresses must lie inside the block's
// dynamic shared memory with the alignment the instruction needs, a barrier that can never be
// released (a deadlock) aborts. Shared memory starts as NaN bytes for every block, so a read of a
// row nobody loaded shows up as NaN in the output. cp.async copies land at either end of what the
// PTX ISA allows: at the cp.async.wait_group that retires their group (a read before the wait
// sees NaN), or at once (a copy into a buffer other warps still read clobbers it, which a
// schedule that runs one warp ahead exposes).
//
// Arithmetic: bf16 is a 16-bit storage type with round-to-nearest-even conversion from f32 (as
// __float2bfloat16_rn); mma.sync multiplies bf16 exactly in f32 and accumulates in f32 with
// round-to-nearest, c first, then k = 0..15. (Tensor cores accumulate in an unspecified order and
// internal precision; the test's bound allows any order, gamma_K.)
#pragma once

#define RD_WARP_EMULATION 1

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define WARP_EMU_ASAN 1
#endif

// ---------------------------------------------------------------------------------------------
// CUDA keywords and built-in variables.

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__
#define __align__(n) __attribute__((aligned(n)))
#define __launch_bounds__(...)

struct warp_emu_dim3 {
    unsigned x, y, z;
};
// The running coroutine's indices: the scheduler sets them before it resumes a thread.
inline warp_emu_dim3 threadIdx, blockIdx, blockDim, gridDim;

// ---------------------------------------------------------------------------------------------
// bf16: storage only, conversions as cuda_bf16.h.

struct __nv_bfloat16 {
    uint16_t bits;
};
struct __nv_bfloat162 {
    __nv_bfloat16 x, y;
};
typedef __nv_bfloat16 bf16;

// Round to nearest, ties to even; NaN stays NaN, overflow goes to infinity.
inline uint16_t warp_emu_f32_to_bf16_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x0040u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

inline float warp_emu_bf16_bits_to_f32(uint16_t b)
{
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

inline bf16 __float2bfloat16_rn(float f)
{
    return bf16{warp_emu_f32_to_bf16_bits(f)};
}

inline __nv_bfloat162 __floats2bfloat162_rn(float lo, float hi)
{
    return __nv_bfloat162{__float2bfloat16_rn(lo), __float2bfloat16_rn(hi)};
}

namespace warp_emu
{

// Reports what the running thread did wrong (thread < 0: the block as a whole) and aborts.
[[noreturn]] inline void fail(const char *what, int thread = (int)threadIdx.x)
{
    fprintf(stderr, "warp emulation: %s (block %u,%u", what, blockIdx.x, blockIdx.y);
    if (thread >= 0)
        fprintf(stderr, ", thread %d", thread);
    fprintf(stderr, ")\n");
    abort();
}

// ---------------------------------------------------------------------------------------------
// The block: coroutines, barriers, warp slots, cp.async queues.

constexpr int MAX_THREADS = 1024;
constexpr size_t STACK_BYTES = 256 * 1024;
constexpr int MAX_PENDING_COPIES = 256; // cp.async copies in flight per thread

// Which runnable thread the scheduler resumes next. ROUND_ROBIN keeps the warps within one
// collective of each other; LOWEST_FIRST / HIGHEST_FIRST always resume the lowest / highest
// runnable thread, so warp 0 (or the last warp) runs ahead until it waits at __syncthreads.
enum Schedule { ROUND_ROBIN, LOWEST_FIRST, HIGHEST_FIRST };
// When a cp.async copy lands: at the wait_group that retires it, or when it is issued.
enum CopyLanding { LAND_AT_WAIT, LAND_AT_ISSUE };

enum Op { OP_NONE, OP_LDMATRIX, OP_LDMATRIX_TRANS, OP_MMA, OP_SHFL_XOR };

struct Slot {
    int op;
    const void *addr;    // ldmatrix: the row this lane points at
    uint32_t a[4], b[2]; // mma operands
    float value;         // shfl
    int lane_mask;
};

struct Barrier {
    int arrived = 0;
    unsigned generation = 0;
};

struct Copy {
    void *dst;
    const void *src;
    bool valid;
    unsigned group;
};

struct Thread {
    ucontext_t ctx;
    unsigned char *stack = nullptr;
    bool done = false;
    const Barrier *waiting_on = nullptr; // with the generation it waits to see pass
    unsigned waiting_generation = 0;
    int phase = 0;          // which slot set its next collective uses
    unsigned committed = 0; // cp.async groups committed so far
    int n_copies = 0;
    Copy copies[MAX_PENDING_COPIES];
};

struct Block {
    int n_threads = 0;
    Thread *threads = nullptr;
    ucontext_t scheduler;
    Barrier block_barrier;
    Barrier warp_barrier[MAX_THREADS / 32];
    Slot slots[MAX_THREADS / 32][2][32];
    unsigned char *smem = nullptr;
    size_t smem_bytes = 0;
    CopyLanding landing = LAND_AT_WAIT;
    void (*body)(void *) = nullptr;
    void *body_arg = nullptr;
#ifdef WARP_EMU_ASAN
    const void *main_stack = nullptr;
    size_t main_stack_size = 0;
#endif
};

inline Block *g_block = nullptr;
inline int g_current = -1;

inline void switch_to_scheduler()
{
    Thread &th = g_block->threads[g_current];
#ifdef WARP_EMU_ASAN
    void *fake = nullptr;
    __sanitizer_start_switch_fiber(th.done ? nullptr : &fake, g_block->main_stack,
                                   g_block->main_stack_size);
#endif
    swapcontext(&th.ctx, &g_block->scheduler);
#ifdef WARP_EMU_ASAN
    __sanitizer_finish_switch_fiber(fake, &g_block->main_stack, &g_block->main_stack_size);
#endif
}

inline void wait_at(Barrier &b, int size)
{
    const unsigned generation = b.generation;
    if (++b.arrived == size) {
        b.arrived = 0;
        b.generation++;
        return;
    }
    Thread &th = g_block->threads[g_current];
    th.waiting_on = &b;
    th.waiting_generation = generation;
    while (b.generation == generation)
        switch_to_scheduler();
    th.waiting_on = nullptr;
}

inline bool runnable(const Thread &th)
{
    return !th.done && (!th.waiting_on || th.waiting_on->generation != th.waiting_generation);
}

// The next thread to resume after thread `last` (-1: none yet), or -1 when none can run.
inline int pick(const Block &b, Schedule schedule, int last)
{
    const int n = b.n_threads;
    for (int k = 0; k < n; k++) {
        const int i = schedule == ROUND_ROBIN    ? (last + 1 + k) % n
                      : schedule == LOWEST_FIRST ? k
                                                 : n - 1 - k;
        if (runnable(b.threads[i]))
            return i;
    }
    return -1;
}

inline int lane_id()
{
    return (int)(threadIdx.x % 32);
}

inline int warp_id()
{
    return (int)(threadIdx.x / 32);
}

// Every lane's operands of one warp-collective instruction, after all 32 have arrived.
inline const Slot *exchange(const Slot &mine)
{
    if (g_block->n_threads % 32 != 0)
        fail("warp-collective instruction in a partial warp");
    Thread &th = g_block->threads[threadIdx.x];
    Slot *set = g_block->slots[warp_id()][th.phase];
    th.phase ^= 1;
    set[lane_id()] = mine;
    wait_at(g_block->warp_barrier[warp_id()], 32);
    for (int l = 0; l < 32; l++)
        if (set[l].op != mine.op)
            fail("lanes of one warp at different collective instructions");
    return set;
}

inline void check_shared(const void *p, size_t bytes, size_t align, const char *what)
{
    const unsigned char *c = (const unsigned char *)p;
    if (c < g_block->smem || c + bytes > g_block->smem + g_block->smem_bytes)
        fail(what);
    if ((size_t)(c - g_block->smem) % align != 0)
        fail(what);
}

inline void thread_entry()
{
#ifdef WARP_EMU_ASAN
    __sanitizer_finish_switch_fiber(nullptr, &g_block->main_stack, &g_block->main_stack_size);
#endif
    g_block->body(g_block->body_arg);
    g_block->threads[g_current].done = true;
    switch_to_scheduler(); // never resumed
}

// getcontext and swapcontext return twice: kept out of functions with loop variables.
__attribute__((noinline)) inline void start_context(Thread &th)
{
    getcontext(&th.ctx);
    th.ctx.uc_stack.ss_sp = th.stack;
    th.ctx.uc_stack.ss_size = STACK_BYTES;
    th.ctx.uc_link = nullptr;
    makecontext(&th.ctx, thread_entry, 0);
}

// Runs thread i of the block until it waits at a barrier or ends.
__attribute__((noinline)) inline void resume(Block &b, int i)
{
    Thread &th = b.threads[i];
    g_current = i;
    threadIdx = {(unsigned)i, 0, 0};
#ifdef WARP_EMU_ASAN
    void *fake = nullptr;
    __sanitizer_start_switch_fiber(&fake, th.stack, STACK_BYTES);
#endif
    swapcontext(&b.scheduler, &th.ctx);
#ifdef WARP_EMU_ASAN
    __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
}

// Runs body(arg) as every thread of every block of the grid, blocks one after the other, with
// smem_bytes of dynamic shared memory at smem (filled with NaN bytes before each block).
inline void launch(warp_emu_dim3 grid, int threads, unsigned char *smem, size_t smem_bytes,
                   void (*body)(void *), void *arg, Schedule schedule = ROUND_ROBIN,
                   CopyLanding landing = LAND_AT_WAIT)
{
    if (threads <= 0 || threads > MAX_THREADS)
        fail("bad block size");
    Block *block = new Block;
    block->n_threads = threads;
    block->threads = new Thread[threads];
    for (int i = 0; i < threads; i++)
        block->threads[i].stack = (unsigned char *)malloc(STACK_BYTES);
    block->smem = smem;
    block->smem_bytes = smem_bytes;
    block->body = body;
    block->body_arg = arg;
    block->landing = landing;
    g_block = block;
    gridDim = {grid.x, grid.y, grid.z};
    blockDim = {(unsigned)threads, 1, 1};
    for (unsigned bz = 0; bz < grid.z; bz++)
        for (unsigned by = 0; by < grid.y; by++)
            for (unsigned bx = 0; bx < grid.x; bx++) {
                blockIdx = {bx, by, bz};
                memset(smem, 0xff, smem_bytes); // bf16 0xffff and f32 0xffffffff are NaN
                block->block_barrier = Barrier();
                for (auto &b : block->warp_barrier)
                    b = Barrier();
                for (int i = 0; i < threads; i++) {
                    Thread &th = block->threads[i];
                    th.done = false;
                    th.waiting_on = nullptr;
                    th.phase = 0;
                    th.committed = 0;
                    th.n_copies = 0;
                    start_context(th);
                }
                int live = threads, i = -1;
                while (live > 0) {
                    i = pick(*block, schedule, i);
                    if (i < 0)
                        fail("deadlock: threads wait at barriers that cannot be released", -1);
                    resume(*block, i);
                    live -= block->threads[i].done;
                }
            }
    g_block = nullptr;
    g_current = -1;
    for (int i = 0; i < threads; i++)
        free(block->threads[i].stack);
    delete[] block->threads;
    delete block;
}

} // namespace warp_emu

// ---------------------------------------------------------------------------------------------
// Intrinsics and the kernel's PTX helpers (same names and signatures as in
// kernels/attention_mma_ptx.cuh).

// bar.sync 0: every thread of the block must arrive (the kernel under test never ends early); a
// thread that ends while others wait here leaves them in a deadlock, which launch() reports.
inline void __syncthreads()
{
    warp_emu::wait_at(warp_emu::g_block->block_barrier, warp_emu::g_block->n_threads);
}

inline float __shfl_xor_sync(unsigned mask, float value, int lane_mask)
{
    if (mask != 0xffffffffu)
        warp_emu::fail("__shfl_xor_sync with a partial mask is not emulated");
    warp_emu::Slot mine = {};
    mine.op = warp_emu::OP_SHFL_XOR;
    mine.value = value;
    mine.lane_mask = lane_mask;
    const warp_emu::Slot *all = warp_emu::exchange(mine);
    const int src = warp_emu::lane_id() ^ lane_mask;
    if (src >= 32) // outside the warp: the lane keeps its own value
        return value;
    return all[src].value;
}

// cp.async.cg.shared.global [smem], [gmem], 16, src_bytes (16 or 0: zero fill). Lands at once, or
// is queued until the cp.async.wait_group that retires its group (CopyLanding).
inline void cp_async_16(void *smem, const void *gmem, bool valid)
{
    warp_emu::check_shared(smem, 16, 16, "cp.async destination outside shared memory or unaligned");
    if ((uintptr_t)gmem % 16 != 0)
        warp_emu::fail("cp.async source not 16-byte aligned");
    if (warp_emu::g_block->landing == warp_emu::LAND_AT_ISSUE) {
        if (valid)
            memcpy(smem, gmem, 16);
        else
            memset(smem, 0, 16);
        return;
    }
    warp_emu::Thread &th = warp_emu::g_block->threads[threadIdx.x];
    if (th.n_copies == warp_emu::MAX_PENDING_COPIES)
        warp_emu::fail("too many cp.async copies in flight");
    th.copies[th.n_copies++] = warp_emu::Copy{smem, gmem, valid, th.committed};
}

inline void cp_async_commit()
{
    warp_emu::g_block->threads[threadIdx.x].committed++;
}

// cp.async.wait_group N: every committed group but the N most recent is complete.
template <int N> inline void cp_async_wait()
{
    warp_emu::Thread &th = warp_emu::g_block->threads[threadIdx.x];
    int kept = 0;
    for (int i = 0; i < th.n_copies; i++) {
        const warp_emu::Copy &c = th.copies[i];
        if (c.group + N < th.committed) {
            if (c.valid)
                memcpy(c.dst, c.src, 16);
            else
                memset(c.dst, 0, 16);
        } else {
            th.copies[kept++] = c;
        }
    }
    th.n_copies = kept;
}

inline uint32_t warp_emu_pack(uint16_t lo, uint16_t hi)
{
    return (uint32_t)lo | (uint32_t)hi << 16;
}

inline uint16_t warp_emu_half(uint32_t r, int high)
{
    return (uint16_t)(high ? r >> 16 : r & 0xffffu);
}

// ldmatrix.sync.aligned.m8n8.x4.shared.b16: lane 8 i + r gives the address of row r of matrix i
// (8 consecutive b16, 16-byte aligned); register i of lane l holds row l / 4, elements
// 2 (l % 4) and 2 (l % 4) + 1 (low half first) of matrix i.
inline void ldmatrix_x4(uint32_t r[4], const bf16 *smem)
{
    warp_emu::check_shared(smem, 16, 16, "ldmatrix row outside shared memory or unaligned");
    warp_emu::Slot mine = {};
    mine.op = warp_emu::OP_LDMATRIX;
    mine.addr = smem;
    const warp_emu::Slot *all = warp_emu::exchange(mine);
    const int l = warp_emu::lane_id();
    for (int i = 0; i < 4; i++) {
        const bf16 *row = (const bf16 *)all[8 * i + l / 4].addr;
        r[i] = warp_emu_pack(row[2 * (l % 4)].bits, row[2 * (l % 4) + 1].bits);
    }
}

// The .trans form: register i of lane l holds column l / 4, rows 2 (l % 4) and 2 (l % 4) + 1 of
// matrix i (the fragment of the transposed matrix).
inline void ldmatrix_x4_trans(uint32_t r[4], const bf16 *smem)
{
    warp_emu::check_shared(smem, 16, 16, "ldmatrix row outside shared memory or unaligned");
    warp_emu::Slot mine = {};
    mine.op = warp_emu::OP_LDMATRIX_TRANS;
    mine.addr = smem;
    const warp_emu::Slot *all = warp_emu::exchange(mine);
    const int l = warp_emu::lane_id();
    for (int i = 0; i < 4; i++) {
        const bf16 *row0 = (const bf16 *)all[8 * i + 2 * (l % 4)].addr;
        const bf16 *row1 = (const bf16 *)all[8 * i + 2 * (l % 4) + 1].addr;
        r[i] = warp_emu_pack(row0[l / 4].bits, row1[l / 4].bits);
    }
}

// mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32, D = A B + C, with g = lane / 4,
// t = lane % 4 (PTX ISA, fragments for m16n8k16 with floating point type):
//   A 16x16: a[0] = (g, 2t..2t+1), a[1] = (g+8, 2t..), a[2] = (g, 2t+8..), a[3] = (g+8, 2t+8..)
//   B 16x8:  b0 = (k 2t..2t+1, n g), b1 = (k 2t+8..2t+9, n g)
//   C, D:    c[0], c[1] = (g, 2t..2t+1), c[2], c[3] = (g+8, 2t..2t+1)
// (low half of a register = the lower column of A / row of B.)
inline float warp_emu_mma_a(const warp_emu::Slot *all, int row, int k)
{
    const int lane = 4 * (row % 8) + (k % 8) / 2;
    const int reg = (row >= 8) + 2 * (k >= 8);
    return warp_emu_bf16_bits_to_f32(warp_emu_half(all[lane].a[reg], k & 1));
}

inline float warp_emu_mma_b(const warp_emu::Slot *all, int k, int n)
{
    const int lane = 4 * n + (k % 8) / 2;
    return warp_emu_bf16_bits_to_f32(warp_emu_half(all[lane].b[k >= 8], k & 1));
}

inline void mma_16816(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1)
{
    warp_emu::Slot mine = {};
    mine.op = warp_emu::OP_MMA;
    memcpy(mine.a, a, sizeof mine.a);
    mine.b[0] = b0;
    mine.b[1] = b1;
    const warp_emu::Slot *all = warp_emu::exchange(mine);
    const int g = warp_emu::lane_id() / 4, t = warp_emu::lane_id() % 4;
    for (int e = 0; e < 4; e++) {
        const int row = g + 8 * (e >> 1), n = 2 * t + (e & 1);
        float d = c[e];
        for (int k = 0; k < 16; k++)
            d += warp_emu_mma_a(all, row, k) * warp_emu_mma_b(all, k, n); // exact product
        c[e] = d;
    }
}

inline uint32_t pack_bf16(float lo, float hi)
{
    return warp_emu_pack(warp_emu_f32_to_bf16_bits(lo), warp_emu_f32_to_bf16_bits(hi));
}

// A 32-bit shared-memory load of two adjacent bf16.
inline uint32_t lds32(const bf16 *p)
{
    warp_emu::check_shared(p, 4, 4, "32-bit shared load outside shared memory or unaligned");
    uint32_t r;
    memcpy(&r, p, 4);
    return r;
}
