/* FLUX behind the model interface: RoPE positions (ResDiT inside every attention), the guidance
 * embedder of dev, the resolution-dependent shift, FLUX's VAE constants, LoRAs. */
#include "denoiser.h"
#include "flux_private.h"

static gboolean forward(RdDenoiser *d, const RdDenoiserInputs *in, const ResditAttentionPlan *plan,
                        float *velocity, GCancellable *cancellable, GError **error)
{
    FluxInputs x = {in->img,       in->txt,       in->vec,      in->txt_len,
                    in->grid_rows, in->grid_cols, in->timestep, in->guidance};
    return flux_model_forward(d->impl, &x, plan, velocity, cancellable, error);
}

static RdSafetensors *weights(const RdDenoiser *d)
{
    return ((const FluxModel *)d->impl)->st;
}

static gboolean set_loras(RdDenoiser *d, RdLoraFile *const *files, const double *strengths, int n,
                          GError **error)
{
    return flux_model_set_loras(d->impl, files, strengths, n, error);
}

static void free_impl(void *impl)
{
    flux_model_free(impl);
}

static const RdDenoiserOps flux_ops = {forward, weights, set_loras, free_impl};

RdDenoiser *rd_flux_denoiser_new(FluxModel *flux)
{
    const FluxConfig *c = flux_model_config(flux);
    RdDenoiser *d = g_new0(RdDenoiser, 1);
    d->ops = &flux_ops;
    d->impl = flux;
    d->info = (RdDenoiserInfo){
        .family = RD_DENOISER_FLUX,
        .family_name = "FLUX.1",
        .in_channels = c->in_channels,
        .txt_dim = c->txt_dim,
        .vec_dim = c->vec_dim,
        .max_grid_side = 0,
        .positions = RD_POSITIONS_ROPE,
        .guidance = c->has_guidance ? RD_GUIDANCE_EMBEDDED : RD_GUIDANCE_NONE,
        .shift = c->has_guidance ? RD_SHIFT_RESOLUTION : RD_SHIFT_NONE,
        .fixed_mu = 0.0,
        .spacing = RD_SPACING_TO_ZERO,
        .vae_scaling = 0.3611,
        .vae_shift = 0.1159,
        .loras = TRUE,
    };
    return d;
}
