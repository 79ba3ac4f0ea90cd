/* ui suite: the job queue. Generate during a job queues the next one, which runs when the first
 * ends, and both land in the history; Re-run from the history during a job queues too; waiting
 * jobs move up and down and are removed from the queue popover; Cancel stops the running job
 * and the next one starts; a batch of N gives N images with N seeds; closing the window names the
 * waiting jobs. All on the self-test model at small sizes. */
#include "config.h"

#include <string.h>

#include "history-store.h"
#include "resdit.h"
#include "rs-history-model.h"
#include "rs-history-sidebar.h"
#include "rs-params-panel.h"
#include "rs-window.h"
#include "ui-test-util.h"

typedef struct {
    UiStudio studio;
    int n_finished; /* "job-finished" emissions */
} Fixture;

static void on_job_finished(RsWindow *window, Fixture *f)
{
    f->n_finished++;
}

static void fixture_set_up(Fixture *f, gconstpointer data)
{
    ui_studio_set_up(&f->studio, data);
    g_signal_connect(f->studio.window, "job-finished", G_CALLBACK(on_job_finished), f);
    g_object_set(f->studio.job, "prompt", "queue", "random-seed", TRUE, "batch-count", 1, NULL);
}

static void fixture_tear_down(Fixture *f, gconstpointer data)
{
    g_settings_reset(f->studio.settings, "batch-count");
    ui_studio_tear_down(&f->studio, data);
}

/* A quick job: 256 x 256 (the smallest custom size), two steps. */
static void quick_job(Fixture *f, const char *prompt)
{
    g_object_set(f->studio.job, "prompt", prompt, "aspect", "custom", "custom-width", 256,
                 "custom-height", 256, "steps", 2, "global-steps", 0, "local-steps", 0, NULL);
}

/* A job that runs for a minute or more (the draft size, 40 steps), with steps short enough to
 * cancel at once. */
static void long_job(Fixture *f, const char *prompt)
{
    g_object_set(f->studio.job, "prompt", prompt, "aspect", "1:1", "size-preset", "512", "steps",
                 40, "global-steps", 0, "local-steps", 0, NULL);
}

static void generate(Fixture *f)
{
    gtk_widget_activate_action(GTK_WIDGET(f->studio.window), "win.generate", NULL);
}

static RsJobQueue *queue_of(Fixture *f)
{
    return rs_window_get_queue(f->studio.window);
}

static gboolean is_running(Fixture *f)
{
    GtkButton *button = ui_test_child(f->studio.window, RS_TYPE_WINDOW, "generate_button");
    return g_strcmp0(gtk_button_get_label(button), "_Cancel") == 0;
}

typedef struct {
    Fixture *f;
    int want;
} FinishedCount;

static gboolean finished_count(gpointer data)
{
    FinishedCount *count = data;
    return count->f->n_finished >= count->want;
}

static void wait_finished(Fixture *f, int want, guint timeout_ms)
{
    FinishedCount count = {f, want};
    g_assert_true(ui_test_wait_until(finished_count, &count, timeout_ms));
    g_assert_cmpint(f->n_finished, ==, want);
}

/* The prompts of the waiting jobs, in queue order, joined by commas. */
static char *queued_prompts(Fixture *f)
{
    GString *text = g_string_new(NULL);
    GListModel *queue = G_LIST_MODEL(queue_of(f));
    for (guint i = 0; i < g_list_model_get_n_items(queue); i++) {
        RsQueuedJob *job = g_list_model_get_item(queue, i);
        g_string_append_printf(text, "%s%s", i > 0 ? "," : "",
                               rs_queued_job_get_params(job)->prompt);
        g_object_unref(job);
    }
    return g_string_free(text, FALSE);
}

/* The titles of the queue popover's rows, joined by commas. */
static char *row_titles(Fixture *f)
{
    GtkListBox *list = ui_test_child(f->studio.window, RS_TYPE_WINDOW, "queue_list");
    GString *text = g_string_new(NULL);
    for (int i = 0;; i++) {
        GtkListBoxRow *row = gtk_list_box_get_row_at_index(list, i);
        if (row == NULL)
            break;
        g_assert_true(ADW_IS_ACTION_ROW(row));
        g_string_append_printf(text, "%s%s", i > 0 ? "," : "",
                               adw_preferences_row_get_title(ADW_PREFERENCES_ROW(row)));
    }
    return g_string_free(text, FALSE);
}

static guint queued_id(Fixture *f, guint position)
{
    RsQueuedJob *job = g_list_model_get_item(G_LIST_MODEL(queue_of(f)), position);
    g_assert_nonnull(job);
    guint id = rs_queued_job_get_id(job);
    g_object_unref(job);
    return id;
}

static void queue_action(Fixture *f, const char *action, guint position)
{
    gtk_widget_activate_action(GTK_WIDGET(f->studio.window), action, "u", queued_id(f, position));
}

/* Every history row, oldest first (the store lists newest first). */
static GPtrArray *history_rows(void)
{
    GError *error = NULL;
    HistoryStore *store = history_store_open(g_getenv("RESDIT_HISTORY_DB"), &error);
    g_assert_no_error(error);
    HistoryQuery query = {0};
    GPtrArray *rows = history_store_list(store, &query, 0, 1000, &error);
    g_assert_no_error(error);
    history_store_close(store);
    g_object_unref(store);
    GPtrArray *oldest_first =
        g_ptr_array_new_with_free_func((GDestroyNotify)history_generation_free);
    for (guint i = rows->len; i > 0; i--)
        g_ptr_array_add(oldest_first, g_ptr_array_steal_index(rows, i - 1));
    g_ptr_array_unref(rows);
    return oldest_first;
}

static const HistoryGeneration *row_at(GPtrArray *rows, guint i)
{
    return g_ptr_array_index(rows, i);
}

/* The prompts and statuses of the history, oldest first: "a:done,b:cancelled". */
static char *history_summary(void)
{
    GPtrArray *rows = history_rows();
    GString *text = g_string_new(NULL);
    for (guint i = 0; i < rows->len; i++)
        g_string_append_printf(text, "%s%s:%s", i > 0 ? "," : "", row_at(rows, i)->params.prompt,
                               history_status_name(row_at(rows, i)->status));
    g_ptr_array_unref(rows);
    return g_string_free(text, FALSE);
}

static int n_images(Fixture *f)
{
    GDir *dir = g_dir_open(f->studio.output, 0, NULL);
    int n = 0;
    for (const char *name; dir != NULL && (name = g_dir_read_name(dir)) != NULL;)
        n += g_str_has_suffix(name, ".png");
    if (dir != NULL)
        g_dir_close(dir);
    return n;
}

/* Generate during a job queues the second one (with the parameters on show when it was queued);
 * it starts when the first is done, and both are in the history, one after the other. */
static void test_while_running(Fixture *f, gconstpointer data)
{
    quick_job(f, "first in line");
    g_object_set(f->studio.job, "random-seed", FALSE, "seed", 11, NULL);
    generate(f);
    g_assert_true(is_running(f));
    quick_job(f, "second in line");
    g_object_set(f->studio.job, "seed", 22, NULL);
    generate(f);
    g_assert_cmpuint(rs_job_queue_get_n_jobs(queue_of(f)), ==, 1);
    GtkMenuButton *queue_button = ui_test_child(f->studio.window, RS_TYPE_WINDOW, "queue_button");
    GtkLabel *count = ui_test_child(f->studio.window, RS_TYPE_WINDOW, "queue_count_label");
    g_assert_true(gtk_widget_get_visible(GTK_WIDGET(queue_button)));
    g_assert_cmpstr(gtk_label_get_label(count), ==, "1");
    /* A snapshot: the panel changing afterwards does not change the waiting job. */
    g_object_set(f->studio.job, "prompt", "changed later", "seed", 33, NULL);
    char *prompts = queued_prompts(f);
    g_assert_cmpstr(prompts, ==, "second in line");
    g_free(prompts);

    wait_finished(f, 2, 60000);
    g_assert_cmpuint(rs_job_queue_get_n_jobs(queue_of(f)), ==, 0);
    g_assert_false(is_running(f));
    g_assert_false(gtk_widget_get_visible(GTK_WIDGET(queue_button)));
    GPtrArray *rows = history_rows();
    g_assert_cmpuint(rows->len, ==, 2);
    g_assert_cmpstr(row_at(rows, 0)->params.prompt, ==, "first in line");
    g_assert_cmpstr(row_at(rows, 1)->params.prompt, ==, "second in line");
    g_assert_cmpuint(row_at(rows, 0)->params.seed, ==, 11);
    g_assert_cmpuint(row_at(rows, 1)->params.seed, ==, 22);
    for (guint i = 0; i < 2; i++) {
        g_assert_cmpint(row_at(rows, i)->status, ==, HISTORY_STATUS_DONE);
        g_assert_true(g_file_test(row_at(rows, i)->image_path, G_FILE_TEST_IS_REGULAR));
    }
    g_assert_cmpint(row_at(rows, 1)->started_at, >=, row_at(rows, 0)->finished_at);
    g_ptr_array_unref(rows);
    g_assert_cmpint(n_images(f), ==, 2);
}

static guint n_history_items(Fixture *f)
{
    RsHistorySidebar *sidebar = ui_test_child(f->studio.window, RS_TYPE_WINDOW, "history_sidebar");
    return g_list_model_get_n_items(G_LIST_MODEL(rs_history_sidebar_get_model(sidebar)));
}

typedef struct {
    Fixture *f;
    guint want;
} RowCount;

static gboolean has_rows(gpointer data)
{
    RowCount *count = data;
    return n_history_items(count->f) == count->want;
}

/* Re-run from the history during a job waits in the queue (it used to be refused). */
static void test_rerun_during_job(Fixture *f, gconstpointer data)
{
    quick_job(f, "run me again");
    g_object_set(f->studio.job, "random-seed", FALSE, "seed", 5, NULL);
    generate(f);
    wait_finished(f, 1, 60000);
    RowCount one = {f, 1};
    g_assert_true(ui_test_wait_until(has_rows, &one, 10000));

    long_job(f, "long");
    g_object_set(f->studio.job, "random-seed", TRUE, NULL);
    generate(f);
    g_assert_true(is_running(f));
    RowCount two = {f, 2};
    g_assert_true(ui_test_wait_until(has_rows, &two, 10000));
    RsHistorySidebar *sidebar = ui_test_child(f->studio.window, RS_TYPE_WINDOW, "history_sidebar");
    rs_history_sidebar_select(sidebar, 1); /* the first job; the long one is on top */
    gtk_widget_activate_action(GTK_WIDGET(sidebar), "history.rerun", NULL);
    g_assert_cmpuint(rs_job_queue_get_n_jobs(queue_of(f)), ==, 1);
    RsQueuedJob *job = g_list_model_get_item(G_LIST_MODEL(queue_of(f)), 0);
    g_assert_cmpstr(rs_queued_job_get_params(job)->prompt, ==, "run me again");
    g_assert_cmpuint(rs_queued_job_get_params(job)->seed, ==, 5);
    g_assert_cmpint(rs_queued_job_get_params(job)->width, ==, 256);
    g_object_unref(job);

    ui_test_spin(300);
    gtk_widget_activate_action(GTK_WIDGET(f->studio.window), "win.cancel", NULL);
    wait_finished(f, 3, 60000);
    char *summary = history_summary();
    g_assert_cmpstr(summary, ==, "run me again:done,long:cancelled,run me again:done");
    g_free(summary);
    GPtrArray *rows = history_rows();
    g_assert_cmpuint(row_at(rows, 2)->params.seed, ==, 5);
    g_ptr_array_unref(rows);
}

/* Three jobs wait behind a long one: moving them up and down changes the order they run in, and
 * the popover shows that order; the first cannot move up, the last not down. */
static void test_reorder(Fixture *f, gconstpointer data)
{
    long_job(f, "long");
    generate(f);
    g_assert_true(is_running(f));
    const char *prompts[] = {"alpha", "bravo", "charlie"};
    for (gsize i = 0; i < G_N_ELEMENTS(prompts); i++) {
        quick_job(f, prompts[i]);
        generate(f);
    }
    char *order = queued_prompts(f);
    g_assert_cmpstr(order, ==, "alpha,bravo,charlie");
    g_free(order);

    queue_action(f, "win.queue-up", 2); /* charlie */
    order = queued_prompts(f);
    g_assert_cmpstr(order, ==, "alpha,charlie,bravo");
    g_free(order);
    queue_action(f, "win.queue-down", 0); /* alpha */
    order = queued_prompts(f);
    g_assert_cmpstr(order, ==, "charlie,alpha,bravo");
    g_free(order);
    /* At the ends nothing moves. */
    queue_action(f, "win.queue-up", 0);
    queue_action(f, "win.queue-down", 2);
    order = queued_prompts(f);
    g_assert_cmpstr(order, ==, "charlie,alpha,bravo");
    char *titles = row_titles(f);
    g_assert_cmpstr(titles, ==, order);
    g_free(titles);
    g_free(order);

    GtkListBox *list = ui_test_child(f->studio.window, RS_TYPE_WINDOW, "queue_list");
    GtkMenuButton *queue_button = ui_test_child(f->studio.window, RS_TYPE_WINDOW, "queue_button");
    GtkLabel *count = ui_test_child(f->studio.window, RS_TYPE_WINDOW, "queue_count_label");
    g_assert_cmpstr(gtk_label_get_label(count), ==, "3");
    gtk_menu_button_popup(queue_button);
    ui_test_spin(300);
    GtkWidget *first = GTK_WIDGET(gtk_list_box_get_row_at_index(list, 0));
    GtkWidget *last = GTK_WIDGET(gtk_list_box_get_row_at_index(list, 2));
    g_assert_false(gtk_widget_is_sensitive(g_object_get_data(G_OBJECT(first), "rs-queue-up")));
    g_assert_true(gtk_widget_is_sensitive(g_object_get_data(G_OBJECT(first), "rs-queue-down")));
    g_assert_true(gtk_widget_is_sensitive(g_object_get_data(G_OBJECT(last), "rs-queue-up")));
    g_assert_false(gtk_widget_is_sensitive(g_object_get_data(G_OBJECT(last), "rs-queue-down")));
    AdwActionRow *running = ui_test_child(f->studio.window, RS_TYPE_WINDOW, "queue_running_row");
    g_assert_cmpstr(adw_preferences_row_get_title(ADW_PREFERENCES_ROW(running)), ==, "long");
    g_free(
        ui_test_screenshot(GTK_WIDGET(gtk_menu_button_get_popover(queue_button)), "queue-popover"));
    gtk_menu_button_popdown(queue_button);

    /* Cancel stops the running job only: the queue goes on, in the new order. */
    gtk_widget_activate_action(GTK_WIDGET(f->studio.window), "win.cancel", NULL);
    wait_finished(f, 4, 90000);
    char *summary = history_summary();
    g_assert_cmpstr(summary, ==, "long:cancelled,charlie:done,alpha:done,bravo:done");
    g_free(summary);
    g_assert_cmpint(n_images(f), ==, 3);
}

/* A removed job never runs; the others do. */
static void test_remove(Fixture *f, gconstpointer data)
{
    long_job(f, "long");
    generate(f);
    quick_job(f, "kept");
    generate(f);
    quick_job(f, "removed");
    generate(f);
    quick_job(f, "also kept");
    generate(f);
    queue_action(f, "win.queue-remove", 1);
    char *order = queued_prompts(f);
    g_assert_cmpstr(order, ==, "kept,also kept");
    g_free(order);
    char *titles = row_titles(f);
    g_assert_cmpstr(titles, ==, "kept,also kept");
    g_free(titles);
    GtkLabel *count = ui_test_child(f->studio.window, RS_TYPE_WINDOW, "queue_count_label");
    g_assert_cmpstr(gtk_label_get_label(count), ==, "2");

    ui_test_spin(300);
    gtk_widget_activate_action(GTK_WIDGET(f->studio.window), "win.cancel", NULL);
    wait_finished(f, 3, 60000);
    char *summary = history_summary();
    g_assert_cmpstr(summary, ==, "long:cancelled,kept:done,also kept:done");
    g_free(summary);
    g_assert_cmpint(n_images(f), ==, 2);
}

static int compare_seeds(gconstpointer a, gconstpointer b)
{
    guint64 x = *(const guint64 *)a, y = *(const guint64 *)b;
    return x < y ? -1 : x > y;
}

/* The seeds of the history rows from first on, sorted. */
static GArray *seeds_from(guint first)
{
    GPtrArray *rows = history_rows();
    GArray *seeds = g_array_new(FALSE, FALSE, sizeof(guint64));
    for (guint i = first; i < rows->len; i++) {
        g_assert_cmpint(row_at(rows, i)->status, ==, HISTORY_STATUS_DONE);
        g_array_append_val(seeds, row_at(rows, i)->params.seed);
    }
    g_ptr_array_unref(rows);
    g_array_sort(seeds, compare_seeds);
    return seeds;
}

/* A batch of 3 (the panel's Images field, kept in the settings): 3 images; with a fixed seed
 * the seed, seed + 1, seed + 2, the field keeping the seed; under Random Seed 3 distinct seeds. */
static void test_batch(Fixture *f, gconstpointer data)
{
    quick_job(f, "batch");
    RsParamsPanel *panel = ui_test_child(f->studio.window, RS_TYPE_WINDOW, "params_panel");
    GtkSpinButton *spin = ui_test_child(panel, RS_TYPE_PARAMS_PANEL, "batch_count_spin");
    g_assert_cmpfloat(gtk_spin_button_get_value(spin), ==, 1);
    gtk_spin_button_set_value(spin, 3);
    g_assert_cmpint(rs_job_settings_get_batch_count(f->studio.job), ==, 3);
    g_assert_cmpint(g_settings_get_int(f->studio.settings, "batch-count"), ==, 3);
    gtk_spin_button_set_value(spin, 99);
    g_assert_cmpint(rs_job_settings_get_batch_count(f->studio.job), ==, RS_MAX_BATCH_COUNT);
    gtk_spin_button_set_value(spin, 3);

    g_object_set(f->studio.job, "random-seed", FALSE, "seed", 100, NULL);
    generate(f);
    g_assert_true(is_running(f));
    g_assert_cmpuint(rs_job_queue_get_n_jobs(queue_of(f)), ==, 2);
    wait_finished(f, 3, 90000);
    g_assert_cmpint(n_images(f), ==, 3);
    GArray *seeds = seeds_from(0);
    g_assert_cmpuint(seeds->len, ==, 3);
    for (guint i = 0; i < 3; i++)
        g_assert_cmpuint(g_array_index(seeds, guint64, i), ==, 100 + i);
    g_array_unref(seeds);
    g_assert_cmpuint(rs_job_settings_get_seed(f->studio.job), ==, 100);

    g_object_set(f->studio.job, "random-seed", TRUE, NULL);
    generate(f);
    wait_finished(f, 6, 90000);
    g_assert_cmpint(n_images(f), ==, 6);
    seeds = seeds_from(3);
    g_assert_cmpuint(seeds->len, ==, 3);
    for (guint i = 1; i < 3; i++)
        g_assert_cmpuint(g_array_index(seeds, guint64, i - 1), <, g_array_index(seeds, guint64, i));
    g_array_unref(seeds);
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

/* Closing with jobs waiting says so; keeping them changes nothing; stopping drops them (they never
 * run) and closes once the running job has stopped. */
static void test_close_names_queued(Fixture *f, gconstpointer data)
{
    long_job(f, "long");
    generate(f);
    quick_job(f, "waiting one");
    generate(f);
    generate(f);
    ui_test_spin(300);

    gtk_window_close(GTK_WINDOW(f->studio.window));
    FindDialog find = {NULL};
    g_assert_true(ui_test_wait_until(dialog_shown, &find, 5000));
    const char *body = adw_message_dialog_get_body(ADW_MESSAGE_DIALOG(find.found));
    g_assert_nonnull(strstr(body, "2 queued jobs will not run."));
    g_free(ui_test_screenshot(GTK_WIDGET(find.found), "queue-close-dialog"));
    respond(find.found, "keep");
    ui_test_spin(300);
    g_assert_cmpuint(rs_job_queue_get_n_jobs(queue_of(f)), ==, 2);
    g_assert_true(is_running(f));

    gtk_window_close(GTK_WINDOW(f->studio.window));
    g_assert_true(ui_test_wait_until(dialog_shown, &find, 5000));
    RsWindow *window = f->studio.window;
    gpointer alive = window;
    g_object_add_weak_pointer(G_OBJECT(window), &alive);
    g_object_unref(window); /* the application keeps it until it is closed */
    f->studio.window = NULL;
    respond(find.found, "stop");
    wait_finished(f, 1, 30000);
    g_assert_true(ui_test_wait_until(window_gone, &alive, 5000));
    char *summary = history_summary();
    g_assert_cmpstr(summary, ==, "long:cancelled");
    g_free(summary);
    g_assert_cmpint(n_images(f), ==, 0);
}

int main(int argc, char **argv)
{
    ui_test_init(&argc, &argv);
    g_test_add("/queue/while-running", Fixture, NULL, fixture_set_up, test_while_running,
               fixture_tear_down);
    g_test_add("/queue/rerun-during-job", Fixture, NULL, fixture_set_up, test_rerun_during_job,
               fixture_tear_down);
    g_test_add("/queue/reorder", Fixture, NULL, fixture_set_up, test_reorder, fixture_tear_down);
    g_test_add("/queue/remove", Fixture, NULL, fixture_set_up, test_remove, fixture_tear_down);
    g_test_add("/queue/batch", Fixture, NULL, fixture_set_up, test_batch, fixture_tear_down);
    g_test_add("/queue/close-names-queued", Fixture, NULL, fixture_set_up, test_close_names_queued,
               fixture_tear_down);
    return g_test_run();
}
