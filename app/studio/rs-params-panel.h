/* RsParamsPanel: the parameters panel; every control is bound to an RsJobSettings. */
#pragma once

#include <adwaita.h>

#include "rs-init-image-group.h"
#include "rs-job-settings.h"
#include "rs-model-handle.h"

G_BEGIN_DECLS

#define RS_TYPE_PARAMS_PANEL (rs_params_panel_get_type())
G_DECLARE_FINAL_TYPE(RsParamsPanel, rs_params_panel, RS, PARAMS_PANEL, AdwBin)

void rs_params_panel_set_job(RsParamsPanel *self, RsJobSettings *job);
/* The image-to-image group (its source image, loaded). */
RsInitImageGroup *rs_params_panel_get_init_image_group(RsParamsPanel *self);
/* The open model: the memory estimate becomes the engine's for it (NULL: FLUX.1-dev's formula). */
void rs_params_panel_set_model(RsParamsPanel *self, RsModelHandle *model);

/* LoRA files in the usual model folders and in extra_dirs go into the LoRA list. */
void rs_params_panel_discover_loras(RsParamsPanel *self, const char *const *extra_dirs);

/* FALSE (with a hint under the prompt, which gets the focus) when the prompt is empty. */
gboolean rs_params_panel_check_prompt(RsParamsPanel *self);

G_END_DECLS
