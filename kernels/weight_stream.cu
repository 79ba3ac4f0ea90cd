// Block streaming (engine/backend.h stream_*): each group's weights in one pinned host buffer,
// laid out as in a device slot (every weight at a 256-byte offset, so a GEMM sees the alignment
// a resident weight has and picks the same plan); two slots of the largest group from the pool;
// copies on a second stream, ordered against the compute stream by events: loaded[k] (the copy
// into slot k is done) and freed[k] (the ops of the group that last used slot k have run).
#include "cuda_backend.h"
#include "for_each.cuh"

#define SLOT_ALIGN 256

typedef struct {
    RdWeight **ws;
    size_t *offset;
    int n;
    void *host;
    size_t bytes;
} Group;

struct RdWeightStream {
    GArray *groups; // Group
    cudaStream_t copy;
    void *slot[2];
    size_t slot_bytes;
    int slot_group[2]; // the group a slot holds (or is being copied), -1: none
    int in_use;        // the group the compute stream uses now, -1: none
    cudaEvent_t loaded[2], freed[2];
};

static size_t weight_bytes(const RdWeight *w)
{
    const size_t n = (size_t)(w->rows * w->cols);
    return w->device_fp8 ? n : n * sizeof(bf16);
}

static RdWeightStream *cuda_stream_new(RdBackend *, GError **error)
{
    RdWeightStream *s = g_new0(RdWeightStream, 1);
    s->groups = g_array_new(FALSE, TRUE, sizeof(Group));
    s->slot_group[0] = s->slot_group[1] = s->in_use = -1;
    cudaError_t err = cudaStreamCreateWithFlags(&s->copy, cudaStreamNonBlocking);
    for (int k = 0; k < 2 && err == cudaSuccess; k++) {
        err = cudaEventCreateWithFlags(&s->loaded[k], cudaEventDisableTiming);
        if (err == cudaSuccess)
            err = cudaEventCreateWithFlags(&s->freed[k], cudaEventDisableTiming);
    }
    if (err != cudaSuccess) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_BACKEND, "CUDA streaming setup failed: %s",
                    cudaGetErrorString(err));
        cudaGetLastError();
        g_array_free(s->groups, TRUE);
        g_free(s);
        return NULL;
    }
    return s;
}

static int cuda_stream_park(RdBackend *be, RdWeightStream *s, RdWeight *const *ws, int n,
                            gboolean fp8, GError **error)
{
    CudaBackend *cb = cuda_backend(be);
    Group g = {g_new(RdWeight *, MAX(n, 1)), g_new0(size_t, MAX(n, 1)), n, NULL, 0};
    // sizes first (the format each weight will have), then one pinned buffer
    for (int i = 0; i < n; i++) {
        g.ws[i] = ws[i];
        const size_t elems = (size_t)(ws[i]->rows * ws[i]->cols);
        const size_t bytes = fp8 && ws[i]->cols > 1 ? elems : elems * sizeof(bf16);
        g.offset[i] = g.bytes;
        g.bytes += (bytes + SLOT_ALIGN - 1) / SLOT_ALIGN * SLOT_ALIGN;
    }
    cudaError_t err = cudaHostAlloc(&g.host, MAX(g.bytes, (size_t)1), cudaHostAllocDefault);
    if (err != cudaSuccess) {
        cudaGetLastError();
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_OUT_OF_MEMORY,
                    "Could not allocate %.1f MiB of pinned host memory for a streamed block: %s",
                    g.bytes / 1048576.0, cudaGetErrorString(err));
        g_free(g.ws);
        g_free(g.offset);
        return -1;
    }
    gboolean ok = TRUE;
    for (int i = 0; i < n && ok; i++) {
        RdWeight *w = ws[i];
        if (w->device)
            be->weight_release(be, w);
        ok = fp8 ? cuda_weight_prepare_fp8(be, w, error) : cuda_weight_prepare(be, w, error);
        if (!ok)
            break;
        const size_t room = (i + 1 < n ? g.offset[i + 1] : g.bytes) - g.offset[i];
        if (weight_bytes(w) > room) { // a format other than the one sized for: a bug
            g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_BACKEND,
                        "Weight %s: its device copy (%zu bytes) does not fit its streaming slot",
                        w->name ? w->name : "(unnamed)", weight_bytes(w));
            be->weight_release(be, w);
            ok = FALSE;
            break;
        }
        cudaCheck(cudaMemcpyAsync((char *)g.host + g.offset[i], w->device, weight_bytes(w),
                                  cudaMemcpyDeviceToHost, cb->stream));
        cudaCheck(cudaStreamSynchronize(cb->stream));
        cuda_free(cb, w->device); // keeps device_fp8 and device_scale: the format of the copy
        w->device = NULL;
    }
    if (!ok) {
        cudaFreeHost(g.host);
        g_free(g.ws);
        g_free(g.offset);
        return -1;
    }
    s->slot_bytes = MAX(s->slot_bytes, g.bytes);
    g_array_append_val(s->groups, g);
    return (int)s->groups->len - 1;
}

// The slot holding group g, its copy started if it is in neither (into the slot the compute
// stream is not using); -1 when the slots cannot be allocated (the failure is kept).
static int load(CudaBackend *cb, RdWeightStream *s, int g)
{
    for (int k = 0; k < 2; k++)
        if (s->slot_group[k] == g)
            return k;
    if (!s->slot[0] || !s->slot[1]) {
        for (int k = 0; k < 2; k++)
            if (!s->slot[k])
                s->slot[k] = cuda_op_alloc(cb, s->slot_bytes, "a streamed block's slot");
        if (!s->slot[0] || !s->slot[1])
            return -1;
        cudaCheck(cudaStreamSynchronize(cb->stream)); // the pool's memory, ready for the copy stream
    }
    const int k = s->slot_group[0] == s->in_use && s->in_use >= 0 ? 1 : 0;
    const Group *gr = &g_array_index(s->groups, Group, g);
    cudaCheck(cudaStreamWaitEvent(s->copy, s->freed[k], 0));
    cudaCheck(cudaMemcpyAsync(s->slot[k], gr->host, gr->bytes, cudaMemcpyHostToDevice, s->copy));
    cudaCheck(cudaEventRecord(s->loaded[k], s->copy));
    s->slot_group[k] = g;
    return k;
}

static void cuda_stream_use(RdBackend *be, RdWeightStream *s, int g, int next)
{
    CudaBackend *cb = cuda_backend(be);
    if (g >= 0) {
        const int k = load(cb, s, g);
        if (k < 0)
            return; // the ops that follow find no weight: rd_backend_check ends the job first
        cudaCheck(cudaStreamWaitEvent(cb->stream, s->loaded[k], 0));
        const Group *gr = &g_array_index(s->groups, Group, g);
        for (int i = 0; i < gr->n; i++)
            gr->ws[i]->device = (char *)s->slot[k] + gr->offset[i];
        s->in_use = g;
    }
    if (next >= 0 && next != g)
        load(cb, s, next);
}

static void cuda_stream_done(RdBackend *be, RdWeightStream *s, int g)
{
    CudaBackend *cb = cuda_backend(be);
    for (int k = 0; k < 2; k++)
        if (s->slot_group[k] == g)
            cudaCheck(cudaEventRecord(s->freed[k], cb->stream));
    const Group *gr = &g_array_index(s->groups, Group, g);
    for (int i = 0; i < gr->n; i++)
        gr->ws[i]->device = NULL;
    if (s->in_use == g)
        s->in_use = -1;
}

static void cuda_stream_free(RdBackend *be, RdWeightStream *s)
{
    CudaBackend *cb = cuda_backend(be);
    if (!s)
        return;
    cudaCheck(cudaStreamSynchronize(s->copy));
    cudaCheck(cudaStreamSynchronize(cb->stream));
    for (guint i = 0; i < s->groups->len; i++) {
        Group *g = &g_array_index(s->groups, Group, i);
        for (int j = 0; j < g->n; j++) {
            g->ws[j]->device = NULL;
            g->ws[j]->device_fp8 = FALSE;
        }
        cudaFreeHost(g->host);
        g_free(g->ws);
        g_free(g->offset);
    }
    g_array_free(s->groups, TRUE);
    for (int k = 0; k < 2; k++) {
        cuda_free(cb, s->slot[k]);
        cudaEventDestroy(s->loaded[k]);
        cudaEventDestroy(s->freed[k]);
    }
    cudaStreamDestroy(s->copy);
    g_free(s);
}

void cuda_fill_stream_ops(RdBackend *be)
{
    be->stream_new = cuda_stream_new;
    be->stream_park = cuda_stream_park;
    be->stream_use = cuda_stream_use;
    be->stream_done = cuda_stream_done;
    be->stream_free = cuda_stream_free;
}
