/* The sinusoidal timestep embedding FLUX and SD3 share (diffusers' Timesteps with
 * flip_sin_to_cos, 256 channels, no shift). */
#pragma once

#define RD_TIMESTEP_CHANNELS 256

/* out[256] = cos(1000 t f_i) for the first half, sin(1000 t f_i) for the second, with
 * f_i = 10000^(-i/128). Angles reach 1000 and more, where float32 arguments are off by 1e-4 rad,
 * so they are computed in double. */
void rd_timestep_embedding(float t, float *out);
