#include "test-util.h"

#include <math.h>

void tu_fill_uniform(float *x, size_t n, float lo, float hi, guint32 seed)
{
    GRand *rng = g_rand_new_with_seed(seed);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)g_rand_double_range(rng, lo, hi);
    g_rand_free(rng);
}

void tu_assert_close(const char *what, const float *got, const float *ref, size_t n, float tol,
                     float eps)
{
    for (size_t i = 0; i < n; i++) {
        float limit = tol + fabsf(ref[i]) * eps;
        if (!(fabsf(got[i] - ref[i]) <= limit))
            g_error("%s: element %zu is %.9g, reference %.9g (limit %.3g)", what, i, got[i],
                    ref[i], limit);
    }
}

double tu_relative_l2(const float *got, const float *ref, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)got[i] - ref[i]) * ((double)got[i] - ref[i]);
        den += (double)ref[i] * ref[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

char *tu_data_path(const char *name)
{
    return g_test_build_filename(G_TEST_DIST, "data", name, NULL);
}
