/* The Export As dialog: see rs-export-dialog.h. */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "rs-export-dialog.h"

typedef struct {
    char *source;
    RsExportDone done;
    GObject *data;
    char *dest;
} ExportRequest;

static void request_free(ExportRequest *request)
{
    g_free(request->source);
    g_free(request->dest);
    g_clear_object(&request->data);
    g_free(request);
}

char *rs_export_target(const char *chosen, const char *format_id, RsExportFormat *format)
{
    if (rs_export_format_from_path(chosen, format))
        return g_strdup(chosen);
    if (!rs_export_format_from_id(format_id, format))
        *format = RS_EXPORT_PNG;
    return g_strconcat(chosen, ".", rs_export_format_extension(*format), NULL);
}

static void on_exported(GObject *source, GAsyncResult *result, gpointer data)
{
    ExportRequest *request = data;
    GError *error = NULL;
    rs_export_image_finish(result, &error);
    request->done(request->dest, error, request->data);
    g_clear_error(&error);
    request_free(request);
}

static void on_response(GtkNativeDialog *dialog, int response, gpointer data)
{
    ExportRequest *request = data;
    GFile *file = response == GTK_RESPONSE_ACCEPT
                      ? gtk_file_chooser_get_file(GTK_FILE_CHOOSER(dialog))
                      : NULL;
    char *path = file != NULL ? g_file_get_path(file) : NULL;
    if (path != NULL) {
        const char *format_id = gtk_file_chooser_get_choice(GTK_FILE_CHOOSER(dialog), "format");
        const char *include = gtk_file_chooser_get_choice(GTK_FILE_CHOOSER(dialog), "parameters");
        RsExportFormat format;
        request->dest = rs_export_target(path, format_id, &format);
        rs_export_image_async(request->source, request->dest, format,
                              g_strcmp0(include, "false") != 0, NULL, on_exported, request);
    } else {
        request_free(request);
    }
    g_free(path);
    g_clear_object(&file);
    gtk_native_dialog_destroy(dialog);
    g_object_unref(dialog);
}

static void add_filter(GtkFileChooser *chooser, const char *name, const char *mime)
{
    GtkFileFilter *filter = gtk_file_filter_new();
    gtk_file_filter_set_name(filter, name);
    gtk_file_filter_add_mime_type(filter, mime);
    gtk_file_chooser_add_filter(chooser, filter);
    g_object_unref(filter);
}

void rs_export_dialog_show(GtkWindow *parent, const char *source_png, RsExportDone done,
                           GObject *data)
{
    GtkFileChooserNative *native = gtk_file_chooser_native_new(
        _("Export Image"), parent, GTK_FILE_CHOOSER_ACTION_SAVE, _("_Export"), _("_Cancel"));
    GtkFileChooser *chooser = GTK_FILE_CHOOSER(native);
    gtk_native_dialog_set_modal(GTK_NATIVE_DIALOG(native), TRUE);

    const char *ids[] = {"png", "jpeg", "webp", NULL};
    const char *labels[] = {_("PNG (lossless)"), _("JPEG"), _("WebP"), NULL};
    gtk_file_chooser_add_choice(chooser, "format", _("Format"), ids, labels);
    gtk_file_chooser_set_choice(chooser, "format", "png");
    /* PNG keeps them as text chunks, JPEG and WebP in XMP (rs-export.h). */
    gtk_file_chooser_add_choice(chooser, "parameters",
                                _("Include generation parameters (PNG text, or XMP in JPEG and "
                                  "WebP)"),
                                NULL, NULL);
    gtk_file_chooser_set_choice(chooser, "parameters", "true");
    add_filter(chooser, _("Images"), "image/*");
    add_filter(chooser, _("PNG"), "image/png");
    add_filter(chooser, _("JPEG"), "image/jpeg");
    add_filter(chooser, _("WebP"), "image/webp");

    char *dir = g_path_get_dirname(source_png);
    GFile *folder = g_file_new_for_path(dir);
    gtk_file_chooser_set_current_folder(chooser, folder, NULL);
    g_object_unref(folder);
    g_free(dir);
    /* the name without its extension: the format choice adds the right one */
    char *name = g_path_get_basename(source_png);
    char *dot = strrchr(name, '.');
    if (dot != NULL && dot != name)
        *dot = '\0';
    gtk_file_chooser_set_current_name(chooser, name);
    g_free(name);

    ExportRequest *request = g_new0(ExportRequest, 1);
    request->source = g_strdup(source_png);
    request->done = done;
    request->data = data != NULL ? g_object_ref(data) : NULL;
    g_signal_connect(native, "response", G_CALLBACK(on_response), request);
    gtk_native_dialog_show(GTK_NATIVE_DIALOG(native));
}
