#include "cli-options.h"

#include <stdlib.h>

void cli_method_options_init(CliMethodOptions *o)
{
    ResditMethodParams d;
    resdit_method_params_init(&d);
    *o = (CliMethodOptions){.base_area = d.base_area, .patch = d.patch, .sigma = d.sigma,
                            .cutoff = d.cutoff};
}

GOptionGroup *cli_method_option_group(CliMethodOptions *o)
{
    GOptionEntry entries[] = {
        {"mode", 0, 0, G_OPTION_ARG_STRING, &o->mode,
         "attention mode: direct, global, local or fused (default direct)", "MODE"},
        {"base-grid", 0, 0, G_OPTION_ARG_STRING, &o->base_grid,
         "token grid PES maps onto (default: from --base-area, same aspect ratio)", "RxC"},
        {"base-area", 0, 0, G_OPTION_ARG_INT, &o->base_area,
         "tokens of the base grid (default 4096 = 64 x 64, FLUX's 1024 px)", "N"},
        {"patch", 0, 0, G_OPTION_ARG_INT, &o->patch, "local patch side in tokens (default 64)",
         "P"},
        {"sigma", 0, 0, G_OPTION_ARG_DOUBLE, &o->sigma,
         "GWS sigma in tokens (default patch / 4)", "S"},
        {"cutoff", 0, 0, G_OPTION_ARG_DOUBLE, &o->cutoff,
         "PSF cutoff, 1.0 = Nyquist (default 0.2)", "C"},
        {"no-pes", 0, 0, G_OPTION_ARG_NONE, &o->no_pes, "ablation: no position scaling", NULL},
        {"no-pipe", 0, 0, G_OPTION_ARG_NONE, &o->no_pipe,
         "ablation: patches keep global positions", NULL},
        {"no-psf", 0, 0, G_OPTION_ARG_NONE, &o->no_psf,
         "ablation: average the branches instead of spectral fusion", NULL},
        {"no-overlap", 0, 0, G_OPTION_ARG_NONE, &o->no_overlap,
         "ablation: ceil(H/h) tiles without overlap or splicing", NULL},
        {"uniform-weights", 0, 0, G_OPTION_ARG_NONE, &o->uniform_weights,
         "ablation: uniform instead of Gaussian splice weights", NULL},
        {NULL}};
    GOptionGroup *group = g_option_group_new("resdit", "ResDiT options:",
                                             "Show the ResDiT method options", NULL, NULL);
    g_option_group_add_entries(group, entries);
    return group;
}

gboolean cli_parse_grid(const char *text, const char *flag, int *rows, int *cols, GError **error)
{
    char *end = NULL;
    long r = strtol(text, &end, 10);
    long c = (end && (*end == 'x' || *end == 'X')) ? strtol(end + 1, &end, 10) : 0;
    if (!end || *end != '\0' || r < 1 || c < 1 || r > 100000 || c > 100000) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                    "%s '%s': expected ROWSxCOLS, e.g. 64x64", flag, text);
        return FALSE;
    }
    *rows = (int)r;
    *cols = (int)c;
    return TRUE;
}

static gboolean invalid(GError **error, const char *what)
{
    g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT, "%s", what);
    return FALSE;
}

gboolean cli_method_params(const CliMethodOptions *o, ResditMethodParams *p, GError **error)
{
    resdit_method_params_init(p);
    if (o->patch < 1)
        return invalid(error, "--patch must be at least 1 token");
    if (o->base_area < 1)
        return invalid(error, "--base-area must be at least 1 token");
    if (o->sigma < 0)
        return invalid(error, "--sigma must not be negative (0 means patch / 4)");
    if (o->cutoff < 0)
        return invalid(error, "--cutoff must not be negative");
    p->base_area = o->base_area;
    p->patch = o->patch;
    p->sigma = o->sigma;
    p->cutoff = o->cutoff;
    p->no_pes = o->no_pes;
    p->no_pipe = o->no_pipe;
    p->no_psf = o->no_psf;
    p->no_overlap = o->no_overlap;
    p->uniform_weights = o->uniform_weights;
    if (o->base_grid)
        return cli_parse_grid(o->base_grid, "--base-grid", &p->base_rows, &p->base_cols, error);
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
