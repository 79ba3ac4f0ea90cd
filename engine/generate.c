/* resdit_generate and the model constructors that bring the text encoders in. */
#include <glib/gstdio.h>
#include <string.h>

#include "pipeline-private.h"
#include "sd3_model.h"
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

ResditModel *resdit_model_open(const ResditModelPaths *paths, ResditBackendChoice backend,
                               GError **error)
{
    if (paths->transformer && sd3_weights_recognise(paths->transformer)) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                    "%s is an SD3 transformer: generating with SD3 is not supported yet (resdit "
                    "forward runs it); choose a FLUX model",
                    paths->transformer);
        return NULL;
    }
    if (paths->family == RESDIT_FAMILY_SD3) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                    "%s is an SD3 model: `resdit forward` runs its transformer, but generating "
                    "images with SD3 is not supported in this version yet; choose a FLUX model",
                    paths->name ? paths->name : paths->transformer);
        return NULL;
    }
    g_autofree char *missing = resdit_model_paths_missing(paths);
    gboolean all_parts = paths->transformer && paths->vae && paths->clip_l && paths->t5;
    if (missing && !all_parts) { /* a missing tokenizer: the text encoder says what and where */
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                    "The model %s is incomplete: %s missing (give them with --transformer, "
                    "--vae, --clip-l, --t5)",
                    paths->name ? paths->name : "", missing);
        return NULL;
    }
    RdBackend *be = rd_backend_for_choice(backend, error);
    if (!be)
        return NULL;
    RdBackend *vae_be_extra = NULL;
    RdBackend *vae_be = rd_vae_backend_for(be, &vae_be_extra);
    RdDenoiser *denoiser = rd_denoiser_load(paths->transformer, NULL, be, error);
    const RdDenoiserInfo *info = denoiser ? rd_denoiser_info(denoiser) : NULL;
    RdVae *vae = info ? rd_vae_load_scaled(paths->vae, info->vae_scaling, info->vae_shift, vae_be,
                                           error)
                      : NULL;
    RdTextEncoders *text = vae ? rd_text_encoders_load(paths->clip_l, paths->t5, paths->clip_tokenizer,
                                                    paths->t5_tokenizer, be, error) : NULL;
    if (!text) {
        rd_vae_free(vae);
        rd_denoiser_free(denoiser);
        if (vae_be_extra)
            rd_backend_free(vae_be_extra);
        rd_backend_free(be);
        return NULL;
    }
    ResditModel *m =
        rd_model_new(paths->name ? paths->name : "FLUX.1", be, denoiser, vae, text, free_text);
    m->vae_be = vae_be_extra;
    m->paths = resdit_model_paths_copy(paths);
    m->text_weight_bytes = file_bytes(paths->clip_l) + file_bytes(paths->t5);
    ResditJobParams probe;
    resdit_job_params_init(&probe);
    gboolean ok = rd_model_read_settings(m, paths->root, error) && check_text_dims(m, error) &&
                  rd_job_params_check(m, &probe, error);
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
    if (!model->text) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL, "The model %s has no text encoders",
                    model->name);
        return FALSE;
    }
    if (!g_mutex_trylock(&model->text_lock)) {
        g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_BUSY,
                            "A job is encoding its prompt; count again later");
        return FALSE;
    }
    gboolean ok = rd_text_encoders_count_tokens(model->text, prompt ? prompt : "", &count->clip,
                                                &count->t5, error);
    g_mutex_unlock(&model->text_lock);
    count->clip_limit = rd_text_encoders_clip_length(model->text);
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

ResditImage *resdit_generate(ResditModel *model, const ResditJobParams *params,
                             const ResditCallbacks *callbacks, GCancellable *cancellable,
                             GError **error)
{
    ResditMemoryEstimate estimate;
    if (!resdit_estimate_memory(model, params, &estimate, error))
        return NULL;
    if (!model->text) {
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
    float *txt = NULL, *vec = NULL;
    RdTextEncodeInfo info = {0};
    /* The T5 weights are the largest after the transformer's: let them go until the next job
     * (the self-test model's live in memory files that cannot be mapped again). */
    g_mutex_lock(&model->text_lock);
    gboolean encoded = rd_text_encode(model->text, params->prompt ? params->prompt : "", t5_len,
                                      !model->selftest, &txt, &vec, &info, cancellable, error);
    g_mutex_unlock(&model->text_lock);
    encoded = encoded && rd_backend_check(model->be, error);
    /* the T5 weights were released: give their memory back before the transformer's work */
    rd_backend_trim(model->be);
    encoded = encoded && rd_model_place_weights(model, params, FALSE, error);
    if (!encoded) {
        g_free(txt);
        g_free(vec);
        return NULL;
    }
    RdConditioning cond = {txt, vec, t5_len, NULL, (g_get_monotonic_time() - start) / 1e6};
    ResditImage *image = rd_pipeline_run(model, params, &cond, callbacks, NULL, cancellable, error);
    g_free(txt);
    g_free(vec);
    /* activations stay cached in the backend's pool during a job; none between jobs */
    rd_backend_trim(model->be);
    if (model->vae_be)
        rd_backend_trim(model->vae_be);
    if (image)
        image->peak_bytes = MAX(peak_rss(), (guint64)info.peak_bytes);
    return image;
}
