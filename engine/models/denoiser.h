/* The model interface: what a diffusion transformer (FLUX in engine/models/flux/, SD3 in
 * engine/models/sd3/) provides to the sampler and to ResDiT. The job, the CLI and the memory
 * planner see a model only through this; the method itself (engine/resdit/) sees only the
 * attention plan and, for models whose positions enter once, whole forward passes.
 *
 * A denoiser predicts the flow-matching velocity of a packed latent: 16 channels in 2 x 2
 * patches, token (i, j) holding feature c*4 + a*2 + b = latent[c, 2i+a, 2j+b]. */
#pragma once

#include <gio/gio.h>

#include "backend.h"
#include "lora.h"
#include "resdit.h"
#include "resdit_attention.h"
#include "safetensors.h"

typedef enum {
    RD_DENOISER_FLUX,
    RD_DENOISER_SD3,
} RdDenoiserFamily;

/* How positions enter, and so how ResDiT's branches are built (docs/METHOD.md). */
typedef enum {
    /* RoPE inside every attention (FLUX): the two branches share one residual stream and fuse
     * inside each attention (resdit_attention.c). */
    RD_POSITIONS_ROPE,
    /* An absolute table added once after the patch embedding (SD3): the branches are whole
     * forward passes fused on the velocity (resdit_branches.c). */
    RD_POSITIONS_TABLE,
} RdPositionScheme;

typedef enum {
    RD_GUIDANCE_NONE,     /* FLUX schnell */
    RD_GUIDANCE_EMBEDDED, /* FLUX dev: the guidance value is embedded like the timestep */
    RD_GUIDANCE_CFG, /* SD3: classifier-free guidance, a conditional and an unconditional pass */
} RdGuidanceKind;

/* The sampler's shift (mu in t' = e^mu / (e^mu + 1/t - 1)). */
typedef enum {
    RD_SHIFT_NONE,       /* mu = 0 (FLUX schnell) */
    RD_SHIFT_RESOLUTION, /* mu from the token count, FLUX's line (FLUX dev) */
    RD_SHIFT_FIXED,      /* a fixed mu: SD3's shift 3.0 is mu = ln 3 */
} RdShiftKind;

/* Where the sampler's unshifted sigmas end before the final 0. */
typedef enum {
    RD_SPACING_TO_ZERO,     /* linspace(1, 0, steps + 1) (FLUX, as diffusers' FluxPipeline) */
    RD_SPACING_TRAIN_RANGE, /* linspace(1, shift(1/1000), steps), then 0: the default spacing of
                             * diffusers' FlowMatchEulerDiscreteScheduler (SD3) */
} RdSigmaSpacing;

typedef struct {
    RdDenoiserFamily family;
    const char *family_name; /* "FLUX.1", "SD3" */
    int in_channels;         /* 64: 16 latent channels x 2 x 2 */
    int txt_dim;             /* joint text embedding features (T5-XXL: 4096) */
    int vec_dim;             /* pooled embedding features (FLUX 768, SD3 2048) */
    int max_grid_side;       /* the largest grid side direct mode takes (0: no limit) */
    RdPositionScheme positions;
    RdGuidanceKind guidance;
    RdShiftKind shift;
    double fixed_mu; /* RD_SHIFT_FIXED */
    RdSigmaSpacing spacing;
    double vae_scaling; /* the latent's scaling and shift: FLUX 0.3611 / 0.1159, */
    double vae_shift;   /* SD3 1.5305 / 0.0609 */
    gboolean loras;     /* LoRA merging is supported */
} RdDenoiserInfo;

typedef struct {
    const float *img; /* [grid_rows * grid_cols, in_channels] packed latent tokens */
    const float *txt; /* [txt_len, txt_dim] */
    const float *vec; /* [vec_dim] */
    int txt_len;
    int grid_rows, grid_cols;
    float timestep; /* sigma in [0, 1]; the models see 1000 sigma */
    float guidance; /* RD_GUIDANCE_EMBEDDED: the embedded value; ignored otherwise */
} RdDenoiserInputs;

typedef struct RdDenoiser RdDenoiser;

typedef struct {
    /* velocity: [grid_rows * grid_cols, in_channels]; the ResDiT mode and parameters in plan. */
    gboolean (*forward)(RdDenoiser *d, const RdDenoiserInputs *in, const ResditAttentionPlan *plan,
                        float *velocity, GCancellable *cancellable, GError **error);
    RdSafetensors *(*weights)(const RdDenoiser *d); /* the open weights (memory planner) */
    /* NULL when info.loras is FALSE. */
    gboolean (*set_loras)(RdDenoiser *d, RdLoraFile *const *files, const double *strengths, int n,
                          GError **error);
    void (*free_impl)(void *impl);
} RdDenoiserOps;

struct RdDenoiser {
    const RdDenoiserOps *ops;
    void *impl; /* FluxModel or Sd3Model */
    RdDenoiserInfo info;
};

/* Opens a transformer by its content: SD3 when its tensors are SD3's, else FLUX. config_json (a
 * diffusers config.json, or NULL) gives a FLUX single file of non-standard shape its
 * architecture; SD3 reads its own. */
RdDenoiser *rd_denoiser_load(const char *path, const char *config_json, RdBackend *backend,
                             GError **error);
void rd_denoiser_free(RdDenoiser *d);

const RdDenoiserInfo *rd_denoiser_info(const RdDenoiser *d);
gboolean rd_denoiser_forward(RdDenoiser *d, const RdDenoiserInputs *in,
                             const ResditAttentionPlan *plan, float *velocity,
                             GCancellable *cancellable, GError **error);
RdSafetensors *rd_denoiser_weights(const RdDenoiser *d);
/* Classifier-free guidance for a FLUX model without a guidance embedder whose transformer was
 * trained with captions dropped to the empty prompt (a model folder's resdit.json says so:
 * docs/DEMO_MODEL.md); nothing changes for a model that guides so already (SD3). Refused, with
 * the reason, for a model that embeds its guidance value. */
gboolean rd_denoiser_guide_with_cfg(RdDenoiser *d, GError **error);
/* The file (or index) the weights were read from. */
const char *rd_denoiser_path(const RdDenoiser *d);
/* Refuses with a message naming the model when it takes no LoRA (n = 0 always succeeds). */
gboolean rd_denoiser_set_loras(RdDenoiser *d, RdLoraFile *const *files, const double *strengths,
                               int n, GError **error);

/* The implementations' constructors (engine/models/flux/flux_denoiser.c,
 * engine/models/sd3/sd3_denoiser.c); each takes ownership of its model. */
typedef struct FluxModel FluxModel;
typedef struct Sd3Model Sd3Model;
RdDenoiser *rd_flux_denoiser_new(FluxModel *flux);
RdDenoiser *rd_sd3_denoiser_new(Sd3Model *sd3);
/* The FLUX model behind d, or NULL for another family (FLUX-only tools: LoRA counts). */
FluxModel *rd_denoiser_flux(const RdDenoiser *d);
