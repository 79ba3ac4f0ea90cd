/* ResDiT for a model whose positions enter once, as an absolute table added after the patch
 * embedding (SD3): the positions live in the residual stream from the first block on, so the two
 * branches cannot share one stream as FLUX's do (resdit_attention.c). Each branch is a whole
 * forward pass and the branches meet on the velocity (docs/METHOD.md, "SD3"):
 *
 *   global: one pass over the whole grid with PES positions (scaled onto the base grid);
 *   local:  one pass per MOP patch with PIPE positions (the patch's own, as a base-sized image
 *           has them), spliced with GWS;
 *   fused:  per patch, PSF of the global velocity's patch (low frequencies) and the local one
 *           (high), then GWS.
 *
 * MOP, GWS, PSF and the schedule are the ones FLUX uses; the model supplies one forward pass over
 * a window of tokens at given positions. */
#pragma once

#include "backend.h"
#include "resdit_attention.h"

/* A window's positions: token (r, c) of the window sits at points[(r * w + c) * 2 + {0, 1}] =
 * (row, col) in the units of a frame_rows x frame_cols grid, which the model places in its table
 * as it places a plain image of that size (SD3: the table's centre). */
typedef struct {
    const float *points; /* [h * w, 2] */
    int frame_rows, frame_cols;
} ResditWindowPositions;

/* One forward pass of the model over the window's tokens (img: [h * w, channels], the window's
 * rows of the image), writing its velocity [h * w, channels]. */
typedef gboolean (*ResditWindowForward)(void *user, const float *img, int h, int w,
                                        const ResditWindowPositions *positions, float *velocity,
                                        GError **error);

/* img and velocity: [rows * cols, channels]. plan->mode global, local or fused (direct is the
 * model's plain pass). */
gboolean resdit_branches_run(RdBackend *be, const ResditAttentionPlan *plan, int rows, int cols,
                             int channels, const float *img, ResditWindowForward forward,
                             void *user, float *velocity, GError **error);
