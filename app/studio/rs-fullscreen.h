/* Fullscreen view: the window's "fullscreened" state (win.fullscreen, F11 and a canvas toolbar
 * button) folds the parameters and history sidebars away, so the canvas takes the screen, and
 * brings back the ones that were open when the window leaves fullscreen. Escape leaves
 * fullscreen when no job runs (while one runs, Escape cancels it, as before: rs-window.c). */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

/* Follows window's fullscreened state for these flaps (the array is copied). */
void rs_fullscreen_attach(GtkWindow *window, AdwFlap *const *flaps, int n_flaps);

G_END_DECLS
