/* ui suite: the history gallery. The grid shows the history's images; several are selected and
 * deleted at once with one undo toast (the rows go from the history, their files stay until the
 * toast is gone); activating an image opens it on the canvas. */
#include "config.h"

#include <string.h>

#include "rs-history-gallery.h"
#include "rs-history-sidebar.h"
#include "rs-window.h"
#include "ui-test-util.h"

typedef UiStudio Fixture;

static void fixture_set_up(Fixture *f, gconstpointer data)
{
    ui_studio_set_up(f, data);
    g_object_set(f->job, "prompt", "gallery", "random-seed", TRUE, "aspect", "1:1", "size-preset",
                 "512", NULL);
    g_object_set(f->job, "steps", 2, "global-steps", 0, "local-steps", 0, NULL);
}

static void fixture_tear_down(Fixture *f, gconstpointer data)
{
    ui_studio_tear_down(f, data);
}

static void run_job(Fixture *f)
{
    f->finished = FALSE;
    g_assert_true(gtk_widget_activate_action(GTK_WIDGET(f->window), "win.generate", NULL));
    g_assert_true(ui_test_wait_until(ui_studio_job_finished, f, 90000));
}

typedef struct {
    GListModel *model;
    guint n;
} CountWait;

static gboolean has_n_items(gpointer data)
{
    CountWait *w = data;
    return g_list_model_get_n_items(w->model) == w->n;
}

static gboolean newest_done(gpointer model)
{
    if (g_list_model_get_n_items(model) == 0)
        return FALSE;
    RsHistoryItem *item = g_list_model_get_item(model, 0);
    gboolean done = rs_history_item_get_generation(item)->status == HISTORY_STATUS_DONE;
    g_object_unref(item);
    return done;
}

static gboolean shows_history_image(gpointer label)
{
    return strstr(gtk_label_get_label(label), "from the history") != NULL;
}

static guint count_files(const char *dir)
{
    guint n = 0;
    GDir *d = g_dir_open(dir, 0, NULL);
    for (const char *name; (name = g_dir_read_name(d)) != NULL;)
        n += g_str_has_suffix(name, ".png");
    g_dir_close(d);
    return n;
}

/* The first widget under root of that type (with that CSS class, when class is not NULL). */
static GtkWidget *find_widget(GtkWidget *root, GType type, const char *css_class)
{
    if (G_TYPE_CHECK_INSTANCE_TYPE(root, type) &&
        (css_class == NULL || gtk_widget_has_css_class(root, css_class)))
        return root;
    for (GtkWidget *c = gtk_widget_get_first_child(root); c != NULL;
         c = gtk_widget_get_next_sibling(c)) {
        GtkWidget *found = find_widget(c, type, css_class);
        if (found != NULL)
            return found;
    }
    return NULL;
}

static void test_gallery(Fixture *f, gconstpointer data)
{
    for (int i = 0; i < 3; i++)
        run_job(f);
    /* and one cancelled */
    g_object_set(f->job, "custom-width", 1024, "custom-height", 1024, "aspect", "custom", "steps",
                 40, NULL);
    f->finished = FALSE;
    g_assert_true(gtk_widget_activate_action(GTK_WIDGET(f->window), "win.generate", NULL));
    ui_test_spin(200);
    g_assert_true(gtk_widget_activate_action(GTK_WIDGET(f->window), "win.cancel", NULL));
    g_assert_true(ui_test_wait_until(ui_studio_job_finished, f, 90000));

    RsHistoryGallery *gallery = ui_test_child(f->window, RS_TYPE_WINDOW, "history_gallery");
    GtkSelectionModel *selection = rs_history_gallery_get_selection(gallery);
    CountWait wait = {G_LIST_MODEL(selection), 4};
    g_assert_true(ui_test_wait_until(has_n_items, &wait, 30000));

    /* The status filter. */
    rs_history_gallery_set_filter(gallery, "cancelled");
    wait.n = 1;
    g_assert_true(ui_test_wait_until(has_n_items, &wait, 30000));
    RsHistoryItem *cancelled = g_list_model_get_item(G_LIST_MODEL(selection), 0);
    g_assert_cmpint(rs_history_item_get_generation(cancelled)->status, ==,
                    HISTORY_STATUS_CANCELLED);
    g_object_unref(cancelled);
    rs_history_gallery_set_filter(gallery, "failed");
    wait.n = 0;
    g_assert_true(ui_test_wait_until(has_n_items, &wait, 30000));
    rs_history_gallery_set_filter(gallery, "done");
    wait.n = 3;
    g_assert_true(ui_test_wait_until(has_n_items, &wait, 30000));
    /* The date filter: every image is from today (the store's own test moves rows in time). */
    rs_history_gallery_set_period(gallery, "today");
    ui_test_spin(100);
    g_assert_true(ui_test_wait_until(has_n_items, &wait, 30000));
    rs_history_gallery_set_period(gallery, "any");

    /* The context menu (a right click): Reuse Parameters restores the image's prompt. */
    g_assert_true(gtk_widget_activate_action(GTK_WIDGET(f->window), "win.gallery", NULL));
    g_object_set(f->job, "prompt", "something else", NULL);
    rs_history_gallery_popup_menu(gallery, 1, 60, 60);
    GtkPopover *menu = rs_history_gallery_get_menu(gallery);
    g_assert_true(gtk_widget_get_visible(GTK_WIDGET(menu)));
    g_assert_true(gtk_selection_model_is_selected(selection, 1));
    ui_test_spin(200);
    g_free(ui_test_screenshot(GTK_WIDGET(f->window), "gallery-menu"));
    g_assert_true(gtk_widget_activate_action(GTK_WIDGET(gallery), "gallery.reuse", NULL));
    gtk_popover_popdown(menu);
    char *prompt = NULL;
    g_object_get(f->job, "prompt", &prompt, NULL);
    g_assert_cmpstr(prompt, ==, "gallery");
    g_free(prompt);
    g_assert_true(gtk_widget_activate_action(GTK_WIDGET(f->window), "win.gallery", NULL));

    /* A row's update replaces it in the model, which unselects it: let the last job's "done"
     * reach the model (the store is polled every 2 s) before selecting. */
    g_assert_true(ui_test_wait_until(newest_done, selection, 30000));
    ui_test_spin(2500);
    g_assert_true(gtk_widget_activate_action(GTK_WIDGET(f->window), "win.gallery", NULL));
    GtkStack *stack = ui_test_child(f->window, RS_TYPE_WINDOW, "canvas_stack");
    g_assert_cmpstr(gtk_stack_get_visible_child_name(stack), ==, "gallery");
    ui_test_spin(200);
    g_free(ui_test_screenshot(GTK_WIDGET(f->window), "gallery"));

    /* Two of the three selected and deleted together. */
    gtk_selection_model_select_item(selection, 0, TRUE);
    gtk_selection_model_select_item(selection, 2, FALSE);
    GPtrArray *selected = rs_history_gallery_get_selected(gallery);
    g_assert_cmpuint(selected->len, ==, 2);
    g_ptr_array_unref(selected);
    RsHistoryItem *middle = g_list_model_get_item(G_LIST_MODEL(selection), 1);
    gint64 kept = rs_history_item_get_generation(middle)->id;
    g_object_unref(middle);
    /* the Delete button, as the user presses it */
    GtkWidget *button = find_widget(GTK_WIDGET(gallery), GTK_TYPE_BUTTON, "destructive-action");
    g_assert_nonnull(button);
    g_assert_true(gtk_widget_is_sensitive(button));
    g_free(ui_test_screenshot(GTK_WIDGET(f->window), "gallery-selected"));
    g_signal_emit_by_name(button, "clicked");
    wait.n = 1;
    g_assert_true(ui_test_wait_until(has_n_items, &wait, 30000));
    RsHistoryItem *left = g_list_model_get_item(G_LIST_MODEL(selection), 0);
    g_assert_cmpint(rs_history_item_get_generation(left)->id, ==, kept);
    g_object_unref(left);
    g_assert_false(gtk_widget_is_sensitive(button)); /* nothing selected now */
    /* undo is possible: the files are still there until the toast goes */
    g_assert_cmpuint(count_files(f->output), ==, 3);

    /* Opening an image: the canvas shows it. */
    GtkWidget *grid = find_widget(GTK_WIDGET(gallery), GTK_TYPE_GRID_VIEW, NULL);
    g_assert_nonnull(grid);
    GtkLabel *frame_label = ui_test_child(f->window, RS_TYPE_WINDOW, "frame_label");
    g_assert_null(strstr(gtk_label_get_label(frame_label), "from the history"));
    g_signal_emit_by_name(grid, "activate", 0u);
    g_assert_cmpstr(gtk_stack_get_visible_child_name(stack), !=, "gallery");
    g_assert_true(ui_test_wait_until(shows_history_image, frame_label, 10000));
    g_assert_cmpstr(gtk_stack_get_visible_child_name(stack), ==, "canvas");
}

int main(int argc, char **argv)
{
    ui_test_init(&argc, &argv);
    g_test_add("/gallery/select-delete-open", Fixture, NULL, fixture_set_up, test_gallery,
               fixture_tear_down);
    return g_test_run();
}
