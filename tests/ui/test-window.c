/* ui suite: the main window opens with its title, renders, closes without leaking. */
#include "config.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <string.h>

#include "rs-canvas.h"
#include "rs-preferences-window.h"
#include "rs-window.h"
#include "ui-test-util.h"

static gboolean window_is_mapped(gpointer data)
{
    return gtk_widget_get_mapped(GTK_WIDGET(data));
}

static void test_window_opens_and_closes(void)
{
    RsApplication *app = ui_test_application();
    RsWindow *window = rs_window_new(app);
    g_object_ref(window);
    gtk_window_present(GTK_WINDOW(window));
    g_assert_true(ui_test_wait_until(window_is_mapped, window, 5000));
    gtk_test_widget_wait_for_draw(GTK_WIDGET(window));

    g_assert_cmpstr(gtk_window_get_title(GTK_WINDOW(window)), ==, _("ResDiT Studio"));
    g_assert_true(gtk_application_get_active_window(GTK_APPLICATION(app)) == GTK_WINDOW(window));

    g_free(ui_test_screenshot(GTK_WIDGET(window), "main-window"));

    gtk_widget_activate_action(GTK_WIDGET(window), "window.close", NULL);
    ui_test_spin(50);
    g_assert_null(gtk_application_get_windows(GTK_APPLICATION(app)));
    g_assert_finalize_object(window);
}

static gboolean about_is_open(gpointer data)
{
    GListModel *toplevels = gtk_window_get_toplevels();
    for (guint i = 0; i < g_list_model_get_n_items(toplevels); i++) {
        GObject *toplevel = g_list_model_get_item(toplevels, i);
        gboolean found =
            ADW_IS_ABOUT_WINDOW(toplevel) && gtk_widget_get_mapped(GTK_WIDGET(toplevel));
        if (found)
            *(GtkWindow **)data = GTK_WINDOW(toplevel);
        g_object_unref(toplevel);
        if (found)
            return TRUE;
    }
    return FALSE;
}

static void test_about_window(void)
{
    RsApplication *app = ui_test_application();
    RsWindow *window = rs_window_new(app);
    g_object_ref(window);
    gtk_window_present(GTK_WINDOW(window));
    g_assert_true(ui_test_wait_until(window_is_mapped, window, 5000));

    g_action_group_activate_action(G_ACTION_GROUP(app), "about", NULL);
    GtkWindow *about = NULL;
    g_assert_true(ui_test_wait_until(about_is_open, &about, 5000));
    g_assert_cmpstr(adw_about_window_get_application_name(ADW_ABOUT_WINDOW(about)), ==,
                    _("ResDiT Studio"));
    g_assert_cmpstr(adw_about_window_get_application_icon(ADW_ABOUT_WINDOW(about)), ==, APP_ID);
    g_assert_true(gtk_window_get_transient_for(about) == GTK_WINDOW(window));
    gtk_test_widget_wait_for_draw(GTK_WIDGET(about));
    g_free(ui_test_screenshot(GTK_WIDGET(about), "about-window"));

    g_object_ref(about);
    gtk_window_destroy(about);
    gtk_window_destroy(GTK_WINDOW(window));
    ui_test_spin(50);
    g_assert_finalize_object(about);
    g_assert_finalize_object(window);
}

typedef struct {
    GType type;
    GtkWindow *found;
} FindToplevel;

static gboolean toplevel_shown(gpointer data)
{
    FindToplevel *find = data;
    GListModel *toplevels = gtk_window_get_toplevels();
    for (guint i = 0; i < g_list_model_get_n_items(toplevels); i++) {
        GObject *toplevel = g_list_model_get_item(toplevels, i);
        if (G_TYPE_CHECK_INSTANCE_TYPE(toplevel, find->type) &&
            gtk_widget_get_mapped(GTK_WIDGET(toplevel)))
            find->found = GTK_WINDOW(toplevel);
        g_object_unref(toplevel);
    }
    return find->found != NULL;
}

/* The first item names the folder's flux1-dev (the built-in demo model is listed after it). */
static gboolean menu_shows_folder(gpointer data)
{
    if (g_menu_model_get_n_items(G_MENU_MODEL(data)) == 0)
        return FALSE;
    char *label = NULL;
    g_menu_model_get_item_attribute(G_MENU_MODEL(data), 0, G_MENU_ATTRIBUTE_LABEL, "s", &label);
    gboolean found = label != NULL && strstr(label, "flux1-dev") != NULL;
    g_free(label);
    return found;
}

static gboolean revealed(gpointer data)
{
    return gtk_revealer_get_reveal_child(data) && gtk_revealer_get_child_revealed(data);
}

static gboolean not_revealed(gpointer data)
{
    return !gtk_revealer_get_reveal_child(data);
}

static void test_preferences(void)
{
    RsApplication *app = ui_test_application();
    RsWindow *window = rs_window_new(app);
    g_object_ref(window);
    ui_test_present(GTK_WINDOW(window));
    GSettings *settings = g_settings_new("io.github.resdit.Studio");

    g_action_group_activate_action(G_ACTION_GROUP(app), "preferences", NULL);
    FindToplevel find = {RS_TYPE_PREFERENCES_WINDOW, NULL};
    g_assert_true(ui_test_wait_until(toplevel_shown, &find, 5000));
    GtkWindow *prefs = g_object_ref(find.found);
    g_assert_true(gtk_window_get_transient_for(prefs) == GTK_WINDOW(window));

    AdwComboRow *backend = ui_test_child(prefs, RS_TYPE_PREFERENCES_WINDOW, "backend_row");
    g_settings_set_string(settings, "backend", "cpu");
    g_assert_cmpuint(adw_combo_row_get_selected(backend), ==, 2);
    adw_combo_row_set_selected(backend, 1);
    g_assert_cmpstr(g_settings_get_string(settings, "backend"), ==, "cuda");
    g_settings_reset(settings, "backend"); /* a build without CUDA cannot open a model on it */

    GtkSwitch *inspect =
        ui_test_child(prefs, RS_TYPE_PREFERENCES_WINDOW, "inspect_branches_switch");
    gtk_switch_set_active(inspect, TRUE);
    g_assert_true(g_settings_get_boolean(settings, "inspect-branches-default"));
    gtk_switch_set_active(inspect, FALSE);

    GtkSpinButton *interval =
        ui_test_child(prefs, RS_TYPE_PREFERENCES_WINDOW, "preview_interval_spin");
    gtk_spin_button_set_value(interval, 4);
    g_assert_cmpint(g_settings_get_int(settings, "preview-interval"), ==, 4);

    /* Output folder: Pictures/ResDiT Studio unless set. */
    AdwActionRow *output = ui_test_child(prefs, RS_TYPE_PREFERENCES_WINDOW, "output_folder_row");
    g_assert_true(g_str_has_suffix(adw_action_row_get_subtitle(output), "/ResDiT Studio"));
    g_settings_set_string(settings, "output-folder", "/tmp/rs-out");
    g_assert_cmpstr(adw_action_row_get_subtitle(output), ==, "/tmp/rs-out");
    g_settings_reset(settings, "output-folder");

    /* Model folders appear in the preferences; the models discovered in them in the model menu,
     * with the parts they lack. */
    char *tmp = g_dir_make_tmp("rs-models-XXXXXX", NULL);
    char *model_dir = g_build_filename(tmp, "flux1-dev", NULL);
    char *index = g_build_filename(model_dir, "model_index.json", NULL);
    g_assert_cmpint(g_mkdir_with_parents(model_dir, 0700), ==, 0);
    /* A FLUX folder whose parts are still downloading: its index says what it is. */
    g_assert_true(g_file_set_contents(index, "{\"_class_name\": \"FluxPipeline\"}", -1, NULL));
    const char *folders[] = {model_dir, NULL};
    g_settings_set_strv(settings, "model-folders", folders);
    AdwActionRow *empty = ui_test_child(prefs, RS_TYPE_PREFERENCES_WINDOW, "no_folders_row");
    g_assert_false(gtk_widget_get_visible(GTK_WIDGET(empty)));
    GMenuModel *section = ui_test_child(window, RS_TYPE_WINDOW, "model_folders_section");
    g_assert_true(ui_test_wait_until(menu_shows_folder, section, 10000));
    char *label = NULL;
    g_menu_model_get_item_attribute(section, 0, G_MENU_ATTRIBUTE_LABEL, "s", &label);
    g_assert_nonnull(strstr(label, "flux1-dev"));
    g_assert_nonnull(strstr(label, "vae"));
    g_free(label);
    g_action_group_activate_action(G_ACTION_GROUP(window), "model",
                                   g_variant_new_string(model_dir));
    g_assert_cmpstr(gtk_label_get_label(ui_test_child(window, RS_TYPE_WINDOW, "model_label")), ==,
                    "flux1-dev");
    /* A partial model cannot be chosen from the menu. */
    g_assert_null(g_menu_model_get_item_attribute_value(section, 0, G_MENU_ATTRIBUTE_ACTION, NULL));
    /* Chosen anyway (Open Model Folder picks it): a notice that stays names the missing parts
     * and where they go, and Generate says why it cannot start. */
    GtkRevealer *notice = ui_test_child(window, RS_TYPE_WINDOW, "model_notice");
    g_assert_true(ui_test_wait_until(revealed, notice, 10000));
    const char *text =
        gtk_label_get_label(ui_test_child(window, RS_TYPE_WINDOW, "model_notice_label"));
    g_test_message("%s", text);
    g_assert_nonnull(strstr(text, "vae, clip-l, t5"));
    g_assert_nonnull(strstr(text, model_dir));
    FindToplevel dialog = {ADW_TYPE_MESSAGE_DIALOG, NULL};
    g_assert_false(toplevel_shown(&dialog));
    GtkWidget *generate = ui_test_child(window, RS_TYPE_WINDOW, "generate_button");
    g_assert_false(gtk_widget_is_sensitive(generate));
    g_assert_cmpstr(gtk_widget_get_tooltip_text(generate), ==,
                    "The chosen model cannot be opened: see the notice");
    ui_test_spin(300);
    g_free(ui_test_screenshot(GTK_WIDGET(window), "window-partial-model"));
    /* Another model: the notice goes. */
    g_settings_set_string(settings, "model", "self-test");
    g_assert_true(ui_test_wait_until(not_revealed, notice, 10000));
    gtk_test_widget_wait_for_draw(GTK_WIDGET(prefs));
    g_free(ui_test_screenshot(GTK_WIDGET(prefs), "preferences"));
    g_settings_reset(settings, "model-folders");
    g_settings_set_string(settings, "model", "self-test");
    g_unlink(index);
    g_rmdir(model_dir);
    g_rmdir(tmp);
    g_free(index);
    g_free(model_dir);
    g_free(tmp);

    gtk_window_destroy(prefs);
    gtk_window_destroy(GTK_WINDOW(window));
    ui_test_spin(50);
    g_assert_finalize_object(prefs);
    g_assert_finalize_object(window);
    g_object_unref(settings);
}

static void test_shortcuts_window(void)
{
    RsWindow *window = rs_window_new(ui_test_application());
    g_object_ref(window);
    ui_test_present(GTK_WINDOW(window));
    gtk_widget_activate_action(GTK_WIDGET(window), "win.show-help-overlay", NULL);
    FindToplevel find = {GTK_TYPE_SHORTCUTS_WINDOW, NULL};
    g_assert_true(ui_test_wait_until(toplevel_shown, &find, 5000));
    gtk_test_widget_wait_for_draw(GTK_WIDGET(find.found));
    g_free(ui_test_screenshot(GTK_WIDGET(find.found), "shortcuts"));
    gtk_window_destroy(find.found);
    gtk_window_destroy(GTK_WINDOW(window));
    ui_test_spin(50);
    g_assert_finalize_object(window);
}

/* Parameters and window size outlive the window (GSettings, here the memory backend). */
static void test_persistence(void)
{
    RsApplication *app = ui_test_application();
    RsWindow *first = rs_window_new(app);
    g_object_ref(first);
    gtk_window_set_default_size(GTK_WINDOW(first), 1000, 700);
    ui_test_present(GTK_WINDOW(first));
    g_object_set(rs_window_get_job(first), "prompt", "a lighthouse at dusk", "steps", 28, "aspect",
                 "3:2", "cutoff", 0.35, "no-psf", TRUE, "lowfreq-noise", 0.75, NULL);
    gtk_window_destroy(GTK_WINDOW(first));
    ui_test_spin(20);
    g_assert_finalize_object(first);

    RsWindow *second = rs_window_new(app);
    g_object_ref(second);
    int width, height;
    gtk_window_get_default_size(GTK_WINDOW(second), &width, &height);
    g_assert_cmpint(width, ==, 1000);
    g_assert_cmpint(height, ==, 700);
    char *prompt, *aspect;
    int steps;
    double cutoff, lowfreq;
    gboolean no_psf;
    g_object_get(rs_window_get_job(second), "prompt", &prompt, "steps", &steps, "aspect", &aspect,
                 "cutoff", &cutoff, "no-psf", &no_psf, "lowfreq-noise", &lowfreq, NULL);
    g_assert_cmpstr(prompt, ==, "a lighthouse at dusk");
    g_assert_cmpint(steps, ==, 28);
    g_assert_cmpstr(aspect, ==, "3:2");
    g_assert_cmpfloat(cutoff, ==, 0.35);
    g_assert_true(no_psf);
    g_assert_cmpfloat(lowfreq, ==, 0.75);
    g_free(prompt);
    g_free(aspect);
    gtk_window_destroy(GTK_WINDOW(second));
    ui_test_spin(20);
    g_assert_finalize_object(second);

    GSettings *settings = g_settings_new("io.github.resdit.Studio");
    const char *keys[] = {"prompt",        "steps",        "aspect",       "cutoff",
                          "no-psf",        "window-width", "window-height", "lowfreq-noise"};
    for (gsize i = 0; i < G_N_ELEMENTS(keys); i++)
        g_settings_reset(settings, keys[i]);
    g_object_unref(settings);
}

/* Views stay insensitive until their branch has a frame; the final frame takes the canvas. */
static void test_branch_views(void)
{
    RsWindow *window = rs_window_new(ui_test_application());
    g_object_ref(window);
    gtk_window_set_default_size(GTK_WINDOW(window), 1280, 820);
    ui_test_present(GTK_WINDOW(window));
    GtkWidget *global = ui_test_child(window, RS_TYPE_WINDOW, "view_global");
    GtkWidget *final = ui_test_child(window, RS_TYPE_WINDOW, "view_final");
    GtkStack *stack = ui_test_child(window, RS_TYPE_WINDOW, "canvas_stack");
    RsCanvas *canvas = ui_test_child(window, RS_TYPE_WINDOW, "canvas");
    g_assert_false(gtk_widget_is_sensitive(global));
    g_assert_false(gtk_widget_is_sensitive(final));
    g_assert_cmpstr(gtk_stack_get_visible_child_name(stack), ==, "empty");
    g_assert_false(gtk_widget_get_sensitive(GTK_WIDGET(window)) == FALSE);

    GdkTexture *early = ui_test_gradient_texture(2048, 1152);
    rs_window_show_frame(window, RS_BRANCH_GLOBAL, early, 3, 35, "global");
    g_assert_true(gtk_widget_is_sensitive(global));
    g_assert_false(gtk_widget_is_sensitive(final));
    g_assert_cmpstr(gtk_stack_get_visible_child_name(stack), ==, "canvas");
    g_assert_true(rs_canvas_get_texture(canvas) == early);

    /* Selecting a view without a frame does nothing. */
    gtk_widget_activate_action(GTK_WIDGET(window), "win.view", "s", "local");
    g_assert_true(rs_canvas_get_texture(canvas) == early);

    GdkTexture *image = ui_test_gradient_texture(4096, 2304);
    rs_window_show_frame(window, RS_BRANCH_FINAL, image, 35, 35, "final");
    g_assert_true(gtk_widget_is_sensitive(final));
    g_assert_true(gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(final)));
    g_assert_true(rs_canvas_get_texture(canvas) == image);
    g_assert_true(gtk_widget_is_sensitive(global));
    gtk_widget_activate_action(GTK_WIDGET(window), "win.view", "s", "global");
    g_assert_true(rs_canvas_get_texture(canvas) == early);
    gtk_widget_activate_action(GTK_WIDGET(window), "win.view", "s", "final");
    g_assert_true(rs_canvas_get_texture(canvas) == image);

    /* The window's zoom actions and label follow the canvas. */
    GtkLabel *zoom_label = ui_test_child(window, RS_TYPE_WINDOW, "zoom_label");
    g_assert_true(rs_canvas_get_best_fit(canvas));
    gtk_test_widget_wait_for_draw(GTK_WIDGET(window));
    g_free(ui_test_screenshot(GTK_WIDGET(window), "main-window-image"));
    gtk_widget_activate_action(GTK_WIDGET(window), "win.zoom-100", NULL);
    g_assert_cmpfloat(rs_canvas_get_zoom(canvas), ==, 1.0);
    ui_test_spin(20);
    g_assert_cmpstr(gtk_label_get_label(zoom_label), ==, "100 %");
    gtk_widget_activate_action(GTK_WIDGET(window), "win.zoom-in", NULL);
    ui_test_spin(20);
    g_assert_cmpstr(gtk_label_get_label(zoom_label), ==, "125 %");
    gtk_test_widget_wait_for_draw(GTK_WIDGET(window));
    g_free(ui_test_screenshot(GTK_WIDGET(window), "main-window-zoomed"));
    gtk_widget_activate_action(GTK_WIDGET(window), "win.zoom-best-fit", NULL);
    g_assert_true(rs_canvas_get_zoom(canvas) < 1.0);

    rs_window_clear_frames(window);
    g_assert_false(gtk_widget_is_sensitive(global));
    g_assert_cmpstr(gtk_stack_get_visible_child_name(stack), ==, "empty");
    g_object_unref(early);
    g_object_unref(image);
    gtk_window_destroy(GTK_WINDOW(window));
    ui_test_spin(20);
    g_assert_finalize_object(window);
}

static gboolean model_ready(gpointer data)
{
    gboolean ready = FALSE;
    g_object_get(data, "model-ready", &ready, NULL);
    return ready;
}

/* With the "model" setting at its default (automatic) and no other model on the machine, the
 * window opens the built-in demo model, and the panel takes its base size, steps, size and CFG
 * scale. */
static void test_automatic_model(void)
{
    GSettings *settings = g_settings_new("io.github.resdit.Studio");
    g_settings_reset(settings, "model");
    g_autofree char *empty_hub = g_dir_make_tmp("rs-hub-XXXXXX", NULL);
    g_setenv("HF_HUB_CACHE", empty_hub, TRUE); /* nothing from the user's cache */
    RsWindow *window = rs_window_new(ui_test_application());
    g_object_ref(window);
    ui_test_present(GTK_WINDOW(window));
    g_assert_true(ui_test_wait_until(model_ready, window, 30000));
    g_assert_cmpstr(gtk_label_get_label(ui_test_child(window, RS_TYPE_WINDOW, "model_label")), ==,
                    "resdit-demo (built in)");
    RsJobSettings *job = rs_window_get_job(window);
    int base = 0, steps = 0, patch = 0;
    double guidance = 0;
    g_object_get(job, "base-size", &base, "steps", &steps, "patch", &patch, "guidance", &guidance,
                 NULL);
    g_assert_cmpint(base, ==, 256);
    g_assert_cmpint(patch, ==, 16);
    g_assert_cmpint(steps, ==, 16);
    g_assert_cmpfloat(guidance, ==, 4.0); /* its CFG scale, not FLUX.1-dev's 3.5 */
    g_assert_cmpint(rs_job_settings_get_width(job), ==, 256);
    g_assert_cmpint(rs_job_settings_get_height(job), ==, 256);
    g_settings_set_string(settings, "model", "self-test");
    g_object_unref(settings);
    gtk_window_destroy(GTK_WINDOW(window));
    ui_test_spin(50);
    g_assert_finalize_object(window);
    g_unsetenv("HF_HUB_CACHE");
    g_rmdir(empty_hub);
}

int main(int argc, char **argv)
{
    ui_test_init(&argc, &argv);
    /* The self-test model unless a test says otherwise: opening the automatic choice (the demo
     * model) would change the panel in the middle of a test. */
    GSettings *settings = g_settings_new("io.github.resdit.Studio");
    g_settings_set_string(settings, "model", "self-test");
    g_object_unref(settings);
    g_test_add_func("/window/automatic-model", test_automatic_model);
    g_test_add_func("/window/preferences", test_preferences);
    g_test_add_func("/window/shortcuts", test_shortcuts_window);
    g_test_add_func("/window/persistence", test_persistence);
    g_test_add_func("/window/branch-views", test_branch_views);
    g_test_add_func("/window/opens-and-closes", test_window_opens_and_closes);
    g_test_add_func("/window/about", test_about_window);
    return g_test_run();
}
