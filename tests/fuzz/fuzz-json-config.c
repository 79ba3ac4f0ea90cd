/* Fuzz target for the JSON loaders of model files and records: the first byte picks the loader
 * (FLUX transformer config.json, VAE config.json, a text encoder's config.json, a sharded
 * checkpoint's index, a PNG parameter record, a history row's parameter blob, a model folder's
 * resdit.json), the rest is the file. Any bytes must give a model
 * part or a GError, never a crash, a critical or a hang. */
#include "fuzz-util.h"

#include <string.h>

#include "backend.h"
#include "flux_private.h"
#include "history-params.h"
#include "pipeline-private.h"
#include "resdit.h"
#include "safetensors.h"
#include "text_config.h"
#include "vae.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_dir();
    if (size < 1)
        return 0;
    const int which = data[0] % 7;
    data++;
    size--;
    GError *error = NULL;
    switch (which) {
    case 0: {
        g_autofree char *path = fuzz_write("transformer/config.json", data, size);
        FluxConfig c = {.head_dim = 128, .rope_axes = {16, 56, 56}};
        gboolean ok = flux_config_apply_json(&c, path, &error);
        g_assert(ok == (error == NULL));
        if (ok)
            g_assert(c.head_dim > 0 && c.rope_axes[0] > 0 && c.rope_axes[1] > 0 &&
                     c.rope_axes[2] > 0);
        break;
    }
    case 1: {
        g_autofree char *path = fuzz_write("vae/config.json", data, size);
        g_autofree char *folder = g_path_get_dirname(path);
        RdBackend *be = rd_backend_cpu_new();
        RdVae *vae = rd_vae_load(folder, be, &error); /* no weights: an error either way */
        g_assert(vae == NULL && error != NULL);
        be->destroy(be);
        break;
    }
    case 2: {
        g_autofree char *path = fuzz_write("text_encoder/config.json", data, size);
        g_autofree char *folder = g_path_get_dirname(path);
        gboolean failed = FALSE;
        JsonObject *cfg = rd_text_config_load(folder, &failed, &error);
        g_assert(failed == (error != NULL));
        (void)rd_text_config_int(cfg, "hidden_size", 1);
        (void)rd_text_config_double(cfg, "layer_norm_eps", 1e-5);
        (void)rd_text_config_string(cfg, "hidden_act", "quick_gelu");
        if (cfg)
            json_object_unref(cfg);
        break;
    }
    case 3: {
        g_autofree char *path = fuzz_write("model.safetensors.index.json", data, size);
        RdSafetensors *st = rd_safetensors_open(path, &error);
        g_assert((st == NULL) == (error != NULL));
        rd_safetensors_close(st);
        break;
    }
    case 5: {
        g_autofree char *text = g_strndup((const char *)data, size);
        HistoryParams p;
        gboolean ok = history_params_from_json(&p, text, &error);
        g_assert(ok == (error == NULL));
        if (ok)
            history_params_clear(&p);
        break;
    }
    case 6: {
        g_autofree char *path = fuzz_write("demo/resdit.json", data, size);
        g_autofree char *folder = g_path_get_dirname(path);
        ResditModel m = {0}; /* a dry run's defaults: no transformer */
        rd_model_defaults_init(&m, FALSE);
        gboolean ok = rd_model_read_settings(&m, folder, &error);
        g_assert(ok == (error == NULL));
        g_assert(m.base_size % 16 == 0 && m.patch * 16 == m.base_size);
        g_free(m.default_prompt);
        break;
    }
    default: {
        g_autofree char *text = g_strndup((const char *)data, size);
        ResditJobParams p;
        resdit_job_params_init(&p);
        gboolean ok = resdit_job_params_from_json(&p, text, &error);
        g_assert(ok == (error == NULL));
        resdit_job_params_clear(&p);
        break;
    }
    }
    g_clear_error(&error);
    return 0;
}
