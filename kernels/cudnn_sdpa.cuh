// cuDNN's fused flash attention (SDPA) graph through the backend (graph) API of cudnn_graph.h,
// every entry point resolved with dlsym from libcudnn.so.9 (or libcudnn.so) at run time: nothing
// links against cuDNN. The library, the graph of one shape and its execution plan; the backend's
// use of them (plan cache, first-use check, fallback) is attention_cudnn.cu. Declared only when
// meson found cudnn_graph.h (RD_HAVE_CUDNN).
#pragma once

#if RD_HAVE_CUDNN
#include <cudnn_graph.h>
#include <glib.h>
#include <stdint.h>

struct CudnnLib {
    void *dl;
    size_t version;
    char *note; // why it is not usable, or NULL
    char *file;
    decltype(&cudnnGetVersion) GetVersion;
    decltype(&cudnnGetErrorString) GetErrorString;
    decltype(&cudnnCreate) Create;
    decltype(&cudnnDestroy) Destroy;
    decltype(&cudnnSetStream) SetStream;
    decltype(&cudnnBackendCreateDescriptor) CreateDescriptor;
    decltype(&cudnnBackendDestroyDescriptor) DestroyDescriptor;
    decltype(&cudnnBackendSetAttribute) SetAttribute;
    decltype(&cudnnBackendGetAttribute) GetAttribute;
    decltype(&cudnnBackendFinalize) Finalize;
    decltype(&cudnnBackendExecute) Execute;
};

// The library, loaded on the first call (thread-safe); lib->note says why it is not usable (dl is
// NULL when it was not found).
const CudnnLib *cudnn_library(void);
// "cuDNN 9.1.0 (libcudnn.so.9)"; g_free.
char *cudnn_version_text(const CudnnLib *lib);

// The tensors of the variant pack.
constexpr int64_t SDPA_UID_Q = 1, SDPA_UID_K = 2, SDPA_UID_V = 3, SDPA_UID_O = 4,
                  SDPA_UID_SCALE = 5;

// The shape a plan is made for (pointers come per call, 16-byte aligned).
struct SdpaKey {
    int64_t q_stride, k_stride, v_stride, out_stride;
    int32_t nq, nk, heads, head_dim;
};

struct SdpaPlan {
    SdpaKey key;
    GPtrArray *descs;              // everything the plan was built from
    cudnnBackendDescriptor_t plan; // NULL: cuDNN has no plan for this shape (use ours)
    int64_t workspace;
};

// The tensors and the ten operations of one shape (no device needed), their descriptors added
// to descs; false with *why (g_free) at the first that does not finalize.
bool sdpa_build_ops(const CudnnLib *lib, const SdpaKey &key, GPtrArray *descs,
                    cudnnBackendDescriptor_t ops[10], char **why);
// The operation graph and execution plan of plan->key (needs a handle, so a device): the first
// engine configuration of the heuristics (mode A) that finalizes. On failure plan->plan stays
// NULL and *why (g_free) says where it stopped.
void sdpa_build_plan(const CudnnLib *lib, cudnnHandle_t handle, SdpaPlan *plan, char **why);
void sdpa_plan_free(SdpaPlan *plan);
void sdpa_destroy_descs(const CudnnLib *lib, GPtrArray *descs);
#endif
