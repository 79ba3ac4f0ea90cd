#include "dtype.h"

#include <math.h>
#include <string.h>

static const struct {
    const char *name;
    size_t size;
} dtype_info[RD_DTYPE_COUNT] = {
    [RD_F32] = {"F32", 4},     [RD_F16] = {"F16", 2},         [RD_BF16] = {"BF16", 2},
    [RD_F8_E4M3] = {"F8_E4M3", 1}, [RD_F8_E5M2] = {"F8_E5M2", 1}, [RD_I64] = {"I64", 8},
};

size_t rd_dtype_size(RdDType dtype)
{
    return dtype < RD_DTYPE_COUNT ? dtype_info[dtype].size : 0;
}

const char *rd_dtype_name(RdDType dtype)
{
    return dtype < RD_DTYPE_COUNT ? dtype_info[dtype].name : "?";
}

int rd_dtype_from_name(const char *name)
{
    for (int i = 0; i < RD_DTYPE_COUNT; i++)
        if (strcmp(name, dtype_info[i].name) == 0)
            return i;
    return -1;
}

static float bits_to_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint32_t f32_to_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

float rd_bf16_to_f32(uint16_t b)
{
    return bits_to_f32((uint32_t)b << 16);
}

uint16_t rd_f32_to_bf16(float f)
{
    uint32_t u = f32_to_bits(f);
    if ((u & 0x7fffffff) > 0x7f800000) /* NaN stays NaN */
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

float rd_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    int exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    if (exp == 0) /* zero or subnormal: mant * 2^-24 */
        return (sign ? -1.0f : 1.0f) * ldexpf((float)mant, -24);
    if (exp == 31)
        return bits_to_f32(sign | 0x7f800000 | (mant << 13));
    return bits_to_f32(sign | ((uint32_t)(exp - 15 + 127) << 23) | (mant << 13));
}

uint16_t rd_f32_to_f16(float f)
{
    uint32_t u = f32_to_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    float a = fabsf(f);
    if (isnan(f))
        return sign | 0x7e00;
    if (a >= 65520.0f)
        return sign | 0x7c00;
    if (a < 6.103515625e-05f) { /* subnormal: round a * 2^24 to an integer */
        return sign | (uint16_t)lrintf(a * 16777216.0f);
    }
    uint32_t au = f32_to_bits(a);
    uint32_t mant = au & 0x7fffff;
    int exp = (int)(au >> 23) - 127 + 15;
    uint32_t h = ((uint32_t)exp << 10) | (mant >> 13);
    uint32_t rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
        h++;
    return sign | (uint16_t)h;
}

float rd_e4m3_to_f32(uint8_t v)
{
    /* OCP FP8 E4M3 ("fn"): bias 7, no infinities, S.1111.111 is NaN. */
    float sign = (v & 0x80) ? -1.0f : 1.0f;
    int exp = (v >> 3) & 0xf;
    int mant = v & 0x7;
    if (exp == 0xf && mant == 0x7)
        return NAN;
    if (exp == 0)
        return sign * ldexpf((float)mant, -9);
    return sign * ldexpf(1.0f + (float)mant / 8.0f, exp - 7);
}

float rd_e5m2_to_f32(uint8_t v)
{
    /* E5M2 is the top byte of an IEEE half. */
    return rd_f16_to_f32((uint16_t)((uint16_t)v << 8));
}

/* Tensor data sits at any offset of the file (safetensors does not align it): every element is
 * read with memcpy, which the compiler turns into a plain load where that is allowed. */
static uint16_t load_u16(const unsigned char *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Nearest of the codes 0..max_code (positive values, increasing with the code), ties to the
 * even code (the even mantissa), saturating at max_code. */
static uint8_t f8_encode(float f, float (*decode)(uint8_t), uint8_t max_code, uint8_t nan_code)
{
    if (isnan(f))
        return nan_code;
    uint8_t sign = signbit(f) ? 0x80 : 0;
    double a = fabs((double)f);
    if (a >= decode(max_code))
        return sign | max_code;
    unsigned lo = 0, hi = max_code; /* value(lo) <= a < value(hi) */
    while (hi - lo > 1) {
        unsigned mid = (lo + hi) / 2;
        if ((double)decode((uint8_t)mid) <= a)
            lo = mid;
        else
            hi = mid;
    }
    double below = a - decode((uint8_t)lo), above = decode((uint8_t)hi) - a;
    unsigned code = below < above ? lo : above < below ? hi : (lo & 1) ? hi : lo;
    return sign | (uint8_t)code;
}

uint8_t rd_f32_to_e4m3(float f)
{
    return f8_encode(f, rd_e4m3_to_f32, 0x7e, 0x7f);
}

uint8_t rd_f32_to_e5m2(float f)
{
    return f8_encode(f, rd_e5m2_to_f32, 0x7b, 0x7f);
}

void rd_convert_to_f32(RdDType dtype, const void *src, float *dst, size_t n)
{
    switch (dtype) {
    case RD_F32:
        memcpy(dst, src, n * sizeof(float));
        break;
    case RD_BF16: {
        const unsigned char *s = src;
        for (size_t i = 0; i < n; i++)
            dst[i] = bits_to_f32((uint32_t)load_u16(s + 2 * i) << 16);
        break;
    }
    case RD_F16: {
        const unsigned char *s = src;
        for (size_t i = 0; i < n; i++)
            dst[i] = rd_f16_to_f32(load_u16(s + 2 * i));
        break;
    }
    case RD_F8_E4M3: {
        const uint8_t *s = src;
        for (size_t i = 0; i < n; i++)
            dst[i] = rd_e4m3_to_f32(s[i]);
        break;
    }
    case RD_F8_E5M2: {
        const uint8_t *s = src;
        for (size_t i = 0; i < n; i++)
            dst[i] = rd_e5m2_to_f32(s[i]);
        break;
    }
    case RD_I64: {
        const unsigned char *s = src;
        for (size_t i = 0; i < n; i++) {
            int64_t v;
            memcpy(&v, s + 8 * i, sizeof v);
            dst[i] = (float)v;
        }
        break;
    }
    default:
        memset(dst, 0, n * sizeof(float));
    }
}
