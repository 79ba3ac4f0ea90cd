// cuDNN's fused flash attention through the backend (graph) API of cudnn_graph.h, every entry
// point resolved with dlsym from libcudnn.so.9 (or libcudnn.so) at run time: nothing links
// against cuDNN. Built only when meson finds cudnn_graph.h (RD_HAVE_CUDNN); otherwise every call
// answers "not built in" and our kernel runs.
//
// The graph is the one cuDNN documents for fused flash attention forward ("Scaled Dot-Product
// Attention" in the developer guide; the cuDNN frontend's sdpa node lowers to the same):
//   S = matmul(Q, K^T)        Q [1, H, Sq, D], K^T [1, H, D, Sk] (K with its last two strides
//                              swapped), S [1, H, Sq, Sk] f32, virtual
//   S = S * scale             by-value f32 scalar 1/sqrt(D)
//   M = max over keys, E = exp(S - M), Z = sum over keys of E,
//   stats = M + log Z         (virtual: inference)
//   P = E / Z                 virtual, bf16 (the second matmul takes the i/o type)
//   O = matmul(P, V)          V [1, H, Sk, D], O [1, H, Sq, D]
// Our [tokens, heads * D] row-major tensors are the BSHD layout: head stride D, token stride the
// row stride. Plans are cached per shape and strides; the data pointers go in a variant pack per
// call.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention_cudnn.cuh"

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

#include <cudnn_graph.h>
#include <dlfcn.h>

// ---------------------------------------------------------------------------------------------
// The library, loaded once per process.

namespace
{

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

CudnnLib the_lib;

template <typename F> bool resolve(CudnnLib *lib, F *fn, const char *name)
{
    *fn = (F)dlsym(lib->dl, name);
    if (!*fn && !lib->note)
        lib->note = g_strdup_printf("%s has no %s", lib->file, name);
    return *fn != NULL;
}

gpointer load_library(gpointer)
{
    CudnnLib *lib = &the_lib;
    const char *names[] = {"libcudnn.so.9", "libcudnn.so"};
    GString *errors = g_string_new(NULL);
    for (const char *name : names) {
        lib->dl = dlopen(name, RTLD_NOW | RTLD_LOCAL);
        if (lib->dl) {
            lib->file = g_strdup(name);
            break;
        }
        const char *e = dlerror();
        g_string_append_printf(errors, "%s%s", errors->len ? "; " : "", e ? e : name);
    }
    if (!lib->dl) {
        lib->note = g_strdup_printf("not found (%s)", errors->str);
        g_string_free(errors, TRUE);
        return lib;
    }
    g_string_free(errors, TRUE);
    bool ok = resolve(lib, &lib->GetVersion, "cudnnGetVersion") &&
              resolve(lib, &lib->GetErrorString, "cudnnGetErrorString") &&
              resolve(lib, &lib->Create, "cudnnCreate") &&
              resolve(lib, &lib->Destroy, "cudnnDestroy") &&
              resolve(lib, &lib->SetStream, "cudnnSetStream") &&
              resolve(lib, &lib->CreateDescriptor, "cudnnBackendCreateDescriptor") &&
              resolve(lib, &lib->DestroyDescriptor, "cudnnBackendDestroyDescriptor") &&
              resolve(lib, &lib->SetAttribute, "cudnnBackendSetAttribute") &&
              resolve(lib, &lib->GetAttribute, "cudnnBackendGetAttribute") &&
              resolve(lib, &lib->Finalize, "cudnnBackendFinalize") &&
              resolve(lib, &lib->Execute, "cudnnBackendExecute");
    if (ok) {
        lib->version = lib->GetVersion();
        // flash attention with any sequence length needs the 9.x engines
        if (lib->version < 90000)
            lib->note = g_strdup_printf("%s is version %zu.%zu; fused attention needs 9.0 or newer",
                                        lib->file, lib->version / 1000, lib->version / 100 % 10);
    }
    return lib;
}

const CudnnLib *library(void)
{
    static GOnce once = G_ONCE_INIT;
    return (const CudnnLib *)g_once(&once, load_library, NULL);
}

char *version_text(const CudnnLib *lib)
{
    return g_strdup_printf("cuDNN %zu.%zu.%zu (%s)", lib->version / 10000, lib->version / 100 % 100,
                           lib->version % 100, lib->file);
}

// ---------------------------------------------------------------------------------------------
// Graph construction. Builder keeps every descriptor it made (freed together) and the first
// failure, so a chain of calls needs one check at the end.

constexpr int64_t UID_Q = 1, UID_K = 2, UID_V = 3, UID_O = 4, UID_SCALE = 5;

struct Builder {
    const CudnnLib *lib;
    GPtrArray *descs; // cudnnBackendDescriptor_t, destroyed with the plan
    cudnnStatus_t status = CUDNN_STATUS_SUCCESS;
    const char *failed_at = NULL;
    int64_t next_uid = 100;

    bool ok() const
    {
        return status == CUDNN_STATUS_SUCCESS;
    }
    void check(cudnnStatus_t s, const char *what)
    {
        if (ok() && s != CUDNN_STATUS_SUCCESS) {
            status = s;
            failed_at = what;
        }
    }
    cudnnBackendDescriptor_t create(cudnnBackendDescriptorType_t type, const char *what)
    {
        cudnnBackendDescriptor_t d = NULL;
        if (!ok())
            return NULL;
        check(lib->CreateDescriptor(type, &d), what);
        if (d)
            g_ptr_array_add(descs, d);
        return d;
    }
    void set(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name,
             cudnnBackendAttributeType_t type, int64_t count, const void *value, const char *what)
    {
        if (ok())
            check(lib->SetAttribute(d, name, type, count, value), what);
    }
    void finalize(cudnnBackendDescriptor_t d, const char *what)
    {
        if (ok())
            check(lib->Finalize(d), what);
    }

    cudnnBackendDescriptor_t tensor(int64_t uid, cudnnDataType_t type, const int64_t dims[4],
                                    const int64_t strides[4], bool is_virtual,
                                    bool by_value = false)
    {
        cudnnBackendDescriptor_t t = create(CUDNN_BACKEND_TENSOR_DESCRIPTOR, "tensor");
        const int64_t alignment = 16;
        set(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type, "tensor type");
        set(t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims, "tensor dims");
        set(t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides, "tensor strides");
        set(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid, "tensor uid");
        set(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &alignment, "alignment");
        const bool virt = is_virtual;
        set(t, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &virt, "tensor virtual");
        if (by_value) {
            const bool yes = true;
            set(t, CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &yes, "by value");
        }
        finalize(t, "tensor");
        return t;
    }
    // An f32 virtual tensor [1, H, Sq, n] (n = Sk: scores; n = 1: row statistics).
    cudnnBackendDescriptor_t scores(int64_t h, int64_t sq, int64_t n,
                                    cudnnDataType_t type = CUDNN_DATA_FLOAT)
    {
        const int64_t dims[4] = {1, h, sq, n};
        const int64_t strides[4] = {h * sq * n, sq * n, n, 1};
        return tensor(next_uid++, type, dims, strides, true);
    }

    cudnnBackendDescriptor_t matmul(cudnnBackendDescriptor_t a, cudnnBackendDescriptor_t b,
                                    cudnnBackendDescriptor_t c)
    {
        cudnnBackendDescriptor_t desc = create(CUDNN_BACKEND_MATMUL_DESCRIPTOR, "matmul");
        const cudnnDataType_t comp = CUDNN_DATA_FLOAT;
        set(desc, CUDNN_ATTR_MATMUL_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &comp, "matmul type");
        finalize(desc, "matmul");
        cudnnBackendDescriptor_t op =
            create(CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR, "matmul operation");
        set(op, CUDNN_ATTR_OPERATION_MATMUL_ADESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &a, "mm A");
        set(op, CUDNN_ATTR_OPERATION_MATMUL_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &b, "mm B");
        set(op, CUDNN_ATTR_OPERATION_MATMUL_CDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &c, "mm C");
        set(op, CUDNN_ATTR_OPERATION_MATMUL_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &desc,
            "mm desc");
        finalize(op, "matmul operation");
        return op;
    }
    // y = x <mode> b (b NULL for unary modes).
    cudnnBackendDescriptor_t pointwise(cudnnPointwiseMode_t mode, cudnnBackendDescriptor_t x,
                                       cudnnBackendDescriptor_t b, cudnnBackendDescriptor_t y)
    {
        cudnnBackendDescriptor_t desc = create(CUDNN_BACKEND_POINTWISE_DESCRIPTOR, "pointwise");
        const cudnnDataType_t prec = CUDNN_DATA_FLOAT;
        set(desc, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode, "pw mode");
        set(desc, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &prec, "pw precision");
        finalize(desc, "pointwise");
        cudnnBackendDescriptor_t op =
            create(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, "pointwise operation");
        set(op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
            &desc, "pw desc");
        set(op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x, "pw x");
        if (b)
            set(op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &b,
                "pw b");
        set(op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y, "pw y");
        finalize(op, "pointwise operation");
        return op;
    }
    cudnnBackendDescriptor_t reduction(cudnnReduceTensorOp_t mode, cudnnBackendDescriptor_t x,
                                       cudnnBackendDescriptor_t y)
    {
        cudnnBackendDescriptor_t desc = create(CUDNN_BACKEND_REDUCTION_DESCRIPTOR, "reduction");
        const cudnnDataType_t comp = CUDNN_DATA_FLOAT;
        set(desc, CUDNN_ATTR_REDUCTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &comp, "red type");
        set(desc, CUDNN_ATTR_REDUCTION_OPERATOR, CUDNN_TYPE_REDUCTION_OPERATOR_TYPE, 1, &mode,
            "red operator");
        finalize(desc, "reduction");
        cudnnBackendDescriptor_t op =
            create(CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR, "reduction operation");
        set(op, CUDNN_ATTR_OPERATION_REDUCTION_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &desc,
            "red desc");
        set(op, CUDNN_ATTR_OPERATION_REDUCTION_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x,
            "red x");
        set(op, CUDNN_ATTR_OPERATION_REDUCTION_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y,
            "red y");
        finalize(op, "reduction operation");
        return op;
    }
};

// The shape a plan is made for (pointers come per call, 16-byte aligned).
struct PlanKey {
    int64_t q_stride, k_stride, v_stride, out_stride;
    int32_t nq, nk, heads, head_dim;
};

struct Plan {
    PlanKey key;
    GPtrArray *descs;              // everything the plan was built from
    cudnnBackendDescriptor_t plan; // NULL: cuDNN has no plan for this shape (use ours)
    int64_t workspace;
};

guint key_hash(gconstpointer p)
{
    const PlanKey *k = (const PlanKey *)p;
    guint h = 2166136261u;
    const unsigned char *b = (const unsigned char *)k;
    for (size_t i = 0; i < sizeof *k; i++)
        h = (h ^ b[i]) * 16777619u;
    return h;
}

gboolean key_equal(gconstpointer a, gconstpointer b)
{
    return memcmp(a, b, sizeof(PlanKey)) == 0;
}

void destroy_descs(const CudnnLib *lib, GPtrArray *descs)
{
    for (guint i = descs->len; i-- > 0;)
        lib->DestroyDescriptor((cudnnBackendDescriptor_t)g_ptr_array_index(descs, i));
    g_ptr_array_free(descs, TRUE);
}

// The ten operations of the header comment for one shape, in data-flow order.
void build_ops(Builder &b, const PlanKey &s, cudnnBackendDescriptor_t ops[10])
{
    const int64_t h = s.heads, d = s.head_dim, sq = s.nq, sk = s.nk;
    const int64_t q_dims[4] = {1, h, sq, d}, q_str[4] = {sq * s.q_stride, d, s.q_stride, 1};
    const int64_t kt_dims[4] = {1, h, d, sk}, kt_str[4] = {sk * s.k_stride, d, 1, s.k_stride};
    const int64_t v_dims[4] = {1, h, sk, d}, v_str[4] = {sk * s.v_stride, d, s.v_stride, 1};
    const int64_t o_str[4] = {sq * s.out_stride, d, s.out_stride, 1};
    const int64_t one[4] = {1, 1, 1, 1};
    cudnnBackendDescriptor_t Q = b.tensor(UID_Q, CUDNN_DATA_BFLOAT16, q_dims, q_str, false);
    cudnnBackendDescriptor_t KT = b.tensor(UID_K, CUDNN_DATA_BFLOAT16, kt_dims, kt_str, false);
    cudnnBackendDescriptor_t V = b.tensor(UID_V, CUDNN_DATA_BFLOAT16, v_dims, v_str, false);
    cudnnBackendDescriptor_t O = b.tensor(UID_O, CUDNN_DATA_BFLOAT16, q_dims, o_str, false);
    cudnnBackendDescriptor_t scale = b.tensor(UID_SCALE, CUDNN_DATA_FLOAT, one, one, false, true);
    cudnnBackendDescriptor_t S = b.scores(h, sq, sk), S_scaled = b.scores(h, sq, sk);
    cudnnBackendDescriptor_t M = b.scores(h, sq, 1), S_sub = b.scores(h, sq, sk);
    cudnnBackendDescriptor_t E = b.scores(h, sq, sk), Z = b.scores(h, sq, 1);
    cudnnBackendDescriptor_t log_Z = b.scores(h, sq, 1), stats = b.scores(h, sq, 1);
    cudnnBackendDescriptor_t P = b.scores(h, sq, sk, CUDNN_DATA_BFLOAT16);
    ops[0] = b.matmul(Q, KT, S);
    ops[1] = b.pointwise(CUDNN_POINTWISE_MUL, S, scale, S_scaled);
    ops[2] = b.reduction(CUDNN_REDUCE_TENSOR_MAX, S_scaled, M);
    ops[3] = b.pointwise(CUDNN_POINTWISE_SUB, S_scaled, M, S_sub);
    ops[4] = b.pointwise(CUDNN_POINTWISE_EXP, S_sub, NULL, E);
    ops[5] = b.reduction(CUDNN_REDUCE_TENSOR_ADD, E, Z);
    ops[6] = b.pointwise(CUDNN_POINTWISE_LOG, Z, NULL, log_Z);
    ops[7] = b.pointwise(CUDNN_POINTWISE_ADD, M, log_Z, stats);
    ops[8] = b.pointwise(CUDNN_POINTWISE_DIV, E, Z, P);
    ops[9] = b.matmul(P, V, O);
}

// Tries the engine configurations the heuristics list, best first; the first that finalizes is
// the plan. On failure plan->plan stays NULL and *why says where it stopped.
void build_plan(const CudnnLib *lib, cudnnHandle_t handle, Plan *plan, char **why)
{
    Builder b;
    b.lib = lib;
    b.descs = g_ptr_array_new();
    cudnnBackendDescriptor_t ops[10];
    build_ops(b, plan->key, ops);
    cudnnBackendDescriptor_t graph = b.create(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, "graph");
    b.set(graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle, "graph handle");
    b.set(graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 10, ops,
          "graph ops");
    b.finalize(graph, "operation graph");
    cudnnBackendDescriptor_t heur = b.create(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, "heuristics");
    const cudnnBackendHeurMode_t mode = CUDNN_HEUR_MODE_A;
    b.set(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &graph,
          "heuristics graph");
    b.set(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode, "heuristics mode");
    b.finalize(heur, "heuristics");
    int64_t count = 0;
    if (b.ok())
        b.check(lib->GetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                  CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count, NULL),
                "heuristics count");
    count = MIN(count, 16);
    cudnnBackendDescriptor_t cfgs[16] = {};
    for (int64_t i = 0; i < count; i++)
        cfgs[i] = b.create(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, "engine config");
    int64_t got = 0;
    if (b.ok() && count > 0)
        b.check(lib->GetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                  CUDNN_TYPE_BACKEND_DESCRIPTOR, count, &got, cfgs),
                "heuristics results");
    cudnnStatus_t last = CUDNN_STATUS_NOT_SUPPORTED;
    for (int64_t i = 0; b.ok() && i < got && !plan->plan; i++) {
        cudnnBackendDescriptor_t p = NULL;
        if (lib->CreateDescriptor(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &p) !=
            CUDNN_STATUS_SUCCESS)
            break;
        cudnnStatus_t s =
            lib->SetAttribute(p, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle);
        if (s == CUDNN_STATUS_SUCCESS)
            s = lib->SetAttribute(p, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG,
                                  CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cfgs[i]);
        if (s == CUDNN_STATUS_SUCCESS)
            s = lib->Finalize(p);
        int64_t ws = 0, n = 0;
        if (s == CUDNN_STATUS_SUCCESS)
            s = lib->GetAttribute(p, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1,
                                  &n, &ws);
        if (s == CUDNN_STATUS_SUCCESS) {
            plan->plan = p;
            plan->workspace = ws;
        } else {
            last = s;
            lib->DestroyDescriptor(p);
        }
    }
    if (!b.ok())
        *why = g_strdup_printf("%s at %s", lib->GetErrorString(b.status), b.failed_at);
    else if (!plan->plan)
        *why = g_strdup_printf("none of %" G_GINT64_FORMAT " engine configurations finalized (%s)",
                               got, lib->GetErrorString(last));
    plan->descs = b.descs;
}

void free_plan(gpointer p)
{
    Plan *plan = (Plan *)p;
    const CudnnLib *lib = library();
    if (plan->plan)
        lib->DestroyDescriptor(plan->plan);
    destroy_descs(lib, plan->descs);
    g_free(plan);
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
    GHashTable *plans;  // PlanKey -> Plan
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
    const CudnnLib *lib = library();
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

Plan *find_plan(CudaBackend *cb, CudnnState *st, const SdpaProblem &p)
{
    PlanKey key;
    memset(&key, 0, sizeof key);
    key.q_stride = p.q_stride;
    key.k_stride = p.k_stride;
    key.v_stride = p.v_stride;
    key.out_stride = p.out_stride;
    key.nq = p.nq;
    key.nk = p.nk;
    key.heads = p.heads;
    key.head_dim = p.head_dim;
    Plan *plan = (Plan *)g_hash_table_lookup(st->plans, &key);
    if (plan)
        return plan;
    if (g_hash_table_size(st->plans) >= MAX_PLANS) {  // many patch shapes: start over
        cudaCheck(cudaStreamSynchronize(cb->stream)); // no plan still in flight
        g_hash_table_remove_all(st->plans);
    }
    plan = g_new0(Plan, 1);
    plan->key = key;
    char *why = NULL;
    const size_t used_before = cuda_device_used();
    build_plan(library(), st->handle, plan, &why);
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
    const CudnnLib *lib = library();
    Plan *plan = find_plan(cb, st, p);
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
    const int64_t uids[5] = {UID_Q, UID_K, UID_V, UID_O, UID_SCALE};
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
            g_autofree char *v = version_text(library());
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
    if (library()->note)
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
    const CudnnLib *lib = library();
    const char *ours = "our mma.sync flash kernel";
    if (lib->note && !lib->dl)
        return g_strdup_printf("%s (cuDNN %s)", ours, lib->note);
    if (lib->note)
        return g_strdup_printf("%s (cuDNN not usable: %s)", ours, lib->note);
    g_autofree char *v = version_text(lib);
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
        library()->Destroy(st->handle);
    g_free(st->handle_note);
    g_free(st);
    cb->cudnn = NULL;
}

#endif // RD_HAVE_CUDNN
