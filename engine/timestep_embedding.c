#include "timestep_embedding.h"

#include <math.h>

void rd_timestep_embedding(float t, float *out)
{
    const int half = RD_TIMESTEP_CHANNELS / 2;
    for (int i = 0; i < half; i++) {
        double arg = (double)t * 1000.0 * exp(-log(10000.0) * i / half);
        out[i] = (float)cos(arg);
        out[half + i] = (float)sin(arg);
    }
}
