/* The memory planner (memory_plan.h). */
#include "memory_plan.h"

#include <string.h>

#include "backend.h"
#include "denoiser.h"
#include "psf_mask.h"
#include "resdit_partition.h"
#include "safetensors.h"
#include "sd3_model.h"
#include "resdit/schedule.h"
#include "vae/vae.h"

#define GIB (G_GUINT64_CONSTANT(1) << 30)
#define MIB (G_GUINT64_CONSTANT(1) << 20)

/* Taken from the card before the job: the CUDA context, cuBLAS/cuBLASLt and cuFFT code; and
 * 1/64 of the card kept free for the pool's granularity (2 MiB) and fragmentation. */
#define CUDA_RESERVE (512 * MIB)
#define CUDA_SLACK_DIVISOR 64
/* kernels/cuda_backend.cu: WORKSPACE_BYTES, IM2COL_BYTES. */
#define CUDA_GEMM_WORKSPACE (32 * MIB)
#define CUDA_IM2COL (128 * MIB)
/* engine/pipeline-private.h: RD_DEVICE_DECODE_BUDGET. */
#define CUDA_DECODE_BUDGET (6 * GIB)
#define HOST_DECODE_BUDGET (2 * GIB)

const char *rd_weight_format_name(RdWeightFormat format)
{
    switch (format) {
    case RD_WEIGHTS_BF16:
        return "bf16";
    case RD_WEIGHTS_FP8_FILE:
        return "fp8 E4M3 (from the file)";
    case RD_WEIGHTS_FP8_QUANTISED:
        return "fp8 E4M3 (quantised at load, per-tensor scales)";
    }
    return "?";
}

void rd_plan_target_cuda(RdPlanTarget *t, guint64 card_bytes)
{
    memset(t, 0, sizeof *t);
    t->card_bytes = card_bytes;
    t->reserve_bytes = CUDA_RESERVE + card_bytes / CUDA_SLACK_DIVISOR;
    t->act_bytes = 2;
    t->fp8_gemm = FALSE; /* the caller sets it from the device (rd_backend_fp8_gemm) */
    t->gemm_workspace = CUDA_GEMM_WORKSPACE;
    t->conv_scratch = CUDA_IM2COL;
    t->fft_on_device = TRUE;
    t->decode_budget = CUDA_DECODE_BUDGET;
    /* This build runs bf16 or fp8 E4M3 weights resident or with blocks streamed, and T5
     * before the transformer's weights go to the device (rd_model_place_weights). */
    t->can_fp8 = TRUE;
    t->can_stream = TRUE;
    t->can_t5_first = TRUE;
}

void rd_plan_target_cpu(RdPlanTarget *t, guint64 available)
{
    memset(t, 0, sizeof *t);
    t->card_bytes = available;
    t->act_bytes = sizeof(float);
    t->weights_mapped = TRUE;
    t->decode_budget = MAX(HOST_DECODE_BUDGET, available / 4);
}

/* ---- inventory --------------------------------------------------------------------------- */

static const char *strip_prefix(const char *name)
{
    static const char prefix[] = "model.diffusion_model.";
    return g_str_has_prefix(name, prefix) ? name + sizeof prefix - 1 : name;
}

static void add_tensor(RdPartInventory *inv, const RdTensorInfo *t, GHashTable *matrix_dtypes)
{
    const guint64 n = (guint64)rd_tensor_info_numel(t);
    inv->present = TRUE;
    inv->tensors++;
    inv->elements += n;
    inv->file_bytes += t->nbytes;
    if (t->ndim == 2) {
        inv->matrix_elements += n;
        if (matrix_dtypes) {
            gpointer key = GINT_TO_POINTER(t->dtype + 1);
            guint64 *count = g_hash_table_lookup(matrix_dtypes, key);
            if (!count) {
                count = g_new0(guint64, 1);
                g_hash_table_insert(matrix_dtypes, key, count);
            }
            *count += n;
        }
    }
}

static RdDType dominant(GHashTable *matrix_dtypes)
{
    GHashTableIter it;
    gpointer key, value;
    RdDType best = RD_BF16;
    guint64 most = 0;
    g_hash_table_iter_init(&it, matrix_dtypes);
    while (g_hash_table_iter_next(&it, &key, &value))
        if (*(guint64 *)value > most) {
            most = *(guint64 *)value;
            best = (RdDType)(GPOINTER_TO_INT(key) - 1);
        }
    return best;
}

void rd_part_inventory(const RdSafetensors *st, const char *const *prefixes, RdPartInventory *inv)
{
    memset(inv, 0, sizeof *inv);
    GHashTable *dtypes = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
    for (guint i = 0; i < rd_safetensors_count(st); i++) {
        const RdTensorInfo *t = rd_safetensors_get(st, i);
        gboolean take = prefixes == NULL;
        for (const char *const *p = prefixes; p && *p && !take; p++)
            take = g_str_has_prefix(t->name, *p);
        if (take)
            add_tensor(inv, t, dtypes);
    }
    inv->matrix_dtype = dominant(dtypes);
    g_hash_table_unref(dtypes);
}

/* The first tensor of names (each tried bare and with ComfyUI's prefix). */
static const RdTensorInfo *find_any(const RdSafetensors *st, const char *const *names)
{
    for (const char *const *n = names; *n; n++) {
        const RdTensorInfo *t = rd_safetensors_find(st, *n);
        if (t)
            return t;
        g_autofree char *prefixed = g_strconcat("model.diffusion_model.", *n, NULL);
        if ((t = rd_safetensors_find(st, prefixed)))
            return t;
    }
    return NULL;
}

static int dim_of(const RdTensorInfo *t, int axis)
{
    return t && axis < t->ndim && t->shape[axis] > 0 && t->shape[axis] <= G_MAXINT
               ? (int)t->shape[axis]
               : 0;
}

/* Block index of a transformer tensor: double blocks (BFL or diffusers) in *d, single in *s. */
static gboolean block_of(const char *name, int *index, gboolean *single)
{
    static const struct {
        const char *stem;
        gboolean single;
    } stems[] = {{"double_blocks.", FALSE},
                 {"single_blocks.", TRUE},
                 {"transformer_blocks.", FALSE},
                 {"single_transformer_blocks.", TRUE}};
    name = strip_prefix(name);
    for (size_t i = 0; i < G_N_ELEMENTS(stems); i++) {
        if (!g_str_has_prefix(name, stems[i].stem))
            continue;
        const char *p = name + strlen(stems[i].stem);
        char *end;
        guint64 v = g_ascii_strtoull(p, &end, 10);
        if (end == p || *end != '.' || v >= RD_PLAN_MAX_BLOCKS)
            return FALSE;
        *index = (int)v;
        *single = stems[i].single;
        return TRUE;
    }
    return FALSE;
}

gboolean rd_transformer_inventory(const RdSafetensors *st, RdTransformerInventory *inv,
                                  GError **error)
{
    memset(inv, 0, sizeof *inv);
    /* ComfyUI's all-in-one checkpoints hold the VAE and text encoders beside
     * model.diffusion_model.* */
    static const char *const comfy[] = {"model.diffusion_model.", NULL};
    const gboolean prefixed =
        rd_safetensors_find(st, "model.diffusion_model.img_in.weight") != NULL;
    rd_part_inventory(st, prefixed ? comfy : NULL, &inv->all);
    static const char *const img_in[] = {"img_in.weight", "x_embedder.weight", NULL};
    static const char *const txt_in[] = {"txt_in.weight", "context_embedder.weight", NULL};
    static const char *const vec_in[] = {"vector_in.in_layer.weight",
                                         "time_text_embed.text_embedder.linear_1.weight", NULL};
    static const char *const mlp[] = {"double_blocks.0.img_mlp.0.weight",
                                      "transformer_blocks.0.ff.net.0.proj.weight", NULL};
    static const char *const qnorm[] = {"double_blocks.0.img_attn.norm.query_norm.scale",
                                        "transformer_blocks.0.attn.norm_q.weight", NULL};
    static const char *const guidance[] = {
        "guidance_in.in_layer.weight", "time_text_embed.guidance_embedder.linear_1.weight", NULL};
    const RdTensorInfo *ti = find_any(st, img_in), *tt = find_any(st, txt_in);
    const RdTensorInfo *tv = find_any(st, vec_in), *tm = find_any(st, mlp);
    const RdTensorInfo *tq = find_any(st, qnorm);
    inv->hidden = dim_of(ti, 0);
    inv->in_channels = dim_of(ti, 1);
    inv->txt_dim = dim_of(tt, 1);
    inv->vec_dim = dim_of(tv, 1);
    inv->mlp_hidden = dim_of(tm, 0);
    inv->head_dim = dim_of(tq, 0);
    inv->guidance = find_any(st, guidance) != NULL;
    if (inv->hidden <= 0 || inv->in_channels <= 0 || inv->txt_dim <= 0 || inv->vec_dim <= 0 ||
        inv->mlp_hidden <= 0 || inv->head_dim <= 0 || inv->hidden % inv->head_dim) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                    "%s: not a FLUX transformer (img_in, txt_in, vector_in, the first block's MLP "
                    "and query norm give its dimensions)",
                    rd_safetensors_path(st));
        return FALSE;
    }
    inv->heads = inv->hidden / inv->head_dim;
    /* blocks: double ones first, then single ones, in index order */
    guint64 de[RD_PLAN_MAX_BLOCKS] = {0}, dm[RD_PLAN_MAX_BLOCKS] = {0},
            dt[RD_PLAN_MAX_BLOCKS] = {0};
    guint64 se[RD_PLAN_MAX_BLOCKS] = {0}, sm[RD_PLAN_MAX_BLOCKS] = {0},
            stt[RD_PLAN_MAX_BLOCKS] = {0};
    int n_double = 0, n_single = 0;
    for (guint i = 0; i < rd_safetensors_count(st); i++) {
        const RdTensorInfo *t = rd_safetensors_get(st, i);
        int index;
        gboolean single;
        if (!block_of(t->name, &index, &single))
            continue;
        const guint64 n = (guint64)rd_tensor_info_numel(t);
        guint64 *e = single ? se : de, *m = single ? sm : dm, *c = single ? stt : dt;
        e[index] += n;
        c[index]++;
        if (t->ndim == 2)
            m[index] += n;
        if (single)
            n_single = MAX(n_single, index + 1);
        else
            n_double = MAX(n_double, index + 1);
    }
    if (n_double + n_single > RD_PLAN_MAX_BLOCKS || n_double + n_single == 0) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL, "%s: %d blocks (1 to %d expected)",
                    rd_safetensors_path(st), n_double + n_single, RD_PLAN_MAX_BLOCKS);
        return FALSE;
    }
    for (int i = 0; i < n_double; i++) {
        inv->block_elements[i] = de[i];
        inv->block_matrix_elements[i] = dm[i];
        inv->block_tensors[i] = dt[i];
    }
    for (int i = 0; i < n_single; i++) {
        inv->block_elements[n_double + i] = se[i];
        inv->block_matrix_elements[n_double + i] = sm[i];
        inv->block_tensors[n_double + i] = stt[i];
    }
    inv->n_blocks = n_double + n_single;
    return TRUE;
}

gboolean rd_t5_inventory(const RdSafetensors *st, RdT5Inventory *inv, GError **error)
{
    memset(inv, 0, sizeof *inv);
    static const char *const prefixes[] = {"encoder.", "shared.", NULL};
    rd_part_inventory(st, prefixes, &inv->all);
    const RdTensorInfo *wi =
        rd_safetensors_find(st, "encoder.block.0.layer.1.DenseReluDense.wi_0.weight");
    const RdTensorInfo *q =
        rd_safetensors_find(st, "encoder.block.0.layer.0.SelfAttention.q.weight");
    const RdTensorInfo *bias = rd_safetensors_find(
        st, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight");
    inv->d_ff = dim_of(wi, 0);
    inv->d_model = dim_of(wi, 1);
    inv->inner = dim_of(q, 0);
    inv->heads = dim_of(bias, 1);
    if (inv->d_ff <= 0 || inv->d_model <= 0 || inv->inner <= 0 || inv->heads <= 0) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                    "%s: not a T5 encoder (no first block with wi_0, q and the position bias)",
                    rd_safetensors_path(st));
        return FALSE;
    }
    return TRUE;
}

/* ---- the job ----------------------------------------------------------------------------- */

void rd_plan_job_from_params(RdPlanJob *job, const ResditJobParams *p, int default_t5_len)
{
    memset(job, 0, sizeof *job);
    job->width = p->width;
    job->height = p->height;
    job->t5_len = p->t5_len > 0 ? p->t5_len : default_t5_len;
    job->method = p->method;
    job->worst_mode = p->fixed_mode;
    if (p->schedule) {
        int g = 0, l = 0;
        if (!rd_schedule_resolve(p->steps, p->global_steps, p->local_steps, &g, &l, NULL)) {
            job->worst_mode = RESDIT_MODE_FUSED; /* checked elsewhere; plan for the most */
            return;
        }
        job->worst_mode = p->steps - g - l > 0 ? RESDIT_MODE_FUSED
                          : l > 0              ? RESDIT_MODE_LOCAL
                                               : RESDIT_MODE_GLOBAL;
    }
}

/* ---- the transformer forward (flux_model.c, resdit_attention.c, rope_table.c) ------------ */

typedef struct {
    int h, w;
} Shape;

static void forward_terms(const RdTransformerInventory *tf, const RdPlanJob *job,
                          const RdPlanTarget *target, RdForwardTerms *out)
{
    memset(out, 0, sizeof *out);
    const guint64 act = (guint64)target->act_bytes, table = sizeof(float);
    const int rows = job->height / 16, cols = job->width / 16;
    const guint64 img = (guint64)rows * cols, txt = (guint64)job->t5_len, T = img + txt;
    const guint64 C = (guint64)tf->hidden, M = (guint64)tf->mlp_hidden;
    const guint64 pairs = (guint64)tf->head_dim / 2;
    /* forward_alloc: x, normed, q, k, v, proj; wide; out; vec_silu, mod_txt, mod_img */
    out->forward = act * (6 * T * C + T * (C + M) + img * (guint64)tf->in_channels + C + 12 * C);
    /* embed_inputs then conditioning, one after the other */
    guint64 embed = MAX(img * (guint64)tf->in_channels, txt * (guint64)tf->txt_dim);
    embed = MAX(embed, (guint64)MAX(256, tf->vec_dim) + 2 * C);
    out->embed_temp = act * embed;
    /* the direct and global RoPE tables (cos and sin) */
    out->tables = table * 2 * 2 * T * pairs;
    out->attention = act * 2 * T * C; /* q_rot, k_rot */
    ResditMode mode = job->worst_mode;
    if (mode != RESDIT_MODE_LOCAL && mode != RESDIT_MODE_FUSED)
        return;
    const ResditMethodParams *m = &job->method;
    if (m->patch <= 0)
        return;
    ResditAxisPartition *rp =
        resdit_axis_partition_new(rows, m->patch, m->sigma, m->no_overlap, m->uniform_weights);
    ResditAxisPartition *cp =
        resdit_axis_partition_new(cols, m->patch, m->sigma, m->no_overlap, m->uniform_weights);
    guint64 splice = 0;
    int max_h = 0, max_w = 0;
    for (int i = 0; i < rp->count; i++) {
        splice += (guint64)rp->size[i];
        max_h = MAX(max_h, rp->size[i]);
    }
    for (int i = 0; i < cp->count; i++) {
        splice += (guint64)cp->size[i];
        max_w = MAX(max_w, cp->size[i]);
    }
    out->tables += table * splice;
    /* a fused step whose masks keep all or none of every patch is a global or local one */
    if (mode == RESDIT_MODE_FUSED && !m->no_psf) {
        gboolean all = TRUE, none = TRUE;
        for (int i = 0; i < rp->count; i++)
            for (int j = 0; j < cp->count; j++) {
                ResditPsfMaskKind k = resdit_psf_mask_kind(rp->size[i], cp->size[j], m->cutoff);
                all = all && k == RESDIT_PSF_MASK_ALL;
                none = none && k == RESDIT_PSF_MASK_NONE;
            }
        mode = all ? RESDIT_MODE_GLOBAL : none ? RESDIT_MODE_LOCAL : mode;
    }
    GArray *shapes = g_array_new(FALSE, FALSE, sizeof(Shape));
    for (int i = 0; i < rp->count; i++)
        for (int j = 0; j < cp->count; j++) {
            Shape s = {rp->size[i], cp->size[j]};
            gboolean seen = FALSE;
            for (guint k = 0; k < shapes->len && !seen; k++) {
                Shape *o = &g_array_index(shapes, Shape, k);
                seen = o->h == s.h && o->w == s.w;
            }
            if (!seen)
                g_array_append_val(shapes, s);
        }
    if (mode == RESDIT_MODE_LOCAL || mode == RESDIT_MODE_FUSED) {
        const guint64 P = (guint64)max_h * max_w;
        out->attention += act * C * (3 * P + 2 * (txt + P));
        if (mode == RESDIT_MODE_FUSED)
            out->attention += act * T * C; /* global_out */
        if (m->no_pipe)
            out->attention += act * 2 * T * C; /* q_dir, k_dir */
        else
            for (guint k = 0; k < shapes->len; k++) {
                Shape *s = &g_array_index(shapes, Shape, k);
                out->patch_tables += table * 2 * (guint64)s->h * s->w * pairs;
            }
        if (mode == RESDIT_MODE_FUSED && !m->no_psf) {
            /* spectral.cu: per patch shape, f32 real [h w C] and complex half spectrum; one cuFFT
             * work area shared by every plan, taken as the largest spectrum (cuFFT's estimate
             * for a batched 2-D R2C is at most its output) */
            guint64 work = 0;
            for (guint k = 0; k < shapes->len; k++) {
                Shape *s = &g_array_index(shapes, Shape, k);
                if (resdit_psf_mask_kind(s->h, s->w, m->cutoff) != RESDIT_PSF_MASK_MIXED)
                    continue;
                const guint64 spectrum = 8 * (guint64)s->h * (s->w / 2 + 1) * C;
                out->psf += 4 * (guint64)s->h * s->w * C + spectrum;
                work = MAX(work, spectrum);
            }
            out->psf += work;
        }
    }
    g_array_free(shapes, TRUE);
    resdit_axis_partition_free(rp);
    resdit_axis_partition_free(cp);
}

/* ---- weights ----------------------------------------------------------------------------- */

/* Bytes of weights in a format: matrices in one byte plus a float scale per tensor for fp8,
 * everything else in bf16; mapped (CPU) weights count as in the file. */
static guint64 format_bytes(guint64 elements, guint64 matrix_elements, guint64 tensors,
                            RdWeightFormat format)
{
    if (format == RD_WEIGHTS_BF16)
        return 2 * elements;
    return matrix_elements + 2 * (elements - matrix_elements) + 4 * tensors;
}

static guint64 part_bytes(const RdPartInventory *p, const RdPlanTarget *target)
{
    if (!p->present)
        return 0;
    return target->weights_mapped ? p->file_bytes : 2 * p->elements;
}

typedef struct {
    RdWeightFormat format;
    int streamed;
    gboolean t5_first;
} Candidate;

/* Block indices from the largest to the smallest (stable): the order blocks are streamed in.
 * An insertion sort: no state shared between threads (the app plans on its UI thread while a
 * job may plan on another), and at most RD_PLAN_MAX_BLOCKS entries. */
static void order_by_size(const RdTransformerInventory *tf, int *order)
{
    for (int i = 0; i < tf->n_blocks; i++) {
        int j = i;
        while (j > 0 && tf->block_elements[order[j - 1]] < tf->block_elements[i]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
}

/* With fp8 GEMMs (kernels/linear.cu) each linear's input is quantised to one byte per element
 * first: the widest is a single block's second linear, [image + text tokens, hidden + MLP]. */
static guint64 fp8_codes_bytes(const RdTransformerInventory *tf, const RdPlanJob *job)
{
    const guint64 tokens = (guint64)(job->height / 16) * (guint64)(job->width / 16) +
                           (guint64)job->t5_len;
    return tokens * (guint64)(tf->hidden + tf->mlp_hidden);
}

static void evaluate(const RdModelInventory *mi, const RdPlanJob *job, const RdPlanTarget *target,
                     const Candidate *c, const int *order, RdMemoryPlan *p)
{
    const RdTransformerInventory *tf = &mi->transformer;
    rd_memory_plan_clear(p);
    p->format = c->format;
    p->t5_first = c->t5_first;
    p->streamed_blocks = c->streamed;
    p->usable =
        target->card_bytes > target->reserve_bytes ? target->card_bytes - target->reserve_bytes : 0;
    /* transformer weights */
    if (target->weights_mapped) {
        p->transformer_weights = tf->all.file_bytes;
    } else {
        guint64 total =
            format_bytes(tf->all.elements, tf->all.matrix_elements, tf->all.tensors, c->format);
        guint64 streamed = 0, largest = 0, largest_bf16 = 0;
        for (int k = 0; k < tf->n_blocks; k++) {
            const int b = order[k];
            guint64 bytes = format_bytes(tf->block_elements[b], tf->block_matrix_elements[b],
                                         tf->block_tensors[b], c->format);
            if (k < c->streamed) {
                streamed += bytes;
                /* a device slot puts every weight at a 256-byte offset (weight_stream.cu) */
                largest = MAX(largest, bytes + 256 * tf->block_tensors[b]);
            }
            largest_bf16 = MAX(largest_bf16, 2 * tf->block_elements[b]);
        }
        p->transformer_weights = total - streamed;
        p->streamed_bytes = streamed;
        p->stream_buffers = 2 * largest;
        p->fp8_scratch = c->format == RD_WEIGHTS_BF16 ? 0
                         : target->fp8_gemm    ? fp8_codes_bytes(tf, job)
                                               : largest_bf16;
    }
    p->t5_weights = part_bytes(&mi->t5.all, target);
    p->clip_weights = part_bytes(&mi->clip, target);
    p->vae_weights = part_bytes(&mi->vae, target);
    /* T5 activations (t5_model.c: x, h, q, k, v, attn, gate, up and the position bias) */
    if (mi->t5.all.present) {
        const guint64 n = (guint64)job->t5_len;
        p->t5_activations = (guint64)target->act_bytes *
                            (n * (2 * (guint64)mi->t5.d_model + 4 * (guint64)mi->t5.inner +
                                  2 * (guint64)mi->t5.d_ff) +
                             (guint64)mi->t5.heads * n * n);
    }
    forward_terms(tf, job, target, &p->fwd);
    p->activations =
        p->fwd.forward + p->fwd.attention + p->fwd.tables + p->fwd.patch_tables + p->fwd.embed_temp;
    const guint64 psf = target->fft_on_device ? p->fwd.psf : 0;
    p->workspace = target->gemm_workspace + psf;
    /* host buffers that count where the backend's memory is host memory */
    const int lh = job->height / 8, lw = job->width / 8;
    const guint64 host_latents =
        target->weights_mapped ? (guint64)16 * lh * lw * sizeof(float) * 6 + p->fwd.psf : 0;
    const guint64 host_image =
        target->weights_mapped ? (guint64)job->width * job->height * 3 * (sizeof(float) + 1) : 0;
    const guint64 transformer = p->transformer_weights + p->stream_buffers + p->fp8_scratch;
    const guint64 always = p->clip_weights + p->vae_weights;
    p->peak_encode = always + p->t5_weights + p->t5_activations + (c->t5_first ? 0 : transformer);
    p->peak_sample = always + transformer + p->activations + p->workspace + host_latents;
    /* VAE: the largest band that fits what is left (never above the job's decode budget) */
    const guint64 decode_fixed =
        always + transformer + target->gemm_workspace + target->conv_scratch + host_image;
    if (mi->vae_model) {
        guint64 left = p->usable > decode_fixed ? p->usable - decode_fixed : 0;
        /* rd_vae_decode_bytes counts f32 activations */
        guint64 budget_f32 = left / (guint64)target->act_bytes * sizeof(float);
        budget_f32 = target->bands_from_budget ? target->decode_budget
                                               : MIN(budget_f32, target->decode_budget);
        p->vae_band_rows = rd_vae_band_rows_for_budget(mi->vae_model, lh, lw, budget_f32);
        p->vae_decode = rd_vae_decode_bytes(mi->vae_model, lh, lw, p->vae_band_rows) /
                        sizeof(float) * (guint64)target->act_bytes;
    }
    p->peak_decode = decode_fixed + p->vae_decode;
    p->peak = MAX(p->peak_encode, MAX(p->peak_sample, p->peak_decode));
    p->fits = p->peak <= p->usable;
    GString *missing = g_string_new(NULL);
    if (c->format != RD_WEIGHTS_BF16 && !target->can_fp8)
        g_string_append(missing, "fp8 weights");
    if (c->streamed > 0 && !target->can_stream)
        g_string_append_printf(missing, "%sblock streaming", missing->len ? ", " : "");
    if (c->t5_first && !target->can_t5_first)
        g_string_append_printf(missing, "%sT5 before the transformer loads",
                               missing->len ? ", " : "");
    p->executable = missing->len == 0;
    p->not_executable = g_string_free(missing, missing->len == 0);
}

void rd_memory_plan_clear(RdMemoryPlan *plan)
{
    g_free(plan->reason);
    g_free(plan->not_executable);
    memset(plan, 0, sizeof *plan);
}

static const char *worst_phase(const RdMemoryPlan *p)
{
    return p->peak == p->peak_sample   ? "sampling"
           : p->peak == p->peak_encode ? "text encoding"
                                       : "VAE decoding";
}

static void add_candidate(GArray *cands, RdWeightFormat format, int streamed,
                          gboolean t5_first_too)
{
    Candidate c = {format, streamed, FALSE};
    g_array_append_val(cands, c);
    if (t5_first_too) {
        c.t5_first = TRUE;
        g_array_append_val(cands, c);
    }
}

gboolean rd_memory_plan(const RdModelInventory *mi, const RdPlanJob *job,
                        const RdPlanTarget *target, gboolean only_executable, RdMemoryPlan *plan,
                        GError **error)
{
    memset(plan, 0, sizeof *plan);
    const RdTransformerInventory *tf = &mi->transformer;
    if (tf->n_blocks <= 0 || tf->n_blocks > RD_PLAN_MAX_BLOCKS || tf->hidden <= 0 ||
        job->width < 16 || job->height < 16 || job->t5_len < 0 || target->act_bytes <= 0) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                    "memory plan: no transformer, or a size below 16 pixels");
        return FALSE;
    }
    int order[RD_PLAN_MAX_BLOCKS];
    order_by_size(tf, order);

    const gboolean fp8_file = tf->all.matrix_dtype == RD_F8_E4M3;
    const RdWeightFormat fp8 = fp8_file ? RD_WEIGHTS_FP8_FILE : RD_WEIGHTS_FP8_QUANTISED;
    /* mapped weights (CPU) count whole whatever the order: T5 first changes nothing there */
    const gboolean t5_first = !target->weights_mapped && (!only_executable || target->can_t5_first);
    /* Candidates from the best quality and speed to the least: bf16 resident, fp8 resident,
     * fp8 with 1, 2, ... blocks streamed; each with T5 encoded beside the transformer, then
     * (when that does not fit) before its weights go to the device, which uploads them again
     * every job. The mapped CPU target has one. */
    GArray *cands = g_array_new(FALSE, FALSE, sizeof(Candidate));
    add_candidate(cands, RD_WEIGHTS_BF16, 0, t5_first);
    if (!target->weights_mapped && (!only_executable || target->can_fp8)) {
        add_candidate(cands, fp8, 0, t5_first);
        if (!only_executable || target->can_stream)
            for (int k = 1; k <= tf->n_blocks; k++)
                add_candidate(cands, fp8, k, t5_first);
    }
    gboolean found = FALSE;
    for (guint i = 0; i < cands->len && !found; i++) {
        evaluate(mi, job, target, &g_array_index(cands, Candidate, i), order, plan);
        found = plan->fits;
    }
    if (!found) {
        /* the least demanding candidate says by how much the job misses */
        const Candidate *least = &g_array_index(cands, Candidate, cands->len - 1);
        evaluate(mi, job, target, least, order, plan);
        plan->reason = g_strdup_printf(
            "a %dx%d image needs at least %.2f GB (%s, with %s weights%s) but %.2f GB are usable",
            job->width, job->height, plan->peak / 1e9, worst_phase(plan),
            rd_weight_format_name(plan->format),
            plan->streamed_blocks ? ", every block streamed" : "", plan->usable / 1e9);
    }
    g_array_free(cands, TRUE);
    return TRUE;
}

char *rd_memory_plan_describe(const RdMemoryPlan *p, const RdPlanTarget *target)
{
    GString *s = g_string_new(NULL);
    g_string_append_printf(s, "weights: %s%s\n",
                           target->weights_mapped ? "as in the file (memory-mapped)"
                                                  : rd_weight_format_name(p->format),
                           !target->weights_mapped && p->format != RD_WEIGHTS_BF16 &&
                                   !target->fp8_gemm
                               ? ", dequantised per block"
                           : !target->weights_mapped && p->format != RD_WEIGHTS_BF16
                               ? ", multiplied in fp8 (activations quantised per tensor)"
                               : "");
    if (p->streamed_blocks)
        g_string_append_printf(s,
                               "streaming: %d blocks from pinned host memory (%.2f GB host, "
                               "%.2f GB of device buffers)\n",
                               p->streamed_blocks, p->streamed_bytes / 1e9,
                               p->stream_buffers / 1e9);
    else
        g_string_append(s, "streaming: none\n");
    g_string_append_printf(s, "text encoders: T5 %s\n",
                           p->t5_first ? "runs and is freed before the transformer loads"
                                       : "runs while the transformer is resident");
    g_string_append_printf(s,
                           "encode: %.2f GB (T5 %.2f GB weights, %.2f GB activations)\n"
                           "sample: %.2f GB (transformer %.2f GB, activations %.2f GB, "
                           "workspace %.2f GB)\n",
                           p->peak_encode / 1e9, p->t5_weights / 1e9, p->t5_activations / 1e9,
                           p->peak_sample / 1e9, p->transformer_weights / 1e9, p->activations / 1e9,
                           p->workspace / 1e9);
    g_string_append_printf(s, "decode: %.2f GB (VAE bands of %d latent rows, %.2f GB)\n",
                           p->peak_decode / 1e9, p->vae_band_rows, p->vae_decode / 1e9);
    g_string_append_printf(s, "predicted peak: %.2f GB of %.2f GB usable (%s)\n", p->peak / 1e9,
                           p->usable / 1e9, worst_phase(p));
    return g_string_free(s, FALSE);
}

/* ---- from files (dry runs) --------------------------------------------------------------- */

void rd_model_inventory_clear(RdModelInventory *mi)
{
    if (mi->vae_model)
        rd_vae_free((RdVae *)mi->vae_model);
    if (mi->vae_backend)
        rd_backend_free(mi->vae_backend);
    memset(mi, 0, sizeof *mi);
}

gboolean rd_model_inventory_from_paths(const ResditModelPaths *paths, RdModelInventory *mi,
                                       GError **error)
{
    memset(mi, 0, sizeof *mi);
    if (!paths->transformer) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL, "No transformer to plan for");
        return FALSE;
    }
    RdSafetensors *st = NULL;
    gboolean ok;
    if (sd3_weights_recognise(paths->transformer)) { /* its architecture needs its loader */
        RdBackend *cpu = rd_backend_cpu_new();
        RdDenoiser *d = rd_denoiser_load(paths->transformer, NULL, cpu, error);
        ok = d && rd_denoiser_inventory(d, &mi->transformer, error);
        rd_denoiser_free(d);
        rd_backend_free(cpu);
    } else {
        st = rd_safetensors_open(paths->transformer, error);
        ok = st && rd_transformer_inventory(st, &mi->transformer, error);
        rd_safetensors_close(st);
    }
    if (ok && paths->t5) {
        st = rd_safetensors_open(paths->t5, error);
        ok = st && rd_t5_inventory(st, &mi->t5, error);
        rd_safetensors_close(st);
    }
    if (ok && paths->clip_l) {
        static const char *const clip[] = {"text_model.", "clip_l.", NULL};
        st = rd_safetensors_open(paths->clip_l, error);
        if (st)
            rd_part_inventory(st, clip, &mi->clip);
        ok = st != NULL;
        rd_safetensors_close(st);
    }
    if (ok && paths->vae) {
        /* the decoder on the CPU backend: its weights stay in the mapped file, unread */
        mi->vae_backend = rd_backend_cpu_new();
        RdVae *vae = rd_vae_load(paths->vae, mi->vae_backend, error);
        ok = vae != NULL;
        if (ok) {
            mi->vae_model = vae;
            st = rd_safetensors_open(rd_vae_path(vae), error);
            static const char *const decoder[] = {"decoder.", "vae.decoder.",
                                                  "first_stage_model.decoder.", NULL};
            if (st)
                rd_part_inventory(st, decoder, &mi->vae);
            ok = st != NULL;
            rd_safetensors_close(st);
        }
    }
    if (!ok)
        rd_model_inventory_clear(mi);
    return ok;
}
