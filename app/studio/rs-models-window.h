/* RsModelsWindow: the models found on this machine, where every part of each comes from or what
 * it lacks and where it was looked for, with a button to open each model's folder; and a page
 * that says where to get FLUX and where to put it (nothing is downloaded). */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define RS_TYPE_MODELS_WINDOW (rs_models_window_get_type())
G_DECLARE_FINAL_TYPE(RsModelsWindow, rs_models_window, RS, MODELS_WINDOW, AdwPreferencesWindow)

/* discovered: ResditModelPaths (may be NULL while discovery runs). */
GtkWidget *rs_models_window_new(GtkWindow *parent, GPtrArray *discovered);
/* Shows the "Where to Get FLUX" page. */
void rs_models_window_show_help(RsModelsWindow *self);

G_END_DECLS
