// cuDNN fused-attention graph check, useful without a GPU: loads libcudnn.so.9 as the backend
// does, builds the SDPA tensors and operations of cudnn_sdpa.cu for the FLUX shapes (global,
// one local patch, text queries) and reports whether each descriptor finalizes (that is where
// wrong attribute types, dims or strides show). With a GPU it also makes the operation graph and
// the execution plan for each shape and prints the engine count and workspace.
//
// Usage: dev-cudnn-graph     (exit 0: every step it could run passed; 1: one failed; 77: no cuDNN)
// Built from cudnn_sdpa.cu alone (no backend).
#include <cuda_runtime.h>
#include <stdio.h>
#include <string.h>

#include "cudnn_sdpa.cuh"

#if RD_HAVE_CUDNN
struct Shape {
    const char *what;
    int nq, nk, heads;
    int64_t stride, out_stride;
};

int main(void)
{
    const CudnnLib *lib = cudnn_library();
    if (lib->note) {
        printf("cuDNN: %s\n", lib->note);
        return lib->dl ? 1 : 77;
    }
    g_autofree char *v = cudnn_version_text(lib);
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
        SdpaKey key;
        memset(&key, 0, sizeof key);
        key.q_stride = key.k_stride = key.v_stride = s.stride;
        key.out_stride = s.out_stride;
        key.nq = s.nq;
        key.nk = s.nk;
        key.heads = s.heads;
        key.head_dim = D;
        if (!handle) {
            GPtrArray *descs = g_ptr_array_new();
            cudnnBackendDescriptor_t ops[10];
            char *why = NULL;
            const bool ok = sdpa_build_ops(lib, key, descs, ops, &why);
            printf("%-36s %6d x %6d: %u descriptors, %s\n", s.what, s.nq, s.nk, descs->len,
                   ok ? "all finalized" : why);
            failures += !ok;
            g_free(why);
            sdpa_destroy_descs(lib, descs);
            continue;
        }
        SdpaPlan *plan = g_new0(SdpaPlan, 1);
        plan->key = key;
        char *why = NULL;
        const gint64 t0 = g_get_monotonic_time();
        sdpa_build_plan(lib, handle, plan, &why);
        printf("%-36s %6d x %6d: %s, workspace %" G_GINT64_FORMAT " bytes, %.0f ms\n", s.what, s.nq,
               s.nk, plan->plan ? "plan made" : why, plan->workspace,
               (g_get_monotonic_time() - t0) / 1000.0);
        failures += plan->plan == NULL;
        g_free(why);
        sdpa_plan_free(plan);
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
