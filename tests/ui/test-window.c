/* ui suite: the main window opens with its title, renders, closes without leaking. */
#include "config.h"

#include <glib/gi18n.h>

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
        gboolean found = ADW_IS_ABOUT_WINDOW(toplevel) && gtk_widget_get_mapped(GTK_WIDGET(toplevel));
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

int main(int argc, char **argv)
{
    ui_test_init(&argc, &argv);
    g_test_add_func("/window/opens-and-closes", test_window_opens_and_closes);
    g_test_add_func("/window/about", test_about_window);
    return g_test_run();
}
