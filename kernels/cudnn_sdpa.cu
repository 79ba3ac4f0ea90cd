// The cuDNN SDPA graph of cudnn_sdpa.cuh.
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
// row stride. The data pointers go in a variant pack per call (attention_cudnn.cu).
#include "cudnn_sdpa.cuh"

#if RD_HAVE_CUDNN
#include <dlfcn.h>
#include <string.h>

// ---------------------------------------------------------------------------------------------
// The library, loaded once per process.

namespace
{

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

} // namespace

const CudnnLib *cudnn_library(void)
{
    static GOnce once = G_ONCE_INIT;
    return (const CudnnLib *)g_once(&once, load_library, NULL);
}

char *cudnn_version_text(const CudnnLib *lib)
{
    return g_strdup_printf("cuDNN %zu.%zu.%zu (%s)", lib->version / 10000, lib->version / 100 % 100,
                           lib->version % 100, lib->file);
}

// ---------------------------------------------------------------------------------------------
// Graph construction. Builder keeps every descriptor it made (freed together) and the first
// failure, so a chain of calls needs one check at the end.

namespace
{

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

// The ten operations of the header comment for one shape, in data-flow order.
void build_ops(Builder &b, const SdpaKey &s, cudnnBackendDescriptor_t ops[10])
{
    const int64_t h = s.heads, d = s.head_dim, sq = s.nq, sk = s.nk;
    const int64_t q_dims[4] = {1, h, sq, d}, q_str[4] = {sq * s.q_stride, d, s.q_stride, 1};
    const int64_t kt_dims[4] = {1, h, d, sk}, kt_str[4] = {sk * s.k_stride, d, 1, s.k_stride};
    const int64_t v_dims[4] = {1, h, sk, d}, v_str[4] = {sk * s.v_stride, d, s.v_stride, 1};
    const int64_t o_str[4] = {sq * s.out_stride, d, s.out_stride, 1};
    const int64_t one[4] = {1, 1, 1, 1};
    cudnnBackendDescriptor_t Q = b.tensor(SDPA_UID_Q, CUDNN_DATA_BFLOAT16, q_dims, q_str, false);
    cudnnBackendDescriptor_t KT = b.tensor(SDPA_UID_K, CUDNN_DATA_BFLOAT16, kt_dims, kt_str, false);
    cudnnBackendDescriptor_t V = b.tensor(SDPA_UID_V, CUDNN_DATA_BFLOAT16, v_dims, v_str, false);
    cudnnBackendDescriptor_t O = b.tensor(SDPA_UID_O, CUDNN_DATA_BFLOAT16, q_dims, o_str, false);
    cudnnBackendDescriptor_t scale =
        b.tensor(SDPA_UID_SCALE, CUDNN_DATA_FLOAT, one, one, false, true);
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

} // namespace

bool sdpa_build_ops(const CudnnLib *lib, const SdpaKey &key, GPtrArray *descs,
                    cudnnBackendDescriptor_t ops[10], char **why)
{
    Builder b;
    b.lib = lib;
    b.descs = descs;
    build_ops(b, key, ops);
    if (!b.ok())
        *why = g_strdup_printf("%s at %s", lib->GetErrorString(b.status), b.failed_at);
    return b.ok();
}

// Tries the engine configurations the heuristics list, best first; the first that finalizes is
// the plan. On failure plan->plan stays NULL and *why says where it stopped.
void sdpa_build_plan(const CudnnLib *lib, cudnnHandle_t handle, SdpaPlan *plan, char **why)
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

void sdpa_plan_free(SdpaPlan *plan)
{
    const CudnnLib *lib = cudnn_library();
    if (plan->plan)
        lib->DestroyDescriptor(plan->plan);
    sdpa_destroy_descs(lib, plan->descs);
    g_free(plan);
}

void sdpa_destroy_descs(const CudnnLib *lib, GPtrArray *descs)
{
    for (guint i = descs->len; i-- > 0;)
        lib->DestroyDescriptor((cudnnBackendDescriptor_t)g_ptr_array_index(descs, i));
    g_ptr_array_free(descs, TRUE);
}

#endif // RD_HAVE_CUDNN
