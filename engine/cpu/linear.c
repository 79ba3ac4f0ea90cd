/* Matrix products through CBLAS. Weights in bf16, f16 or fp8 are widened a block of output rows at
 * a time, never the whole matrix. */
#include "cpu_ops.h"

#include <cblas.h>

#define WIDEN_ROWS 256

/* Single-threaded widening, for use inside a parallel region. */
static void widen_rows(const RdWeight *w, int64_t row0, int64_t rows, float *dst)
{
    size_t esize = rd_dtype_size(w->dtype);
    const char *src = (const char *)w->host + (size_t)(row0 * w->cols) * esize;
    size_t n = (size_t)(rows * w->cols);
    rd_convert_to_f32(w->dtype, src, dst, n);
    if (w->scale != 0.0f && w->scale != 1.0f)
        for (size_t i = 0; i < n; i++)
            dst[i] *= w->scale;
}

void cpu_weight_rows_f32(const RdWeight *w, int64_t row0, int64_t rows, float *dst)
{
    widen_rows(w, row0, rows, dst);
}

static void add_bias(const RdWeight *bias, RdTensor *y)
{
    float *b = g_new(float, y->cols);
    cpu_weight_rows_f32(bias, 0, bias->rows, b);
    for (int64_t r = 0; r < y->rows; r++) {
        float *row = &RD_AT(y, r, 0);
        for (int64_t c = 0; c < y->cols; c++)
            row[c] += b[c];
    }
    g_free(b);
}

void cpu_linear(RdBackend *be, const RdTensor *x, const RdWeight *w, const RdWeight *bias,
                RdTensor *y)
{
    g_assert(x->cols == w->cols && y->cols == w->rows && x->rows == y->rows);
    g_assert(!bias || (bias->rows == w->rows && bias->cols == 1));
    const int M = (int)x->rows, K = (int)w->cols;
    if (M == 0)
        return;
    /* Output columns in blocks, one thread each: BLAS runs single-threaded inside (see
     * cpu_backend.c), so OpenMP is the only thread pool and the two never compete. */
    const int64_t blocks = (w->rows + WIDEN_ROWS - 1) / WIDEN_ROWS;
#pragma omp parallel
    {
        /* f32 weights at a 4-byte aligned address without a dequantisation scale go to BLAS as
         * they are; others (bf16, f16, fp8, a scaled merge, or f32 at an odd offset of the file)
         * are widened into an aligned f32 block. */
        const gboolean scaled = w->scale != 0.0f && w->scale != 1.0f;
        const gboolean direct =
            w->dtype == RD_F32 && !scaled && (uintptr_t)w->host % _Alignof(float) == 0;
        float *wide = direct ? NULL : g_new(float, (int64_t)WIDEN_ROWS * K);
#pragma omp for schedule(dynamic)
        for (int64_t blk = 0; blk < blocks; blk++) {
            int64_t n0 = blk * WIDEN_ROWS, nb = MIN(WIDEN_ROWS, w->rows - n0);
            const float *wb = wide;
            if (wide)
                widen_rows(w, n0, nb, wide);
            else
                wb = (const float *)w->host + n0 * K;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, (int)nb, K, 1.0f, x->data,
                        (int)x->stride, wb, K, 0.0f, &RD_AT(y, 0, n0), (int)y->stride);
        }
        g_free(wide);
    }
    if (bias)
        add_bias(bias, y);
}
