/* RsGeneration: one engine job on a worker thread, with the frame slot described in the header. */
#include "rs-generation.h"

#include "job-record.h"

#include <glib/gi18n.h>
#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#include "rs-engine-params.h"

#define N_ENGINE_BRANCHES (RESDIT_BRANCH_FINAL + 1)

typedef struct {
    GBytes *rgb; /* NULL when nothing is pending */
    int width, height, step;
    ResditPhase phase;
    gboolean extra;
    guint64 sequence;
} PendingFrame;

struct _RsGeneration {
    GObject parent_instance;

    RsModelHandle *model;
    ResditJobParams params;
    char *output_folder;
    HistoryStore *history;
    gboolean running, finished;
    GError *error;

    /* The slot, shared with the worker. */
    GMutex lock;
    PendingFrame frames[N_ENGINE_BRANCHES];
    ResditProgress progress;
    gboolean progress_pending;
    gboolean idle_pending;
    guint64 sequence;
    GMainContext *context;

    /* Results, written by the worker before the task returns. */
    ResditImage *image;
    char *image_path;
    GdkTexture *texture;
    gint64 history_id;
    char *history_error;
};

G_DEFINE_FINAL_TYPE(RsGeneration, rs_generation, G_TYPE_OBJECT)

enum { SIGNAL_PROGRESS, SIGNAL_PREVIEW, SIGNAL_FINISHED, N_SIGNALS };
static guint signals[N_SIGNALS];

GdkTexture *rs_texture_from_rgb(int width, int height, const guint8 *rgb)
{
    GBytes *bytes = g_bytes_new(rgb, (gsize)width * height * 3);
    GdkTexture *texture =
        gdk_memory_texture_new(width, height, GDK_MEMORY_R8G8B8, bytes, (gsize)width * 3);
    g_bytes_unref(bytes);
    return texture;
}

/* ---- the slot: worker side ---------------------------------------------------------------- */

static gboolean deliver_pending(gpointer data);

static void schedule_delivery_locked(RsGeneration *self)
{
    if (self->idle_pending)
        return;
    self->idle_pending = TRUE;
    GSource *source = g_idle_source_new();
    g_source_set_callback(source, deliver_pending, g_object_ref(self), g_object_unref);
    g_source_attach(source, self->context);
    g_source_unref(source);
}

static void on_engine_progress(const ResditProgress *progress, gpointer data)
{
    RsGeneration *self = data;
    g_mutex_lock(&self->lock);
    self->progress = *progress;
    self->progress_pending = TRUE;
    schedule_delivery_locked(self);
    g_mutex_unlock(&self->lock);
}

/* Bilinear resampling of RGB8 pixels to w x h. */
static GBytes *resample(const guint8 *src, int sw, int sh, int w, int h)
{
    guint8 *dst = g_malloc((gsize)w * h * 3);
    for (int y = 0; y < h; y++) {
        double fy = MAX((y + 0.5) * sh / h - 0.5, 0);
        int y0 = MIN((int)fy, sh - 1), y1 = MIN(y0 + 1, sh - 1);
        double wy = fy - y0;
        for (int x = 0; x < w; x++) {
            double fx = MAX((x + 0.5) * sw / w - 0.5, 0);
            int x0 = MIN((int)fx, sw - 1), x1 = MIN(x0 + 1, sw - 1);
            double wx = fx - x0;
            for (int c = 0; c < 3; c++) {
                double top = src[((gsize)y0 * sw + x0) * 3 + c] * (1 - wx) +
                             src[((gsize)y0 * sw + x1) * 3 + c] * wx;
                double bottom = src[((gsize)y1 * sw + x0) * 3 + c] * (1 - wx) +
                                src[((gsize)y1 * sw + x1) * 3 + c] * wx;
                dst[((gsize)y * w + x) * 3 + c] = (guint8)(top * (1 - wy) + bottom * wy + 0.5);
            }
        }
    }
    return g_bytes_new_take(dst, (gsize)w * h * 3);
}

/* Previews of small jobs come at latent resolution (1/8 of the image); they are shown at the
 * image's size up to the preview size, so the canvas does not jump when the final image lands. */
static GBytes *preview_pixels(RsGeneration *self, const ResditPreview *preview, int *w, int *h)
{
    int limit = self->params.preview_max_side > 0 ? self->params.preview_max_side : 512;
    double scale = MIN(1.0, (double)limit / MAX(self->params.width, self->params.height));
    int tw = MAX((int)(self->params.width * scale + 0.5), 1);
    int th = MAX((int)(self->params.height * scale + 0.5), 1);
    if (preview->width >= tw || preview->height >= th) {
        *w = preview->width;
        *h = preview->height;
        return g_bytes_new(preview->rgb, (gsize)preview->width * preview->height * 3);
    }
    *w = tw;
    *h = th;
    return resample(preview->rgb, preview->width, preview->height, tw, th);
}

static void on_engine_preview(const ResditPreview *preview, gpointer data)
{
    RsGeneration *self = data;
    if (preview->branch >= N_ENGINE_BRANCHES)
        return;
    int width, height;
    GBytes *rgb = preview_pixels(self, preview, &width, &height);
    g_mutex_lock(&self->lock);
    PendingFrame *frame = &self->frames[preview->branch];
    GBytes *stale = frame->rgb;
    frame->rgb = rgb;
    frame->width = width;
    frame->height = height;
    frame->step = preview->step;
    frame->phase = preview->phase;
    frame->extra = preview->extra_pass;
    frame->sequence = ++self->sequence;
    schedule_delivery_locked(self);
    g_mutex_unlock(&self->lock);
    if (stale != NULL)
        g_bytes_unref(stale);
}

/* ---- the slot: main thread side ----------------------------------------------------------- */

static gboolean deliver_pending(gpointer data)
{
    RsGeneration *self = data;
    PendingFrame frames[N_ENGINE_BRANCHES];
    g_mutex_lock(&self->lock);
    memcpy(frames, self->frames, sizeof frames);
    for (int b = 0; b < N_ENGINE_BRANCHES; b++)
        self->frames[b].rgb = NULL;
    ResditProgress progress = self->progress;
    gboolean has_progress = self->progress_pending;
    self->progress_pending = FALSE;
    self->idle_pending = FALSE;
    g_mutex_unlock(&self->lock);

    /* Oldest first, so branches appear in the order the schedule made them. */
    for (;;) {
        int next = -1;
        for (int b = 0; b < N_ENGINE_BRANCHES; b++)
            if (frames[b].rgb != NULL && (next < 0 || frames[b].sequence < frames[next].sequence))
                next = b;
        if (next < 0)
            break;
        PendingFrame *f = &frames[next];
        GdkTexture *texture = gdk_memory_texture_new(f->width, f->height, GDK_MEMORY_R8G8B8, f->rgb,
                                                     (gsize)f->width * 3);
        g_signal_emit(self, signals[SIGNAL_PREVIEW], 0, next, texture, f->step, (int)f->phase,
                      f->extra);
        g_object_unref(texture);
        g_clear_pointer(&f->rgb, g_bytes_unref);
    }
    if (has_progress)
        g_signal_emit(self, signals[SIGNAL_PROGRESS], 0, &progress);
    return G_SOURCE_REMOVE;
}

/* ---- the worker --------------------------------------------------------------------------- */

static char *unique_image_path(const char *folder, guint64 seed)
{
    GDateTime *now = g_date_time_new_now_local();
    char *stamp = g_date_time_format(now, "%Y%m%d-%H%M%S");
    g_date_time_unref(now);
    char *path = NULL;
    for (int n = 1; path == NULL || g_file_test(path, G_FILE_TEST_EXISTS); n++) {
        g_free(path);
        char *name =
            n == 1 ? g_strdup_printf("resdit-%s-%" G_GUINT64_FORMAT ".png", stamp, seed)
                   : g_strdup_printf("resdit-%s-%" G_GUINT64_FORMAT "-%d.png", stamp, seed, n);
        path = g_build_filename(folder, name, NULL);
        g_free(name);
    }
    g_free(stamp);
    return path;
}

static void note_history_error(RsGeneration *self, GError *error)
{
    if (error != NULL && self->history_error == NULL)
        self->history_error = g_strdup(error->message);
    g_clear_error(&error);
}

static void begin_history(RsGeneration *self)
{
    if (self->history == NULL)
        return;
    GError *error = NULL;
    self->history_id = job_record_begin(self->history, &self->params, self->model->model,
                                        self->model->fingerprint, &error);
    note_history_error(self, error);
}

static void finish_history(RsGeneration *self, const GError *job_error)
{
    if (self->history_id == 0)
        return;
    GError *error = NULL;
    job_record_finish(self->history, self->history_id, self->image, self->image_path, job_error,
                      &error);
    note_history_error(self, error);
}

static gboolean save_image(RsGeneration *self, GError **error)
{
    if (g_mkdir_with_parents(self->output_folder, 0755) != 0) {
        int saved = errno;
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_IO,
                    _("Could not create the output folder “%s”: %s."), self->output_folder,
                    g_strerror(saved));
        return FALSE;
    }
    char *path = unique_image_path(self->output_folder, self->image->seed);
    if (!resdit_image_save_png(self->image, path, error)) {
        g_free(path);
        return FALSE;
    }
    self->image_path = path;
    return TRUE;
}

static void run_in_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    RsGeneration *self = source;
    begin_history(self);
    ResditCallbacks callbacks = {on_engine_progress, on_engine_preview, self};
    GError *error = NULL;
    self->image =
        resdit_generate(self->model->model, &self->params, &callbacks, cancellable, &error);
    if (self->image != NULL && save_image(self, &error))
        self->texture =
            rs_texture_from_rgb(self->image->width, self->image->height, self->image->rgb);
    finish_history(self, error);
    if (error != NULL)
        g_task_return_error(task, error);
    else
        g_task_return_boolean(task, TRUE);
}

static void on_task_done(GObject *source, GAsyncResult *result, gpointer data)
{
    RsGeneration *self = RS_GENERATION(source);
    /* Frames still waiting in the slot come before the result. */
    deliver_pending(self);
    g_task_propagate_boolean(G_TASK(result), &self->error);
    self->running = FALSE;
    self->finished = TRUE;
    g_signal_emit(self, signals[SIGNAL_FINISHED], 0);
}

void rs_generation_start(RsGeneration *self, GCancellable *cancellable)
{
    g_return_if_fail(!self->running && !self->finished);
    self->running = TRUE;
    GTask *task = g_task_new(self, cancellable, on_task_done, NULL);
    g_task_set_source_tag(task, rs_generation_start);
    /* The engine reports its own cancellation; GTask must not replace the result with its own. */
    g_task_set_return_on_cancel(task, FALSE);
    g_task_set_check_cancellable(task, FALSE);
    g_task_run_in_thread(task, run_in_thread);
    g_object_unref(task);
}

gboolean rs_generation_is_running(RsGeneration *self)
{
    return self->running;
}

const GError *rs_generation_get_error(RsGeneration *self)
{
    return self->error;
}

const ResditJobParams *rs_generation_get_params(RsGeneration *self)
{
    return &self->params;
}

const ResditImage *rs_generation_get_image(RsGeneration *self)
{
    return self->image_path != NULL ? self->image : NULL;
}

const char *rs_generation_get_image_path(RsGeneration *self)
{
    return self->image_path;
}

GdkTexture *rs_generation_get_texture(RsGeneration *self)
{
    return self->texture;
}

gint64 rs_generation_get_history_id(RsGeneration *self)
{
    return self->history_id;
}

const char *rs_generation_get_history_error(RsGeneration *self)
{
    return self->history_error;
}

static void rs_generation_finalize(GObject *object)
{
    RsGeneration *self = RS_GENERATION(object);
    for (int b = 0; b < N_ENGINE_BRANCHES; b++)
        g_clear_pointer(&self->frames[b].rgb, g_bytes_unref);
    g_mutex_clear(&self->lock);
    rs_model_handle_unref(self->model);
    resdit_job_params_clear(&self->params);
    g_free(self->output_folder);
    g_clear_object(&self->history);
    g_clear_pointer(&self->image, resdit_image_free);
    g_free(self->image_path);
    g_clear_object(&self->texture);
    g_free(self->history_error);
    g_clear_error(&self->error);
    g_main_context_unref(self->context);
    G_OBJECT_CLASS(rs_generation_parent_class)->finalize(object);
}

static void rs_generation_class_init(RsGenerationClass *klass)
{
    G_OBJECT_CLASS(klass)->finalize = rs_generation_finalize;
    signals[SIGNAL_PROGRESS] = g_signal_new("progress", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST,
                                            0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
    signals[SIGNAL_PREVIEW] = g_signal_new(
        "preview", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 5,
        G_TYPE_INT, GDK_TYPE_TEXTURE, G_TYPE_INT, G_TYPE_INT, G_TYPE_BOOLEAN);
    signals[SIGNAL_FINISHED] = g_signal_new("finished", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST,
                                            0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void rs_generation_init(RsGeneration *self)
{
    g_mutex_init(&self->lock);
    self->context = g_main_context_ref_thread_default();
}

RsGeneration *rs_generation_new(RsModelHandle *model, const ResditJobParams *params,
                                const char *output_folder, HistoryStore *history)
{
    RsGeneration *self = g_object_new(RS_TYPE_GENERATION, NULL);
    self->model = rs_model_handle_ref(model);
    resdit_job_params_copy(&self->params, params); /* its own prompt and LoRA list */
    self->output_folder = g_strdup(output_folder);
    self->history = history != NULL ? g_object_ref(history) : NULL;
    return self;
}
