/* resdit forward: one transformer forward pass on saved inputs, for verification against the
 * PyTorch reference. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli-options.h"
#include "flux_model.h"
#include "safetensors.h"

typedef struct {
    char *transformer, *config, *inputs, *output, *grid, *backend;
    CliMethodOptions method;
} ForwardOptions;

/* A tensor of the inputs file as f32 with exactly `numel` elements. */
static float *input_tensor(RdSafetensors *st, const char *name, int64_t numel, gboolean required,
                           GError **error)
{
    const RdTensorInfo *t = rd_safetensors_find(st, name);
    if (!t) {
        if (required)
            g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_FORMAT, "%s: no tensor '%s'",
                        rd_safetensors_path(st), name);
        return NULL;
    }
    if (numel >= 0 && rd_tensor_info_numel(t) != numel) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_FORMAT,
                    "%s: tensor '%s' has %" G_GINT64_FORMAT " elements, expected %" G_GINT64_FORMAT,
                    rd_safetensors_path(st), name, rd_tensor_info_numel(t), numel);
        return NULL;
    }
    float *data = g_new(float, rd_tensor_info_numel(t));
    rd_convert_to_f32(t->dtype, t->data, data, (size_t)rd_tensor_info_numel(t));
    return data;
}

static gboolean grid_for(const char *grid, int64_t tokens, int *rows, int *cols, GError **error)
{
    if (grid)
        return cli_parse_grid(grid, "--grid", rows, cols, error) &&
               ((int64_t)*rows * *cols == tokens ||
                (g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                             "--grid %s has %d tokens but the inputs hold %" G_GINT64_FORMAT,
                             grid, *rows * *cols, tokens),
                 FALSE));
    int side = 1;
    while ((int64_t)side * side < tokens)
        side++;
    if ((int64_t)side * side != tokens) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                    "%" G_GINT64_FORMAT " image tokens are not a square grid: give --grid RxC",
                    tokens);
        return FALSE;
    }
    *rows = *cols = side;
    return TRUE;
}

static gboolean run_forward(ForwardOptions *o, GError **error)
{
    g_autoptr(RdBackend) be = cli_backend_new(o->backend, error);
    if (!be)
        return FALSE;
    FluxModel *model = flux_model_load_with_config(o->transformer, o->config, be, error);
    if (!model)
        return FALSE;
    const FluxConfig *cfg = flux_model_config(model);
    RdSafetensors *st = rd_safetensors_open(o->inputs, error);
    gboolean ok = st != NULL;
    const RdTensorInfo *img_info = ok ? rd_safetensors_find(st, "img") : NULL;
    const RdTensorInfo *txt_info = ok ? rd_safetensors_find(st, "txt") : NULL;
    if (ok && (!img_info || !txt_info)) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_FORMAT, "%s: needs tensors img and txt",
                    o->inputs);
        ok = FALSE;
    }
    FluxInputs in = {0};
    g_autofree float *img = NULL, *txt = NULL, *vec = NULL, *t = NULL, *g = NULL;
    g_autofree float *velocity = NULL;
    if (ok) {
        int64_t tokens = rd_tensor_info_numel(img_info) / cfg->in_channels;
        in.txt_len = (int)(rd_tensor_info_numel(txt_info) / cfg->txt_dim);
        ok = grid_for(o->grid, tokens, &in.grid_rows, &in.grid_cols, error) &&
             (img = input_tensor(st, "img", tokens * cfg->in_channels, TRUE, error)) &&
             (txt = input_tensor(st, "txt", (int64_t)in.txt_len * cfg->txt_dim, TRUE, error)) &&
             (vec = input_tensor(st, "vec", cfg->vec_dim, TRUE, error)) &&
             (t = input_tensor(st, "timestep", 1, TRUE, error));
        if (ok && cfg->has_guidance)
            ok = (g = input_tensor(st, "guidance", 1, TRUE, error)) != NULL;
    }
    if (ok) {
        in.img = img;
        in.txt = txt;
        in.vec = vec;
        in.timestep = t[0];
        in.guidance = g ? g[0] : 0.0f;
        FluxAttentionPlan plan;
        ok = cli_method_plan(&o->method, &plan, error);
        velocity = g_new(float, (int64_t)in.grid_rows * in.grid_cols * cfg->in_channels);
        ok = ok && flux_model_forward(model, &in, &plan, velocity, NULL, error);
    }
    if (ok) {
        RdSafetensorsWriter *w = rd_safetensors_writer_new();
        int64_t shape[3] = {1, (int64_t)in.grid_rows * in.grid_cols, cfg->in_channels};
        rd_safetensors_writer_add(w, "velocity", RD_F32, 3, shape, velocity);
        ok = rd_safetensors_writer_save(w, o->output, error);
        rd_safetensors_writer_free(w);
    }
    rd_safetensors_close(st);
    flux_model_free(model);
    return ok;
}

int cli_forward(int argc, char **argv)
{
    ForwardOptions o = {0};
    cli_method_options_init(&o.method);
    GOptionEntry entries[] = {
        {"transformer", 0, 0, G_OPTION_ARG_FILENAME, &o.transformer,
         "FLUX transformer: single file or diffusers folder", "PATH"},
        {"config", 0, 0, G_OPTION_ARG_FILENAME, &o.config,
         "diffusers config.json for a single file of non-standard shape", "JSON"},
        {"inputs", 0, 0, G_OPTION_ARG_FILENAME, &o.inputs,
         "safetensors with img, txt, vec, timestep, guidance", "IN"},
        {"output", 0, 0, G_OPTION_ARG_FILENAME, &o.output, "safetensors to write (velocity)",
         "OUT"},
        {"grid", 0, 0, G_OPTION_ARG_STRING, &o.grid, "image token grid (default: square)", "RxC"},
        {"backend", 0, 0, G_OPTION_ARG_STRING, &o.backend, "auto, cuda or cpu (default auto)",
         "NAME"},
        {NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new("- one FLUX forward pass");
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_add_group(ctx, cli_method_option_group(&o.method));
    g_autoptr(GError) error = NULL;
    if (!g_option_context_parse(ctx, &argc, &argv, &error))
        return cli_fail("%s", error->message);
    if (!o.transformer || !o.inputs || !o.output)
        return cli_fail("forward needs --transformer, --inputs and --output (see --help)");
    if (!run_forward(&o, &error))
        return cli_fail("%s", error->message);
    return 0;
}
