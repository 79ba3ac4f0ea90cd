/* A job's row in the history, shared by the app and the command line: the engine's parameters as
 * the history records them, the model's fingerprint, and the row written at the job's start and
 * finished at its end. GLib only. */
#include "job-record.h"

#include <math.h>

#include "history-fingerprint.h"

#define THUMBNAIL_SIDE 256

static int compare_strings(gconstpointer a, gconstpointer b, gpointer data)
{
    return g_strcmp0(*(char *const *)a, *(char *const *)b);
}

/* A part is a file, or a folder whose *.safetensors files (sorted) hold it. */
static void add_weight_files(GPtrArray *files, const char *part)
{
    if (part == NULL)
        return;
    if (!g_file_test(part, G_FILE_TEST_IS_DIR)) {
        g_ptr_array_add(files, g_strdup(part));
        return;
    }
    GDir *dir = g_dir_open(part, 0, NULL);
    if (dir == NULL)
        return;
    guint first = files->len;
    for (const char *name; (name = g_dir_read_name(dir)) != NULL;)
        if (g_str_has_suffix(name, ".safetensors"))
            g_ptr_array_add(files, g_build_filename(part, name, NULL));
    g_dir_close(dir);
    g_qsort_with_data(files->pdata + first, (gint)(files->len - first), sizeof(gpointer),
                      compare_strings, NULL);
}

char *job_record_fingerprint(const ResditModelPaths *paths)
{
    GPtrArray *files = g_ptr_array_new_with_free_func(g_free);
    add_weight_files(files, paths->transformer);
    add_weight_files(files, paths->vae);
    add_weight_files(files, paths->clip_l);
    add_weight_files(files, paths->t5);
    g_ptr_array_add(files, NULL);
    char *fingerprint = history_model_fingerprint((const char *const *)files->pdata, NULL);
    g_ptr_array_unref(files);
    return fingerprint != NULL ? fingerprint : g_strdup("");
}

static HistoryShiftMode history_shift(ResditShiftMode mode)
{
    return mode == RESDIT_SHIFT_RESOLUTION ? HISTORY_SHIFT_RESOLUTION
           : mode == RESDIT_SHIFT_FIXED    ? HISTORY_SHIFT_FIXED
                                           : HISTORY_SHIFT_BASE;
}

static int default_steps_part(int steps, int of35)
{
    return (int)floor(steps * of35 / 35.0 + 0.5);
}

void job_record_params_to_history(const ResditJobParams *params, const char *model_name,
                                 const char *fingerprint, const char *backend, HistoryParams *out)
{
    history_params_init(out);
    g_free(out->prompt);
    out->prompt = g_strdup(params->prompt != NULL ? params->prompt : "");
    out->width = params->width;
    out->height = params->height;
    out->steps = params->steps;
    out->guidance = params->guidance;
    out->seed = params->seed;
    out->direct = !params->schedule && params->fixed_mode == RESDIT_MODE_DIRECT;
    out->global_steps =
        params->global_steps >= 0 ? params->global_steps : default_steps_part(params->steps, 10);
    out->local_steps =
        params->local_steps >= 0 ? params->local_steps : default_steps_part(params->steps, 15);
    out->base_rows = params->method.base_rows;
    out->base_cols = params->method.base_cols;
    out->base_area = params->method.base_area;
    out->patch = params->method.patch;
    out->sigma = params->method.sigma;
    out->cutoff = params->method.cutoff;
    out->no_pes = params->method.no_pes;
    out->no_pipe = params->method.no_pipe;
    out->no_psf = params->method.no_psf;
    out->no_overlap = params->method.no_overlap;
    out->uniform_weights = params->method.uniform_weights;
    out->shift_mode = history_shift(params->shift_mode);
    out->shift_mu = params->mu;
    out->lowfreq_noise = params->lowfreq_noise;
    g_free(out->backend);
    out->backend = g_strdup(backend);
    g_free(out->model_name);
    out->model_name = g_strdup(model_name);
    g_free(out->model_fingerprint);
    out->model_fingerprint = g_strdup(fingerprint);
    GString *loras = g_string_new(NULL);
    for (int i = 0; i < params->n_loras; i++) {
        char num[G_ASCII_DTOSTR_BUF_SIZE];
        g_string_append_printf(loras, "%s %d %s\n",
                               g_ascii_dtostr(num, sizeof num, params->loras[i].strength),
                               params->loras[i].enabled ? 1 : 0, params->loras[i].path);
    }
    g_free(out->loras);
    out->loras = g_string_free(loras, FALSE);
    /* the source of an image-to-image job, hashed as the job begins ("" when unreadable: the
     * job itself then fails with the reason) */
    g_free(out->init_image);
    g_free(out->init_sha256);
    out->init_image = g_strdup(params->init_image ? params->init_image : "");
    out->init_sha256 = NULL;
    g_autoptr(GMappedFile) source =
        params->init_image ? g_mapped_file_new(params->init_image, FALSE, NULL) : NULL;
    if (source)
        out->init_sha256 = g_compute_checksum_for_data(
            G_CHECKSUM_SHA256, (const guchar *)g_mapped_file_get_contents(source),
            g_mapped_file_get_length(source));
    if (!out->init_sha256)
        out->init_sha256 = g_strdup("");
    out->strength = params->init_image ? params->strength : 1.0;
}

void job_record_params_from_history(const HistoryParams *record, ResditJobParams *params)
{
    g_free(params->prompt);
    params->prompt = g_strdup(record->prompt != NULL ? record->prompt : "");
    params->width = record->width;
    params->height = record->height;
    params->steps = record->steps;
    params->guidance = record->guidance;
    params->seed = record->seed;
    params->random_seed = FALSE;
    params->schedule = !record->direct;
    params->fixed_mode = RESDIT_MODE_DIRECT;
    params->global_steps = record->global_steps;
    params->local_steps = record->local_steps;
    params->method.base_rows = record->base_rows;
    params->method.base_cols = record->base_cols;
    params->method.base_area = record->base_area;
    params->method.patch = record->patch;
    params->method.sigma = record->sigma;
    params->method.cutoff = record->cutoff;
    params->method.no_pes = record->no_pes;
    params->method.no_pipe = record->no_pipe;
    params->method.no_psf = record->no_psf;
    params->method.no_overlap = record->no_overlap;
    params->method.uniform_weights = record->uniform_weights;
    params->shift_mode = record->shift_mode == HISTORY_SHIFT_RESOLUTION ? RESDIT_SHIFT_RESOLUTION
                         : record->shift_mode == HISTORY_SHIFT_FIXED    ? RESDIT_SHIFT_FIXED
                                                                        : RESDIT_SHIFT_BASE;
    params->mu = record->shift_mu;
    params->lowfreq_noise = record->lowfreq_noise;
    resdit_job_params_set_init_image(params,
                                     record->init_image && *record->init_image ? record->init_image
                                                                               : NULL,
                                     record->strength);
    /* the LoRA lines; a damaged line is skipped */
    resdit_job_params_set_loras(params, NULL, 0);
    g_auto(GStrv) lines = g_strsplit(record->loras ? record->loras : "", "\n", -1);
    for (char **l = lines; *l; l++) {
        char *end = NULL;
        double strength = g_ascii_strtod(*l, &end);
        if (end == *l || end[0] != ' ' || (end[1] != '0' && end[1] != '1') || end[2] != ' ' ||
            !end[3] || !isfinite(strength))
            continue;
        resdit_job_params_add_lora(params, end + 3, strength, end[1] == '1');
    }
}

gint64 job_record_begin(HistoryStore *store, const ResditJobParams *params,
                        const ResditModel *model, const char *fingerprint, GError **error)
{
    HistoryParams record;
    job_record_params_to_history(params, resdit_model_name(model), fingerprint,
                                 resdit_model_backend_name(model), &record);
    gint64 id = history_store_begin(store, &record, HISTORY_STATUS_RUNNING, error);
    history_params_clear(&record);
    return MAX(id, 0);
}

gboolean job_record_finish(HistoryStore *store, gint64 id, const ResditImage *image,
                           const char *image_path, const GError *job_error, GError **error)
{
    HistoryOutcome outcome = {.status = HISTORY_STATUS_DONE};
    HistoryTiming timings[3];
    g_autoptr(GBytes) thumbnail = NULL;
    if (job_error != NULL) {
        gboolean cancelled = g_error_matches(job_error, RESDIT_ERROR, RESDIT_ERROR_CANCELLED);
        outcome.status = cancelled ? HISTORY_STATUS_CANCELLED : HISTORY_STATUS_FAILED;
        outcome.error_message = cancelled ? NULL : job_error->message;
    }
    if (image != NULL) {
        timings[0] = (HistoryTiming){"text encoding", image->seconds_encoding};
        timings[1] = (HistoryTiming){"denoising", image->seconds_sampling};
        timings[2] = (HistoryTiming){"vae decode", image->seconds_decoding};
        outcome.timings = timings;
        outcome.n_timings = 3;
        outcome.peak_host_bytes = (gint64)image->peak_bytes;
    }
    if (image != NULL && image_path != NULL) {
        outcome.image_path = image_path;
        thumbnail = resdit_image_thumbnail_png(image, THUMBNAIL_SIDE, NULL);
        outcome.thumbnail_png = thumbnail;
    }
    return history_store_finish(store, id, &outcome, error);
}
