/* ui suite: image to image in the app. Opening an image (what a drop or File › Open Image does)
 * shows it with a strength slider; Generate runs image to image with the job's prompt, the
 * records name the source and the strength, and the split view compares source and result.
 * Upscale of the image on show runs at the upscale size with the source's own parameters;
 * Upscale of a history row (sidebar and gallery menu) queues a job of the right size and
 * strength. Everything runs on the self-test model. */
#include "config.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "history-store.h"
#include "png_text.h"
#include "resdit.h"
#include "rs-compare-view.h"
#include "rs-history-gallery.h"
#include "rs-history-sidebar.h"
#include "rs-init-image-group.h"
#include "rs-job-queue.h"
#include "rs-params-panel.h"
#include "rs-split-view.h"
#include "rs-window.h"
#include "ui-test-util.h"

typedef UiStudio Fixture;

#define SOURCE_SIDE 256

static void fixture_set_up(Fixture *f, gconstpointer data)
{
    ui_studio_set_up(f, data);
    g_object_set(f->job, "prompt", "a lighthouse at dusk", "random-seed", FALSE, "seed", 4242,
                 "aspect", "1:1", "size-preset", "512", NULL);
    g_object_set(f->job, "steps", 6, "global-steps", 0, "local-steps", 0, NULL);
    g_object_set(f->job, "global-steps", 2, "local-steps", 2, NULL);
}

static void fixture_tear_down(Fixture *f, gconstpointer data)
{
    g_settings_reset(f->settings, "strength");
    g_settings_reset(f->settings, "upscale-size");
    ui_studio_tear_down(f, data);
}

static void run_and_wait(Fixture *f, const char *action)
{
    f->finished = FALSE;
    g_assert_true(gtk_widget_activate_action(GTK_WIDGET(f->window), action, NULL));
    g_assert_true(ui_test_wait_until(ui_studio_job_finished, f, 120000));
}

static RsInitImageGroup *init_image_group(Fixture *f)
{
    RsParamsPanel *panel = ui_test_child(f->window, RS_TYPE_WINDOW, "params_panel");
    return rs_params_panel_get_init_image_group(panel);
}

static gboolean group_has_texture(gpointer group)
{
    return rs_init_image_group_get_texture(group) != NULL;
}

/* The newest PNG of the output folder other than skip (NULL: any); NULL when there is none. */
static char *newest_output(Fixture *f, const char *skip)
{
    char *newest = NULL;
    gint64 newest_time = 0;
    GDir *dir = g_dir_open(f->output, 0, NULL);
    for (const char *name; (name = g_dir_read_name(dir)) != NULL;) {
        char *path = g_build_filename(f->output, name, NULL);
        GStatBuf st;
        if (g_str_has_suffix(name, ".png") && g_strcmp0(path, skip) != 0 &&
            g_stat(path, &st) == 0 && (newest == NULL || st.st_mtime >= newest_time)) {
            g_free(newest);
            newest = g_strdup(path);
            newest_time = st.st_mtime;
        }
        g_free(path);
    }
    g_dir_close(dir);
    return newest;
}

static void read_record(const char *png, ResditJobParams *params)
{
    GError *error = NULL;
    char *json = resdit_png_read_parameters(png, &error);
    g_assert_no_error(error);
    resdit_job_params_init(params);
    g_assert_true(resdit_job_params_from_json(params, json, &error));
    g_assert_no_error(error);
    g_free(json);
}

static void assert_split_shows(Fixture *f, GdkTexture *source)
{
    GtkStack *stack = ui_test_child(f->window, RS_TYPE_WINDOW, "canvas_stack");
    g_assert_cmpstr(gtk_stack_get_visible_child_name(stack), ==, "compare");
    RsCompareView *compare = ui_test_child(f->window, RS_TYPE_WINDOW, "compare_view");
    RsSplitView *split = rs_compare_view_get_split_view(compare);
    GdkTexture *result = rs_compare_view_get_source(compare, RS_COMPARE_FINAL);
    g_assert_nonnull(result);
    g_assert_true(rs_compare_view_get_source(compare, RS_COMPARE_SOURCE) == source);
    g_assert_true(rs_split_view_get_start(split) == source);
    g_assert_true(rs_split_view_get_end(split) == result);
}

/* A PNG without generation parameters (a photo, say): the job's prompt is used. */
static char *write_gradient_png(Fixture *f)
{
    GdkTexture *gradient = ui_test_gradient_texture(SOURCE_SIDE, SOURCE_SIDE);
    char *path = g_build_filename(f->history_dir, "photo.png", NULL);
    g_assert_true(gdk_texture_save_to_png(gradient, path));
    g_object_unref(gradient);
    return path;
}

static void test_open_generate_compare(Fixture *f, gconstpointer data)
{
    RsInitImageGroup *group = init_image_group(f);
    g_assert_false(gtk_widget_get_visible(GTK_WIDGET(group)));
    g_assert_null(rs_job_settings_get_init_image(f->job));

    char *source = write_gradient_png(f);
    rs_window_open_image(f->window, source);
    g_assert_cmpstr(rs_job_settings_get_init_image(f->job), ==, source);
    /* The source is shown, and the strength slider with it. */
    g_assert_true(ui_test_wait_until(group_has_texture, group, 10000));
    g_assert_true(gtk_widget_get_visible(GTK_WIDGET(group)));
    GtkScale *scale = ui_test_child(group, RS_TYPE_INIT_IMAGE_GROUP, "strength_scale");
    GtkPicture *picture = ui_test_child(group, RS_TYPE_INIT_IMAGE_GROUP, "picture");
    g_assert_true(gtk_widget_is_visible(GTK_WIDGET(scale)));
    g_assert_true(gtk_picture_get_paintable(picture) ==
                  GDK_PAINTABLE(rs_init_image_group_get_texture(group)));
    g_assert_cmpint(gdk_texture_get_width(rs_init_image_group_get_texture(group)), ==, SOURCE_SIDE);
    /* The slider is the job's strength, which GSettings keeps. */
    gtk_range_set_value(GTK_RANGE(scale), 0.6);
    double strength = 0;
    g_object_get(f->job, "strength", &strength, NULL);
    g_assert_cmpfloat(strength, ==, 0.6);
    g_assert_cmpfloat(g_settings_get_double(f->settings, "strength"), ==, 0.6);
    ui_test_spin(100);
    g_free(ui_test_screenshot(GTK_WIDGET(f->window), "img2img-source"));

    run_and_wait(f, "win.generate");

    /* The result is an image-to-image job: its records name the source and the strength. */
    char *result = newest_output(f, NULL);
    g_assert_nonnull(result);
    ResditJobParams params;
    read_record(result, &params);
    g_assert_cmpstr(params.init_image, ==, source);
    g_assert_cmpfloat(params.strength, ==, 0.6);
    g_assert_cmpstr(params.prompt, ==, "a lighthouse at dusk");
    g_assert_cmpint(params.width, ==, 512);
    resdit_job_params_clear(&params);
    char *a1111 = rd_png_read_text(result, "parameters", NULL);
    g_assert_nonnull(strstr(a1111, "Denoising strength: 0.6"));
    g_assert_nonnull(strstr(a1111, "Init image hash: "));
    g_free(a1111);

    /* The history keeps the source, its SHA-256 and the strength. */
    RsHistorySidebar *sidebar = ui_test_child(f->window, RS_TYPE_WINDOW, "history_sidebar");
    GListModel *rows = G_LIST_MODEL(rs_history_sidebar_get_model(sidebar));
    g_assert_cmpuint(g_list_model_get_n_items(rows), >=, 1);
    RsHistoryItem *row = g_list_model_get_item(rows, 0);
    const HistoryGeneration *gen = rs_history_item_get_generation(row);
    g_assert_cmpstr(gen->params.init_image, ==, source);
    g_assert_cmpuint(strlen(gen->params.init_sha256), ==, 64);
    g_assert_cmpfloat(gen->params.strength, ==, 0.6);
    g_object_unref(row);

    /* The split view: the source left of the divider, the result right of it. */
    assert_split_shows(f, rs_init_image_group_get_texture(group));
    ui_test_spin(100);
    g_free(ui_test_screenshot(GTK_WIDGET(f->window), "img2img-compare"));

    /* Clearing the source goes back to text to image. */
    GtkButton *clear = ui_test_child(group, RS_TYPE_INIT_IMAGE_GROUP, "clear_button");
    g_signal_emit_by_name(clear, "clicked");
    g_assert_null(rs_job_settings_get_init_image(f->job));
    g_assert_false(gtk_widget_get_visible(GTK_WIDGET(group)));
    g_free(result);
    g_free(source);
}

static gboolean init_image_is_set(gpointer job)
{
    return rs_job_settings_get_init_image(job) != NULL;
}

static gboolean chooser_has_file(gpointer chooser)
{
    GFile *file = gtk_file_chooser_get_file(chooser);
    gboolean has = file != NULL;
    g_clear_object(&file);
    return has;
}

/* File › Open Image: the file chooser (GTK's own under the test: no portal), a file chosen. */
static void test_open_dialog(Fixture *f, gconstpointer data)
{
    char *source = write_gradient_png(f);
    g_assert_true(gtk_widget_activate_action(GTK_WIDGET(f->window), "win.open-image", NULL));
    GtkWindow *dialog = ui_test_wait_for_toplevel(GTK_TYPE_FILE_CHOOSER_DIALOG, 10000);
    g_assert_nonnull(dialog);
    GFile *file = g_file_new_for_path(source);
    g_assert_true(gtk_file_chooser_set_file(GTK_FILE_CHOOSER(dialog), file, NULL));
    g_object_unref(file);
    /* the chooser selects the file once it has loaded the folder */
    g_assert_true(ui_test_wait_until(chooser_has_file, dialog, 10000));
    gtk_dialog_response(GTK_DIALOG(dialog), GTK_RESPONSE_ACCEPT);
    g_assert_true(ui_test_wait_until(init_image_is_set, f->job, 10000));
    g_assert_cmpstr(rs_job_settings_get_init_image(f->job), ==, source);
    g_free(source);
}

/* Any format GDK reads: a JPEG becomes a PNG copy that the engine reads. */
static void test_open_jpeg(Fixture *f, gconstpointer data)
{
    GdkTexture *gradient = ui_test_gradient_texture(SOURCE_SIDE, SOURCE_SIDE / 2);
    GdkPixbuf *pixbuf = gdk_pixbuf_get_from_texture(gradient);
    char *jpeg = g_build_filename(f->history_dir, "photo.jpg", NULL);
    g_assert_true(gdk_pixbuf_save(pixbuf, jpeg, "jpeg", NULL, NULL));
    g_object_unref(pixbuf);
    g_object_unref(gradient);
    rs_window_open_image(f->window, jpeg);
    g_assert_true(ui_test_wait_until(init_image_is_set, f->job, 10000));
    const char *png = rs_job_settings_get_init_image(f->job);
    g_assert_true(g_str_has_suffix(png, ".png"));
    int w = 0, h = 0;
    GError *error = NULL;
    guint8 *rgb = resdit_png_load_rgb(png, &w, &h, &error);
    g_assert_no_error(error);
    g_assert_cmpint(w, ==, SOURCE_SIDE);
    g_assert_cmpint(h, ==, SOURCE_SIDE / 2);
    g_free(rgb);
    g_free(jpeg);
}

/* A file that is no image: an error dialog that says why, and the job stays text to image. */
static void test_open_not_an_image(Fixture *f, gconstpointer data)
{
    char *path = g_build_filename(f->history_dir, "notes.png.txt", NULL);
    g_assert_true(g_file_set_contents(path, "not an image at all", -1, NULL));
    rs_window_open_image(f->window, path);
    GtkWindow *dialog = ui_test_wait_for_toplevel(ADW_TYPE_MESSAGE_DIALOG, 10000);
    g_assert_nonnull(dialog);
    g_assert_cmpstr(adw_message_dialog_get_heading(ADW_MESSAGE_DIALOG(dialog)), ==,
                    "Could Not Open the Image");
    g_assert_null(rs_job_settings_get_init_image(f->job));
    gtk_window_destroy(dialog);
    g_free(path);
}

static gboolean newest_row_done(gpointer model)
{
    if (g_list_model_get_n_items(model) == 0)
        return FALSE;
    RsHistoryItem *item = g_list_model_get_item(model, 0);
    gboolean done = rs_history_item_get_generation(item)->status == HISTORY_STATUS_DONE;
    g_object_unref(item);
    return done;
}

/* A queued upscale: the source's prompt and seed, the upscale size and strength. */
static void assert_upscale_job(RsQueuedJob *job, const char *source, int width, int height)
{
    const ResditJobParams *p = rs_queued_job_get_params(job);
    g_assert_cmpstr(p->init_image, ==, source);
    g_assert_cmpfloat(fabs(p->strength - 0.35), <, 1e-12);
    g_assert_cmpint(p->width, ==, width);
    g_assert_cmpint(p->height, ==, height);
    g_assert_cmpuint(p->seed, ==, 4242);
    g_assert_false(p->random_seed);
    g_assert_cmpstr(p->prompt, ==, "a lighthouse at dusk");
}

static void test_upscale(Fixture *f, gconstpointer data)
{
    /* Nothing to upscale before the first image. */
    GtkWidget *upscale_button = ui_test_child(f->window, RS_TYPE_WINDOW, "upscale_button");
    g_assert_false(gtk_widget_is_sensitive(upscale_button));
    /* A 3:2 image of 512 x 336 (its own ratio, 32:21, is what an upscale keeps). */
    g_object_set(f->job, "aspect", "3:2", NULL);
    run_and_wait(f, "win.generate");
    char *first = newest_output(f, NULL);
    g_assert_nonnull(first);

    /* Upscale of the image on show, at a size the self-test model makes quickly: the aspect
     * ratio is the source's, the parameters its own (the panel's prompt changed meanwhile). */
    g_settings_set_int(f->settings, "upscale-size", 768);
    g_object_set(f->job, "prompt", "something else", "seed", 7, NULL);
    g_assert_true(gtk_widget_is_sensitive(upscale_button));
    run_and_wait(f, "win.upscale");
    char *upscaled = newest_output(f, first);
    g_assert_nonnull(upscaled);
    ResditJobParams params;
    read_record(upscaled, &params);
    g_assert_cmpint(params.width, ==, 768);
    g_assert_cmpint(params.height, ==, 512); /* 768 x 21 / 32 = 504, to the nearest 16 */
    g_assert_cmpstr(params.init_image, ==, first);
    g_assert_cmpfloat(fabs(params.strength - 0.35), <, 1e-12);
    g_assert_cmpuint(params.seed, ==, 4242);
    g_assert_cmpstr(params.prompt, ==, "a lighthouse at dusk");
    resdit_job_params_clear(&params);
    RsCompareView *compare = ui_test_child(f->window, RS_TYPE_WINDOW, "compare_view");
    GdkTexture *source = rs_compare_view_get_source(compare, RS_COMPARE_SOURCE);
    g_assert_nonnull(source);
    g_assert_cmpint(gdk_texture_get_width(source), ==, 512);
    assert_split_shows(f, source);
    ui_test_spin(100);
    g_free(ui_test_screenshot(GTK_WIDGET(f->window), "upscale-compare"));

    /* Upscale of history rows at the default 4K size, queued behind a long job. */
    g_settings_reset(f->settings, "upscale-size");
    RsHistorySidebar *sidebar = ui_test_child(f->window, RS_TYPE_WINDOW, "history_sidebar");
    GListModel *rows = G_LIST_MODEL(rs_history_sidebar_get_model(sidebar));
    g_assert_true(ui_test_wait_until(newest_row_done, rows, 30000));
    g_assert_cmpuint(g_list_model_get_n_items(rows), ==, 2);
    g_object_set(f->job, "aspect", "1:1", "size-preset", "512", "steps", 200, NULL);
    f->finished = FALSE;
    g_assert_true(gtk_widget_activate_action(GTK_WIDGET(f->window), "win.generate", NULL));
    RsJobQueue *queue = rs_window_get_queue(f->window);
    g_assert_cmpuint(rs_job_queue_get_n_jobs(queue), ==, 0);

    /* The sidebar's action on the first image (the oldest row, after the running job's row
     * and the upscaled one). */
    guint n = g_list_model_get_n_items(rows);
    rs_history_sidebar_select(sidebar, n - 1);
    RsHistoryItem *oldest = rs_history_sidebar_get_selected(sidebar);
    g_assert_cmpstr(rs_history_item_get_generation(oldest)->image_path, ==, first);
    g_assert_true(gtk_widget_activate_action(GTK_WIDGET(sidebar), "history.upscale", NULL));
    g_assert_cmpuint(rs_job_queue_get_n_jobs(queue), ==, 1);
    RsQueuedJob *job = g_list_model_get_item(G_LIST_MODEL(queue), 0);
    assert_upscale_job(job, first, 4096, 2688); /* 4096 x 21 / 32 */
    g_object_unref(job);

    /* The gallery's context menu. */
    RsHistoryGallery *gallery = ui_test_child(f->window, RS_TYPE_WINDOW, "history_gallery");
    GListModel *cells = G_LIST_MODEL(rs_history_gallery_get_selection(gallery));
    guint position = G_MAXUINT;
    for (guint i = 0; i < g_list_model_get_n_items(cells); i++) {
        RsHistoryItem *item = g_list_model_get_item(cells, i);
        if (g_strcmp0(rs_history_item_get_generation(item)->image_path, first) == 0)
            position = i;
        g_object_unref(item);
    }
    g_assert_cmpuint(position, !=, G_MAXUINT);
    g_assert_true(gtk_widget_activate_action(GTK_WIDGET(f->window), "win.gallery", NULL));
    rs_history_gallery_popup_menu(gallery, position, 60, 60);
    g_assert_true(gtk_widget_activate_action(GTK_WIDGET(gallery), "gallery.upscale", NULL));
    gtk_popover_popdown(rs_history_gallery_get_menu(gallery));
    g_assert_cmpuint(rs_job_queue_get_n_jobs(queue), ==, 2);
    job = g_list_model_get_item(G_LIST_MODEL(queue), 1);
    assert_upscale_job(job, first, 4096, 2688);
    g_object_unref(job);

    /* Not run here (4K on the processor): the queue is dropped and the long job stopped. */
    rs_job_queue_clear(queue);
    g_assert_true(gtk_widget_activate_action(GTK_WIDGET(f->window), "win.cancel", NULL));
    g_assert_true(ui_test_wait_until(ui_studio_job_finished, f, 90000));
    g_free(upscaled);
    g_free(first);
}

int main(int argc, char **argv)
{
    ui_test_init(&argc, &argv);
    g_test_add("/img2img/open-generate-compare", Fixture, NULL, fixture_set_up,
               test_open_generate_compare, fixture_tear_down);
    g_test_add("/img2img/open-dialog", Fixture, NULL, fixture_set_up, test_open_dialog,
               fixture_tear_down);
    g_test_add("/img2img/open-jpeg", Fixture, NULL, fixture_set_up, test_open_jpeg,
               fixture_tear_down);
    g_test_add("/img2img/open-not-an-image", Fixture, NULL, fixture_set_up, test_open_not_an_image,
               fixture_tear_down);
    g_test_add("/img2img/upscale", Fixture, NULL, fixture_set_up, test_upscale, fixture_tear_down);
    return g_test_run();
}
