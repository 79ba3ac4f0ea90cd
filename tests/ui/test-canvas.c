/* ui suite: the canvas's zoom and pan follow Loupe's rules, on a real generated gradient image. */
#include "config.h"

#include <math.h>

#include "rs-canvas.h"
#include "ui-test-util.h"

typedef struct {
    GtkWindow *window;
    RsCanvas *canvas;
} Fixture;

static gboolean canvas_ready(gpointer canvas)
{
    return rs_canvas_is_ready(canvas);
}

static void fixture_set_up(Fixture *f, gconstpointer image_size)
{
    ui_test_application(); /* initialises GTK */
    int side = GPOINTER_TO_INT(image_size);
    f->window = GTK_WINDOW(gtk_window_new());
    g_object_ref(f->window);
    gtk_window_set_default_size(f->window, 800, 600);
    f->canvas = RS_CANVAS(rs_canvas_new());
    gtk_window_set_child(f->window, GTK_WIDGET(f->canvas));
    GdkTexture *texture = ui_test_gradient_texture(side, side * 3 / 4);
    rs_canvas_set_texture(f->canvas, texture);
    g_object_unref(texture);
    /* The pyramid arrives through the main loop, never synchronously. */
    g_assert_false(rs_canvas_is_ready(f->canvas));
    ui_test_present(f->window);
    g_assert_true(ui_test_wait_until(canvas_ready, f->canvas, 10000));
}

static void fixture_tear_down(Fixture *f, gconstpointer data)
{
    gtk_window_destroy(f->window);
    ui_test_spin(20);
    g_assert_finalize_object(f->window);
}

static double canvas_width(Fixture *f)
{
    return gtk_widget_get_width(GTK_WIDGET(f->canvas));
}

static double canvas_height(Fixture *f)
{
    return gtk_widget_get_height(GTK_WIDGET(f->canvas));
}

static void test_starts_at_best_fit(Fixture *f, gconstpointer data)
{
    double fit = MIN(canvas_width(f) / 4096, canvas_height(f) / 3072);
    g_assert_true(rs_canvas_get_best_fit(f->canvas));
    g_assert_cmpfloat_with_epsilon(rs_canvas_get_zoom(f->canvas), fit, 1e-9);
    g_assert_cmpfloat(rs_canvas_get_zoom(f->canvas), <, 1.0);
    g_free(ui_test_screenshot(GTK_WIDGET(f->window), "canvas-best-fit"));
}

static void test_zoom_actions(Fixture *f, gconstpointer data)
{
    GtkWidget *canvas = GTK_WIDGET(f->canvas);
    double fit = rs_canvas_get_zoom(f->canvas);

    gtk_widget_activate_action(canvas, "canvas.zoom-in", NULL);
    g_assert_cmpfloat_with_epsilon(rs_canvas_get_zoom(f->canvas), fit * RS_CANVAS_ZOOM_STEP, 1e-9);
    g_assert_false(rs_canvas_get_best_fit(f->canvas));
    gtk_widget_activate_action(canvas, "canvas.zoom-in", NULL);
    g_assert_cmpfloat_with_epsilon(rs_canvas_get_zoom(f->canvas), fit * 1.5625, 1e-9);
    gtk_widget_activate_action(canvas, "canvas.zoom-out", NULL);
    g_assert_cmpfloat_with_epsilon(rs_canvas_get_zoom(f->canvas), fit * RS_CANVAS_ZOOM_STEP, 1e-9);

    gtk_widget_activate_action(canvas, "canvas.zoom-100", NULL);
    g_assert_cmpfloat(rs_canvas_get_zoom(f->canvas), ==, 1.0);
    /* 100 % keeps the image centre in the middle of the view. */
    double cx, cy;
    rs_canvas_get_center(f->canvas, &cx, &cy);
    g_assert_cmpfloat_with_epsilon(cx, 2048, 1e-6);
    g_assert_cmpfloat_with_epsilon(cy, 1536, 1e-6);

    gtk_widget_activate_action(canvas, "canvas.zoom-best-fit", NULL);
    g_assert_cmpfloat_with_epsilon(rs_canvas_get_zoom(f->canvas), fit, 1e-9);
    g_assert_true(rs_canvas_get_best_fit(f->canvas));

    /* Never below best fit, never above the maximum. */
    gtk_widget_activate_action(canvas, "canvas.zoom-out", NULL);
    g_assert_cmpfloat_with_epsilon(rs_canvas_get_zoom(f->canvas), fit, 1e-9);
    for (int i = 0; i < 40; i++)
        gtk_widget_activate_action(canvas, "canvas.zoom-in", NULL);
    g_assert_cmpfloat(rs_canvas_get_zoom(f->canvas), ==, RS_CANVAS_MAX_ZOOM);
}

static void test_zoom_keeps_point_under_pointer(Fixture *f, gconstpointer data)
{
    rs_canvas_zoom_original(f->canvas);
    double px = 150, py = 420;
    double cx, cy;
    rs_canvas_get_center(f->canvas, &cx, &cy);
    double z = rs_canvas_get_zoom(f->canvas);
    double image_x = cx + (px - canvas_width(f) / 2) / z;
    double image_y = cy + (py - canvas_height(f) / 2) / z;

    rs_canvas_zoom_at(f->canvas, 2.5, px, py);
    rs_canvas_get_center(f->canvas, &cx, &cy);
    z = rs_canvas_get_zoom(f->canvas);
    g_assert_cmpfloat(z, ==, 2.5);
    g_assert_cmpfloat_with_epsilon(cx + (px - canvas_width(f) / 2) / z, image_x, 1e-6);
    g_assert_cmpfloat_with_epsilon(cy + (py - canvas_height(f) / 2) / z, image_y, 1e-6);
}

static void test_pan_stays_inside_image(Fixture *f, gconstpointer data)
{
    rs_canvas_zoom_original(f->canvas);
    rs_canvas_pan(f->canvas, -100000, -100000);
    double cx, cy;
    rs_canvas_get_center(f->canvas, &cx, &cy);
    g_assert_cmpfloat_with_epsilon(cx, canvas_width(f) / 2, 1e-6);
    g_assert_cmpfloat_with_epsilon(cy, canvas_height(f) / 2, 1e-6);
    rs_canvas_pan(f->canvas, 100000, 100000);
    rs_canvas_get_center(f->canvas, &cx, &cy);
    g_assert_cmpfloat_with_epsilon(cx, 4096 - canvas_width(f) / 2, 1e-6);
    g_assert_cmpfloat_with_epsilon(cy, 3072 - canvas_height(f) / 2, 1e-6);

    /* The bottom-right corner of the gradient is on screen: red and green near 255. */
    gtk_test_widget_wait_for_draw(GTK_WIDGET(f->window));
    GdkTexture *shot = ui_test_render(GTK_WIDGET(f->canvas));
    guint32 corner = ui_test_pixel(shot, (int)canvas_width(f) - 2, (int)canvas_height(f) - 2);
    ui_test_assert_rgb(corner, 0xffff80, 3);
    g_object_unref(shot);
    g_free(ui_test_screenshot(GTK_WIDGET(f->window), "canvas-zoom-100-corner"));
}

/* A 4096 x 3072 image is drawn from a few tiles of the pyramid level nearest the zoom. */
static void test_draws_few_tiles(Fixture *f, gconstpointer data)
{
    gtk_test_widget_wait_for_draw(GTK_WIDGET(f->window));
    GdkTexture *shot = ui_test_render(GTK_WIDGET(f->canvas));
    g_object_unref(shot);
    double zoom = rs_canvas_get_zoom(f->canvas);
    int level = rs_canvas_get_drawn_level(f->canvas);
    g_assert_cmpint(level, ==, (int)floor(log2(1 / zoom)));
    g_assert_cmpint(rs_canvas_get_drawn_tiles(f->canvas), <=, 4);

    rs_canvas_zoom_original(f->canvas);
    gint64 start = g_get_monotonic_time();
    for (int i = 0; i < 10; i++) {
        rs_canvas_pan(f->canvas, 37, 23);
        shot = ui_test_render(GTK_WIDGET(f->canvas));
        g_object_unref(shot);
    }
    g_test_message("10 panned frames at 100 %%, each drawn and read back: %.1f ms each",
                   (g_get_monotonic_time() - start) / 10000.0);
    g_assert_cmpint(rs_canvas_get_drawn_level(f->canvas), ==, 0);
    /* An 800 x 600 view over 512 px tiles touches at most 3 x 3 of the 48 tiles. */
    g_assert_cmpint(rs_canvas_get_drawn_tiles(f->canvas), <=, 9);
    g_free(ui_test_screenshot(GTK_WIDGET(f->window), "canvas-zoom-100"));
}

/* A new image is drawn whole while its pyramid builds, then from tiles; the view is kept for a new
 * frame of the same size (a preview followed by the next one). */
static void test_new_frame_keeps_view(Fixture *f, gconstpointer data)
{
    rs_canvas_zoom_at(f->canvas, 2.0, 100, 100);
    double cx, cy;
    rs_canvas_get_center(f->canvas, &cx, &cy);
    GdkTexture *next = ui_test_gradient_texture(4096, 3072);
    rs_canvas_set_texture(f->canvas, next);
    g_object_unref(next);
    g_assert_false(rs_canvas_is_ready(f->canvas));
    GdkTexture *shot = ui_test_render(GTK_WIDGET(f->canvas));
    g_object_unref(shot);
    if (!rs_canvas_is_ready(f->canvas))
        g_assert_cmpint(rs_canvas_get_drawn_level(f->canvas), ==, -1);
    g_assert_true(ui_test_wait_until(canvas_ready, f->canvas, 10000));
    double cx2, cy2;
    rs_canvas_get_center(f->canvas, &cx2, &cy2);
    g_assert_cmpfloat(rs_canvas_get_zoom(f->canvas), ==, 2.0);
    g_assert_cmpfloat(cx2, ==, cx);
    g_assert_cmpfloat(cy2, ==, cy);
    shot = ui_test_render(GTK_WIDGET(f->canvas));
    g_object_unref(shot);
    g_assert_cmpint(rs_canvas_get_drawn_level(f->canvas), ==, 0);

    /* A different size starts again at best fit. */
    GdkTexture *other = ui_test_gradient_texture(1024, 768);
    rs_canvas_set_texture(f->canvas, other);
    g_object_unref(other);
    g_assert_true(rs_canvas_get_best_fit(f->canvas));
    g_assert_cmpfloat(rs_canvas_get_zoom(f->canvas), ==, rs_canvas_get_fit_zoom(f->canvas));
}

/* A small image is shown at 100 % by best fit: best fit never upscales. */
static void test_best_fit_never_upscales(Fixture *f, gconstpointer data)
{
    g_assert_cmpfloat(rs_canvas_get_fit_zoom(f->canvas), ==, 1.0);
    g_assert_cmpfloat(rs_canvas_get_zoom(f->canvas), ==, 1.0);
    gtk_widget_activate_action(GTK_WIDGET(f->canvas), "canvas.zoom-in", NULL);
    gtk_widget_activate_action(GTK_WIDGET(f->canvas), "canvas.zoom-best-fit", NULL);
    g_assert_cmpfloat(rs_canvas_get_zoom(f->canvas), ==, 1.0);
    gtk_widget_activate_action(GTK_WIDGET(f->canvas), "canvas.zoom-out", NULL);
    g_assert_cmpfloat(rs_canvas_get_zoom(f->canvas), ==, 1.0);
    /* Resizing the window larger keeps 100 %. */
    gtk_window_set_default_size(f->window, 1200, 900);
    ui_test_spin(100);
    g_assert_cmpfloat(rs_canvas_get_zoom(f->canvas), ==, 1.0);
    g_free(ui_test_screenshot(GTK_WIDGET(f->window), "canvas-small-image"));
}

int main(int argc, char **argv)
{
    ui_test_init(&argc, &argv);
    gconstpointer big = GINT_TO_POINTER(4096), small = GINT_TO_POINTER(320);
    g_test_add("/canvas/starts-at-best-fit", Fixture, big, fixture_set_up, test_starts_at_best_fit,
               fixture_tear_down);
    g_test_add("/canvas/zoom-actions", Fixture, big, fixture_set_up, test_zoom_actions,
               fixture_tear_down);
    g_test_add("/canvas/zoom-around-pointer", Fixture, big, fixture_set_up,
               test_zoom_keeps_point_under_pointer, fixture_tear_down);
    g_test_add("/canvas/pan-clamped", Fixture, big, fixture_set_up, test_pan_stays_inside_image,
               fixture_tear_down);
    g_test_add("/canvas/tiles", Fixture, big, fixture_set_up, test_draws_few_tiles,
               fixture_tear_down);
    g_test_add("/canvas/new-frame-keeps-view", Fixture, big, fixture_set_up,
               test_new_frame_keeps_view, fixture_tear_down);
    g_test_add("/canvas/best-fit-never-upscales", Fixture, small, fixture_set_up,
               test_best_fit_never_upscales, fixture_tear_down);
    return g_test_run();
}
