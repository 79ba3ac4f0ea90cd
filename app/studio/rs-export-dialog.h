/* The Export As dialog: a save dialog with two choices, the format (PNG, JPEG, WebP) and whether
 * to include the generation parameters; on Export the image is written in the background
 * (rs-export.c) and done is called on the main thread. */
#pragma once

#include <gtk/gtk.h>

#include "rs-export.h"

G_BEGIN_DECLS

typedef void (*RsExportDone)(const char *dest, const GError *error, gpointer user_data);

/* Shows the dialog for source_png (an engine PNG), opening in its folder with its name. The
 * dialog keeps a reference to data (a GObject) until done has been called. */
void rs_export_dialog_show(GtkWindow *parent, const char *source_png, RsExportDone done,
                           GObject *data);

/* The file written for the name the user chose and the format choice: a name whose extension
 * names a format is written in that format, else the chosen format's extension is added. */
char *rs_export_target(const char *chosen, const char *format_id, RsExportFormat *format);

G_END_DECLS
