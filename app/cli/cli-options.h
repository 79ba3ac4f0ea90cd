/* Command-line options shared by the subcommands that run the transformer: the ResDiT method
 * parameters (docs/METHOD.md) and the backend choice. */
#pragma once

#include "backend.h"
#include "resdit_attention.h"

/* Largest grids the command line accepts, in tokens (16 pixels each): 16384 pixels per side. */
#define CLI_MAX_GRID_SIDE 1024

typedef struct {
    char *mode;      /* direct, global, local, fused */
    char *base_grid; /* RxC, or NULL to derive from base_area */
    /* numbers as typed (NULL: not given), checked with the strict parser of cli-number.h */
    char *base_area;
    char *patch;
    char *sigma;
    char *cutoff;
    gboolean no_pes, no_pipe, no_psf, no_overlap, uniform_weights;
} CliMethodOptions;

void cli_method_options_init(CliMethodOptions *o);
void cli_method_options_clear(CliMethodOptions *o);
/* "ResDiT options" group for GOptionContext, filling o. */
GOptionGroup *cli_method_option_group(CliMethodOptions *o);
/* Checks the values and turns them into a plan (method defaults for what was not given). */
gboolean cli_method_plan(const CliMethodOptions *o, ResditAttentionPlan *plan, GError **error);
/* Sets in params what the options give (the rest keeps its value; ablations are added). Bad
 * values: G_OPTION_ERROR_BAD_VALUE naming the option, params untouched. */
gboolean cli_method_params(const CliMethodOptions *o, ResditMethodParams *params, GError **error);

/* --grid / --base-grid RxC: 1 to CLI_MAX_GRID_SIDE tokens per side. */
gboolean cli_parse_grid(const char *text, const char *flag, int *rows, int *cols, GError **error);
/* name: NULL or "auto", "cuda", "cpu". */
RdBackend *cli_backend_new(const char *name, GError **error);
