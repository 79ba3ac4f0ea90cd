/* ui suite: the compare mode. The split view draws one image left of its divider and the other
 * right of it (or side by side); the window's compare view gets the branches of a real job, and
 * "Compare Without ResDiT" runs the same seed in direct mode and shows the two split. */
#include "config.h"

#include <string.h>

#include "resdit.h"
#include "rs-compare-view.h"
#include "rs-split-view.h"
#include "rs-window.h"
#include "ui-test-util.h"

typedef UiStudio Fixture;

static GdkTexture *solid_texture(int width, int height, guint8 r, guint8 g, guint8 b)
{
    gsize size = (gsize)width * height * 3;
    guint8 *rgb = g_malloc(size);
    for (gsize i = 0; i < size; i += 3) {
        rgb[i] = r;
        rgb[i + 1] = g;
        rgb[i + 2] = b;
    }
    GBytes *bytes = g_bytes_new_take(rgb, size);
    GdkTexture *texture =
        gdk_memory_texture_new(width, height, GDK_MEMORY_R8G8B8, bytes, (gsize)width * 3);
    g_bytes_unref(bytes);
    return texture;
}

/* A split view in a 400 x 300 window, showing a red and a blue image of 300 x 300 (best fit: the
 * image takes x 50..350). */
static void test_split_view(void)
{
    ui_test_application(); /* initialises GTK */
    GtkWindow *window = GTK_WINDOW(gtk_window_new());
    gtk_window_set_default_size(window, 400, 300);
    GtkWidget *split = rs_split_view_new();
    gtk_window_set_child(window, split);
    GdkTexture *red = solid_texture(300, 300, 255, 0, 0);
    GdkTexture *blue = solid_texture(150, 150, 0, 0, 255); /* a preview: drawn just as large */
    rs_split_view_set_textures(RS_SPLIT_VIEW(split), red, blue);
    ui_test_present(window);
    g_assert_cmpint(gtk_widget_get_width(split), ==, 400);

    /* The divider at the middle (x = 200): red left of it, blue right of it. */
    GdkTexture *shot = ui_test_render(split);
    ui_test_assert_rgb(ui_test_pixel(shot, 190, 150), 0xff0000, 2);
    ui_test_assert_rgb(ui_test_pixel(shot, 210, 150), 0x0000ff, 2);
    ui_test_assert_rgb(ui_test_pixel(shot, 60, 20), 0xff0000, 2);
    ui_test_assert_rgb(ui_test_pixel(shot, 340, 280), 0x0000ff, 2);
    g_object_unref(shot);
    g_free(ui_test_screenshot(split, "split-view"));

    /* The divider moved to a quarter: x = 100 .. 200 is now blue. */
    rs_split_view_set_position(RS_SPLIT_VIEW(split), 0.25);
    ui_test_spin(50);
    shot = ui_test_render(split);
    ui_test_assert_rgb(ui_test_pixel(shot, 90, 150), 0xff0000, 2);
    ui_test_assert_rgb(ui_test_pixel(shot, 110, 150), 0x0000ff, 2);
    ui_test_assert_rgb(ui_test_pixel(shot, 190, 150), 0x0000ff, 2);
    g_object_unref(shot);

    /* Zoomed in 2x around the centre: the same point of both images under the same pixel, the
     * divider where it was. */
    rs_split_view_zoom_at(RS_SPLIT_VIEW(split), 2.0, 200, 150);
    g_assert_cmpfloat(rs_split_view_get_zoom(RS_SPLIT_VIEW(split)), ==, 2.0);
    ui_test_spin(50);
    shot = ui_test_render(split);
    ui_test_assert_rgb(ui_test_pixel(shot, 5, 150), 0xff0000, 2); /* the image fills the width */
    ui_test_assert_rgb(ui_test_pixel(shot, 110, 150), 0x0000ff, 2);
    g_object_unref(shot);
    rs_split_view_reset_zoom(RS_SPLIT_VIEW(split));

    /* Side by side: each image fits its half (200 x 300: 200 x 200 at y 50..250). */
    rs_split_view_set_side_by_side(RS_SPLIT_VIEW(split), TRUE);
    ui_test_spin(50);
    shot = ui_test_render(split);
    ui_test_assert_rgb(ui_test_pixel(shot, 100, 150), 0xff0000, 2);
    ui_test_assert_rgb(ui_test_pixel(shot, 300, 150), 0x0000ff, 2);
    ui_test_assert_rgb(ui_test_pixel(shot, 190, 150), 0xff0000, 2);
    g_object_unref(shot);
    g_free(ui_test_screenshot(split, "split-view-side-by-side"));

    gtk_window_destroy(window);
    g_object_unref(red);
    g_object_unref(blue);
}

static void fixture_set_up(Fixture *f, gconstpointer data)
{
    ui_studio_set_up(f, data);
    g_object_set(f->job, "prompt", "compare", "random-seed", FALSE, "seed", 4242, "aspect", "1:1",
                 "size-preset", "512", NULL);
    g_object_set(f->job, "steps", 6, "global-steps", 0, "local-steps", 0, NULL);
    g_object_set(f->job, "global-steps", 2, "local-steps", 2, NULL);
}

static void fixture_tear_down(Fixture *f, gconstpointer data)
{
    ui_studio_tear_down(f, data);
}

static gboolean textures_differ(GdkTexture *a, GdkTexture *b)
{
    int w = gdk_texture_get_width(a), h = gdk_texture_get_height(a);
    g_assert_cmpint(gdk_texture_get_width(b), ==, w);
    g_assert_cmpint(gdk_texture_get_height(b), ==, h);
    gsize stride = (gsize)w * 4;
    guint8 *pa = g_malloc(stride * h), *pb = g_malloc(stride * h);
    gdk_texture_download(a, pa, stride);
    gdk_texture_download(b, pb, stride);
    gboolean differ = memcmp(pa, pb, stride * h) != 0;
    g_free(pa);
    g_free(pb);
    return differ;
}

static void run_and_wait(Fixture *f, const char *action)
{
    f->finished = FALSE;
    g_assert_true(gtk_widget_activate_action(GTK_WIDGET(f->window), action, NULL));
    g_assert_true(ui_test_wait_until(ui_studio_job_finished, f, 90000));
}

static void test_compare_branches(Fixture *f, gconstpointer data)
{
    GtkWidget *direct_button = ui_test_child(f->window, RS_TYPE_WINDOW, "compare_direct_button");
    g_assert_false(gtk_widget_is_sensitive(direct_button));
    run_and_wait(f, "win.generate");

    RsCompareView *compare = ui_test_child(f->window, RS_TYPE_WINDOW, "compare_view");
    for (int s = RS_COMPARE_GLOBAL; s <= RS_COMPARE_FINAL; s++)
        g_assert_nonnull(rs_compare_view_get_source(compare, s));
    g_assert_null(rs_compare_view_get_source(compare, RS_COMPARE_DIRECT));

    /* The compare mode takes the canvas; global left of the divider, local right of it. */
    gtk_widget_activate_action(GTK_WIDGET(f->window), "win.compare", NULL);
    GtkStack *stack = ui_test_child(f->window, RS_TYPE_WINDOW, "canvas_stack");
    g_assert_cmpstr(gtk_stack_get_visible_child_name(stack), ==, "compare");
    RsSplitView *split = rs_compare_view_get_split_view(compare);
    rs_compare_view_set_pair(compare, RS_COMPARE_GLOBAL, RS_COMPARE_LOCAL);
    g_assert_true(rs_split_view_get_start(split) ==
                  rs_compare_view_get_source(compare, RS_COMPARE_GLOBAL));
    g_assert_true(rs_split_view_get_end(split) ==
                  rs_compare_view_get_source(compare, RS_COMPARE_LOCAL));
    ui_test_spin(100);
    g_free(ui_test_screenshot(GTK_WIDGET(f->window), "compare-branches"));
    gtk_widget_activate_action(GTK_WIDGET(f->window), "win.compare", NULL);
    g_assert_cmpstr(gtk_stack_get_visible_child_name(stack), ==, "canvas");

    /* The same seed without ResDiT: a second job in direct mode, then the two split. */
    g_assert_true(gtk_widget_is_sensitive(direct_button));
    GdkTexture *resdit = g_object_ref(rs_compare_view_get_source(compare, RS_COMPARE_FINAL));
    run_and_wait(f, "win.compare-direct");
    GdkTexture *direct = rs_compare_view_get_source(compare, RS_COMPARE_DIRECT);
    g_assert_nonnull(direct);
    g_assert_true(rs_compare_view_get_source(compare, RS_COMPARE_FINAL) == resdit);
    g_assert_cmpstr(gtk_stack_get_visible_child_name(stack), ==, "compare");
    g_assert_true(rs_split_view_get_start(split) == resdit);
    g_assert_true(rs_split_view_get_end(split) == direct);
    g_assert_true(textures_differ(resdit, direct)); /* the schedule changes the image */
    /* On screen: the ResDiT image left of the divider, the direct one right of it. */
    ui_test_spin(100);
    GdkTexture *shot = ui_test_render(GTK_WIDGET(split));
    int w = gdk_texture_get_width(shot), h = gdk_texture_get_height(shot);
    g_assert_cmpint(w, >, 20);
    g_assert_cmpint(h, >, 20);
    g_object_unref(shot);
    g_free(ui_test_screenshot(GTK_WIDGET(f->window), "compare-without-resdit"));

    /* The direct image is a real job, recorded with its mode. */
    char *json = NULL;
    GPtrArray *files = g_ptr_array_new_with_free_func(g_free);
    GDir *dir = g_dir_open(f->output, 0, NULL);
    for (const char *name; (name = g_dir_read_name(dir)) != NULL;)
        if (g_str_has_suffix(name, ".png"))
            g_ptr_array_add(files, g_build_filename(f->output, name, NULL));
    g_dir_close(dir);
    g_assert_cmpuint(files->len, ==, 2);
    int direct_records = 0;
    for (guint i = 0; i < files->len; i++) {
        json = resdit_png_read_parameters(g_ptr_array_index(files, i), NULL);
        g_assert_nonnull(json);
        ResditJobParams params;
        resdit_job_params_init(&params);
        g_assert_true(resdit_job_params_from_json(&params, json, NULL));
        g_assert_cmpuint(params.seed, ==, 4242);
        if (!params.schedule && params.fixed_mode == RESDIT_MODE_DIRECT)
            direct_records++;
        resdit_job_params_clear(&params);
        g_free(json);
    }
    g_assert_cmpint(direct_records, ==, 1);
    g_ptr_array_unref(files);
    /* a direct image cannot be compared without ResDiT again */
    g_assert_false(gtk_widget_is_sensitive(direct_button));
    g_object_unref(resdit);
}

int main(int argc, char **argv)
{
    ui_test_init(&argc, &argv);
    g_test_add_func("/compare/split-view", test_split_view);
    g_test_add("/compare/branches-and-direct", Fixture, NULL, fixture_set_up,
               test_compare_branches, fixture_tear_down);
    return g_test_run();
}
