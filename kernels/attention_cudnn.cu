// The CUDA backend's use of cuDNN's fused attention (the graph itself: cudnn_sdpa.cu): a
// handle and a plan cache per backend (per shape and strides), the variant pack per call, the
// first-use check per device, the fallback to our kernel. Built only when meson finds
// cudnn_graph.h (RD_HAVE_CUDNN); otherwise every call answers "not built in" and our kernel runs.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention_cudnn.cuh"
#include "cudnn_sdpa.cuh"

AttentionPath attention_path_from_env(void)
{
    const char *env = g_getenv("RESDIT_ATTENTION");
    if (!env || !*env || g_ascii_strcasecmp(env, "auto") == 0)
        return ATTENTION_AUTO;
    if (g_ascii_strcasecmp(env, "ours") == 0)
        return ATTENTION_OURS;
    if (g_ascii_strcasecmp(env, "cudnn") == 0)
        return ATTENTION_CUDNN;
    g_message("resdit CUDA: RESDIT_ATTENTION=%s is not one of auto, ours, cudnn; using auto", env);
    return ATTENTION_AUTO;
}

#if !RD_HAVE_CUDNN

bool cudnn_attention(CudaBackend *, const SdpaProblem &)
{
    return false;
}

guint64 cudnn_attention_calls(CudaBackend *)
{
    return 0;
}

char *cudnn_attention_describe(CudaBackend *cb, RdCudaCudnnState *state)
{
    *state = RD_CUDNN_NOT_BUILT;
    return g_strdup_printf("our mma.sync flash kernel (cuDNN: not built in, cudnn_graph.h was not "
                           "found when this build was configured)%s",
                           cb->attention_path == ATTENTION_OURS ? "; RESDIT_ATTENTION=ours" : "");
}

void cudnn_attention_free(CudaBackend *)
{
}

#else

namespace
{

guint key_hash(gconstpointer p)
{
    const SdpaKey *k = (const SdpaKey *)p;
    guint h = 2166136261u;
    const unsigned char *b = (const unsigned char *)k;
    for (size_t i = 0; i < sizeof *k; i++)
        h = (h ^ b[i]) * 16777619u;
    return h;
}

gboolean key_equal(gconstpointer a, gconstpointer b)
{
    return memcmp(a, b, sizeof(SdpaKey)) == 0;
}

void free_plan(gpointer p)
{
    sdpa_plan_free((SdpaPlan *)p);
}

// ---------------------------------------------------------------------------------------------
// The first-use check, one per device and process.

enum CheckState { UNCHECKED = 0, PASSED, FAILED };

struct DeviceCheck {
    CheckState state;
    char *note;
};

GMutex check_lock;
DeviceCheck checks[64];

} // namespace

struct CudnnState {
    cudnnHandle_t handle;
    GHashTable *plans;  // SdpaKey -> SdpaPlan
    char *handle_note;  // why no handle could be made, or NULL
    bool told_fallback; // a per-shape fallback was logged once
    guint64 calls;      // attention calls cuDNN ran
    bool check_passed;  // this device's check passed (cached: no lock per call)
};

namespace
{

constexpr guint MAX_PLANS = 64;

CudnnState *state(CudaBackend *cb)
{
    const CudnnLib *lib = cudnn_library();
    if (cb->cudnn)
        return cb->cudnn;
    CudnnState *st = g_new0(CudnnState, 1);
    cb->cudnn = st;
    st->plans = g_hash_table_new_full(key_hash, key_equal, NULL, free_plan);
    if (lib->note)
        return st;
    const size_t used_before = cuda_device_used();
    cudnnStatus_t s = lib->Create(&st->handle);
    if (s == CUDNN_STATUS_SUCCESS)
        s = lib->SetStream(st->handle, cb->stream);
    if (s != CUDNN_STATUS_SUCCESS) {
        st->handle_note = g_strdup_printf("cudnnCreate failed: %s", lib->GetErrorString(s));
        if (st->handle)
            lib->Destroy(st->handle);
        st->handle = NULL;
        cudaGetLastError();
        return st;
    }
    cuda_library_bytes(cb, (ptrdiff_t)cuda_device_used() - (ptrdiff_t)used_before);
    return st;
}

SdpaPlan *find_plan(CudaBackend *cb, CudnnState *st, const SdpaProblem &p)
{
    SdpaKey key;
    memset(&key, 0, sizeof key);
    key.q_stride = p.q_stride;
    key.k_stride = p.k_stride;
    key.v_stride = p.v_stride;
    key.out_stride = p.out_stride;
    key.nq = p.nq;
    key.nk = p.nk;
    key.heads = p.heads;
    key.head_dim = p.head_dim;
    SdpaPlan *plan = (SdpaPlan *)g_hash_table_lookup(st->plans, &key);
    if (plan)
        return plan;
    if (g_hash_table_size(st->plans) >= MAX_PLANS) {  // many patch shapes: start over
        cudaCheck(cudaStreamSynchronize(cb->stream)); // no plan still in flight
        g_hash_table_remove_all(st->plans);
    }
    plan = g_new0(SdpaPlan, 1);
    plan->key = key;
    char *why = NULL;
    const size_t used_before = cuda_device_used();
    sdpa_build_plan(cudnn_library(), st->handle, plan, &why);
    cuda_library_bytes(cb, (ptrdiff_t)cuda_device_used() - (ptrdiff_t)used_before);
    if (!plan->plan && !st->told_fallback) {
        g_message("resdit CUDA: cuDNN has no attention plan for %d heads, %d queries x %d keys "
                  "(%s); our kernel runs such shapes",
                  p.heads, p.nq, p.nk, why ? why : "unknown");
        st->told_fallback = true;
    }
    g_free(why);
    g_hash_table_insert(st->plans, &plan->key, plan);
    return plan;
}

// Runs p through cuDNN regardless of the check; false when it could not.
bool run_cudnn(CudaBackend *cb, CudnnState *st, const SdpaProblem &p)
{
    const CudnnLib *lib = cudnn_library();
    SdpaPlan *plan = find_plan(cb, st, p);
    if (!plan->plan)
        return false;
    void *workspace = NULL;
    if (plan->workspace > 0) {
        GError *error = NULL;
        workspace = cuda_try_alloc(cb, (size_t)plan->workspace, "the cuDNN workspace", &error);
        if (!workspace) {
            g_clear_error(&error); // our kernel needs none
            return false;
        }
    }
    float scale = 1.0f / sqrtf((float)p.head_dim);
    const int64_t uids[5] = {SDPA_UID_Q, SDPA_UID_K, SDPA_UID_V, SDPA_UID_O, SDPA_UID_SCALE};
    void *ptrs[5] = {(void *)p.q, (void *)p.k, (void *)p.v, (void *)p.out, &scale};
    cudnnBackendDescriptor_t pack = NULL;
    cudnnStatus_t s = lib->CreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &pack);
    if (s == CUDNN_STATUS_SUCCESS)
        s = lib->SetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, 5, uids);
    if (s == CUDNN_STATUS_SUCCESS)
        s = lib->SetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, 5,
                              ptrs);
    if (s == CUDNN_STATUS_SUCCESS)
        s = lib->SetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1,
                              &workspace);
    if (s == CUDNN_STATUS_SUCCESS)
        s = lib->Finalize(pack);
    if (s == CUDNN_STATUS_SUCCESS)
        s = lib->Execute(st->handle, plan->plan, pack);
    if (pack)
        lib->DestroyDescriptor(pack);
    if (workspace)
        cuda_free(cb, workspace);
    if (s != CUDNN_STATUS_SUCCESS) {
        cudaGetLastError();
        if (!st->told_fallback)
            g_message("resdit CUDA: cuDNN attention failed for %d heads, %d queries x %d keys "
                      "(%s); our kernel runs it",
                      p.heads, p.nq, p.nk, lib->GetErrorString(s));
        st->told_fallback = true;
        return false;
    }
    st->calls++;
    return true;
}

// Deterministic bf16 values in [-range, range] (a 32-bit LCG), for the check.
void fill_random(bf16 *host, size_t n, float range, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        host[i] = __float2bfloat16_rn(((float)(x >> 8) / 16777216.0f * 2.0f - 1.0f) * range);
    }
}

// cuDNN against our kernel on 2 heads, Sq x Sk with tails past the 64-row tiles, peaky scores
// (q, k in [-3, 3]: scores of standard deviation 3) so that a wrong layout moves outputs by
// about max|v|. Both round P to bf16 before P V (relative 2^-8 per probability, so at most
// 2^-8 max|v| each after normalisation) and round the output to bf16 (2^-9 |o| <= 2^-9 max|v|
// each); f32 sums add far less. Allowed: 4 * 2^-8 * max|v|. fused: q, k and v are column blocks
// of one [rows, 3 * width] tensor (row stride 3 * width, as the model's qkv views), else three
// tensors of row stride width. cuDNN's output starts as NaN, so a call that writes nothing fails.
bool compare_paths(CudaBackend *cb, CudnnState *st, int nq, int nk, bool fused, char **note)
{
    const int heads = 2, d = 128, width = heads * d;
    const int64_t in_stride = fused ? 3 * width : width;
    const size_t rows = (size_t)MAX(nq, nk);
    const size_t in_el = fused ? rows * 3 * width : (size_t)(nq + 2 * nk) * width;
    const size_t out_el = (size_t)nq * width;
    bf16 *host = g_new(bf16, in_el + 2 * out_el);
    // q and k in [-3, 3], v in [-1, 1], each block from its own seed
    bf16 *q_h = host, *k_h = fused ? host + width : host + (size_t)nq * width;
    bf16 *v_h = fused ? host + 2 * width : k_h + (size_t)nk * width;
    for (size_t r = 0; r < rows; r++) {
        if (r < (size_t)nq)
            fill_random(q_h + r * in_stride, width, 3.0f, 1 + 3 * (uint32_t)r);
        if (r < (size_t)nk) {
            fill_random(k_h + r * in_stride, width, 3.0f, 2 + 3 * (uint32_t)r);
            fill_random(v_h + r * in_stride, width, 1.0f, 3 + 3 * (uint32_t)r);
        }
    }
    if (fused) // rows past nq or nk in the other blocks: defined values, never read
        for (size_t r = (size_t)MIN(nq, nk); r < rows; r++)
            fill_random(host + r * in_stride, 3 * width, 1.0f, 7);
    GError *error = NULL;
    bf16 *dev =
        (bf16 *)cuda_try_alloc(cb, (in_el + 2 * out_el) * sizeof(bf16), "the cuDNN check", &error);
    if (!dev) {
        *note = g_strdup_printf("the check could not run: %s", error->message);
        g_error_free(error);
        g_free(host);
        return false;
    }
    SdpaProblem p = {dev + (q_h - host),
                     dev + (k_h - host),
                     dev + (v_h - host),
                     dev + in_el,
                     in_stride,
                     in_stride,
                     in_stride,
                     width,
                     nq,
                     nk,
                     heads,
                     d};
    cudaCheck(cudaMemcpyAsync(dev, host, in_el * sizeof(bf16), cudaMemcpyHostToDevice, cb->stream));
    attention_ours(cb, p);
    SdpaProblem pc = p;
    pc.out = p.out + out_el;
    cudaCheck(cudaMemsetAsync(pc.out, 0xff, out_el * sizeof(bf16), cb->stream)); // NaN
    const bool ran = run_cudnn(cb, st, pc);
    bool ok = ran;
    const char *layout = fused ? "q/k/v in one qkv tensor" : "separate q, k, v";
    if (!ran)
        *note =
            g_strdup_printf("cuDNN could not run the check problem (%d x %d, %s)", nq, nk, layout);
    if (ran) {
        bf16 *outs = host + in_el;
        cudaCheck(cudaMemcpyAsync(outs, p.out, 2 * out_el * sizeof(bf16), cudaMemcpyDeviceToHost,
                                  cb->stream));
        cudaCheck(cudaStreamSynchronize(cb->stream));
        const float allowed = 4.0f / 256.0f * 1.0f; // max|v| = 1
        float worst = 0.0f;
        size_t worst_at = 0;
        for (size_t i = 0; i < out_el; i++) {
            const float a = __bfloat162float(outs[i]), c = __bfloat162float(outs[out_el + i]);
            const float diff = fabsf(a - c);
            if (!(diff <= worst)) { // NaN counts as the worst
                worst = isnan(diff) ? INFINITY : diff;
                worst_at = i;
            }
        }
        ok = worst <= allowed;
        *note = g_strdup_printf("%d x %d (%s): largest difference %.4g (allowed %.4g) at query "
                                "%zu head %zu column %zu",
                                nq, nk, layout, worst, allowed, worst_at / width,
                                worst_at % width / d, worst_at % d);
    }
    cuda_free(cb, dev);
    cudaCheck(cudaStreamSynchronize(cb->stream));
    g_free(host);
    return ok;
}

// The check's result for cb's device, running it if this is the first use there.
const DeviceCheck *device_check(CudaBackend *cb, CudnnState *st)
{
    static DeviceCheck unavailable = {FAILED, NULL};
    if (cb->device < 0 || cb->device >= 64)
        return &unavailable;
    g_mutex_lock(&check_lock);
    DeviceCheck *c = &checks[cb->device];
    if (c->state == UNCHECKED) {
        char *a = NULL, *b = NULL;
        // self-attention with tails on the model's qkv views, then text-query-like (few
        // queries, many keys) on separate tensors
        const bool ok =
            compare_paths(cb, st, 300, 300, true, &a) && compare_paths(cb, st, 77, 333, false, &b);
        c->state = ok ? PASSED : FAILED;
        c->note = g_strdup_printf("%s%s%s", a ? a : "", b ? "; " : "", b ? b : "");
        g_free(a);
        g_free(b);
        if (!ok) {
            g_autofree char *v = cudnn_version_text(cudnn_library());
            g_message("resdit CUDA: %s disagrees with our attention kernel on device %d (%s); "
                      "cuDNN is off for it",
                      v, cb->device, c->note);
        }
    }
    g_mutex_unlock(&check_lock);
    return c;
}

} // namespace

bool cudnn_attention(CudaBackend *cb, const SdpaProblem &p)
{
    if (cb->attention_path == ATTENTION_OURS || p.head_dim != 128 || p.nq == 0 || p.nk == 0)
        return false;
    if (cudnn_library()->note)
        return false;
    CudnnState *st = state(cb);
    if (!st->handle)
        return false;
    if (cb->attention_path == ATTENTION_AUTO && !st->check_passed) {
        st->check_passed = device_check(cb, st)->state == PASSED;
        if (!st->check_passed)
            return false;
    }
    return run_cudnn(cb, st, p);
}

guint64 cudnn_attention_calls(CudaBackend *cb)
{
    return cb->cudnn ? cb->cudnn->calls : 0;
}

char *cudnn_attention_describe(CudaBackend *cb, RdCudaCudnnState *out)
{
    *out = RD_CUDNN_UNAVAILABLE;
    const CudnnLib *lib = cudnn_library();
    const char *ours = "our mma.sync flash kernel";
    if (lib->note && !lib->dl)
        return g_strdup_printf("%s (cuDNN %s)", ours, lib->note);
    if (lib->note)
        return g_strdup_printf("%s (cuDNN not usable: %s)", ours, lib->note);
    g_autofree char *v = cudnn_version_text(lib);
    if (cb->attention_path == ATTENTION_OURS) {
        *out = RD_CUDNN_TURNED_OFF;
        return g_strdup_printf("%s (turned off: RESDIT_ATTENTION=ours; %s found)", ours, v);
    }
    CudnnState *st = state(cb);
    if (!st->handle)
        return g_strdup_printf("%s (%s found, %s)", ours, v, st->handle_note);
    const DeviceCheck *c = device_check(cb, st);
    if (c->state == PASSED) {
        *out = RD_CUDNN_ACTIVE;
        return g_strdup_printf("cuDNN fused SDPA, %s, first-use check passed (%s)", v, c->note);
    }
    if (cb->attention_path == ATTENTION_CUDNN) {
        *out = RD_CUDNN_ACTIVE;
        return g_strdup_printf("cuDNN fused SDPA, %s, forced by RESDIT_ATTENTION=cudnn although "
                               "the first-use check failed (%s)",
                               v, c->note ? c->note : "");
    }
    *out = RD_CUDNN_CHECK_FAILED;
    return g_strdup_printf("%s (%s found, first-use check failed: %s)", ours, v,
                           c->note ? c->note : "");
}

void cudnn_attention_free(CudaBackend *cb)
{
    CudnnState *st = cb->cudnn;
    if (!st)
        return;
    cudaStreamSynchronize(cb->stream);
    g_hash_table_destroy(st->plans);
    if (st->handle)
        cudnn_library()->Destroy(st->handle);
    g_free(st->handle_note);
    g_free(st);
    cb->cudnn = NULL;
}

#endif // RD_HAVE_CUDNN
