// cuDNN fused-attention graph check, useful without a GPU: loads libcudnn.so.9 as the backend
// does, builds the SDPA tensors and operations of attention_cudnn.cu for the FLUX shapes (global,
// one local patch, text queries) and reports whether each descriptor finalizes (that is where
// wrong attribute types, dims or strides show). With a GPU it also makes the operation graph and
// the execution plan for each shape and prints the engine count and workspace.
//
// Usage: dev-cudnn-graph     (exit 0: every step it could run passed; 1: one failed; 77: no cuDNN)
#include "../attention_cudnn.cu"

// The backend functions attention_cudnn.cu calls; this program only builds descriptors and plans.
void cuda_fatal(const char *call, const char *message, const char *file, int line)
{
    fprintf(stderr, "%s failed: %s (%s:%d)\n", call, message, file, line);
    abort();
}
void *cuda_try_alloc(CudaBackend *, size_t bytes, const char *, GError **)
{
    void *p = NULL;
    return cudaMalloc(&p, bytes) == cudaSuccess ? p : NULL;
}
void cuda_free(CudaBackend *, void *ptr)
{
    cudaFree(ptr);
}
size_t cuda_device_used(void)
{
    return 0;
}
void cuda_library_bytes(CudaBackend *, ptrdiff_t)
{
}
void attention_ours(CudaBackend *, const SdpaProblem &)
{
    cuda_fatal("attention_ours", "not in this program", __FILE__, __LINE__);
}

#if RD_HAVE_CUDNN
struct Shape {
    const char *what;
    int nq, nk, heads;
    int64_t stride, out_stride;
};

int main(void)
{
    const CudnnLib *lib = library();
    if (lib->note) {
        printf("cuDNN: %s\n", lib->note);
        return lib->dl ? 1 : 77;
    }
    g_autofree char *v = version_text(lib);
    printf("%s loaded\n", v);
    // 4096 x 4096: 256 x 256 = 65 536 image tokens + 512 text; a MOP patch of 64 x 64 tokens
    const int heads = 24, D = 128, width = heads * D;
    const Shape shapes[] = {
        {"global (fused qkv rows)", 66048, 66048, heads, 3 * width, width},
        {"local patch over text + patch keys", 4096, 4608, heads, width, width},
        {"text queries over every key", 512, 66048, heads, width, width},
        {"first-use check, qkv views", 300, 300, 2, 3 * 2 * D, 2 * D},
        {"first-use check, separate tensors", 77, 333, 2, 2 * D, 2 * D},
    };
    int device_count = 0;
    const bool gpu = cudaGetDeviceCount(&device_count) == cudaSuccess && device_count > 0;
    cudaGetLastError();
    cudnnHandle_t handle = NULL;
    if (gpu && lib->Create(&handle) != CUDNN_STATUS_SUCCESS)
        handle = NULL;
    printf("%s\n", handle ? "GPU found: building full plans"
                          : "no GPU (or no cuDNN handle): tensors and operations only");
    int failures = 0;
    for (const Shape &s : shapes) {
        PlanKey key;
        memset(&key, 0, sizeof key);
        key.q_stride = key.k_stride = key.v_stride = s.stride;
        key.out_stride = s.out_stride;
        key.nq = s.nq;
        key.nk = s.nk;
        key.heads = s.heads;
        key.head_dim = D;
        if (!handle) {
            Builder b;
            b.lib = lib;
            b.descs = g_ptr_array_new();
            cudnnBackendDescriptor_t ops[10];
            build_ops(b, key, ops);
            printf("%-36s %6d x %6d: %u descriptors, %s%s%s\n", s.what, s.nq, s.nk, b.descs->len,
                   b.ok() ? "all finalized" : lib->GetErrorString(b.status), b.ok() ? "" : " at ",
                   b.ok() ? "" : b.failed_at);
            failures += !b.ok();
            destroy_descs(lib, b.descs);
            continue;
        }
        Plan *plan = g_new0(Plan, 1);
        plan->key = key;
        char *why = NULL;
        const gint64 t0 = g_get_monotonic_time();
        build_plan(lib, handle, plan, &why);
        printf("%-36s %6d x %6d: %s, workspace %" G_GINT64_FORMAT " bytes, %.0f ms\n", s.what, s.nq,
               s.nk, plan->plan ? "plan made" : why, plan->workspace,
               (g_get_monotonic_time() - t0) / 1000.0);
        failures += plan->plan == NULL;
        g_free(why);
        free_plan(plan);
    }
    if (handle)
        lib->Destroy(handle);
    return failures ? 1 : 0;
}
#else
int main(void)
{
    printf("cuDNN support is not built in (no cudnn_graph.h at configure time)\n");
    return 77;
}
#endif
