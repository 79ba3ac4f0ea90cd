/* resdit_generate and the model constructors that bring the text encoders in. */
#include <glib/gstdio.h>
#include <string.h>

#include "pipeline-private.h"
#include "sd3_model.h"
#include "sd3_text.h"
#include "selftest_model.h"
#include "text_encoders.h"

static void free_text(gpointer text)
{
    rd_text_encoders_free(text);
}

/* Checks that the encoders produce what the transformer takes. */
static gboolean check_text_dims(const ResditModel *m, GError **error)
{
    const RdDenoiserInfo *info = rd_denoiser_info(m->denoiser);
    int txt = rd_text_encoders_txt_dim(m->text), vec = rd_text_encoders_vec_dim(m->text);
    if (txt == info->txt_dim && vec == info->vec_dim)
        return TRUE;
    g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                "The text encoders give %d (T5) and %d (CLIP) features but the transformer takes "
                "%d and %d: they belong to another model",
                txt, vec, info->txt_dim, info->vec_dim);
    return FALSE;
}

static guint64 file_bytes(const char *path)
{
    if (!path)
        return 0;
    if (!g_file_test(path, G_FILE_TEST_IS_DIR)) {
        GStatBuf st;
        return g_stat(path, &st) == 0 ? (guint64)st.st_size : 0;
    }
    guint64 total = 0;
    g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d)))
        if (g_str_has_suffix(name, ".safetensors")) {
            g_autofree char *child = g_build_filename(path, name, NULL);
            total += file_bytes(child);
        }
    return total;
}

/* The transformer, the VAE with the model's latent constants, and the backends. */
typedef struct {
    RdBackend *be, *vae_be_extra;
    RdDenoiser *denoiser;
    RdVae *vae;
} OpenedParts;

static void opened_parts_clear(OpenedParts *o)
{
    rd_vae_free(o->vae);
    rd_denoiser_free(o->denoiser);
    if (o->vae_be_extra)
        rd_backend_free(o->vae_be_extra);
    if (o->be)
        rd_backend_free(o->be);
}

static gboolean open_parts(const ResditModelPaths *paths, ResditBackendChoice backend,
                           OpenedParts *o, GError **error)
{
    memset(o, 0, sizeof *o);
    o->be = rd_backend_for_choice(backend, error);
    if (!o->be)
        return FALSE;
    RdBackend *vae_be = rd_vae_backend_for(o->be, &o->vae_be_extra);
    o->denoiser = rd_denoiser_load(paths->transformer, NULL, o->be, error);
    const RdDenoiserInfo *info = o->denoiser ? rd_denoiser_info(o->denoiser) : NULL;
    o->vae = info
                 ? rd_vae_load_scaled(paths->vae, info->vae_scaling, info->vae_shift, vae_be, error)
                 : NULL;
    if (o->vae)
        return TRUE;
    opened_parts_clear(o);
    return FALSE;
}

/* SD3's encoders from the paths discovery or the flags give (files, component folders or a
 * checkpoint that bundles them); T5 only when named (SD3 runs without it). The root is a
 * fallback for a caller that names neither CLIP (resdit_model_open has refused that already). */
static RdSd3Text *sd3_text_open(const ResditModelPaths *paths, const RdDenoiserInfo *info,
                                RdBackend *be, GError **error)
{
    const char *root = paths->root ? paths->root : paths->transformer;
    RdSd3TextSources src = {
        .root = paths->clip_l && paths->clip_g ? NULL : root,
        .clip_l = paths->clip_l,
        .clip_g = paths->clip_g,
        .t5 = paths->t5,
        .clip_l_tokenizer = paths->clip_tokenizer,
        .t5_tokenizer = paths->t5_tokenizer,
        .joint_dim = info->txt_dim,
    };
    RdSd3Text *text = rd_sd3_text_load(&src, be, error);
    if (text && (rd_sd3_text_txt_dim(text) != info->txt_dim ||
                 rd_sd3_text_vec_dim(text) != info->vec_dim)) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                    "The text encoders give %d (joint) and %d (pooled) features but the SD3 "
                    "transformer takes %d and %d: they belong to another model",
                    rd_sd3_text_txt_dim(text), rd_sd3_text_vec_dim(text), info->txt_dim,
                    info->vec_dim);
        g_clear_pointer(&text, rd_sd3_text_free);
    }
    return text;
}

/* The text encoders' files, each once; a checkpoint that also holds the transformer counts with
 * the transformer. */
static guint64 text_bytes(const ResditModelPaths *p)
{
    const char *parts[] = {p->clip_l, p->clip_g, p->t5};
    guint64 total = 0;
    for (size_t i = 0; i < G_N_ELEMENTS(parts); i++) {
        gboolean seen = !parts[i] || g_strcmp0(parts[i], p->transformer) == 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = g_strcmp0(parts[i], parts[j]) == 0;
        if (!seen)
            total += file_bytes(parts[i]);
    }
    return total;
}

ResditModel *resdit_model_open(const ResditModelPaths *given, ResditBackendChoice backend,
                               GError **error)
{
    ResditModelPaths *paths = resdit_model_paths_copy(given);
    /* files given by hand: the family from the transformer's tensors */
    if (paths->transformer && sd3_weights_recognise(paths->transformer))
        paths->family = RESDIT_FAMILY_SD3;
    const gboolean sd3 = paths->family == RESDIT_FAMILY_SD3;
    g_autofree char *missing = resdit_model_paths_missing(paths);
    gboolean all_parts = paths->transformer && paths->vae && paths->clip_l &&
                         (sd3 ? paths->clip_g != NULL : paths->t5 != NULL);
    if (missing && !all_parts) { /* a missing tokenizer: the text encoder says what and where */
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                    "The %s model %s is incomplete: %s missing (give them with --transformer, "
                    "--vae, --clip-l, %s--t5)",
                    resdit_model_family_name(paths->family), paths->name ? paths->name : "",
                    missing, sd3 ? "--clip-g, " : "");
        resdit_model_paths_free(paths);
        return NULL;
    }
    OpenedParts o;
    if (!open_parts(paths, backend, &o, error)) {
        resdit_model_paths_free(paths);
        return NULL;
    }
    const RdDenoiserInfo *info = rd_denoiser_info(o.denoiser);
    RdTextEncoders *text = NULL;
    RdSd3Text *sd3_text = NULL;
    if (info->family == RD_DENOISER_SD3)
        sd3_text = sd3_text_open(paths, info, o.be, error);
    else
        text = rd_text_encoders_load(paths->clip_l, paths->t5, paths->clip_tokenizer,
                                     paths->t5_tokenizer, o.be, error);
    if (!text && !sd3_text) {
        opened_parts_clear(&o);
        resdit_model_paths_free(paths);
        return NULL;
    }
    ResditModel *m = rd_model_new(paths->name ? paths->name : info->family_name, o.be, o.denoiser,
                                  o.vae, text, text ? free_text : NULL);
    m->sd3_text = sd3_text;
    m->vae_be = o.vae_be_extra;
    m->paths = paths;
    m->text_weight_bytes = text_bytes(m->paths);
    ResditJobParams probe;
    resdit_job_params_init(&probe);
    gboolean ok = rd_model_read_settings(m, m->paths->root, error) &&
                  (sd3_text || check_text_dims(m, error)) && rd_job_params_check(m, &probe, error);
    resdit_job_params_clear(&probe);
    if (!ok) {
        resdit_model_free(m);
        return NULL;
    }
    return m;
}

ResditModel *resdit_model_open_selftest(ResditBackendChoice backend, GError **error)
{
    RdBackend *be = rd_backend_for_choice(backend, error);
    ResditModel *m = be ? rd_selftest_model_new(be, error) : NULL;
    if (!m)
        return NULL;
    m->text = rd_selftest_text_encoders(m, error);
    m->text_free = free_text;
    if (!m->text || !check_text_dims(m, error)) {
        resdit_model_free(m);
        return NULL;
    }
    return m;
}

gboolean resdit_model_count_tokens(ResditModel *model, const char *prompt, ResditTokenCount *count,
                                   GError **error)
{
    if (!model->text && !model->sd3_text) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL, "The model %s has no text encoders",
                    model->name);
        return FALSE;
    }
    if (!g_mutex_trylock(&model->text_lock)) {
        g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_BUSY,
                            "A job is encoding its prompt; count again later");
        return FALSE;
    }
    gboolean ok = model->sd3_text ? rd_sd3_text_count_tokens(model->sd3_text, prompt ? prompt : "",
                                                             &count->clip, &count->t5, error)
                                  : rd_text_encoders_count_tokens(model->text, prompt ? prompt : "",
                                                                  &count->clip, &count->t5, error);
    g_mutex_unlock(&model->text_lock);
    count->clip_limit = model->sd3_text ? rd_sd3_text_clip_length(model->sd3_text)
                                        : rd_text_encoders_clip_length(model->text);
    count->t5_limit = model->default_t5_len;
    return ok;
}

/* Peak resident memory of the job: the kernel's high-water mark, reset at the start
 * (/proc/self/clear_refs "5"); where that is not allowed, the process's peak. */
static void reset_peak_rss(void)
{
    g_file_set_contents("/proc/self/clear_refs", "5", 1, NULL);
}

static guint64 peak_rss(void)
{
    g_autofree char *text = NULL;
    if (!g_file_get_contents("/proc/self/status", &text, NULL, NULL))
        return 0;
    const char *line = strstr(text, "VmHWM:");
    return line ? g_ascii_strtoull(line + 6, NULL, 10) * 1024 : 0;
}

/* SD3's conditioning: the prompt's and, under classifier-free guidance, the negative prompt's
 * joint and pooled embeddings (rd_pipeline_run runs the two passes). */
static gboolean encode_sd3(ResditModel *model, const ResditJobParams *params, int t5_len,
                           RdConditioning *cond, size_t *peak, GCancellable *cancellable,
                           GError **error)
{
    const gboolean cfg = params->guidance > 1.0; /* diffusers' do_classifier_free_guidance */
    float *txt = NULL, *vec = NULL, *neg_txt = NULL, *neg_vec = NULL;
    RdSd3TextInfo info = {0};
    g_mutex_lock(&model->text_lock);
    gboolean ok = rd_sd3_text_encode(
        model->sd3_text, params->prompt ? params->prompt : "", params->negative_prompt, t5_len,
        &txt, &vec, cfg ? &neg_txt : NULL, cfg ? &neg_vec : NULL, &info, cancellable, error);
    const int rows = rd_sd3_text_txt_rows(model->sd3_text, t5_len);
    g_mutex_unlock(&model->text_lock);
    *peak = info.peak_bytes;
    if (!ok)
        return FALSE;
    cond->txt = txt;
    cond->vec = vec;
    cond->txt_len = rows;
    cond->neg_txt = neg_txt;
    cond->neg_vec = neg_vec;
    cond->neg_txt_len = cfg ? rows : 0;
    return TRUE;
}

static gboolean encode_flux(ResditModel *model, const ResditJobParams *params, int t5_len,
                            RdConditioning *cond, size_t *peak, GCancellable *cancellable,
                            GError **error)
{
    float *txt = NULL, *vec = NULL, *neg_txt = NULL, *neg_vec = NULL;
    RdTextEncodeInfo info = {0}, neg_info = {0};
    /* A FLUX model trained with dropped captions guides against the negative prompt (empty by
     * default) at a scale above 1, as SD3 does. */
    const gboolean cfg = resdit_model_uses_cfg(model) && params->guidance > 1.0;
    /* The T5 weights are the largest after the transformer's: let them go until the next job
     * (the self-test model's live in memory files that cannot be mapped again). */
    const gboolean release = !model->selftest;
    g_mutex_lock(&model->text_lock);
    gboolean ok = rd_text_encode(model->text, params->prompt ? params->prompt : "", t5_len,
                                 release && !cfg, &txt, &vec, &info, cancellable, error);
    if (ok && cfg)
        ok = rd_text_encode(model->text, params->negative_prompt ? params->negative_prompt : "",
                            t5_len, release, &neg_txt, &neg_vec, &neg_info, cancellable, error);
    g_mutex_unlock(&model->text_lock);
    *peak = MAX(info.peak_bytes, neg_info.peak_bytes);
    cond->txt = txt;
    cond->vec = vec;
    cond->txt_len = t5_len;
    cond->neg_txt = neg_txt;
    cond->neg_vec = neg_vec;
    cond->neg_txt_len = cfg ? t5_len : 0;
    return ok;
}

static void conditioning_free(RdConditioning *cond)
{
    g_free((float *)cond->txt);
    g_free((float *)cond->vec);
    g_free((float *)cond->neg_txt);
    g_free((float *)cond->neg_vec);
}

ResditImage *resdit_generate(ResditModel *model, const ResditJobParams *params,
                             const ResditCallbacks *callbacks, GCancellable *cancellable,
                             GError **error)
{
    ResditMemoryEstimate estimate;
    if (!resdit_estimate_memory(model, params, &estimate, error))
        return NULL;
    if (!model->text && !model->sd3_text) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL, "The model %s has no text encoders",
                    model->name);
        return NULL;
    }
    /* the job's LoRAs, merged before the text encoders run (CLIP-L parts) */
    if (!resdit_model_set_loras(model, params->loras, params->n_loras, error))
        return NULL;
    reset_peak_rss();
    rd_backend_check(model->be, NULL); /* a failure left by an earlier job is not this job's */
    /* the transformer's weights as the memory plan wants them while T5 runs */
    if (!rd_model_place_weights(model, params, TRUE, error))
        return NULL;
    gint64 start = g_get_monotonic_time();
    if (callbacks && callbacks->progress) {
        ResditProgress pr = {0, params->steps, RESDIT_PHASE_ENCODING, 0, -1};
        callbacks->progress(&pr, callbacks->user_data);
    }
    const int t5_len = params->t5_len > 0 ? params->t5_len : model->default_t5_len;
    RdConditioning cond = {0};
    size_t text_peak = 0;
    gboolean encoded =
        model->sd3_text ? encode_sd3(model, params, t5_len, &cond, &text_peak, cancellable, error)
                        : encode_flux(model, params, t5_len, &cond, &text_peak, cancellable, error);
    encoded = encoded && rd_backend_check(model->be, error);
    /* the T5 weights were released: give their memory back before the transformer's work */
    rd_backend_trim(model->be);
    encoded = encoded && rd_model_place_weights(model, params, FALSE, error);
    if (!encoded) {
        conditioning_free(&cond);
        return NULL;
    }
    cond.encode_seconds = (g_get_monotonic_time() - start) / 1e6;
    ResditImage *image = rd_pipeline_run(model, params, &cond, callbacks, NULL, cancellable, error);
    conditioning_free(&cond);
    /* activations stay cached in the backend's pool during a job; none between jobs */
    rd_backend_trim(model->be);
    if (model->vae_be)
        rd_backend_trim(model->vae_be);
    if (image)
        image->peak_bytes = MAX(peak_rss(), (guint64)text_peak);
    return image;
}
