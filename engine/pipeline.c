/* The generation job: initial noise, flow-matching Euler steps with the ResDiT schedule picking
 * each step's attention mode, previews, VAE decode. */
#include <math.h>
#include <string.h>

#include "image_load.h"
#include "lora.h"
#include "noise.h"
#include "pipeline-private.h"
#include "flow_match.h"
#include "noise_lowfreq.h"
#include "schedule.h"

#define ETA_SMOOTHING 0.3 /* weight of the newest step in the moving average of step times */

void rd_patchify(const float *latent, int channels, int height, int width, float *tokens)
{
    const int R = height / 2, C = width / 2;
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++)
            for (int ch = 0; ch < channels; ch++)
                for (int py = 0; py < 2; py++)
                    for (int px = 0; px < 2; px++)
                        tokens[((size_t)r * C + c) * channels * 4 + ch * 4 + py * 2 + px] =
                            latent[((size_t)ch * height + 2 * r + py) * width + 2 * c + px];
}

void rd_unpatchify(const float *tokens, int channels, int height, int width, float *latent)
{
    const int R = height / 2, C = width / 2;
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++)
            for (int ch = 0; ch < channels; ch++)
                for (int py = 0; py < 2; py++)
                    for (int px = 0; px < 2; px++)
                        latent[((size_t)ch * height + 2 * r + py) * width + 2 * c + px] =
                            tokens[((size_t)r * C + c) * channels * 4 + ch * 4 + py * 2 + px];
}

static gboolean invalid(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static gboolean invalid(GError **error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error_literal(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT, msg);
    return FALSE;
}

gboolean rd_job_params_check(const ResditModel *model, const ResditJobParams *p, GError **error)
{
    if (p->width < 16 || p->height < 16 || p->width % 16 || p->height % 16)
        return invalid(error,
                       "The size %dx%d is not a multiple of 16 pixels (at least 16); FLUX "
                       "works on 16-pixel patches: try %dx%d",
                       p->width, p->height, MAX(16, (p->width + 8) / 16 * 16),
                       MAX(16, (p->height + 8) / 16 * 16));
    if (p->width > 16384 || p->height > 16384)
        return invalid(error, "The size %dx%d is above the 16384-pixel limit per side", p->width,
                       p->height);
    if (p->steps < 1 || p->steps > 1000)
        return invalid(error, "Steps must be between 1 and 1000 (got %d)", p->steps);
    if (!isfinite(p->guidance) || p->guidance < 0 || p->guidance > 100)
        return invalid(error, "Guidance must be between 0 and 100 (got %g)", p->guidance);
    if (p->shift_mode == RESDIT_SHIFT_FIXED && (!isfinite(p->mu) || fabs(p->mu) > 20))
        return invalid(error, "The fixed shift mu must be between -20 and 20 (got %g)", p->mu);
    if (!isfinite(p->lowfreq_noise) || p->lowfreq_noise < 0 || p->lowfreq_noise > 1)
        return invalid(error, "The low-frequency noise must be between 0 and 1 (got %g)",
                       p->lowfreq_noise);
    const ResditMethodParams *m = &p->method;
    if (m->patch < 1 || m->base_area < 1 || !isfinite(m->cutoff) || m->cutoff < 0 ||
        !isfinite(m->sigma))
        return invalid(error,
                       "ResDiT parameters out of range (patch %d, base area %d, cutoff %g, "
                       "sigma %g)",
                       m->patch, m->base_area, m->cutoff, m->sigma);
    if ((m->base_rows > 0) != (m->base_cols > 0))
        return invalid(error, "Give both base grid rows and columns, or neither");
    if (p->preview_every < 0 || p->preview_max_side < 0)
        return invalid(error, "Preview settings must not be negative");
    if (!isfinite(p->strength) || p->strength < 0 || p->strength > 1)
        return invalid(error, "The strength must be between 0 and 1 (got %g)", p->strength);
    if (!p->init_image && p->strength != 1)
        return invalid(error, "A strength below 1 needs an init image to start from");
    if (p->init_image && !*p->init_image)
        return invalid(error, "The init image path is empty");
    if (p->t5_len < 0 || p->t5_len > 4096)
        return invalid(error, "The T5 length must be between 1 and 4096 (got %d)", p->t5_len);
    if (model) {
        const RdDenoiserInfo *info = rd_denoiser_info(model->denoiser);
        const RdVaeConfig *vc = rd_vae_config(model->vae);
        if (info->in_channels != vc->latent_channels * 4) {
            g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                        "The transformer takes %d channels but the VAE has %d latent channels "
                        "(x4 = %d): the VAE does not belong to this model",
                        info->in_channels, vc->latent_channels, vc->latent_channels * 4);
            return FALSE;
        }
    }
    int g, l;
    return !p->schedule ||
           rd_schedule_resolve(p->steps, p->global_steps, p->local_steps, &g, &l, error);
}

typedef struct {
    ResditModel *model;
    const ResditJobParams *p;
    const RdConditioning *cond;
    const ResditCallbacks *cb;
    GCancellable *cancellable;
    RdJobResolved res;
    int lh, lw, channels, grid_rows, grid_cols;
    size_t n_tokens_elems;
    double *t;
    float *init_latent; /* the encoded init image [C, lh, lw], or NULL */
    float *uncond;      /* the negative prompt's velocity (classifier-free guidance), or NULL */
    char *init_sha256;
    gint64 start_us;
    double avg_step;
} Job;

static double elapsed(const Job *job)
{
    return (g_get_monotonic_time() - job->start_us) / 1e6;
}

static void report(Job *job, int step, ResditPhase phase)
{
    if (!job->cb || !job->cb->progress)
        return;
    ResditProgress pr = {step, job->p->steps, phase, elapsed(job), -1};
    if (job->avg_step > 0)
        pr.eta = job->avg_step * (job->p->steps - step);
    job->cb->progress(&pr, job->cb->user_data);
}

static ResditBranch branch_for(ResditMode mode)
{
    switch (mode) {
    case RESDIT_MODE_GLOBAL:
        return RESDIT_BRANCH_GLOBAL;
    case RESDIT_MODE_LOCAL:
        return RESDIT_BRANCH_LOCAL;
    case RESDIT_MODE_FUSED:
        return RESDIT_BRANCH_FUSED;
    default:
        return RESDIT_BRANCH_DIRECT;
    }
}

/* NaN or Inf anywhere in x. One pass over the latent per step: nothing next to a forward pass. */
static gboolean all_finite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return FALSE;
    return TRUE;
}

static gboolean not_finite(GError **error, const char *what, const char *file, const char *when)
{
    g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                "The weights of the %s (%s) produce NaN or Inf values %s: the file is damaged or "
                "was converted badly; use another copy of it",
                what, file ? file : "built in", when);
    return FALSE;
}

/* Classifier-free guidance is on for a model that takes it, at a scale above 1 (as diffusers). */
static gboolean uses_cfg(const ResditModel *model, const ResditJobParams *p)
{
    return rd_denoiser_info(model->denoiser)->guidance == RD_GUIDANCE_CFG && p->guidance > 1.0;
}

static gboolean forward(Job *job, const float *tokens, int step, ResditMode mode, float *velocity,
                        GError **error)
{
    const RdConditioning *c = job->cond;
    RdDenoiserInputs in = {
        tokens,         c->txt,         c->vec,       c->txt_len, job->grid_rows,
        job->grid_cols, (float)job->t[step], (float)job->p->guidance};
    ResditAttentionPlan plan = {mode, job->p->method};
    RdDenoiser *d = job->model->denoiser;
    if (!rd_denoiser_forward(d, &in, &plan, velocity, job->cancellable, error))
        return FALSE;
    if (!uses_cfg(job->model, job->p))
        return TRUE;
    /* v = v_neg + g (v_pos - v_neg), in float as diffusers (the two passes are its batch of two) */
    in.txt = c->neg_txt;
    in.vec = c->neg_vec;
    in.txt_len = c->neg_txt_len;
    if (!rd_denoiser_forward(d, &in, &plan, job->uncond, job->cancellable, error))
        return FALSE;
    const float g = (float)job->p->guidance;
    for (size_t i = 0; i < job->n_tokens_elems; i++)
        velocity[i] = job->uncond[i] + g * (velocity[i] - job->uncond[i]);
    return TRUE;
}

static void emit_preview(Job *job, const float *tokens, const float *velocity, int step,
                         ResditMode mode, gboolean extra)
{
    float *x0 = g_new(float, job->n_tokens_elems);
    float *latent = g_new(float, job->n_tokens_elems);
    rd_predict_x0(tokens, velocity, job->n_tokens_elems, job->t[step], x0);
    rd_unpatchify(x0, job->channels, job->lh, job->lw, latent);
    int w, h;
    guint8 *rgb =
        rd_preview_render(job->model, latent, job->lh, job->lw, job->p->preview_max_side, &w, &h);
    ResditPreview pv = {step + 1, rd_phase_for_mode(mode), branch_for(mode), extra, w, h, rgb};
    job->cb->preview(&pv, job->cb->user_data);
    g_free(rgb);
    g_free(latent);
    g_free(x0);
}

static gboolean wants_preview(const Job *job, int step)
{
    const ResditJobParams *p = job->p;
    if (!job->cb || !job->cb->preview || p->preview_every <= 0 || !job->model->have_projection)
        return FALSE;
    return (step + 1) % p->preview_every == 0 || step + 1 == p->steps;
}

/* Extra passes for "inspect branches": the global-only and local-only predictions of a fused
 * step, from the same input, marked as extra. */
static gboolean inspect_branches(Job *job, const float *tokens, int step, float *scratch,
                                 GError **error)
{
    const ResditMode extra[2] = {RESDIT_MODE_GLOBAL, RESDIT_MODE_LOCAL};
    for (int i = 0; i < 2; i++) {
        if (!forward(job, tokens, step, extra[i], scratch, error))
            return FALSE;
        emit_preview(job, tokens, scratch, step, extra[i], TRUE);
    }
    return TRUE;
}

static ResditMode step_mode(const Job *job, int step)
{
    if (!job->p->schedule)
        return job->p->fixed_mode;
    return rd_schedule_mode(step, job->p->steps, job->res.global_steps, job->res.local_steps);
}

static gboolean sample(Job *job, float *tokens, GError **error)
{
    float *velocity = g_new(float, job->n_tokens_elems);
    float *scratch = job->p->inspect_branches ? g_new(float, job->n_tokens_elems) : NULL;
    gboolean ok = TRUE;
    for (int step = job->res.start_step; ok && step < job->p->steps; step++) {
        ResditMode mode = step_mode(job, step);
        report(job, step, rd_phase_for_mode(mode));
        gint64 t0 = g_get_monotonic_time();
        ok = forward(job, tokens, step, mode, velocity, error);
        if (ok && !all_finite(velocity, job->n_tokens_elems)) {
            g_autofree char *when = g_strdup_printf("at step %d of %d", step + 1, job->p->steps);
            ok = not_finite(error, "transformer", rd_denoiser_path(job->model->denoiser), when);
        }
        if (ok && wants_preview(job, step)) {
            emit_preview(job, tokens, velocity, step, mode, FALSE);
            if (mode == RESDIT_MODE_FUSED && job->p->inspect_branches)
                ok = inspect_branches(job, tokens, step, scratch, error);
        }
        if (!ok)
            break;
        rd_euler_step(tokens, velocity, job->n_tokens_elems, job->t[step], job->t[step + 1]);
        double secs = (g_get_monotonic_time() - t0) / 1e6;
        job->avg_step =
            job->avg_step > 0 ? ETA_SMOOTHING * secs + (1 - ETA_SMOOTHING) * job->avg_step : secs;
        if (step + 1 == job->p->steps)
            report(job, step + 1, rd_phase_for_mode(mode));
    }
    g_free(velocity);
    g_free(scratch);
    return ok;
}

static guint8 *to_rgb8(const float *rgb, size_t n)
{
    guint8 *out = g_new(guint8, n);
    for (size_t i = 0; i < n; i++) {
        float v = CLAMP(rgb[i] * 0.5f + 0.5f, 0.0f, 1.0f) * 255.0f;
        out[i] = (guint8)nearbyintf(v);
    }
    return out;
}

/* Memory the VAE may use before it decodes in bands: a quarter of the free host memory on the
 * CPU backend, at least RD_HOST_DECODE_BUDGET; RD_DEVICE_DECODE_BUDGET on other backends (they
 * do not report their free memory yet). */
guint64 rd_decode_budget(const ResditModel *model)
{
    const RdBackend *be = model->vae_be ? model->vae_be : model->be;
    if (strcmp(be->name, "cpu") != 0)
        return RD_DEVICE_DECODE_BUDGET;
    return MAX(RD_HOST_DECODE_BUDGET, rd_host_available() / 4);
}

static gboolean decode(Job *job, const float *latent, ResditImage *image, GError **error)
{
    RdVae *vae = job->model->vae;
    int band = rd_vae_band_rows_for_budget(vae, job->lh, job->lw, rd_decode_budget(job->model));
    size_t n = (size_t)image->width * image->height * 3;
    float *rgb = g_try_new(float, n);
    if (!rgb) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_OUT_OF_MEMORY,
                    "Not enough memory for the %dx%d image (%zu MB)", image->width, image->height,
                    n * sizeof(float) >> 20);
        return FALSE;
    }
    gboolean ok = rd_vae_decode(vae, latent, job->lh, job->lw, band, rgb, job->cancellable, error);
    /* an op that ran out of device memory for its scratch did nothing */
    RdBackend *vae_be = job->model->vae_be ? job->model->vae_be : job->model->be;
    ok = ok && rd_backend_check(vae_be, error);
    if (ok && !all_finite(rgb, n))
        ok = not_finite(error, "VAE", rd_vae_path(vae), "when it decodes the image");
    if (ok)
        image->rgb = to_rgb8(rgb, n);
    g_free(rgb);
    return ok;
}

static void resolve(Job *job)
{
    const ResditJobParams *p = job->p;
    ResditModel *model = job->model;
    job->res.seed = p->random_seed ? rd_noise_random_seed() : p->seed;
    job->res.global_steps = job->res.local_steps = 0;
    if (p->schedule)
        rd_schedule_resolve(p->steps, p->global_steps, p->local_steps, &job->res.global_steps,
                            &job->res.local_steps, NULL);
    const RdDenoiserInfo *info = rd_denoiser_info(model->denoiser);
    if (info->shift == RD_SHIFT_FIXED && p->shift_mode != RESDIT_SHIFT_FIXED)
        job->res.mu = info->fixed_mu; /* the model's own shift does not depend on the size */
    else
        job->res.mu = rd_sampler_mu(p->shift_mode, p->mu, info->shift == RD_SHIFT_RESOLUTION,
                                    job->grid_rows, job->grid_cols, &p->method);
    rd_base_grid(job->grid_rows, job->grid_cols, &p->method, &job->res.base_rows,
                 &job->res.base_cols);
    /* SD3's text rows are 77 CLIP rows and the T5 length (or 77 zero rows without T5): the
     * record keeps the T5 length, which the next job takes */
    job->res.t5_len = info->family == RD_DENOISER_SD3
                          ? (p->t5_len > 0 ? p->t5_len : model->default_t5_len)
                          : job->cond->txt_len;
    job->res.model_name = model->name;
    job->res.family = resdit_model_family_name(resdit_model_family(model));
    job->res.cfg = uses_cfg(model, p);
    job->res.backend_name = model->be->name;
    job->res.loras = model->loras;
}

/* Makes the job's first latent: the golden noise of a test, or Philox noise for the seed,
 * patchified, with its low frequencies raised where asked (noise_lowfreq.h); with an init image
 * (1 - S) * latent + S * noise at strength S (S = 1: the noise exactly, as 0 * latent + 1 * noise;
 * S = 0: the latent exactly). */
static float *initial_tokens(Job *job)
{
    size_t n = job->n_tokens_elems;
    float *noise = g_new(float, n), *tokens = g_new(float, n);
    if (job->cond->noise)
        memcpy(noise, job->cond->noise, n * sizeof(float));
    else
        rd_noise_normal(job->res.seed, noise, n);
    rd_patchify(noise, job->channels, job->lh, job->lw, tokens);
    rd_noise_lowfreq(tokens, job->grid_rows, job->grid_cols, job->channels * 4, job->res.base_rows,
                     job->res.base_cols, job->p->lowfreq_noise);
    if (job->init_latent) { /* patchifying only moves elements: the same sums as on the latent */
        rd_patchify(job->init_latent, job->channels, job->lh, job->lw, noise);
        const float s = (float)job->p->strength;
        for (size_t i = 0; i < n; i++)
            tokens[i] = (1.0f - s) * noise[i] + s * tokens[i];
    }
    g_free(noise);
    return tokens;
}

/* The VAE that encodes the init image: the model's, or a CPU copy of it when the model's
 * backend has no encoder ops (conv2d_down2; the CPU and CUDA backends have them). *owned is set
 * when it is a copy. */
static RdVae *encoder_vae(ResditModel *model, RdVae **owned, RdBackend **owned_be, GError **error)
{
    RdVae *vae = model->vae;
    *owned = NULL;
    *owned_be = NULL;
    if (rd_vae_encode_supported(vae) || !rd_vae_has_encoder(vae))
        return vae; /* (rd_vae_encode says what is missing) */
    RdSafetensors *st = rd_safetensors_open(rd_vae_path(vae), error);
    if (!st)
        return NULL;
    *owned_be = rd_backend_cpu_new();
    *owned = rd_vae_load_safetensors(st, rd_vae_config(vae), *owned_be, error);
    if (!*owned) {
        rd_backend_free(*owned_be);
        *owned_be = NULL;
    }
    return *owned;
}

/* Reads, hashes and fits the init image; encodes it unless the strength is 1 (its weight 0). */
static gboolean prepare_init(Job *job, GError **error)
{
    const ResditJobParams *p = job->p;
    int w0, h0;
    g_autofree guint8 *rgb8 = resdit_png_load_rgb(p->init_image, &w0, &h0, error);
    if (!rgb8)
        return FALSE;
    job->init_sha256 = rd_lora_file_sha256(p->init_image, error);
    if (!job->init_sha256)
        return FALSE;
    if (p->strength >= 1)
        return TRUE;
    float *rgb = rd_image_fit(rgb8, w0, h0, p->width, p->height);
    if (!rgb) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_OUT_OF_MEMORY,
                    "Not enough memory to resize the init image to %dx%d", p->width, p->height);
        return FALSE;
    }
    RdVae *copy = NULL;
    RdBackend *copy_be = NULL;
    RdVae *vae = encoder_vae(job->model, &copy, &copy_be, error);
    gboolean ok = vae != NULL;
    if (ok) {
        int band = rd_vae_encode_band_rows_for_budget(vae, job->lh, job->lw,
                                                      rd_decode_budget(job->model));
        job->init_latent = g_new(float, job->n_tokens_elems);
        ok = rd_vae_encode(vae, rgb, job->lh, job->lw, band, job->init_latent, job->cancellable,
                           error);
        if (ok && !all_finite(job->init_latent, job->n_tokens_elems))
            ok = not_finite(error, "VAE encoder", rd_vae_path(vae), "when it encodes the image");
    }
    rd_vae_free(copy);
    if (copy_be)
        rd_backend_free(copy_be);
    g_free(rgb);
    return ok;
}

/* The first step of an image-to-image job: the last of the full schedule whose t is at least
 * the strength, which then starts at t = strength exactly (strength 1: step 0, t = 1 as in text
 * to image; strength 0: no step). */
static int start_step(double *t, int steps, double strength)
{
    int k = 0;
    while (k < steps && t[k + 1] >= strength)
        k++;
    if (k < steps)
        t[k] = strength;
    return k;
}

ResditImage *rd_pipeline_run(ResditModel *model, const ResditJobParams *p,
                             const RdConditioning *cond, const ResditCallbacks *cb,
                             float *final_latent, GCancellable *cancellable, GError **error)
{
    if (!rd_job_params_check(model, p, error))
        return NULL;
    const RdDenoiserInfo *info = rd_denoiser_info(model->denoiser);
    if (uses_cfg(model, p) && (!cond->neg_txt || !cond->neg_vec || cond->neg_txt_len < 1)) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                    "%s models guide with a negative prompt at a guidance scale above 1 (got "
                    "%g): the job has no negative prompt embeddings",
                    info->family_name, p->guidance);
        return NULL;
    }
    if (!all_finite(cond->txt, (size_t)cond->txt_len * info->txt_dim)) {
        not_finite(error, "T5 text encoder", model->paths ? model->paths->t5 : NULL,
                   "for this prompt");
        return NULL;
    }
    if (!all_finite(cond->vec, (size_t)info->vec_dim)) {
        not_finite(error, "CLIP text encoder", model->paths ? model->paths->clip_l : NULL,
                   "for this prompt");
        return NULL;
    }
    if (uses_cfg(model, p) &&
        (!all_finite(cond->neg_txt, (size_t)cond->neg_txt_len * info->txt_dim) ||
         !all_finite(cond->neg_vec, (size_t)info->vec_dim))) {
        not_finite(error, "text encoders", NULL, "for the negative prompt");
        return NULL;
    }
    Job job = {model, p, cond, cb, cancellable};
    job.start_us = g_get_monotonic_time() - (gint64)(cond->encode_seconds * 1e6);
    job.channels = rd_vae_config(model->vae)->latent_channels;
    job.lh = p->height / 8;
    job.lw = p->width / 8;
    job.grid_rows = job.lh / 2;
    job.grid_cols = job.lw / 2;
    job.n_tokens_elems = (size_t)job.channels * job.lh * job.lw;
    resolve(&job);
    if (p->preview_every > 0 && cb && cb->preview && !rd_preview_fit_projection(model, error))
        return NULL;
    job.t = g_new(double, p->steps + 1);
    if (info->spacing == RD_SPACING_TRAIN_RANGE)
        rd_sampler_timesteps_train_range(p->steps, job.res.mu, job.t);
    else
        rd_sampler_timesteps(p->steps, job.res.mu, job.t);
    if (p->init_image) {
        report(&job, 0, RESDIT_PHASE_ENCODING);
        if (!prepare_init(&job, error)) {
            g_free(job.t);
            g_free(job.init_latent);
            g_free(job.init_sha256);
            return NULL;
        }
        job.res.start_step = start_step(job.t, p->steps, p->strength);
        job.res.init_sha256 = job.init_sha256;
    }

    ResditImage *image = g_new0(ResditImage, 1);
    image->width = p->width;
    image->height = p->height;
    image->seed = job.res.seed;
    image->seconds_encoding = cond->encode_seconds;
    float *tokens = initial_tokens(&job);
    if (uses_cfg(model, p))
        job.uncond = g_new(float, job.n_tokens_elems);
    gint64 t_sample = g_get_monotonic_time();
    gboolean ok = sample(&job, tokens, error);
    image->seconds_sampling = (g_get_monotonic_time() - t_sample) / 1e6;
    float *latent = g_new(float, job.n_tokens_elems);
    rd_unpatchify(tokens, job.channels, job.lh, job.lw, latent);
    g_free(tokens);
    if (ok && final_latent)
        memcpy(final_latent, latent, job.n_tokens_elems * sizeof(float));
    if (ok) {
        report(&job, p->steps, RESDIT_PHASE_DECODING);
        gint64 t_decode = g_get_monotonic_time();
        ok = decode(&job, latent, image, error);
        image->seconds_decoding = (g_get_monotonic_time() - t_decode) / 1e6;
    }
    g_free(latent);
    g_free(job.t);
    g_free(job.uncond);
    g_free(job.init_latent);
    if (!ok) {
        g_free(job.init_sha256);
        resdit_image_free(image);
        return NULL;
    }
    image->seconds_total = elapsed(&job);
    image->parameters = rd_job_parameters_text(p, &job.res);
    image->parameters_json = rd_job_parameters_json(p, &job.res);
    g_free(job.init_sha256);
    if (cb && cb->preview) {
        ResditPreview pv = {p->steps,     RESDIT_PHASE_DECODING, RESDIT_BRANCH_FINAL, FALSE,
                            image->width, image->height,         image->rgb};
        cb->preview(&pv, cb->user_data);
    }
    return image;
}

void resdit_image_free(ResditImage *image)
{
    if (!image)
        return;
    g_free(image->rgb);
    g_free(image->parameters);
    g_free(image->parameters_json);
    g_free(image);
}
