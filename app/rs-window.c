/* RsWindow: wires the header bar (model picker, Generate), the parameters panel, the canvas with
 * its zoom actions and view switcher, and keeps window size and parameters in GSettings. */
#include "config.h"

#include <glib/gi18n.h>

#include "rs-canvas.h"
#include "rs-params-panel.h"
#include "rs-window.h"

#define SELF_TEST_MODEL "self-test"

typedef struct {
    GdkTexture *texture;
    int step, steps;
    char *phase;
} Frame;

struct _RsWindow {
    AdwApplicationWindow parent_instance;

    GSettings *settings;
    RsJobSettings *job;
    Frame frames[RS_N_BRANCHES];
    RsBranch view;
    GtkFileChooserNative *folder_chooser;
    guint zoom_label_idle;

    GtkLabel *model_label;
    GMenu *model_folders_section;
    RsParamsPanel *params_panel;
    GtkToggleButton *view_buttons[RS_N_BRANCHES];
    GtkLabel *frame_label;
    GtkLabel *zoom_label;
    GtkStack *canvas_stack;
    RsCanvas *canvas;
};

G_DEFINE_FINAL_TYPE(RsWindow, rs_window, ADW_TYPE_APPLICATION_WINDOW)

static const char *const branch_ids[RS_N_BRANCHES] = {"global", "local", "fused", "final"};

static const char *branch_label(RsBranch branch)
{
    switch (branch) {
    case RS_BRANCH_GLOBAL:
        return _("Global");
    case RS_BRANCH_LOCAL:
        return _("Local");
    case RS_BRANCH_FUSED:
        return _("Fused");
    default:
        return _("Final");
    }
}

static void update_zoom_actions(RsWindow *self)
{
    gboolean has_image = rs_canvas_get_texture(self->canvas) != NULL;
    double zoom = rs_canvas_get_zoom(self->canvas);
    gtk_widget_action_set_enabled(GTK_WIDGET(self), "win.zoom-in",
                                  has_image && zoom < RS_CANVAS_MAX_ZOOM);
    gtk_widget_action_set_enabled(GTK_WIDGET(self), "win.zoom-out",
                                  has_image && zoom > rs_canvas_get_min_zoom(self->canvas));
    gtk_widget_action_set_enabled(GTK_WIDGET(self), "win.zoom-best-fit", has_image);
    gtk_widget_action_set_enabled(GTK_WIDGET(self), "win.zoom-100", has_image);
}

static gboolean update_zoom_label(gpointer data)
{
    RsWindow *self = RS_WINDOW(data);
    self->zoom_label_idle = 0;
    /* Translators: the zoom level, e.g. "25 %" */
    char *text = g_strdup_printf(_("%.0f %%"), rs_canvas_get_zoom(self->canvas) * 100);
    gtk_label_set_label(self->zoom_label, text);
    g_free(text);
    update_zoom_actions(self);
    return G_SOURCE_REMOVE;
}

/* The canvas changes its zoom while it is allocated (best fit follows the window size); a label
 * must not be resized in the middle of a layout, so the label follows right after it. */
static void queue_zoom_label(RsWindow *self)
{
    if (self->zoom_label_idle == 0)
        self->zoom_label_idle =
            g_idle_add_full(G_PRIORITY_HIGH_IDLE, update_zoom_label, self, NULL);
}

static void show_view(RsWindow *self)
{
    Frame *frame = &self->frames[self->view];
    /* Reflect the view on its toggle; the toggled handler ignores the already-shown view. */
    gtk_toggle_button_set_active(self->view_buttons[self->view], TRUE);
    rs_canvas_set_texture(self->canvas, frame->texture);
    gtk_stack_set_visible_child_name(self->canvas_stack,
                                     frame->texture != NULL ? "canvas" : "empty");
    if (frame->texture != NULL) {
        /* Translators: "<branch> · step <k> of <n> · <phase>" under the canvas */
        char *text = g_strdup_printf(_("%s · step %d of %d · %s"), branch_label(self->view),
                                     frame->step, frame->steps, frame->phase);
        gtk_label_set_label(self->frame_label, text);
        g_free(text);
    } else {
        gtk_label_set_label(self->frame_label, "");
    }
    update_zoom_actions(self);
}

/* Switches to a branch's view; a branch without a frame cannot be shown. */
static void select_view(RsWindow *self, const char *id)
{
    for (int b = 0; b < RS_N_BRANCHES; b++) {
        if (g_strcmp0(id, branch_ids[b]) == 0 && self->frames[b].texture != NULL &&
            self->view != (RsBranch)b) {
            self->view = b;
            g_object_notify(G_OBJECT(self), "view");
            show_view(self);
        }
    }
}

static void on_view_toggled(GtkToggleButton *button, RsWindow *self)
{
    for (int b = 0; b < RS_N_BRANCHES; b++)
        if (button == self->view_buttons[b] && gtk_toggle_button_get_active(button))
            select_view(self, branch_ids[b]);
}

void rs_window_show_frame(RsWindow *self, RsBranch branch, GdkTexture *texture, int step, int steps,
                          const char *phase)
{
    g_return_if_fail(branch < RS_N_BRANCHES && GDK_IS_TEXTURE(texture));
    Frame *frame = &self->frames[branch];
    g_set_object(&frame->texture, texture);
    frame->step = step;
    frame->steps = steps;
    g_free(frame->phase);
    frame->phase = g_strdup(phase);
    gtk_widget_set_sensitive(GTK_WIDGET(self->view_buttons[branch]), TRUE);
    /* The first frame and the final image take the canvas; later frames of other branches wait
     * until the user switches to them. */
    gboolean first = self->frames[self->view].texture == NULL;
    if (first || branch == RS_BRANCH_FINAL || branch == self->view) {
        self->view = branch;
        g_object_notify(G_OBJECT(self), "view");
        show_view(self);
    }
}

void rs_window_clear_frames(RsWindow *self)
{
    for (int b = 0; b < RS_N_BRANCHES; b++) {
        g_clear_object(&self->frames[b].texture);
        g_clear_pointer(&self->frames[b].phase, g_free);
        gtk_widget_set_sensitive(GTK_WIDGET(self->view_buttons[b]), FALSE);
    }
    self->view = RS_BRANCH_FINAL;
    g_object_notify(G_OBJECT(self), "view");
    show_view(self);
}

RsJobSettings *rs_window_get_job(RsWindow *self)
{
    return self->job;
}

static void zoom_action(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
    RsWindow *self = RS_WINDOW(widget);
    if (g_str_equal(action_name, "win.zoom-in"))
        rs_canvas_zoom_in(self->canvas);
    else if (g_str_equal(action_name, "win.zoom-out"))
        rs_canvas_zoom_out(self->canvas);
    else if (g_str_equal(action_name, "win.zoom-best-fit"))
        rs_canvas_zoom_best_fit(self->canvas);
    else
        rs_canvas_zoom_original(self->canvas);
}

static void generate_action(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
    /* Never enabled until the engine job is wired in (see rs_window_init). */
}

static void update_model_label(RsWindow *self)
{
    char *model = g_settings_get_string(self->settings, "model");
    if (g_str_equal(model, SELF_TEST_MODEL)) {
        gtk_label_set_label(self->model_label, _("Self-test model"));
    } else {
        char *name = g_path_get_basename(model);
        gtk_label_set_label(self->model_label, name);
        g_free(name);
    }
    g_free(model);
}

static void rebuild_model_folders(RsWindow *self)
{
    g_menu_remove_all(self->model_folders_section);
    char **folders = g_settings_get_strv(self->settings, "model-folders");
    for (char **f = folders; *f != NULL; f++) {
        char *name = g_path_get_basename(*f);
        GMenuItem *item = g_menu_item_new(name, NULL);
        g_menu_item_set_action_and_target_value(item, "win.model", g_variant_new_string(*f));
        g_menu_append_item(self->model_folders_section, item);
        g_object_unref(item);
        g_free(name);
    }
    g_strfreev(folders);
}

static void add_model_folder(RsWindow *self, const char *path)
{
    char **folders = g_settings_get_strv(self->settings, "model-folders");
    if (!g_strv_contains((const char *const *)folders, path)) {
        GStrvBuilder *builder = g_strv_builder_new();
        g_strv_builder_addv(builder, (const char **)folders);
        g_strv_builder_add(builder, path);
        char **updated = g_strv_builder_end(builder);
        g_settings_set_strv(self->settings, "model-folders", (const char *const *)updated);
        g_strfreev(updated);
        g_strv_builder_unref(builder);
    }
    g_strfreev(folders);
    g_settings_set_string(self->settings, "model", path);
}

static void on_folder_chosen(GtkNativeDialog *dialog, int response, gpointer user_data)
{
    RsWindow *self = RS_WINDOW(user_data);
    if (response == GTK_RESPONSE_ACCEPT) {
        GFile *folder = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(dialog));
        char *path = g_file_get_path(folder);
        if (path != NULL)
            add_model_folder(self, path);
        g_free(path);
        g_object_unref(folder);
    }
    g_clear_object(&self->folder_chooser);
}

static void open_model_folder_action(GtkWidget *widget, const char *action_name,
                                     GVariant *parameter)
{
    RsWindow *self = RS_WINDOW(widget);
    if (self->folder_chooser != NULL)
        return;
    self->folder_chooser = gtk_file_chooser_native_new(_("Open Model Folder"), GTK_WINDOW(self),
                                                       GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER,
                                                       _("_Open"), _("_Cancel"));
    gtk_native_dialog_set_modal(GTK_NATIVE_DIALOG(self->folder_chooser), TRUE);
    g_signal_connect(self->folder_chooser, "response", G_CALLBACK(on_folder_chosen), self);
    gtk_native_dialog_show(GTK_NATIVE_DIALOG(self->folder_chooser));
}

static void rs_window_get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
    g_value_set_string(value, branch_ids[RS_WINDOW(object)->view]);
}

static void rs_window_set_property(GObject *object, guint id, const GValue *value,
                                   GParamSpec *pspec)
{
    select_view(RS_WINDOW(object), g_value_get_string(value));
}

static void rs_window_dispose(GObject *object)
{
    RsWindow *self = RS_WINDOW(object);
    if (self->folder_chooser != NULL)
        gtk_native_dialog_destroy(GTK_NATIVE_DIALOG(self->folder_chooser));
    g_clear_object(&self->folder_chooser);
    g_clear_handle_id(&self->zoom_label_idle, g_source_remove);
    for (int b = 0; b < RS_N_BRANCHES; b++) {
        g_clear_object(&self->frames[b].texture);
        g_clear_pointer(&self->frames[b].phase, g_free);
    }
    gtk_widget_dispose_template(GTK_WIDGET(self), RS_TYPE_WINDOW);
    g_clear_object(&self->job);
    g_clear_object(&self->settings);
    G_OBJECT_CLASS(rs_window_parent_class)->dispose(object);
}

static void rs_window_class_init(RsWindowClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);

    object_class->dispose = rs_window_dispose;
    object_class->get_property = rs_window_get_property;
    object_class->set_property = rs_window_set_property;
    g_object_class_install_property(
        object_class, 1,
        g_param_spec_string("view", NULL, NULL, "final",
                            G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

    g_type_ensure(RS_TYPE_PARAMS_PANEL);
    g_type_ensure(RS_TYPE_CANVAS);
    gtk_widget_class_set_template_from_resource(widget_class,
                                                "/io/github/resdit/Studio/rs-window.ui");
    gtk_widget_class_bind_template_child(widget_class, RsWindow, model_label);
    gtk_widget_class_bind_template_child(widget_class, RsWindow, model_folders_section);
    gtk_widget_class_bind_template_child(widget_class, RsWindow, params_panel);
    gtk_widget_class_bind_template_child_full(widget_class, "view_global", FALSE,
                                              G_STRUCT_OFFSET(RsWindow, view_buttons[0]));
    gtk_widget_class_bind_template_child_full(widget_class, "view_local", FALSE,
                                              G_STRUCT_OFFSET(RsWindow, view_buttons[1]));
    gtk_widget_class_bind_template_child_full(widget_class, "view_fused", FALSE,
                                              G_STRUCT_OFFSET(RsWindow, view_buttons[2]));
    gtk_widget_class_bind_template_child_full(widget_class, "view_final", FALSE,
                                              G_STRUCT_OFFSET(RsWindow, view_buttons[3]));
    gtk_widget_class_bind_template_child(widget_class, RsWindow, frame_label);
    gtk_widget_class_bind_template_child(widget_class, RsWindow, zoom_label);
    gtk_widget_class_bind_template_child(widget_class, RsWindow, canvas_stack);
    gtk_widget_class_bind_template_child(widget_class, RsWindow, canvas);

    gtk_widget_class_install_property_action(widget_class, "win.view", "view");
    gtk_widget_class_install_action(widget_class, "win.zoom-in", NULL, zoom_action);
    gtk_widget_class_install_action(widget_class, "win.zoom-out", NULL, zoom_action);
    gtk_widget_class_install_action(widget_class, "win.zoom-best-fit", NULL, zoom_action);
    gtk_widget_class_install_action(widget_class, "win.zoom-100", NULL, zoom_action);
    gtk_widget_class_install_action(widget_class, "win.generate", NULL, generate_action);
    gtk_widget_class_install_action(widget_class, "win.open-model-folder", NULL,
                                    open_model_folder_action);
}

static void bind_window_state(RsWindow *self)
{
    g_settings_bind(self->settings, "window-width", self, "default-width", G_SETTINGS_BIND_DEFAULT);
    g_settings_bind(self->settings, "window-height", self, "default-height",
                    G_SETTINGS_BIND_DEFAULT);
    g_settings_bind(self->settings, "window-maximized", self, "maximized", G_SETTINGS_BIND_DEFAULT);
}

static void setup_model_picker(RsWindow *self)
{
    GAction *model = g_settings_create_action(self->settings, "model");
    g_action_map_add_action(G_ACTION_MAP(self), model);
    g_object_unref(model);
    g_signal_connect_object(self->settings, "changed::model", G_CALLBACK(update_model_label), self,
                            G_CONNECT_SWAPPED);
    g_signal_connect_object(self->settings, "changed::model-folders",
                            G_CALLBACK(rebuild_model_folders), self, G_CONNECT_SWAPPED);
    update_model_label(self);
    rebuild_model_folders(self);
}

/* Loupe's plain-key zoom shortcuts. They run in the bubble phase, so a focused prompt or spin
 * button that takes the key (typing "1" in the seed) comes first. */
static void add_zoom_keys(RsWindow *self)
{
    static const struct {
        guint key;
        const char *action;
    } keys[] = {
        {GDK_KEY_plus, "win.zoom-in"},         {GDK_KEY_equal, "win.zoom-in"},
        {GDK_KEY_KP_Add, "win.zoom-in"},       {GDK_KEY_minus, "win.zoom-out"},
        {GDK_KEY_KP_Subtract, "win.zoom-out"}, {GDK_KEY_0, "win.zoom-best-fit"},
        {GDK_KEY_KP_0, "win.zoom-best-fit"},   {GDK_KEY_1, "win.zoom-100"},
        {GDK_KEY_KP_1, "win.zoom-100"},
    };
    GtkEventController *controller = gtk_shortcut_controller_new();
    for (gsize i = 0; i < G_N_ELEMENTS(keys); i++)
        gtk_shortcut_controller_add_shortcut(
            GTK_SHORTCUT_CONTROLLER(controller),
            gtk_shortcut_new(gtk_keyval_trigger_new(keys[i].key, 0),
                             gtk_named_action_new(keys[i].action)));
    gtk_widget_add_controller(GTK_WIDGET(self), controller);
}

static void rs_window_init(RsWindow *self)
{
    gtk_widget_init_template(GTK_WIDGET(self));
    self->settings = g_settings_new("io.github.resdit.Studio");
    self->job = rs_job_settings_new();
    self->view = RS_BRANCH_FINAL;
    rs_job_settings_bind(self->job, self->settings);
    rs_params_panel_set_job(self->params_panel, self->job);
    bind_window_state(self);
    setup_model_picker(self);
    add_zoom_keys(self);

    g_signal_connect_object(self->canvas, "notify::zoom", G_CALLBACK(queue_zoom_label), self,
                            G_CONNECT_SWAPPED);
    g_signal_connect_object(self->canvas, "notify::texture", G_CALLBACK(update_zoom_actions), self,
                            G_CONNECT_SWAPPED);
    update_zoom_label(self);
    for (int b = 0; b < RS_N_BRANCHES; b++)
        g_signal_connect(self->view_buttons[b], "toggled", G_CALLBACK(on_view_toggled), self);
    gtk_toggle_button_set_active(self->view_buttons[RS_BRANCH_FINAL], TRUE);
    /* The generation engine is not wired in yet: Generate stays insensitive rather than pretend. */
    gtk_widget_action_set_enabled(GTK_WIDGET(self), "win.generate", FALSE);
    if (DEVELOPMENT_BUILD)
        gtk_widget_add_css_class(GTK_WIDGET(self), "devel");
}

RsWindow *rs_window_new(RsApplication *app)
{
    return g_object_new(RS_TYPE_WINDOW, "application", app, NULL);
}
