/* Convolution, GroupNorm and upsampling on channels-last grids (the VAE). The 3x3
 * convolution gathers a band of output rows into columns (im2col) and multiplies with CBLAS, so
 * the scratch memory stays bounded whatever the image size. */
#include "cpu_ops.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#define CONV_BAND_PIXELS 16384

/* cols[p, (ci, ky, kx)] for the output pixels p0 .. p0 + np - 1 of an out_w wide output: output
 * pixel (oy, ox) reads input (oy * stride + ky - pad, ox * stride + kx - pad), zero outside. */
static void im2col(const RdTensor *x, int height, int width, int kernel, int stride, int pad,
                   int out_w, int64_t p0, int64_t np, float *cols)
{
    const int64_t cin = x->cols, kk = (int64_t)kernel * kernel;
    for (int64_t i = 0; i < np; i++) {
        int64_t p = p0 + i, py = p / out_w, px = p % out_w;
        float *dst = cols + i * cin * kk;
        for (int ky = 0; ky < kernel; ky++) {
            for (int kx = 0; kx < kernel; kx++) {
                int64_t sy = py * stride + ky - pad, sx = px * stride + kx - pad;
                gboolean inside = sy >= 0 && sy < height && sx >= 0 && sx < width;
                const float *src = inside ? &RD_AT(x, sy * width + sx, 0) : NULL;
                int64_t k = ky * kernel + kx;
                for (int64_t c = 0; c < cin; c++)
                    dst[c * kk + k] = inside ? src[c] : 0.0f;
            }
        }
    }
}

/* The convolution of both ops: out_h x out_w output pixels, stride 1 with padding kernel / 2, or
 * stride 2 without leading padding (a missing last row/column reads zeros). */
static void conv_any(const RdTensor *x, int height, int width, const RdWeight *w,
                     const RdWeight *bias, int kernel, int stride, RdTensor *y)
{
    const int out_h = stride == 1 ? height : height / 2, out_w = stride == 1 ? width : width / 2;
    const int pad = stride == 1 ? kernel / 2 : 0;
    const int64_t pixels = (int64_t)out_h * out_w, kdim = x->cols * kernel * kernel;
    g_assert(x->rows == (int64_t)height * width && y->rows == pixels && w->cols == kdim &&
             y->cols == w->rows);
    float *wf = g_new(float, w->rows * w->cols);
    cpu_weight_rows_f32(w, 0, w->rows, wf);
    float *b = NULL;
    if (bias) {
        b = g_new(float, w->rows);
        cpu_weight_rows_f32(bias, 0, bias->rows, b);
    }
    /* Bands of output pixels, one thread each (BLAS runs single-threaded inside our threads);
     * at least two bands per thread so both cores stay busy on small images. */
    int64_t band = MAX(1, MIN(pixels, CONV_BAND_PIXELS * 9 / (kernel * kernel)));
    band = MAX(256, MIN(band, (pixels + 2 * g_get_num_processors() - 1) /
                                  (2 * g_get_num_processors())));
    const int64_t n_bands = (pixels + band - 1) / band;
    const gboolean direct = kernel == 1 && stride == 1;
#pragma omp parallel
    {
        float *cols = direct ? NULL : g_new(float, band * kdim);
#pragma omp for schedule(dynamic)
        for (int64_t bi = 0; bi < n_bands; bi++) {
            int64_t p0 = bi * band, np = MIN(band, pixels - p0);
            const float *a = &RD_AT(x, direct ? p0 : 0, 0);
            int lda = (int)x->stride;
            if (!direct) {
                im2col(x, height, width, kernel, stride, pad, out_w, p0, np, cols);
                a = cols;
                lda = (int)kdim;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)np, (int)w->rows,
                        (int)kdim, 1.0f, a, lda, wf, (int)kdim, 0.0f, &RD_AT(y, p0, 0),
                        (int)y->stride);
        }
        g_free(cols);
    }
    if (b) {
#pragma omp parallel for schedule(static) if (pixels * y->cols > 262144)
        for (int64_t p = 0; p < pixels; p++) {
            float *row = &RD_AT(y, p, 0);
            for (int64_t c = 0; c < y->cols; c++)
                row[c] += b[c];
        }
    }
    g_free(b);
    g_free(wf);
}

void cpu_conv2d(RdBackend *be, const RdTensor *x, int height, int width, const RdWeight *w,
                const RdWeight *bias, int kernel, RdTensor *y)
{
    conv_any(x, height, width, w, bias, kernel, 1, y);
}

void cpu_conv2d_down2(RdBackend *be, const RdTensor *x, int height, int width, const RdWeight *w,
                      const RdWeight *bias, RdTensor *y)
{
    g_assert(height % 2 == 0 && width % 2 == 0);
    conv_any(x, height, width, w, bias, 3, 2, y);
}

void cpu_group_norm(RdBackend *be, const RdTensor *x, int groups, const RdWeight *weight,
                    const RdWeight *bias, float eps, RdTensor *y)
{
    const int64_t C = x->cols, per = C / groups;
    g_assert(C % groups == 0 && y->rows == x->rows && y->cols == C);
    double *sum = g_new0(double, groups), *sq = g_new0(double, groups);
    float *scale = g_new(float, C), *shift = g_new(float, C);
    float *g = g_new(float, C), *bv = g_new(float, C);
    for (int64_t c = 0; c < C; c++)
        g[c] = 1.0f, bv[c] = 0.0f;
    if (weight)
        cpu_weight_rows_f32(weight, 0, weight->rows, g);
    if (bias)
        cpu_weight_rows_f32(bias, 0, bias->rows, bv);
#pragma omp parallel for schedule(static) if (x->rows * C > 262144)
    for (int k = 0; k < groups; k++) {
        double s = 0, s2 = 0;
        for (int64_t r = 0; r < x->rows; r++) {
            const float *row = &RD_AT(x, r, k * per);
            for (int64_t c = 0; c < per; c++) {
                s += row[c];
                s2 += (double)row[c] * row[c];
            }
        }
        sum[k] = s;
        sq[k] = s2;
    }
    const double n = (double)x->rows * per;
    for (int64_t c = 0; c < C; c++) {
        int k = (int)(c / per);
        double mean = sum[k] / n, var = MAX(sq[k] / n - mean * mean, 0.0);
        double inv = 1.0 / sqrt(var + eps);
        scale[c] = (float)(g[c] * inv);
        shift[c] = (float)(bv[c] - mean * inv * g[c]);
    }
#pragma omp parallel for schedule(static) if (x->rows * C > 262144)
    for (int64_t r = 0; r < x->rows; r++) {
        const float *xr = &RD_AT(x, r, 0);
        float *yr = &RD_AT(y, r, 0);
        for (int64_t c = 0; c < C; c++)
            yr[c] = xr[c] * scale[c] + shift[c];
    }
    g_free(sum);
    g_free(sq);
    g_free(scale);
    g_free(shift);
    g_free(g);
    g_free(bv);
}

void cpu_group_sums(RdBackend *be, const RdTensor *x, int groups, double *sum, double *sumsq)
{
    const int64_t per = x->cols / groups;
    g_assert(x->cols % groups == 0);
#pragma omp parallel for schedule(static) if (x->rows * x->cols > 262144)
    for (int k = 0; k < groups; k++) {
        double s = 0, s2 = 0;
        for (int64_t r = 0; r < x->rows; r++) {
            const float *row = &RD_AT(x, r, k * per);
            for (int64_t c = 0; c < per; c++) {
                s += row[c];
                s2 += (double)row[c] * row[c];
            }
        }
        sum[k] += s;
        sumsq[k] += s2;
    }
}

void cpu_upsample_nearest2x(RdBackend *be, const RdTensor *x, int height, int width, RdTensor *y)
{
    g_assert(x->rows == (int64_t)height * width && y->rows == 4 * x->rows && y->cols == x->cols);
    const size_t bytes = (size_t)x->cols * sizeof(float);
#pragma omp parallel for schedule(static) if (x->rows * x->cols > 65536)
    for (int64_t oy = 0; oy < 2 * (int64_t)height; oy++)
        for (int64_t ox = 0; ox < 2 * (int64_t)width; ox++)
            memcpy(&RD_AT(y, oy * 2 * width + ox, 0), &RD_AT(x, (oy / 2) * width + ox / 2, 0),
                   bytes);
}
