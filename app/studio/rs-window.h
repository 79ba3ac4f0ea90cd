/* RsWindow: the main window (header bar, parameters panel, canvas). */
#pragma once

#include <adwaita.h>

#include "rs-application.h"
#include "rs-job-queue.h"
#include "rs-job-settings.h"
#include "rs-run-guard.h"

G_BEGIN_DECLS

#define RS_TYPE_WINDOW (rs_window_get_type())
G_DECLARE_FINAL_TYPE(RsWindow, rs_window, RS, WINDOW, AdwApplicationWindow)

/* The branches a frame can come from, in the order of the view switcher. */
typedef enum {
    RS_BRANCH_GLOBAL,
    RS_BRANCH_LOCAL,
    RS_BRANCH_FUSED,
    RS_BRANCH_FINAL,
    RS_N_BRANCHES
} RsBranch;

RsWindow *rs_window_new(RsApplication *app);

RsJobSettings *rs_window_get_job(RsWindow *self);
/* Suspend inhibition and the end-of-job notification (rs-run-guard.h). */
RsRunGuard *rs_window_get_run_guard(RsWindow *self);

/* The jobs waiting for the running one (Generate during a job, a batch, Re-run from the
 * history); the window starts the first when a job ends. */
RsJobQueue *rs_window_get_queue(RsWindow *self);

/* Shows the latest frame of a branch: enables its view and, when that view is selected, puts it
 * on the canvas. step is 1-based; phase names the schedule phase it was made in. */
void rs_window_show_frame(RsWindow *self, RsBranch branch, GdkTexture *frame, int step, int steps,
                          const char *phase);

/* Forgets every frame (a new job starts); the views become insensitive again. */
void rs_window_clear_frames(RsWindow *self);

/* Loads the generation parameters of a PNG (this app's record, else an A1111 "parameters" text)
 * into the controls, as dropping the file on the window does. FALSE when it has none. */
gboolean rs_window_load_parameters(RsWindow *self, const char *path);

/* Image to image from any image file (what dropping it on the window and File › Open Image do):
 * it becomes the job's source ("init-image"; other formats than PNG through a PNG copy, made on
 * a worker thread) and a PNG with generation parameters brings them along. */
void rs_window_open_image(RsWindow *self, const char *path);

/* Shows the folder that holds path in the file manager. */
void rs_window_show_folder_of(RsWindow *self, const char *path);

G_END_DECLS
