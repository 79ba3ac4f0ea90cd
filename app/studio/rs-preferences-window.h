/* RsPreferencesWindow: the preferences, each row bound to its GSettings key. */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define RS_TYPE_PREFERENCES_WINDOW (rs_preferences_window_get_type())
G_DECLARE_FINAL_TYPE(RsPreferencesWindow, rs_preferences_window, RS, PREFERENCES_WINDOW,
                     AdwPreferencesWindow)

GtkWidget *rs_preferences_window_new(GtkWindow *parent);

/* The folder finished images go to: the output-folder key, or Pictures/ResDiT Studio. */
char *rs_preferences_output_folder(GSettings *settings);

G_END_DECLS
