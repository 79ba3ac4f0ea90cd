#include "backend.h"

#include "config.h"
#include "resdit.h"

RdTensor rd_tensor_view(const RdTensor *t, int64_t row0, int64_t rows, int64_t col0, int64_t cols)
{
    g_assert(row0 >= 0 && rows >= 0 && row0 + rows <= t->rows);
    g_assert(col0 >= 0 && cols >= 0 && col0 + cols <= t->cols);
    RdTensor v = *t;
    v.data = (char *)t->data + (row0 * t->stride + col0) * (int64_t)rd_dtype_size(t->dtype);
    v.rows = rows;
    v.cols = cols;
    return v;
}

RdWeight rd_weight_rows(const RdWeight *w, int64_t row0, int64_t rows)
{
    g_assert(row0 >= 0 && row0 + rows <= w->rows);
    RdWeight v = *w;
    size_t offset = (size_t)(row0 * w->cols) * rd_dtype_size(w->dtype);
    v.host = w->host ? (const char *)w->host + offset : NULL;
    v.device = NULL;
    v.rows = rows;
    return v;
}

gboolean rd_backend_check(RdBackend *be, GError **error)
{
    return !be->check || be->check(be, error);
}

void rd_backend_trim(RdBackend *be)
{
    if (be->trim)
        be->trim(be);
}

int64_t rd_tensor_numel(const RdTensor *t)
{
    return t->rows * t->cols;
}

#if !HAVE_CUDA
RdBackend *rd_backend_cuda_new(GError **error)
{
    g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_BACKEND,
                "This build has no CUDA backend (configured with -Dcuda=disabled or without nvcc); "
                "use the CPU backend");
    return NULL;
}

gboolean rd_backend_cuda_available(char **reason)
{
    if (reason)
        *reason = g_strdup("this build has no CUDA backend");
    return FALSE;
}

gboolean rd_cuda_memory(guint64 *free_bytes, guint64 *total_bytes)
{
    *free_bytes = *total_bytes = 0;
    return FALSE;
}

char *rd_backend_cuda_attention(RdBackend *be)
{
    (void)be;
    return g_strdup("no CUDA backend in this build");
}

char *rd_backend_cuda_fp8(RdBackend *be)
{
    (void)be;
    return g_strdup("no CUDA backend in this build");
}

gboolean rd_backend_fp8_gemm(RdBackend *be)
{
    (void)be;
    return FALSE;
}

gboolean rd_cuda_device_fp8_gemm(void)
{
    return FALSE;
}
#endif

RdBackend *rd_backend_new(RdBackendChoice choice, GError **error)
{
    if (choice == RD_BACKEND_CPU)
        return rd_backend_cpu_new();
    if (choice == RD_BACKEND_CUDA)
        return rd_backend_cuda_new(error);
    if (rd_backend_cuda_available(NULL)) {
        RdBackend *be = rd_backend_cuda_new(NULL);
        if (be)
            return be;
    }
    return rd_backend_cpu_new();
}

void rd_backend_free(RdBackend *be)
{
    if (be)
        be->destroy(be);
}

gboolean resdit_cuda_available(char **reason)
{
    return rd_backend_cuda_available(reason);
}
