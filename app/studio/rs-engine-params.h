/* Conversions between the app's job settings, the engine's job parameters and the history's
 * parameter record. GLib only (no GTK). */
#pragma once

#include "resdit.h"
#include "rs-a1111.h"
#include "rs-job-settings.h"

G_BEGIN_DECLS

/* Fills params (initialised by the caller) from the settings. model may be NULL; when given,
 * its own defaults come first, and the self-test model keeps its tiny base grid, patch and T5
 * length (the panel's base size and patch are FLUX's). The seed is always fixed: a random seed
 * is drawn here, so the seed used is known before the job starts. */
void rs_engine_params_from_settings(RsJobSettings *job, const ResditModel *model,
                                    ResditJobParams *params);

/* Takes over a newly opened model's own settings when its base size differs from the panel's
 * (the demo model: 256 px base, patch 16, 16 steps, 256 x 256; a FLUX model after it: the
 * panel's defaults again), and its suggested prompt when the prompt is empty (the guidance
 * follows the model in rs-window.c, until the user chooses one). The self-test
 * model keeps the panel as it is. */
void rs_engine_params_adopt_model(RsJobSettings *job, const ResditModel *model);

/* Sets every control the parameters have a value for (the seed becomes fixed). Returns FALSE
 * when the seed does not fit the 32-bit seed control (the rest is still applied). */
gboolean rs_engine_params_apply(RsJobSettings *job, const ResditJobParams *params);

/* Sets what an A1111 record has: prompt, steps, guidance, seed, size (snapped to 16 px). FALSE
 * when its seed does not fit the seed control. */
gboolean rs_engine_params_apply_a1111(RsJobSettings *job, const RsA1111Params *record);

/* The size preset that fits the model and the backend it was opened on, for a user who has not
 * chosen one: the 512 px draft size for the self-test model and on the processor (a 4K image
 * there takes hours), otherwise about four times the model's base size (FLUX: 4K). */
const char *rs_default_size_preset(const ResditModel *model);

/* The model's own step count and the ResDiT schedule for it (G = steps * 10 / 35,
 * L = steps * 15 / 35, rounded). */
void rs_default_steps(const ResditModel *model, int *steps, int *global_steps, int *local_steps);

G_END_DECLS
