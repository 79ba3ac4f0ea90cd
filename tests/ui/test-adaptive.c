/* ui suite: the window at 720, 1280 and 1920 px. Narrow, the parameters fold over the canvas (a
 * header button shows them) and the canvas keeps its whole width; wide, both sit side by side and
 * nothing is cut; the header's sidebar button shows or hides the parameters in both. */
#include "config.h"

#include "rs-window.h"
#include "ui-test-util.h"

typedef struct {
    int width;
    gboolean folded;
} Case;

static gboolean window_is_mapped(gpointer data)
{
    return gtk_widget_get_mapped(GTK_WIDGET(data));
}

static void check_width(gconstpointer data)
{
    const Case *c = data;
    GSettings *settings = g_settings_new("io.github.resdit.Studio");
    g_settings_set_int(settings, "window-width", c->width);
    g_settings_set_int(settings, "window-height", 800);
    RsApplication *app = ui_test_application();
    RsWindow *window = rs_window_new(app);
    g_object_ref(window);
    gtk_window_present(GTK_WINDOW(window));
    g_assert_true(ui_test_wait_until(window_is_mapped, window, 5000));
    gtk_test_widget_wait_for_draw(GTK_WIDGET(window));
    ui_test_spin(200);
    /* the window's size less its client-side decoration margins */
    g_assert_cmpint(gtk_widget_get_width(GTK_WIDGET(window)), <=, c->width);
    g_assert_cmpint(gtk_widget_get_width(GTK_WIDGET(window)), >=, c->width - 40);

    AdwFlap *flap = ui_test_child(window, RS_TYPE_WINDOW, "params_flap");
    GtkWidget *panel = ui_test_child(window, RS_TYPE_WINDOW, "params_panel");
    GtkWidget *canvas = ui_test_child(window, RS_TYPE_WINDOW, "canvas_stack");
    GtkWidget *toggle = ui_test_child(window, RS_TYPE_WINDOW, "params_button");
    g_test_message("%d px: folded %d, panel %d px, canvas %d px", c->width,
                   adw_flap_get_folded(flap), gtk_widget_get_width(panel),
                   gtk_widget_get_width(canvas));
    g_assert_cmpint(adw_flap_get_folded(flap), ==, c->folded);
    g_assert_true(gtk_widget_get_visible(toggle));
    g_assert_cmpint(gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(toggle)), ==, !c->folded);
    int canvas_min;
    gtk_widget_measure(canvas, GTK_ORIENTATION_HORIZONTAL, -1, &canvas_min, NULL, NULL, NULL);
    g_assert_cmpint(gtk_widget_get_width(canvas), >=, canvas_min);
    g_assert_cmpint(gtk_widget_get_width(canvas), >, 0);
    if (c->folded) {
        g_assert_false(adw_flap_get_reveal_flap(flap)); /* the canvas has the window */
        g_autofree char *name = g_strdup_printf("adaptive-%d", c->width);
        g_free(ui_test_screenshot(GTK_WIDGET(window), name));
        gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(toggle), TRUE); /* and back, on demand */
        ui_test_spin(400);
        g_assert_true(adw_flap_get_reveal_flap(flap));
        g_assert_cmpint(gtk_widget_get_width(panel), >=, 340);
        name = (g_free(name), g_strdup_printf("adaptive-%d-parameters", c->width));
        g_free(ui_test_screenshot(GTK_WIDGET(window), name));
    } else { /* parameters, canvas and history side by side, the parameters a sidebar */
        g_assert_true(adw_flap_get_reveal_flap(flap));
        g_assert_cmpint(gtk_widget_get_width(panel), >=, 340);
        g_assert_cmpint(gtk_widget_get_width(panel), <=, 400);
        AdwFlap *history = ui_test_child(window, RS_TYPE_WINDOW, "history_flap");
        g_assert_false(adw_flap_get_folded(history));
        g_assert_cmpint(gtk_widget_get_width(canvas), >=, c->width / 3);
        g_autofree char *name = g_strdup_printf("adaptive-%d", c->width);
        g_free(ui_test_screenshot(GTK_WIDGET(window), name));
    }
    gtk_window_destroy(GTK_WINDOW(window));
    ui_test_spin(50);
    g_object_unref(window);
    g_settings_reset(settings, "window-width");
    g_settings_reset(settings, "window-height");
    g_object_unref(settings);
}

int main(int argc, char **argv)
{
    ui_test_init(&argc, &argv);
    static const Case cases[] = {{720, TRUE}, {1280, FALSE}, {1920, FALSE}};
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *path = g_strdup_printf("/adaptive/%d", cases[i].width);
        g_test_add_data_func(path, &cases[i], check_width);
    }
    return g_test_run();
}
