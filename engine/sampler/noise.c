#include "noise.h"

#include "resdit.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void rd_philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

static double to_unit(uint32_t x)
{
    return ((double)x + 0.5) * (1.0 / 4294967296.0);
}

static void box_muller(uint32_t a, uint32_t b, double *z0, double *z1)
{
    double r = sqrt(-2.0 * log(to_unit(a)));
    double angle = 2.0 * G_PI * to_unit(b);
    *z0 = r * cos(angle);
    *z1 = r * sin(angle);
}

void rd_noise_normal(guint64 seed, float *out, size_t n)
{
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t q = 0; q < (n + 3) / 4; q++) {
        const uint32_t counter[4] = {(uint32_t)q, (uint32_t)((guint64)q >> 32), 0, 0};
        uint32_t x[4];
        double z[4];
        rd_philox4x32_10(counter, key, x);
        box_muller(x[0], x[1], &z[0], &z[1]);
        box_muller(x[2], x[3], &z[2], &z[3]);
        for (size_t j = 0; j < 4 && 4 * q + j < n; j++)
            out[4 * q + j] = (float)z[j];
    }
}

guint64 rd_noise_random_seed(void)
{
    /* 53 bits so that the seed survives a round trip through JSON numbers (doubles). */
    guint64 hi = g_random_int(), lo = g_random_int();
    return ((hi << 32) | lo) & ((G_GUINT64_CONSTANT(1) << 53) - 1);
}

guint64 resdit_random_seed(void)
{
    return rd_noise_random_seed();
}
