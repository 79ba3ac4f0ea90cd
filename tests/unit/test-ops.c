/* Every CPU op against a plain-loop reference written here, on random inputs, every element. */
#include <math.h>
#include <string.h>

#include "backend.h"
#include "dtype.h"
#include "test-util.h"

static RdBackend *be;

static RdTensor tensor(int64_t rows, int64_t cols, guint32 seed)
{
    RdTensor t;
    g_assert_true(be->tensor_alloc(be, &t, rows, cols));
    tu_fill_uniform(t.data, (size_t)(rows * cols), -1.0f, 1.0f, seed);
    return t;
}

static RdWeight weight_f32(const float *data, int64_t rows, int64_t cols)
{
    return (RdWeight){RD_F32, rows, cols, data, NULL, "w"};
}

/* y = x w^T + b in double, and each element's bound for an f32 evaluation in any summation order:
 * K products and the bias, gamma_(K+1) times the sum of their magnitudes. */
static void ref_linear(const float *x, const float *w, const float *b, float *y, double *bound,
                       int M, int N, int K)
{
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = b ? b[n] : 0.0, mag = b ? fabs(b[n]) : 0.0;
            for (int k = 0; k < K; k++) {
                double p = (double)x[m * K + k] * w[n * K + k];
                s += p;
                mag += fabs(p);
            }
            y[m * N + n] = (float)s;
            bound[m * N + n] = tu_dot_bound(K + (b ? 1 : 0), mag, TU_U_F32);
        }
}

static void test_linear_f32(void)
{
    const int M = 37, N = 300, K = 45; /* N > one widening block, odd sizes */
    RdTensor x = tensor(M, K, 1), y = tensor(M, N, 2);
    g_autofree float *w = g_new(float, N * K), *b = g_new(float, N), *ref = g_new(float, M * N);
    g_autofree double *bound = g_new(double, M * N);
    tu_fill_uniform(w, N * K, -1, 1, 3);
    tu_fill_uniform(b, N, -1, 1, 4);
    RdWeight W = weight_f32(w, N, K), B = weight_f32(b, N, 1);
    be->linear(be, &x, &W, &B, &y);
    ref_linear(x.data, w, b, ref, bound, M, N, K);
    tu_assert_within("linear f32", y.data, ref, bound, M * N);
    be->tensor_free(be, &x);
    be->tensor_free(be, &y);
}

/* Weights stored as bf16 / f16 / e4m3 must act as their widened f32 values. */
static void check_linear_dtype(RdDType dtype)
{
    const int M = 5, N = 270, K = 33;
    RdTensor x = tensor(M, K, 5), y = tensor(M, N, 6);
    g_autofree float *w = g_new(float, N * K), *wide = g_new(float, N * K);
    g_autofree float *ref = g_new(float, M * N);
    g_autofree double *bound = g_new(double, M * N);
    tu_fill_uniform(w, N * K, -2, 2, 7);
    g_autofree guint8 *stored = g_malloc(N * K * 2);
    for (int i = 0; i < N * K; i++) {
        if (dtype == RD_BF16)
            ((uint16_t *)stored)[i] = rd_f32_to_bf16(w[i]);
        else if (dtype == RD_F16)
            ((uint16_t *)stored)[i] = rd_f32_to_f16(w[i]);
        else
            stored[i] = (guint8)(0x30 + (i * 7) % 0x40); /* e4m3 values 0.125 .. 3.75 */
    }
    rd_convert_to_f32(dtype, stored, wide, N * K);
    RdWeight W = {dtype, N, K, stored, NULL, "w"};
    be->linear(be, &x, &W, NULL, &y);
    ref_linear(x.data, wide, NULL, ref, bound, M, N, K); /* widening is exact: f32 arithmetic */
    tu_assert_within(rd_dtype_name(dtype), y.data, ref, bound, M * N);
    be->tensor_free(be, &x);
    be->tensor_free(be, &y);
}

static void test_linear_narrow(void)
{
    check_linear_dtype(RD_BF16);
    check_linear_dtype(RD_F16);
    check_linear_dtype(RD_F8_E4M3);
}

/* Strided views in and out: a column block of a wider matrix. */
static void test_linear_views(void)
{
    const int M = 9, K = 16, N = 12;
    RdTensor big_x = tensor(M, 3 * K, 8), big_y = tensor(M, 2 * N, 9);
    g_autofree float *w = g_new(float, N * K), *ref = g_new(float, M * N);
    g_autofree float *xin = g_new(float, M * K), *yout = g_new(float, M * N);
    g_autofree double *bound = g_new(double, M * N);
    g_autofree float *untouched = g_memdup2(big_y.data, sizeof(float) * M * 2 * N);
    tu_fill_uniform(w, N * K, -1, 1, 10);
    RdTensor x = rd_tensor_view(&big_x, 0, M, K, K), y = rd_tensor_view(&big_y, 0, M, N, N);
    RdWeight W = weight_f32(w, N, K);
    be->linear(be, &x, &W, NULL, &y);
    be->download(be, &x, xin);
    be->download(be, &y, yout);
    ref_linear(xin, w, NULL, ref, bound, M, N, K);
    tu_assert_within("linear view", yout, ref, bound, M * N);
    for (int r = 0; r < M; r++) /* the other column block is untouched: exactly, nothing writes it */
        tu_assert_close("outside view", (float *)big_y.data + r * 2 * N, untouched + r * 2 * N,
                        N, 0, 0);
    be->tensor_free(be, &big_x);
    be->tensor_free(be, &big_y);
}

static void test_layer_norm(void)
{
    const int M = 7, N = 50;
    RdTensor x = tensor(M, N, 11), y = tensor(M, N, 12);
    g_autofree float *g = g_new(float, N), *b = g_new(float, N), *ref = g_new(float, M * N);
    g_autofree double *bound = g_new(double, M * N);
    tu_fill_uniform(g, N, 0.5f, 1.5f, 13);
    tu_fill_uniform(b, N, -1, 1, 14);

    for (int r = 0; r < M; r++)
        for (int c = 0; c < N; c++)
            ((float *)x.data)[r * N + c] = ((float *)x.data)[r * N + c] * (r + 1) + r;
    for (int pass = 0; pass < 2; pass++) {
        gboolean affine = pass == 1;
        RdWeight G = weight_f32(g, N, 1), B = weight_f32(b, N, 1);
        be->layer_norm(be, &x, affine ? &G : NULL, affine ? &B : NULL, 1e-6f, &y);
        for (int r = 0; r < M; r++) {
            const float *xr = (float *)x.data + r * N;
            double mean = 0, var = 0;
            for (int c = 0; c < N; c++)
                mean += xr[c];
            mean /= N;
            for (int c = 0; c < N; c++)
                var += (xr[c] - mean) * (xr[c] - mean);
            var /= N;
            /* The statistics are exact in double; in f32: rounding the mean, x - mean, the inverse
             * deviation, the product, and with affine * g + b. */
            double inv = 1.0 / sqrt(var + 1e-6);
            for (int c = 0; c < N; c++) {
                double v = (xr[c] - mean) * inv, gc = affine ? g[c] : 1.0, bc = affine ? b[c] : 0.0;
                ref[r * N + c] = (float)(v * gc + bc);
                bound[r * N + c] = tu_gamma(5, TU_U_F32) *
                                   (fabs(gc) * inv * (fabs(mean) + fabs(xr[c] - mean)) + fabs(bc));
            }
        }
        tu_assert_within("layer_norm", y.data, ref, bound, M * N);
    }
    be->tensor_free(be, &x);
    be->tensor_free(be, &y);
}

static void test_rms_norm(void)
{
    const int M = 6, group = 16, groups = 3;
    RdTensor x = tensor(M, group * groups, 15);
    g_autofree float *g = g_new(float, group), *ref = g_new(float, M * group * groups);
    g_autofree double *bound = g_new(double, M * group * groups);
    tu_fill_uniform(g, group, 0.5f, 1.5f, 16);
    for (int r = 0; r < M; r++)
        for (int k = 0; k < groups; k++) {
            const float *xr = (float *)x.data + r * group * groups + k * group;
            double ss = 0;
            for (int c = 0; c < group; c++)
                ss += xr[c] * xr[c];
            for (int c = 0; c < group; c++) { /* sum in double; f32 inverse and two products */
                double v = xr[c] / sqrt(ss / group + 1e-6) * g[c];
                ref[r * group * groups + k * group + c] = (float)v;
                bound[r * group * groups + k * group + c] = tu_gamma(4, TU_U_F32) * fabs(v);
            }
        }
    RdWeight G = weight_f32(g, group, 1);
    be->rms_norm(be, &x, &G, group, 1e-6f, &x); /* in place */
    tu_assert_within("rms_norm", x.data, ref, bound, M * group * groups);
    be->tensor_free(be, &x);
}

/* The bound of a unary activation at v in f32 (the reference is in double). silu and quick GELU are
 * v * sigmoid(a v): expf within one ulp (2u), 1 + e, the quotient and the product; quick GELU's
 * 1.702f also moves the argument by u relative, which sigmoid' <= 1/4 passes on. The GELUs are
 * 0.5 v (1 + f(z)) with f = tanh or erf: the error of f (one ulp of |f|, plus |f'| <= 1.13 times
 * the error of z) is not relative to 1 + f, which cancels for negative v. */
static double unary_bound(RdUnaryOp op, double v, double y)
{
    const double u = TU_U_F32;
    switch (op) {
    case RD_UNARY_SILU: return tu_gamma(5, u) * fabs(y);
    case RD_UNARY_GELU_QUICK: return tu_gamma(5, u) * fabs(y) + 0.25 * 1.702 * u * v * v;
    case RD_UNARY_GELU_TANH: {
        double z = sqrt(2 / M_PI) * (v + 0.044715 * v * v * v);
        double dz = tu_gamma(6, u) * sqrt(2 / M_PI) * (fabs(v) + 0.044715 * fabs(v * v * v));
        double t = tanh(z);
        return 0.5 * fabs(v) * (dz + 2 * u * fabs(t) + u * (1 + t)) + tu_gamma(2, u) * fabs(y);
    }
    case RD_UNARY_GELU_ERF: {
        double e = erf(v / sqrt(2));
        return 0.5 * fabs(v) * (1.13 * tu_gamma(2, u) * fabs(v) + 2 * u * fabs(e) + u * (1 + e)) +
               tu_gamma(2, u) * fabs(y);
    }
    }
    g_assert_not_reached();
}

static void test_elementwise(void)
{
    const int M = 4, N = 33;
    const double u = TU_U_F32;
    RdTensor x = tensor(M, N, 17), y = tensor(M, N, 18), shift = tensor(1, N, 19);
    RdTensor scale = tensor(1, N, 20), out = tensor(M, N, 21);
    g_autofree float *ref = g_new(float, M * N), *x0 = g_memdup2(x.data, sizeof(float) * M * N);
    g_autofree double *bound = g_new(double, M * N);
    const float *X = x.data, *Y = y.data, *S = shift.data, *C = scale.data;

    be->modulate(be, &x, &shift, &scale, &out); /* 1 + c, the product, the sum */
    for (int i = 0; i < M * N; i++) {
        double p = (double)X[i] * (1.0 + C[i % N]);
        ref[i] = (float)(p + S[i % N]);
        bound[i] = tu_gamma(3, u) * (fabs(p) + fabs(S[i % N]));
    }
    tu_assert_within("modulate", out.data, ref, bound, M * N);

    be->gated_add(be, &x, &scale, &y); /* the product, the sum */
    for (int i = 0; i < M * N; i++) {
        double p = (double)C[i % N] * Y[i];
        ref[i] = (float)(x0[i] + p);
        bound[i] = tu_gamma(2, u) * (fabs(x0[i]) + fabs(p));
    }
    tu_assert_within("gated_add", x.data, ref, bound, M * N);

    memcpy(x.data, x0, sizeof(float) * M * N);
    be->mul(be, &x, &y); /* one rounding: IEEE multiplication is correctly rounded, so exact */
    for (int i = 0; i < M * N; i++)
        ref[i] = x0[i] * Y[i];
    tu_assert_close("mul", x.data, ref, M * N, 0, 0);

    memcpy(x.data, x0, sizeof(float) * M * N);
    be->scale_add(be, &x, -2.5f, 0.75f); /* the product, the sum */
    for (int i = 0; i < M * N; i++) {
        double p = x0[i] * -2.5;
        ref[i] = (float)(p + 0.75);
        bound[i] = tu_gamma(2, u) * (fabs(p) + 0.75);
    }
    tu_assert_within("scale_add", x.data, ref, bound, M * N);

    ((float *)x.data)[3] = NAN;
    be->fill(be, &x, 1.25f);
    for (int i = 0; i < M * N; i++)
        ref[i] = 1.25f;
    tu_assert_close("fill", x.data, ref, M * N, 0, 0); /* a copy of one value: exact */

    const RdUnaryOp ops[] = {RD_UNARY_SILU, RD_UNARY_GELU_TANH, RD_UNARY_GELU_ERF,
                             RD_UNARY_GELU_QUICK};
    for (size_t o = 0; o < G_N_ELEMENTS(ops); o++) {
        for (int i = 0; i < M * N; i++)
            ((float *)x.data)[i] = x0[i] * 4; /* span [-4, 4]: exact, a power of two */
        be->unary(be, ops[o], &x);
        for (int i = 0; i < M * N; i++) {
            double v = x0[i] * 4.0, r = 0;
            switch (ops[o]) {
            case RD_UNARY_SILU: r = v / (1 + exp(-v)); break;
            case RD_UNARY_GELU_TANH:
                r = 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
                break;
            case RD_UNARY_GELU_ERF: r = 0.5 * v * (1 + erf(v / sqrt(2))); break;
            case RD_UNARY_GELU_QUICK: r = v / (1 + exp(-1.702 * v)); break;
            }
            ref[i] = (float)r;
            bound[i] = unary_bound(ops[o], v, r);
        }
        tu_assert_within("unary", x.data, ref, bound, M * N);
    }
    RdTensor *all[] = {&x, &y, &shift, &scale, &out};
    for (size_t i = 0; i < G_N_ELEMENTS(all); i++)
        be->tensor_free(be, all[i]);
}

static void test_rope(void)
{
    const int N = 5, heads = 3, D = 8;
    RdTensor x = tensor(N, heads * D, 22), cs = tensor(N, D / 2, 23), sn = tensor(N, D / 2, 24);
    g_autofree float *x0 = g_memdup2(x.data, sizeof(float) * N * heads * D);
    g_autofree float *ref = g_new(float, N * heads * D);
    g_autofree double *bound = g_new(double, N * heads * D);
    for (int t = 0; t < N; t++) /* a real rotation: cos^2 + sin^2 = 1 */
        for (int j = 0; j < D / 2; j++) {
            double a = ((float *)cs.data)[t * D / 2 + j] * 3.0;
            ((float *)cs.data)[t * D / 2 + j] = (float)cos(a);
            ((float *)sn.data)[t * D / 2 + j] = (float)sin(a);
        }
    for (int t = 0; t < N; t++)
        for (int h = 0; h < heads; h++)
            for (int j = 0; j < D / 2; j++) {
                int i = t * heads * D + h * D + 2 * j;
                double c = ((float *)cs.data)[t * D / 2 + j], s = ((float *)sn.data)[t * D / 2 + j];
                double a = x0[i], b = x0[i + 1]; /* two products and a sum each */
                ref[i] = (float)(a * c - b * s);
                ref[i + 1] = (float)(b * c + a * s);
                bound[i] = tu_gamma(2, TU_U_F32) * (fabs(a * c) + fabs(b * s));
                bound[i + 1] = tu_gamma(2, TU_U_F32) * (fabs(b * c) + fabs(a * s));
            }
    be->rope(be, &x, &cs, &sn, heads, D);
    tu_assert_within("rope", x.data, ref, bound, N * heads * D);
    be->tensor_free(be, &x);
    be->tensor_free(be, &cs);
    be->tensor_free(be, &sn);
}

/* softmax(q k^T / sqrt(D) + bias) v with the full score matrix, in double, and each output's bound
 * for an f32 evaluation in any blocking. A score s_j carries gamma_(D+1) sum |q k| / sqrt(D) (the
 * product and the f32 scale), u |s_j| per bias add and u |s_j - max| for the shift; expf adds an
 * ulp (2u). So every probability is off by a relative E <= max_j(those) (e^E - 1 ~ E), and
 * o = sum p v / sum p by 2E relative to pbar = sum p |v| / sum p. The sums over Nk keys, with a
 * rescale by the running maximum per key block (a product and an expf each), add
 * 2 gamma_(Nk + 3 blocks) pbar, and the final scaling by 1 / sum two roundings of |o|. */
static void ref_attention(const RdTensor *q, const RdTensor *k, const RdTensor *v, int heads,
                          int D, gboolean causal, const float *bias, float *out, double *bound)
{
    const int64_t Nq = q->rows, Nk = k->rows;
    const double u = TU_U_F32, key_blocks = (double)((Nk + 255) / 256);
    double *s = g_new(double, Nk), *err = g_new(double, Nk);
    for (int h = 0; h < heads; h++)
        for (int64_t i = 0; i < Nq; i++) {
            double mx = -INFINITY, sum = 0, E = 0;
            for (int64_t j = 0; j < Nk; j++) {
                double d = 0, mag = 0;
                for (int c = 0; c < D; c++) {
                    double p = (double)((float *)q->data)[i * q->stride + h * D + c] *
                               ((float *)k->data)[j * k->stride + h * D + c];
                    d += p;
                    mag += fabs(p);
                }
                s[j] = d / sqrt(D) + (bias ? bias[(h * Nq + i) * Nk + j] : 0);
                err[j] = tu_dot_bound(D + 1, mag / sqrt(D), u) + (bias ? u * fabs(s[j]) : 0);
                if (causal && j > i)
                    s[j] = -INFINITY;
                mx = fmax(mx, s[j]);
            }
            for (int64_t j = 0; j < Nk; j++)
                if (s[j] > -INFINITY)
                    E = fmax(E, err[j] + u * fabs(s[j] - mx) + 2 * u);
            for (int64_t j = 0; j < Nk; j++)
                sum += (s[j] = exp(s[j] - mx));
            for (int c = 0; c < D; c++) {
                double o = 0, pbar = 0;
                for (int64_t j = 0; j < Nk; j++) {
                    double vj = ((float *)v->data)[j * v->stride + h * D + c];
                    o += s[j] * vj;
                    pbar += s[j] * fabs(vj);
                }
                o /= sum;
                pbar /= sum;
                out[i * heads * D + h * D + c] = (float)o;
                bound[i * heads * D + h * D + c] =
                    (2 * E * 1.01 + 2 * tu_gamma(Nk + 3 * key_blocks, u)) * pbar +
                    tu_gamma(2, u) * fabs(o);
            }
        }
    g_free(s);
    g_free(err);
}

static void check_attention(int Nq, int Nk, int heads, int D, gboolean causal, gboolean with_bias)
{
    RdTensor q = tensor(Nq, heads * D, 30), k = tensor(Nk, heads * D, 31);
    RdTensor v = tensor(Nk, heads * D, 32), out = tensor(Nq, heads * D, 33);
    be->scale_add(be, &q, 3.0f, 0.0f); /* peaky enough to exercise the online max */
    g_autofree float *ref = g_new(float, Nq * heads * D), *bias_data = NULL;
    g_autofree double *bound = g_new(double, Nq * heads * D);
    RdTensor bias = {0};
    if (with_bias) {
        bias = tensor((int64_t)heads * Nq, Nk, 34);
        bias_data = g_memdup2(bias.data, sizeof(float) * heads * Nq * Nk);
    }
    RdAttentionExtras extras = {causal, with_bias ? &bias : NULL};
    be->attention(be, &q, &k, &v, &out, heads, D, &extras);
    ref_attention(&q, &k, &v, heads, D, causal, bias_data, ref, bound);
    tu_assert_within("attention", out.data, ref, bound, Nq * heads * D);
    RdTensor *all[] = {&q, &k, &v, &out};
    for (size_t i = 0; i < G_N_ELEMENTS(all); i++)
        be->tensor_free(be, all[i]);
    if (with_bias)
        be->tensor_free(be, &bias);
}

static void test_attention(void)
{
    check_attention(70, 300, 2, 16, FALSE, FALSE); /* several query and key blocks */
    check_attention(1, 5, 3, 8, FALSE, FALSE);
    check_attention(77, 77, 2, 32, TRUE, FALSE);   /* CLIP's causal mask */
    check_attention(40, 40, 2, 8, FALSE, TRUE);    /* T5's position bias */
    check_attention(33, 129, 1, 128, FALSE, FALSE);
}

static void test_grid(void)
{
    const int rows = 7, cols = 9, C = 5;
    RdTensor grid = tensor(rows * cols, C, 40), acc = tensor(rows * cols, C, 41);
    RdTensor rw = tensor(1, 3, 42), cw = tensor(1, 4, 43);
    RdWindow win = {2, 5, 3, 4};
    RdTensor patch = tensor(12, C, 44);
    be->grid_gather(be, &grid, cols, win, &patch);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++)
            tu_assert_close("gather", (float *)patch.data + (r * 4 + c) * C, /* a copy: exact */
                            (float *)grid.data + ((2 + r) * cols + 5 + c) * C, C, 0, 0);
    g_autofree float *before = g_memdup2(acc.data, sizeof(float) * rows * cols * C);
    g_autofree float *ref = g_memdup2(before, sizeof(float) * rows * cols * C);
    g_autofree double *bound = g_new0(double, rows * cols * C); /* outside the window: untouched */
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++)
            for (int ch = 0; ch < C; ch++) { /* two products and a sum */
                size_t i = ((2 + r) * cols + 5 + c) * C + ch;
                double p = (double)((float *)rw.data)[r] * ((float *)cw.data)[c] *
                           ((float *)patch.data)[(r * 4 + c) * C + ch];
                ref[i] = (float)(before[i] + p);
                bound[i] = tu_gamma(3, TU_U_F32) * (fabs(before[i]) + fabs(p));
            }
    be->grid_splice(be, &patch, &rw, &cw, &acc, cols, win);
    tu_assert_within("splice", acc.data, ref, bound, rows * cols * C);
    RdTensor *all[] = {&grid, &acc, &rw, &cw, &patch};
    for (size_t i = 0; i < G_N_ELEMENTS(all); i++)
        be->tensor_free(be, all[i]);
}

/* PSF by a direct 2-D DFT in double: M * DFT(g) + (1 - M) * DFT(l), inverse, real part. */
static void ref_spectral(const float *g, const float *l, int h, int w, int C, double cutoff,
                         float *out)
{
    for (int ch = 0; ch < C; ch++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double acc = 0;
                for (int ky = 0; ky < h; ky++)
                    for (int kx = 0; kx < w; kx++) {
                        int sy = ky < (h + 1) / 2 ? ky : ky - h, sx = kx < (w + 1) / 2 ? kx : kx - w;
                        double fy = h > 1 ? sy / (h / 2.0) : 0, fx = w > 1 ? sx / (w / 2.0) : 0;
                        const float *src = sqrt(fy * fy + fx * fx) < cutoff ? g : l;
                        /* coefficient of bin (ky, kx), then its contribution at (y, x) */
                        double re, im;
                        tu_dft_bin(src, h, w, C, ch, ky, kx, &re, &im);
                        double b = 2 * M_PI * ((double)ky * y / h + (double)kx * x / w);
                        acc += re * cos(b) - im * sin(b);
                    }
                out[(y * w + x) * C + ch] = (float)(acc / (h * w));
            }
}

/* The fused patch is l + A (g - l) with A = F^-1 M F, ||A||_2 <= 1. An FFT of n = 2^m points is
 * within m eta ||x||_2 in L2, eta ~ 6.7 u (Higham, Thm 24.2); forward and inverse take 2m eta, the
 * difference and the 1 / n scale a u each, and the last sum rounds once: per element
 * (16 (ceil log2 h + ceil log2 w) + 2) u ||g - l||_2 per channel + 2u (|l| + |out|). */
static void spectral_bounds(const float *g, const float *l, const float *ref, int h, int w, int C,
                            double *bound)
{
    const double u = TU_U_F32;
    int m = (int)ceil(log2(h)) + (int)ceil(log2(w));
    for (int ch = 0; ch < C; ch++) {
        double norm = 0;
        for (int t = 0; t < h * w; t++)
            norm += ((double)g[t * C + ch] - l[t * C + ch]) * ((double)g[t * C + ch] - l[t * C + ch]);
        norm = sqrt(norm);
        for (int t = 0; t < h * w; t++)
            bound[t * C + ch] =
                (16.0 * m + 2) * u * norm + 2 * u * (fabs(l[t * C + ch]) + fabs(ref[t * C + ch]));
    }
}

static void check_spectral(int h, int w, int C, double cutoff)
{
    RdTensor g = tensor(h * w, C, 50), l = tensor(h * w, C, 51), out = tensor(h * w, C, 52);
    g_autofree float *ref = g_new(float, h * w * C);
    g_autofree double *bound = g_new(double, h * w * C);
    ref_spectral(g.data, l.data, h, w, C, cutoff, ref);
    spectral_bounds(g.data, l.data, ref, h, w, C, bound);
    be->spectral_fuse(be, &g, &l, h, w, cutoff, &out);
    tu_assert_within("spectral_fuse", out.data, ref, bound, h * w * C);
    be->spectral_fuse(be, &g, &l, h, w, cutoff, &l); /* in place into local */
    tu_assert_within("spectral_fuse in place", l.data, ref, bound, h * w * C);
    be->tensor_free(be, &g);
    be->tensor_free(be, &l);
    be->tensor_free(be, &out);
}

static void test_spectral(void)
{
    check_spectral(8, 8, 3, 0.2);
    check_spectral(8, 8, 2, 0.5);
    check_spectral(6, 10, 2, 0.45); /* non-square, even */
    check_spectral(5, 7, 2, 0.6);   /* odd sides */
    check_spectral(1, 6, 2, 0.7);   /* one row */
}

static void test_spectral_identities(void)
{
    const int h = 8, w = 8, C = 4;
    RdTensor g = tensor(h * w, C, 60), l = tensor(h * w, C, 61), out = tensor(h * w, C, 62);
    /* Exact by construction: with itself, g - l is zero and so is its transform; cutoff 0 and 1.5
     * copy one branch (psf_mask.c's mask kinds). */
    be->spectral_fuse(be, &g, &g, h, w, 0.2, &out); /* fusing a tensor with itself */
    tu_assert_close("self fusion", out.data, g.data, h * w * C, 0, 0);
    be->spectral_fuse(be, &g, &l, h, w, 0.0, &out);
    tu_assert_close("cutoff 0", out.data, l.data, h * w * C, 0, 0);
    be->spectral_fuse(be, &g, &l, h, w, 1.5, &out);
    tu_assert_close("cutoff 1.5", out.data, g.data, h * w * C, 0, 0);
    be->tensor_free(be, &g);
    be->tensor_free(be, &l);
    be->tensor_free(be, &out);
}

/* The VAE encoder's downsampling: 3x3, stride 2, one zero row/column padded at the bottom and
 * right; a plain loop in double, each element bounded by 9 Cin products and the bias. */
static void check_conv_down2(int h, int w, int cin, int cout)
{
    RdTensor x = tensor((int64_t)h * w, cin, 70), y = tensor((int64_t)h / 2 * (w / 2), cout, 71);
    const int64_t kdim = (int64_t)cin * 9, npix = (int64_t)h / 2 * (w / 2);
    float *wt = g_new(float, cout * kdim), *b = g_new(float, cout);
    tu_fill_uniform(wt, (size_t)(cout * kdim), -0.5f, 0.5f, 72);
    tu_fill_uniform(b, (size_t)cout, -0.5f, 0.5f, 73);
    RdWeight rw = weight_f32(wt, cout, kdim), rb = weight_f32(b, cout, 1);
    be->conv2d_down2(be, &x, h, w, &rw, &rb, &y);
    const float *xd = x.data;
    float *ref = g_new(float, npix * cout);
    double *bound = g_new(double, npix * cout);
    for (int oy = 0; oy < h / 2; oy++)
        for (int ox = 0; ox < w / 2; ox++)
            for (int co = 0; co < cout; co++) {
                double s = b[co], mag = fabs(b[co]);
                for (int ci = 0; ci < cin; ci++)
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++) {
                            int sy = 2 * oy + ky, sx = 2 * ox + kx;
                            if (sy >= h || sx >= w)
                                continue; /* the bottom/right padding */
                            double p = (double)xd[((int64_t)sy * w + sx) * cin + ci] *
                                       wt[co * kdim + ci * 9 + ky * 3 + kx];
                            s += p;
                            mag += fabs(p);
                        }
                int64_t i = ((int64_t)oy * (w / 2) + ox) * cout + co;
                ref[i] = (float)s;
                bound[i] = tu_dot_bound((int)kdim + 1, mag, TU_U_F32);
            }
    tu_assert_within("conv2d_down2", y.data, ref, bound, (size_t)(npix * cout));
    g_free(wt);
    g_free(b);
    g_free(ref);
    g_free(bound);
    be->tensor_free(be, &x);
    be->tensor_free(be, &y);
}

static void test_conv_down2(void)
{
    check_conv_down2(8, 6, 3, 5);   /* non-square, the encoder's first level has 3 inputs */
    check_conv_down2(2, 2, 4, 4);   /* one output pixel: most taps in the padding */
    check_conv_down2(34, 40, 8, 6); /* several bands of output pixels */
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    be = rd_backend_cpu_new();
    g_test_add_func("/ops/linear-f32", test_linear_f32);
    g_test_add_func("/ops/linear-narrow-weights", test_linear_narrow);
    g_test_add_func("/ops/linear-views", test_linear_views);
    g_test_add_func("/ops/layer-norm", test_layer_norm);
    g_test_add_func("/ops/rms-norm", test_rms_norm);
    g_test_add_func("/ops/elementwise", test_elementwise);
    g_test_add_func("/ops/rope", test_rope);
    g_test_add_func("/ops/attention", test_attention);
    g_test_add_func("/ops/grid", test_grid);
    g_test_add_func("/ops/spectral", test_spectral);
    g_test_add_func("/ops/spectral-identities", test_spectral_identities);
    g_test_add_func("/ops/conv2d-down2", test_conv_down2);
    int status = g_test_run();
    rd_backend_free(be);
    return status;
}
