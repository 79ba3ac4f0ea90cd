/* fp8 E4M3 quantisation with a per-tensor scale (fp8_quant.h). */
#include "fp8_quant.h"

#include <math.h>

float rd_fp8_amax(const float *v, size_t n)
{
    float amax = 0.0f;
    for (size_t i = 0; i < n; i++) {
        const float a = fabsf(v[i]);
        if (isfinite(a) && a > amax)
            amax = a;
    }
    return amax;
}

float rd_fp8_quantise(const float *v, size_t n, uint8_t *dst)
{
    const float scale = rd_fp8_scale_of_amax(rd_fp8_amax(v, n));
    for (size_t i = 0; i < n; i++)
        dst[i] = rd_fp8_encode_e4m3(v[i] / scale);
    return scale;
}
