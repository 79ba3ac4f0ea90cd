/* fp8 E4M3 weights quantised at load with a per-tensor scale: the reference the CUDA backend's
 * quantiser (kernels/fp8_weights.cu) matches bit for bit.
 *
 * scale = amax / 448 over the tensor's finite values (1 when that is 0), and each element is
 * stored as E4M3(v / scale): round to nearest even, saturating at +-448, NaN stored as 0 and
 * +-inf as +-448, so a quantised tensor holds no NaN code. The value used is scale * E4M3. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __CUDACC__
#define RD_FP8_FN __host__ __device__ static inline
#else
#define RD_FP8_FN static inline
#endif

#define RD_E4M3_MAX 448.0f

/* E4M3 code of x: nearest, ties to the even code, saturating; NaN gives 0. Integer arithmetic on
 * the f32 bits (the same on the host and the device whatever their rounding of conversions). */
RD_FP8_FN uint8_t rd_fp8_encode_e4m3(float x)
{
    union {
        float f;
        uint32_t u;
    } b = {x};
    const uint8_t sign = (uint8_t)((b.u >> 24) & 0x80);
    const uint32_t a = b.u & 0x7fffffffu;
    if (a > 0x7f800000u) /* NaN */
        return 0;
    if (a >= 0x43e00000u) /* 448 and above, inf included */
        return sign | 0x7e;
    int e = (int)(a >> 23) - 127;
    uint32_t m = (a & 0x7fffffu) | 0x800000u; /* 24-bit significand, 1.m */
    uint32_t code;
    if (e < -6) {
        /* subnormal codes count units of 2^-9: a = m 2^(e-23) is m >> (14 - e) units */
        const int s = 14 - e;
        if (s >= 32)
            return sign; /* below 2^-11: rounds to 0 */
        const uint32_t q = m >> s, rest = m & ((1u << s) - 1), half = 1u << (s - 1);
        code = q + (rest > half || (rest == half && (q & 1)));
    } else {
        const uint32_t q = ((uint32_t)(e + 7) << 3) | ((m >> 20) & 7u);
        const uint32_t rest = m & 0xfffffu;
        code = q + (rest > 0x80000u || (rest == 0x80000u && (q & 1)));
    }
    return sign | (uint8_t)(code > 0x7e ? 0x7e : code);
}

/* The scale of n values: amax / 448 over the finite ones, 1 when that is 0. */
RD_FP8_FN float rd_fp8_scale_of_amax(float amax)
{
    return amax > 0.0f ? amax / RD_E4M3_MAX : 1.0f;
}

/* amax of n floats, ignoring NaN and infinities. */
float rd_fp8_amax(const float *v, size_t n);
/* Quantises n floats into dst; returns the scale (value = scale * E4M3(dst[i])). */
float rd_fp8_quantise(const float *v, size_t n, uint8_t *dst);

/* The fp8 GEMM of the CUDA backend (kernels/linear.cu, sm_89+), in double: x [m, k] quantised per
 * tensor like a weight, times w's codes [n, k] (scale w_scale), plus bias [n] (may be NULL):
 * y[i, j] = s_x s_w sum_l E4M3(x codes)[i, l] E4M3(w codes)[j, l] + bias[j]. abs_sum[i, j] gets
 * the sum of the terms' magnitudes (|bias| included), which error bounds scale with. */
void rd_fp8_linear_reference(const float *x, int64_t m, int64_t k, const uint8_t *w_codes,
                             float w_scale, int64_t n, const float *bias, double *y,
                             double *abs_sum);
