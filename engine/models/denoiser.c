#include "denoiser.h"

#include "flux_model.h"
#include "sd3_model.h"

RdDenoiser *rd_denoiser_load(const char *path, const char *config_json, RdBackend *backend,
                             GError **error)
{
    if (sd3_weights_recognise(path)) {
        if (config_json) {
            g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                        "%s is an SD3 transformer, which reads its own configuration; a given "
                        "config.json is for FLUX single files only",
                        path);
            return NULL;
        }
        Sd3Model *sd3 = sd3_model_load(path, backend, error);
        return sd3 ? rd_sd3_denoiser_new(sd3) : NULL;
    }
    FluxModel *flux = flux_model_load_with_config(path, config_json, backend, error);
    return flux ? rd_flux_denoiser_new(flux) : NULL;
}

gboolean rd_denoiser_guide_with_cfg(RdDenoiser *d, GError **error)
{
    if (d->info.guidance == RD_GUIDANCE_EMBEDDED) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_FORMAT,
                    "this %s transformer embeds its guidance value (as FLUX.1-dev); classifier-free "
                    "guidance is for a model trained without a guidance embedder",
                    d->info.family_name);
        return FALSE;
    }
    d->info.guidance = RD_GUIDANCE_CFG;
    return TRUE;
}

void rd_denoiser_free(RdDenoiser *d)
{
    if (!d)
        return;
    d->ops->free_impl(d->impl);
    g_free(d);
}

const RdDenoiserInfo *rd_denoiser_info(const RdDenoiser *d)
{
    return &d->info;
}

gboolean rd_denoiser_forward(RdDenoiser *d, const RdDenoiserInputs *in,
                             const ResditAttentionPlan *plan, float *velocity,
                             GCancellable *cancellable, GError **error)
{
    return d->ops->forward(d, in, plan, velocity, cancellable, error);
}

RdSafetensors *rd_denoiser_weights(const RdDenoiser *d)
{
    return d->ops->weights(d);
}

const char *rd_denoiser_path(const RdDenoiser *d)
{
    return rd_safetensors_path(rd_denoiser_weights(d));
}

gboolean rd_denoiser_set_loras(RdDenoiser *d, RdLoraFile *const *files, const double *strengths,
                               int n, GError **error)
{
    if (d->ops->set_loras)
        return d->ops->set_loras(d, files, strengths, n, error);
    if (n == 0)
        return TRUE;
    g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                "LoRAs are not supported for %s models yet", d->info.family_name);
    return FALSE;
}

FluxModel *rd_denoiser_flux(const RdDenoiser *d)
{
    return d->info.family == RD_DENOISER_FLUX ? d->impl : NULL;
}
