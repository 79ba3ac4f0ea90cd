/* Internal API of the generation job, shared by pipeline.c, model.c, the self-test model and the
 * tests (which feed golden text embeddings and noise straight into the sampler). */
#pragma once

#include "backend.h"
#include "denoiser.h"
#include "memory_plan.h"
#include "resdit.h"
#include "vae.h"

#define RD_NOISE_NAME "philox4x32-10+box-muller/v1"
/* The least memory the VAE decode may use before it switches to bands. */
#define RD_HOST_DECODE_BUDGET (G_GUINT64_CONSTANT(2) << 30)
/* The VAE decode's budget on a GPU backend: FLUX 1024^2 decodes untiled, 2048^2 in bands. */
#define RD_DEVICE_DECODE_BUDGET (G_GUINT64_CONSTANT(6) << 30)

/* What the job resolved from its parameters; recorded with the image. */
typedef struct {
    guint64 seed;
    int global_steps, local_steps;
    double mu;
    int base_rows, base_cols;
    int t5_len;
    const char *model_name;
    const char *family; /* "FLUX", "SD3" */
    gboolean cfg;       /* classifier-free guidance ran (the negative prompt was used) */
    const char *backend_name;
    const GPtrArray *loras; /* RdAppliedLora of the model, or NULL */
    const char *init_sha256; /* SHA-256 of the init image's file (hex), or NULL */
    int start_step;          /* steps of the full schedule skipped (image to image) */
} RdJobResolved;

char *rd_job_parameters_text(const ResditJobParams *p, const RdJobResolved *r);
char *rd_job_parameters_json(const ResditJobParams *p, const RdJobResolved *r);

typedef struct RdTextEncoders RdTextEncoders;

struct ResditModel {
    char *name;
    gboolean selftest;
    RdBackend *be;
    RdDenoiser *denoiser; /* the transformer, behind the model interface */
    RdVae *vae;
    RdBackend *vae_be;    /* the VAE's backend when the model's lacks the VAE ops (CPU), or NULL */
    RdTextEncoders *text; /* FLUX's; NULL: the job needs embeddings given directly */
    struct RdSd3Text *sd3_text; /* SD3's (CLIP-L, CLIP-G, T5), or NULL */
    GDestroyNotify text_free;
    guint64 text_weight_bytes;
    int default_t5_len;
    int default_steps, default_width, default_height;
    double default_guidance; /* FLUX 3.5; SD3: the CFG scale of its model card */
    int base_area, patch; /* method defaults for this model's base resolution */
    int base_size;        /* pixels of the square the model was trained at (FLUX 1024) */
    char *default_prompt; /* resdit.json "default_prompt", or NULL */
    GMutex preview_lock;
    GMutex text_lock; /* the tokenizers keep caches: one user at a time (job or token count) */
    gboolean have_projection;
    float projection[3][17]; /* latent (16 channels + 1) -> RGB in [-1, 1], fitted to the VAE */
    GPtrArray *memory_files; /* fds of the self-test model's anonymous files */
    ResditModelPaths *paths; /* where it was opened from (NULL: the self-test model) */
    GPtrArray *loras;        /* RdAppliedLora: what resdit_model_set_loras merged, or NULL */
};

/* A LoRA merged into a model: file, strength and the file's SHA-256 (for the records). */
typedef struct {
    char *path;
    double strength;
    char *sha256;
} RdAppliedLora;

void rd_applied_lora_free(gpointer applied);
void rd_job_params_clear_loras(ResditJobParams *params);

RdBackend *rd_backend_for_choice(ResditBackendChoice choice, GError **error);
/* The backend to decode on: be itself, or a new CPU backend (stored in *extra) when be lacks the
 * VAE ops. */
RdBackend *rd_vae_backend_for(RdBackend *be, RdBackend **extra);
guint64 rd_model_weight_bytes(const ResditModel *model);
/* MemAvailable of /proc/meminfo in bytes (0 when unknown). */
guint64 rd_host_available(void);
/* Memory the VAE decode may use before it switches to bands. */
guint64 rd_decode_budget(const ResditModel *model);
/* The memory plan of a job on the model's backend, with available bytes (0 = unknown), taking only
 * the paths the engine executes (memory_plan.h). */
gboolean rd_model_memory_plan(const ResditModel *model, const ResditJobParams *params,
                              guint64 available, RdPlanTarget *target, RdMemoryPlan *plan,
                              GError **error);
/* Puts the transformer's weights where the job's memory plan wants them (CUDA, FLUX): before
 * the text encoders run (encoding TRUE: released when T5 runs first, else in the plan's format),
 * and before sampling (the plan's format: bf16, or fp8 E4M3 with per-tensor scales). Nothing
 * on the CPU backend, whose weights are the mapped file. */
gboolean rd_model_place_weights(ResditModel *model, const ResditJobParams *params,
                                gboolean encoding, GError **error);
/* resdit_estimate_memory against a given number of available bytes (0 = unknown: no check). */
gboolean rd_estimate_memory_within(const ResditModel *model, const ResditJobParams *params,
                                   guint64 available, ResditMemoryEstimate *estimate,
                                   GError **error);

/* Applies a model folder's resdit.json (docs/DEMO_MODEL.md): base size (and with it the base
 * area, patch and default size), default steps, T5 length, prompt, guidance kind and value. TRUE
 * when the folder has none; FALSE with RESDIT_ERROR_FORMAT when it is invalid. A model without
 * a transformer (a dry run's defaults) takes everything but the guidance kind. */
gboolean rd_model_read_settings(ResditModel *model, const char *root, GError **error);

/* A model's defaults (dev with guidance: 35 steps, T5 512; schnell: 4, 256; 1024 px base),
 * before rd_model_read_settings; also for dry runs, which plan without opening the model. */
void rd_model_defaults_init(ResditModel *model, gboolean has_guidance);
/* SD3's (T5 256, 1024 px base): SD3 Medium (no q/k norm) 28 steps CFG 7.0, SD3.5 Large (q/k norm)
 * 28 / 3.5, SD3.5 Medium (MMDiT-X dual attention layers) 40 / 4.5. */
void rd_model_defaults_init_sd3(ResditModel *model, gboolean qk_norm, gboolean dual_attention);

/* A model from parts already loaded (takes ownership of every part). */
ResditModel *rd_model_new(const char *name, RdBackend *be, RdDenoiser *denoiser, RdVae *vae,
                          RdTextEncoders *text, GDestroyNotify text_free);

/* Text conditioning and, for tests, a fixed initial noise. */
typedef struct {
    const float *txt; /* [txt_len, txt_dim] */
    const float *vec; /* [vec_dim] */
    int txt_len;
    const float *noise; /* [16, H/8, W/8] or NULL: from the seed */
    double encode_seconds;
    /* Classifier-free guidance (RD_GUIDANCE_CFG models): the negative prompt's embeddings, of the
     * same widths; NULL when the model embeds its guidance or the scale is at most 1. */
    const float *neg_txt, *neg_vec;
    int neg_txt_len;
} RdConditioning;

/* Sampling and decoding after the text encoders. final_latent (optional) receives the sampled
 * latent [16, H/8, W/8]. */
ResditImage *rd_pipeline_run(ResditModel *model, const ResditJobParams *params,
                             const RdConditioning *cond, const ResditCallbacks *callbacks,
                             float *final_latent, GCancellable *cancellable, GError **error);

/* Checks the parameters that do not depend on memory. */
gboolean rd_job_params_check(const ResditModel *model, const ResditJobParams *params,
                             GError **error);

/* Latent [C, 2R, 2C'] <-> tokens [R * C', 4C] (FLUX's 2x2 patchify, feature c*4 + py*2 + px). */
void rd_patchify(const float *latent, int channels, int height, int width, float *tokens);
void rd_unpatchify(const float *tokens, int channels, int height, int width, float *latent);

/* Previews: the x0 prediction through the model's fitted latent-to-RGB projection, scaled so
 * the longer side is at most max_side. Returns width * height * 3 bytes. */
guint8 *rd_preview_render(ResditModel *model, const float *latent, int height, int width,
                          int max_side, int *out_w, int *out_h);
/* Fits the projection by least squares on a decode of seeded noise (once per model). */
gboolean rd_preview_fit_projection(ResditModel *model, GError **error);
