#include "resdit_attention.h"

#include "psf_mask.h"
#include "resdit_partition.h"

typedef struct {
    int h, w;
    RdRopeTensors table; /* PIPE positions (0, r, c) of an h x w patch */
} PatchRope;

struct ResditAttention {
    RdBackend *be;
    ResditAttentionPlan plan;
    int heads, head_dim, txt_len, rows, cols;
    int64_t tokens; /* txt_len + rows * cols */
    RdRopeSpec rope;

    RdRopeTensors rope_direct; /* original positions, every token */
    RdRopeTensors rope_global; /* the global branch's positions (PES unless no_pes) */
    ResditAxisPartition *row_part, *col_part;
    RdTensor *row_weight, *col_weight; /* one [1, size] tensor per axis patch */
    GArray *patch_ropes;               /* PatchRope */

    /* scratch */
    RdTensor q_rot, k_rot;     /* q, k rotated for the global (or direct) pass */
    RdTensor q_dir, k_dir;     /* q, k rotated with original positions (no_pipe only) */
    RdTensor global_out;       /* the global branch's output (fused only) */
    RdTensor q_patch, k_patch, v_patch, o_patch, g_patch;
};

static gboolean uses_local_mode(ResditMode mode)
{
    return mode == RESDIT_MODE_LOCAL || mode == RESDIT_MODE_FUSED;
}

static gboolean uses_local(const ResditAttention *ra)
{
    return uses_local_mode(ra->plan.mode);
}

void resdit_attention_plan_base_grid(const ResditAttentionPlan *plan, int grid_rows, int grid_cols,
                                     int *base_rows, int *base_cols)
{
    const ResditMethodParams *m = &plan->method;
    if (m->base_rows > 0 && m->base_cols > 0) {
        *base_rows = m->base_rows;
        *base_cols = m->base_cols;
    } else {
        resdit_base_grid(grid_rows, grid_cols, m->base_area, base_rows, base_cols);
    }
}

/* positions [tokens, 3]: text at 0, image (0, row * row_scale, col * col_scale). */
static float *grid_positions(const ResditAttention *ra, double row_scale, double col_scale)
{
    float *pos = g_new0(float, ra->tokens * 3);
    for (int r = 0; r < ra->rows; r++)
        for (int c = 0; c < ra->cols; c++) {
            float *p = pos + (ra->txt_len + (int64_t)r * ra->cols + c) * 3;
            p[1] = (float)(r * row_scale);
            p[2] = (float)(c * col_scale);
        }
    return pos;
}

static gboolean build_global_tables(ResditAttention *ra)
{
    g_autofree float *direct = grid_positions(ra, 1.0, 1.0);
    if (!rd_rope_tensors_new(ra->be, &ra->rope, direct, ra->tokens, &ra->rope_direct))
        return FALSE;
    int base_rows, base_cols;
    resdit_attention_plan_base_grid(&ra->plan, ra->rows, ra->cols, &base_rows, &base_cols);
    double row_scale = 1.0, col_scale = 1.0;
    if (!ra->plan.method.no_pes) {
        if (ra->rows > base_rows)
            row_scale = (double)base_rows / ra->rows;
        if (ra->cols > base_cols)
            col_scale = (double)base_cols / ra->cols;
    }
    g_autofree float *global = grid_positions(ra, row_scale, col_scale);
    return rd_rope_tensors_new(ra->be, &ra->rope, global, ra->tokens, &ra->rope_global);
}

static RdTensor *upload_axis_weights(RdBackend *be, const ResditAxisPartition *p)
{
    RdTensor *w = g_new0(RdTensor, p->count);
    for (int i = 0; i < p->count; i++) {
        if (!be->table_alloc(be, &w[i], 1, p->size[i]))
            return w; /* checked by the caller through data == NULL */
        be->upload(be, p->weight[i], &w[i]);
    }
    return w;
}

static const PatchRope *patch_rope(ResditAttention *ra, int h, int w)
{
    for (guint i = 0; i < ra->patch_ropes->len; i++) {
        PatchRope *pr = &g_array_index(ra->patch_ropes, PatchRope, i);
        if (pr->h == h && pr->w == w)
            return pr;
    }
    PatchRope pr = {h, w, {{0}}};
    g_autofree float *pos = g_new0(float, (int64_t)h * w * 3);
    for (int r = 0; r < h; r++)
        for (int c = 0; c < w; c++) {
            pos[((int64_t)r * w + c) * 3 + 1] = (float)r;
            pos[((int64_t)r * w + c) * 3 + 2] = (float)c;
        }
    if (!rd_rope_tensors_new(ra->be, &ra->rope, pos, (int64_t)h * w, &pr.table)) {
        /* a backend with a check op keeps the failure for the forward's next rd_backend_check */
        if (ra->be->check)
            return NULL;
        g_error("out of memory building a PIPE table");
    }
    g_array_append_val(ra->patch_ropes, pr);
    return &g_array_index(ra->patch_ropes, PatchRope, ra->patch_ropes->len - 1);
}

/* A fused step whose mask keeps every bin (or none) for every patch shape is exactly the global
 * (or local) step: run that instead, which is both exact and cheaper. */
static ResditMode fused_equivalent(const ResditAttention *ra)
{
    gboolean all = TRUE, none = TRUE;
    for (int i = 0; i < ra->row_part->count; i++)
        for (int j = 0; j < ra->col_part->count; j++) {
            ResditPsfMaskKind kind = resdit_psf_mask_kind(ra->row_part->size[i],
                                                          ra->col_part->size[j],
                                                          ra->plan.method.cutoff);
            all = all && kind == RESDIT_PSF_MASK_ALL;
            none = none && kind == RESDIT_PSF_MASK_NONE;
        }
    return all ? RESDIT_MODE_GLOBAL : none ? RESDIT_MODE_LOCAL : RESDIT_MODE_FUSED;
}

static gboolean alloc_scratch(ResditAttention *ra)
{
    RdBackend *be = ra->be;
    const int64_t C = (int64_t)ra->heads * ra->head_dim;
    gboolean ok = be->tensor_alloc(be, &ra->q_rot, ra->tokens, C) &&
                  be->tensor_alloc(be, &ra->k_rot, ra->tokens, C);
    if (!ok || !uses_local(ra))
        return ok;
    int max_h = 0, max_w = 0;
    for (int i = 0; i < ra->row_part->count; i++)
        max_h = MAX(max_h, ra->row_part->size[i]);
    for (int i = 0; i < ra->col_part->count; i++)
        max_w = MAX(max_w, ra->col_part->size[i]);
    const int64_t patch_tokens = (int64_t)max_h * max_w;
    ok = be->tensor_alloc(be, &ra->q_patch, patch_tokens, C) &&
         be->tensor_alloc(be, &ra->k_patch, ra->txt_len + patch_tokens, C) &&
         be->tensor_alloc(be, &ra->v_patch, ra->txt_len + patch_tokens, C) &&
         be->tensor_alloc(be, &ra->o_patch, patch_tokens, C) &&
         be->tensor_alloc(be, &ra->g_patch, patch_tokens, C);
    if (ok && ra->plan.mode == RESDIT_MODE_FUSED)
        ok = be->tensor_alloc(be, &ra->global_out, ra->tokens, C);
    if (ok && ra->plan.method.no_pipe)
        ok = be->tensor_alloc(be, &ra->q_dir, ra->tokens, C) &&
             be->tensor_alloc(be, &ra->k_dir, ra->tokens, C);
    return ok;
}

ResditAttention *resdit_attention_new(RdBackend *be, const RdRopeSpec *rope, int heads,
                                      int head_dim, int txt_len, int grid_rows, int grid_cols,
                                      const ResditAttentionPlan *plan, GError **error)
{
    const ResditMethodParams *m = &plan->method;
    if (uses_local_mode(plan->mode) && m->patch <= 0) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                    "the patch size must be at least 1 token (got %d)", m->patch);
        return NULL;
    }
    ResditAttention *ra = g_new0(ResditAttention, 1);
    ra->be = be;
    ra->plan = *plan;
    ra->heads = heads;
    ra->head_dim = head_dim;
    ra->txt_len = txt_len;
    ra->rows = grid_rows;
    ra->cols = grid_cols;
    ra->tokens = txt_len + (int64_t)grid_rows * grid_cols;
    ra->rope = *rope;
    ra->patch_ropes = g_array_new(FALSE, TRUE, sizeof(PatchRope));
    gboolean ok = build_global_tables(ra);
    if (ok && uses_local(ra)) {
        ra->row_part = resdit_axis_partition_new(grid_rows, m->patch, m->sigma, m->no_overlap,
                                                 m->uniform_weights);
        ra->col_part = resdit_axis_partition_new(grid_cols, m->patch, m->sigma, m->no_overlap,
                                                 m->uniform_weights);
        ra->row_weight = upload_axis_weights(be, ra->row_part);
        ra->col_weight = upload_axis_weights(be, ra->col_part);
        if (plan->mode == RESDIT_MODE_FUSED && !m->no_psf)
            ra->plan.mode = fused_equivalent(ra);
    }
    ok = ok && alloc_scratch(ra);
    if (!ok && rd_backend_check(be, error)) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_OUT_OF_MEMORY,
                    "not enough memory for the attention buffers of a %d x %d token grid; "
                    "try a smaller image size",
                    grid_rows, grid_cols);
    }
    if (!ok) {
        resdit_attention_free(ra);
        return NULL;
    }
    return ra;
}

static void free_tensor(RdBackend *be, RdTensor *t)
{
    if (t->data)
        be->tensor_free(be, t);
}

static void free_axis_weights(RdBackend *be, RdTensor *w, const ResditAxisPartition *p)
{
    if (!w)
        return;
    for (int i = 0; i < p->count; i++)
        free_tensor(be, &w[i]);
    g_free(w);
}

void resdit_attention_free(ResditAttention *ra)
{
    if (!ra)
        return;
    RdBackend *be = ra->be;
    RdTensor *scratch[] = {&ra->q_rot,   &ra->k_rot,   &ra->q_dir,   &ra->k_dir,
                           &ra->global_out, &ra->q_patch, &ra->k_patch, &ra->v_patch,
                           &ra->o_patch, &ra->g_patch};
    for (size_t i = 0; i < G_N_ELEMENTS(scratch); i++)
        free_tensor(be, scratch[i]);
    free_tensor(be, &ra->rope_direct.cos);
    free_tensor(be, &ra->rope_direct.sin);
    free_tensor(be, &ra->rope_global.cos);
    free_tensor(be, &ra->rope_global.sin);
    if (ra->row_part) {
        free_axis_weights(be, ra->row_weight, ra->row_part);
        free_axis_weights(be, ra->col_weight, ra->col_part);
    }
    for (guint i = 0; i < ra->patch_ropes->len; i++)
        rd_rope_tensors_free(be, &g_array_index(ra->patch_ropes, PatchRope, i).table);
    g_array_free(ra->patch_ropes, TRUE);
    resdit_axis_partition_free(ra->row_part);
    resdit_axis_partition_free(ra->col_part);
    g_free(ra);
}

/* dst = src with RoPE of the given table. */
static void rotate(ResditAttention *ra, const RdTensor *src, const RdRopeTensors *table,
                   RdTensor *dst)
{
    ra->be->copy(ra->be, src, dst);
    ra->be->rope(ra->be, dst, &table->cos, &table->sin, ra->heads, ra->head_dim);
}

static RdTensor rows_of(const RdTensor *t, int64_t row0, int64_t rows)
{
    return rd_tensor_view(t, row0, rows, 0, t->cols);
}

static RdTensor image_rows(const ResditAttention *ra, const RdTensor *t)
{
    return rows_of(t, ra->txt_len, ra->tokens - ra->txt_len);
}

/* PIPE: attention of one patch's image queries over [text keys; the patch's keys]. Writes o_patch
 * (its first h * w rows). q_src/k_src are image-row views: raw (rotated here with the patch's own
 * positions) or, under no_pipe, already rotated with the original positions. */
static RdTensor local_patch(ResditAttention *ra, const RdTensor *q_src, const RdTensor *k_src,
                            const RdTensor *k, const RdTensor *v, RdWindow win)
{
    RdBackend *be = ra->be;
    const int64_t n = (int64_t)win.h * win.w, L = ra->txt_len;
    RdTensor qp = rows_of(&ra->q_patch, 0, n);
    RdTensor kp = rows_of(&ra->k_patch, 0, L + n), vp = rows_of(&ra->v_patch, 0, L + n);
    RdTensor kp_img = rows_of(&kp, L, n), vp_img = rows_of(&vp, L, n);
    RdTensor k_txt_dst = rows_of(&kp, 0, L), v_txt_dst = rows_of(&vp, 0, L);
    RdTensor k_txt = rows_of(k, 0, L), v_txt = rows_of(v, 0, L);
    RdTensor v_img = image_rows(ra, v);

    be->grid_gather(be, q_src, ra->cols, win, &qp);
    be->grid_gather(be, k_src, ra->cols, win, &kp_img);
    be->grid_gather(be, &v_img, ra->cols, win, &vp_img);
    if (L > 0) {
        be->copy(be, &k_txt, &k_txt_dst); /* text keys sit at position 0: no rotation */
        be->copy(be, &v_txt, &v_txt_dst);
    }
    if (!ra->plan.method.no_pipe) {
        const PatchRope *pr = patch_rope(ra, win.h, win.w);
        if (pr) { /* NULL: out of memory, reported by the forward's next backend check */
            be->rope(be, &qp, &pr->table.cos, &pr->table.sin, ra->heads, ra->head_dim);
            be->rope(be, &kp_img, &pr->table.cos, &pr->table.sin, ra->heads, ra->head_dim);
        }
    }
    RdTensor op = rows_of(&ra->o_patch, 0, n);
    be->attention(be, &qp, &kp, &vp, &op, ra->heads, ra->head_dim, NULL);
    return op;
}

/* PSF of one patch (or the no_psf average), in place in `local`. */
static void fuse_patch(ResditAttention *ra, RdWindow win, RdTensor *local)
{
    RdBackend *be = ra->be;
    RdTensor gp = rows_of(&ra->g_patch, 0, (int64_t)win.h * win.w);
    RdTensor global_img = image_rows(ra, &ra->global_out);
    be->grid_gather(be, &global_img, ra->cols, win, &gp);
    if (ra->plan.method.no_psf) {
        be->gated_add(be, local, NULL, &gp);
        be->scale_add(be, local, 0.5f, 0.0f);
    } else {
        be->spectral_fuse(be, &gp, local, win.h, win.w, ra->plan.method.cutoff, local);
    }
}

/* The image rows of out: GWS splice of every patch's local (or fused) output. */
static void run_patches(ResditAttention *ra, const RdTensor *q, const RdTensor *k,
                        const RdTensor *v, RdTensor *out)
{
    RdBackend *be = ra->be;
    RdTensor q_img = image_rows(ra, ra->plan.method.no_pipe ? &ra->q_dir : q);
    RdTensor k_img = image_rows(ra, ra->plan.method.no_pipe ? &ra->k_dir : k);
    RdTensor out_img = image_rows(ra, out);
    if (ra->plan.method.no_pipe) {
        rotate(ra, q, &ra->rope_direct, &ra->q_dir);
        rotate(ra, k, &ra->rope_direct, &ra->k_dir);
    }
    be->fill(be, &out_img, 0.0f);
    for (int i = 0; i < ra->row_part->count; i++)
        for (int j = 0; j < ra->col_part->count; j++) {
            RdWindow win = {ra->row_part->start[i], ra->col_part->start[j], ra->row_part->size[i],
                            ra->col_part->size[j]};
            RdTensor op = local_patch(ra, &q_img, &k_img, k, v, win);
            if (ra->plan.mode == RESDIT_MODE_FUSED)
                fuse_patch(ra, win, &op);
            be->grid_splice(be, &op, &ra->row_weight[i], &ra->col_weight[j], &out_img, ra->cols,
                            win);
        }
}

void resdit_attention_run(ResditAttention *ra, const RdTensor *q, const RdTensor *k,
                          const RdTensor *v, RdTensor *out)
{
    RdBackend *be = ra->be;
    const ResditMode mode = ra->plan.mode;
    const RdRopeTensors *table = mode == RESDIT_MODE_DIRECT ? &ra->rope_direct : &ra->rope_global;
    rotate(ra, q, table, &ra->q_rot);
    rotate(ra, k, table, &ra->k_rot);

    if (mode == RESDIT_MODE_DIRECT || mode == RESDIT_MODE_GLOBAL) {
        be->attention(be, &ra->q_rot, &ra->k_rot, v, out, ra->heads, ra->head_dim, NULL);
        return;
    }
    /* Text queries always come from the global branch. */
    RdTensor out_txt = rows_of(out, 0, ra->txt_len);
    if (mode == RESDIT_MODE_FUSED) {
        be->attention(be, &ra->q_rot, &ra->k_rot, v, &ra->global_out, ra->heads, ra->head_dim,
                      NULL);
        RdTensor global_txt = rows_of(&ra->global_out, 0, ra->txt_len);
        if (ra->txt_len > 0)
            be->copy(be, &global_txt, &out_txt);
    } else if (ra->txt_len > 0) {
        RdTensor q_txt = rows_of(&ra->q_rot, 0, ra->txt_len);
        be->attention(be, &q_txt, &ra->k_rot, v, &out_txt, ra->heads, ra->head_dim, NULL);
    }
    run_patches(ra, q, k, v, out);
}
