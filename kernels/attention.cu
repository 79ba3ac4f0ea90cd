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

static void launch_ours(CudaBackend *cb, const SdpaProblem &p, attention_mma::Variant variant)
{
    attention_mma::launch(p.head_dim, p.q, p.q_stride, p.k, p.k_stride, p.v, p.v_stride, p.out,
                          p.out_stride, p.nq, p.nk, p.heads, cb->stream, variant);
}

// ---------------------------------------------------------------------------------------------
// The variants first measured on a GPU are 16-lds32 (16 query rows per warp, K by 32-bit loads);
// the faster ones that "auto" picks (K by ldmatrix, 32 rows per warp where they fit) are checked
// once per backend against it, as cuDNN is against ours (a variant named by RESDIT_MMA_VARIANT or
// rd_cuda_set_mma_variant runs unchecked): D = 128 and 64, 2 heads, q and k in [-3, 3], v in [-1, 1], 300 x 300
// and 48 queries x 70 keys (tails of every tile). Both round P and the output to bf16: each
// element within 4 * 2^-8 * max|v|. A disagreement keeps 16-lds32 for this backend, with a note.

static float check_value(uint32_t *state, float amplitude)
{
    *state = *state * 1664525u + 1013904223u;
    return ((float)(*state >> 8) / 8388608.0f - 1.0f) * amplitude;
}

// Largest |difference| of the two variants' outputs on one problem, or a negative value when the
// check's memory could not be had.
static double variant_difference(CudaBackend *cb, attention_mma::Variant variant, int d, int nq,
                                 int nk)
{
    const int heads = 2, width = heads * d;
    const size_t in_el = (size_t)(nq + 2 * nk) * width, out_el = (size_t)nq * width;
    bf16 *host = g_new(bf16, in_el + 2 * out_el);
    uint32_t state = 77u + (uint32_t)d;
    for (size_t i = 0; i < in_el; i++) {
        const bool is_v = i >= (size_t)(nq + nk) * width;
        host[i] = __float2bfloat16_rn(check_value(&state, is_v ? 1.0f : 3.0f));
    }
    GError *error = NULL;
    bf16 *dev = (bf16 *)cuda_try_alloc(cb, (in_el + 2 * out_el) * sizeof(bf16), "the check of "
                                       "our attention kernel", &error);
    double worst = -1.0;
    if (dev) {
        cudaCheck(cudaMemcpyAsync(dev, host, in_el * sizeof(bf16), cudaMemcpyHostToDevice,
                                  cb->stream));
        SdpaProblem p = {dev, dev + (size_t)nq * width, dev + (size_t)(nq + nk) * width,
                         dev + in_el, width, width, width, width, nq, nk, heads, d};
        launch_ours(cb, p, attention_mma::VARIANT_16_LDS32);
        p.out = dev + in_el + out_el;
        launch_ours(cb, p, variant);
        cudaCheck(cudaMemcpyAsync(host + in_el, dev + in_el, 2 * out_el * sizeof(bf16),
                                  cudaMemcpyDeviceToHost, cb->stream));
        cudaCheck(cudaStreamSynchronize(cb->stream));
        worst = 0.0;
        for (size_t i = 0; i < out_el; i++) {
            const double a = __bfloat162float(host[in_el + i]);
            const double b = __bfloat162float(host[in_el + out_el + i]);
            const double diff = fabs(a - b);
            worst = diff == diff ? fmax(worst, diff) : INFINITY; // NaN: a failure
        }
        cuda_free(cb, dev);
    }
    g_clear_error(&error);
    g_free(host);
    return worst;
}

static attention_mma::Variant checked_variant(CudaBackend *cb)
{
    const attention_mma::Variant wanted =
        cb->mma_variant == RD_CUDA_MMA_16         ? attention_mma::VARIANT_16
        : cb->mma_variant == RD_CUDA_MMA_32       ? attention_mma::VARIANT_32
        : cb->mma_variant == RD_CUDA_MMA_16_LDS32 ? attention_mma::VARIANT_16_LDS32
                                                  : attention_mma::VARIANT_AUTO;
    if (wanted != attention_mma::VARIANT_AUTO) // asked for by name (tests, benchmarks): as it is
        return wanted;
    if (cb->mma_check == 0) {
        const double allowed = 4.0 / 256.0; // 4 * 2^-8 * max|v|, max|v| <= 1
        double worst = 0.0;
        const int cases[][3] = {{128, 300, 300}, {128, 48, 70}, {64, 300, 300}, {64, 48, 70}};
        for (const auto &c : cases) {
            const double diff = variant_difference(cb, wanted, c[0], c[1], c[2]);
            worst = diff < 0.0 || worst < 0.0 ? -1.0 : fmax(worst, diff);
        }
        cb->mma_check = worst >= 0.0 && worst <= allowed ? 1 : 2;
        g_free(cb->mma_check_note);
        cb->mma_check_note =
            worst < 0.0 ? g_strdup("the check could not run (no memory)")
                        : g_strdup_printf("largest difference %.6f (allowed %.6f)", worst, allowed);
        if (cb->mma_check == 2)
            g_message("resdit CUDA: our attention kernel's faster variants disagree with the one "
                      "first measured (%s); using that one (16 rows per warp, K by 32-bit loads)",
                      cb->mma_check_note);
    }
    return cb->mma_check == 1 ? wanted : attention_mma::VARIANT_16_LDS32;
}

void attention_ours(CudaBackend *cb, const SdpaProblem &p)
{
    launch_ours(cb, p, checked_variant(cb));
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
