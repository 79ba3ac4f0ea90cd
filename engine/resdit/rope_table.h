/* RoPE tables from float positions (FLUX: three axes, text at 0, image (0, row, col)). */
#pragma once

#include "backend.h"

typedef struct {
    int axes[3];  /* dims per axis, summing to head_dim */
    double theta; /* 10000 for FLUX */
} RdRopeSpec;

/* positions: [n, 3] floats. cos, sin: [n, head_dim / 2]. Angles and their cos/sin in double, as
 * the reference computes them; fractional positions need nothing special. */
void rd_rope_table(const RdRopeSpec *spec, const float *positions, int64_t n, float *cos_out,
                   float *sin_out);

/* The same table in backend memory: two tensors [n, head_dim / 2]. */
typedef struct {
    RdTensor cos, sin;
} RdRopeTensors;

gboolean rd_rope_tensors_new(RdBackend *be, const RdRopeSpec *spec, const float *positions,
                             int64_t n, RdRopeTensors *out);
void rd_rope_tensors_free(RdBackend *be, RdRopeTensors *t);
