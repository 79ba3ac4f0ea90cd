/* Conversions between job settings, engine job parameters and history records. */
#include "rs-engine-params.h"

#include <math.h>

#include "rs-size.h"

static ResditShiftMode shift_mode_of(const char *name)
{
    ResditShiftMode mode = RESDIT_SHIFT_BASE;
    resdit_shift_mode_from_name(name, &mode);
    return mode;
}

void rs_engine_params_from_settings(RsJobSettings *job, const ResditModel *model,
                                    ResditJobParams *params)
{
    gboolean selftest = model != NULL && resdit_model_is_selftest(model);
    if (model != NULL)
        resdit_model_job_defaults(model, params);

    char *prompt = NULL, *shift = NULL;
    int base_size = 1024, patch = 64;
    gboolean random_seed = TRUE;
    guint seed = 0;
    g_object_get(job, "prompt", &prompt, "steps", &params->steps, "guidance", &params->guidance,
                 "random-seed", &random_seed, "seed", &seed, "global-steps", &params->global_steps,
                 "local-steps", &params->local_steps, "cutoff", &params->method.cutoff, "sigma",
                 &params->method.sigma, "patch", &patch, "base-size", &base_size, "shift-mode",
                 &shift, "shift-mu", &params->mu, "no-pes", &params->method.no_pes, "no-pipe",
                 &params->method.no_pipe, "no-psf", &params->method.no_psf, "no-overlap",
                 &params->method.no_overlap, "uniform-weights", &params->method.uniform_weights,
                 "inspect-branches", &params->inspect_branches, NULL);
    g_free(params->prompt);
    params->prompt = prompt;
    params->width = rs_job_settings_get_width(job);
    params->height = rs_job_settings_get_height(job);
    params->seed = random_seed ? g_random_int() : seed;
    params->random_seed = FALSE;
    params->schedule = TRUE;
    params->shift_mode = shift_mode_of(shift);
    g_free(shift);
    if (!selftest) {
        int side = base_size / 16;
        params->method.base_area = side * side;
        params->method.base_rows = params->method.base_cols = 0;
        params->method.patch = patch;
    }
}

static void set_size(RsJobSettings *job, int width, int height)
{
    int n_aspects = 0, n_sizes = 0;
    const RsAspectPreset *aspects = rs_aspect_presets(&n_aspects);
    const RsSizePreset *sizes = rs_size_presets(&n_sizes);
    for (int a = 0; a < n_aspects; a++) {
        for (int s = 0; s < n_sizes; s++) {
            int w, h;
            rs_size_for_aspect(aspects[a].w, aspects[a].h, sizes[s].long_side, &w, &h);
            if (w == width && h == height) {
                g_object_set(job, "aspect", aspects[a].id, "size-preset", sizes[s].id, NULL);
                return;
            }
        }
    }
    g_object_set(job, "custom-width", CLAMP(width, 256, 8192), "custom-height",
                 CLAMP(height, 256, 8192), "aspect", "custom", NULL);
}

gboolean rs_engine_params_apply(RsJobSettings *job, const ResditJobParams *params)
{
    g_object_freeze_notify(G_OBJECT(job));
    set_size(job, params->width, params->height);
    /* Steps first: the schedule is checked against them. */
    g_object_set(job, "prompt", params->prompt != NULL ? params->prompt : "", "steps",
                 params->steps, "guidance", params->guidance, NULL);
    if (params->global_steps >= 0 && params->local_steps >= 0) {
        g_object_set(job, "global-steps", 0, "local-steps", 0, NULL);
        g_object_set(job, "global-steps", params->global_steps, "local-steps", params->local_steps,
                     NULL);
    }
    gboolean seed_fits = params->seed <= G_MAXUINT32;
    if (seed_fits)
        g_object_set(job, "seed", (guint)params->seed, "random-seed", FALSE, NULL);
    g_object_set(job, "cutoff", params->method.cutoff, "sigma", MAX(params->method.sigma, 0.0),
                 "shift-mode", resdit_shift_mode_name(params->shift_mode), "shift-mu", params->mu,
                 "no-pes", params->method.no_pes, "no-pipe", params->method.no_pipe, "no-psf",
                 params->method.no_psf, "no-overlap", params->method.no_overlap, "uniform-weights",
                 params->method.uniform_weights, "inspect-branches", params->inspect_branches,
                 NULL);
    /* FLUX-sized grids only: the self-test model's tiny grid has no control. */
    if (params->method.patch >= 16)
        g_object_set(job, "patch", params->method.patch, NULL);
    int base_tokens = params->method.base_rows > 0
                          ? MAX(params->method.base_rows, params->method.base_cols)
                          : (int)lround(sqrt(params->method.base_area));
    if (base_tokens * 16 >= 256)
        g_object_set(job, "base-size", base_tokens * 16, NULL);
    g_object_thaw_notify(G_OBJECT(job));
    return seed_fits;
}

gboolean rs_engine_params_apply_a1111(RsJobSettings *job, const RsA1111Params *record)
{
    g_object_freeze_notify(G_OBJECT(job));
    g_object_set(job, "prompt", record->prompt, NULL);
    if (record->has_size)
        set_size(job, rs_size_snap(record->width), rs_size_snap(record->height));
    if (record->has_steps)
        g_object_set(job, "steps", MIN(record->steps, 200), NULL);
    if (record->has_guidance)
        g_object_set(job, "guidance", CLAMP(record->guidance, 0.0, 20.0), NULL);
    gboolean seed_fits = !record->has_seed || record->seed <= G_MAXUINT32;
    if (record->has_seed && seed_fits)
        g_object_set(job, "seed", (guint)record->seed, "random-seed", FALSE, NULL);
    g_object_thaw_notify(G_OBJECT(job));
    return seed_fits;
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

void rs_engine_params_to_history(const ResditJobParams *params, const char *model_name,
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
    g_free(out->backend);
    out->backend = g_strdup(backend);
    g_free(out->model_name);
    out->model_name = g_strdup(model_name);
    g_free(out->model_fingerprint);
    out->model_fingerprint = g_strdup(fingerprint);
}

void rs_engine_params_from_history(const HistoryParams *record, ResditJobParams *params)
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
}
