/* Flow-matching sampling: shifted timesteps and the Euler update (the ResDiT branch schedule is
 * in engine/resdit/schedule.h). */
#pragma once

#include <glib.h>

#include "resdit.h"

/* FLUX's shift line: mu = 0.5 at 256 tokens, 1.15 at 4096 tokens, linear (not clamped). */
double rd_flux_mu_for_tokens(double tokens);

/* mu of a job: base = at the base grid's token count, resolution = at the image's, fixed = mu.
 * shifted = FALSE (schnell) gives 0 for base and resolution: no shift. */
double rd_sampler_mu(ResditShiftMode mode, double fixed_mu, gboolean shifted, int grid_rows,
                     int grid_cols, const ResditMethodParams *method);

/* steps + 1 times from 1 to 0: linspace(1, 0, steps + 1) shifted by
 * t' = e^mu / (e^mu + (1/t - 1)) (t = 0 stays 0). */
void rd_sampler_timesteps(int steps, double mu, double *t);

/* diffusers' FlowMatchEulerDiscreteScheduler default spacing (SD3): the scheduler's shifted
 * training range [shift(1/1000), 1] in float, spaced linearly in steps points, shifted again, then
 * 0 (steps + 1 times). */
void rd_sampler_timesteps_train_range(int steps, double mu, double *t);

/* x += (t_next - t) * v, in float like the reference. */
void rd_euler_step(float *x, const float *v, size_t n, double t, double t_next);
/* x0 prediction at time t: x - t * v. */
void rd_predict_x0(const float *x, const float *v, size_t n, double t, float *x0);
