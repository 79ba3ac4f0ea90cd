/* Helpers for the ui suite. */
#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>

#include "ui-test-util.h"

#include <glib/gstdio.h>

static RsApplication *test_app;

void ui_test_init(int *argc, char ***argv)
{
    setlocale(LC_ALL, "");
    const char *localedir = g_getenv("RS_TEST_LOCALEDIR");
    bindtextdomain(GETTEXT_PACKAGE, localedir != NULL ? localedir : LOCALEDIR);
    bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
    textdomain(GETTEXT_PACKAGE);
    g_test_init(argc, argv, NULL);
}

RsApplication *ui_test_application(void)
{
    if (test_app == NULL) {
        GError *error = NULL;
        test_app = rs_application_new(G_APPLICATION_NON_UNIQUE);
        g_application_register(G_APPLICATION(test_app), NULL, &error);
        g_assert_no_error(error);
    }
    return test_app;
}

static gboolean timed_out(gpointer data)
{
    *(gboolean *)data = TRUE;
    return G_SOURCE_REMOVE;
}

gboolean ui_test_wait_until(gboolean (*condition)(gpointer data), gpointer data, guint timeout_ms)
{
    gboolean expired = FALSE;
    guint source = g_timeout_add(timeout_ms, timed_out, &expired);
    while (!expired && !condition(data))
        g_main_context_iteration(NULL, TRUE);
    if (!expired)
        g_source_remove(source);
    return condition(data);
}

static gboolean never(gpointer data)
{
    return FALSE;
}

void ui_test_spin(guint ms)
{
    ui_test_wait_until(never, NULL, ms);
}

GdkTexture *ui_test_render(GtkWidget *widget)
{
    /* The widget paintable shows the widget's last drawn frame: let a pending redraw happen. */
    gtk_test_widget_wait_for_draw(widget);
    int width = gtk_widget_get_width(widget);
    int height = gtk_widget_get_height(widget);
    g_assert_cmpint(width, >, 0);
    g_assert_cmpint(height, >, 0);

    GdkPaintable *paintable = gtk_widget_paintable_new(widget);
    GtkSnapshot *snapshot = gtk_snapshot_new();
    gdk_paintable_snapshot(paintable, snapshot, width, height);
    GskRenderNode *node = gtk_snapshot_free_to_node(snapshot);
    g_assert_nonnull(node);

    GskRenderer *renderer = gtk_native_get_renderer(gtk_widget_get_native(widget));
    GdkTexture *texture =
        gsk_renderer_render_texture(renderer, node, &GRAPHENE_RECT_INIT(0, 0, width, height));
    gsk_render_node_unref(node);
    g_object_unref(paintable);
    return texture;
}

char *ui_test_screenshot(GtkWidget *widget, const char *name)
{
    const char *dir = g_getenv("RS_SCREENSHOT_DIR");
    g_assert_nonnull(dir);
    g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);

    char *file = g_strconcat(name, ".png", NULL);
    char *path = g_build_filename(dir, file, NULL);
    g_free(file);
    GdkTexture *texture = ui_test_render(widget);
    g_assert_true(gdk_texture_save_to_png(texture, path));
    g_object_unref(texture);
    g_test_message("screenshot: %s", path);
    return path;
}

guint32 ui_test_pixel(GdkTexture *texture, int x, int y)
{
    int width = gdk_texture_get_width(texture);
    int height = gdk_texture_get_height(texture);
    g_assert_true(x >= 0 && x < width && y >= 0 && y < height);
    guint32 *pixels = g_new(guint32, (gsize)width * height);
    gdk_texture_download(texture, (guchar *)pixels, (gsize)width * 4);
    guint32 pixel = pixels[(gsize)y * width + x];
    g_free(pixels);
    return pixel;
}

GdkTexture *ui_test_gradient_texture(int width, int height)
{
    gsize stride = (gsize)width * 4;
    guint8 *pixels = g_malloc(stride * height);
    for (int y = 0; y < height; y++) {
        for (int x = 0; x < width; x++) {
            guint8 *p = pixels + y * stride + (gsize)x * 4;
            p[0] = 128;                                    /* B */
            p[1] = (guint8)(255 * y / MAX(height - 1, 1)); /* G */
            p[2] = (guint8)(255 * x / MAX(width - 1, 1));  /* R */
            p[3] = 255;
        }
    }
    GBytes *bytes = g_bytes_new_take(pixels, stride * height);
    GdkTexture *texture =
        gdk_memory_texture_new(width, height, GDK_MEMORY_B8G8R8A8_PREMULTIPLIED, bytes, stride);
    g_bytes_unref(bytes);
    return texture;
}

static gboolean is_mapped(gpointer data)
{
    return gtk_widget_get_mapped(GTK_WIDGET(data));
}

GtkWindow *ui_test_present(GtkWindow *window)
{
    gtk_window_present(window);
    g_assert_true(ui_test_wait_until(is_mapped, window, 5000));
    gtk_test_widget_wait_for_draw(GTK_WIDGET(window));
    return window;
}

gpointer ui_test_child(gpointer widget, GType type, const char *name)
{
    GObject *child = gtk_widget_get_template_child(GTK_WIDGET(widget), type, name);
    g_assert_nonnull(child);
    return child;
}

void ui_test_assert_rgb(guint32 a, guint32 rgb, int tolerance)
{
    for (int shift = 0; shift <= 16; shift += 8) {
        int got = (a >> shift) & 0xff, want = (rgb >> shift) & 0xff;
        if (ABS(got - want) > tolerance)
            g_error("colour #%06x is not #%06x (+-%d)", a & 0xffffff, rgb, tolerance);
    }
}

gboolean ui_test_model_ready(gpointer window)
{
    gboolean ready = FALSE;
    g_object_get(window, "model-ready", &ready, NULL);
    return ready;
}

void ui_test_remove_tree(const char *path)
{
    GDir *dir = g_dir_open(path, 0, NULL);
    for (const char *name; dir != NULL && (name = g_dir_read_name(dir)) != NULL;) {
        char *child = g_build_filename(path, name, NULL);
        if (!g_file_test(child, G_FILE_TEST_IS_SYMLINK) && g_file_test(child, G_FILE_TEST_IS_DIR))
            ui_test_remove_tree(child);
        else
            g_unlink(child);
        g_free(child);
    }
    if (dir != NULL)
        g_dir_close(dir);
    g_rmdir(path);
}

static void on_studio_job_finished(RsWindow *window, UiStudio *f)
{
    f->finished = TRUE;
}

gboolean ui_studio_job_finished(gpointer studio)
{
    return ((UiStudio *)studio)->finished;
}

void ui_studio_set_up(UiStudio *f, gconstpointer data)
{
    f->settings = g_settings_new("io.github.resdit.Studio");
    f->output = g_dir_make_tmp("rs-output-XXXXXX", NULL);
    g_settings_set_string(f->settings, "output-folder", f->output);
    g_settings_set_string(f->settings, "model", "self-test");
    f->history_dir = g_dir_make_tmp("rs-history-XXXXXX", NULL);
    char *db = g_build_filename(f->history_dir, "history.sqlite3", NULL);
    g_setenv("RESDIT_HISTORY_DB", db, TRUE);
    g_free(db);
    f->window = g_object_ref(rs_window_new(ui_test_application()));
    ui_test_present(GTK_WINDOW(f->window));
    f->job = rs_window_get_job(f->window);
    g_signal_connect(f->window, "job-finished", G_CALLBACK(on_studio_job_finished), f);
    g_assert_true(ui_test_wait_until(ui_test_model_ready, f->window, 30000));
}

void ui_studio_tear_down(UiStudio *f, gconstpointer data)
{
    if (f->window != NULL) {
        gtk_window_destroy(GTK_WINDOW(f->window));
        ui_test_spin(50);
        g_assert_finalize_object(f->window);
    }
    ui_test_remove_tree(f->output);
    g_free(f->output);
    ui_test_remove_tree(f->history_dir);
    g_free(f->history_dir);
    g_settings_reset(f->settings, "output-folder");
    g_object_unref(f->settings);
}

typedef struct {
    GType type;
    GtkWindow *found;
} FindToplevel;

static gboolean toplevel_shown(gpointer data)
{
    FindToplevel *find = data;
    find->found = NULL;
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

GtkWindow *ui_test_wait_for_toplevel(GType type, guint timeout_ms)
{
    FindToplevel find = {type, NULL};
    return ui_test_wait_until(toplevel_shown, &find, timeout_ms) ? find.found : NULL;
}
