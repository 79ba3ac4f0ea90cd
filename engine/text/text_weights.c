#include "text_weights.h"

#include <string.h>

#include "resdit.h"

struct RdTextWeights {
    RdSafetensors *st;
    RdBackend *backend;
    char *prefix;
    GPtrArray *bound; /* RdWeight *, released on close */
    size_t bytes;
};

static char *find_prefix(RdSafetensors *st, const char *within, const char *suffix)
{
    for (guint i = 0; i < rd_safetensors_count(st); i++) {
        const char *name = rd_safetensors_get(st, i)->name;
        if ((!within || g_str_has_prefix(name, within)) && g_str_has_suffix(name, suffix))
            return g_strndup(name, strlen(name) - strlen(suffix));
    }
    return NULL;
}

RdTextWeights *rd_text_weights_open(const char *path, const char *model_name, const char *probe,
                                    const char *other_probe, const char *other_name,
                                    RdBackend *backend, GError **error)
{
    return rd_text_weights_open_within(path, NULL, model_name, probe, other_probe, other_name,
                                       backend, error);
}

RdTextWeights *rd_text_weights_open_within(const char *path, const char *prefer,
                                           const char *model_name, const char *probe,
                                           const char *other_probe, const char *other_name,
                                           RdBackend *backend, GError **error)
{
    RdSafetensors *st = rd_safetensors_open(path, error);
    if (!st)
        return NULL;
    char *prefix = prefer ? find_prefix(st, prefer, probe) : NULL;
    if (!prefix)
        prefix = find_prefix(st, NULL, probe);
    if (!prefix) {
        char *other = other_probe ? find_prefix(st, NULL, other_probe) : NULL;
        if (other)
            g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                        "%s is %s, not %s: check which file is given for which encoder",
                        rd_safetensors_path(st), other_name, model_name);
        else
            g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                        "%s has no %s weights (no tensor named like %s)", rd_safetensors_path(st),
                        model_name, probe);
        g_free(other);
        rd_safetensors_close(st);
        return NULL;
    }
    RdTextWeights *w = g_new0(RdTextWeights, 1);
    w->st = st;
    w->backend = backend;
    w->prefix = prefix;
    w->bound = g_ptr_array_new();
    return w;
}

void rd_text_weights_close(RdTextWeights *w)
{
    if (!w)
        return;
    for (guint i = 0; i < w->bound->len; i++)
        w->backend->weight_release(w->backend, w->bound->pdata[i]);
    g_ptr_array_free(w->bound, TRUE);
    rd_safetensors_close(w->st);
    g_free(w->prefix);
    g_free(w);
}

const char *rd_text_weights_prefix(const RdTextWeights *w)
{
    return w->prefix;
}

const char *rd_text_weights_path(const RdTextWeights *w)
{
    return rd_safetensors_path(w->st);
}

char *rd_text_weights_metadata(const RdTextWeights *w, const char *key)
{
    return rd_safetensors_metadata(w->st, key);
}

size_t rd_text_weights_bytes(const RdTextWeights *w)
{
    return w->bytes;
}

const RdTensorInfo *rd_text_weights_find(const RdTextWeights *w, const char *name)
{
    char *full = g_strconcat(w->prefix, name, NULL);
    const RdTensorInfo *info = rd_safetensors_find(w->st, full);
    g_free(full);
    return info;
}

const RdTensorInfo *rd_text_weights_find_full(const RdTextWeights *w, const char *full_name)
{
    return rd_safetensors_find(w->st, full_name);
}

static gboolean is_float(RdDType t)
{
    return t == RD_F32 || t == RD_F16 || t == RD_BF16 || t == RD_F8_E4M3 || t == RD_F8_E5M2;
}

static const RdTensorInfo *checked(RdTextWeights *w, const char *prefix, const char *name,
                                   int64_t rows, int64_t cols, GError **error)
{
    g_autofree char *full = g_strconcat(prefix, name, NULL);
    const RdTensorInfo *info = rd_safetensors_find(w->st, full);
    if (!info) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL, "%s: missing tensor %s",
                    rd_text_weights_path(w), full);
        return NULL;
    }
    if (!is_float(info->dtype)) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL, "%s: tensor %s has dtype %s",
                    info->file, info->name, rd_dtype_name(info->dtype));
        return NULL;
    }
    int64_t r = info->ndim == 2 ? info->shape[0] : 1;
    int64_t c = info->ndim == 2 ? info->shape[1] : info->ndim == 1 ? info->shape[0] : -1;
    gboolean ok =
        (info->ndim == 1 || info->ndim == 2) && (rows < 0 || r == rows) && (cols < 0 || c == cols);
    if (!ok) {
        char *want = g_strdup_printf(rows == 1 ? "[%" G_GINT64_FORMAT "]"
                                               : "[%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]",
                                     rows == 1 ? cols : rows, cols);
        GString *got = g_string_new("[");
        for (int i = 0; i < info->ndim; i++)
            g_string_append_printf(got, i ? ", %" G_GINT64_FORMAT : "%" G_GINT64_FORMAT,
                                   info->shape[i]);
        g_string_append_c(got, ']');
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                    "%s: tensor %s has shape %s, expected %s (a different model size?)", info->file,
                    info->name, got->str, want);
        g_free(want);
        g_string_free(got, TRUE);
        return NULL;
    }
    return info;
}

gboolean rd_text_weights_bind(RdTextWeights *w, const char *name, int64_t rows, int64_t cols,
                              RdWeight *out, GError **error)
{
    return rd_text_weights_bind_full(w, w->prefix, name, rows, cols, out, error);
}

gboolean rd_text_weights_bind_full(RdTextWeights *w, const char *prefix, const char *name,
                                   int64_t rows, int64_t cols, RdWeight *out, GError **error)
{
    const RdTensorInfo *info = checked(w, prefix, name, rows, cols, error);
    if (!info)
        return FALSE;
    *out = (RdWeight){
        .dtype = info->dtype,
        .rows = info->shape[0], /* vectors are [length, 1] in the op table */
        .cols = info->ndim == 2 ? info->shape[1] : 1,
        .host = info->data,
        .device = NULL,
        .name = info->name,
    };
    if (!w->backend->weight_prepare(w->backend, out, error))
        return FALSE;
    g_ptr_array_add(w->bound, out);
    w->bytes += info->nbytes;
    return TRUE;
}

gboolean rd_text_weights_gather(RdTextWeights *w, const char *name, const int32_t *ids, int n,
                                int64_t cols, float *out, GError **error)
{
    const RdTensorInfo *info = checked(w, w->prefix, name, -1, cols, error);
    if (!info)
        return FALSE;
    int64_t rows = info->ndim == 2 ? info->shape[0] : 1;
    size_t esize = rd_dtype_size(info->dtype);
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= rows) {
            g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                        "%s: token id %d is outside the embedding table %s (%" G_GINT64_FORMAT
                        " rows): the tokenizer does not match the model",
                        info->file, ids[i], info->name, rows);
            return FALSE;
        }
        rd_convert_to_f32(info->dtype, (const char *)info->data + (size_t)ids[i] * cols * esize,
                          out + (size_t)i * cols, (size_t)cols);
    }
    return TRUE;
}
