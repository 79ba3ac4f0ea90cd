#include "rope_table.h"

#include <math.h>

void rd_rope_table(const RdRopeSpec *spec, const float *positions, int64_t n, float *cos_out,
                   float *sin_out)
{
    const int pairs = (spec->axes[0] + spec->axes[1] + spec->axes[2]) / 2;
    for (int64_t t = 0; t < n; t++) {
        int j = 0;
        for (int a = 0; a < 3; a++) {
            const int dim = spec->axes[a];
            for (int i = 0; i < dim / 2; i++, j++) {
                double freq = 1.0 / pow(spec->theta, (2.0 * i) / dim);
                double angle = (double)positions[t * 3 + a] * freq;
                cos_out[t * pairs + j] = (float)cos(angle);
                sin_out[t * pairs + j] = (float)sin(angle);
            }
        }
    }
}

gboolean rd_rope_tensors_new(RdBackend *be, const RdRopeSpec *spec, const float *positions,
                             int64_t n, RdRopeTensors *out)
{
    const int pairs = (spec->axes[0] + spec->axes[1] + spec->axes[2]) / 2;
    float *c = g_try_new(float, n * pairs), *s = g_try_new(float, n * pairs);
    gboolean ok = c && s && be->table_alloc(be, &out->cos, n, pairs);
    if (ok && !be->table_alloc(be, &out->sin, n, pairs)) {
        be->tensor_free(be, &out->cos);
        ok = FALSE;
    }
    if (ok) {
        rd_rope_table(spec, positions, n, c, s);
        be->upload(be, c, &out->cos);
        be->upload(be, s, &out->sin);
    }
    g_free(c);
    g_free(s);
    return ok;
}

void rd_rope_tensors_free(RdBackend *be, RdRopeTensors *t)
{
    be->tensor_free(be, &t->cos);
    be->tensor_free(be, &t->sin);
}
