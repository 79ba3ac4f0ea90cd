/* Flow-matching sampling: shifted timesteps, the Euler update and the ResDiT branch schedule. */
#pragma once

#include <glib.h>

#include "resdit.h"

/* FLUX's shift line: mu = 0.5 at 256 tokens, 1.15 at 4096 tokens, linear (not clamped). */
double rd_flux_mu_for_tokens(double tokens);

/* The base grid the global branch maps onto (resdit-decisions.md): explicit base_rows/base_cols,
 * else the grid of about base_area tokens with the image's aspect ratio. */
void rd_base_grid(int grid_rows, int grid_cols, const ResditMethodParams *method, int *base_rows,
                  int *base_cols);

/* mu of a job: base = at the base grid's token count, resolution = at the image's, fixed = mu.
 * shifted = FALSE (schnell) gives 0 for base and resolution: no shift. */
double rd_sampler_mu(ResditShiftMode mode, double fixed_mu, gboolean shifted, int grid_rows,
                     int grid_cols, const ResditMethodParams *method);

/* steps + 1 times from 1 to 0: linspace(1, 0, steps + 1) shifted by
 * t' = e^mu / (e^mu + (1/t - 1)) (t = 0 stays 0). */
void rd_sampler_timesteps(int steps, double mu, double *t);

/* x += (t_next - t) * v, in float like the reference. */
void rd_euler_step(float *x, const float *v, size_t n, double t, double t_next);
/* x0 prediction at time t: x - t * v. */
void rd_predict_x0(const float *x, const float *v, size_t n, double t, float *x0);

/* The ResDiT schedule: the first G steps global-only, the last L local-only, fused between.
 * Defaults (-1) scale the paper's 10 / 15 of 35 steps: G = floor(steps * 10 / 35 + 0.5),
 * L = floor(steps * 15 / 35 + 0.5); when only one is given the other keeps its default, clamped
 * so that G + L <= steps. Explicit values must satisfy 0 <= G, 0 <= L, G + L <= steps. */
gboolean rd_schedule_resolve(int steps, int global_steps, int local_steps, int *g, int *l,
                             GError **error);
/* Attention mode of step i (0-based). */
ResditMode rd_schedule_mode(int step, int steps, int g, int l);
ResditPhase rd_phase_for_mode(ResditMode mode);
