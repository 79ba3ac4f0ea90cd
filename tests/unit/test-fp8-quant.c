/* The fp8 E4M3 quantiser (engine/fp8_quant.h): the bit-level encoder against dtype.c's search
 * encoder, and the per-tensor round trip against the bound E4M3's 3 mantissa bits give. */
#include <math.h>
#include <string.h>

#include "dtype.h"
#include "fp8_quant.h"
#include "test-util.h"

static float bits_to_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Every bf16 value (2^16 patterns, every exponent and sign): the same code as the search. */
static void test_every_bf16(void)
{
    for (uint32_t h = 0; h < 0x10000; h++) {
        const float x = bits_to_f32(h << 16);
        const uint8_t got = rd_fp8_encode_e4m3(x);
        const uint8_t want = isnan(x) ? 0 : rd_f32_to_e4m3(x);
        if (got != want)
            g_error("bf16 %04x (%g): code %02x, the search gives %02x", h, x, got, want);
    }
}

/* Ties and their neighbours: each midpoint between adjacent codes rounds to the even code, one
 * f32 ulp either side to the nearer one. */
static void test_midpoints(void)
{
    for (uint8_t c = 0; c < 0x7e; c++) {
        const float lo = rd_e4m3_to_f32(c), hi = rd_e4m3_to_f32((uint8_t)(c + 1));
        const float mid = (lo + hi) / 2; /* exact: both have 4 significant bits */
        const float below = nextafterf(mid, 0.0f), above = nextafterf(mid, 1000.0f);
        const float xs[] = {mid, below, above, -mid, -below, -above};
        for (size_t i = 0; i < G_N_ELEMENTS(xs); i++) {
            const uint8_t got = rd_fp8_encode_e4m3(xs[i]), want = rd_f32_to_e4m3(xs[i]);
            if (got != want)
                g_error("%g (between codes %02x and %02x): %02x, the search gives %02x", xs[i], c,
                        c + 1, got, want);
        }
        const uint8_t even = (c & 1) ? (uint8_t)(c + 1) : c;
        g_assert_cmpuint(rd_fp8_encode_e4m3(mid), ==, even);
        g_assert_cmpuint(rd_fp8_encode_e4m3(below), ==, c);
        g_assert_cmpuint(rd_fp8_encode_e4m3(above), ==, c + 1);
    }
}

/* Random f32 bit patterns (all 23 mantissa bits) over E4M3's range and below it. */
static void test_random_f32(void)
{
    GRand *r = g_rand_new_with_seed(17);
    for (int i = 0; i < 2000000; i++) {
        const uint32_t exp = (uint32_t)g_rand_int_range(r, 127 - 14, 127 + 10);
        const uint32_t u = (g_rand_int(r) & 0x807fffffu) | (exp << 23);
        const float x = bits_to_f32(u);
        const uint8_t got = rd_fp8_encode_e4m3(x), want = rd_f32_to_e4m3(x);
        if (got != want)
            g_error("%08x (%g): code %02x, the search gives %02x", u, x, got, want);
    }
    g_rand_free(r);
}

static void test_saturation_and_nan(void)
{
    g_assert_cmpuint(rd_fp8_encode_e4m3(448.0f), ==, 0x7e);
    g_assert_cmpuint(rd_fp8_encode_e4m3(463.9f), ==, 0x7e);
    g_assert_cmpuint(rd_fp8_encode_e4m3(1e30f), ==, 0x7e);
    g_assert_cmpuint(rd_fp8_encode_e4m3(-1e30f), ==, 0xfe);
    g_assert_cmpuint(rd_fp8_encode_e4m3(INFINITY), ==, 0x7e);
    g_assert_cmpuint(rd_fp8_encode_e4m3(-INFINITY), ==, 0xfe);
    g_assert_cmpuint(rd_fp8_encode_e4m3(NAN), ==, 0);
    g_assert_cmpuint(rd_fp8_encode_e4m3(-NAN), ==, 0);
    g_assert_cmpuint(rd_fp8_encode_e4m3(1e-30f), ==, 0);
    g_assert_cmpuint(rd_fp8_encode_e4m3(-1e-30f), ==, 0x80);
    /* a tensor with non-finite values: its scale comes from the finite ones */
    const float v[] = {2.0f, NAN, -INFINITY, -8.0f, INFINITY, 0.5f};
    uint8_t q[G_N_ELEMENTS(v)];
    const float s = rd_fp8_quantise(v, G_N_ELEMENTS(v), q);
    g_assert_cmpfloat(s, ==, 8.0f / 448.0f);
    const uint8_t want[] = {rd_f32_to_e4m3(2.0f / s), 0, 0xfe, 0xfe, 0x7e,
                            rd_f32_to_e4m3(0.5f / s)};
    for (size_t i = 0; i < G_N_ELEMENTS(v); i++)
        g_assert_cmpuint(q[i], ==, want[i]);
    /* all zero: scale 1, codes 0 */
    const float z[] = {0.0f, -0.0f};
    uint8_t qz[2] = {9, 9};
    g_assert_cmpfloat(rd_fp8_quantise(z, 2, qz), ==, 1.0f);
    g_assert_cmpuint(qz[0], ==, 0);
    g_assert_cmpuint(qz[1], ==, 0x80);
}

/* Magnitudes over 2^-16 .. 2^4 (normal and subnormal codes after scaling), both signs: every
 * element within half a code step of its magnitude class (relative 2^-4 of the power of two
 * below x = v / scale, x >= 2^-6), or of the subnormal step 2^-9 (absolute scale * 2^-10),
 * plus the f32 rounding of v / scale and of the product (2^-23 |v|). */
static void test_round_trip(void)
{
    const size_t n = 1 << 16;
    float *v = g_new(float, n);
    GRand *r = g_rand_new_with_seed(23);
    for (size_t i = 0; i < n; i++) {
        const double mag = ldexp(g_rand_double_range(r, 1.0, 2.0), g_rand_int_range(r, -16, 4));
        v[i] = (float)(g_rand_boolean(r) ? mag : -mag);
    }
    v[n / 3] = 24.0f; /* amax, exactly */
    v[n / 5] = -24.0f;
    uint8_t *q = g_new(uint8_t, n);
    const float s = rd_fp8_quantise(v, n, q);
    g_assert_cmpfloat(s, ==, 24.0f / 448.0f);
    g_assert_cmpuint(q[n / 3], ==, 0x7e);
    g_assert_cmpuint(q[n / 5], ==, 0xfe);
    for (size_t i = 0; i < n; i++) {
        g_assert_cmpuint(q[i] & 0x7f, !=, 0x7f); /* no NaN code */
        const double x = fabs((double)v[i] / s);
        const double step = x >= ldexp(1, -6) ? ldexp(1, (int)floor(log2(x)) - 4) : ldexp(1, -10);
        const double back = (double)s * rd_e4m3_to_f32(q[i]);
        const double bound = s * step + fabs(v[i]) * ldexp(1, -23);
        if (!(fabs(back - v[i]) <= bound))
            g_error("element %zu: %g came back as %g (code %02x), bound %g", i, v[i], back, q[i],
                    bound);
    }
    g_rand_free(r);
    g_free(v);
    g_free(q);
}

/* The fp8 GEMM reference on values E4M3 holds exactly (x / s_x and w / s_w are E4M3 numbers):
 * it must give x w^T + b exactly, element by element, and the sum of the terms' magnitudes. */
static void test_linear_reference(void)
{
    enum { M = 2, K = 4, N = 3 };
    /* amax 3.5: s_x = 2^-7, x / s_x = 128, -256, 64, 448, ... (all E4M3) */
    const float x[M * K] = {1.0f, -2.0f, 0.5f, 3.5f, -0.25f, 0.75f, 3.0f, -1.5f};
    /* amax 7: s_w = 2^-6 */
    const float w[N * K] = {0.5f, 1.0f, -7.0f, 2.0f, -1.0f, 0.25f, 4.0f, 6.0f,
                            3.0f, -0.5f, 0.125f, -2.5f};
    const float bias[N] = {0.5f, -1.0f, 2.0f};
    uint8_t w_codes[N * K];
    const float w_scale = rd_fp8_quantise(w, N * K, w_codes);
    g_assert_cmpfloat(w_scale, ==, 0.015625f);
    double y[M * N], mag[M * N];
    rd_fp8_linear_reference(x, M, K, w_codes, w_scale, N, bias, y, mag);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double want = bias[j], want_mag = fabs(bias[j]);
            for (int l = 0; l < K; l++) {
                want += (double)x[i * K + l] * w[j * K + l];
                want_mag += fabs((double)x[i * K + l] * w[j * K + l]);
            }
            g_assert_cmpfloat(y[i * N + j], ==, want);
            g_assert_cmpfloat(mag[i * N + j], ==, want_mag);
        }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/fp8-quant/every-bf16", test_every_bf16);
    g_test_add_func("/fp8-quant/midpoints", test_midpoints);
    g_test_add_func("/fp8-quant/random-f32", test_random_f32);
    g_test_add_func("/fp8-quant/saturation-nan", test_saturation_and_nan);
    g_test_add_func("/fp8-quant/round-trip", test_round_trip);
    g_test_add_func("/fp8-quant/linear-reference", test_linear_reference);
    return g_test_run();
}
