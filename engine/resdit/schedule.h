/* The ResDiT branch schedule (global, fused, local steps) and the base grid PES maps onto. The
 * sampler math (timesteps, Euler) is in engine/sampler/flow_match.h. */
#pragma once

#include <glib.h>

#include "resdit.h"

/* The base grid the global branch maps onto (resdit-decisions.md): explicit base_rows/base_cols,
 * else the grid of about base_area tokens with the image's aspect ratio. */
void rd_base_grid(int grid_rows, int grid_cols, const ResditMethodParams *method, int *base_rows,
                  int *base_cols);

/* The ResDiT schedule: the first G steps global-only, the last L local-only, fused between.
 * Defaults (-1) scale the paper's 10 / 15 of 35 steps: G = floor(steps * 10 / 35 + 0.5),
 * L = floor(steps * 15 / 35 + 0.5); when only one is given the other keeps its default, clamped
 * so that G + L <= steps. Explicit values must satisfy 0 <= G, 0 <= L, G + L <= steps. */
gboolean rd_schedule_resolve(int steps, int global_steps, int local_steps, int *g, int *l,
                             GError **error);
/* Attention mode of step i (0-based). */
ResditMode rd_schedule_mode(int step, int steps, int g, int l);
ResditPhase rd_phase_for_mode(ResditMode mode);
