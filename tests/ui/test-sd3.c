/* ui suite: an SD3 model in the studio. A tiny diffusers SD3 folder (assembled from tests/data as
 * tests/pipeline/test-sd3-generate.c does) in the model folders: the window opens it, takes its
 * CFG scale, shows the negative prompt, and generates an image whose record names the family and
 * the negative prompt. */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "rs-params-panel.h"
#include "../pipeline/sd3-tiny-model.h"
#include "rs-window.h"
#include "ui-test-util.h"

static char *data_path(const char *rel)
{
    return g_test_build_filename(G_TEST_DIST, "..", "data", rel, NULL);
}

/* The shared tiny SD3 folder; base size 256 px so that the 512 px draft runs every mode. */
static char *assemble_model(const char *top)
{
    g_autofree char *data = data_path(".");
    return sd3_tiny_model_assemble(data, top, 256);
}

static gboolean model_is_sd3(gpointer data)
{
    UiStudio *f = data;
    GtkWidget *panel = ui_test_child(f->window, RS_TYPE_WINDOW, "params_panel");
    GtkWidget *group = ui_test_child(panel, RS_TYPE_PARAMS_PANEL, "negative_group");
    return ui_test_model_ready(f->window) && gtk_widget_get_visible(group);
}

static char *first_png(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d)))
        if (g_str_has_suffix(name, ".png"))
            return g_build_filename(dir, name, NULL);
    return NULL;
}

static void test_sd3_model(UiStudio *f, gconstpointer data)
{
    g_autofree char *top = g_dir_make_tmp("rs-sd3-XXXXXX", NULL);
    g_autofree char *root = assemble_model(top);
    const char *folders[] = {root, NULL};
    g_settings_set_strv(f->settings, "model-folders", folders);
    g_settings_set_string(f->settings, "model", root);
    g_assert_true(ui_test_wait_until(model_is_sd3, f, 60000));

    /* the model's CFG scale (SD3 Medium's structure: 7) until the user chooses one */
    double guidance = 0;
    g_object_get(f->job, "guidance", &guidance, NULL);
    g_assert_cmpfloat(guidance, ==, 7.0);
    GtkWidget *panel = ui_test_child(f->window, RS_TYPE_WINDOW, "params_panel");
    AdwPreferencesRow *row = ui_test_child(panel, RS_TYPE_PARAMS_PANEL, "guidance_row");
    g_assert_cmpstr(adw_preferences_row_get_title(row), ==, "CFG Scale");
    g_assert_false(g_settings_get_boolean(f->settings, "guidance-chosen"));

    GtkTextView *negative = ui_test_child(panel, RS_TYPE_PARAMS_PANEL, "negative_view");
    gtk_text_buffer_set_text(gtk_text_view_get_buffer(negative), "blurry, low quality", -1);
    g_object_set(f->job, "prompt", "a lighthouse at dusk", "size-preset", "512", "aspect", "1:1",
                 "global-steps", 0, "local-steps", 0, NULL);
    g_object_set(f->job, "steps", 3, NULL);
    g_object_set(f->job, "global-steps", 1, "local-steps", 1, "guidance", 4.5, NULL);
    g_assert_true(g_settings_get_boolean(f->settings, "guidance-chosen"));
    g_free(ui_test_screenshot(GTK_WIDGET(f->window), "sd3-model"));
    f->finished = FALSE;
    g_assert_true(gtk_widget_activate_action(GTK_WIDGET(f->window), "win.generate", NULL));
    g_assert_true(ui_test_wait_until(ui_studio_job_finished, f, 120000));
    g_autofree char *png = first_png(f->output);
    g_assert_nonnull(png);
    g_autoptr(GError) error = NULL;
    g_autofree char *record = resdit_png_read_parameters(png, &error);
    g_assert_no_error(error);
    g_test_message("record: %s", record);
    g_assert_nonnull(strstr(record, "\"family\":\"SD3\""));
    g_assert_nonnull(strstr(record, "\"negative_prompt\":\"blurry, low quality\""));
    g_assert_nonnull(strstr(record, "\"negative_prompt_used\":true"));
    g_assert_nonnull(strstr(record, "\"guidance\":4.5"));
    g_free(ui_test_screenshot(GTK_WIDGET(f->window), "sd3-done"));

    g_settings_reset(f->settings, "model-folders");
    g_settings_reset(f->settings, "guidance-chosen");
    g_settings_set_string(f->settings, "model", "self-test");
    ui_test_remove_tree(top);
}

int main(int argc, char **argv)
{
    ui_test_init(&argc, &argv);
    g_test_add("/sd3/model", UiStudio, NULL, ui_studio_set_up, test_sd3_model, ui_studio_tear_down);
    return g_test_run();
}
