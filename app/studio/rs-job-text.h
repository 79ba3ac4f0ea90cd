/* Text the window shows about a running or failed job. */
#pragma once

#include "resdit.h"

G_BEGIN_DECLS

/* "Global", "Fused", "Decoding", ... */
const char *rs_phase_label(ResditPhase phase);
/* "Step 3 of 8 · Fused · 0:04 elapsed · about 0:07 left", "Encoding the prompt · 0:01 elapsed",
 * "Decoding · 0:12 elapsed" */
char *rs_progress_text(const ResditProgress *progress);
/* Before the engine's first report: "Loading the model · 0:03 elapsed", "Starting · 0:00 elapsed" */
char *rs_waiting_text(gboolean loading_model, double elapsed);
/* What the user can do about an engine error (a sentence), never NULL. */
const char *rs_error_next_step(const GError *error);
/* The output folder from the setting's value ("" = Pictures/ResDiT Studio). */
char *rs_output_folder(const char *setting);

G_END_DECLS
