/* LoRA files and their merge (lora.h, docs/LORA.md). */
#include "lora.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "resdit.h"

#define MERGE_ROWS 256

/* ---- reading a file ---------------------------------------------------------------------- */

typedef enum { ROLE_DOWN, ROLE_UP, ROLE_ALPHA } Role;

static const struct {
    const char *suffix;
    Role role;
} suffixes[] = {
    {".lora_down.weight", ROLE_DOWN}, {".lora_up.weight", ROLE_UP},
    {".lora_A.weight", ROLE_DOWN},    {".lora_B.weight", ROLE_UP},
    {".lora.down.weight", ROLE_DOWN}, {".lora.up.weight", ROLE_UP},
    {".alpha", ROLE_ALPHA},
};

/* Prefixes of the module names: which part, and whether dots are underscores (kohya). The
 * longest of overlapping prefixes comes first. */
static const struct {
    const char *prefix;
    RdLoraPart part;
    gboolean underscored;
    const char *format;
} prefixes[] = {
    {"lora_unet_", RD_LORA_TRANSFORMER, TRUE, "kohya"},
    {"lora_transformer_", RD_LORA_TRANSFORMER, TRUE, "kohya"},
    {"lora_te1_", RD_LORA_CLIP_L, TRUE, "kohya"},
    {"lora_te2_", RD_LORA_T5, TRUE, "kohya"},
    {"lora_te3_", RD_LORA_T5, TRUE, "kohya"},
    {"lora_te_", RD_LORA_CLIP_L, TRUE, "kohya"},
    {"model.diffusion_model.", RD_LORA_TRANSFORMER, FALSE, "comfyui"},
    {"diffusion_model.", RD_LORA_TRANSFORMER, FALSE, "comfyui"},
    {"base_model.model.", RD_LORA_TRANSFORMER, FALSE, "peft"},
    {"transformer.", RD_LORA_TRANSFORMER, FALSE, "diffusers"},
    {"text_encoder_2.", RD_LORA_T5, FALSE, "diffusers"},
    {"text_encoder.", RD_LORA_CLIP_L, FALSE, "diffusers"},
    {"", RD_LORA_TRANSFORMER, FALSE, "diffusers"},
};

gboolean rd_lora_tensors_look_like_lora(const RdSafetensors *st)
{
    guint n = rd_safetensors_count(st);
    for (guint i = 0; i < n; i++) {
        const char *name = rd_safetensors_get(st, i)->name;
        gboolean known = FALSE;
        for (size_t s = 0; s < G_N_ELEMENTS(suffixes) && !known; s++)
            known = g_str_has_suffix(name, suffixes[s].suffix);
        if (!known)
            return FALSE;
    }
    return n > 0;
}

typedef struct {
    const RdTensorInfo *down, *up, *alpha;
    int prefix;
    char *module;
} Pending;

static void pending_free(gpointer p)
{
    Pending *x = p;
    g_free(x->module);
    g_free(x);
}

static void module_free(gpointer p)
{
    RdLoraModule *m = p;
    g_free(m->name);
    g_free(m);
}

static gboolean fail(GError **error, int code, const char *path, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);

static gboolean fail(GError **error, int code, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(error, RESDIT_ERROR, code, "LoRA %s: %s", path, msg);
    return FALSE;
}

static gboolean is_float(RdDType d)
{
    return d == RD_F32 || d == RD_F16 || d == RD_BF16 || d == RD_F8_E4M3 || d == RD_F8_E5M2;
}

static gboolean all_finite(const RdTensorInfo *t)
{
    int64_t n = rd_tensor_info_numel(t);
    size_t es = rd_dtype_size(t->dtype);
    float buf[1024];
    for (int64_t i = 0; i < n; i += 1024) {
        size_t k = (size_t)MIN(1024, n - i);
        rd_convert_to_f32(t->dtype, (const char *)t->data + (size_t)i * es, buf, k);
        for (size_t j = 0; j < k; j++)
            if (!isfinite(buf[j]))
                return FALSE;
    }
    return TRUE;
}

static gboolean check_tensor(const char *path, const RdTensorInfo *t, GError **error)
{
    if (!is_float(t->dtype))
        return fail(error, RESDIT_ERROR_FORMAT, path, "tensor %s has dtype %s, not a float type",
                    t->name, rd_dtype_name(t->dtype));
    if (!all_finite(t))
        return fail(error, RESDIT_ERROR_FORMAT, path,
                    "tensor %s holds NaN or infinite values: the file is damaged", t->name);
    return TRUE;
}

static gboolean finish_module(RdLoraFile *f, Pending *p, GError **error)
{
    const char *path = f->path;
    if (!p->down || !p->up)
        return fail(error, RESDIT_ERROR_FORMAT, path, "module %s has no %s matrix", p->module,
                    p->down ? "up (lora_up / lora_B)" : "down (lora_down / lora_A)");
    if (p->down->ndim != 2 || p->up->ndim != 2)
        return fail(error, RESDIT_ERROR_FORMAT, path,
                    "module %s is not a linear LoRA (its matrices have %d and %d dimensions; "
                    "convolution LoRAs, LoHa and LoKr are not supported)",
                    p->module, p->down->ndim, p->up->ndim);
    int64_t rank = p->down->shape[0];
    if (rank < 1 || p->up->shape[1] != rank || p->down->shape[1] < 1 || p->up->shape[0] < 1)
        return fail(
            error, RESDIT_ERROR_FORMAT, path,
            "module %s: down is [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
            "] and up [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]: their ranks do not match",
            p->module, p->down->shape[0], p->down->shape[1], p->up->shape[0], p->up->shape[1]);
    if (rank > 65536)
        return fail(error, RESDIT_ERROR_FORMAT, path,
                    "module %s claims rank %" G_GINT64_FORMAT ": not a low-rank adapter",
                    p->module, rank);
    if (!check_tensor(path, p->down, error) || !check_tensor(path, p->up, error))
        return FALSE;
    double scale = 1.0;
    if (p->alpha) {
        if (rd_tensor_info_numel(p->alpha) != 1 || !check_tensor(path, p->alpha, error))
            return fail(error, RESDIT_ERROR_FORMAT, path, "module %s: alpha is not one number",
                        p->module);
        float alpha;
        rd_convert_to_f32(p->alpha->dtype, p->alpha->data, &alpha, 1);
        scale = alpha / (double)rank;
    }
    RdLoraModule *m = g_new0(RdLoraModule, 1);
    m->part = prefixes[p->prefix].part;
    m->underscored = prefixes[p->prefix].underscored;
    m->name = g_strdup(p->module + strlen(prefixes[p->prefix].prefix));
    m->down = p->down;
    m->up = p->up;
    m->rank = (int)rank;
    m->scale = scale;
    g_ptr_array_add(f->modules, m);
    return TRUE;
}

RdLoraFile *rd_lora_open(const char *path, GError **error)
{
    RdSafetensors *st = rd_safetensors_open(path, error);
    if (!st)
        return NULL;
    g_autoptr(RdLoraFile) f = g_new0(RdLoraFile, 1);
    f->st = st;
    f->path = g_strdup(path);
    f->modules = g_ptr_array_new_with_free_func(module_free);
    g_autoptr(GHashTable) pending =
        g_hash_table_new_full(g_str_hash, g_str_equal, NULL, pending_free);
    g_autoptr(GPtrArray) order = g_ptr_array_new();
    guint n = rd_safetensors_count(st);
    for (guint i = 0; i < n; i++) {
        const RdTensorInfo *t = rd_safetensors_get(st, i);
        int role = -1;
        size_t len = strlen(t->name), stem = 0;
        for (size_t s = 0; s < G_N_ELEMENTS(suffixes) && role < 0; s++)
            if (g_str_has_suffix(t->name, suffixes[s].suffix)) {
                role = (int)suffixes[s].role;
                stem = len - strlen(suffixes[s].suffix);
            }
        if (role < 0) {
            fail(error, RESDIT_ERROR_MODEL, path,
                 "tensor %s is not part of a plain LoRA (lora_down / lora_up / lora_A / lora_B / "
                 "alpha); LoHa, LoKr, DoRA and full fine-tunes are not supported",
                 t->name);
            return NULL;
        }
        g_autofree char *module = g_strndup(t->name, stem);
        Pending *p = g_hash_table_lookup(pending, module);
        if (!p) {
            p = g_new0(Pending, 1);
            p->module = g_steal_pointer(&module);
            for (size_t k = 0; k < G_N_ELEMENTS(prefixes); k++)
                if (g_str_has_prefix(p->module, prefixes[k].prefix)) {
                    p->prefix = (int)k;
                    break;
                }
            g_hash_table_insert(pending, p->module, p);
            g_ptr_array_add(order, p);
        }
        const RdTensorInfo **slot = role == ROLE_DOWN ? &p->down
                                    : role == ROLE_UP ? &p->up
                                                      : &p->alpha;
        if (*slot) {
            fail(error, RESDIT_ERROR_FORMAT, path, "module %s has two %s tensors", p->module,
                 role == ROLE_DOWN ? "down"
                 : role == ROLE_UP ? "up"
                                   : "alpha");
            return NULL;
        }
        *slot = t;
    }
    if (order->len == 0) {
        fail(error, RESDIT_ERROR_FORMAT, path, "the file holds no tensors");
        return NULL;
    }
    for (guint i = 0; i < order->len; i++)
        if (!finish_module(f, g_ptr_array_index(order, i), error))
            return NULL;
    f->format = prefixes[((Pending *)g_ptr_array_index(order, 0))->prefix].format;
    return g_steal_pointer(&f);
}

void rd_lora_close(RdLoraFile *f)
{
    if (!f)
        return;
    if (f->modules)
        g_ptr_array_unref(f->modules);
    rd_safetensors_close(f->st);
    g_free(f->path);
    g_free(f);
}

guint rd_lora_count_part(const RdLoraFile *f, RdLoraPart part)
{
    guint n = 0;
    for (guint i = 0; i < f->modules->len; i++)
        n += ((RdLoraModule *)g_ptr_array_index(f->modules, i))->part == part;
    return n;
}

char *rd_lora_file_sha256(const char *path, GError **error)
{
    g_autoptr(GFile) file = g_file_new_for_path(path);
    g_autoptr(GFileInputStream) in = g_file_read(file, NULL, error);
    if (!in)
        return NULL;
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_autofree guchar *buf = g_malloc(1 << 20);
    for (;;) {
        gssize got = g_input_stream_read(G_INPUT_STREAM(in), buf, 1 << 20, NULL, error);
        if (got < 0)
            return NULL;
        if (got == 0)
            break;
        g_checksum_update(sum, buf, got);
    }
    return g_strdup(g_checksum_get_string(sum));
}

/* ---- targets ----------------------------------------------------------------------------- */

typedef struct {
    RdWeight **weights;
    int n;
    int64_t rows, cols;
} Target;

struct RdLoraTargets {
    GHashTable *by_name; /* dotted name -> Target */
    GHashTable *by_underscored;
};

static void target_free(gpointer p)
{
    Target *t = p;
    g_free(t->weights);
    g_free(t);
}

RdLoraTargets *rd_lora_targets_new(void)
{
    RdLoraTargets *t = g_new0(RdLoraTargets, 1);
    t->by_name = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, target_free);
    t->by_underscored = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    return t;
}

void rd_lora_targets_free(RdLoraTargets *t)
{
    if (!t)
        return;
    g_hash_table_unref(t->by_name);
    g_hash_table_unref(t->by_underscored);
    g_free(t);
}

void rd_lora_targets_add(RdLoraTargets *t, const char *name, RdWeight *const *weights, int n)
{
    Target *x = g_new0(Target, 1);
    x->weights = g_memdup2(weights, sizeof *weights * (size_t)n);
    x->n = n;
    x->cols = weights[0]->cols;
    for (int i = 0; i < n; i++) {
        g_assert(weights[i]->cols == x->cols);
        x->rows += weights[i]->rows;
    }
    g_hash_table_replace(t->by_name, g_strdup(name), x);
    char *u = g_strdelimit(g_strdup(name), ".", '_');
    g_hash_table_replace(t->by_underscored, u, x);
}

static const Target *lookup(const RdLoraTargets *t, const RdLoraModule *m)
{
    return g_hash_table_lookup(m->underscored ? t->by_underscored : t->by_name, m->name);
}

/* ---- plan -------------------------------------------------------------------------------- */

typedef struct {
    const RdTensorInfo *down, *up;
    int64_t up_row0; /* rows of up that belong to this weight start here */
    int rank;
    double factor; /* strength * alpha / rank */
} Contribution;

typedef struct {
    RdWeight *w;
    GArray *contributions;
} WeightPlan;

struct RdLoraPlan {
    GHashTable *by_weight; /* RdWeight* -> WeightPlan */
    GPtrArray *order;      /* WeightPlan, in the order first touched */
};

static void weight_plan_free(gpointer p)
{
    WeightPlan *w = p;
    g_array_unref(w->contributions);
    g_free(w);
}

void rd_lora_plan_free(RdLoraPlan *p)
{
    if (!p)
        return;
    g_ptr_array_unref(p->order);
    g_hash_table_unref(p->by_weight);
    g_free(p);
}

static const char *part_name(RdLoraPart part)
{
    return part == RD_LORA_TRANSFORMER ? "the FLUX transformer"
           : part == RD_LORA_CLIP_L    ? "CLIP-L"
                                       : "T5";
}

RdLoraPlan *rd_lora_plan(const RdLoraTargets *targets, RdLoraPart part, RdLoraFile *const *files,
                         const double *strengths, int n, GError **error)
{
    RdLoraPlan *plan = g_new0(RdLoraPlan, 1);
    plan->by_weight = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, weight_plan_free);
    plan->order = g_ptr_array_new();
    for (int f = 0; f < n; f++) {
        const RdLoraFile *file = files[f];
        if (!isfinite(strengths[f])) {
            fail(error, RESDIT_ERROR_INVALID_ARGUMENT, file->path, "the strength is not a number");
            goto fail;
        }
        for (guint i = 0; i < file->modules->len; i++) {
            const RdLoraModule *m = g_ptr_array_index(file->modules, i);
            if (m->part != part)
                continue;
            const Target *t = targets ? lookup(targets, m) : NULL;
            if (!t) {
                fail(error, RESDIT_ERROR_MODEL, file->path,
                     "module %s is not a linear of %s in this model (a LoRA for another "
                     "architecture?); nothing was applied",
                     m->name, part_name(part));
                goto fail;
            }
            if (m->down->shape[1] != t->cols || m->up->shape[0] != t->rows) {
                fail(error, RESDIT_ERROR_MODEL, file->path,
                     "module %s is [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
                     "] (up rows, down columns) but the model's weight is [%" G_GINT64_FORMAT
                     ", %" G_GINT64_FORMAT "]: the LoRA is for another model size; nothing was "
                     "applied",
                     m->name, m->up->shape[0], m->down->shape[1], t->rows, t->cols);
                goto fail;
            }
            if (strengths[f] == 0.0)
                continue;
            int64_t row0 = 0;
            for (int k = 0; k < t->n; k++) {
                RdWeight *w = t->weights[k];
                WeightPlan *wp = g_hash_table_lookup(plan->by_weight, w);
                if (!wp) {
                    wp = g_new0(WeightPlan, 1);
                    wp->w = w;
                    wp->contributions = g_array_new(FALSE, FALSE, sizeof(Contribution));
                    g_hash_table_insert(plan->by_weight, w, wp);
                    g_ptr_array_add(plan->order, wp);
                }
                Contribution c = {m->down, m->up, row0, m->rank, strengths[f] * m->scale};
                g_array_append_val(wp->contributions, c);
                row0 += w->rows;
            }
        }
    }
    return plan;
fail:
    rd_lora_plan_free(plan);
    return NULL;
}

/* ---- merge ------------------------------------------------------------------------------- */

typedef struct {
    RdWeight original; /* as loaded (host in the mapping, no device copy) */
    void *copy;        /* the merged values in the original's dtype */
} Merged;

struct RdLoraState {
    RdBackend *be;
    GHashTable *merged; /* RdWeight* -> Merged */
};

static void merged_free(gpointer p)
{
    Merged *m = p;
    g_free(m->copy);
    g_free(m);
}

RdLoraState *rd_lora_state_new(RdBackend *be)
{
    RdLoraState *s = g_new0(RdLoraState, 1);
    s->be = be;
    s->merged = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, merged_free);
    return s;
}

void rd_lora_state_free(RdLoraState *s)
{
    if (!s)
        return;
    g_hash_table_unref(s->merged);
    g_free(s);
}

guint rd_lora_state_merged(const RdLoraState *s)
{
    return g_hash_table_size(s->merged);
}

static void widen(RdDType dtype, const void *src, float scale, float *dst, size_t n)
{
    rd_convert_to_f32(dtype, src, dst, n);
    if (scale != 0.0f && scale != 1.0f)
        for (size_t i = 0; i < n; i++)
            dst[i] *= scale;
}

/* Stores f32 values in dtype; fp8 gets a fresh per-tensor scale max |v| / largest finite. */
static void narrow(const float *v, size_t n, RdDType dtype, void *dst, float *scale)
{
    *scale = 0.0f;
    switch (dtype) {
    case RD_F32:
        memcpy(dst, v, n * sizeof(float));
        break;
    case RD_BF16:
        for (size_t i = 0; i < n; i++)
            ((uint16_t *)dst)[i] = rd_f32_to_bf16(v[i]);
        break;
    case RD_F16:
        for (size_t i = 0; i < n; i++)
            ((uint16_t *)dst)[i] = rd_f32_to_f16(v[i]);
        break;
    case RD_F8_E4M3:
    case RD_F8_E5M2: {
        const float top = dtype == RD_F8_E4M3 ? 448.0f : 57344.0f;
        float amax = 0.0f;
        for (size_t i = 0; i < n; i++)
            amax = MAX(amax, fabsf(v[i]));
        float s = amax > 0.0f ? amax / top : 1.0f;
        for (size_t i = 0; i < n; i++)
            ((uint8_t *)dst)[i] =
                dtype == RD_F8_E4M3 ? rd_f32_to_e4m3(v[i] / s) : rd_f32_to_e5m2(v[i] / s);
        *scale = s;
        break;
    }
    default:
        g_assert_not_reached();
    }
}

/* Puts a weight back to its original (device copy remade: it fits, as the merged one did). */
static gboolean restore(RdLoraState *s, RdWeight *w, const Merged *m, GError **error)
{
    if (w->device)
        s->be->weight_release(s->be, w);
    *w = m->original;
    w->device = NULL;
    return s->be->weight_prepare(s->be, w, error);
}

/* The sum is formed in double and rounded to f32, then to the weight's dtype (as PyTorch converts
 * a double tensor to bf16 or fp8), so a merged weight does not depend on the order of the sums:
 * an f32 or BLAS-kernel difference cannot move a weight across a bf16 or fp8 rounding midpoint. */
static gboolean merge_one(RdLoraState *s, const WeightPlan *wp, const RdWeight *original,
                          void **copy_out, float *scale_out, GError **error)
{
    const int64_t rows = original->rows, cols = original->cols;
    const size_t n = (size_t)(rows * cols);
    g_autofree double *acc = g_try_new(double, n);
    g_autofree float *f = g_try_new(float, n);
    void *copy = g_try_malloc(n * rd_dtype_size(original->dtype));
    if (!acc || !f || !copy) {
        g_free(copy);
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_OUT_OF_MEMORY,
                    "not enough memory to merge a LoRA into %s", original->name);
        return FALSE;
    }
    widen(original->dtype, original->host, original->scale, f, n);
    for (size_t i = 0; i < n; i++)
        acc[i] = f[i];
    for (guint i = 0; i < wp->contributions->len; i++) {
        const Contribution *c = &g_array_index(wp->contributions, Contribution, i);
        const size_t nu = (size_t)(rows * c->rank), nd = (size_t)(c->rank * cols);
        g_autofree float *uf = g_try_new(float, MAX(nu, nd));
        g_autofree double *up = g_try_new(double, nu), *down = g_try_new(double, nd);
        if (!uf || !up || !down) {
            g_free(copy);
            g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_OUT_OF_MEMORY,
                        "not enough memory to merge a LoRA into %s", original->name);
            return FALSE;
        }
        const char *up_rows = (const char *)c->up->data +
                              (size_t)(c->up_row0 * c->rank) * rd_dtype_size(c->up->dtype);
        rd_convert_to_f32(c->up->dtype, up_rows, uf, nu);
        for (size_t k = 0; k < nu; k++)
            up[k] = uf[k];
        rd_convert_to_f32(c->down->dtype, c->down->data, uf, nd);
        for (size_t k = 0; k < nd; k++)
            down[k] = uf[k];
        /* row blocks on the OpenMP threads (BLAS runs single-threaded inside them) */
        const int64_t blocks = (rows + MERGE_ROWS - 1) / MERGE_ROWS;
#pragma omp parallel for schedule(dynamic)
        for (int64_t b = 0; b < blocks; b++) {
            int64_t r0 = b * MERGE_ROWS, nr = MIN(MERGE_ROWS, rows - r0);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nr, (int)cols, c->rank,
                        c->factor, up + r0 * c->rank, c->rank, down, (int)cols, 1.0,
                        acc + r0 * cols, (int)cols);
        }
    }
    for (size_t i = 0; i < n; i++) {
        f[i] = (float)acc[i];
        if (!isfinite(f[i])) {
            g_free(copy);
            g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                        "the LoRA makes %s overflow: lower its strength", original->name);
            return FALSE;
        }
    }
    narrow(f, n, original->dtype, copy, scale_out);
    *copy_out = copy;
    return TRUE;
}

gboolean rd_lora_commit(RdLoraState *s, const RdLoraPlan *plan, GError **error)
{
    /* back to the originals first */
    GHashTableIter it;
    gpointer key, value;
    gboolean restored = TRUE;
    g_hash_table_iter_init(&it, s->merged);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        GError **err = restored ? error : NULL; /* the first failure is the one reported */
        restored = restore(s, key, value, err) && restored;
        g_hash_table_iter_remove(&it);
    }
    if (!restored)
        return FALSE;
    if (!plan)
        return TRUE;
    for (guint i = 0; i < plan->order->len; i++) {
        const WeightPlan *wp = g_ptr_array_index(plan->order, i);
        RdWeight *w = wp->w;
        Merged *m = g_new0(Merged, 1);
        m->original = *w;
        m->original.device = NULL;
        float scale = 0.0f;
        gboolean ok = merge_one(s, wp, &m->original, &m->copy, &scale, error);
        if (ok) {
            if (w->device)
                s->be->weight_release(s->be, w);
            w->host = m->copy;
            w->scale = scale; /* the merged values include the original's scale */
            g_hash_table_insert(s->merged, w, m);
            ok = s->be->weight_prepare(s->be, w, error);
        } else {
            g_free(m);
        }
        if (!ok) {
            rd_lora_commit(s, NULL, NULL);
            return FALSE;
        }
    }
    return TRUE;
}
