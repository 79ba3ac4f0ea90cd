/* RsLoraList: the job's LoRAs and those found on disk, with a strength and a switch each. */
#include "rs-lora-list.h"

#include <glib/gi18n.h>

#include "resdit.h"

#define STRENGTH_MIN (-2.0)
#define STRENGTH_MAX 2.0

typedef struct {
    char *path;
    gboolean discovered; /* found in a model folder (kept in the list even when off) */
    GtkRange *scale;
    GtkSwitch *toggle;
} LoraRow;

struct _RsLoraList {
    AdwPreferencesGroup parent_instance;

    RsJobSettings *job;
    GPtrArray *found;  /* char * paths from the model folders */
    GPtrArray *rows;   /* LoraRow * in the order of the job's list */
    GPtrArray *widgets; /* the AdwActionRow of each row */
    gboolean writing;  /* the job's list is being written from the rows */
    GCancellable *discovery;
};

G_DEFINE_FINAL_TYPE(RsLoraList, rs_lora_list, ADW_TYPE_PREFERENCES_GROUP)

static void lora_row_free(gpointer data)
{
    LoraRow *row = data;
    g_free(row->path);
    g_free(row);
}

/* The job's list from the rows: every LoRA that is on, and those off that no folder lists (they
 * would be lost otherwise). */
static void write_job(RsLoraList *self)
{
    if (self->job == NULL)
        return;
    GVariantBuilder b;
    g_variant_builder_init(&b, G_VARIANT_TYPE("a(sdb)"));
    for (guint i = 0; i < self->rows->len; i++) {
        LoraRow *row = g_ptr_array_index(self->rows, i);
        gboolean on = gtk_switch_get_active(row->toggle);
        if (on || !row->discovered)
            g_variant_builder_add(&b, "(sdb)", row->path, gtk_range_get_value(row->scale), on);
    }
    self->writing = TRUE;
    g_object_set(self->job, "loras", g_variant_builder_end(&b), NULL);
    self->writing = FALSE;
}

static gboolean in_folders(RsLoraList *self, const char *path)
{
    for (guint i = 0; self->found && i < self->found->len; i++)
        if (g_strcmp0(g_ptr_array_index(self->found, i), path) == 0)
            return TRUE;
    return FALSE;
}

static GtkWidget *strength_scale(double strength)
{
    GtkWidget *scale =
        gtk_scale_new_with_range(GTK_ORIENTATION_HORIZONTAL, STRENGTH_MIN, STRENGTH_MAX, 0.05);
    gtk_scale_set_digits(GTK_SCALE(scale), 2);
    gtk_scale_set_draw_value(GTK_SCALE(scale), TRUE);
    gtk_scale_set_value_pos(GTK_SCALE(scale), GTK_POS_LEFT);
    gtk_scale_add_mark(GTK_SCALE(scale), 0, GTK_POS_BOTTOM, NULL);
    gtk_scale_add_mark(GTK_SCALE(scale), 1, GTK_POS_BOTTOM, NULL);
    gtk_range_set_value(GTK_RANGE(scale), CLAMP(strength, STRENGTH_MIN, STRENGTH_MAX));
    gtk_widget_set_size_request(scale, 140, -1);
    gtk_widget_set_valign(scale, GTK_ALIGN_CENTER);
    gtk_accessible_update_property(GTK_ACCESSIBLE(scale), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                   _("Strength"), -1);
    return scale;
}

static void add_row(RsLoraList *self, const char *path, double strength, gboolean on)
{
    LoraRow *row = g_new0(LoraRow, 1);
    row->path = g_strdup(path);
    row->discovered = in_folders(self, path);
    g_autofree char *name = resdit_lora_name(path);
    GtkWidget *action_row = adw_action_row_new();
    adw_preferences_row_set_title(ADW_PREFERENCES_ROW(action_row), name);
    adw_action_row_set_subtitle(ADW_ACTION_ROW(action_row), path);
    adw_action_row_set_subtitle_lines(ADW_ACTION_ROW(action_row), 1);
    gtk_widget_set_tooltip_text(action_row, path);
    row->scale = GTK_RANGE(strength_scale(strength));
    row->toggle = GTK_SWITCH(gtk_switch_new());
    gtk_switch_set_active(row->toggle, on);
    gtk_widget_set_valign(GTK_WIDGET(row->toggle), GTK_ALIGN_CENTER);
    g_object_bind_property(row->toggle, "active", row->scale, "sensitive", G_BINDING_SYNC_CREATE);
    adw_action_row_add_suffix(ADW_ACTION_ROW(action_row), GTK_WIDGET(row->scale));
    adw_action_row_add_suffix(ADW_ACTION_ROW(action_row), GTK_WIDGET(row->toggle));
    g_signal_connect_swapped(row->scale, "value-changed", G_CALLBACK(write_job), self);
    g_signal_connect_swapped(row->toggle, "notify::active", G_CALLBACK(write_job), self);
    adw_preferences_group_add(ADW_PREFERENCES_GROUP(self), action_row);
    g_ptr_array_add(self->rows, row);
    g_ptr_array_add(self->widgets, action_row);
}

static gboolean in_rows(RsLoraList *self, const char *path)
{
    for (guint i = 0; i < self->rows->len; i++)
        if (g_strcmp0(((LoraRow *)g_ptr_array_index(self->rows, i))->path, path) == 0)
            return TRUE;
    return FALSE;
}

static void update_description(RsLoraList *self)
{
    adw_preferences_group_set_description(
        ADW_PREFERENCES_GROUP(self),
        self->rows->len > 0
            ? NULL
            : _("No LoRA found. Put LoRA files in ComfyUI’s models/loras or Forge’s models/Lora, "
                "or add one with the + button."));
}

/* Rows for the job's list, in its order, then for the LoRAs of the folders it does not name. */
static void rebuild(RsLoraList *self)
{
    if (self->writing)
        return;
    for (guint i = 0; i < self->widgets->len; i++)
        adw_preferences_group_remove(ADW_PREFERENCES_GROUP(self),
                                     g_ptr_array_index(self->widgets, i));
    g_ptr_array_set_size(self->widgets, 0);
    g_ptr_array_set_size(self->rows, 0);
    if (self->job != NULL) {
        g_autoptr(GVariant) loras = NULL;
        g_object_get(self->job, "loras", &loras, NULL);
        GVariantIter iter;
        const char *path;
        double strength;
        gboolean on;
        g_variant_iter_init(&iter, loras);
        while (g_variant_iter_next(&iter, "(&sdb)", &path, &strength, &on))
            if (!in_rows(self, path))
                add_row(self, path, strength, on);
    }
    for (guint i = 0; self->found && i < self->found->len; i++) {
        const char *path = g_ptr_array_index(self->found, i);
        if (!in_rows(self, path))
            add_row(self, path, 1.0, FALSE);
    }
    update_description(self);
}

void rs_lora_list_set_job(RsLoraList *self, RsJobSettings *job)
{
    g_return_if_fail(self->job == NULL);
    self->job = g_object_ref(job);
    g_signal_connect_object(job, "notify::loras", G_CALLBACK(rebuild), self, G_CONNECT_SWAPPED);
    rebuild(self);
}

void rs_lora_list_add_file(RsLoraList *self, const char *path)
{
    if (!in_rows(self, path))
        add_row(self, path, 1.0, TRUE);
    update_description(self);
    write_job(self);
}

/* ---- discovery on a worker thread ---------------------------------------------------------- */

static void discover_in_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancel)
{
    g_autoptr(GPtrArray) infos = resdit_loras_discover((const char *const *)data);
    GPtrArray *paths = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < infos->len; i++)
        g_ptr_array_add(paths, g_strdup(((ResditLoraInfo *)g_ptr_array_index(infos, i))->path));
    g_task_return_pointer(task, paths, (GDestroyNotify)g_ptr_array_unref);
}

static void on_discovered(GObject *source, GAsyncResult *result, gpointer data)
{
    GPtrArray *paths = g_task_propagate_pointer(G_TASK(result), NULL);
    if (paths == NULL) /* cancelled: the list is gone */
        return;
    RsLoraList *self = RS_LORA_LIST(source);
    g_clear_pointer(&self->found, g_ptr_array_unref);
    self->found = paths;
    rebuild(self);
}

void rs_lora_list_discover(RsLoraList *self, const char *const *extra_dirs)
{
    g_cancellable_cancel(self->discovery);
    g_clear_object(&self->discovery);
    self->discovery = g_cancellable_new();
    GTask *task = g_task_new(self, self->discovery, on_discovered, NULL);
    g_task_set_check_cancellable(task, TRUE);
    g_task_set_task_data(task, g_strdupv((char **)extra_dirs), (GDestroyNotify)g_strfreev);
    g_task_run_in_thread(task, discover_in_thread);
    g_object_unref(task);
}

/* ---- "Add LoRA File" ------------------------------------------------------------------------- */

static void on_file_chosen(GtkNativeDialog *dialog, int response, gpointer data)
{
    RsLoraList *self = data;
    if (response == GTK_RESPONSE_ACCEPT) {
        g_autoptr(GFile) file = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(dialog));
        g_autofree char *path = file ? g_file_get_path(file) : NULL;
        if (path != NULL)
            rs_lora_list_add_file(self, path);
    }
    g_object_unref(dialog);
    g_object_unref(self);
}

static void on_add_clicked(RsLoraList *self)
{
    GtkRoot *root = gtk_widget_get_root(GTK_WIDGET(self));
    GtkFileChooserNative *dialog = gtk_file_chooser_native_new(
        _("Add LoRA"), GTK_IS_WINDOW(root) ? GTK_WINDOW(root) : NULL,
        GTK_FILE_CHOOSER_ACTION_OPEN, _("_Add"), _("_Cancel"));
    GtkFileFilter *filter = gtk_file_filter_new();
    gtk_file_filter_set_name(filter, _("LoRA files (safetensors)"));
    gtk_file_filter_add_pattern(filter, "*.safetensors");
    gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(dialog), filter);
    g_object_unref(filter);
    gtk_native_dialog_set_modal(GTK_NATIVE_DIALOG(dialog), TRUE);
    g_signal_connect(dialog, "response", G_CALLBACK(on_file_chosen), g_object_ref(self));
    gtk_native_dialog_show(GTK_NATIVE_DIALOG(dialog));
}

/* ---- GObject ----------------------------------------------------------------------------- */

static void rs_lora_list_dispose(GObject *object)
{
    RsLoraList *self = RS_LORA_LIST(object);
    g_cancellable_cancel(self->discovery);
    g_clear_object(&self->discovery);
    g_clear_object(&self->job);
    G_OBJECT_CLASS(rs_lora_list_parent_class)->dispose(object);
}

static void rs_lora_list_finalize(GObject *object)
{
    RsLoraList *self = RS_LORA_LIST(object);
    g_clear_pointer(&self->found, g_ptr_array_unref);
    g_ptr_array_unref(self->rows);
    g_ptr_array_unref(self->widgets);
    G_OBJECT_CLASS(rs_lora_list_parent_class)->finalize(object);
}

static void rs_lora_list_class_init(RsLoraListClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    object_class->dispose = rs_lora_list_dispose;
    object_class->finalize = rs_lora_list_finalize;
}

static void rs_lora_list_init(RsLoraList *self)
{
    self->rows = g_ptr_array_new_with_free_func(lora_row_free);
    self->widgets = g_ptr_array_new();
    adw_preferences_group_set_title(ADW_PREFERENCES_GROUP(self), _("LoRA"));
    GtkWidget *add = gtk_button_new_from_icon_name("list-add-symbolic");
    gtk_widget_add_css_class(add, "flat");
    gtk_widget_set_valign(add, GTK_ALIGN_CENTER);
    gtk_widget_set_tooltip_text(add, _("Add LoRA File…"));
    g_signal_connect_swapped(add, "clicked", G_CALLBACK(on_add_clicked), self);
    adw_preferences_group_set_header_suffix(ADW_PREFERENCES_GROUP(self), add);
    update_description(self);
}
