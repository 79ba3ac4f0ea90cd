/* RsPreferencesWindow: model folders, backend (with whether CUDA can run here), output folder,
 * preview interval and the inspect-branches default, all stored in GSettings. */
#include "config.h"

#include <glib/gi18n.h>

#include "resdit.h"
#include "rs-preferences-window.h"

#include "rs-model-handle.h"

struct _RsPreferencesWindow {
    AdwPreferencesWindow parent_instance;

    GSettings *settings;
    GPtrArray *folder_rows;
    GCancellable *cancellable;
    GtkFileChooserNative *chooser;

    AdwPreferencesGroup *folders_group;
    GtkButton *add_folder_button;
    AdwActionRow *no_folders_row;
    AdwComboRow *backend_row;
    AdwActionRow *output_folder_row;
    GtkButton *reset_output_button;
    GtkButton *choose_output_button;
    GtkSpinButton *preview_interval_spin;
    GtkSpinButton *upscale_size_spin;
    GtkScale *upscale_strength_scale;
    GtkSwitch *inspect_branches_switch;
};

G_DEFINE_FINAL_TYPE(RsPreferencesWindow, rs_preferences_window, ADW_TYPE_PREFERENCES_WINDOW)

static const char *const backend_ids[] = {"auto", "cuda", "cpu"};

char *rs_preferences_output_folder(GSettings *settings)
{
    char *folder = g_settings_get_string(settings, "output-folder");
    if (folder[0] != '\0')
        return folder;
    g_free(folder);
    const char *pictures = g_get_user_special_dir(G_USER_DIRECTORY_PICTURES);
    if (pictures == NULL)
        return g_build_filename(g_get_home_dir(), "Pictures", "ResDiT Studio", NULL);
    return g_build_filename(pictures, "ResDiT Studio", NULL);
}

static gboolean backend_get(GValue *value, GVariant *variant, gpointer data)
{
    const char *id = g_variant_get_string(variant, NULL);
    for (guint i = 0; i < G_N_ELEMENTS(backend_ids); i++) {
        if (g_str_equal(id, backend_ids[i])) {
            g_value_set_uint(value, i);
            return TRUE;
        }
    }
    return FALSE;
}

static GVariant *backend_set(const GValue *value, const GVariantType *type, gpointer data)
{
    guint selected = g_value_get_uint(value);
    return selected < G_N_ELEMENTS(backend_ids) ? g_variant_new_string(backend_ids[selected])
                                                : NULL;
}

static void remove_folder(GtkButton *button, RsPreferencesWindow *self)
{
    const char *path = g_object_get_data(G_OBJECT(button), "path");
    char **folders = g_settings_get_strv(self->settings, "model-folders");
    GStrvBuilder *builder = g_strv_builder_new();
    for (char **f = folders; *f != NULL; f++)
        if (!g_str_equal(*f, path))
            g_strv_builder_add(builder, *f);
    char **kept = g_strv_builder_end(builder);
    g_settings_set_strv(self->settings, "model-folders", (const char *const *)kept);
    g_strfreev(kept);
    g_strv_builder_unref(builder);
    g_strfreev(folders);
}

static GtkWidget *folder_row(RsPreferencesWindow *self, const char *path)
{
    GtkWidget *row = adw_action_row_new();
    char *name = g_path_get_basename(path);
    adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), name);
    adw_action_row_set_subtitle(ADW_ACTION_ROW(row), path);
    GtkWidget *remove = gtk_button_new_from_icon_name("user-trash-symbolic");
    gtk_widget_set_valign(remove, GTK_ALIGN_CENTER);
    gtk_widget_add_css_class(remove, "flat");
    gtk_widget_set_tooltip_text(remove, _("Remove Folder"));
    g_object_set_data_full(G_OBJECT(remove), "path", g_strdup(path), g_free);
    g_signal_connect(remove, "clicked", G_CALLBACK(remove_folder), self);
    adw_action_row_add_suffix(ADW_ACTION_ROW(row), remove);
    g_free(name);
    return row;
}

static void rebuild_folders(RsPreferencesWindow *self)
{
    for (guint i = 0; i < self->folder_rows->len; i++)
        adw_preferences_group_remove(self->folders_group, g_ptr_array_index(self->folder_rows, i));
    g_ptr_array_set_size(self->folder_rows, 0);
    char **folders = g_settings_get_strv(self->settings, "model-folders");
    for (char **f = folders; *f != NULL; f++) {
        GtkWidget *row = folder_row(self, *f);
        adw_preferences_group_add(self->folders_group, row);
        g_ptr_array_add(self->folder_rows, row);
    }
    gtk_widget_set_visible(GTK_WIDGET(self->no_folders_row), folders[0] == NULL);
    g_strfreev(folders);
}

static void update_output_folder(RsPreferencesWindow *self)
{
    char *folder = rs_preferences_output_folder(self->settings);
    adw_action_row_set_subtitle(self->output_folder_row, folder);
    char *key = g_settings_get_string(self->settings, "output-folder");
    gtk_widget_set_visible(GTK_WIDGET(self->reset_output_button), key[0] != '\0');
    g_free(key);
    g_free(folder);
}

static void on_chosen(GtkNativeDialog *dialog, int response, gpointer user_data)
{
    RsPreferencesWindow *self = RS_PREFERENCES_WINDOW(user_data);
    const char *key = g_object_get_data(G_OBJECT(dialog), "key");
    if (response == GTK_RESPONSE_ACCEPT) {
        GFile *file = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(dialog));
        char *path = g_file_get_path(file);
        if (path != NULL && g_str_equal(key, "output-folder")) {
            g_settings_set_string(self->settings, "output-folder", path);
        } else if (path != NULL) {
            rs_model_folders_add(self->settings, path);
        }
        g_free(path);
        g_object_unref(file);
    }
    g_clear_object(&self->chooser);
}

static void choose_folder(RsPreferencesWindow *self, const char *title, const char *key)
{
    if (self->chooser != NULL)
        return;
    self->chooser = gtk_file_chooser_native_new(
        title, GTK_WINDOW(self), GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, _("_Select"), _("_Cancel"));
    gtk_native_dialog_set_modal(GTK_NATIVE_DIALOG(self->chooser), TRUE);
    g_object_set_data(G_OBJECT(self->chooser), "key", (gpointer)key);
    g_signal_connect(self->chooser, "response", G_CALLBACK(on_chosen), self);
    gtk_native_dialog_show(GTK_NATIVE_DIALOG(self->chooser));
}

static void on_add_folder(RsPreferencesWindow *self)
{
    choose_folder(self, _("Add Model Folder"), "model-folders");
}

static void on_choose_output(RsPreferencesWindow *self)
{
    choose_folder(self, _("Choose Output Folder"), "output-folder");
}

static void on_reset_output(RsPreferencesWindow *self)
{
    g_settings_reset(self->settings, "output-folder");
}

/* cuInit can take a second: ask in a thread and show the answer under the backend row. */
static void probe_cuda(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    char *reason = NULL;
    gboolean usable = resdit_cuda_available(&reason);
    g_task_return_pointer(task, usable ? NULL : (reason != NULL ? reason : g_strdup("")), g_free);
    if (usable)
        g_free(reason);
}

static void on_cuda_probed(GObject *source, GAsyncResult *result, gpointer user_data)
{
    GError *error = NULL;
    char *reason = g_task_propagate_pointer(G_TASK(result), &error);
    if (error != NULL) { /* cancelled: the window is gone */
        g_error_free(error);
        return;
    }
    RsPreferencesWindow *self = RS_PREFERENCES_WINDOW(user_data);
    /* The engine's reason is English and technical: it goes into the tooltip. */
    adw_combo_row_set_use_subtitle(self->backend_row, FALSE);
    adw_action_row_set_subtitle(ADW_ACTION_ROW(self->backend_row),
                                reason == NULL
                                    ? _("An NVIDIA GPU is usable here; Automatic uses CUDA")
                                    : _("No usable NVIDIA GPU here; Automatic uses the processor"));
    gtk_widget_set_tooltip_text(GTK_WIDGET(self->backend_row), reason);
    g_free(reason);
}

static void rs_preferences_window_dispose(GObject *object)
{
    RsPreferencesWindow *self = RS_PREFERENCES_WINDOW(object);
    g_cancellable_cancel(self->cancellable);
    g_clear_object(&self->cancellable);
    if (self->chooser != NULL)
        gtk_native_dialog_destroy(GTK_NATIVE_DIALOG(self->chooser));
    g_clear_object(&self->chooser);
    gtk_widget_dispose_template(GTK_WIDGET(self), RS_TYPE_PREFERENCES_WINDOW);
    g_clear_pointer(&self->folder_rows, g_ptr_array_unref);
    g_clear_object(&self->settings);
    G_OBJECT_CLASS(rs_preferences_window_parent_class)->dispose(object);
}

#define CHILD(name) gtk_widget_class_bind_template_child(widget_class, RsPreferencesWindow, name)

static void rs_preferences_window_class_init(RsPreferencesWindowClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
    object_class->dispose = rs_preferences_window_dispose;
    gtk_widget_class_set_template_from_resource(
        widget_class, "/io/github/resdit/Studio/rs-preferences-window.ui");
    CHILD(folders_group);
    CHILD(add_folder_button);
    CHILD(no_folders_row);
    CHILD(backend_row);
    CHILD(output_folder_row);
    CHILD(reset_output_button);
    CHILD(choose_output_button);
    CHILD(preview_interval_spin);
    CHILD(upscale_size_spin);
    CHILD(upscale_strength_scale);
    CHILD(inspect_branches_switch);
}

static void rs_preferences_window_init(RsPreferencesWindow *self)
{
    gtk_widget_init_template(GTK_WIDGET(self));
    self->settings = g_settings_new("io.github.resdit.Studio");
    self->folder_rows = g_ptr_array_new();
    self->cancellable = g_cancellable_new();

    g_settings_bind_with_mapping(self->settings, "backend", self->backend_row, "selected",
                                 G_SETTINGS_BIND_DEFAULT, backend_get, backend_set, NULL, NULL);
    g_settings_bind(self->settings, "preview-interval",
                    gtk_spin_button_get_adjustment(self->preview_interval_spin), "value",
                    G_SETTINGS_BIND_DEFAULT);
    g_settings_bind(self->settings, "inspect-branches-default", self->inspect_branches_switch,
                    "active", G_SETTINGS_BIND_DEFAULT);
    g_settings_bind(self->settings, "upscale-size",
                    gtk_spin_button_get_adjustment(self->upscale_size_spin), "value",
                    G_SETTINGS_BIND_DEFAULT);
    g_settings_bind(self->settings, "upscale-strength",
                    gtk_range_get_adjustment(GTK_RANGE(self->upscale_strength_scale)), "value",
                    G_SETTINGS_BIND_DEFAULT);
    g_signal_connect_object(self->settings, "changed::model-folders", G_CALLBACK(rebuild_folders),
                            self, G_CONNECT_SWAPPED);
    g_signal_connect_object(self->settings, "changed::output-folder",
                            G_CALLBACK(update_output_folder), self, G_CONNECT_SWAPPED);
    g_signal_connect_swapped(self->add_folder_button, "clicked", G_CALLBACK(on_add_folder), self);
    g_signal_connect_swapped(self->choose_output_button, "clicked", G_CALLBACK(on_choose_output),
                             self);
    g_signal_connect_swapped(self->reset_output_button, "clicked", G_CALLBACK(on_reset_output),
                             self);
    rebuild_folders(self);
    update_output_folder(self);

    GTask *task = g_task_new(NULL, self->cancellable, on_cuda_probed, self);
    g_task_set_return_on_cancel(task, TRUE);
    g_task_run_in_thread(task, probe_cuda);
    g_object_unref(task);
}

GtkWidget *rs_preferences_window_new(GtkWindow *parent)
{
    return g_object_new(RS_TYPE_PREFERENCES_WINDOW, "transient-for", parent, NULL);
}
