#include "schedule.h"

#include <math.h>

#include "resdit_partition.h"

static int round_half_up(double x)
{
    return (int)floor(x + 0.5);
}

void rd_base_grid(int grid_rows, int grid_cols, const ResditMethodParams *method, int *base_rows,
                  int *base_cols)
{
    if (method->base_rows > 0 && method->base_cols > 0) {
        *base_rows = method->base_rows;
        *base_cols = method->base_cols;
        return;
    }
    resdit_base_grid(grid_rows, grid_cols, method->base_area, base_rows, base_cols);
}

gboolean rd_schedule_resolve(int steps, int global_steps, int local_steps, int *g, int *l,
                             GError **error)
{
    if (steps < 1) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                    "Steps must be at least 1 (got %d)", steps);
        return FALSE;
    }
    if (global_steps < -1 || local_steps < -1) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                    "Global and local steps must be 0 or more (got %d and %d)", global_steps,
                    local_steps);
        return FALSE;
    }
    int gd = round_half_up(steps * 10.0 / 35.0), ld = round_half_up(steps * 15.0 / 35.0);
    if (global_steps >= 0 && local_steps >= 0) {
        *g = global_steps;
        *l = local_steps;
    } else if (global_steps >= 0) {
        *g = global_steps;
        *l = MIN(ld, MAX(steps - global_steps, 0));
    } else if (local_steps >= 0) {
        *l = local_steps;
        *g = MIN(gd, MAX(steps - local_steps, 0));
    } else {
        *g = gd;
        *l = ld;
    }
    if (*g + *l > steps) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                    "Global steps (%d) plus local steps (%d) exceed the %d steps; lower one of "
                    "them or raise the steps",
                    *g, *l, steps);
        return FALSE;
    }
    return TRUE;
}

ResditMode rd_schedule_mode(int step, int steps, int g, int l)
{
    if (step < g)
        return RESDIT_MODE_GLOBAL;
    if (step >= steps - l)
        return RESDIT_MODE_LOCAL;
    return RESDIT_MODE_FUSED;
}

ResditPhase rd_phase_for_mode(ResditMode mode)
{
    switch (mode) {
    case RESDIT_MODE_GLOBAL:
        return RESDIT_PHASE_GLOBAL;
    case RESDIT_MODE_LOCAL:
        return RESDIT_PHASE_LOCAL;
    case RESDIT_MODE_FUSED:
        return RESDIT_PHASE_FUSED;
    case RESDIT_MODE_DIRECT:
    default:
        return RESDIT_PHASE_DIRECT;
    }
}
