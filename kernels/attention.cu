// The attention op: the tensor-core flash kernel for plain attention with head dim 64 or 128 on
// 16-byte-aligned rows, tiles of cuBLAS products for plain attention with head dims of 256 and
// more (the VAE), the generic kernel for everything else (causal, bias, other head dims). Plain
// bf16 attention with head dim 128 (FLUX, SD3) goes to cuDNN's fused SDPA first when it is
// loaded and passed its check (attention_cudnn.cu); anything cuDNN cannot take comes back here.
#include <string.h>

#include "attention_cudnn.cuh"
#include "attention_gemm.cuh"
#include "attention_generic.cuh"
#include "attention_mma.cuh"

RdCudaMmaVariant mma_variant_from_env(void)
{
    const char *env = g_getenv("RESDIT_MMA_VARIANT");
    if (!env || !*env || g_ascii_strcasecmp(env, "auto") == 0)
        return RD_CUDA_MMA_AUTO;
    if (strcmp(env, "16") == 0)
        return RD_CUDA_MMA_16;
    if (strcmp(env, "32") == 0)
        return RD_CUDA_MMA_32;
    if (g_ascii_strcasecmp(env, "16-lds32") == 0)
        return RD_CUDA_MMA_16_LDS32;
    g_message("resdit CUDA: RESDIT_MMA_VARIANT=%s is not one of auto, 16, 32, 16-lds32; using auto",
              env);
    return RD_CUDA_MMA_AUTO;
}

void attention_ours(CudaBackend *cb, const SdpaProblem &p)
{
    const attention_mma::Variant variant =
        cb->mma_variant == RD_CUDA_MMA_16         ? attention_mma::VARIANT_16
        : cb->mma_variant == RD_CUDA_MMA_32       ? attention_mma::VARIANT_32
        : cb->mma_variant == RD_CUDA_MMA_16_LDS32 ? attention_mma::VARIANT_16_LDS32
                                                  : attention_mma::VARIANT_AUTO;
    attention_mma::launch(p.head_dim, p.q, p.q_stride, p.k, p.k_stride, p.v, p.v_stride, p.out,
                          p.out_stride, p.nq, p.nk, p.heads, cb->stream, variant);
}

void cuda_attention(RdBackend *be, const RdTensor *q, const RdTensor *k, const RdTensor *v,
                    RdTensor *out, int heads, int head_dim, const RdAttentionExtras *extras)
{
    g_assert(q->cols == (int64_t)heads * head_dim && k->cols == q->cols && v->cols == q->cols);
    g_assert(k->rows == v->rows && out->rows == q->rows && out->cols == q->cols);
    g_assert(q->rows <= INT32_MAX && k->rows <= INT32_MAX);
    cudaStream_t stream = cuda_backend(be)->stream;
    const bool causal = extras && extras->causal;
    const RdTensor *bias = extras ? extras->bias : NULL;
    if (bias)
        g_assert(bias->rows == (int64_t)heads * q->rows && bias->cols == k->rows);
    const bool all_bf16 =
        q->dtype == RD_BF16 && k->dtype == RD_BF16 && v->dtype == RD_BF16 && out->dtype == RD_BF16;
    if (!causal && !bias && all_bf16 &&
        attention_mma::supported(head_dim, q->data, q->stride, k->data, k->stride, v->data,
                                 v->stride, out->data, out->stride, (int)k->rows)) {
        const SdpaProblem p = {(const bf16 *)q->data, (const bf16 *)k->data,
                               (const bf16 *)v->data, (bf16 *)out->data, q->stride, k->stride,
                               v->stride, out->stride, (int)q->rows, (int)k->rows, heads,
                               head_dim};
        if (!cudnn_attention(cuda_backend(be), p))
            attention_ours(cuda_backend(be), p);
        return;
    }
    if (attention_gemm::supported(head_dim, k->rows, causal, bias != NULL, all_bf16)) {
        attention_gemm::run(cuda_backend(be), q, k, v, out, heads, head_dim);
        return;
    }
    if (head_dim > attention_generic::MAX_HEAD_DIM)
        cuda_fatal("attention", "head dims above 512 are not supported", __FILE__, __LINE__);
    attention_generic::Args a;
    a.q = dev_tensor(q);
    a.k = dev_tensor(k);
    a.v = dev_tensor(v);
    a.out = dev_tensor(out);
    a.bias = bias ? dev_tensor(bias) : a.q;
    a.heads = heads;
    a.head_dim = head_dim;
    a.scale = 1.0f / sqrtf((float)head_dim);
    a.causal = causal;
    a.has_bias = bias != NULL;
    attention_generic::launch(a, stream);
}
