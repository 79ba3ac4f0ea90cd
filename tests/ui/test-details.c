/* ui suite: details of the studio as people use it. No zoom level without an image; the dice and
 * copy-seed buttons follow Random Seed; the history's dates have no stray space; a search without
 * a match says so; a cancelled row empties the canvas; re-running a row's seed keeps Random Seed;
 * Save As opens in the image's folder; the frame label is whole at the default window size; the
 * backend's subtitle is a sentence of ours (translated), the engine's reason a tooltip. */
#include "config.h"

#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

#include "resdit.h"
#include "rs-canvas.h"
#include "rs-history-sidebar.h"
#include "rs-params-panel.h"
#include "rs-preferences-window.h"
#include "rs-window.h"
#include "ui-test-util.h"

typedef UiStudio Fixture;

static void fixture_set_up(Fixture *f, gconstpointer data)
{
    ui_studio_set_up(f, data);
}

static void fixture_tear_down(Fixture *f, gconstpointer data)
{
    ui_studio_tear_down(f, data);
}

static void run_job(Fixture *f, int steps)
{
    g_object_set(f->job, "prompt", "details", "aspect", "1:1", "size-preset", "512", "steps", steps,
                 "global-steps", 0, "local-steps", 0, NULL);
    f->finished = FALSE;
    g_assert_true(gtk_widget_activate_action(GTK_WIDGET(f->window), "win.generate", NULL));
    g_assert_true(ui_test_wait_until(ui_studio_job_finished, f, 60000));
}

static RsHistorySidebar *sidebar_of(Fixture *f)
{
    return ui_test_child(f->window, RS_TYPE_WINDOW, "history_sidebar");
}

static RsHistoryItem *row(Fixture *f, guint position)
{
    GListModel *model = G_LIST_MODEL(rs_history_sidebar_get_model(sidebar_of(f)));
    if (position >= g_list_model_get_n_items(model))
        return NULL;
    RsHistoryItem *item = g_list_model_get_item(model, position);
    g_object_unref(item); /* the model's pages keep it */
    return item;
}

typedef struct {
    Fixture *f;
    guint rows;
} Rows;

/* rows rows, the newest one ended (done or cancelled). */
static gboolean newest_ended(gpointer data)
{
    Rows *want = data;
    GListModel *model = G_LIST_MODEL(rs_history_sidebar_get_model(sidebar_of(want->f)));
    RsHistoryItem *item = row(want->f, 0);
    return g_list_model_get_n_items(model) == want->rows && item != NULL &&
           rs_history_item_get_generation(item)->status != HISTORY_STATUS_RUNNING;
}

static void wait_rows(Fixture *f, guint rows)
{
    Rows want = {f, rows};
    g_assert_true(ui_test_wait_until(newest_ended, &want, 10000));
}

/* Every label under widget, depth first. */
static void collect_labels(GtkWidget *widget, GPtrArray *labels)
{
    if (GTK_IS_LABEL(widget))
        g_ptr_array_add(labels, widget);
    for (GtkWidget *child = gtk_widget_get_first_child(widget); child != NULL;
         child = gtk_widget_get_next_sibling(child))
        collect_labels(child, labels);
}

static gboolean canvas_has_texture(gpointer data)
{
    Fixture *f = data;
    return rs_canvas_get_texture(ui_test_child(f->window, RS_TYPE_WINDOW, "canvas")) != NULL;
}

static gboolean canvas_empty(gpointer data)
{
    return !canvas_has_texture(data);
}

/* Without an image there is no zoom level to show; Random Seed leaves no seed control to use. */
static void test_idle_controls(Fixture *f, gconstpointer data)
{
    GtkLabel *zoom = ui_test_child(f->window, RS_TYPE_WINDOW, "zoom_label");
    ui_test_spin(100);
    g_assert_cmpstr(gtk_label_get_label(zoom), ==, "");

    GtkWidget *panel = ui_test_child(f->window, RS_TYPE_WINDOW, "params_panel");
    GtkWidget *dice = ui_test_child(panel, RS_TYPE_PARAMS_PANEL, "dice_button");
    GtkWidget *copy = ui_test_child(panel, RS_TYPE_PARAMS_PANEL, "copy_seed_button");
    g_object_set(f->job, "random-seed", TRUE, NULL);
    g_free(ui_test_screenshot(GTK_WIDGET(f->window), "details-idle"));
    g_assert_false(gtk_widget_get_sensitive(dice));
    g_assert_false(gtk_widget_get_sensitive(copy));
    g_object_set(f->job, "random-seed", FALSE, NULL);
    g_assert_true(gtk_widget_get_sensitive(dice));
    g_assert_true(gtk_widget_get_sensitive(copy));
    g_object_set(f->job, "random-seed", TRUE, NULL);

    /* With an image the zoom level is there. */
    run_job(f, 2);
    ui_test_spin(100);
    g_assert_true(g_str_has_suffix(gtk_label_get_label(zoom), "%"));
}

/* The history after a few jobs: dates, search, a cancelled row, re-running a row. */
static void test_history_rows(Fixture *f, gconstpointer data)
{
    g_object_set(f->job, "random-seed", TRUE, NULL);
    run_job(f, 2);
    wait_rows(f, 1);
    guint64 first_seed = rs_history_item_get_generation(row(f, 0))->params.seed;

    /* Dates: "4 Dec 2026, 10:28", no padding (a figure space with %e) before the day. */
    ui_test_spin(200);
    GPtrArray *labels = g_ptr_array_new();
    collect_labels(GTK_WIDGET(sidebar_of(f)), labels);
    gboolean found = FALSE;
    for (guint i = 0; i < labels->len; i++) {
        const char *text = gtk_label_get_label(g_ptr_array_index(labels, i));
        const char *date = strstr(text, " px\n");
        if (date == NULL)
            continue;
        found = TRUE;
        date += strlen(" px\n");
        g_test_message("date: \"%s\"", date);
        g_assert_true(g_ascii_isdigit(date[0]));
        g_assert_null(strstr(text, "\xe2\x80\x87")); /* U+2007 FIGURE SPACE */
    }
    g_ptr_array_unref(labels);
    g_assert_true(found);

    /* Re-run with the same seed: that job has the row's seed, Random Seed stays on. */
    rs_history_sidebar_select(sidebar_of(f), 0);
    f->finished = FALSE;
    gtk_widget_activate_action(GTK_WIDGET(sidebar_of(f)), "history.rerun", NULL);
    g_assert_true(ui_test_wait_until(ui_studio_job_finished, f, 60000));
    wait_rows(f, 2);
    g_assert_cmpuint(rs_history_item_get_generation(row(f, 0))->params.seed, ==, first_seed);
    gboolean random_seed = FALSE;
    g_object_get(f->job, "random-seed", &random_seed, NULL);
    g_assert_true(random_seed);

    /* A cancelled job, then a row with an image, then the cancelled row: the canvas is empty. */
    g_object_set(f->job, "custom-width", 1024, "custom-height", 1024, "aspect", "custom", "steps",
                 40, NULL);
    f->finished = FALSE;
    gtk_widget_activate_action(GTK_WIDGET(f->window), "win.generate", NULL);
    ui_test_spin(500);
    gtk_widget_activate_action(GTK_WIDGET(f->window), "win.cancel", NULL);
    g_assert_true(ui_test_wait_until(ui_studio_job_finished, f, 30000));
    wait_rows(f, 3);
    g_assert_cmpint(rs_history_item_get_generation(row(f, 0))->status, ==,
                    HISTORY_STATUS_CANCELLED);
    rs_history_sidebar_select(sidebar_of(f), 1);
    g_assert_true(ui_test_wait_until(canvas_has_texture, f, 10000));
    rs_history_sidebar_select(sidebar_of(f), 0);
    ui_test_spin(300);
    g_free(ui_test_screenshot(GTK_WIDGET(f->window), "details-cancelled-row"));
    g_assert_true(canvas_empty(f));
    g_assert_false(gtk_widget_get_sensitive(
        ui_test_child(f->window, RS_TYPE_WINDOW, "save_as_button")));

    /* The frame label is whole at the default window size (1280 px, history shown). */
    rs_history_sidebar_select(sidebar_of(f), 1);
    g_assert_true(ui_test_wait_until(canvas_has_texture, f, 10000));
    ui_test_spin(300);
    GtkWidget *frame = ui_test_child(f->window, RS_TYPE_WINDOW, "frame_label");
    int default_width = 0, default_height = 0;
    gtk_window_get_default_size(GTK_WINDOW(f->window), &default_width, &default_height);
    g_assert_cmpint(default_width, ==, 1280);
    g_assert_true(gtk_widget_get_mapped(frame));
    g_test_message("frame label \"%s\", %d px wide", gtk_label_get_label(GTK_LABEL(frame)),
                   gtk_widget_get_width(frame));
    g_free(ui_test_screenshot(GTK_WIDGET(f->window), "details-frame-label"));
    g_assert_false(pango_layout_is_ellipsized(gtk_label_get_layout(GTK_LABEL(frame))));
    g_assert_true(g_str_has_prefix(gtk_label_get_label(GTK_LABEL(frame)), "Final · step"));

    /* A search without a match is "No Results", not an empty history. */
    gtk_widget_activate_action(GTK_WIDGET(f->window), "win.search-history", NULL);
    GtkWidget *entry = gtk_widget_get_first_child(GTK_WIDGET(sidebar_of(f)));
    g_assert_true(GTK_IS_SEARCH_ENTRY(entry));
    gtk_editable_set_text(GTK_EDITABLE(entry), "zebra");
    ui_test_spin(800); /* the search entry's delay */
    g_assert_cmpuint(
        g_list_model_get_n_items(G_LIST_MODEL(rs_history_sidebar_get_model(sidebar_of(f)))), ==, 0);
    labels = g_ptr_array_new();
    collect_labels(GTK_WIDGET(sidebar_of(f)), labels);
    gboolean no_results = FALSE, no_history = FALSE;
    for (guint i = 0; i < labels->len; i++) {
        GtkWidget *label = g_ptr_array_index(labels, i);
        if (!gtk_widget_get_mapped(label))
            continue;
        no_results |= g_str_equal(gtk_label_get_label(GTK_LABEL(label)), "No Results");
        no_history |= g_str_equal(gtk_label_get_label(GTK_LABEL(label)), "No History");
    }
    g_ptr_array_unref(labels);
    g_free(ui_test_screenshot(GTK_WIDGET(f->window), "details-no-results"));
    g_assert_true(no_results);
    g_assert_false(no_history);
    gtk_editable_set_text(GTK_EDITABLE(entry), "");
}

typedef struct {
    GType type;
    GtkWindow *found;
} FindToplevel;

static gboolean toplevel_shown(gpointer data)
{
    FindToplevel *find = data;
    GListModel *toplevels = gtk_window_get_toplevels();
    find->found = NULL;
    for (guint i = 0; i < g_list_model_get_n_items(toplevels); i++) {
        GObject *toplevel = g_list_model_get_item(toplevels, i);
        if (G_TYPE_CHECK_INSTANCE_TYPE(toplevel, find->type) &&
            gtk_widget_get_mapped(GTK_WIDGET(toplevel)))
            find->found = GTK_WINDOW(toplevel);
        g_object_unref(toplevel);
    }
    return find->found != NULL;
}

static gboolean chooser_has_folder(gpointer data)
{
    GFile *folder = gtk_file_chooser_get_current_folder(GTK_FILE_CHOOSER(data));
    gboolean has = folder != NULL;
    g_clear_object(&folder);
    return has;
}

/* Save As opens in the folder of the image (the output folder), not the working directory. */
static void test_save_as_folder(Fixture *f, gconstpointer data)
{
    run_job(f, 2);
    g_assert_true(gtk_widget_activate_action(GTK_WIDGET(f->window), "win.save-as", NULL));
    FindToplevel find = {GTK_TYPE_FILE_CHOOSER_DIALOG, NULL};
    g_assert_true(ui_test_wait_until(toplevel_shown, &find, 10000));
    ui_test_wait_until(chooser_has_folder, find.found, 5000); /* it loads the folder first */
    GFile *folder = gtk_file_chooser_get_current_folder(GTK_FILE_CHOOSER(find.found));
    char *path = folder != NULL ? g_file_get_path(folder) : NULL;
    g_test_message("Save As opens in %s", path);
    g_free(ui_test_screenshot(GTK_WIDGET(find.found), "details-save-as"));
    g_assert_cmpstr(path, ==, f->output);
    g_free(path);
    g_clear_object(&folder);
    gtk_dialog_response(GTK_DIALOG(find.found), GTK_RESPONSE_CANCEL);
    ui_test_spin(200);
}

static gboolean cuda_probed(gpointer data)
{
    return adw_action_row_get_subtitle(ADW_ACTION_ROW(data)) != NULL &&
           adw_action_row_get_subtitle(ADW_ACTION_ROW(data))[0] != '\0';
}

/* The backend row says in our words (translated) what Automatic does; the engine's reason, in
 * English, is the tooltip. */
static void test_backend_subtitle(void)
{
    ui_test_application(); /* GTK and libadwaita initialised */
    GtkWindow *window = ui_test_present(GTK_WINDOW(rs_preferences_window_new(NULL)));
    AdwComboRow *backend = ui_test_child(window, RS_TYPE_PREFERENCES_WINDOW, "backend_row");
    g_assert_true(ui_test_wait_until(cuda_probed, backend, 10000));
    const char *subtitle = adw_action_row_get_subtitle(ADW_ACTION_ROW(backend));
    g_test_message("backend: %s (%s)", subtitle,
                   gtk_widget_get_tooltip_text(GTK_WIDGET(backend)));
    char *reason = NULL;
    if (resdit_cuda_available(&reason)) {
        g_assert_cmpstr(subtitle, ==, "An NVIDIA GPU is usable here; Automatic uses CUDA");
    } else {
        g_assert_cmpstr(subtitle, ==, "No usable NVIDIA GPU here; Automatic uses the processor");
        g_assert_cmpstr(gtk_widget_get_tooltip_text(GTK_WIDGET(backend)), ==, reason);
    }
    g_free(reason);
    gtk_window_destroy(window);
}

/* An empty prompt is refused with a hint under it, which goes once there is text. */
static void test_empty_prompt(Fixture *f, gconstpointer data)
{
    GtkWidget *panel = ui_test_child(f->window, RS_TYPE_WINDOW, "params_panel");
    GtkWidget *hint = ui_test_child(panel, RS_TYPE_PARAMS_PANEL, "prompt_hint");
    GtkWidget *prompt = ui_test_child(panel, RS_TYPE_PARAMS_PANEL, "prompt_view");
    g_object_set(f->job, "prompt", "  \n ", NULL);
    g_assert_false(gtk_widget_get_visible(hint));
    gtk_widget_activate_action(GTK_WIDGET(f->window), "win.generate", NULL);
    ui_test_spin(300);
    g_free(ui_test_screenshot(GTK_WIDGET(f->window), "details-empty-prompt"));
    GtkButton *button = ui_test_child(f->window, RS_TYPE_WINDOW, "generate_button");
    g_assert_cmpstr(gtk_button_get_label(button), ==, "_Generate");
    g_assert_false(gtk_revealer_get_reveal_child(
        ui_test_child(f->window, RS_TYPE_WINDOW, "progress_revealer")));
    g_assert_true(gtk_widget_get_mapped(hint));
    g_assert_true(gtk_widget_has_focus(prompt));
    gtk_text_buffer_insert_at_cursor(gtk_text_view_get_buffer(GTK_TEXT_VIEW(prompt)), "a cat", -1);
    g_assert_false(gtk_widget_get_visible(hint));
}

/* Custom starts from the size on show; a typed width shows the multiple of 16 the job uses. */
static void test_custom_size(Fixture *f, gconstpointer data)
{
    GtkWidget *panel = ui_test_child(f->window, RS_TYPE_WINDOW, "params_panel");
    AdwComboRow *aspect = ui_test_child(panel, RS_TYPE_PARAMS_PANEL, "aspect_row");
    g_object_set(f->job, "aspect", "16:9", "size-preset", "512", NULL);
    g_assert_cmpint(rs_job_settings_get_width(f->job), ==, 512);
    g_assert_cmpint(rs_job_settings_get_height(f->job), ==, 288);
    guint n = g_list_model_get_n_items(adw_combo_row_get_model(aspect));
    adw_combo_row_set_selected(aspect, n - 1); /* Custom */
    char *id = NULL;
    g_object_get(f->job, "aspect", &id, NULL);
    g_assert_cmpstr(id, ==, "custom");
    g_free(id);
    g_assert_cmpint(rs_job_settings_get_width(f->job), ==, 512);
    g_assert_cmpint(rs_job_settings_get_height(f->job), ==, 288);
    GtkSpinButton *width = ui_test_child(panel, RS_TYPE_PARAMS_PANEL, "custom_width_spin");
    GtkSpinButton *height = ui_test_child(panel, RS_TYPE_PARAMS_PANEL, "custom_height_spin");
    g_assert_cmpfloat(gtk_spin_button_get_value(width), ==, 512);
    g_assert_cmpfloat(gtk_spin_button_get_value(height), ==, 288);

    gtk_editable_set_text(GTK_EDITABLE(width), "1000");
    gtk_spin_button_update(width);
    ui_test_spin(100);
    g_free(ui_test_screenshot(panel, "details-custom-size"));
    g_assert_cmpint(rs_job_settings_get_width(f->job), ==, 1008);
    g_assert_cmpfloat(gtk_spin_button_get_value(width), ==, 1008);
    g_assert_cmpstr(gtk_editable_get_text(GTK_EDITABLE(width)), ==, "1008");
}

/* The prompt's tokens per encoder near the prompt, the overflow marked. */
static void test_token_count(Fixture *f, gconstpointer data)
{
    GtkWidget *panel = ui_test_child(f->window, RS_TYPE_WINDOW, "params_panel");
    GtkLabel *tokens = ui_test_child(panel, RS_TYPE_PARAMS_PANEL, "token_label");
    /* The self-test model's T5 reads 16 tokens of its character-level vocabulary. */
    g_object_set(f->job, "prompt", "a cat", NULL);
    g_assert_true(gtk_widget_get_visible(GTK_WIDGET(tokens)));
    const char *text = gtk_label_get_label(tokens);
    g_test_message("short: %s", text);
    int clip = 0, clip_limit = 0, t5 = 0, t5_limit = 0;
    g_assert_cmpint(sscanf(text, "CLIP %d/%d", &clip, &clip_limit), ==, 2);
    g_assert_nonnull(strstr(text, "T5 "));
    g_assert_cmpint(sscanf(strstr(text, "T5 "), "T5 %d/%d", &t5, &t5_limit), ==, 2);
    g_assert_cmpint(clip_limit, ==, 77);
    g_assert_cmpint(clip, >=, 2 + 2); /* BOS, EOS and at least a token a word */
    g_assert_cmpint(clip, <=, clip_limit);
    g_assert_cmpint(t5, >=, 1 + 2);
    g_assert_cmpint(t5, <=, t5_limit);
    g_assert_null(strstr(text, "cut"));
    g_assert_false(gtk_widget_has_css_class(GTK_WIDGET(tokens), "error"));

    GString *long_prompt = g_string_new("");
    for (int i = 0; i < 80; i++)
        g_string_append(long_prompt, "lighthouse on a cliff, ");
    g_object_set(f->job, "prompt", long_prompt->str, NULL);
    g_string_free(long_prompt, TRUE);
    g_test_message("long: %s", gtk_label_get_label(tokens));
    g_assert_cmpint(sscanf(gtk_label_get_label(tokens), "CLIP %d/%d", &clip, &clip_limit), ==, 2);
    g_assert_cmpint(clip, >, clip_limit);
    g_assert_nonnull(strstr(gtk_label_get_label(tokens), "cut"));
    g_assert_true(gtk_widget_has_css_class(GTK_WIDGET(tokens), "error"));
    g_free(ui_test_screenshot(panel, "details-token-count"));
}

int main(int argc, char **argv)
{
    ui_test_init(&argc, &argv);
    g_test_add("/details/idle-controls", Fixture, NULL, fixture_set_up, test_idle_controls,
               fixture_tear_down);
    g_test_add("/details/history-rows", Fixture, NULL, fixture_set_up, test_history_rows,
               fixture_tear_down);
    g_test_add("/details/save-as-folder", Fixture, NULL, fixture_set_up, test_save_as_folder,
               fixture_tear_down);
    g_test_add_func("/details/backend-subtitle", test_backend_subtitle);
    g_test_add("/details/empty-prompt", Fixture, NULL, fixture_set_up, test_empty_prompt,
               fixture_tear_down);
    g_test_add("/details/token-count", Fixture, NULL, fixture_set_up, test_token_count,
               fixture_tear_down);
    g_test_add("/details/custom-size", Fixture, NULL, fixture_set_up, test_custom_size,
               fixture_tear_down);
    return g_test_run();
}
