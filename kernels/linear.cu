// y = x w^T (+ bias) through cuBLASLt: bf16 operands, f32 accumulation, bias as an epilogue.
//
// Row-major y [M, N] is column-major y^T [N, M]: y^T = W x^T with W the column-major view of the
// row-major weight [N, K] (K x N, transposed) and x^T the column-major view of x [M, K]. Plans
// (descriptors + heuristic algorithm) are cached per shape, strides and pointer alignment; when
// cuBLASLt offers no algorithm (odd strides), cublasGemmEx and a bias kernel take over.
//
// fp8 weights (fp8_weights.cu) on sm_89+: x is quantised to E4M3 with its own per-tensor scale
// and both multiply in fp8 (y = s_w * s_x * codes_w codes_x^T, f32 accumulation, bf16 out). Where
// cuBLASLt has no fp8 algorithm for a shape (K not a multiple of 16, say), or before sm_89, the
// weight is dequantised to bf16 for that GEMM instead.
#include "for_each.cuh"

typedef struct {
    int64_t m, n, k, ldx, ldy;
    int has_bias;
    int fp8; // A and B are E4M3 codes (B dense, ldx = k), with B's scale on the device
    uint32_t align_x, align_w, align_y, align_bias;
} GemmKey;

typedef struct {
    GemmKey key;
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t w_layout, x_layout, y_layout;
    cublasLtMatmulAlgo_t algo;
    bool has_algo;
} GemmPlan;

struct GemmCache {
    GArray *plans; // GemmPlan
};

static uint32_t alignment_of(const void *p)
{
    uint32_t a = 256;
    while (a > 2 && ((uintptr_t)p % a) != 0)
        a >>= 1;
    return a;
}

// The bias and B-scale pointers are set before the heuristic query: cuBLASLt reads the bias's
// alignment from its pointer, and may pick fp8 kernels that ignore scales it has not seen (XLA
// hit that with cuBLASLt 12.8). Both stay valid for the plan's key (same alignment; the scale
// slot is the backend's for its lifetime), and are set again per call.
static void plan_create(CudaBackend *cb, GemmPlan *p, const bf16 *bias, const float *b_scale)
{
    const GemmKey *k = &p->key;
    cublasCheck(cublasLtMatmulDescCreate(&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t trans = CUBLAS_OP_T, no_trans = CUBLAS_OP_N;
    cublasCheck(
        cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &trans, sizeof(trans)));
    cublasCheck(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &no_trans,
                                               sizeof(no_trans)));
    if (k->has_bias) {
        cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
        cudaDataType_t bias_type = CUDA_R_16BF;
        cublasCheck(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue,
                                                   sizeof(epilogue)));
        cublasCheck(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE,
                                                   &bias_type, sizeof(bias_type)));
        cublasCheck(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias,
                                                   sizeof(bias)));
    }
    if (k->fp8)
        cublasCheck(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER,
                                                   &b_scale, sizeof(b_scale)));
    const cudaDataType_t operands = k->fp8 ? CUDA_R_8F_E4M3 : CUDA_R_16BF;
    cublasCheck(cublasLtMatrixLayoutCreate(&p->w_layout, operands, (uint64_t)k->k, (uint64_t)k->n,
                                           k->k));
    cublasCheck(cublasLtMatrixLayoutCreate(&p->x_layout, operands, (uint64_t)k->k, (uint64_t)k->m,
                                           k->ldx));
    cublasCheck(cublasLtMatrixLayoutCreate(&p->y_layout, CUDA_R_16BF, (uint64_t)k->n,
                                           (uint64_t)k->m, k->ldy));

    cublasLtMatmulPreference_t pref;
    cublasCheck(cublasLtMatmulPreferenceCreate(&pref));
    uint64_t ws = cb->workspace_size;
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                     &ws, sizeof(ws)));
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &k->align_w, sizeof(uint32_t)));
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &k->align_x, sizeof(uint32_t)));
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &k->align_y, sizeof(uint32_t)));
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &k->align_y, sizeof(uint32_t)));

    cublasLtMatmulHeuristicResult_t result;
    int found = 0;
    cublasStatus_t status =
        cublasLtMatmulAlgoGetHeuristic(cb->lt, p->op, p->w_layout, p->x_layout, p->y_layout,
                                       p->y_layout, pref, 1, &result, &found);
    p->has_algo = status == CUBLAS_STATUS_SUCCESS && found > 0 &&
                  result.state == CUBLAS_STATUS_SUCCESS;
    if (p->has_algo)
        p->algo = result.algo;
    cublasCheck(cublasLtMatmulPreferenceDestroy(pref));
}

static GemmPlan *plan_get(CudaBackend *cb, const GemmKey *key, const bf16 *bias,
                          const float *b_scale)
{
    if (!cb->gemms) {
        cb->gemms = g_new0(struct GemmCache, 1);
        cb->gemms->plans = g_array_new(FALSE, TRUE, sizeof(GemmPlan));
    }
    GArray *plans = cb->gemms->plans;
    for (guint i = 0; i < plans->len; i++) {
        GemmPlan *p = &g_array_index(plans, GemmPlan, i);
        if (memcmp(&p->key, key, sizeof(GemmKey)) == 0)
            return p;
    }
    GemmPlan plan;
    memset(&plan, 0, sizeof(plan));
    plan.key = *key;
    plan_create(cb, &plan, bias, b_scale);
    g_array_append_val(plans, plan);
    return &g_array_index(plans, GemmPlan, plans->len - 1);
}

void cuda_linear_cache_free(CudaBackend *cb)
{
    if (!cb->gemms)
        return;
    GArray *plans = cb->gemms->plans;
    for (guint i = 0; i < plans->len; i++) {
        GemmPlan *p = &g_array_index(plans, GemmPlan, i);
        cublasLtMatrixLayoutDestroy(p->w_layout);
        cublasLtMatrixLayoutDestroy(p->x_layout);
        cublasLtMatrixLayoutDestroy(p->y_layout);
        cublasLtMatmulDescDestroy(p->op);
    }
    g_array_free(plans, TRUE);
    g_free(cb->gemms);
    cb->gemms = NULL;
}

struct AddBias {
    DevTensor y;
    const bf16 *bias;
    __device__ void operator()(int64_t r, int64_t c) const
    {
        dev_store(y, r, c, dev_load(y, r, c) + __bfloat162float(bias[c]));
    }
};

static void gemm(CudaBackend *cb, const RdTensor *x, const RdWeight *w, const bf16 *wd,
                 const bf16 *bd, RdTensor *y);
static bool gemm_fp8(CudaBackend *cb, const RdTensor *x, const RdWeight *w, const bf16 *bd,
                     RdTensor *y);
static bool fp8_gemm_checked(CudaBackend *cb);

struct FillBias {
    DevTensor y;
    const bf16 *bias;
    __device__ void operator()(int64_t r, int64_t c) const
    {
        dev_store(y, r, c, __bfloat162float(bias[c]));
    }
};

void cuda_linear(RdBackend *be, const RdTensor *x, const RdWeight *w, const RdWeight *bias,
                 RdTensor *y)
{
    CudaBackend *cb = cuda_backend(be);
    g_assert(x->cols == w->cols && y->cols == w->rows && x->rows == y->rows);
    g_assert(!bias || (bias->rows == w->rows && bias->cols == 1));
    g_assert(x->dtype == RD_BF16 && y->dtype == RD_BF16);
    if (y->rows == 0 || y->cols == 0)
        return;
    const bf16 *bd = bias ? weight_device(bias) : NULL;
    if (w->device_fp8 && cb->fp8_gemm && x->cols > 0 && fp8_gemm_checked(cb) &&
        gemm_fp8(cb, x, w, bd, y))
        return;
    // an fp8 weight: its bf16 copy for this GEMM (freed stream-ordered after it)
    const bf16 *wide = w->device_fp8 ? cuda_weight_dequantise(cb, w) : NULL;
    if (w->device_fp8 && !wide)
        return;
    const bf16 *wd = wide ? wide : weight_device(w);
    gemm(cb, x, w, wd, bd, y);
    if (wide)
        cuda_free(cb, (void *)wide);
}

static void gemm(CudaBackend *cb, const RdTensor *x, const RdWeight *w, const bf16 *wd,
                 const bf16 *bd, RdTensor *y)
{
    if (x->cols == 0) { // empty sum: y = bias or 0
        cudaCheck(cudaMemset2DAsync(y->data, (size_t)y->stride * sizeof(bf16), 0,
                                    (size_t)y->cols * sizeof(bf16), (size_t)y->rows, cb->stream));
        if (bd)
            for_each(cb, y->rows, y->cols, AddBias{dev_tensor(y), bd});
        return;
    }
    GemmKey key;
    memset(&key, 0, sizeof(key)); // the key is compared with memcmp: no stray padding bytes
    key.m = x->rows;
    key.n = w->rows;
    key.k = w->cols;
    key.ldx = x->stride;
    key.ldy = y->stride;
    key.has_bias = bd != NULL;
    key.align_x = alignment_of(x->data);
    key.align_w = alignment_of(wd);
    key.align_y = alignment_of(y->data);
    key.align_bias = bd ? alignment_of(bd) : 0;
    GemmPlan *p = plan_get(cb, &key, bd, NULL);
    const float alpha = 1.0f, beta = 0.0f;
    if (p->has_algo) {
        if (bd)
            cublasCheck(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                       &bd, sizeof(bd)));
        cublasStatus_t status =
            cublasLtMatmul(cb->lt, p->op, &alpha, wd, p->w_layout, x->data, p->x_layout, &beta,
                           y->data, p->y_layout, y->data, p->y_layout, &p->algo, cb->workspace,
                           cb->workspace_size, cb->stream);
        if (status == CUBLAS_STATUS_SUCCESS)
            return;
        if (status != CUBLAS_STATUS_NOT_SUPPORTED && status != CUBLAS_STATUS_INVALID_VALUE)
            cuda_fatal("cublasLtMatmul", cublasGetStatusString(status), __FILE__, __LINE__);
        p->has_algo = false; // the heuristic's pick does not run here: cuBLAS from now on
    }
    // With a bias, y starts as the bias (a bf16 value copied: exact) and the GEMM adds into it
    // (beta = 1): the sum is formed in f32 and rounded to bf16 once, as the Lt epilogue does.
    // Adding the bias after a bf16 result would round twice.
    if (bd)
        for_each(cb, y->rows, y->cols, FillBias{dev_tensor(y), bd});
    const float one = 1.0f;
    cublasCheck(cublasGemmEx(cb->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)key.n, (int)key.m, (int)key.k,
                             &alpha, wd, CUDA_R_16BF, (int)key.k, x->data, CUDA_R_16BF,
                             (int)key.ldx, bd ? &one : &beta, y->data, CUDA_R_16BF, (int)key.ldy,
                             CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

// y = x w^T (+ bias) in fp8. FALSE when cuBLASLt has no fp8 algorithm for this shape (nothing
// done: the caller takes the bf16 path); TRUE when done or when a failure was kept for
// rd_backend_check.
static bool gemm_fp8(CudaBackend *cb, const RdTensor *x, const RdWeight *w, const bf16 *bd,
                     RdTensor *y)
{
    // cuBLASLt's fp8 rules (Ada, Hopper): "TN" only, and 16-byte alignment of every pointer and
    // leading dimension: K % 16 (one-byte A and B), N % 8 and y's stride % 8 (bf16 D)
    if (w->cols % 16 != 0 || w->rows % 8 != 0 || y->stride % 8 != 0 ||
        alignment_of(w->device) < 16 || alignment_of(y->data) < 16)
        return false;
    GError *error = NULL;
    const float *x_scale = cuda_fp8_scale_slot(cb, &error);
    if (!x_scale) {
        cuda_op_fail(cb, error);
        return true; // the failure is kept for rd_backend_check
    }
    GemmKey key;
    memset(&key, 0, sizeof(key));
    key.m = x->rows;
    key.n = w->rows;
    key.k = w->cols;
    key.ldx = w->cols;   // the codes are dense
    key.align_x = 256;   // pool memory: checked once the codes are allocated
    key.ldy = y->stride;
    key.has_bias = bd != NULL;
    key.fp8 = 1;
    key.align_w = alignment_of(w->device);
    key.align_y = alignment_of(y->data);
    key.align_bias = bd ? alignment_of(bd) : 0;
    GemmPlan *p = plan_get(cb, &key, bd, x_scale);
    if (!p->has_algo) // no fp8 algorithm for this shape: the caller takes the bf16 path
        return false;
    uint8_t *codes =
        (uint8_t *)cuda_op_alloc(cb, (size_t)(x->rows * x->cols), "an activation's fp8 codes");
    if (!codes)
        return true; // the failure is kept for rd_backend_check
    if (alignment_of(codes) < key.align_x) { // not what the plan was made for
        cuda_free(cb, codes);
        return false;
    }
    if (!cuda_quantise_e4m3(cb, x, codes, &x_scale, &error)) {
        cuda_op_fail(cb, error);
        cuda_free(cb, codes);
        return true;
    }
    cublasCheck(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER,
                                               &x_scale, sizeof(x_scale)));
    if (bd)
        cublasCheck(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bd,
                                                   sizeof(bd)));
    const float alpha = w->device_scale, beta = 0.0f; // s_w here, s_x through the B scale
    cublasStatus_t status =
        cublasLtMatmul(cb->lt, p->op, &alpha, w->device, p->w_layout, codes, p->x_layout, &beta,
                       y->data, p->y_layout, y->data, p->y_layout, &p->algo, cb->workspace,
                       cb->workspace_size, cb->stream);
    cuda_free(cb, codes);
    if (status == CUBLAS_STATUS_SUCCESS) {
        cb->fp8_gemm_calls++;
        return true;
    }
    if (status != CUBLAS_STATUS_NOT_SUPPORTED && status != CUBLAS_STATUS_INVALID_VALUE &&
        status != CUBLAS_STATUS_ARCH_MISMATCH)
        cuda_fatal("cublasLtMatmul (fp8)", cublasGetStatusString(status), __FILE__, __LINE__);
    p->has_algo = false; // the bf16 path from now on for this shape
    return false;
}

// ---------------------------------------------------------------------------------------------
// The fp8 path's first-use check, once per backend (as cuDNN's attention has one): a product of
// deterministic values with a bias through fp8 against the same weight dequantised to bf16 with
// x in bf16.
// They differ by the activation's E4M3 rounding (up to 2^-4 of each value, a few per cent of the
// product after its sum); a wrong scale or layout gives O(1). A failure turns fp8 GEMMs off for
// this backend with a note (resdit backends shows it).

#define FP8_CHECK_REL_L2 0.1

static double relative_l2(const float *a, const float *b, size_t n)
{
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return den > 0.0 ? sqrt(num / den) : (num > 0.0 ? INFINITY : 0.0);
}

// Runs the check; its relative L2, or a negative value when it could not run (no memory, no fp8
// algorithm for its shape).
static double fp8_check_run(CudaBackend *cb)
{
    enum { M = 128, N = 192, K = 256 };
    RdBackend *be = &cb->base;
    float *xv = g_new(float, M * K), *out = g_new(float, 2 * M * N);
    guint16 *wv = g_new(guint16, N * K), *bv = g_new(guint16, N);
    guint32 state = 12345u;
    for (int i = 0; i < M * K; i++) {
        state = state * 1664525u + 1013904223u;
        xv[i] = (float)(state >> 8) / 8388608.0f - 1.0f; // [-1, 1)
    }
    for (int i = 0; i < N * K; i++) {
        state = state * 1664525u + 1013904223u;
        wv[i] = rd_f32_to_bf16(((float)(state >> 8) / 8388608.0f - 1.0f) * 0.05f);
    }
    for (int i = 0; i < N; i++) { // the bias epilogue's plan is checked too
        state = state * 1664525u + 1013904223u;
        bv[i] = rd_f32_to_bf16(((float)(state >> 8) / 8388608.0f - 1.0f) * 0.5f);
    }
    RdWeight w;
    memset(&w, 0, sizeof w);
    w.dtype = RD_BF16;
    w.rows = N;
    w.cols = K;
    w.host = wv;
    w.name = "fp8 check";
    RdWeight b;
    memset(&b, 0, sizeof b);
    b.dtype = RD_BF16;
    b.rows = N;
    b.cols = 1;
    b.host = bv;
    b.name = "fp8 check bias";
    RdTensor x = {}, y8 = {}, yd = {};
    GError *error = NULL, *job_error = cb->error; // a failure inside the check is not the job's
    cb->error = NULL;
    double rel = -1.0;
    if (be->weight_prepare_fp8(be, &w, &error) && be->weight_prepare(be, &b, &error) &&
        be->tensor_alloc(be, &x, M, K) &&
        be->tensor_alloc(be, &y8, M, N) && be->tensor_alloc(be, &yd, M, N)) {
        be->upload(be, xv, &x);
        const bf16 *wide = cuda_weight_dequantise(cb, &w);
        const bf16 *bias = (const bf16 *)b.device;
        if (wide && gemm_fp8(cb, &x, &w, bias, &y8) && !cb->error) {
            gemm(cb, &x, &w, wide, bias, &yd);
            be->download(be, &y8, out);
            be->download(be, &yd, out + M * N);
            rel = relative_l2(out, out + M * N, (size_t)(M * N));
        }
        if (wide)
            cuda_free(cb, (void *)wide);
    }
    g_clear_error(&error);
    g_clear_error(&cb->error);
    cb->error = job_error;
    be->weight_release(be, &w);
    be->weight_release(be, &b);
    be->tensor_free(be, &x);
    be->tensor_free(be, &y8);
    be->tensor_free(be, &yd);
    g_free(xv);
    g_free(wv);
    g_free(bv);
    g_free(out);
    return rel;
}

static bool fp8_gemm_checked(CudaBackend *cb)
{
    if (cb->fp8_check == 0) {
        const guint64 calls = cb->fp8_gemm_calls;
        const double rel = fp8_check_run(cb);
        cb->fp8_gemm_calls = calls; // the check's own product is not a job's
        g_free(cb->fp8_check_note);
        if (rel < 0.0) { // no memory or no fp8 algorithm: the dequantising path, as when failed
            cb->fp8_check = 2;
            cb->fp8_gemm = false;
            cb->fp8_check_note = g_strdup("it could not run (no memory, or no fp8 algorithm)");
            return false;
        }
        cb->fp8_check = rel <= FP8_CHECK_REL_L2 ? 1 : 2;
        cb->fp8_check_note = g_strdup_printf(
            "128 x 192 x 256 with a bias against the dequantised bf16 GEMM: relative L2 %.4f "
            "(allowed %.2f)",
            rel, FP8_CHECK_REL_L2);
        if (cb->fp8_check == 2) {
            cb->fp8_gemm = false;
            g_message("resdit CUDA: fp8 GEMMs turned off: their first-use check failed (%s)",
                      cb->fp8_check_note);
        }
    }
    return cb->fp8_check == 1;
}
