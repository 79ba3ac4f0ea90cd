/* Matrix products through CBLAS. Weights in bf16, f16 or fp8 are widened a block of output rows at
 * a time, never the whole matrix. */
#include "cpu_ops.h"

#include <cblas.h>

#define WIDEN_ROWS 256

void cpu_weight_rows_f32(const RdWeight *w, int64_t row0, int64_t rows, float *dst)
{
    size_t esize = rd_dtype_size(w->dtype);
    const char *src = (const char *)w->host + (size_t)(row0 * w->cols) * esize;
    int64_t n = rows * w->cols;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t r = 0; r < rows; r++)
        rd_convert_to_f32(w->dtype, src + (size_t)(r * w->cols) * esize, dst + r * w->cols,
                          (size_t)w->cols);
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
    if (w->dtype == RD_F32) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, (int)w->rows, K, 1.0f, x->data,
                    (int)x->stride, w->host, K, 0.0f, y->data, (int)y->stride);
    } else {
        int64_t block = MIN(WIDEN_ROWS, w->rows);
        float *wide = g_new(float, block * K);
        for (int64_t n0 = 0; n0 < w->rows; n0 += block) {
            int64_t nb = MIN(block, w->rows - n0);
            cpu_weight_rows_f32(w, n0, nb, wide);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, (int)nb, K, 1.0f, x->data,
                        (int)x->stride, wide, K, 0.0f, &RD_AT(y, 0, n0), (int)y->stride);
        }
        g_free(wide);
    }
    if (bias)
        add_bias(bias, y);
}
