/* ui suite: Export As. A real image exported as PNG, JPEG and WebP with and without its
 * parameters (the right size, decodable, the parameters there or not); failures leave no file
 * (and an existing file as it was); the window's Export dialog writes the chosen format. */
#include "config.h"

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <glib/gstdio.h>
#include <string.h>
#include <webp/decode.h>
#include <webp/mux.h>

#include "png_writer.h"
#include "resdit.h"
#include "rs-export-dialog.h"
#include "rs-export.h"
#include "rs-window.h"
#include "ui-test-util.h"

typedef UiStudio Fixture;

#define PROMPT "a quiet harbour & a red <boat>"

static void fixture_set_up(Fixture *f, gconstpointer data)
{
    ui_studio_set_up(f, data);
    g_object_set(f->job, "prompt", PROMPT, "random-seed", FALSE, "seed", 77, "aspect", "custom",
                 "custom-width", 384, "custom-height", 256, NULL);
    g_object_set(f->job, "steps", 2, "global-steps", 0, "local-steps", 0, NULL);
}

static void fixture_tear_down(Fixture *f, gconstpointer data)
{
    ui_studio_tear_down(f, data);
}

/* Generates the image and returns its path. */
static char *generate(Fixture *f)
{
    f->finished = FALSE;
    g_assert_true(gtk_widget_activate_action(GTK_WIDGET(f->window), "win.generate", NULL));
    g_assert_true(ui_test_wait_until(ui_studio_job_finished, f, 90000));
    char *path = NULL;
    GDir *dir = g_dir_open(f->output, 0, NULL);
    for (const char *name; (name = g_dir_read_name(dir)) != NULL;)
        if (g_str_has_suffix(name, ".png") && path == NULL)
            path = g_build_filename(f->output, name, NULL);
    g_dir_close(dir);
    g_assert_nonnull(path);
    return path;
}

static GBytes *read_file(const char *path)
{
    char *data = NULL;
    gsize size = 0;
    GError *error = NULL;
    g_assert_true(g_file_get_contents(path, &data, &size, &error));
    g_assert_no_error(error);
    return g_bytes_new_take(data, size);
}

static gboolean contains(GBytes *bytes, const char *needle)
{
    gsize size;
    const char *data = g_bytes_get_data(bytes, &size);
    return memmem(data, size, needle, strlen(needle)) != NULL;
}

/* Only the expected files in the folder: no temporary file left behind. */
static void assert_folder(const char *dir, const char *const *names)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    guint n = 0;
    for (const char *name; (name = g_dir_read_name(d)) != NULL;) {
        g_assert_true(g_strv_contains(names, name));
        n++;
    }
    g_dir_close(d);
    g_assert_cmpuint(n, ==, g_strv_length((char **)names));
}

static void check_jpeg(const char *path, gboolean with_parameters)
{
    GError *error = NULL;
    GdkPixbuf *pixbuf = gdk_pixbuf_new_from_file(path, &error);
    g_assert_no_error(error);
    g_assert_cmpint(gdk_pixbuf_get_width(pixbuf), ==, 384);
    g_assert_cmpint(gdk_pixbuf_get_height(pixbuf), ==, 256);
    g_object_unref(pixbuf);
    GBytes *bytes = read_file(path);
    const guint8 *data = g_bytes_get_data(bytes, NULL);
    g_assert_cmpint(data[0], ==, 0xff);
    g_assert_cmpint(data[1], ==, 0xd8);
    g_assert_cmpint(contains(bytes, "http://ns.adobe.com/xap/1.0/"), ==, with_parameters);
    /* the prompt, escaped in the XMP packet */
    g_assert_cmpint(contains(bytes, "a quiet harbour &amp; a red &lt;boat&gt;"), ==,
                    with_parameters);
    g_assert_cmpint(contains(bytes, "<resdit:parameters>"), ==, with_parameters);
    g_assert_cmpint(contains(bytes, "<exif:UserComment>"), ==, with_parameters);
    g_bytes_unref(bytes);
}

static void check_webp(const char *path, gboolean with_parameters)
{
    GBytes *bytes = read_file(path);
    gsize size;
    const guint8 *data = g_bytes_get_data(bytes, &size);
    int width = 0, height = 0;
    g_assert_true(WebPGetInfo(data, size, &width, &height));
    g_assert_cmpint(width, ==, 384);
    g_assert_cmpint(height, ==, 256);
    /* decodes */
    guint8 *rgb = WebPDecodeRGB(data, size, &width, &height);
    g_assert_nonnull(rgb);
    WebPFree(rgb);
    WebPData webp = {data, size}, xmp;
    WebPMux *mux = WebPMuxCreate(&webp, 0);
    g_assert_nonnull(mux);
    WebPMuxError found = WebPMuxGetChunk(mux, "XMP ", &xmp);
    g_assert_cmpint(found == WEBP_MUX_OK, ==, with_parameters);
    if (with_parameters) {
        char *packet = g_strndup((const char *)xmp.bytes, xmp.size);
        g_assert_nonnull(strstr(packet, "a quiet harbour &amp; a red &lt;boat&gt;"));
        g_assert_nonnull(strstr(packet, "<resdit:parameters>"));
        g_free(packet);
    }
    WebPMuxDelete(mux);
    g_bytes_unref(bytes);
}

static void check_png(const char *path, gboolean with_parameters)
{
    int width, height;
    GHashTable *texts = NULL;
    GError *error = NULL;
    guint8 *rgb = rd_png_read_rgb8(path, &width, &height, &texts, &error);
    g_assert_no_error(error);
    g_assert_cmpint(width, ==, 384);
    g_assert_cmpint(height, ==, 256);
    g_assert_cmpint(g_hash_table_contains(texts, "resdit"), ==, with_parameters);
    g_assert_cmpint(g_hash_table_contains(texts, "parameters"), ==, with_parameters);
    if (with_parameters) {
        ResditJobParams params;
        resdit_job_params_init(&params);
        char *json = resdit_png_read_parameters(path, &error);
        g_assert_no_error(error);
        g_assert_true(resdit_job_params_from_json(&params, json, &error));
        g_assert_cmpstr(params.prompt, ==, PROMPT);
        g_assert_cmpuint(params.seed, ==, 77);
        resdit_job_params_clear(&params);
        g_free(json);
    }
    g_hash_table_unref(texts);
    g_free(rgb);
}

static void test_formats(Fixture *f, gconstpointer data)
{
    char *source = generate(f);
    char *dir = g_dir_make_tmp("rs-export-XXXXXX", NULL);
    const char *names[] = {"with.png", "without.png", "with.jpg", "without.jpeg",
                           "with.webp", "without.webp", NULL};
    for (int i = 0; names[i] != NULL; i++) {
        char *dest = g_build_filename(dir, names[i], NULL);
        RsExportFormat format;
        g_assert_true(rs_export_format_from_path(dest, &format));
        gboolean with = g_str_has_prefix(names[i], "with.");
        GError *error = NULL;
        g_assert_true(rs_export_image(source, dest, format, with, &error));
        g_assert_no_error(error);
        if (format == RS_EXPORT_PNG)
            check_png(dest, with);
        else if (format == RS_EXPORT_JPEG)
            check_jpeg(dest, with);
        else
            check_webp(dest, with);
        g_free(dest);
    }
    assert_folder(dir, names);
    ui_test_remove_tree(dir);
    g_free(dir);
    g_free(source);
}

/* A source the export cannot write; the target folder keeps exactly what it had. */
static void test_failures(void)
{
    char *dir = g_dir_make_tmp("rs-export-XXXXXX", NULL);
    /* too wide for WebP (16383 at most), over an existing file */
    char *wide = g_build_filename(dir, "wide.png", NULL);
    int width = 16384, height = 2;
    guint8 *rgb = g_malloc0((gsize)width * height * 3);
    for (int i = 0; i < width * height * 3; i++)
        rgb[i] = (guint8)(i * 7);
    g_assert_true(rd_png_write_rgb8(wide, width, height, rgb, NULL, 0, NULL));
    g_free(rgb);
    char *keep = g_build_filename(dir, "keep.webp", NULL);
    g_assert_true(g_file_set_contents(keep, "the old file", -1, NULL));
    GError *error = NULL;
    g_assert_false(rs_export_image(wide, keep, RS_EXPORT_WEBP, TRUE, &error));
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
    g_clear_error(&error);
    char *contents = NULL;
    g_assert_true(g_file_get_contents(keep, &contents, NULL, NULL));
    g_assert_cmpstr(contents, ==, "the old file");
    g_free(contents);

    /* parameters too long for a JPEG APP1 segment: no file rather than one without them */
    char *big = g_build_filename(dir, "big.png", NULL);
    rgb = g_malloc0(16 * 16 * 3);
    char *json = g_strnfill(70000, 'x');
    RdPngText texts[] = {{"resdit", json, TRUE}};
    g_assert_true(rd_png_write_rgb8(big, 16, 16, rgb, texts, 1, NULL));
    g_free(json);
    g_free(rgb);
    char *jpeg = g_build_filename(dir, "big.jpg", NULL);
    g_assert_false(rs_export_image(big, jpeg, RS_EXPORT_JPEG, TRUE, &error));
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
    g_clear_error(&error);
    /* without the parameters it goes through */
    g_assert_true(rs_export_image(big, jpeg, RS_EXPORT_JPEG, FALSE, &error));
    g_assert_no_error(error);

    /* a folder that is not there */
    char *nowhere = g_build_filename(dir, "missing", "x.jpg", NULL);
    g_assert_false(rs_export_image(big, nowhere, RS_EXPORT_JPEG, FALSE, &error));
    g_assert_nonnull(error);
    g_clear_error(&error);

    const char *names[] = {"wide.png", "keep.webp", "big.png", "big.jpg", NULL};
    assert_folder(dir, names);
    ui_test_remove_tree(dir);
    g_free(nowhere);
    g_free(jpeg);
    g_free(big);
    g_free(keep);
    g_free(wide);
    g_free(dir);
}

static void test_target_names(void)
{
    RsExportFormat format;
    char *t = rs_export_target("/tmp/a", "webp", &format);
    g_assert_cmpstr(t, ==, "/tmp/a.webp");
    g_assert_cmpint(format, ==, RS_EXPORT_WEBP);
    g_free(t);
    t = rs_export_target("/tmp/a.JPG", "png", &format); /* the name wins */
    g_assert_cmpstr(t, ==, "/tmp/a.JPG");
    g_assert_cmpint(format, ==, RS_EXPORT_JPEG);
    g_free(t);
    t = rs_export_target("/tmp/a.b", "jpeg", &format);
    g_assert_cmpstr(t, ==, "/tmp/a.b.jpg");
    g_free(t);
}

/* The drop-down of a choice whose first option is label (the user's way to pick it: GTK 4.8's
 * gtk_file_chooser_set_choice does not move the drop-down of a fallback dialog). */
static GtkDropDown *find_choice_dropdown(GtkWidget *widget, const char *label)
{
    if (GTK_IS_DROP_DOWN(widget)) {
        GListModel *model = gtk_drop_down_get_model(GTK_DROP_DOWN(widget));
        if (GTK_IS_STRING_LIST(model) && g_list_model_get_n_items(model) > 0 &&
            g_strcmp0(gtk_string_list_get_string(GTK_STRING_LIST(model), 0), label) == 0)
            return GTK_DROP_DOWN(widget);
    }
    for (GtkWidget *child = gtk_widget_get_first_child(widget); child != NULL;
         child = gtk_widget_get_next_sibling(child)) {
        GtkDropDown *found = find_choice_dropdown(child, label);
        if (found != NULL)
            return found;
    }
    return NULL;
}

static gboolean file_exists(gpointer path)
{
    return g_file_test(path, G_FILE_TEST_EXISTS);
}

/* The window's Export As: the dialog (GTK's own under the test: no portal) with its format and
 * parameters choices. */
static void test_dialog(Fixture *f, gconstpointer data)
{
    GtkWidget *button = ui_test_child(f->window, RS_TYPE_WINDOW, "export_button");
    g_assert_false(gtk_widget_is_sensitive(button));
    char *source = generate(f);
    g_assert_true(gtk_widget_is_sensitive(button));
    g_signal_emit_by_name(button, "clicked");
    GtkWindow *dialog = ui_test_wait_for_toplevel(GTK_TYPE_FILE_CHOOSER_DIALOG, 5000);
    g_assert_nonnull(dialog);
    GtkFileChooser *chooser = GTK_FILE_CHOOSER(dialog);
    g_assert_cmpstr(gtk_file_chooser_get_choice(chooser, "format"), ==, "png");
    g_assert_cmpstr(gtk_file_chooser_get_choice(chooser, "parameters"), ==, "true");
    char *dir = g_dir_make_tmp("rs-export-XXXXXX", NULL);
    /* typed as a whole path into the name field, as a user may */
    char *typed = g_build_filename(dir, "exported", NULL);
    gtk_file_chooser_set_current_name(chooser, typed);
    g_free(typed);
    GtkDropDown *format = find_choice_dropdown(GTK_WIDGET(dialog), "PNG (lossless)");
    g_assert_nonnull(format);
    gtk_drop_down_set_selected(format, 1);
    g_assert_cmpstr(gtk_file_chooser_get_choice(chooser, "format"), ==, "jpeg");
    gtk_file_chooser_set_choice(chooser, "parameters", "false");
    ui_test_spin(100);
    g_free(ui_test_screenshot(GTK_WIDGET(dialog), "export-dialog"));
    gtk_dialog_response(GTK_DIALOG(dialog), GTK_RESPONSE_ACCEPT);
    char *dest = g_build_filename(dir, "exported.jpg", NULL);
    g_assert_true(ui_test_wait_until(file_exists, dest, 10000));
    ui_test_spin(100);
    check_jpeg(dest, FALSE);
    ui_test_remove_tree(dir);
    g_free(dest);
    g_free(dir);
    g_free(source);
}

int main(int argc, char **argv)
{
    ui_test_init(&argc, &argv);
    g_test_add_func("/export/target-names", test_target_names);
    g_test_add_func("/export/failures-leave-no-file", test_failures);
    g_test_add("/export/formats", Fixture, NULL, fixture_set_up, test_formats, fixture_tear_down);
    g_test_add("/export/dialog", Fixture, NULL, fixture_set_up, test_dialog, fixture_tear_down);
    return g_test_run();
}
