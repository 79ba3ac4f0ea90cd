/* ui suite: the image leaves the canvas by drag and drop (the saved PNG as a file and the image as
 * a texture; a drag pans instead while there is something to pan, unless Ctrl is held), and the
 * fullscreen view (sidebars folded away and brought back; Escape leaves fullscreen only when no
 * job runs, since Escape cancels a job).
 *
 * There is no window manager under Xvfb: a mapped window's fullscreen request goes unanswered,
 * while an unmapped one's state changes at once. The fullscreen tests therefore change the state
 * while the window is hidden; the window's own code paths (actions, shortcuts, the notify
 * handler) are the ones a user's F11 and Escape run. */
#include "config.h"

#include <string.h>

#include "rs-canvas.h"
#include "rs-window.h"
#include "ui-test-util.h"

typedef UiStudio Fixture;

static void fixture_set_up(Fixture *f, gconstpointer data)
{
    ui_studio_set_up(f, data);
    g_object_set(f->job, "prompt", "view", "random-seed", TRUE, "aspect", "1:1", "size-preset",
                 "512", NULL);
    g_object_set(f->job, "steps", 4, "global-steps", 0, "local-steps", 0, NULL);
    g_object_set(f->job, "global-steps", 1, "local-steps", 1, NULL);
}

static void fixture_tear_down(Fixture *f, gconstpointer data)
{
    ui_studio_tear_down(f, data);
}

static void run_job(Fixture *f)
{
    f->finished = FALSE;
    g_assert_true(gtk_widget_activate_action(GTK_WIDGET(f->window), "win.generate", NULL));
    g_assert_true(ui_test_wait_until(ui_studio_job_finished, f, 90000));
}

static GtkDragSource *find_drag_source(GtkWidget *widget)
{
    GListModel *controllers = gtk_widget_observe_controllers(widget);
    GtkDragSource *found = NULL;
    for (guint i = 0; found == NULL && i < g_list_model_get_n_items(controllers); i++) {
        GObject *controller = g_list_model_get_item(controllers, i);
        if (GTK_IS_DRAG_SOURCE(controller))
            found = GTK_DRAG_SOURCE(controller);
        g_object_unref(controller);
    }
    g_object_unref(controllers);
    return found;
}

static GdkContentProvider *prepare(GtkDragSource *source)
{
    GdkContentProvider *content = NULL;
    g_signal_emit_by_name(source, "prepare", 20.0, 20.0, &content);
    return content;
}

static gboolean offers(GdkContentProvider *content, GType type)
{
    GdkContentFormats *formats = gdk_content_provider_ref_formats(content);
    gboolean found = gdk_content_formats_contain_gtype(formats, type);
    gdk_content_formats_unref(formats);
    return found;
}

static void test_drag_out(Fixture *f, gconstpointer data)
{
    RsCanvas *canvas = ui_test_child(f->window, RS_TYPE_WINDOW, "canvas");
    GtkDragSource *source = find_drag_source(GTK_WIDGET(canvas));
    g_assert_nonnull(source);
    g_assert_null(prepare(source)); /* no image yet */
    run_job(f);

    /* The final image, whole on view: its file and its texture. */
    GdkContentProvider *content = prepare(source);
    g_assert_nonnull(content);
    g_assert_true(offers(content, G_TYPE_FILE));
    g_assert_true(offers(content, GDK_TYPE_TEXTURE));
    GValue value = G_VALUE_INIT;
    g_value_init(&value, G_TYPE_FILE);
    GError *error = NULL;
    g_assert_true(gdk_content_provider_get_value(content, &value, &error));
    g_assert_no_error(error);
    char *path = g_file_get_path(g_value_get_object(&value));
    char *folder = g_path_get_dirname(path);
    g_assert_cmpstr(folder, ==, f->output);
    g_assert_true(g_str_has_suffix(path, ".png"));
    g_assert_true(g_file_test(path, G_FILE_TEST_IS_REGULAR));
    g_free(folder);
    g_free(path);
    g_value_unset(&value);
    g_value_init(&value, GDK_TYPE_TEXTURE);
    g_assert_true(gdk_content_provider_get_value(content, &value, &error));
    g_assert_true(g_value_get_object(&value) == rs_canvas_get_texture(canvas));
    g_value_unset(&value);
    g_object_unref(content);

    /* Zoomed in, a plain drag pans: no drag out. */
    rs_canvas_zoom_in(canvas);
    rs_canvas_zoom_in(canvas);
    g_assert_cmpfloat(rs_canvas_get_zoom(canvas), >, rs_canvas_get_fit_zoom(canvas));
    g_assert_null(prepare(source));
    rs_canvas_zoom_best_fit(canvas);

    /* A branch preview has no file: the texture only. */
    g_object_set(f->window, "view", "global", NULL);
    content = prepare(source);
    g_assert_nonnull(content);
    g_assert_false(offers(content, G_TYPE_FILE));
    g_assert_true(offers(content, GDK_TYPE_TEXTURE));
    g_object_unref(content);
}

static gboolean is_fullscreen(gpointer window)
{
    return gtk_window_is_fullscreen(window);
}

static gboolean is_not_fullscreen(gpointer window)
{
    return !gtk_window_is_fullscreen(window);
}

/* Escape as the window's shortcut controllers have it: the first matching shortcut whose action
 * is enabled. */
static gboolean press_escape(Fixture *f)
{
    GtkShortcutTrigger *escape = gtk_keyval_trigger_new(GDK_KEY_Escape, 0);
    GListModel *controllers = gtk_widget_observe_controllers(GTK_WIDGET(f->window));
    gboolean done = FALSE;
    for (guint i = 0; !done && i < g_list_model_get_n_items(controllers); i++) {
        GObject *controller = g_list_model_get_item(controllers, i);
        if (GTK_IS_SHORTCUT_CONTROLLER(controller)) {
            GListModel *shortcuts = G_LIST_MODEL(controller);
            for (guint k = 0; !done && k < g_list_model_get_n_items(shortcuts); k++) {
                GtkShortcut *shortcut = g_list_model_get_item(shortcuts, k);
                GtkShortcutTrigger *trigger = gtk_shortcut_get_trigger(shortcut);
                if (trigger != NULL && gtk_shortcut_trigger_equal(trigger, escape))
                    done = gtk_shortcut_action_activate(gtk_shortcut_get_action(shortcut), 0,
                                                        GTK_WIDGET(f->window), NULL);
                g_object_unref(shortcut);
            }
        }
        g_object_unref(controller);
    }
    g_object_unref(controllers);
    g_object_unref(escape);
    return done;
}

static void enter_fullscreen(Fixture *f)
{
    gtk_widget_set_visible(GTK_WIDGET(f->window), FALSE);
    /* F11's action */
    g_assert_true(gtk_widget_activate_action(GTK_WIDGET(f->window), "win.fullscreen", NULL));
    ui_test_present(GTK_WINDOW(f->window));
    g_assert_true(ui_test_wait_until(is_fullscreen, f->window, 5000));
}

static void test_fullscreen(Fixture *f, gconstpointer data)
{
    char **accels = gtk_application_get_accels_for_action(GTK_APPLICATION(ui_test_application()),
                                                          "win.fullscreen");
    g_assert_cmpstr(accels[0], ==, "F11");
    g_strfreev(accels);
    AdwFlap *params = ui_test_child(f->window, RS_TYPE_WINDOW, "params_flap");
    AdwFlap *history = ui_test_child(f->window, RS_TYPE_WINDOW, "history_flap");
    adw_flap_set_reveal_flap(params, TRUE);
    adw_flap_set_reveal_flap(history, TRUE);
    run_job(f);

    /* The canvas takes the screen. */
    enter_fullscreen(f);
    g_assert_false(adw_flap_get_reveal_flap(params));
    g_assert_false(adw_flap_get_reveal_flap(history));
    g_free(ui_test_screenshot(GTK_WIDGET(f->window), "fullscreen"));

    /* A job runs: Escape cancels it and leaving fullscreen is not on offer. */
    g_object_set(f->job, "custom-width", 1024, "custom-height", 1024, "aspect", "custom", "steps",
                 40, NULL);
    f->finished = FALSE;
    g_assert_true(gtk_widget_activate_action(GTK_WIDGET(f->window), "win.generate", NULL));
    gtk_widget_set_visible(GTK_WIDGET(f->window), FALSE); /* so a state change would show */
    g_assert_true(press_escape(f));
    g_assert_true(ui_test_wait_until(ui_studio_job_finished, f, 90000));
    g_assert_true(gtk_window_is_fullscreen(GTK_WINDOW(f->window)));

    /* No job: Escape leaves fullscreen and the sidebars come back. */
    g_assert_true(press_escape(f));
    g_assert_true(ui_test_wait_until(is_not_fullscreen, f->window, 5000));
    g_assert_true(adw_flap_get_reveal_flap(params));
    g_assert_true(adw_flap_get_reveal_flap(history));
    ui_test_present(GTK_WINDOW(f->window));

    /* Not fullscreen, no job: Escape is not the window's. */
    g_assert_false(press_escape(f));
}

int main(int argc, char **argv)
{
    ui_test_init(&argc, &argv);
    g_test_add("/view/drag-out", Fixture, NULL, fixture_set_up, test_drag_out, fixture_tear_down);
    g_test_add("/view/fullscreen", Fixture, NULL, fixture_set_up, test_fullscreen,
               fixture_tear_down);
    return g_test_run();
}
