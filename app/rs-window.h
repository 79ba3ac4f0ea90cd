/* RsWindow: the main window (header bar, parameters panel, canvas). */
#pragma once

#include <adwaita.h>

#include "rs-application.h"
#include "rs-job-settings.h"

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

/* Shows the latest frame of a branch: enables its view and, when that view is selected, puts it
 * on the canvas. step is 1-based; phase names the schedule phase it was made in. */
void rs_window_show_frame(RsWindow *self, RsBranch branch, GdkTexture *frame, int step, int steps,
                          const char *phase);

/* Forgets every frame (a new job starts); the views become insensitive again. */
void rs_window_clear_frames(RsWindow *self);

G_END_DECLS
