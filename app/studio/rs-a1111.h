/* Parameters of an AUTOMATIC1111-style PNG: the "parameters" text chunk. Pure C (GLib).
 *
 *   <prompt, one or more lines>
 *   Negative prompt: <text, one or more lines>            (optional)
 *   Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x768, Model: ...
 *
 * The last line that starts with "Steps:" holds the settings: "Key: value" pairs separated by
 * ", ", a value may be a double-quoted string with commas inside. Unknown keys are ignored. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
    char *prompt;          /* never NULL after a successful parse */
    char *negative_prompt; /* NULL when absent */
    gboolean has_steps, has_guidance, has_seed, has_size;
    int steps;
    double guidance; /* "Distilled CFG Scale" (FLUX front ends) when present, else "CFG scale" */
    guint64 seed;
    int width, height;
} RsA1111Params;

/* FALSE when text has no settings line (it is not an A1111 record). */
gboolean rs_a1111_parse(const char *text, RsA1111Params *params);
void rs_a1111_params_clear(RsA1111Params *params);

G_END_DECLS
