/* Command-line options that choose a model, shared by `resdit generate` and `resdit models`. */
#pragma once

#include "resdit.h"

typedef struct {
    char *model; /* a diffusers folder, a Hugging Face cache or a ComfyUI folder */
    char *transformer, *vae, *clip_l, *clip_g, *t5; /* clip_g: SD3's */
    char **dirs;       /* more places to search (--models-dir, repeatable) */
    char *backend;     /* auto, cuda, cpu */
    gboolean selftest; /* the built-in self-test model */
} CliModelOptions;

void cli_model_options_init(CliModelOptions *o);
void cli_model_options_clear(CliModelOptions *o);
GOptionGroup *cli_model_option_group(CliModelOptions *o);
/* Where the parts of the model the options name are (--model, discovery, the four files), without
 * opening anything; not for --selftest. */
ResditModelPaths *cli_model_paths(const CliModelOptions *o, GError **error);
/* Opens the model the options name (verbose: says which one on stderr). */
ResditModel *cli_model_open(const CliModelOptions *o, gboolean verbose, GError **error);
/* Whether any option names a model. */
gboolean cli_model_options_given(const CliModelOptions *o);
/* Opens the model of that display name (as a PNG record names it): the self-test model, or a
 * complete discovered model (searching --models-dir too). */
ResditModel *cli_model_open_named(const CliModelOptions *o, const char *name, gboolean verbose,
                                  GError **error);
