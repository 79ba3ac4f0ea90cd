/* LoRA lists of jobs: "FILE[:STRENGTH]" specs, names, and applying a list to an opened model. */
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "pipeline-private.h"
#include "model_places.h"
#include "text_encoders.h"

gboolean resdit_lora_spec_parse(const char *spec, char **path, double *strength, GError **error)
{
    *path = NULL;
    *strength = 1.0;
    const char *colon = strrchr(spec, ':');
    if (colon && colon[1]) {
        char *end = NULL;
        double v = g_ascii_strtod(colon + 1, &end);
        if (end && *end == '\0' && end != colon + 1) {
            if (!isfinite(v) || fabs(v) > RESDIT_LORA_STRENGTH_MAX) {
                g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                            "LoRA strength %s is out of range (-%g to %g)", colon + 1,
                            RESDIT_LORA_STRENGTH_MAX, RESDIT_LORA_STRENGTH_MAX);
                return FALSE;
            }
            *strength = v;
            *path = g_strndup(spec, (gsize)(colon - spec));
        }
    }
    if (!*path)
        *path = g_strdup(spec);
    if (!**path) {
        g_clear_pointer(path, g_free);
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                    "'%s' names no LoRA file (FILE[:STRENGTH])", spec);
        return FALSE;
    }
    return TRUE;
}

char *resdit_lora_name(const char *path)
{
    char *base = g_path_get_basename(path);
    if (g_str_has_suffix(base, ".safetensors"))
        base[strlen(base) - strlen(".safetensors")] = '\0';
    return base;
}

void resdit_job_params_add_lora(ResditJobParams *p, const char *path, double strength,
                                gboolean enabled)
{
    p->loras = g_renew(ResditLora, p->loras, p->n_loras + 1);
    p->loras[p->n_loras++] = (ResditLora){g_strdup(path), strength, enabled};
}

void rd_job_params_clear_loras(ResditJobParams *p)
{
    for (int i = 0; i < p->n_loras; i++)
        g_free(p->loras[i].path);
    g_clear_pointer(&p->loras, g_free);
    p->n_loras = 0;
}

void resdit_job_params_set_loras(ResditJobParams *p, const ResditLora *loras, int n)
{
    ResditLora *copy = n > 0 ? g_new(ResditLora, n) : NULL;
    for (int i = 0; i < n; i++)
        copy[i] = (ResditLora){g_strdup(loras[i].path), loras[i].strength, loras[i].enabled};
    rd_job_params_clear_loras(p);
    p->loras = copy;
    p->n_loras = n;
}

void resdit_job_params_copy(ResditJobParams *dst, const ResditJobParams *src)
{
    *dst = *src;
    dst->prompt = g_strdup(src->prompt);
    dst->negative_prompt = g_strdup(src->negative_prompt);
    dst->init_image = g_strdup(src->init_image);
    dst->loras = NULL;
    dst->n_loras = 0;
    resdit_job_params_set_loras(dst, src->loras, src->n_loras);
}

void rd_applied_lora_free(gpointer p)
{
    RdAppliedLora *a = p;
    g_free(a->path);
    g_free(a->sha256);
    g_free(a);
}

static gboolean same_list(const ResditModel *m, const ResditLora *loras, int n)
{
    guint k = 0;
    for (int i = 0; i < n; i++) {
        if (!loras[i].enabled || loras[i].strength == 0.0)
            continue;
        if (!m->loras || k >= m->loras->len)
            return FALSE;
        const RdAppliedLora *a = g_ptr_array_index(m->loras, k++);
        if (g_strcmp0(a->path, loras[i].path) != 0 || a->strength != loras[i].strength)
            return FALSE;
    }
    return k == (m->loras ? m->loras->len : 0);
}

gboolean resdit_model_set_loras(ResditModel *m, const ResditLora *loras, int n, GError **error)
{
    if (same_list(m, loras, n))
        return TRUE;
    g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func((GDestroyNotify)rd_lora_close);
    g_autoptr(GArray) strengths = g_array_new(FALSE, FALSE, sizeof(double));
    g_autoptr(GPtrArray) applied = g_ptr_array_new_with_free_func(rd_applied_lora_free);
    for (int i = 0; i < n; i++) {
        if (!loras[i].enabled || loras[i].strength == 0.0)
            continue;
        if (!isfinite(loras[i].strength) || fabs(loras[i].strength) > RESDIT_LORA_STRENGTH_MAX) {
            g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                        "LoRA %s: strength %g is out of range (-%g to %g)", loras[i].path,
                        loras[i].strength, RESDIT_LORA_STRENGTH_MAX, RESDIT_LORA_STRENGTH_MAX);
            return FALSE;
        }
        RdLoraFile *f = rd_lora_open(loras[i].path, error);
        if (!f)
            return FALSE;
        g_ptr_array_add(files, f);
        g_array_append_val(strengths, loras[i].strength);
        RdAppliedLora *a = g_new0(RdAppliedLora, 1);
        a->path = g_strdup(loras[i].path);
        a->strength = loras[i].strength;
        a->sha256 = rd_lora_file_sha256(loras[i].path, error);
        g_ptr_array_add(applied, a);
        if (!a->sha256)
            return FALSE;
    }
    RdLoraFile *const *fv = (RdLoraFile *const *)files->pdata;
    const double *sv = (const double *)(void *)strengths->data;
    int nf = (int)files->len;
    /* the text encoders' part is checked before the transformer changes */
    /* (SD3 models have no FLUX text encoders: their transformer refuses LoRAs first) */
    if ((m->text && !rd_text_encoders_check_loras(m->text, fv, nf, error)) ||
        !rd_denoiser_set_loras(m->denoiser, fv, sv, nf, error))
        return FALSE;
    if (m->text && !rd_text_encoders_set_loras(m->text, fv, sv, nf, error)) {
        rd_denoiser_set_loras(m->denoiser, NULL, NULL, 0, NULL);
        g_clear_pointer(&m->loras, g_ptr_array_unref);
        return FALSE;
    }
    g_clear_pointer(&m->loras, g_ptr_array_unref);
    m->loras = g_steal_pointer(&applied);
    return TRUE;
}

void resdit_lora_info_free(ResditLoraInfo *info)
{
    if (!info)
        return;
    g_free(info->name);
    g_free(info->path);
    g_free(info);
}

static void scan_loras(const char *dir, int depth, GHashTable *seen, GPtrArray *out)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
            if (depth < 3 && name[0] != '.')
                scan_loras(path, depth + 1, seen, out);
            continue;
        }
        if (!g_str_has_suffix(name, ".safetensors"))
            continue;
        g_autofree char *canon = g_canonicalize_filename(path, NULL);
        if (g_hash_table_contains(seen, canon))
            continue;
        RdSafetensors *st = rd_safetensors_open(canon, NULL);
        gboolean lora = st && rd_lora_tensors_look_like_lora(st);
        rd_safetensors_close(st);
        if (!lora)
            continue;
        ResditLoraInfo *info = g_new0(ResditLoraInfo, 1);
        info->name = resdit_lora_name(canon);
        info->path = g_strdup(canon);
        GStatBuf sb;
        info->size = g_stat(canon, &sb) == 0 ? (guint64)sb.st_size : 0;
        g_hash_table_add(seen, g_steal_pointer(&canon));
        g_ptr_array_add(out, info);
    }
}

static gint by_name(gconstpointer a, gconstpointer b)
{
    const ResditLoraInfo *x = *(ResditLoraInfo *const *)a, *y = *(ResditLoraInfo *const *)b;
    int c = g_utf8_collate(x->name, y->name);
    return c ? c : strcmp(x->path, y->path);
}

GPtrArray *resdit_loras_discover(const char *const *extra_dirs)
{
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)resdit_lora_info_free);
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GPtrArray) places = rd_places_find(extra_dirs);
    for (guint i = 0; i < places->len; i++) {
        const RdPlace *p = g_ptr_array_index(places, i);
        for (guint k = 0; k < p->loras->len; k++)
            scan_loras(g_ptr_array_index(p->loras, k), 0, seen, out);
    }
    g_ptr_array_sort(out, by_name);
    return out;
}
