/* ui suite: the controls around a running job. The image actions never act on the previous image
 * while a new one is on its way; Ctrl+Enter only starts (during a job: queues), Escape cancels,
 * Cancel says "Cancelling…" until the engine has stopped; closing the window or Ctrl+Q during a
 * job asks first and stops the job cleanly. */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "resdit.h"
#include "rs-window.h"
#include "ui-test-util.h"

typedef UiStudio Fixture;

static void fixture_set_up(Fixture *f, gconstpointer data)
{
    ui_studio_set_up(f, data);
    g_object_set(f->job, "prompt", "job controls", "random-seed", TRUE, NULL);
}

static void fixture_tear_down(Fixture *f, gconstpointer data)
{
    ui_studio_tear_down(f, data);
}

/* A quick job: the draft size, two steps. */
static void quick_job(Fixture *f)
{
    g_object_set(f->job, "aspect", "1:1", "size-preset", "512", "steps", 2, "global-steps", 0,
                 "local-steps", 0, NULL);
}

/* A job that runs for a minute or more, with steps short enough to cancel at once. */
static void long_job(Fixture *f)
{
    g_object_set(f->job, "custom-width", 1024, "custom-height", 1024, "aspect", "custom",
                 "steps", 40, "global-steps", 0, "local-steps", 0, NULL);
}

static void press_accel(Fixture *f, const char *accel, const char *want_action)
{
    char **actions = gtk_application_get_actions_for_accel(
        GTK_APPLICATION(ui_test_application()), accel);
    g_assert_nonnull(actions);
    g_assert_cmpstr(actions[0], ==, want_action);
    const char *action = actions[0];
    if (g_str_has_prefix(action, "app."))
        g_action_group_activate_action(G_ACTION_GROUP(ui_test_application()), action + 4, NULL);
    else
        gtk_widget_activate_action(GTK_WIDGET(f->window), action, NULL);
    g_strfreev(actions);
}

/* Escape as the window's shortcut controllers have it (bubble phase, after the focus widget). */
static void press_escape(Fixture *f)
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
    g_assert_true(done);
}

static gboolean sensitive(Fixture *f, const char *id)
{
    return gtk_widget_is_sensitive(ui_test_child(f->window, RS_TYPE_WINDOW, id));
}

static gboolean is_running(RsWindow *window)
{
    GtkButton *button = ui_test_child(window, RS_TYPE_WINDOW, "generate_button");
    return g_strcmp0(gtk_button_get_label(button), "_Generate") != 0;
}

/* Save As and Open Folder act on the finished image only, never on the previous one. */
static void test_image_actions(Fixture *f, gconstpointer data)
{
    quick_job(f);
    press_accel(f, "<Control>Return", "win.generate");
    g_assert_true(ui_test_wait_until(ui_studio_job_finished, f, 60000));
    g_assert_true(sensitive(f, "save_as_button"));
    g_assert_true(sensitive(f, "open_folder_button"));
    g_assert_true(sensitive(f, "copy_image_button"));

    f->finished = FALSE;
    long_job(f);
    press_accel(f, "<Control>Return", "win.generate");
    ui_test_spin(300);
    g_assert_true(is_running(f->window));
    g_free(ui_test_screenshot(GTK_WIDGET(f->window), "job-controls-image-actions"));
    g_assert_false(sensitive(f, "save_as_button"));
    g_assert_false(sensitive(f, "open_folder_button"));
    g_assert_false(sensitive(f, "copy_image_button"));
    press_escape(f);
    g_assert_true(ui_test_wait_until(ui_studio_job_finished, f, 30000));
    /* Cancelled: there is no new image to save, and the old one is not offered instead. */
    g_assert_false(sensitive(f, "save_as_button"));
    g_assert_false(sensitive(f, "open_folder_button"));
}

/* Ctrl+Enter starts a job and never cancels one (during a job it queues the next); Escape cancels
 * the running job; Cancel says "Cancelling…" until the engine has stopped, then the queued job
 * runs, and after it the window is idle again. */
static void test_keys(Fixture *f, gconstpointer data)
{
    long_job(f);
    GtkButton *button = ui_test_child(f->window, RS_TYPE_WINDOW, "generate_button");
    GtkLabel *progress = ui_test_child(f->window, RS_TYPE_WINDOW, "progress_label");
    RsJobQueue *queue = rs_window_get_queue(f->window);
    press_accel(f, "<Control>Return", "win.generate");
    ui_test_spin(300);
    g_assert_cmpstr(gtk_button_get_label(button), ==, "_Cancel");
    g_assert_cmpuint(rs_job_queue_get_n_jobs(queue), ==, 0);
    press_accel(f, "<Control>Return", "win.generate");
    ui_test_spin(1500);
    g_assert_false(f->finished);
    g_assert_cmpstr(gtk_button_get_label(button), ==, "_Cancel");
    g_assert_cmpuint(rs_job_queue_get_n_jobs(queue), ==, 1);

    press_escape(f);
    g_assert_cmpstr(gtk_button_get_label(button), ==, "Cancelling…");
    g_assert_false(gtk_widget_is_sensitive(GTK_WIDGET(button)));
    g_assert_cmpstr(gtk_label_get_label(progress), ==, "Cancelling…");
    g_free(ui_test_screenshot(GTK_WIDGET(f->window), "job-controls-cancelling"));
    g_assert_true(ui_test_wait_until(ui_studio_job_finished, f, 30000));
    /* The queued job took over; cancelling it leaves nothing to run. */
    g_assert_cmpuint(rs_job_queue_get_n_jobs(queue), ==, 0);
    g_assert_cmpstr(gtk_button_get_label(button), ==, "_Cancel");
    f->finished = FALSE;
    ui_test_spin(300);
    press_escape(f);
    g_assert_true(ui_test_wait_until(ui_studio_job_finished, f, 30000));
    g_assert_cmpstr(gtk_button_get_label(button), ==, "_Generate");
    g_assert_true(gtk_widget_is_sensitive(GTK_WIDGET(button)));
    g_assert_false(gtk_revealer_get_reveal_child(
        ui_test_child(f->window, RS_TYPE_WINDOW, "progress_revealer")));
    /* Idle: Escape does nothing, Ctrl+Enter starts the next job. */
    quick_job(f);
    f->finished = FALSE;
    press_accel(f, "<Control>Return", "win.generate");
    ui_test_spin(100);
    g_assert_true(is_running(f->window));
    g_assert_true(ui_test_wait_until(ui_studio_job_finished, f, 60000));
    GDir *dir = g_dir_open(f->output, 0, NULL);
    int n = 0;
    for (const char *name; dir != NULL && (name = g_dir_read_name(dir)) != NULL;)
        n += g_str_has_suffix(name, ".png");
    g_dir_close(dir);
    g_assert_cmpint(n, ==, 1); /* the quick job's image, nothing of the cancelled one */
}

typedef struct {
    GtkWindow *found;
} FindDialog;

static gboolean dialog_shown(gpointer data)
{
    FindDialog *find = data;
    GListModel *toplevels = gtk_window_get_toplevels();
    find->found = NULL;
    for (guint i = 0; i < g_list_model_get_n_items(toplevels); i++) {
        GObject *toplevel = g_list_model_get_item(toplevels, i);
        if (ADW_IS_MESSAGE_DIALOG(toplevel) && gtk_widget_get_mapped(GTK_WIDGET(toplevel)))
            find->found = GTK_WINDOW(toplevel);
        g_object_unref(toplevel);
    }
    return find->found != NULL;
}

/* A click on a response button: the response, then the dialog closes. */
static void respond(GtkWindow *dialog, const char *response)
{
    g_object_ref(dialog);
    adw_message_dialog_response(ADW_MESSAGE_DIALOG(dialog), response);
    if (gtk_widget_get_visible(GTK_WIDGET(dialog)))
        gtk_window_close(dialog);
    g_object_unref(dialog);
}

static gboolean window_gone(gpointer data)
{
    return *(gpointer *)data == NULL;
}

/* Closing the window, or Ctrl+Q, during a job asks first; keeping it changes nothing; stopping
 * cancels the job cleanly and then closes the window. */
static void test_close_asks(Fixture *f, gconstpointer data)
{
    long_job(f);
    press_accel(f, "<Control>Return", "win.generate");
    ui_test_spin(300);

    gtk_window_close(GTK_WINDOW(f->window));
    FindDialog find = {NULL};
    g_assert_true(ui_test_wait_until(dialog_shown, &find, 5000));
    g_assert_cmpstr(adw_message_dialog_get_heading(ADW_MESSAGE_DIALOG(find.found)), ==,
                    "Stop the Generation?");
    g_free(ui_test_screenshot(GTK_WIDGET(find.found), "job-controls-close-dialog"));
    respond(find.found, "keep");
    ui_test_spin(500);
    g_assert_true(gtk_widget_get_visible(GTK_WIDGET(f->window)));
    g_assert_true(is_running(f->window));
    g_assert_false(f->finished);

    press_accel(f, "<Control>q", "app.quit");
    g_assert_true(ui_test_wait_until(dialog_shown, &find, 5000));
    g_assert_true(gtk_widget_get_visible(GTK_WIDGET(f->window)));
    RsWindow *window = f->window;
    gpointer alive = window;
    g_object_add_weak_pointer(G_OBJECT(window), &alive);
    g_object_unref(window); /* the application keeps it until it is closed */
    f->window = NULL;
    respond(find.found, "stop");
    g_assert_true(ui_test_wait_until(ui_studio_job_finished, f, 30000));
    g_assert_true(ui_test_wait_until(window_gone, &alive, 5000));
    /* Cancelled cleanly: no image, no temporary file. */
    GDir *dir = g_dir_open(f->output, 0, NULL);
    g_assert_null(dir != NULL ? g_dir_read_name(dir) : NULL);
    if (dir != NULL)
        g_dir_close(dir);
}

int main(int argc, char **argv)
{
    ui_test_init(&argc, &argv);
    g_test_add("/job-controls/image-actions", Fixture, NULL, fixture_set_up, test_image_actions,
               fixture_tear_down);
    g_test_add("/job-controls/keys", Fixture, NULL, fixture_set_up, test_keys, fixture_tear_down);
    g_test_add("/job-controls/close-asks", Fixture, NULL, fixture_set_up, test_close_asks,
               fixture_tear_down);
    return g_test_run();
}
