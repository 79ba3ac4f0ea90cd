#include "gpu-util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static RdBackend *cpu_backend, *gpu_backend;

void gu_init_or_skip(int *argc, char ***argv)
{
    g_test_init(argc, argv, NULL);
    char *reason = NULL;
    if (!rd_backend_cuda_available(&reason)) {
        printf("SKIP: no usable CUDA backend: %s\n", reason ? reason : "unknown reason");
        fflush(stdout);
        g_free(reason);
        exit(77);
    }
    GError *error = NULL;
    gpu_backend = rd_backend_cuda_new(&error);
    if (!gpu_backend) {
        printf("FAIL: a CUDA device was found but the backend could not start: %s\n",
               error->message);
        exit(1);
    }
    cpu_backend = rd_backend_cpu_new();
}

RdBackend *gu_cpu(void)
{
    return cpu_backend;
}

RdBackend *gu_gpu(void)
{
    return gpu_backend;
}

float gu_round_bf16(float v)
{
    return rd_bf16_to_f32(rd_f32_to_bf16(v));
}

static GuMat mat_from_host(int64_t rows, int64_t cols, float *host)
{
    GuMat m = {rows, cols, host, {0}, {0}};
    g_assert_true(cpu_backend->tensor_alloc(cpu_backend, &m.cpu, rows, cols));
    g_assert_true(gpu_backend->tensor_alloc(gpu_backend, &m.gpu, rows, cols));
    cpu_backend->upload(cpu_backend, host, &m.cpu);
    gpu_backend->upload(gpu_backend, host, &m.gpu);
    return m;
}

GuMat gu_mat_random(int64_t rows, int64_t cols, float lo, float hi, guint32 seed)
{
    size_t n = (size_t)(rows * cols);
    float *host = g_new(float, n ? n : 1);
    tu_fill_uniform(host, n, lo, hi, seed);
    for (size_t i = 0; i < n; i++)
        host[i] = gu_round_bf16(host[i]);
    return mat_from_host(rows, cols, host);
}

GuMat gu_mat_poisoned(int64_t rows, int64_t cols)
{
    size_t n = (size_t)(rows * cols);
    float *host = g_new(float, n ? n : 1);
    for (size_t i = 0; i < n; i++)
        host[i] = NAN;
    return mat_from_host(rows, cols, host);
}

GuMat gu_mat_view(const GuMat *m, int64_t row0, int64_t rows, int64_t col0, int64_t cols)
{
    GuMat v = {rows, cols, NULL, rd_tensor_view(&m->cpu, row0, rows, col0, cols),
               rd_tensor_view(&m->gpu, row0, rows, col0, cols)};
    return v;
}

float *gu_mat_download_gpu(const GuMat *m)
{
    float *out = g_new(float, m->rows * m->cols + 1);
    gpu_backend->download(gpu_backend, &m->gpu, out);
    return out;
}

void gu_mat_check(const char *what, const GuMat *m, float tol, float eps)
{
    size_t n = (size_t)(m->rows * m->cols);
    float *ref = g_new(float, n + 1);
    cpu_backend->download(cpu_backend, &m->cpu, ref);
    float *got = gu_mat_download_gpu(m);
    tu_assert_close(what, got, ref, n, tol, eps);
    g_test_message("%s: %zu elements, relative L2 %.3g", what, n, tu_relative_l2(got, ref, n));
    g_free(ref);
    g_free(got);
}

void gu_mat_free(GuMat *m)
{
    cpu_backend->tensor_free(cpu_backend, &m->cpu);
    gpu_backend->tensor_free(gpu_backend, &m->gpu);
    g_free(m->host);
    m->host = NULL;
}

static GuWeight weight_prepare(RdDType dtype, void *data, int64_t rows, int64_t cols,
                               const char *name)
{
    GuWeight w = {
        data, {dtype, rows, cols, data, NULL, name}, {dtype, rows, cols, data, NULL, name}};
    GError *error = NULL;
    g_assert_true(cpu_backend->weight_prepare(cpu_backend, &w.cpu, &error));
    g_assert_no_error(error);
    g_assert_true(gpu_backend->weight_prepare(gpu_backend, &w.gpu, &error));
    g_assert_no_error(error);
    g_assert_nonnull(w.gpu.device);
    return w;
}

GuWeight gu_weight_from_f32(RdDType dtype, const float *values, int64_t rows, int64_t cols,
                            const char *name)
{
    size_t n = (size_t)(rows * cols);
    void *data = g_malloc(n * rd_dtype_size(dtype) + 1);
    for (size_t i = 0; i < n; i++) {
        switch (dtype) {
        case RD_F32:
            ((float *)data)[i] = values[i];
            break;
        case RD_BF16:
            ((uint16_t *)data)[i] = rd_f32_to_bf16(values[i]);
            break;
        case RD_F16:
            ((uint16_t *)data)[i] = rd_f32_to_f16(values[i]);
            break;
        default:
            g_error("gu_weight_from_f32: use gu_weight_from_bytes for %s", rd_dtype_name(dtype));
        }
    }
    return weight_prepare(dtype, data, rows, cols, name);
}

GuWeight gu_weight_from_bytes(RdDType dtype, const void *bytes, int64_t rows, int64_t cols,
                              const char *name)
{
    size_t size = (size_t)(rows * cols) * rd_dtype_size(dtype);
    return weight_prepare(dtype, g_memdup2(bytes, size), rows, cols, name);
}

void gu_weight_free(GuWeight *w)
{
    cpu_backend->weight_release(cpu_backend, &w->cpu);
    gpu_backend->weight_release(gpu_backend, &w->gpu);
    g_assert_null(w->gpu.device);
    g_free(w->data);
    w->data = NULL;
}
