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

static void loras_from_settings(RsJobSettings *job, ResditJobParams *params)
{
    g_autoptr(GVariant) loras = NULL;
    g_object_get(job, "loras", &loras, NULL);
    resdit_job_params_set_loras(params, NULL, 0);
    GVariantIter iter;
    const char *path;
    double strength;
    gboolean enabled;
    g_variant_iter_init(&iter, loras);
    while (g_variant_iter_next(&iter, "(&sdb)", &path, &strength, &enabled))
        resdit_job_params_add_lora(params, path, strength, enabled);
}

static GVariant *loras_to_variant(const ResditJobParams *params)
{
    GVariantBuilder b;
    g_variant_builder_init(&b, G_VARIANT_TYPE("a(sdb)"));
    for (int i = 0; i < params->n_loras; i++)
        g_variant_builder_add(&b, "(sdb)", params->loras[i].path, params->loras[i].strength,
                              params->loras[i].enabled);
    return g_variant_builder_end(&b);
}

void rs_engine_params_from_settings(RsJobSettings *job, const ResditModel *model,
                                    ResditJobParams *params)
{
    gboolean selftest = model != NULL && resdit_model_is_selftest(model);
    if (model != NULL)
        resdit_model_job_defaults(model, params);

    char *prompt = NULL, *negative = NULL, *shift = NULL;
    int base_size = 1024, patch = 64;
    gboolean random_seed = TRUE;
    guint seed = 0;
    g_object_get(job, "prompt", &prompt, "negative-prompt", &negative, "steps", &params->steps,
                 "guidance", &params->guidance, "random-seed", &random_seed, "seed", &seed,
                 "global-steps", &params->global_steps, "local-steps", &params->local_steps,
                 "cutoff", &params->method.cutoff, "sigma", &params->method.sigma, "patch", &patch,
                 "base-size", &base_size, "shift-mode", &shift, "shift-mu", &params->mu,
                 "lowfreq-noise", &params->lowfreq_noise, "no-pes",
                 &params->method.no_pes, "no-pipe", &params->method.no_pipe, "no-psf",
                 &params->method.no_psf, "no-overlap", &params->method.no_overlap,
                 "uniform-weights", &params->method.uniform_weights, "inspect-branches",
                 &params->inspect_branches, NULL);
    g_free(params->prompt);
    params->prompt = prompt;
    g_free(params->negative_prompt);
    params->negative_prompt = negative;
    params->width = rs_job_settings_get_width(job);
    params->height = rs_job_settings_get_height(job);
    params->seed = random_seed ? g_random_int() : seed;
    params->random_seed = FALSE;
    params->schedule = TRUE;
    params->shift_mode = shift_mode_of(shift);
    g_free(shift);
    loras_from_settings(job, params);
    double strength = 1;
    g_object_get(job, "strength", &strength, NULL);
    const char *init_image = rs_job_settings_get_init_image(job);
    resdit_job_params_set_init_image(params, init_image, init_image != NULL ? strength : 1.0);
    if (!selftest) {
        int side = base_size / 16;
        params->method.base_area = side * side;
        params->method.base_rows = params->method.base_cols = 0;
        params->method.patch = patch;
    }
}

const char *rs_default_size_preset(const ResditModel *model)
{
    if (resdit_model_is_selftest(model) || g_strcmp0(resdit_model_backend_name(model), "cpu") == 0)
        return "512";
    ResditJobParams params;
    resdit_job_params_init(&params);
    resdit_model_job_defaults(model, &params);
    int base_side = params.method.base_rows > 0
                        ? MAX(params.method.base_rows, params.method.base_cols) * 16
                        : (int)lround(sqrt(params.method.base_area)) * 16;
    resdit_job_params_clear(&params);
    /* The largest preset up to four times the base side, at least the smallest one. */
    int count;
    const RsSizePreset *presets = rs_size_presets(&count);
    const char *id = presets[0].id;
    for (int i = 0; i < count; i++)
        if (presets[i].long_side <= 4 * base_side)
            id = presets[i].id;
    return id;
}

void rs_default_steps(const ResditModel *model, int *steps, int *global_steps, int *local_steps)
{
    ResditJobParams params;
    resdit_job_params_init(&params);
    resdit_model_job_defaults(model, &params);
    *steps = MAX(params.steps, 1);
    resdit_job_params_clear(&params);
    *global_steps = (int)lround(*steps * 10.0 / 35.0);
    *local_steps = MIN((int)lround(*steps * 15.0 / 35.0), *steps - *global_steps);
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
    /* Custom first: switching to it starts from the size on show. */
    g_object_set(job, "aspect", "custom", "custom-width", CLAMP(width, 256, 8192),
                 "custom-height", CLAMP(height, 256, 8192), NULL);
}

gboolean rs_engine_params_apply(RsJobSettings *job, const ResditJobParams *params)
{
    g_object_freeze_notify(G_OBJECT(job));
    set_size(job, params->width, params->height);
    /* Steps first: the schedule is checked against them. */
    g_object_set(job, "prompt", params->prompt != NULL ? params->prompt : "", "negative-prompt",
                 params->negative_prompt != NULL ? params->negative_prompt : "", "steps",
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
                 "lowfreq-noise", params->lowfreq_noise,
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
    g_object_set(job, "loras", loras_to_variant(params), NULL);
    /* An image-to-image job comes back with its source; a text-to-image one without any. */
    g_object_set(job, "init-image", params->init_image != NULL ? params->init_image : "", NULL);
    if (params->init_image != NULL)
        g_object_set(job, "strength", CLAMP(params->strength, 0.0, 1.0), NULL);
    g_object_thaw_notify(G_OBJECT(job));
    return seed_fits;
}

void rs_engine_params_adopt_model(RsJobSettings *job, const ResditModel *model)
{
    if (resdit_model_is_selftest(model))
        return;
    int base = resdit_model_base_size(model), current = 0;
    char *prompt = NULL;
    g_object_get(job, "base-size", &current, "prompt", &prompt, NULL);
    g_object_freeze_notify(G_OBJECT(job));
    if (current != base && base == 1024) {
        /* Back to a FLUX model: the panel's own defaults (4K, 35 steps, base 1024, patch 64). */
        static const char *const names[] = {"global-steps", "local-steps", "steps", "base-size",
                                            "patch", "aspect", "size-preset", "custom-width",
                                            "custom-height"};
        g_object_set(job, "global-steps", 0, "local-steps", 0, NULL);
        for (size_t i = 2; i < G_N_ELEMENTS(names) + 2; i++) {
            const char *name = names[i % G_N_ELEMENTS(names)]; /* G and L last */
            GParamSpec *spec = g_object_class_find_property(G_OBJECT_GET_CLASS(job), name);
            g_object_set_property(G_OBJECT(job), name, g_param_spec_get_default_value(spec));
        }
    } else if (current != base && base >= 256 && base <= 2048) {
        ResditJobParams p;
        resdit_job_params_init(&p);
        resdit_model_job_defaults(model, &p);
        set_size(job, p.width, p.height);
        /* Steps first (with G = L = 0 so any step count is valid), then the scaled schedule. */
        int g = (int)floor(p.steps * 10.0 / 35.0 + 0.5), l = (int)floor(p.steps * 15.0 / 35.0 + 0.5);
        g_object_set(job, "global-steps", 0, "local-steps", 0, NULL);
        g_object_set(job, "steps", CLAMP(p.steps, 1, 200), "base-size", base, "patch",
                     CLAMP(p.method.patch, 16, 256), NULL);
        g_object_set(job, "global-steps", g, "local-steps", l, NULL);
        resdit_job_params_clear(&p);
    }
    const char *suggested = resdit_model_default_prompt(model);
    if (suggested != NULL && (prompt == NULL || *prompt == '\0'))
        g_object_set(job, "prompt", suggested, NULL);
    g_object_thaw_notify(G_OBJECT(job));
    g_free(prompt);
}

gboolean rs_engine_params_apply_a1111(RsJobSettings *job, const RsA1111Params *record)
{
    g_object_freeze_notify(G_OBJECT(job));
    g_object_set(job, "prompt", record->prompt, "negative-prompt",
                 record->negative_prompt != NULL ? record->negative_prompt : "", NULL);
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
