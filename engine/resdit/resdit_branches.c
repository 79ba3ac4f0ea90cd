#include "resdit_branches.h"

#include <string.h>

#include "psf_mask.h"
#include "resdit_partition.h"

typedef struct {
    RdBackend *be;
    ResditAttentionPlan plan;
    int rows, cols, channels;
    const float *img;
    ResditWindowForward forward;
    void *user;
    ResditAxisPartition *row_part, *col_part;
    RdTensor *row_weight, *col_weight; /* one [1, size] tensor per axis patch */
    RdTensor global;                   /* the global velocity (fused) */
    RdTensor out;                      /* the spliced velocity */
    RdTensor patch, global_patch;      /* one window's local velocity, the global one's window */
    float *host_img, *host_points, *host_velocity; /* one window */
} Branches;

/* PES: token (r, c) at (r * base_rows / rows, c * base_cols / cols) of the base grid along each
 * axis longer than the base grid's, as FLUX's global branch scales its RoPE positions. */
static gboolean global_pass(Branches *b, float *velocity, GError **error)
{
    int base_rows, base_cols;
    resdit_attention_plan_base_grid(&b->plan, b->rows, b->cols, &base_rows, &base_cols);
    double row_scale = 1.0, col_scale = 1.0;
    ResditWindowPositions pos = {NULL, b->rows, b->cols};
    if (!b->plan.method.no_pes) {
        if (b->rows > base_rows) {
            row_scale = (double)base_rows / b->rows;
            pos.frame_rows = base_rows;
        }
        if (b->cols > base_cols) {
            col_scale = (double)base_cols / b->cols;
            pos.frame_cols = base_cols;
        }
    }
    g_autofree float *points = g_new(float, (size_t)b->rows * b->cols * 2);
    for (int r = 0; r < b->rows; r++)
        for (int c = 0; c < b->cols; c++) {
            points[((size_t)r * b->cols + c) * 2] = (float)(r * row_scale);
            points[((size_t)r * b->cols + c) * 2 + 1] = (float)(c * col_scale);
        }
    pos.points = points;
    return b->forward(b->user, b->img, b->rows, b->cols, &pos, velocity, error);
}

/* PIPE: the window's tokens at the positions a plain image of the window's size has (no_pipe:
 * their positions in the whole image). */
static gboolean window_pass(Branches *b, RdWindow win, GError **error)
{
    const size_t ch = (size_t)b->channels;
    ResditWindowPositions pos = {b->host_points, win.h, win.w};
    if (b->plan.method.no_pipe) {
        pos.frame_rows = b->rows;
        pos.frame_cols = b->cols;
    }
    for (int r = 0; r < win.h; r++)
        for (int c = 0; c < win.w; c++) {
            size_t t = (size_t)r * win.w + c;
            size_t src = (size_t)(win.r0 + r) * b->cols + win.c0 + c;
            memcpy(b->host_img + t * ch, b->img + src * ch, ch * sizeof(float));
            b->host_points[t * 2] = (float)(b->plan.method.no_pipe ? win.r0 + r : r);
            b->host_points[t * 2 + 1] = (float)(b->plan.method.no_pipe ? win.c0 + c : c);
        }
    return b->forward(b->user, b->host_img, win.h, win.w, &pos, b->host_velocity, error);
}

/* Every MOP window's local (or fused) velocity, spliced into out with GWS. */
static gboolean local_passes(Branches *b, GError **error)
{
    RdBackend *be = b->be;
    be->fill(be, &b->out, 0.0f);
    for (int i = 0; i < b->row_part->count; i++)
        for (int j = 0; j < b->col_part->count; j++) {
            RdWindow win = {b->row_part->start[i], b->col_part->start[j], b->row_part->size[i],
                            b->col_part->size[j]};
            if (!window_pass(b, win, error))
                return FALSE;
            const int64_t n = (int64_t)win.h * win.w;
            RdTensor local = rd_tensor_view(&b->patch, 0, n, 0, b->channels);
            be->upload(be, b->host_velocity, &local);
            if (b->plan.mode == RESDIT_MODE_FUSED) {
                RdTensor gp = rd_tensor_view(&b->global_patch, 0, n, 0, b->channels);
                be->grid_gather(be, &b->global, b->cols, win, &gp);
                if (b->plan.method.no_psf) {
                    be->gated_add(be, &local, NULL, &gp);
                    be->scale_add(be, &local, 0.5f, 0.0f);
                } else {
                    be->spectral_fuse(be, &gp, &local, win.h, win.w, b->plan.method.cutoff, &local);
                }
            }
            be->grid_splice(be, &local, &b->row_weight[i], &b->col_weight[j], &b->out, b->cols,
                            win);
            if (!rd_backend_check(be, error))
                return FALSE;
        }
    return TRUE;
}

/* A fused step whose PSF mask keeps every bin (or none) of every window is exactly the global
 * (or local) step, as in resdit_attention.c. */
static ResditMode fused_equivalent(const Branches *b)
{
    gboolean all = TRUE, none = TRUE;
    for (int i = 0; i < b->row_part->count; i++)
        for (int j = 0; j < b->col_part->count; j++) {
            ResditPsfMaskKind kind = resdit_psf_mask_kind(
                b->row_part->size[i], b->col_part->size[j], b->plan.method.cutoff);
            all = all && kind == RESDIT_PSF_MASK_ALL;
            none = none && kind == RESDIT_PSF_MASK_NONE;
        }
    return all ? RESDIT_MODE_GLOBAL : none ? RESDIT_MODE_LOCAL : RESDIT_MODE_FUSED;
}

static RdTensor *upload_axis_weights(RdBackend *be, const ResditAxisPartition *p, gboolean *ok)
{
    RdTensor *w = g_new0(RdTensor, p->count);
    for (int i = 0; i < p->count && *ok; i++) {
        *ok = be->table_alloc(be, &w[i], 1, p->size[i]);
        if (*ok)
            be->upload(be, p->weight[i], &w[i]);
    }
    return w;
}

static gboolean branches_alloc(Branches *b)
{
    RdBackend *be = b->be;
    const ResditMethodParams *m = &b->plan.method;
    b->row_part =
        resdit_axis_partition_new(b->rows, m->patch, m->sigma, m->no_overlap, m->uniform_weights);
    b->col_part =
        resdit_axis_partition_new(b->cols, m->patch, m->sigma, m->no_overlap, m->uniform_weights);
    if (b->plan.mode == RESDIT_MODE_FUSED && !m->no_psf)
        b->plan.mode = fused_equivalent(b);
    if (b->plan.mode == RESDIT_MODE_GLOBAL)
        return TRUE;
    int max_h = 0, max_w = 0;
    for (int i = 0; i < b->row_part->count; i++)
        max_h = MAX(max_h, b->row_part->size[i]);
    for (int i = 0; i < b->col_part->count; i++)
        max_w = MAX(max_w, b->col_part->size[i]);
    const int64_t n = (int64_t)max_h * max_w, ch = b->channels;
    b->host_img = g_new(float, n *ch);
    b->host_velocity = g_new(float, n *ch);
    b->host_points = g_new(float, n * 2);
    gboolean ok = TRUE;
    b->row_weight = upload_axis_weights(be, b->row_part, &ok);
    b->col_weight = upload_axis_weights(be, b->col_part, &ok);
    ok = ok && be->tensor_alloc(be, &b->out, (int64_t)b->rows * b->cols, ch) &&
         be->tensor_alloc(be, &b->patch, n, ch);
    if (ok && b->plan.mode == RESDIT_MODE_FUSED)
        ok = be->tensor_alloc(be, &b->global, (int64_t)b->rows * b->cols, ch) &&
             be->tensor_alloc(be, &b->global_patch, n, ch);
    return ok;
}

static void free_tensor(RdBackend *be, RdTensor *t)
{
    if (t->data)
        be->tensor_free(be, t);
}

static void free_axis_weights(RdBackend *be, RdTensor *w, const ResditAxisPartition *p)
{
    for (int i = 0; w && i < p->count; i++)
        free_tensor(be, &w[i]);
    g_free(w);
}

static void branches_free(Branches *b)
{
    RdTensor *ts[] = {&b->global, &b->out, &b->patch, &b->global_patch};
    for (size_t i = 0; i < G_N_ELEMENTS(ts); i++)
        free_tensor(b->be, ts[i]);
    free_axis_weights(b->be, b->row_weight, b->row_part);
    free_axis_weights(b->be, b->col_weight, b->col_part);
    resdit_axis_partition_free(b->row_part);
    resdit_axis_partition_free(b->col_part);
    g_free(b->host_img);
    g_free(b->host_velocity);
    g_free(b->host_points);
}

gboolean resdit_branches_run(RdBackend *be, const ResditAttentionPlan *plan, int rows, int cols,
                             int channels, const float *img, ResditWindowForward forward,
                             void *user, float *velocity, GError **error)
{
    const ResditMethodParams *m = &plan->method;
    if (plan->mode == RESDIT_MODE_DIRECT || rows < 1 || cols < 1 ||
        (plan->mode != RESDIT_MODE_GLOBAL && m->patch < 1)) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                    "ResDiT branches need the global, local or fused mode, a grid and a patch "
                    "of at least 1 token (got %s, %d x %d, patch %d)",
                    resdit_mode_name(plan->mode), rows, cols, m->patch);
        return FALSE;
    }
    Branches b = {be, *plan, rows, cols, channels, img, forward, user};
    if (plan->mode == RESDIT_MODE_GLOBAL)
        return global_pass(&b, velocity, error);
    gboolean ok = branches_alloc(&b);
    if (!ok && rd_backend_check(be, error))
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_OUT_OF_MEMORY,
                    "not enough memory for the ResDiT branches of a %d x %d token grid; try a "
                    "smaller image size",
                    rows, cols);
    if (ok && b.plan.mode == RESDIT_MODE_GLOBAL) {
        ok = global_pass(&b, velocity, error);
    } else if (ok) {
        if (b.plan.mode == RESDIT_MODE_FUSED) {
            ok = global_pass(&b, velocity, error); /* velocity as scratch: overwritten below */
            if (ok)
                be->upload(be, velocity, &b.global);
        }
        ok = ok && local_passes(&b, error);
        if (ok)
            be->download(be, &b.out, velocity);
    }
    branches_free(&b);
    return ok;
}
