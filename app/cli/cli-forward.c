/* resdit forward: one transformer forward pass on saved inputs, for verification against the
 * PyTorch reference. */
#include <stdio.h>
#include <string.h>

#include "cli-options.h"
#include "cli.h"
#include "denoiser.h"
#include "safetensors.h"

/* The most text tokens a FLUX job uses (T5 up to 4096, as the engine allows). */
#define MAX_TXT_TOKENS 4096
#define MAX_IMG_TOKENS ((int64_t)CLI_MAX_GRID_SIDE * CLI_MAX_GRID_SIDE)

typedef struct {
    char *transformer, *config, *inputs, *output, *grid, *backend;
    char **loras; /* FILE[:STRENGTH] */
    CliMethodOptions method;
} ForwardOptions;

static void forward_options_clear(ForwardOptions *o)
{
    g_free(o->transformer);
    g_free(o->config);
    g_free(o->inputs);
    g_free(o->output);
    g_free(o->grid);
    g_free(o->backend);
    g_strfreev(o->loras);
    cli_method_options_clear(&o->method);
}

static char *shape_text(const RdTensorInfo *t)
{
    GString *s = g_string_new("[");
    for (int i = 0; i < t->ndim; i++)
        g_string_append_printf(s, i ? ", %" G_GINT64_FORMAT : "%" G_GINT64_FORMAT, t->shape[i]);
    g_string_append_c(s, ']');
    return g_string_free(s, FALSE);
}

/* The rows of a [1, rows, width] (or [rows, width]) tensor, checked against 1..max_rows before
 * anything is allocated: the header's claim is all we know (a sparse file holds any size). */
static gboolean tensor_rows(RdSafetensors *st, const RdTensorInfo *t, int64_t width,
                            int64_t max_rows, const char *layout, int64_t *rows, GError **error)
{
    gboolean ok = (t->ndim == 2 || (t->ndim == 3 && t->shape[0] == 1)) &&
                  t->shape[t->ndim - 1] == width && t->shape[t->ndim - 2] >= 1 &&
                  t->shape[t->ndim - 2] <= max_rows;
    if (!ok) {
        g_autofree char *shape = shape_text(t);
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_FORMAT,
                    "%s: tensor '%s' has shape %s; this transformer wants [1, %s, %" G_GINT64_FORMAT
                    "] with 1 to %" G_GINT64_FORMAT " %s",
                    rd_safetensors_path(st), t->name, shape, layout, width, max_rows, layout);
        return FALSE;
    }
    *rows = t->shape[t->ndim - 2];
    return TRUE;
}

/* A tensor of the inputs file as f32 with exactly `numel` elements (numel is known small). */
static float *input_tensor(RdSafetensors *st, const char *name, int64_t numel, GError **error)
{
    const RdTensorInfo *t = rd_safetensors_find(st, name);
    if (!t) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_FORMAT, "%s: no tensor '%s'",
                    rd_safetensors_path(st), name);
        return NULL;
    }
    if (rd_tensor_info_numel(t) != numel) {
        g_autofree char *shape = shape_text(t);
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_FORMAT,
                    "%s: tensor '%s' has shape %s (%" G_GINT64_FORMAT
                    " elements), expected %" G_GINT64_FORMAT,
                    rd_safetensors_path(st), name, shape, rd_tensor_info_numel(t), numel);
        return NULL;
    }
    float *data = g_new(float, numel);
    rd_convert_to_f32(t->dtype, t->data, data, (size_t)numel);
    return data;
}

/* tokens: 1..MAX_IMG_TOKENS, so every product below fits. */
static gboolean grid_for(const char *grid, int64_t tokens, int *rows, int *cols, GError **error)
{
    if (grid) {
        if (!cli_parse_grid(grid, "--grid", rows, cols, error))
            return FALSE;
        if ((int64_t)*rows * *cols != tokens) {
            g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                        "--grid %s has %" G_GINT64_FORMAT
                        " tokens but the inputs hold %" G_GINT64_FORMAT,
                        grid, (int64_t)*rows * *cols, tokens);
            return FALSE;
        }
        return TRUE;
    }
    int64_t side = 1;
    while (side * side < tokens)
        side++;
    if (side * side != tokens) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                    "%" G_GINT64_FORMAT " image tokens are not a square grid: give --grid RxC",
                    tokens);
        return FALSE;
    }
    *rows = *cols = (int)side;
    return TRUE;
}

/* Opens the --lora files and merges them into the transformer (their CLIP-L parts, if any, have
 * no text encoder to go to here). */
static gboolean apply_loras(RdDenoiser *model, char **specs, GError **error)
{
    guint n = specs ? g_strv_length(specs) : 0;
    if (n > 0 && !rd_denoiser_info(model)->loras) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                    "LoRAs are not supported for %s models yet",
                    rd_denoiser_info(model)->family_name);
        return FALSE;
    }
    g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func((GDestroyNotify)rd_lora_close);
    g_autofree double *strengths = g_new(double, MAX(n, 1));
    for (guint i = 0; i < n; i++) {
        g_autofree char *path = NULL;
        if (!resdit_lora_spec_parse(specs[i], &path, &strengths[i], error))
            return FALSE;
        RdLoraFile *f = rd_lora_open(path, error);
        if (!f)
            return FALSE;
        g_ptr_array_add(files, f);
    }
    return n == 0 || rd_denoiser_set_loras(model, (RdLoraFile *const *)files->pdata, strengths,
                                           (int)n, error);
}

static gboolean write_velocity(const char *path, const float *velocity, int64_t tokens,
                               int channels, GError **error)
{
    RdSafetensorsWriter *w = rd_safetensors_writer_new();
    int64_t shape[3] = {1, tokens, channels};
    rd_safetensors_writer_add(w, "velocity", RD_F32, 3, shape, velocity);
    gboolean ok = rd_safetensors_writer_save(w, path, error);
    rd_safetensors_writer_free(w);
    return ok;
}

/* The tensors of --inputs, checked against the model's widths. */
typedef struct {
    float *img, *txt, *vec, *timestep, *guidance; /* guidance: NULL unless asked for */
    int64_t tokens, txt_len;
    int grid_rows, grid_cols;
} ForwardInputs;

static void forward_inputs_clear(ForwardInputs *in)
{
    g_free(in->img);
    g_free(in->txt);
    g_free(in->vec);
    g_free(in->timestep);
    g_free(in->guidance);
}

static gboolean read_inputs(const ForwardOptions *o, int in_channels, int txt_dim, int vec_dim,
                            gboolean guidance, ForwardInputs *in, GError **error)
{
    memset(in, 0, sizeof *in);
    RdSafetensors *st = rd_safetensors_open(o->inputs, error);
    if (!st)
        return FALSE;
    const RdTensorInfo *img_info = rd_safetensors_find(st, "img");
    const RdTensorInfo *txt_info = rd_safetensors_find(st, "txt");
    gboolean ok = img_info && txt_info;
    if (!ok)
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_FORMAT, "%s: needs tensors img and txt",
                    o->inputs);
    ok = ok &&
         tensor_rows(st, img_info, in_channels, MAX_IMG_TOKENS, "tokens", &in->tokens, error) &&
         tensor_rows(st, txt_info, txt_dim, MAX_TXT_TOKENS, "text tokens", &in->txt_len, error) &&
         grid_for(o->grid, in->tokens, &in->grid_rows, &in->grid_cols, error) &&
         (in->img = input_tensor(st, "img", in->tokens * in_channels, error)) &&
         (in->txt = input_tensor(st, "txt", in->txt_len * txt_dim, error)) &&
         (in->vec = input_tensor(st, "vec", vec_dim, error)) &&
         (in->timestep = input_tensor(st, "timestep", 1, error)) &&
         (!guidance || (in->guidance = input_tensor(st, "guidance", 1, error)));
    rd_safetensors_close(st);
    if (!ok)
        forward_inputs_clear(in);
    return ok;
}

/* FLUX or SD3, by the transformer's content: the same inputs (guidance only for a model that
 * embeds it) and every ResDiT mode. */
static gboolean run_forward(ForwardOptions *o, const ResditAttentionPlan *plan, GError **error)
{
    g_autoptr(RdBackend) be = cli_backend_new(o->backend, error);
    if (!be)
        return FALSE;
    RdDenoiser *model = rd_denoiser_load(o->transformer, o->config, be, error);
    if (!model)
        return FALSE;
    const RdDenoiserInfo *info = rd_denoiser_info(model);
    const gboolean guidance = info->guidance == RD_GUIDANCE_EMBEDDED;
    ForwardInputs in;
    gboolean ok = apply_loras(model, o->loras, error) &&
                  read_inputs(o, info->in_channels, info->txt_dim, info->vec_dim, guidance, &in,
                              error);
    if (ok) {
        RdDenoiserInputs x = {
            in.img,       in.txt,       in.vec,         (int)in.txt_len,
            in.grid_rows, in.grid_cols, in.timestep[0], guidance ? in.guidance[0] : 0};
        g_autofree float *velocity = g_new(float, in.tokens * info->in_channels);
        ok = rd_denoiser_forward(model, &x, plan, velocity, NULL, error) &&
             write_velocity(o->output, velocity, in.tokens, info->in_channels, error);
        forward_inputs_clear(&in);
    }
    rd_denoiser_free(model);
    return ok;
}

int cli_forward(int argc, char **argv)
{
    ForwardOptions o = {0};
    cli_method_options_init(&o.method);
    GOptionEntry entries[] = {
        {"transformer", 0, 0, G_OPTION_ARG_FILENAME, &o.transformer,
         "FLUX or SD3 transformer: single file or diffusers folder", "PATH"},
        {"config", 0, 0, G_OPTION_ARG_FILENAME, &o.config,
         "diffusers config.json for a single file of non-standard shape", "JSON"},
        {"inputs", 0, 0, G_OPTION_ARG_FILENAME, &o.inputs,
         "safetensors with img, txt, vec, timestep, guidance", "IN"},
        {"output", 0, 0, G_OPTION_ARG_FILENAME, &o.output, "safetensors to write (velocity)",
         "OUT"},
        {"grid", 0, 0, G_OPTION_ARG_STRING, &o.grid,
         "image token grid, 1 to 1024 per side (default: square)", "RxC"},
        {"backend", 0, 0, G_OPTION_ARG_STRING, &o.backend, "auto, cuda or cpu (default auto)",
         "NAME"},
        {"lora", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &o.loras,
         "apply a LoRA at a strength (default 1); repeatable", "FILE[:STRENGTH]"},
        {NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new("- one transformer forward pass (FLUX, SD3)");
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_add_group(ctx, cli_method_option_group(&o.method));
    g_autoptr(GError) error = NULL;
    ResditAttentionPlan plan;
    int rc = 0;
    /* bad usage (exit status 2) is found before the model is loaded */
    if (!g_option_context_parse(ctx, &argc, &argv, &error))
        rc = cli_fail("%s (see resdit forward --help)", error->message) + 1;
    else if (argc > 1)
        rc = cli_fail("unexpected argument '%s' (see resdit forward --help)", argv[1]) + 1;
    else if (!o.transformer || !o.inputs || !o.output)
        rc = cli_fail("forward needs --transformer, --inputs and --output (see --help)") + 1;
    else if (!cli_method_plan(&o.method, &plan, &error) ||
             (o.grid && !cli_parse_grid(o.grid, "--grid", &(int){0}, &(int){0}, &error)))
        rc = cli_fail("%s", error->message) + 1;
    else if (!run_forward(&o, &plan, &error))
        rc = cli_fail("%s", error->message) +
             g_error_matches(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT);
    forward_options_clear(&o);
    return rc;
}
