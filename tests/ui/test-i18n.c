/* ui suite: under LANGUAGE=de the window shows the German translation. */
#include "config.h"

#include "rs-window.h"
#include "ui-test-util.h"

static gboolean window_is_mapped(gpointer data)
{
    return gtk_widget_get_mapped(GTK_WIDGET(data));
}

static GtkWidget *find_label(GtkWidget *widget, const char *text)
{
    if (GTK_IS_LABEL(widget) && g_str_equal(gtk_label_get_label(GTK_LABEL(widget)), text))
        return widget;
    for (GtkWidget *child = gtk_widget_get_first_child(widget); child != NULL;
         child = gtk_widget_get_next_sibling(child)) {
        GtkWidget *found = find_label(child, text);
        if (found != NULL)
            return found;
    }
    return NULL;
}

static void test_german_labels(void)
{
    g_assert_cmpstr(g_getenv("LANGUAGE"), ==, "de");
    RsApplication *app = ui_test_application();
    RsWindow *window = rs_window_new(app);
    g_object_ref(window);
    gtk_window_present(GTK_WINDOW(window));
    g_assert_true(ui_test_wait_until(window_is_mapped, window, 5000));
    gtk_test_widget_wait_for_draw(GTK_WIDGET(window));

    /* The literal German text, not _(): the test must fail when the catalogue is not used. */
    GtkWidget *label = find_label(GTK_WIDGET(window), "Noch kein Bild");
    g_assert_nonnull(label);
    g_assert_true(gtk_widget_get_mapped(label));
    g_assert_null(find_label(GTK_WIDGET(window), "No Image Yet"));
    g_assert_nonnull(find_label(GTK_WIDGET(window), "Seitenverhältnis"));
    g_assert_nonnull(find_label(GTK_WIDGET(window), "Ablauf der Zweige"));
    g_assert_nonnull(find_label(GTK_WIDGET(window), "_Erzeugen"));
    g_assert_null(find_label(GTK_WIDGET(window), "Aspect Ratio"));
    g_free(ui_test_screenshot(GTK_WIDGET(window), "main-window-de"));

    gtk_window_destroy(GTK_WINDOW(window));
    ui_test_spin(50);
    g_assert_finalize_object(window);
}

int main(int argc, char **argv)
{
    ui_test_init(&argc, &argv);
    g_test_add_func("/i18n/german-labels", test_german_labels);
    return g_test_run();
}
