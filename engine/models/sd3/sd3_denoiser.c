/* SD3 behind the model interface: an absolute position table (ResDiT as whole forward passes
 * fused on the velocity), classifier-free guidance, the fixed shift 3.0 (mu = ln 3), SD3's VAE
 * constants; no LoRA yet. */
#include <math.h>

#include "denoiser.h"
#include "sd3_private.h"

static gboolean forward(RdDenoiser *d, const RdDenoiserInputs *in, const ResditAttentionPlan *plan,
                        float *velocity, GCancellable *cancellable, GError **error)
{
    Sd3Inputs x = {in->img,       in->txt,       in->vec,     in->txt_len,
                   in->grid_rows, in->grid_cols, in->timestep};
    return sd3_model_forward_plan(d->impl, &x, plan, velocity, cancellable, error);
}

static RdSafetensors *weights(const RdDenoiser *d)
{
    return ((const Sd3Model *)d->impl)->st;
}

static void free_impl(void *impl)
{
    sd3_model_free(impl);
}

static const RdDenoiserOps sd3_ops = {forward, weights, NULL, free_impl};

RdDenoiser *rd_sd3_denoiser_new(Sd3Model *sd3)
{
    const Sd3Config *c = sd3_model_config(sd3);
    RdDenoiser *d = g_new0(RdDenoiser, 1);
    d->ops = &sd3_ops;
    d->impl = sd3;
    d->info = (RdDenoiserInfo){
        .family = RD_DENOISER_SD3,
        .family_name = "SD3",
        .in_channels = c->in_channels,
        .txt_dim = c->txt_dim,
        .vec_dim = c->vec_dim,
        .max_grid_side = c->pos_max,
        .positions = RD_POSITIONS_TABLE,
        .guidance = RD_GUIDANCE_CFG,
        .shift = RD_SHIFT_FIXED,
        .fixed_mu = log(3.0), /* diffusers' shift 3.0: t' = 3t / (1 + 2t) */
        .spacing = RD_SPACING_TRAIN_RANGE,
        .vae_scaling = 1.5305,
        .vae_shift = 0.0609,
        .loras = FALSE,
    };
    return d;
}
