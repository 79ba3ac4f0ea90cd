/* ui suite: the parameters panel drives the job settings; the schedule bar follows the spins. */
#include "config.h"

#include <string.h>

#include "denoiser.h"
#include "pipeline-private.h"
#include "rs-engine-params.h"
#include "rs-job-settings.h"
#include "rs-params-panel.h"
#include "rs-schedule-bar.h"
#include "rs-window.h"
#include "ui-test-util.h"
#include "sd3_model.h"
#include "vae.h"

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

/* tests/data's tiny SD3 transformer and VAE as an open model (no text encoders: the panel does
 * not encode), in a handle as the window holds one. */
static RsModelHandle *tiny_sd3_handle(void)
{
    g_autofree char *tdir =
        g_test_build_filename(G_TEST_DIST, "..", "data", "sd3", "sd3-tiny", "transformer", NULL);
    g_autofree char *vfile = g_test_build_filename(G_TEST_DIST, "..", "data", "pipeline",
                                                   "ae-tiny.bfl.safetensors", NULL);
    RdBackend *be = rd_backend_cpu_new();
    g_autoptr(GError) error = NULL;
    Sd3Model *sd3 = sd3_model_load(tdir, be, &error);
    g_assert_no_error(error);
    RdDenoiser *d = rd_sd3_denoiser_new(sd3);
    const RdDenoiserInfo *info = rd_denoiser_info(d);
    RdVae *vae = rd_vae_load_scaled(vfile, info->vae_scaling, info->vae_shift, be, &error);
    g_assert_no_error(error);
    RsModelHandle *handle = g_atomic_rc_box_new0(RsModelHandle);
    handle->model = rd_model_new("sd3 tiny", be, d, vae, NULL, NULL);
    handle->key = g_strdup("sd3-tiny");
    handle->fingerprint = g_strdup("sd3-tiny");
    return handle;
}

static void open_selftest(GObject *source, GAsyncResult *result, gpointer data)
{
    RsModelHandle **out = data;
    *out = rs_model_handle_open_finish(result, NULL);
}

static gboolean handle_ready(gpointer data)
{
    return *(RsModelHandle **)data != NULL;
}

/* The negative prompt and the CFG scale show for a model with classifier-free guidance (SD3)
 * and hide again for FLUX; the field is bound to the job's negative-prompt, which the engine
 * parameters take. */
static void test_negative_prompt(void)
{
    ui_test_application();
    RsJobSettings *job = rs_job_settings_new();
    RsParamsPanel *panel = g_object_new(RS_TYPE_PARAMS_PANEL, NULL);
    GtkWindow *window = GTK_WINDOW(gtk_window_new());
    gtk_window_set_default_size(window, 420, 720);
    gtk_window_set_child(window, GTK_WIDGET(panel));
    rs_params_panel_set_job(panel, job);
    ui_test_present(window);
    GtkWidget *group = ui_test_child(panel, RS_TYPE_PARAMS_PANEL, "negative_group");
    GtkTextView *view = ui_test_child(panel, RS_TYPE_PARAMS_PANEL, "negative_view");
    AdwPreferencesRow *guidance = ui_test_child(panel, RS_TYPE_PARAMS_PANEL, "guidance_row");
    g_assert_false(gtk_widget_get_visible(group));
    g_assert_cmpstr(adw_preferences_row_get_title(guidance), ==, "Guidance");

    RsModelHandle *sd3 = tiny_sd3_handle();
    g_assert_true(resdit_model_uses_cfg(sd3->model));
    rs_params_panel_set_model(panel, sd3);
    g_assert_true(gtk_widget_get_visible(group));
    g_assert_cmpstr(adw_preferences_row_get_title(guidance), ==, "CFG Scale");
    g_assert_nonnull(strstr(adw_action_row_get_subtitle(ADW_ACTION_ROW(guidance)), "7"));
    gtk_text_buffer_set_text(gtk_text_view_get_buffer(view), "blurry, low quality", -1);
    g_autofree char *negative = NULL;
    g_object_get(job, "negative-prompt", &negative, NULL);
    g_assert_cmpstr(negative, ==, "blurry, low quality");
    ResditJobParams params;
    resdit_job_params_init(&params);
    rs_engine_params_from_settings(job, sd3->model, &params);
    g_assert_cmpstr(params.negative_prompt, ==, "blurry, low quality");
    /* a record sets the field back */
    g_free(params.negative_prompt);
    params.negative_prompt = g_strdup("cartoon");
    rs_engine_params_apply(job, &params);
    g_autofree char *shown = NULL;
    GtkTextBuffer *buffer = gtk_text_view_get_buffer(view);
    g_object_get(buffer, "text", &shown, NULL);
    g_assert_cmpstr(shown, ==, "cartoon");
    resdit_job_params_clear(&params);
    g_free(ui_test_screenshot(GTK_WIDGET(panel), "params-panel-sd3"));

    RsModelHandle *flux = NULL;
    rs_model_handle_open_async(RS_MODEL_KEY_SELFTEST, NULL, RESDIT_BACKEND_CPU, NULL, open_selftest,
                               &flux);
    g_assert_true(ui_test_wait_until(handle_ready, &flux, 30000));
    rs_params_panel_set_model(panel, flux);
    g_assert_false(gtk_widget_get_visible(group));
    g_assert_cmpstr(adw_preferences_row_get_title(guidance), ==, "Guidance");
    rs_params_panel_set_model(panel, NULL);
    rs_model_handle_unref(flux);
    rs_model_handle_unref(sd3);
    gtk_window_destroy(window);
    g_object_unref(job);
    ui_test_spin(20);
}

int main(int argc, char **argv)
{
    ui_test_init(&argc, &argv);
    g_test_add("/panel/schedule-bar", Fixture, NULL, fixture_set_up,
               test_schedule_bar_follows_spins, fixture_tear_down);
    g_test_add("/panel/size-presets", Fixture, NULL, fixture_set_up, test_size_presets,
               fixture_tear_down);
    g_test_add("/panel/seed", Fixture, NULL, fixture_set_up, test_seed_controls, fixture_tear_down);
    g_test_add_func("/panel/negative-prompt", test_negative_prompt);
    return g_test_run();
}
