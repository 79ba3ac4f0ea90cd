/* Helpers for the ui suite: the application under test, waiting, screenshots. */
#pragma once

#include <adwaita.h>

#include "rs-application.h"
#include "rs-job-settings.h"
#include "rs-window.h"

G_BEGIN_DECLS

/* Initialises gettext for the build tree's translations and GTest; call first in main(). */
void ui_test_init(int *argc, char ***argv);

/* A registered (started-up) application that is not running a main loop. */
RsApplication *ui_test_application(void);

/* Spins the main context until condition(data) is TRUE or timeout_ms passes; returns the result. */
gboolean ui_test_wait_until(gboolean (*condition)(gpointer data), gpointer data, guint timeout_ms);

/* Spins the main context for about ms milliseconds. */
void ui_test_spin(guint ms);

/* Renders widget with its window's renderer and returns the texture. */
GdkTexture *ui_test_render(GtkWidget *widget);

/* Saves widget as NAME.png in $RS_SCREENSHOT_DIR and returns the path. */
char *ui_test_screenshot(GtkWidget *widget, const char *name);

/* Reads one pixel of a texture as 0xAARRGGBB (premultiplied, as GdkTexture downloads it). */
guint32 ui_test_pixel(GdkTexture *texture, int x, int y);

/* A real test image: red grows left to right, green top to bottom, blue 128, opaque. */
GdkTexture *ui_test_gradient_texture(int width, int height);

/* A window from the test application, presented and drawn. */
GtkWindow *ui_test_present(GtkWindow *window);

/* Finds a template child of widget (declared by type) by its id. */
gpointer ui_test_child(gpointer widget, GType type, const char *name);

/* Asserts that colour a (0xAARRGGBB) is within tolerance of rgb (0xRRGGBB) per channel. */
void ui_test_assert_rgb(guint32 a, guint32 rgb, int tolerance);

/* Waits up to timeout_ms for a mapped toplevel window of that type; returns it, or NULL. */
GtkWindow *ui_test_wait_for_toplevel(GType type, guint timeout_ms);

/* TRUE once the window's model is open ("model-ready"). */
gboolean ui_test_model_ready(gpointer window);

/* Removes a temporary tree; links are removed, never followed. */
void ui_test_remove_tree(const char *path);

/* A main window on the self-test model with an output folder and a history of its own, as the
 * studio tests use it: set up as a g_test_add fixture, torn down after (the window may have been
 * closed by the test: window NULL). */
typedef struct {
    RsWindow *window;
    RsJobSettings *job;
    GSettings *settings;
    char *output;
    char *history_dir;
    gboolean finished; /* set by "job-finished" */
} UiStudio;

void ui_studio_set_up(UiStudio *f, gconstpointer data);
void ui_studio_tear_down(UiStudio *f, gconstpointer data);
/* For ui_test_wait_until: the job that was started last has finished. */
gboolean ui_studio_job_finished(gpointer studio);

G_END_DECLS
