/* ui suite: the new user's path. An empty home folder and default settings: type a prompt, press
 * Ctrl+Enter, and a finished PNG lands in the output folder in well under a minute on a 2-core
 * machine without a GPU (defaults fit the machine); the progress line names the phase and its
 * clock moves every second; the self-test model says what it is. */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "resdit.h"
#include "rs-params-panel.h"
#include "rs-window.h"
#include "ui-test-util.h"

static char *home;

typedef struct {
    RsWindow *window;
    GPtrArray *labels; /* every text the progress line showed, in order */
    gboolean finished;
} Fixture;

static void on_label(GtkLabel *label, GParamSpec *pspec, Fixture *f)
{
    const char *text = gtk_label_get_label(label);
    if (text[0] != '\0' &&
        (f->labels->len == 0 ||
         !g_str_equal(g_ptr_array_index(f->labels, f->labels->len - 1), text)))
        g_ptr_array_add(f->labels, g_strdup(text));
}

static void on_job_finished(RsWindow *window, Fixture *f)
{
    f->finished = TRUE;
}

static gboolean job_finished(gpointer data)
{
    return ((Fixture *)data)->finished;
}

static char *output_folder(void)
{
    return g_build_filename(home, "Pictures", "ResDiT Studio", NULL);
}

static guint count_pngs(void)
{
    char *folder = output_folder();
    GDir *dir = g_dir_open(folder, 0, NULL);
    guint n = 0;
    for (const char *name; dir != NULL && (name = g_dir_read_name(dir)) != NULL;)
        n += g_str_has_suffix(name, ".png");
    if (dir != NULL)
        g_dir_close(dir);
    g_free(folder);
    return n;
}

static gboolean has_png(gpointer data)
{
    return count_pngs() > 0;
}

/* Ctrl+Enter as the application binds it. */
static void press_ctrl_enter(Fixture *f)
{
    char **actions =
        gtk_application_get_actions_for_accel(GTK_APPLICATION(ui_test_application()),
                                              "<Control>Return");
    g_assert_nonnull(actions);
    g_assert_cmpstr(actions[0], ==, "win.generate");
    g_assert_true(gtk_widget_activate_action(GTK_WIDGET(f->window), actions[0], NULL));
    g_strfreev(actions);
}

static void fixture_set_up(Fixture *f, gconstpointer data)
{
    f->labels = g_ptr_array_new_with_free_func(g_free);
    f->window = g_object_ref(rs_window_new(ui_test_application()));
    ui_test_present(GTK_WINDOW(f->window));
    g_signal_connect(ui_test_child(f->window, RS_TYPE_WINDOW, "progress_label"), "notify::label",
                     G_CALLBACK(on_label), f);
    g_signal_connect(f->window, "job-finished", G_CALLBACK(on_job_finished), f);
}

static void fixture_tear_down(Fixture *f, gconstpointer data)
{
    gtk_window_destroy(GTK_WINDOW(f->window));
    ui_test_spin(50);
    g_assert_finalize_object(f->window);
    g_ptr_array_unref(f->labels);
}

static gboolean model_ready(gpointer data)
{
    gboolean ready = FALSE;
    g_object_get(data, "model-ready", &ready, NULL);
    return ready;
}

static void test_first_image(Fixture *f, gconstpointer data)
{
    g_assert_cmpuint(count_pngs(), ==, 0);
    /* The user types at once, without waiting for anything. */
    GtkWidget *panel = ui_test_child(f->window, RS_TYPE_WINDOW, "params_panel");
    GtkTextView *prompt = ui_test_child(panel, RS_TYPE_PARAMS_PANEL, "prompt_view");
    gtk_widget_grab_focus(GTK_WIDGET(prompt));
    gtk_text_buffer_insert_at_cursor(gtk_text_view_get_buffer(prompt),
                                     "a lighthouse on a cliff at dusk", -1);
    gint64 start = g_get_monotonic_time();
    press_ctrl_enter(f);
    g_assert_true(ui_test_wait_until(job_finished, f, 60000));
    double seconds = (g_get_monotonic_time() - start) / 1e6;
    g_test_message("first image after %.1f s", seconds);
    for (guint i = 0; i < f->labels->len; i++)
        g_test_message("progress: %s", (char *)g_ptr_array_index(f->labels, i));
    g_assert_true(ui_test_wait_until(has_png, NULL, 1000));
    g_assert_cmpfloat(seconds, <, 60);

    /* The size and steps followed the machine and the model: on the processor at most the draft
     * size (the built-in demo model, the default with no other model, draws at its 256 px base). */
    RsJobSettings *job = rs_window_get_job(f->window);
    g_assert_cmpint(MAX(rs_job_settings_get_width(job), rs_job_settings_get_height(job)), <=, 512);
    /* The progress line named what the job was doing, with the time since Ctrl+Enter. */
    gboolean encoding = FALSE, step = FALSE, decoding = FALSE;
    for (guint i = 0; i < f->labels->len; i++) {
        const char *text = g_ptr_array_index(f->labels, i);
        if (g_str_has_prefix(text, "Done in"))
            continue;
        g_assert_nonnull(strstr(text, "elapsed"));
        encoding |= g_str_has_prefix(text, "Encoding the prompt");
        step |= g_str_has_prefix(text, "Step ");
        decoding |= g_str_has_prefix(text, "Decoding");
    }
    g_assert_true(step);
    g_assert_true(encoding || decoding); /* the fast phases may pass between two redraws */
    char *shot = ui_test_screenshot(GTK_WIDGET(f->window), "first-run-done");
    g_free(shot);
}

/* A long job: the clock moves every second although no step has ended yet. */
static void test_clock(Fixture *f, gconstpointer data)
{
    g_assert_true(ui_test_wait_until(model_ready, f->window, 30000));
    RsJobSettings *job = rs_window_get_job(f->window);
    g_object_set(job, "prompt", "a slow one", "aspect", "1:1", "size-preset", "2K", NULL);
    press_ctrl_enter(f);
    ui_test_spin(2600);
    GtkLabel *label = ui_test_child(f->window, RS_TYPE_WINDOW, "progress_label");
    const char *text = gtk_label_get_label(label);
    g_test_message("after 2.6 s: %s", text);
    char *shot = ui_test_screenshot(GTK_WIDGET(f->window), "first-run-clock");
    g_free(shot);
    g_assert_nonnull(strstr(text, "0:02 elapsed"));
    g_assert_false(g_str_has_prefix(text, "Starting"));
    gboolean moved = FALSE;
    for (guint i = 0; i < f->labels->len; i++)
        moved |= strstr(g_ptr_array_index(f->labels, i), "0:01 elapsed") != NULL;
    g_assert_true(moved);
    g_assert_true(gtk_widget_activate_action(GTK_WIDGET(f->window), "win.cancel", NULL));
    g_assert_true(ui_test_wait_until(job_finished, f, 60000));
    g_object_set(job, "size-preset", "512", NULL);
}

/* The self-test model, when chosen, says plainly that it draws noise. */
static void test_selftest_explained(Fixture *f, gconstpointer data)
{
    g_assert_true(ui_test_wait_until(model_ready, f->window, 30000));
    g_action_group_activate_action(G_ACTION_GROUP(f->window), "model",
                                   g_variant_new_string("self-test"));
    g_assert_true(ui_test_wait_until(model_ready, f->window, 30000));
    AdwWindowTitle *title = ui_test_child(f->window, RS_TYPE_WINDOW, "window_title");
    g_assert_cmpstr(adw_window_title_get_subtitle(title), ==,
                    "Built-in test model: draws noise, for checking the machinery");
    GtkWidget *button = ui_test_child(f->window, RS_TYPE_WINDOW, "model_button");
    g_assert_cmpstr(gtk_widget_get_tooltip_text(button), ==,
                    "Built-in test model: draws noise, for checking the machinery");
    char *shot = ui_test_screenshot(GTK_WIDGET(f->window), "first-run-selftest");
    g_free(shot);
}

static void remove_tree(const char *path)
{
    GDir *dir = g_dir_open(path, 0, NULL);
    for (const char *name; dir != NULL && (name = g_dir_read_name(dir)) != NULL;) {
        char *child = g_build_filename(path, name, NULL);
        if (g_file_test(child, G_FILE_TEST_IS_DIR) && !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
            remove_tree(child);
        else
            g_unlink(child);
        g_free(child);
    }
    if (dir != NULL)
        g_dir_close(dir);
    g_rmdir(path);
}

int main(int argc, char **argv)
{
    /* A new user: an empty home folder, nothing configured, nothing cached. */
    home = g_dir_make_tmp("rs-home-XXXXXX", NULL);
    g_assert_nonnull(home);
    g_setenv("HOME", home, TRUE);
    const char *xdg[][2] = {{"XDG_CONFIG_HOME", ".config"},
                            {"XDG_DATA_HOME", ".local/share"},
                            {"XDG_CACHE_HOME", ".cache"}};
    for (gsize i = 0; i < G_N_ELEMENTS(xdg); i++) {
        char *path = g_build_filename(home, xdg[i][1], NULL);
        g_setenv(xdg[i][0], path, TRUE);
        g_free(path);
    }
    g_unsetenv("HF_HOME");
    g_unsetenv("HF_HUB_CACHE");
    g_unsetenv("RESDIT_HISTORY_DB");
    ui_test_init(&argc, &argv);
    g_test_add("/first-run/first-image", Fixture, NULL, fixture_set_up, test_first_image,
               fixture_tear_down);
    g_test_add("/first-run/clock", Fixture, NULL, fixture_set_up, test_clock, fixture_tear_down);
    g_test_add("/first-run/selftest-explained", Fixture, NULL, fixture_set_up,
               test_selftest_explained, fixture_tear_down);
    int status = g_test_run();
    remove_tree(home);
    g_free(home);
    return status;
}
