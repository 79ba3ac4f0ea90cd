#include "flow_match.h"

#include <math.h>

#include "schedule.h"

double rd_flux_mu_for_tokens(double tokens)
{
    const double slope = (1.15 - 0.5) / (4096.0 - 256.0);
    return 0.5 + slope * (tokens - 256.0);
}

double rd_sampler_mu(ResditShiftMode mode, double fixed_mu, gboolean shifted, int grid_rows,
                     int grid_cols, const ResditMethodParams *method)
{
    if (mode == RESDIT_SHIFT_FIXED)
        return fixed_mu;
    if (!shifted)
        return 0.0;
    if (mode == RESDIT_SHIFT_RESOLUTION)
        return rd_flux_mu_for_tokens((double)grid_rows * grid_cols);
    int br, bc;
    rd_base_grid(grid_rows, grid_cols, method, &br, &bc);
    return rd_flux_mu_for_tokens((double)br * bc);
}

void rd_sampler_timesteps(int steps, double mu, double *t)
{
    const double e = exp(mu);
    for (int i = 0; i <= steps; i++) {
        double lin = 1.0 - (double)i / steps;
        t[i] = lin <= 0.0 ? 0.0 : e / (e + (1.0 / lin - 1.0));
    }
}

static double shifted(double e, double t)
{
    return t <= 0.0 ? 0.0 : e / (e + (1.0 / t - 1.0));
}

void rd_sampler_timesteps_train_range(int steps, double mu, double *t)
{
    const double e = exp(mu);
    /* the scheduler's sigma_min: its 1/1000 shifted in float, as its constructor computes it */
    const float s = 0.001f, shift = (float)e;
    const double lo = (double)(shift * s / (1.0f + (shift - 1.0f) * s));
    for (int i = 0; i < steps; i++) {
        double lin = steps == 1 ? 1.0 : 1.0 + i * (lo - 1.0) / (steps - 1);
        t[i] = shifted(e, lin);
    }
    t[steps] = 0.0;
}

void rd_euler_step(float *x, const float *v, size_t n, double t, double t_next)
{
    const float dt = (float)t_next - (float)t;
    for (size_t i = 0; i < n; i++)
        x[i] += dt * v[i];
}

void rd_predict_x0(const float *x, const float *v, size_t n, double t, float *x0)
{
    const float tf = (float)t;
    for (size_t i = 0; i < n; i++)
        x0[i] = x[i] - tf * v[i];
}
