/* ui suite: generating with the self-test model in a real window: previews of each branch in the
 * order of the schedule, the final image, the PNG with its parameters, progress to 100 %, cancel,
 * and loading the parameters back from the PNG. */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "resdit.h"
#include "rs-canvas.h"
#include "rs-generation.h"
#include "rs-history-sidebar.h"
#include "rs-params-panel.h"
#include "rs-window.h"
#include "ui-test-util.h"

typedef struct {
    RsWindow *window;
    RsJobSettings *job;
    GSettings *settings;
    char *output;
    char *history_dir;
    GString *arrivals; /* first frame of each view, in order: "global fused local final " */
    double max_fraction;
    gboolean finished;
    gint64 cancel_time;
} Fixture;

static const char *const view_ids[] = {"view_global", "view_local", "view_fused", "view_final"};
static const char *const view_names[] = {"global", "local", "fused", "final"};

static void on_view_sensitive(GtkWidget *button, GParamSpec *pspec, Fixture *f)
{
    for (int b = 0; b < 4; b++)
        if (button == ui_test_child(f->window, RS_TYPE_WINDOW, view_ids[b]) &&
            gtk_widget_get_sensitive(button))
            g_string_append_printf(f->arrivals, "%s ", view_names[b]);
}

static void on_fraction(GtkProgressBar *bar, GParamSpec *pspec, Fixture *f)
{
    f->max_fraction = MAX(f->max_fraction, gtk_progress_bar_get_fraction(bar));
}

static void on_job_finished(RsWindow *window, Fixture *f)
{
    f->finished = TRUE;
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

static gboolean model_ready(gpointer data)
{
    gboolean ready = FALSE;
    g_object_get(data, "model-ready", &ready, NULL);
    return ready;
}

static void fixture_set_up(Fixture *f, gconstpointer data)
{
    f->settings = g_settings_new("io.github.resdit.Studio");
    f->output = g_dir_make_tmp("rs-output-XXXXXX", NULL);
    g_settings_set_string(f->settings, "output-folder", f->output);
    g_settings_set_string(f->settings, "model", "self-test");
    g_settings_set_int(f->settings, "preview-interval", 1);
    /* A history of its own for every test. */
    f->history_dir = g_dir_make_tmp("rs-history-XXXXXX", NULL);
    char *db = g_build_filename(f->history_dir, "history.sqlite3", NULL);
    g_setenv("RESDIT_HISTORY_DB", db, TRUE);
    g_free(db);
    f->arrivals = g_string_new("");
    f->window = rs_window_new(ui_test_application());
    g_object_ref(f->window);
    ui_test_present(GTK_WINDOW(f->window));
    f->job = rs_window_get_job(f->window);
    for (int b = 0; b < 4; b++)
        g_signal_connect(ui_test_child(f->window, RS_TYPE_WINDOW, view_ids[b]), "notify::sensitive",
                         G_CALLBACK(on_view_sensitive), f);
    g_signal_connect(ui_test_child(f->window, RS_TYPE_WINDOW, "progress_bar"), "notify::fraction",
                     G_CALLBACK(on_fraction), f);
    g_signal_connect(f->window, "job-finished", G_CALLBACK(on_job_finished), f);
    g_assert_true(ui_test_wait_until(model_ready, f->window, 30000));
}

static GPtrArray *output_files(Fixture *f)
{
    GPtrArray *files = g_ptr_array_new_with_free_func(g_free);
    GDir *dir = g_dir_open(f->output, 0, NULL);
    for (const char *name; dir != NULL && (name = g_dir_read_name(dir)) != NULL;)
        g_ptr_array_add(files, g_build_filename(f->output, name, NULL));
    if (dir != NULL)
        g_dir_close(dir);
    return files;
}

static void remove_tree(const char *path)
{
    GDir *dir = g_dir_open(path, 0, NULL);
    for (const char *name; dir != NULL && (name = g_dir_read_name(dir)) != NULL;) {
        char *child = g_build_filename(path, name, NULL);
        if (g_file_test(child, G_FILE_TEST_IS_DIR))
            remove_tree(child);
        else
            g_unlink(child);
        g_free(child);
    }
    if (dir != NULL)
        g_dir_close(dir);
    g_rmdir(path);
}

static void close_window(Fixture *f)
{
    if (f->window == NULL)
        return;
    gtk_window_destroy(GTK_WINDOW(f->window));
    ui_test_spin(50);
    g_assert_finalize_object(f->window);
    f->window = NULL;
}

static void fixture_tear_down(Fixture *f, gconstpointer data)
{
    close_window(f);
    GPtrArray *files = output_files(f);
    for (guint i = 0; i < files->len; i++)
        g_unlink(g_ptr_array_index(files, i));
    g_ptr_array_unref(files);
    g_rmdir(f->output);
    g_free(f->output);
    remove_tree(f->history_dir);
    g_free(f->history_dir);
    g_string_free(f->arrivals, TRUE);
    g_settings_reset(f->settings, "output-folder");
    g_object_unref(f->settings);
}

/* The user's way: prompt typed into the panel, 16:9 and the Draft size picked in its rows. */
static void set_up_job(Fixture *f, const char *prompt, int steps, int global, int local)
{
    GtkWidget *panel = ui_test_child(f->window, RS_TYPE_WINDOW, "params_panel");
    GtkTextView *prompt_view = ui_test_child(panel, RS_TYPE_PARAMS_PANEL, "prompt_view");
    gtk_text_buffer_set_text(gtk_text_view_get_buffer(prompt_view), prompt, -1);
    adw_combo_row_set_selected(ui_test_child(panel, RS_TYPE_PARAMS_PANEL, "aspect_row"), 5);
    adw_combo_row_set_selected(ui_test_child(panel, RS_TYPE_PARAMS_PANEL, "size_row"), 0);
    g_object_set(f->job, "steps", steps, "global-steps", 0, "local-steps", 0, NULL);
    g_object_set(f->job, "global-steps", global, "local-steps", local, "random-seed", TRUE,
                 "inspect-branches", FALSE, NULL);
    g_assert_cmpint(rs_job_settings_get_width(f->job), ==, 512);
    g_assert_cmpint(rs_job_settings_get_height(f->job), ==, 288);
}

static void press_generate(Fixture *f)
{
    GtkWidget *button = ui_test_child(f->window, RS_TYPE_WINDOW, "generate_button");
    g_assert_true(gtk_widget_is_sensitive(button));
    g_signal_emit_by_name(button, "clicked");
}

static gboolean has_fused_frame(gpointer data)
{
    Fixture *f = data;
    return strstr(f->arrivals->str, "fused") != NULL || f->finished;
}

static gboolean job_finished(gpointer data)
{
    return ((Fixture *)data)->finished;
}

static void check_png(Fixture *f, const char *path, const char *prompt)
{
    GError *error = NULL;
    char *json = resdit_png_read_parameters(path, &error);
    g_assert_no_error(error);
    ResditJobParams params;
    resdit_job_params_init(&params);
    g_assert_true(resdit_job_params_from_json(&params, json, &error));
    g_assert_no_error(error);
    g_assert_cmpstr(params.prompt, ==, prompt);
    g_assert_cmpint(params.width, ==, 512);
    g_assert_cmpint(params.height, ==, 288);
    g_assert_cmpint(params.steps, ==, rs_job_settings_get_steps(f->job));
    g_assert_cmpuint(params.seed, ==, rs_job_settings_get_seed(f->job));
    resdit_job_params_clear(&params);
    g_free(json);
}

static void test_generate(Fixture *f, gconstpointer data)
{
    const char *prompt = "a lighthouse at dusk, 16:9";
    set_up_job(f, prompt, 6, 2, 2);
    /* With the model open the estimate is the engine's for it (the tiny self-test model needs
     * megabytes where FLUX.1-dev's formula says gigabytes). */
    GtkWidget *panel = ui_test_child(f->window, RS_TYPE_WINDOW, "params_panel");
    AdwActionRow *dimensions = ui_test_child(panel, RS_TYPE_PARAMS_PANEL, "dimensions_row");
    g_assert_nonnull(strstr(adw_action_row_get_subtitle(dimensions), "MB"));
    press_generate(f);
    GtkButton *button = ui_test_child(f->window, RS_TYPE_WINDOW, "generate_button");
    g_assert_cmpstr(gtk_button_get_label(button), ==, "_Cancel");
    g_assert_true(gtk_widget_has_css_class(GTK_WIDGET(button), "destructive-action"));

    g_assert_true(ui_test_wait_until(has_fused_frame, f, 30000));
    g_assert_false(f->finished); /* the screenshot shows a job under way */
    g_free(ui_test_screenshot(GTK_WIDGET(f->window), "generate-running"));
    g_assert_true(ui_test_wait_until(job_finished, f, 60000));

    g_assert_cmpstr(f->arrivals->str, ==, "global fused local final ");
    char *view = NULL;
    g_object_get(f->window, "view", &view, NULL);
    g_assert_cmpstr(view, ==, "final");
    g_free(view);
    RsCanvas *canvas = ui_test_child(f->window, RS_TYPE_WINDOW, "canvas");
    GdkTexture *image = rs_canvas_get_texture(canvas);
    g_assert_cmpint(gdk_texture_get_width(image), ==, 512);
    g_assert_cmpint(gdk_texture_get_height(image), ==, 288);
    g_assert_cmpfloat(f->max_fraction, ==, 1.0);
    g_assert_cmpstr(gtk_button_get_label(button), ==, "_Generate");
    g_assert_true(gtk_widget_has_css_class(GTK_WIDGET(button), "suggested-action"));

    GPtrArray *files = output_files(f);
    g_assert_cmpuint(files->len, ==, 1);
    const char *path = g_ptr_array_index(files, 0);
    g_assert_true(g_str_has_suffix(path, ".png"));
    check_png(f, path, prompt);
    ui_test_spin(300);
    g_free(ui_test_screenshot(GTK_WIDGET(f->window), "generate-finished"));

    /* Copy Image puts the finished image (full size) on the clipboard. */
    GdkClipboard *clipboard = gtk_widget_get_clipboard(GTK_WIDGET(f->window));
    gtk_widget_activate_action(GTK_WIDGET(f->window), "win.copy-image", NULL);
    g_assert_true(gdk_clipboard_is_local(clipboard));
    GValue value = G_VALUE_INIT;
    g_value_init(&value, GDK_TYPE_TEXTURE);
    g_assert_true(
        gdk_content_provider_get_value(gdk_clipboard_get_content(clipboard), &value, NULL));
    g_assert_true(g_value_get_object(&value) == image);
    g_value_unset(&value);

    /* Dropping the PNG (the drop handler's function) brings every parameter back. */
    guint seed = rs_job_settings_get_seed(f->job);
    g_object_set(f->job, "prompt", "something else", "aspect", "1:1", "size-preset", "4K", "steps",
                 20, "seed", seed + 1, "random-seed", TRUE, NULL);
    g_assert_true(rs_window_load_parameters(f->window, path));
    char *loaded = NULL, *aspect = NULL;
    gboolean random_seed = TRUE;
    g_object_get(f->job, "prompt", &loaded, "aspect", &aspect, "random-seed", &random_seed, NULL);
    g_assert_cmpstr(loaded, ==, prompt);
    g_assert_cmpstr(aspect, ==, "16:9");
    g_assert_false(random_seed);
    g_assert_cmpuint(rs_job_settings_get_seed(f->job), ==, seed);
    g_assert_cmpint(rs_job_settings_get_steps(f->job), ==, 6);
    g_assert_cmpint(rs_job_settings_get_width(f->job), ==, 512);
    g_free(loaded);
    g_free(aspect);
    g_ptr_array_unref(files);
}

static void on_progress_cancel(GtkProgressBar *bar, GParamSpec *pspec, Fixture *f)
{
    /* Cancel once a few steps are done, as a user pressing Cancel would. */
    if (f->cancel_time == 0 && gtk_progress_bar_get_fraction(bar) >= 0.95 * 3 / 30) {
        f->cancel_time = g_get_monotonic_time();
        g_signal_emit_by_name(ui_test_child(f->window, RS_TYPE_WINDOW, "generate_button"),
                              "clicked");
    }
}

static void test_cancel(Fixture *f, gconstpointer data)
{
    set_up_job(f, "cancel me", 30, 8, 12);
    g_signal_connect(ui_test_child(f->window, RS_TYPE_WINDOW, "progress_bar"), "notify::fraction",
                     G_CALLBACK(on_progress_cancel), f);
    gint64 start = g_get_monotonic_time();
    press_generate(f);
    g_assert_true(ui_test_wait_until(job_finished, f, 60000));
    g_assert_cmpint(f->cancel_time, >, 0);
    /* Idle again within about a step: steps of this job take well under a second here. */
    double per_step = (f->cancel_time - start) / 1e6 / 3;
    double to_idle = (g_get_monotonic_time() - f->cancel_time) / 1e6;
    g_test_message("a step took about %.2f s, cancel to idle %.2f s", per_step, to_idle);
    g_assert_cmpfloat(to_idle, <, MAX(2 * per_step, 1.0));
    g_assert_cmpfloat(f->max_fraction, <, 0.95);
    GtkButton *button = ui_test_child(f->window, RS_TYPE_WINDOW, "generate_button");
    g_assert_cmpstr(gtk_button_get_label(button), ==, "_Generate");
    g_assert_false(gtk_revealer_get_reveal_child(
        ui_test_child(f->window, RS_TYPE_WINDOW, "progress_revealer")));
    GPtrArray *files = output_files(f);
    g_assert_cmpuint(files->len, ==, 0); /* no image, no temporary file */
    g_ptr_array_unref(files);
}

static RsHistoryItem *first_row(Fixture *f)
{
    RsHistorySidebar *sidebar = ui_test_child(f->window, RS_TYPE_WINDOW, "history_sidebar");
    GListModel *model = G_LIST_MODEL(rs_history_sidebar_get_model(sidebar));
    if (g_list_model_get_n_items(model) == 0)
        return NULL;
    RsHistoryItem *item = g_list_model_get_item(model, 0);
    g_object_unref(item); /* the model's pages keep it */
    return item;
}

static gboolean row_done_with_thumbnail(gpointer data)
{
    RsHistoryItem *item = first_row(data);
    return item != NULL && rs_history_item_get_generation(item)->status == HISTORY_STATUS_DONE &&
           rs_history_item_get_thumbnail(item) != NULL;
}

static guint n_rows(Fixture *f)
{
    RsHistorySidebar *sidebar = ui_test_child(f->window, RS_TYPE_WINDOW, "history_sidebar");
    return g_list_model_get_n_items(G_LIST_MODEL(rs_history_sidebar_get_model(sidebar)));
}

typedef struct {
    Fixture *f;
    guint want;
} RowCount;

static gboolean has_rows(gpointer data)
{
    RowCount *count = data;
    return n_rows(count->f) == count->want;
}

static void search(Fixture *f, const char *words, guint want)
{
    RsHistorySidebar *sidebar = ui_test_child(f->window, RS_TYPE_WINDOW, "history_sidebar");
    GtkWidget *entry = gtk_widget_get_first_child(GTK_WIDGET(sidebar));
    g_assert_true(GTK_IS_SEARCH_ENTRY(entry));
    gtk_editable_set_text(GTK_EDITABLE(entry), words);
    RowCount count = {f, want};
    g_assert_true(ui_test_wait_until(has_rows, &count, 5000));
}

static gboolean canvas_has_image(gpointer data)
{
    Fixture *f = data;
    GdkTexture *texture = rs_canvas_get_texture(ui_test_child(f->window, RS_TYPE_WINDOW, "canvas"));
    return texture != NULL && gdk_texture_get_width(texture) == 512;
}

/* Every control the job records, as a comparable string. */
static char *controls(RsJobSettings *job)
{
    char *prompt, *aspect, *size, *shift;
    int steps, global, local;
    double guidance, cutoff, sigma, mu, lowfreq;
    gboolean random_seed, no_pes, no_pipe, no_psf, no_overlap, uniform;
    guint seed;
    g_object_get(job, "prompt", &prompt, "aspect", &aspect, "size-preset", &size, "steps", &steps,
                 "global-steps", &global, "local-steps", &local, "guidance", &guidance, "cutoff",
                 &cutoff, "sigma", &sigma, "shift-mode", &shift, "shift-mu", &mu, "random-seed",
                 &random_seed, "seed", &seed, "no-pes", &no_pes, "no-pipe", &no_pipe, "no-psf",
                 &no_psf, "no-overlap", &no_overlap, "uniform-weights", &uniform, "lowfreq-noise",
                 &lowfreq, NULL);
    char *text = g_strdup_printf("%s|%s|%s|%d|%d|%d|%g|%g|%g|%s|%g|%d|%u|%d%d%d%d%d|%g", prompt,
                                 aspect, size, steps, global, local, guidance, cutoff, sigma, shift,
                                 mu, random_seed, seed, no_pes, no_pipe, no_psf, no_overlap,
                                 uniform, lowfreq);
    g_free(prompt);
    g_free(aspect);
    g_free(size);
    g_free(shift);
    return text;
}

static void test_history(Fixture *f, gconstpointer data)
{
    g_assert_cmpuint(n_rows(f), ==, 0); /* a new history for this test */
    set_up_job(f, "history lighthouse on a cliff", 5, 1, 2);
    g_object_set(f->job, "guidance", 4.5, "random-seed", FALSE, "seed", 1234, "cutoff", 0.35,
                 "sigma", 3.0, "shift-mode", "fixed", "shift-mu", 2.0, "no-psf", TRUE,
                 "uniform-weights", TRUE, "lowfreq-noise", 0.5, NULL);
    char *wanted = controls(f->job);
    press_generate(f);
    g_assert_true(ui_test_wait_until(job_finished, f, 60000));

    /* The row appears with its thumbnail, finished. */
    g_assert_true(ui_test_wait_until(row_done_with_thumbnail, f, 10000));
    const HistoryGeneration *gen = rs_history_item_get_generation(first_row(f));
    g_assert_cmpstr(gen->params.prompt, ==, "history lighthouse on a cliff");
    g_assert_cmpuint(gen->params.seed, ==, 1234);
    g_assert_nonnull(gen->image_path);
    g_assert_true(g_file_test(gen->image_path, G_FILE_TEST_IS_REGULAR));
    g_assert_cmpint(gen->peak_host_bytes, >, 0);
    GdkTexture *thumbnail = rs_history_item_get_thumbnail(first_row(f));
    g_assert_cmpint(gdk_texture_get_width(thumbnail), ==, 256);
    g_assert_cmpint(gdk_texture_get_height(thumbnail), ==, 144);

    /* Search (FTS) finds it by a word of the prompt, and not by another. */
    search(f, "cliff", 1);
    search(f, "zebra", 0);
    search(f, "", 1);

    /* Selecting the row shows its image; Reuse Parameters restores every control. */
    RsHistorySidebar *sidebar = ui_test_child(f->window, RS_TYPE_WINDOW, "history_sidebar");
    rs_history_sidebar_select(sidebar, 0);
    g_assert_true(ui_test_wait_until(canvas_has_image, f, 10000));
    ui_test_spin(300);
    g_free(ui_test_screenshot(GTK_WIDGET(f->window), "history-sidebar"));

    /* F9 (win.show-history) hides and shows it, the header button follows; Ctrl+F searches. */
    GtkToggleButton *history_button = ui_test_child(f->window, RS_TYPE_WINDOW, "history_button");
    g_assert_true(gtk_toggle_button_get_active(history_button));
    g_action_group_activate_action(G_ACTION_GROUP(f->window), "show-history", NULL);
    g_assert_false(gtk_toggle_button_get_active(history_button));
    g_action_group_activate_action(G_ACTION_GROUP(f->window), "show-history", NULL);
    g_assert_true(gtk_toggle_button_get_active(history_button));
    gtk_widget_activate_action(GTK_WIDGET(f->window), "win.search-history", NULL);
    GtkWidget *entry = gtk_widget_get_first_child(GTK_WIDGET(sidebar));
    GtkWidget *focus = gtk_root_get_focus(GTK_ROOT(f->window));
    g_assert_true(focus != NULL && (focus == entry || gtk_widget_is_ancestor(focus, entry)));

    g_object_set(f->job, "prompt", "other", "aspect", "3:2", "size-preset", "4K", "steps", 30,
                 "guidance", 2.0, "random-seed", TRUE, "seed", 99, "cutoff", 0.5, "sigma", 0.0,
                 "shift-mode", "base", "shift-mu", 1.15, "no-psf", FALSE, "uniform-weights", FALSE,
                 "no-pes", TRUE, "lowfreq-noise", 0.0, NULL);
    char *changed = controls(f->job);
    g_assert_cmpstr(changed, !=, wanted);
    gtk_widget_activate_action(GTK_WIDGET(sidebar), "history.reuse", NULL);
    char *restored = controls(f->job);
    g_assert_cmpstr(restored, ==, wanted);
    g_free(restored);
    g_free(changed);
    g_free(wanted);
}

static gboolean newest_done(gpointer data)
{
    RowCount *count = data;
    RsHistoryItem *item = first_row(count->f);
    return n_rows(count->f) == count->want && item != NULL &&
           rs_history_item_get_generation(item)->status == HISTORY_STATUS_DONE;
}

static void run_row_action(Fixture *f, guint position, const char *action, guint rows_after)
{
    RsHistorySidebar *sidebar = ui_test_child(f->window, RS_TYPE_WINDOW, "history_sidebar");
    rs_history_sidebar_select(sidebar, position);
    f->finished = FALSE;
    gtk_widget_activate_action(GTK_WIDGET(sidebar), action, NULL);
    g_assert_true(ui_test_wait_until(job_finished, f, 60000));
    RowCount count = {f, rows_after};
    g_assert_true(ui_test_wait_until(newest_done, &count, 10000));
}

static guint64 row_seed(Fixture *f, guint position)
{
    RsHistorySidebar *sidebar = ui_test_child(f->window, RS_TYPE_WINDOW, "history_sidebar");
    RsHistoryItem *item =
        g_list_model_get_item(G_LIST_MODEL(rs_history_sidebar_get_model(sidebar)), position);
    guint64 seed = rs_history_item_get_generation(item)->params.seed;
    g_object_unref(item);
    return seed;
}

/* Re-run keeps the seed, Vary Seed draws another; Delete hides the row at once, without asking,
 * and removes the image for good when the undo toast goes (here: with the window). */
static void test_history_actions(Fixture *f, gconstpointer data)
{
    set_up_job(f, "actions", 3, 1, 1);
    g_object_set(f->job, "random-seed", FALSE, "seed", 777, NULL);
    press_generate(f);
    g_assert_true(ui_test_wait_until(job_finished, f, 60000));
    RowCount one = {f, 1};
    g_assert_true(ui_test_wait_until(newest_done, &one, 10000));

    run_row_action(f, 0, "history.rerun", 2);
    g_assert_cmpuint(row_seed(f, 0), ==, 777);
    run_row_action(f, 1, "history.vary-seed", 3);
    g_assert_cmpuint(row_seed(f, 0), !=, 777);
    g_assert_cmpuint(row_seed(f, 1), ==, 777);

    RsHistorySidebar *sidebar = ui_test_child(f->window, RS_TYPE_WINDOW, "history_sidebar");
    rs_history_sidebar_select(sidebar, 0);
    RsHistoryItem *item = rs_history_sidebar_get_selected(sidebar);
    char *image = g_strdup(rs_history_item_get_generation(item)->image_path);
    guint64 deleted_seed = rs_history_item_get_generation(item)->params.seed;
    gtk_widget_activate_action(GTK_WIDGET(sidebar), "history.delete", NULL);
    /* Undo, not a question first: no dialog, the row goes at once. */
    RowCount two = {f, 2};
    g_assert_true(ui_test_wait_until(has_rows, &two, 5000));
    FindToplevel dialog = {ADW_TYPE_MESSAGE_DIALOG, NULL};
    g_assert_false(toplevel_shown(&dialog));
    g_assert_cmpuint(row_seed(f, 0), !=, deleted_seed);
    g_assert_true(g_file_test(image, G_FILE_TEST_EXISTS)); /* undo is still possible */
    close_window(f);
    g_assert_false(g_file_test(image, G_FILE_TEST_EXISTS));
    g_free(image);
}

static gboolean row_failed(gpointer data)
{
    RsHistoryItem *item = first_row(data);
    return item != NULL && rs_history_item_get_generation(item)->status == HISTORY_STATUS_FAILED;
}

/* An output folder that cannot be made: a dialog with the reason and what to do, no file, and
 * the history row failed with the message. */
static void test_error_dialog(Fixture *f, gconstpointer data)
{
    char *blocker = g_build_filename(f->output, "a-file", NULL);
    g_assert_true(g_file_set_contents(blocker, "x", -1, NULL));
    char *folder = g_build_filename(blocker, "images", NULL);
    g_settings_set_string(f->settings, "output-folder", folder);
    set_up_job(f, "no place to go", 2, 1, 0);
    press_generate(f);
    g_assert_true(ui_test_wait_until(job_finished, f, 60000));
    FindToplevel dialog = {ADW_TYPE_MESSAGE_DIALOG, NULL};
    g_assert_true(ui_test_wait_until(toplevel_shown, &dialog, 5000));
    AdwMessageDialog *message = ADW_MESSAGE_DIALOG(dialog.found);
    g_assert_cmpstr(adw_message_dialog_get_heading(message), ==, "Generation Failed");
    g_assert_nonnull(strstr(adw_message_dialog_get_body(message), folder));
    g_assert_nonnull(strstr(adw_message_dialog_get_body(message), "Preferences"));
    gtk_test_widget_wait_for_draw(GTK_WIDGET(dialog.found));
    g_free(ui_test_screenshot(GTK_WIDGET(dialog.found), "generate-error"));
    gtk_window_destroy(dialog.found);

    g_assert_true(ui_test_wait_until(row_failed, f, 10000));
    const HistoryGeneration *gen = rs_history_item_get_generation(first_row(f));
    g_assert_cmpint(gen->status, ==, HISTORY_STATUS_FAILED);
    g_assert_nonnull(strstr(gen->error_message, folder));
    g_assert_null(gen->image_path);
    g_assert_false(g_file_test(folder, G_FILE_TEST_EXISTS));
    g_free(folder);
    g_free(blocker); /* removed with the output folder */
}

/* A PNG from another front end: a valid image with only an A1111 "parameters" tEXt chunk. */
static char *write_a1111_png(const char *text)
{
    GdkTexture *texture = ui_test_gradient_texture(4, 4);
    GBytes *png = gdk_texture_save_to_png_bytes(texture);
    g_object_unref(texture);
    gsize size;
    const guint8 *data = g_bytes_get_data(png, &size);
    GByteArray *out = g_byte_array_new();
    const gsize after_ihdr = 8 + 4 + 4 + 13 + 4;
    g_byte_array_append(out, data, after_ihdr);
    gsize length = strlen("parameters") + 1 + strlen(text);
    guint8 header[8] = {length >> 24, length >> 16, length >> 8, length, 't', 'E', 'X', 't'};
    g_byte_array_append(out, header, 8);
    g_byte_array_append(out, (const guint8 *)"parameters", strlen("parameters") + 1);
    g_byte_array_append(out, (const guint8 *)text, strlen(text));
    guint32 crc = 0; /* not checked by the reader; image decoders do not see this chunk */
    g_byte_array_append(out, (const guint8 *)&crc, 4);
    g_byte_array_append(out, data + after_ihdr, size - after_ihdr);
    char *path = g_build_filename(g_get_tmp_dir(), "rs-a1111-drop.png", NULL);
    g_assert_true(g_file_set_contents(path, (const char *)out->data, out->len, NULL));
    g_byte_array_unref(out);
    g_bytes_unref(png);
    return path;
}

/* Dropping an A1111-style PNG loads prompt, steps, guidance, seed and size. */
static void test_drop_a1111(Fixture *f, gconstpointer data)
{
    char *path = write_a1111_png("a red fox in snow\nNegative prompt: blurry\n"
                                 "Steps: 24, Sampler: Euler, CFG scale: 6.5, Seed: 4242, "
                                 "Size: 1344x768, Model: flux1-dev");
    g_assert_true(rs_window_load_parameters(f->window, path));
    char *prompt = NULL, *aspect = NULL;
    double guidance = 0;
    gboolean random_seed = TRUE;
    g_object_get(f->job, "prompt", &prompt, "aspect", &aspect, "guidance", &guidance, "random-seed",
                 &random_seed, NULL);
    g_assert_cmpstr(prompt, ==, "a red fox in snow");
    g_assert_cmpstr(aspect, ==, "custom");
    g_assert_cmpfloat(guidance, ==, 6.5);
    g_assert_false(random_seed);
    g_assert_cmpuint(rs_job_settings_get_seed(f->job), ==, 4242);
    g_assert_cmpint(rs_job_settings_get_steps(f->job), ==, 24);
    g_assert_cmpint(rs_job_settings_get_width(f->job), ==, 1344);
    g_assert_cmpint(rs_job_settings_get_height(f->job), ==, 768);
    g_free(prompt);
    g_free(aspect);
    g_unlink(path);
    g_free(path);

    /* A PNG without parameters changes nothing. */
    GdkTexture *texture = ui_test_gradient_texture(4, 4);
    path = g_build_filename(g_get_tmp_dir(), "rs-plain.png", NULL);
    g_assert_true(gdk_texture_save_to_png(texture, path));
    g_object_unref(texture);
    g_assert_false(rs_window_load_parameters(f->window, path));
    g_assert_cmpuint(rs_job_settings_get_seed(f->job), ==, 4242);
    g_unlink(path);
    g_free(path);
}

static guint32 png_crc(const guint8 *data, gsize len)
{
    guint32 crc = 0xffffffffu;
    for (gsize i = 0; i < len; i++) {
        crc ^= data[i];
        for (int k = 0; k < 8; k++)
            crc = crc & 1 ? 0xedb88320u ^ (crc >> 1) : crc >> 1;
    }
    return crc ^ 0xffffffffu;
}

static void append_chunk(GByteArray *out, const char *type, const guint8 *data, guint len)
{
    guint8 length[4] = {len >> 24, len >> 16, len >> 8, len};
    g_byte_array_append(out, length, 4);
    guint start = out->len;
    g_byte_array_append(out, (const guint8 *)type, 4);
    g_byte_array_append(out, data, len);
    guint32 crc = png_crc(out->data + start, len + 4);
    guint8 crc_be[4] = {crc >> 24, crc >> 16, crc >> 8, crc};
    g_byte_array_append(out, crc_be, 4);
}

/* A 1 KB PNG made by resdit, but whose header claims 100000 x 100000 pixels (30 GB decoded):
 * its record is read from the text chunk, without decoding the image (which aborted the app). */
static void test_drop_claiming_png(Fixture *f, gconstpointer data)
{
    GByteArray *png = g_byte_array_new();
    static const guint8 signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    g_byte_array_append(png, signature, 8);
    static const guint8 ihdr[13] = {0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0, 8, 2, 0, 0, 0};
    append_chunk(png, "IHDR", ihdr, sizeof ihdr);
    const char *json = "{\"generator\": \"resdit\", \"prompt\": \"a tiny fox\", \"width\": 1024, "
                       "\"height\": 768, \"steps\": 7, \"seed\": 4242, \"seed_string\": \"4242\"}";
    GByteArray *itxt = g_byte_array_new();
    g_byte_array_append(itxt, (const guint8 *)"resdit\0\0\0\0\0", 11);
    g_byte_array_append(itxt, (const guint8 *)json, strlen(json));
    append_chunk(png, "iTXt", itxt->data, itxt->len);
    static const guint8 idat[] = {0x78, 0x9c, 0x63, 0x60, 0x00, 0x00};
    append_chunk(png, "IDAT", idat, sizeof idat);
    append_chunk(png, "IEND", NULL, 0);
    char *path = g_build_filename(g_get_tmp_dir(), "rs-claiming.png", NULL);
    g_assert_true(g_file_set_contents(path, (const char *)png->data, png->len, NULL));
    g_byte_array_unref(itxt);
    g_byte_array_unref(png);

    g_assert_true(rs_window_load_parameters(f->window, path));
    char *prompt = NULL;
    g_object_get(f->job, "prompt", &prompt, NULL);
    g_assert_cmpstr(prompt, ==, "a tiny fox");
    g_assert_cmpuint(rs_job_settings_get_seed(f->job), ==, 4242);
    g_assert_cmpint(rs_job_settings_get_steps(f->job), ==, 7);
    g_free(prompt);
    g_unlink(path);
    g_free(path);
}

/* A damaged history file: the window tells the user where the old file was kept. */
static void test_recovery_notice(void)
{
    char *dir = g_dir_make_tmp("rs-history-XXXXXX", NULL);
    char *db = g_build_filename(dir, "history.sqlite3", NULL);
    g_assert_true(g_file_set_contents(db, "this is not an SQLite database, just text", -1, NULL));
    g_setenv("RESDIT_HISTORY_DB", db, TRUE);
    RsWindow *window = rs_window_new(ui_test_application());
    g_object_ref(window);
    ui_test_present(GTK_WINDOW(window));
    FindToplevel dialog = {ADW_TYPE_MESSAGE_DIALOG, NULL};
    g_assert_true(ui_test_wait_until(toplevel_shown, &dialog, 5000));
    const char *body = adw_message_dialog_get_body(ADW_MESSAGE_DIALOG(dialog.found));
    g_test_message("%s", body);
    g_assert_nonnull(strstr(body, "history.sqlite3.corrupt-"));
    gtk_test_widget_wait_for_draw(GTK_WIDGET(dialog.found));
    g_free(ui_test_screenshot(GTK_WIDGET(dialog.found), "history-recovered"));
    gtk_window_destroy(dialog.found);
    gtk_window_destroy(GTK_WINDOW(window));
    ui_test_spin(50);
    g_assert_finalize_object(window);
    remove_tree(dir);
    g_free(db);
    g_free(dir);
}

static void on_opened(GObject *source, GAsyncResult *result, gpointer data)
{
    *(RsModelHandle **)data = rs_model_handle_open_finish(result, NULL);
}

static gboolean handle_ready(gpointer data)
{
    return *(RsModelHandle **)data != NULL;
}

typedef struct {
    int previews[RESDIT_BRANCH_FINAL + 1];
    int progress;
    int last_step;
    gboolean finished;
} SlotCount;

static gboolean job_finished_slot(gpointer data)
{
    return ((SlotCount *)data)->finished;
}

static void count_preview(RsGeneration *job, int branch, GdkTexture *frame, int step, int phase,
                          gboolean extra, SlotCount *count)
{
    count->previews[branch]++;
}

static void count_progress(RsGeneration *job, const ResditProgress *progress, SlotCount *count)
{
    count->progress++;
    count->last_step = progress->step;
}

static void count_finished(RsGeneration *job, SlotCount *count)
{
    count->finished = TRUE;
}

/* While the main thread is busy the worker keeps going: only the latest frame of each branch and
 * the latest progress wait, delivered by one idle, before "finished". */
static void test_frame_slot(void)
{
    RsModelHandle *model = NULL;
    rs_model_handle_open_async(RS_MODEL_KEY_SELFTEST, NULL, RESDIT_BACKEND_CPU, NULL, on_opened,
                               &model);
    g_assert_true(ui_test_wait_until(handle_ready, &model, 30000));
    ResditJobParams params;
    resdit_job_params_init(&params);
    resdit_model_job_defaults(model->model, &params);
    params.width = 256;
    params.height = 144;
    params.steps = 12;
    params.random_seed = FALSE;
    params.seed = 5;
    params.preview_every = 1;
    params.preview_max_side = 256;
    char *output = g_dir_make_tmp("rs-slot-XXXXXX", NULL);
    RsGeneration *job = rs_generation_new(model, &params, output, NULL);
    SlotCount count = {0};
    g_signal_connect(job, "preview", G_CALLBACK(count_preview), &count);
    g_signal_connect(job, "progress", G_CALLBACK(count_progress), &count);
    g_signal_connect(job, "finished", G_CALLBACK(count_finished), &count);
    rs_generation_start(job, NULL);

    /* Block the main thread until the worker has written the image. */
    for (int i = 0; i < 600; i++) {
        GDir *dir = g_dir_open(output, 0, NULL);
        const char *name = g_dir_read_name(dir);
        gboolean written = name != NULL && g_str_has_suffix(name, ".png");
        g_dir_close(dir);
        if (written)
            break;
        g_usleep(100000);
    }
    g_assert_true(ui_test_wait_until(job_finished_slot, &count, 30000));
    g_assert_null(rs_generation_get_error(job));
    /* 12 steps made 13 previews and about 14 progress reports; one of each kind came through. */
    for (int b = 0; b <= RESDIT_BRANCH_FINAL; b++)
        g_assert_cmpint(count.previews[b], <=, 1);
    g_assert_cmpint(count.previews[RESDIT_BRANCH_FINAL], ==, 1);
    g_assert_cmpint(count.progress, ==, 1);
    g_assert_cmpint(count.last_step, ==, 12);

    const char *path = rs_generation_get_image_path(job);
    g_assert_nonnull(path);
    g_unlink(path);
    g_rmdir(output);
    g_free(output);
    ui_test_spin(50); /* the slot's idle, already served, lets go of its reference */
    g_assert_finalize_object(job);
    resdit_job_params_clear(&params);
    rs_model_handle_unref(model);
}

int main(int argc, char **argv)
{
    ui_test_init(&argc, &argv);
    g_test_add("/generate/previews-final-png", Fixture, NULL, fixture_set_up, test_generate,
               fixture_tear_down);
    g_test_add("/generate/cancel", Fixture, NULL, fixture_set_up, test_cancel, fixture_tear_down);
    g_test_add("/generate/history", Fixture, NULL, fixture_set_up, test_history, fixture_tear_down);
    g_test_add_func("/generate/recovery-notice", test_recovery_notice);
    g_test_add_func("/generate/frame-slot", test_frame_slot);
    g_test_add("/generate/error-dialog", Fixture, NULL, fixture_set_up, test_error_dialog,
               fixture_tear_down);
    g_test_add("/generate/drop-a1111", Fixture, NULL, fixture_set_up, test_drop_a1111,
               fixture_tear_down);
    g_test_add("/generate/drop-claiming-png", Fixture, NULL, fixture_set_up, test_drop_claiming_png,
               fixture_tear_down);
    g_test_add("/generate/history-actions", Fixture, NULL, fixture_set_up, test_history_actions,
               fixture_tear_down);
    return g_test_run();
}
