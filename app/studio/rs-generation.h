/* RsGeneration: one engine job on a worker thread (GTask; its GCancellable is the engine's).
 *
 * Previews and progress reach the main thread through a latest-value-wins slot: the worker
 * overwrites the pending frame of a branch (and the pending progress) and schedules at most one
 * idle; the idle emits what is there, oldest first. Stale frames are dropped, so memory stays at
 * one frame per branch whatever the number of steps, and the engine never waits for the UI.
 *
 * The job writes its history row as it starts (running) and ends (done, cancelled or failed,
 * with timings, peak memory, image path and a thumbnail), and saves the finished image with its
 * parameters into the output folder. */
#pragma once

#include <gdk/gdk.h>

#include "history-store.h"
#include "rs-model-handle.h"

G_BEGIN_DECLS

#define RS_TYPE_GENERATION (rs_generation_get_type())
G_DECLARE_FINAL_TYPE(RsGeneration, rs_generation, RS, GENERATION, GObject)

/* params is copied (its seed must be fixed); history may be NULL (no row written). */
RsGeneration *rs_generation_new(RsModelHandle *model, const ResditJobParams *params,
                                const char *output_folder, HistoryStore *history);

/* Signals (main thread):
 *   progress (gpointer const ResditProgress *)
 *   preview (int ResditBranch, GdkTexture *frame, int step, int ResditPhase, gboolean extra)
 *   finished () once the job has ended, after the last preview and progress. */
void rs_generation_start(RsGeneration *self, GCancellable *cancellable);
gboolean rs_generation_is_running(RsGeneration *self);
/* After finished: NULL on success, else the engine's error (RESDIT_ERROR_CANCELLED when
 * cancelled: no file was written). */
const GError *rs_generation_get_error(RsGeneration *self);

const ResditJobParams *rs_generation_get_params(RsGeneration *self);
/* After a successful run: the image, its file and a texture of it. */
const ResditImage *rs_generation_get_image(RsGeneration *self);
const char *rs_generation_get_image_path(RsGeneration *self);
GdkTexture *rs_generation_get_texture(RsGeneration *self);
/* The history row (0 when none was written) and why writing it failed (NULL when it did not). */
gint64 rs_generation_get_history_id(RsGeneration *self);
const char *rs_generation_get_history_error(RsGeneration *self);

/* A texture of RGB8 pixels (copied). */
GdkTexture *rs_texture_from_rgb(int width, int height, const guint8 *rgb);

G_END_DECLS
