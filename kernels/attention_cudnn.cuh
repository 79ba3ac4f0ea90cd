// cuDNN's fused flash attention (SDPA) for plain bf16 attention with head dim 128, loaded at run
// time (dlopen libcudnn.so.9): builds, CI and users without cuDNN keep our mma.sync kernel. On
// first use per device the two are compared on a small problem; a disagreement turns cuDNN off
// for that device with a note. See attention_cudnn.cu.
#pragma once

#include "cuda_backend.h"
#include "cuda_common.cuh"

// Which attention path plain bf16 D = 128 attention takes (RESDIT_ATTENTION=auto|ours|cudnn).
enum AttentionPath {
    ATTENTION_AUTO = 0, // cuDNN when it loads and passed the check, else ours
    ATTENTION_OURS = 1,
    ATTENTION_CUDNN = 2, // cuDNN whenever it loads, even after a failed check (benchmarks)
};

// One attention problem: head h of a tensor starts at column h * head_dim of each row.
struct SdpaProblem {
    const bf16 *q, *k, *v;
    bf16 *out;
    int64_t q_stride, k_stride, v_stride, out_stride;
    int nq, nk, heads, head_dim;
};

// The path asked for by RESDIT_ATTENTION (unset: auto).
AttentionPath attention_path_from_env(void);
// Runs p through cuDNN; false (nothing written) when cuDNN is not used for it: not loaded, not
// chosen, check failed, or no plan / workspace for this shape. The caller then runs our kernel.
bool cudnn_attention(CudaBackend *cb, const SdpaProblem &p);
// Our tensor-core kernel (attention.cu), for the first-use check.
void attention_ours(CudaBackend *cb, const SdpaProblem &p);
// Its configuration asked for by RESDIT_MMA_VARIANT (unset: auto; attention.cu).
RdCudaMmaVariant mma_variant_from_env(void);
// Loads cuDNN and runs the first-use check if not done yet; a sentence saying which path plain
// bf16 D = 128 attention takes and why (g_free), and where cuDNN stands in *state.
char *cudnn_attention_describe(CudaBackend *cb, RdCudaCudnnState *state);
// Attention calls cuDNN ran on this backend.
guint64 cudnn_attention_calls(CudaBackend *cb);
void cudnn_attention_free(CudaBackend *cb);
