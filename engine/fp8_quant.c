/* fp8 E4M3 quantisation with a per-tensor scale (fp8_quant.h). */
#include "fp8_quant.h"

#include <math.h>
#include <stdlib.h>

#include "dtype.h"

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

void rd_fp8_linear_reference(const float *x, int64_t m, int64_t k, const uint8_t *w_codes,
                             float w_scale, int64_t n, const float *bias, double *y,
                             double *abs_sum)
{
    uint8_t *x_codes = malloc((size_t)(m * k) + 1);
    const double scale = (double)rd_fp8_quantise(x, (size_t)(m * k), x_codes) * w_scale;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double sum = 0.0, mag = 0.0;
            for (int64_t l = 0; l < k; l++) {
                const double t = (double)rd_e4m3_to_f32(x_codes[i * k + l]) *
                                 rd_e4m3_to_f32(w_codes[j * k + l]) * scale;
                sum += t;
                mag += fabs(t);
            }
            const double b = bias ? bias[j] : 0.0;
            y[i * n + j] = sum + b;
            abs_sum[i * n + j] = mag + fabs(b);
        }
    free(x_codes);
}
