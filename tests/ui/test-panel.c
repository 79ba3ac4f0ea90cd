/* ui suite: the parameters panel drives the job settings; the schedule bar follows the spins. */
#include "config.h"

#include "rs-job-settings.h"
#include "rs-params-panel.h"
#include "rs-schedule-bar.h"
#include "rs-window.h"
#include "ui-test-util.h"

typedef struct {
    RsWindow *window;
    RsParamsPanel *panel;
    RsJobSettings *job;
} Fixture;

static void fixture_set_up(Fixture *f, gconstpointer data)
{
    /* The self-test model: the automatic choice (the demo model) would take over the panel's
     * base size, steps and size when it opens, in the middle of a test. */
    GSettings *settings = g_settings_new("io.github.resdit.Studio");
    g_settings_set_string(settings, "model", "self-test");
    g_object_unref(settings);
    f->window = rs_window_new(ui_test_application());
    g_object_ref(f->window);
    ui_test_present(GTK_WINDOW(f->window));
    f->panel = ui_test_child(f->window, RS_TYPE_WINDOW, "params_panel");
    f->job = rs_window_get_job(f->window);
}

static void fixture_tear_down(Fixture *f, gconstpointer data)
{
    gtk_window_destroy(GTK_WINDOW(f->window));
    ui_test_spin(20);
    g_assert_finalize_object(f->window);
}

static GtkSpinButton *spin(Fixture *f, const char *name)
{
    return ui_test_child(f->panel, RS_TYPE_PARAMS_PANEL, name);
}

static int job_int(Fixture *f, const char *prop)
{
    int value;
    g_object_get(f->job, prop, &value, NULL);
    return value;
}

/* The bar's colour at the middle of steps [from, to). */
static guint32 bar_colour(GdkTexture *bar, int steps, double from, double to)
{
    int width = gdk_texture_get_width(bar);
    int x = (int)(width * (from + to) / 2 / steps);
    return ui_test_pixel(bar, x, gdk_texture_get_height(bar) / 2);
}

static void test_schedule_bar_follows_spins(Fixture *f, gconstpointer data)
{
    GtkWidget *bar = ui_test_child(f->panel, RS_TYPE_PARAMS_PANEL, "schedule_bar");
    gtk_spin_button_set_value(spin(f, "steps_spin"), 20);
    gtk_spin_button_set_value(spin(f, "global_steps_spin"), 5);
    gtk_spin_button_set_value(spin(f, "local_steps_spin"), 5);
    g_assert_cmpint(job_int(f, "steps"), ==, 20);
    g_assert_cmpint(job_int(f, "global-steps"), ==, 5);
    g_assert_cmpint(job_int(f, "local-steps"), ==, 5);

    GdkTexture *shot = ui_test_render(bar);
    ui_test_assert_rgb(bar_colour(shot, 20, 0, 5), RS_SCHEDULE_GLOBAL_RGB, 2);
    ui_test_assert_rgb(bar_colour(shot, 20, 5, 15), RS_SCHEDULE_FUSED_RGB, 2);
    ui_test_assert_rgb(bar_colour(shot, 20, 15, 20), RS_SCHEDULE_LOCAL_RGB, 2);
    g_object_unref(shot);

    /* More global steps: step 10 (was fused) is now global. */
    gtk_spin_button_set_value(spin(f, "global_steps_spin"), 12);
    shot = ui_test_render(bar);
    ui_test_assert_rgb(bar_colour(shot, 20, 9.5, 10.5), RS_SCHEDULE_GLOBAL_RGB, 2);
    ui_test_assert_rgb(bar_colour(shot, 20, 12, 15), RS_SCHEDULE_FUSED_RGB, 2);
    g_object_unref(shot);

    /* Fewer steps than global + local: local gives way, no fused steps are left. */
    gtk_spin_button_set_value(spin(f, "steps_spin"), 14);
    g_assert_cmpint(job_int(f, "global-steps"), ==, 12);
    g_assert_cmpint(job_int(f, "local-steps"), ==, 2);
    shot = ui_test_render(bar);
    ui_test_assert_rgb(bar_colour(shot, 14, 0, 12), RS_SCHEDULE_GLOBAL_RGB, 2);
    ui_test_assert_rgb(bar_colour(shot, 14, 12, 14), RS_SCHEDULE_LOCAL_RGB, 2);
    g_object_unref(shot);

    /* The spins cannot exceed the step count. */
    gtk_spin_button_set_value(spin(f, "local_steps_spin"), 100);
    g_assert_cmpint(job_int(f, "local-steps"), ==, 14);
    g_assert_cmpint(job_int(f, "global-steps"), ==, 0);
    GtkLabel *legend = ui_test_child(f->panel, RS_TYPE_PARAMS_PANEL, "schedule_legend");
    g_assert_cmpstr(gtk_label_get_text(legend), ==, "■ Global 0   ■ Fused 0   ■ Local 14");

    /* The whole panel content, Advanced expanded, for the screenshot folder. */
    gtk_spin_button_set_value(spin(f, "steps_spin"), 35);
    gtk_spin_button_set_value(spin(f, "global_steps_spin"), 10);
    gtk_spin_button_set_value(spin(f, "local_steps_spin"), 15);
    adw_expander_row_set_expanded(ui_test_child(f->panel, RS_TYPE_PARAMS_PANEL, "advanced_row"),
                                  TRUE);
    ui_test_spin(400); /* the expander animates */
    GtkWidget *content = bar;
    while (!GTK_IS_VIEWPORT(gtk_widget_get_parent(content)))
        content = gtk_widget_get_parent(content);
    g_free(ui_test_screenshot(content, "params-panel-full"));
}

static void test_size_presets(Fixture *f, gconstpointer data)
{
    AdwComboRow *aspect = ui_test_child(f->panel, RS_TYPE_PARAMS_PANEL, "aspect_row");
    AdwComboRow *size = ui_test_child(f->panel, RS_TYPE_PARAMS_PANEL, "size_row");
    GtkLabel *dimensions = ui_test_child(f->panel, RS_TYPE_PARAMS_PANEL, "dimensions_label");
    AdwActionRow *row = ui_test_child(f->panel, RS_TYPE_PARAMS_PANEL, "dimensions_row");
    GtkWidget *custom_width = ui_test_child(f->panel, RS_TYPE_PARAMS_PANEL, "custom_width_row");

    adw_combo_row_set_selected(aspect, 5); /* 16:9 */
    adw_combo_row_set_selected(size, 3);   /* 4K */
    g_assert_cmpint(rs_job_settings_get_width(f->job), ==, 4096);
    g_assert_cmpint(rs_job_settings_get_height(f->job), ==, 2304);
    g_assert_cmpstr(gtk_label_get_text(dimensions), ==, "4096 × 2304 px");
    char *memory = g_strdup(adw_action_row_get_subtitle(row));
    g_assert_nonnull(strstr(memory, "GB"));
    g_assert_false(gtk_widget_get_visible(custom_width));

    adw_combo_row_set_selected(size, 2); /* 3K */
    g_assert_cmpstr(gtk_label_get_text(dimensions), ==, "3072 × 1728 px");
    g_assert_cmpstr(adw_action_row_get_subtitle(row), !=, memory);
    g_free(memory);

    adw_combo_row_set_selected(aspect, 9); /* custom */
    g_assert_true(gtk_widget_get_visible(custom_width));
    g_assert_false(gtk_widget_get_sensitive(GTK_WIDGET(size)));
    gtk_spin_button_set_value(spin(f, "custom_width_spin"), 3000);
    gtk_spin_button_set_value(spin(f, "custom_height_spin"), 1999);
    g_assert_cmpint(rs_job_settings_get_width(f->job), ==, 3008); /* snapped to 16 px */
    g_assert_cmpint(rs_job_settings_get_height(f->job), ==, 2000);
    g_assert_cmpstr(gtk_label_get_text(dimensions), ==, "3008 × 2000 px");
    g_free(ui_test_screenshot(GTK_WIDGET(f->window), "main-window-custom-size"));
}

static void clipboard_text_ready(GObject *source, GAsyncResult *result, gpointer data)
{
    *(char **)data = gdk_clipboard_read_text_finish(GDK_CLIPBOARD(source), result, NULL);
}

static gboolean text_arrived(gpointer data)
{
    return *(char **)data != NULL;
}

static void test_seed_controls(Fixture *f, gconstpointer data)
{
    GtkSwitch *random = ui_test_child(f->panel, RS_TYPE_PARAMS_PANEL, "random_seed_switch");
    GtkWidget *seed_spin = GTK_WIDGET(spin(f, "seed_spin"));
    gtk_switch_set_active(random, TRUE);
    g_assert_false(gtk_widget_get_sensitive(seed_spin));

    GtkButton *dice = ui_test_child(f->panel, RS_TYPE_PARAMS_PANEL, "dice_button");
    g_signal_emit_by_name(dice, "clicked");
    g_assert_false(gtk_switch_get_active(random));
    g_assert_true(gtk_widget_get_sensitive(seed_spin));
    guint seed = rs_job_settings_get_seed(f->job);
    g_assert_cmpfloat(gtk_spin_button_get_value(GTK_SPIN_BUTTON(seed_spin)), ==, (double)seed);

    GtkButton *copy = ui_test_child(f->panel, RS_TYPE_PARAMS_PANEL, "copy_seed_button");
    g_signal_emit_by_name(copy, "clicked");
    char *text = NULL;
    gdk_clipboard_read_text_async(gtk_widget_get_clipboard(GTK_WIDGET(f->window)), NULL,
                                  clipboard_text_ready, &text);
    g_assert_true(ui_test_wait_until(text_arrived, &text, 5000));
    char *want = g_strdup_printf("%u", seed);
    g_assert_cmpstr(text, ==, want);
    g_free(want);
    g_free(text);
}

int main(int argc, char **argv)
{
    ui_test_init(&argc, &argv);
    g_test_add("/panel/schedule-bar", Fixture, NULL, fixture_set_up,
               test_schedule_bar_follows_spins, fixture_tear_down);
    g_test_add("/panel/size-presets", Fixture, NULL, fixture_set_up, test_size_presets,
               fixture_tear_down);
    g_test_add("/panel/seed", Fixture, NULL, fixture_set_up, test_seed_controls, fixture_tear_down);
    return g_test_run();
}
