#include "cli-options.h"

#include "cli-number.h"

void cli_method_options_init(CliMethodOptions *o)
{
    *o = (CliMethodOptions){0};
}

void cli_method_options_clear(CliMethodOptions *o)
{
    g_clear_pointer(&o->mode, g_free);
    g_clear_pointer(&o->base_grid, g_free);
    g_clear_pointer(&o->base_area, g_free);
    g_clear_pointer(&o->patch, g_free);
    g_clear_pointer(&o->sigma, g_free);
    g_clear_pointer(&o->cutoff, g_free);
}

GOptionGroup *cli_method_option_group(CliMethodOptions *o)
{
    GOptionEntry entries[] = {
        {"mode", 0, 0, G_OPTION_ARG_STRING, &o->mode,
         "attention mode: direct, global, local or fused (default direct)", "MODE"},
        {"base-grid", 0, 0, G_OPTION_ARG_STRING, &o->base_grid,
         "token grid PES maps onto, 1 to 1024 per side (default: from --base-area, same aspect "
         "ratio)",
         "RxC"},
        {"base-area", 0, 0, G_OPTION_ARG_STRING, &o->base_area,
         "tokens of the base grid, 1 to 1048576 (default 4096 = 64 x 64, FLUX's 1024 px)", "N"},
        {"patch", 0, 0, G_OPTION_ARG_STRING, &o->patch,
         "local patch side in tokens, 1 to 1024 (default 64)", "P"},
        {"sigma", 0, 0, G_OPTION_ARG_STRING, &o->sigma,
         "GWS sigma in tokens, 0 to 1024 (default 0 = patch / 4)", "S"},
        {"cutoff", 0, 0, G_OPTION_ARG_STRING, &o->cutoff,
         "PSF cutoff, 0 to 2, 1.0 = Nyquist (default 0.2)", "C"},
        {"no-pes", 0, 0, G_OPTION_ARG_NONE, &o->no_pes, "ablation: no position scaling", NULL},
        {"no-pipe", 0, 0, G_OPTION_ARG_NONE, &o->no_pipe, "ablation: patches keep global positions",
         NULL},
        {"no-psf", 0, 0, G_OPTION_ARG_NONE, &o->no_psf,
         "ablation: average the branches instead of spectral fusion", NULL},
        {"no-overlap", 0, 0, G_OPTION_ARG_NONE, &o->no_overlap,
         "ablation: ceil(H/h) tiles without overlap or splicing", NULL},
        {"uniform-weights", 0, 0, G_OPTION_ARG_NONE, &o->uniform_weights,
         "ablation: uniform instead of Gaussian splice weights", NULL},
        {NULL}};
    GOptionGroup *group = g_option_group_new(
        "resdit", "ResDiT options:", "Show the ResDiT method options", NULL, NULL);
    g_option_group_add_entries(group, entries);
    return group;
}

gboolean cli_parse_grid(const char *text, const char *flag, int *rows, int *cols, GError **error)
{
    return cli_number_pair(text, flag, 1, CLI_MAX_GRID_SIDE, rows, cols, error);
}

gboolean cli_method_params(const CliMethodOptions *o, ResditMethodParams *p, GError **error)
{
    ResditMethodParams m = *p;
    if ((o->base_area &&
         !cli_number_int(o->base_area, "--base-area", 1, CLI_MAX_GRID_SIDE * CLI_MAX_GRID_SIDE,
                         &m.base_area, error)) ||
        (o->patch && !cli_number_int(o->patch, "--patch", 1, CLI_MAX_GRID_SIDE, &m.patch, error)) ||
        (o->sigma &&
         !cli_number_double(o->sigma, "--sigma", 0, CLI_MAX_GRID_SIDE, &m.sigma, error)) ||
        (o->cutoff && !cli_number_double(o->cutoff, "--cutoff", 0, 2, &m.cutoff, error)) ||
        (o->base_grid &&
         !cli_parse_grid(o->base_grid, "--base-grid", &m.base_rows, &m.base_cols, error)))
        return FALSE;
    m.no_pes |= o->no_pes;
    m.no_pipe |= o->no_pipe;
    m.no_psf |= o->no_psf;
    m.no_overlap |= o->no_overlap;
    m.uniform_weights |= o->uniform_weights;
    *p = m;
    return TRUE;
}

gboolean cli_method_plan(const CliMethodOptions *o, ResditAttentionPlan *plan, GError **error)
{
    plan->mode = RESDIT_MODE_DIRECT;
    if (o->mode && !resdit_mode_from_name(o->mode, &plan->mode)) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                    "--mode '%s': expected direct, global, local or fused", o->mode);
        return FALSE;
    }
    resdit_method_params_init(&plan->method);
    return cli_method_params(o, &plan->method, error);
}

RdBackend *cli_backend_new(const char *name, GError **error)
{
    if (!name || g_str_equal(name, "auto"))
        return rd_backend_new(RD_BACKEND_AUTO, error);
    if (g_str_equal(name, "cpu"))
        return rd_backend_new(RD_BACKEND_CPU, error);
    if (g_str_equal(name, "cuda"))
        return rd_backend_new(RD_BACKEND_CUDA, error);
    g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                "--backend '%s': expected auto, cuda or cpu", name);
    return NULL;
}
