/* ResDiT for SD3: the branches are whole forward passes (resdit_branches.c) whose positions are
 * read from the table at PES / PIPE points (sd3_pos_table.c). */
#include <math.h>

#include "resdit_branches.h"
#include "sd3_private.h"

typedef struct {
    Sd3Model *m;
    const Sd3Inputs *in;
    GCancellable *cancellable;
} Sd3Branch;

/* A frame_rows x frame_cols grid sits in the table as diffusers crops a plain image of that size:
 * its first row at floor((pos_max - frame_rows) / 2). */
static int frame_start(int pos_max, int frame)
{
    int d = pos_max - frame;
    return d >= 0 ? d / 2 : -((-d + 1) / 2);
}

static gboolean window_forward(void *user, const float *img, int h, int w,
                               const ResditWindowPositions *pos, float *velocity, GError **error)
{
    Sd3Branch *b = user;
    const Sd3Model *m = b->m;
    const int64_t n = (int64_t)h * w;
    const int top = frame_start(m->cfg.pos_max, pos->frame_rows);
    const int left = frame_start(m->cfg.pos_max, pos->frame_cols);
    g_autofree float *points = g_new(float, n * 2);
    for (int64_t t = 0; t < n; t++) {
        points[2 * t] = (float)(top + (double)pos->points[2 * t]);
        points[2 * t + 1] = (float)(left + (double)pos->points[2 * t + 1]);
    }
    g_autofree float *embedding = g_try_new(float, n * m->cfg.hidden);
    if (!embedding) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_OUT_OF_MEMORY,
                    "not enough memory for the positions of %" G_GINT64_FORMAT " tokens", n);
        return FALSE;
    }
    if (!sd3_pos_table_read(&m->pos, points, n, embedding, error))
        return FALSE;
    Sd3Inputs x = *b->in;
    x.img = img;
    x.grid_rows = h;
    x.grid_cols = w;
    return sd3_forward_positions(b->m, &x, embedding, velocity, b->cancellable, error);
}

gboolean sd3_model_forward_plan(Sd3Model *m, const Sd3Inputs *in, const ResditAttentionPlan *plan,
                                float *velocity, GCancellable *cancellable, GError **error)
{
    if (plan->mode == RESDIT_MODE_DIRECT)
        return sd3_model_forward(m, in, velocity, cancellable, error);
    Sd3Branch b = {m, in, cancellable};
    return resdit_branches_run(m->be, plan, in->grid_rows, in->grid_cols, m->cfg.in_channels,
                               in->img, window_forward, &b, velocity, error);
}
