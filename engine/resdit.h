/* ResDiT engine: the public API used by the app and the command line. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define RESDIT_ERROR (resdit_error_quark())
GQuark resdit_error_quark(void);

typedef enum {
    RESDIT_ERROR_IO,               /* a file could not be read or written */
    RESDIT_ERROR_FORMAT,           /* a file is corrupt, truncated or not of the expected format */
    RESDIT_ERROR_MODEL,            /* wrong model, missing tensor, wrong shape */
    RESDIT_ERROR_TOKENIZER,        /* tokenizer data missing or invalid, bad UTF-8 */
    RESDIT_ERROR_INVALID_ARGUMENT, /* a parameter is out of range */
    RESDIT_ERROR_OUT_OF_MEMORY,    /* not enough host or GPU memory */
    RESDIT_ERROR_BACKEND,          /* no usable device, driver problem */
    RESDIT_ERROR_CANCELLED,
} ResditErrorCode;

const char *resdit_version(void);

/* Whether the CUDA backend can run here; reason (g_free) says why not, e.g. a missing driver. */
gboolean resdit_cuda_available(char **reason);

/* Attention mode of one step (METHOD.md). */
typedef enum {
    RESDIT_MODE_DIRECT, /* original positions, full attention: the baseline */
    RESDIT_MODE_GLOBAL, /* PES: positions scaled onto the base grid */
    RESDIT_MODE_LOCAL,  /* PIPE inside MOP patches, spliced with GWS */
    RESDIT_MODE_FUSED,  /* global and local combined with PSF */
} ResditMode;

const char *resdit_mode_name(ResditMode mode);
gboolean resdit_mode_from_name(const char *name, ResditMode *mode);

/* Every ResDiT parameter that shapes one attention layer; see docs/METHOD.md. */
typedef struct {
    int base_rows, base_cols; /* base grid PES maps onto; 0 = derived from base_area and aspect */
    int base_area;            /* tokens of the base grid when derived (FLUX: 4096 = 64 x 64) */
    int patch;                /* local patch side in tokens (FLUX: 64) */
    double sigma;             /* GWS sigma in tokens; <= 0 means patch / 4 */
    double cutoff;            /* PSF normalised cutoff, 1.0 = Nyquist per axis */
    gboolean no_pes;          /* ablation: global branch keeps extrapolated positions */
    gboolean no_pipe;         /* ablation: patches keep their global positions */
    gboolean no_psf;          /* ablation: plain average of the branches */
    gboolean no_overlap;      /* ablation: ceil(H/h) tiles, no splicing */
    gboolean uniform_weights; /* ablation: uniform instead of Gaussian splice weights */
} ResditMethodParams;

void resdit_method_params_init(ResditMethodParams *params);

/* ---- LoRA (docs/LORA.md) ----------------------------------------------------------------- */

/* One LoRA of a job: W + strength * alpha / rank * up @ down on every linear it names. */
typedef struct {
    char *path;       /* the LoRA safetensors file (owned) */
    double strength;  /* 1 = as trained, 0 = no effect; negative values invert it */
    gboolean enabled; /* FALSE: kept in the list but not applied (the app's switch) */
} ResditLora;

/* Strengths a job accepts. */
#define RESDIT_LORA_STRENGTH_MAX 100.0

/* "FILE[:STRENGTH]" (strength 1 when absent; the last ':' followed by a number splits, so paths
 * with ':' work). path is g_free'd by the caller. */
gboolean resdit_lora_spec_parse(const char *spec, char **path, double *strength, GError **error);
/* The name a LoRA goes by in A1111 parameters (<lora:NAME:STRENGTH>): the file name without
 * ".safetensors". */
char *resdit_lora_name(const char *path);

/* A LoRA file found in the model folders. */
typedef struct {
    char *name; /* resdit_lora_name */
    char *path;
    guint64 size;
} ResditLoraInfo;

void resdit_lora_info_free(ResditLoraInfo *info);
/* LoRA files in ComfyUI's models/loras, Forge's and AUTOMATIC1111's models/Lora (and their
 * extra_model_paths.yaml "loras" entries) and each folder of extra_dirs, sorted by name; only
 * files whose tensors are LoRA tensors. Returns ResditLoraInfo (free with
 * resdit_lora_info_free). */
GPtrArray *resdit_loras_discover(const char *const *extra_dirs);

/* ---- The generation job (engine/pipeline.c) ---------------------------------------------- */

/* Timestep shift (METHOD.md point 7): t' = e^mu / (e^mu + (1/t - 1)). */
typedef enum {
    RESDIT_SHIFT_BASE,       /* mu from the base grid's token count (default; 1.15 for FLUX-dev) */
    RESDIT_SHIFT_RESOLUTION, /* mu from the image's token count (FLUX's own formula, unclamped) */
    RESDIT_SHIFT_FIXED,      /* mu given by the user */
} ResditShiftMode;

const char *resdit_shift_mode_name(ResditShiftMode mode);
gboolean resdit_shift_mode_from_name(const char *name, ResditShiftMode *mode);

/* What the job is doing; the sampling phases follow the ResDiT schedule. */
typedef enum {
    RESDIT_PHASE_ENCODING, /* text encoders */
    RESDIT_PHASE_GLOBAL,   /* global-only steps (PES) */
    RESDIT_PHASE_FUSED,    /* global + local fused with PSF */
    RESDIT_PHASE_LOCAL,    /* local-only steps (PIPE + MOP + GWS) */
    RESDIT_PHASE_DIRECT,   /* plain attention (schedule off, or the direct mode) */
    RESDIT_PHASE_DECODING, /* VAE */
} ResditPhase;

const char *resdit_phase_name(ResditPhase phase);

/* Which prediction a preview shows. */
typedef enum {
    RESDIT_BRANCH_GLOBAL,
    RESDIT_BRANCH_LOCAL,
    RESDIT_BRANCH_FUSED,
    RESDIT_BRANCH_DIRECT,
    RESDIT_BRANCH_FINAL, /* the decoded image */
} ResditBranch;

const char *resdit_branch_name(ResditBranch branch);

typedef enum {
    RESDIT_BACKEND_AUTO, /* CUDA when usable, else CPU */
    RESDIT_BACKEND_CUDA,
    RESDIT_BACKEND_CPU,
} ResditBackendChoice;

typedef struct {
    char *prompt;           /* owned (g_free'd by resdit_job_params_clear) */
    char *negative_prompt;  /* owned; NULL or "" = the empty prompt (diffusers' default). Models
                             * with classifier-free guidance (SD3) use it; FLUX ignores it */
    int width, height;      /* pixels, multiples of 16 */
    int steps;              /* sampling steps (dev: 35 default, schnell: 4) */
    double guidance;        /* FLUX dev: distilled guidance, ignored by schnell; SD3: the
                             * classifier-free guidance (CFG) scale, none at 1 or below */
    guint64 seed;           /* used when random_seed is FALSE */
    gboolean random_seed;   /* draw a seed; the image records the one used */
    int global_steps;       /* G: first steps global-only; -1 = steps * 10 / 35 rounded */
    int local_steps;        /* L: last steps local-only; -1 = steps * 15 / 35 rounded */
    gboolean schedule;      /* TRUE: ResDiT schedule; FALSE: every step in fixed_mode */
    ResditMode fixed_mode;  /* the mode of every step when schedule is FALSE */
    ResditShiftMode shift_mode;
    double mu;              /* used by RESDIT_SHIFT_FIXED */
    double lowfreq_noise;   /* beyond the paper (docs/METHOD.md, "Low-frequency noise"): above the
                             * base size, the initial noise's base-grid frequencies get this share
                             * of a base-size draw's strength, 0 to 1; 0 = plain noise (default) */
    ResditMethodParams method;
    int t5_len;             /* T5 tokens; 0 = the model's default (dev 512, schnell 256) */
    gboolean inspect_branches; /* in fused steps also preview global- and local-only predictions */
    int preview_every;      /* emit a preview every N steps; 0 = none */
    int preview_max_side;   /* longer side of preview images in pixels (e.g. 512) */
    ResditBackendChoice backend; /* for front ends opening the model (resdit_model_open): a job
                                  * runs on the backend its model was opened on */
    ResditLora *loras;           /* n_loras LoRAs applied in this order (owned; cleared by
                                  * resdit_job_params_clear) */
    int n_loras;
    char *init_image;            /* image-to-image: a PNG the job starts from (owned), or NULL;
                                  * see docs/GENERATE.md ("Image to image") */
    double strength;             /* with init_image: 0 keeps the image, 1 ignores it (1 default);
                                  * sampling starts at t = strength */
} ResditJobParams;

/* Defaults: 1024 x 1024, 35 steps, guidance 3.5, random seed, schedule on with G = L = -1,
 * shift base, method defaults, previews off, backend auto, no init image, strength 1. */
void resdit_job_params_init(ResditJobParams *params);
/* A fresh random seed (53 bits, exact in JSON), as the engine draws for random_seed jobs; front
 * ends that must know the seed before the job starts draw it with this. */
guint64 resdit_random_seed(void);
void resdit_job_params_clear(ResditJobParams *params);
/* dst = a deep copy of src (prompt, init image and LoRA list duplicated); dst is overwritten, not cleared.
 * Copy job parameters with this, never by assignment: the LoRA list is owned. */
void resdit_job_params_copy(ResditJobParams *dst, const ResditJobParams *src);
/* Sets (a copy of) the init image and the strength; path NULL: text to image again. */
void resdit_job_params_set_init_image(ResditJobParams *params, const char *path, double strength);
/* Appends a LoRA (path copied). */
void resdit_job_params_add_lora(ResditJobParams *params, const char *path, double strength,
                                gboolean enabled);
/* Replaces params' LoRA list by a copy of loras[0..n). */
void resdit_job_params_set_loras(ResditJobParams *params, const ResditLora *loras, int n);

typedef struct {
    int step;          /* steps done so far (0 .. n_steps) */
    int n_steps;
    ResditPhase phase;
    double elapsed;    /* seconds since the job started */
    double eta;        /* seconds left, from a moving average of step times; < 0 = unknown */
} ResditProgress;

typedef struct {
    int step;            /* the step whose prediction this is (1-based) */
    ResditPhase phase;
    ResditBranch branch;
    gboolean extra_pass; /* computed by an extra forward pass only for inspection */
    int width, height;
    const guint8 *rgb;   /* width * height * 3, valid during the callback only */
} ResditPreview;

/* Called on the thread that runs resdit_generate (a worker thread in the app). */
typedef struct {
    void (*progress)(const ResditProgress *progress, gpointer user_data);
    void (*preview)(const ResditPreview *preview, gpointer user_data);
    gpointer user_data;
} ResditCallbacks;

/* The architecture of a model's transformer. */
typedef enum {
    RESDIT_FAMILY_FLUX, /* FLUX.1 dev and schnell (and the demo model) */
    RESDIT_FAMILY_SD3,  /* SD3 Medium, SD3.5 Large / Large Turbo / Medium */
} ResditModelFamily;

/* "FLUX" or "SD3". */
const char *resdit_model_family_name(ResditModelFamily family);

/* Where the parts of a model are; NULL for a part that is not there. */
typedef struct {
    char *name;        /* display name ("FLUX.1-dev (diffusers folder)") */
    char *root;        /* the folder it was found in, or NULL for single files */
    ResditModelFamily family;
    char *transformer; /* file or folder */
    char *vae;
    char *clip_l;      /* CLIP-L: file or diffusers folder (with tokenizer) */
    char *clip_g;      /* SD3's OpenCLIP bigG (CLIP-G): file or folder; NULL for FLUX */
    char *t5;          /* T5-XXL: file or diffusers folder (with tokenizer); optional for SD3
                        * (the reference then uses zeros) */
    char *clip_tokenizer; /* CLIP vocab.json + merges.txt folder, when not beside the weights;
                             NULL: beside them, or the bundled vocabulary */
    char *t5_tokenizer;   /* T5 tokenizer.json / spiece.model (file or folder); NULL: beside the
                             weights, or searched for when the model opens */
    char **searched;      /* set by discovery when a part is missing: every folder it looked in */
    char **t5_tokenizer_searched; /* set by discovery when no T5 tokenizer was found anywhere:
                                     where it looked */
} ResditModelPaths;

void resdit_model_paths_clear(ResditModelPaths *paths);
ResditModelPaths *resdit_model_paths_copy(const ResditModelPaths *paths);
void resdit_model_paths_free(ResditModelPaths *paths);
/* Comma-separated names of the missing parts ("vae, t5", "clip-g" for SD3, "t5-tokenizer" when
 * discovery found none), or NULL when complete. SD3 runs without T5 (as diffusers does). */
char *resdit_model_paths_missing(const ResditModelPaths *paths);

/* Finds models in the usual places: each folder in extra_dirs (a diffusers folder, an install,
 * a cache or a folder of files), ComfyUI installs (~/ComfyUI, ~/comfy/ComfyUI and their
 * extra_model_paths.yaml), Forge and AUTOMATIC1111 installs, the Hugging Face cache
 * ($HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub). Files are identified by their tensors
 * and assembled into models by their dimensions. Returns ResditModelPaths (free with
 * resdit_model_paths_free); incomplete models are listed too, with where discovery looked. */
GPtrArray *resdit_models_discover(const char *const *extra_dirs);
/* Where the models that come with the app are: $RESDIT_DATA_DIR/models, else the source tree's
 * data/models (build tree, tests), else the installed data folder. The demo model
 * (resdit-demo, docs/DEMO_MODEL.md) is listed last by resdit_models_discover, as
 * "resdit-demo (built in)". */
char *resdit_bundled_models_dir(void);

typedef struct ResditModel ResditModel;

/* Opens every part (memory-maps the weights) on the chosen backend. */
ResditModel *resdit_model_open(const ResditModelPaths *paths, ResditBackendChoice backend,
                               GError **error);
/* Applies the enabled LoRAs of the list with non-zero strength (n = 0: none) to the transformer
 * and, for their text-encoder parts, to CLIP-L, replacing the ones applied before; merged from
 * the weights as opened, so the model's files are not read again from scratch. Every file is
 * checked first: an unknown module, a wrong shape or a damaged file refuses the whole list and
 * leaves the model as it was. resdit_generate calls it with the job's list. */
gboolean resdit_model_set_loras(ResditModel *model, const ResditLora *loras, int n,
                                GError **error);
/* The built-in self-test model: tiny FLUX-architecture weights, VAE and text encoders generated
 * deterministically in memory (no file). Its images are noise-like: it checks the machinery. */
ResditModel *resdit_model_open_selftest(ResditBackendChoice backend, GError **error);
void resdit_model_free(ResditModel *model);
const char *resdit_model_name(const ResditModel *model);
gboolean resdit_model_is_selftest(const ResditModel *model);
const char *resdit_model_backend_name(const ResditModel *model);
/* The parts it was opened from; NULL for the self-test model. */
const ResditModelPaths *resdit_model_get_paths(const ResditModel *model);
/* 512 for dev, 256 for schnell, the self-test model's own length. */
int resdit_model_default_t5_len(const ResditModel *model);
gboolean resdit_model_has_guidance(const ResditModel *model);
/* FLUX or SD3. */
ResditModelFamily resdit_model_family(const ResditModel *model);
/* TRUE for models that guide with a negative prompt and a CFG scale (SD3). */
gboolean resdit_model_uses_cfg(const ResditModel *model);
/* The guidance a job starts with (resdit_model_job_defaults): FLUX 3.5; SD3 Medium 7.0, SD3.5
 * Large 3.5, SD3.5 Medium 4.5 (the CFG scale). */
double resdit_model_default_guidance(const ResditModel *model);
/* The base size in pixels the model was trained at (FLUX: 1024; the demo model: 256). */
int resdit_model_base_size(const ResditModel *model);
/* A prompt that suits the model (resdit.json "default_prompt"), or NULL. */
const char *resdit_model_default_prompt(const ResditModel *model);
/* Sets the model's own defaults in params: steps (dev 35, schnell 4, SD3 28, SD3.5 Medium 40),
 * guidance (resdit_model_default_guidance), size, base area and patch
 * (the self-test model works at a tiny base resolution; a model folder's resdit.json may give
 * its own base size, see docs/DEMO_MODEL.md), T5 length. */
void resdit_model_job_defaults(const ResditModel *model, ResditJobParams *params);

typedef struct {
    int clip, clip_limit; /* CLIP-L tokens with BOS and EOS; the encoder keeps clip_limit (77) */
    int t5, t5_limit;     /* T5 tokens with EOS; a job keeps t5_limit (the model's T5 length) */
} ResditTokenCount;

/* Counts the prompt's tokens with the model's own tokenizers, as a job would see them (front ends
 * show it near the prompt). Safe while a job runs on another thread; FALSE with G_IO_ERROR_BUSY
 * while that job encodes its prompt (count again later). */
gboolean resdit_model_count_tokens(ResditModel *model, const char *prompt, ResditTokenCount *count,
                                   GError **error);

typedef struct {
    guint64 weights;     /* bytes of weights the job keeps resident */
    guint64 activations; /* peak bytes of activations (transformer or VAE, whichever is larger) */
    guint64 total;
    guint64 available;   /* bytes the backend reports free (0 = unknown) */
    const char *weight_format; /* the transformer's weights: "file" (memory-mapped, CPU), "bf16",
                                * or an fp8 format (engine/memory_plan.h) */
    int streamed_blocks;       /* blocks streamed from host memory each step */
} ResditMemoryEstimate;

/* Checks params and estimates the memory of the job; FALSE with RESDIT_ERROR_INVALID_ARGUMENT
 * for bad parameters or RESDIT_ERROR_OUT_OF_MEMORY when the estimate exceeds what is available
 * (estimate filled in either way). */
gboolean resdit_estimate_memory(const ResditModel *model, const ResditJobParams *params,
                                ResditMemoryEstimate *estimate, GError **error);

typedef struct {
    int width, height;
    guint8 *rgb;          /* width * height * 3 */
    guint64 seed;         /* the seed actually used */
    double seconds_encoding, seconds_sampling, seconds_decoding, seconds_total;
    guint64 peak_bytes;   /* peak resident memory of the process during the job (host) */
    char *parameters;     /* AUTOMATIC1111-style "parameters" text */
    char *parameters_json;/* every engine parameter, enough to reproduce the image */
} ResditImage;

/* Runs the whole job: text encoders, sampling with the ResDiT schedule, VAE decode. Checks the
 * parameters and the memory estimate first (nothing starts when they fail). Returns NULL with
 * RESDIT_ERROR_CANCELLED when cancelled (memory freed, nothing written). Run one job at a time
 * per model (a queue runs them in turn); the callbacks come on the calling thread. */
ResditImage *resdit_generate(ResditModel *model, const ResditJobParams *params,
                             const ResditCallbacks *callbacks, GCancellable *cancellable,
                             GError **error);
void resdit_image_free(ResditImage *image);
/* Reads the JSON record ("resdit" chunk) of a PNG this engine wrote, without decoding the image;
 * NULL with RESDIT_ERROR_FORMAT when the file has none. */
char *resdit_png_read_parameters(const char *path, GError **error);
/* Fills params from such a record (the seed used becomes a fixed seed; fields the record does
 * not have keep their values), so that the job makes the same image again. */
gboolean resdit_job_params_from_json(ResditJobParams *params, const char *json, GError **error);

/* A box-filtered copy whose longer side is at most max_side pixels, as PNG data (history
 * thumbnails). */
GBytes *resdit_image_thumbnail_png(const ResditImage *image, int max_side, GError **error);

/* Images a job or `resdit vae encode` reads (init images, upscale sources). */
#define RESDIT_IMAGE_MAX_SIDE 32768
#define RESDIT_IMAGE_MAX_PIXELS (1 << 28)
/* Reads a PNG's pixels as RGB8 (grey, palette and 16-bit converted, alpha composited over
 * white); g_free the result. RESDIT_ERROR_IO when the file is missing, RESDIT_ERROR_FORMAT when
 * it is not a PNG, damaged, or larger than the limits above. */
guint8 *resdit_png_load_rgb(const char *path, int *width, int *height, GError **error);

/* Writes an RGB8 image (a preview frame) as a PNG, atomically. */
gboolean resdit_save_rgb_png(const char *path, int width, int height, const guint8 *rgb,
                             GError **error);
/* Writes a PNG with "parameters" (A1111) and "resdit" (JSON) text chunks, atomically. */
gboolean resdit_image_save_png(const ResditImage *image, const char *path, GError **error);

G_END_DECLS
