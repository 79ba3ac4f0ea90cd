/* Command-line options shared by the subcommands that run the transformer: the ResDiT method
 * parameters (docs/METHOD.md) and the backend choice. */
#pragma once

#include "backend.h"
#include "resdit_attention.h"

typedef struct {
    char *mode;      /* direct, global, local, fused */
    char *base_grid; /* RxC, or NULL to derive from base_area */
    int base_area;
    int patch;
    double sigma;
    double cutoff;
    gboolean no_pes, no_pipe, no_psf, no_overlap, uniform_weights;
} CliMethodOptions;

void cli_method_options_init(CliMethodOptions *o);
/* "ResDiT options" group for GOptionContext, filling o. */
GOptionGroup *cli_method_option_group(CliMethodOptions *o);
/* Checks the values and turns them into a plan; mode_required: --mode must be a fixed mode. */
gboolean cli_method_plan(const CliMethodOptions *o, ResditAttentionPlan *plan, GError **error);
gboolean cli_method_params(const CliMethodOptions *o, ResditMethodParams *params, GError **error);

gboolean cli_parse_grid(const char *text, const char *flag, int *rows, int *cols, GError **error);
/* name: NULL or "auto", "cuda", "cpu". */
RdBackend *cli_backend_new(const char *name, GError **error);
