/* RsWindow: wires the header bar (model picker, Generate/Cancel), the parameters panel, the
 * canvas with its zoom actions and view switcher, the engine job (rs-generation.c) and its
 * progress, and keeps window size and parameters in GSettings. */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "history-store.h"
#include "rs-a1111.h"
#include "rs-canvas.h"
#include "rs-compare-view.h"
#include "rs-engine-params.h"
#include "rs-export-dialog.h"
#include "rs-fullscreen.h"
#include "rs-generation.h"
#include "rs-history-gallery.h"
#include "rs-history-sidebar.h"
#include "rs-image-drag.h"
#include "rs-img2img.h"
#include "rs-job-queue.h"
#include "rs-job-text.h"
#include "rs-model-handle.h"
#include "rs-models-window.h"
#include "rs-params-panel.h"
#include "rs-run-guard.h"
#include "rs-texture-load.h"
#include "png_text.h"
#include "rs-window.h"

#include "job-record.h"

#define SELF_TEST_MODEL RS_MODEL_KEY_SELFTEST
#define PREVIEW_MAX_SIDE 512

typedef struct {
    GdkTexture *texture;
    int step, steps;
    char *phase;
} Frame;

struct _RsWindow {
    AdwApplicationWindow parent_instance;

    GSettings *settings;
    RsJobSettings *job;
    Frame frames[RS_N_BRANCHES];
    RsBranch view;
    GtkFileChooserNative *folder_chooser;
    GtkFileChooserNative *save_chooser;
    GtkFileChooserNative *open_chooser;
    GCancellable *source_cancellable; /* an opened image being copied to PNG */
    guint zoom_label_idle;

    GPtrArray *discovered; /* ResditModelPaths; NULL until discovery has run */
    GCancellable *discovery_cancellable;
    RsModelHandle *model; /* the open model, or NULL */
    char *opening_key;    /* the model being opened, or NULL */
    GCancellable *model_cancellable;
    RsGeneration *generation; /* the running or last job */
    RsJobQueue *queue;        /* the jobs waiting for it */
    GCancellable *generation_cancellable;
    char *image_path; /* the last image written */
    HistoryStore *history;
    GCancellable *history_load_cancellable;
    RsHistoryItem *history_loading; /* the row whose image is being loaded (sidebar or gallery) */
    GPtrArray *pending_deletes; /* PendingDelete, purged at the latest when the window goes */

    /* The job's clock: the progress line moves every second, whatever the engine reports. */
    guint clock_timer;
    gint64 job_start;           /* monotonic time when Generate was pressed */
    ResditProgress last_progress;
    gint64 last_progress_time;  /* when it came; 0 = none yet */
    gboolean generate_pending;  /* Generate was pressed while the model opens */
    gboolean cancelling;        /* Cancel was pressed; the engine has not stopped yet */
    gboolean close_when_stopped; /* the user chose to stop the job and close the window */
    AdwMessageDialog *close_dialog;

    /* Defaults that follow the model until the user chooses (settings size-chosen,
     * steps-chosen): the values last applied, to tell the user's changes from ours. */
    char *auto_size_preset;
    int auto_steps, auto_global_steps, auto_local_steps;
    double auto_guidance; /* guidance-chosen: the model's default guidance / CFG scale */
    gboolean applying_defaults;

    AdwWindowTitle *window_title;
    GtkMenuButton *model_button;
    GtkRevealer *model_notice;
    GtkLabel *model_notice_label;
    gboolean model_problem; /* the chosen model cannot be opened: the notice says why */
    GtkLabel *model_label;
    GMenu *model_folders_section;
    RsParamsPanel *params_panel;
    GtkToggleButton *view_buttons[RS_N_BRANCHES];
    GtkLabel *frame_label;
    GtkLabel *zoom_label;
    GtkStack *canvas_stack;
    RsCanvas *canvas;
    RsCompareView *compare_view;
    gboolean compare;        /* the canvas shows the compare view */
    gboolean gallery;        /* the canvas area shows the history gallery */
    RsHistoryGallery *history_gallery;
    gboolean direct_compare; /* the running job is "Compare Without ResDiT" */
    guint direct_compare_id; /* that job in the queue (0: none) */
    RsRunGuard *run_guard;   /* inhibits suspend during a job, notifies when a long one ends */
    AdwToastOverlay *toast_overlay;
    GtkButton *generate_button;
    GtkMenuButton *queue_button;
    GtkLabel *queue_count_label;
    GtkListBox *queue_list;
    GtkWidget *queue_running_box;
    AdwActionRow *queue_running_row;
    GtkRevealer *progress_revealer;
    GtkProgressBar *progress_bar;
    GtkLabel *progress_label;
    RsHistorySidebar *history_sidebar;
    AdwFlap *params_flap; /* folds the parameters over the canvas in narrow windows */
    AdwFlap *history_flap;
};

G_DEFINE_FINAL_TYPE(RsWindow, rs_window, ADW_TYPE_APPLICATION_WINDOW)

static void set_compare(RsWindow *self, gboolean compare);
static gboolean can_compare_direct(RsWindow *self);

static const char *const branch_ids[RS_N_BRANCHES] = {"global", "local", "fused", "final"};

static const char *branch_label(RsBranch branch)
{
    switch (branch) {
    case RS_BRANCH_GLOBAL:
        return _("Global");
    case RS_BRANCH_LOCAL:
        return _("Local");
    case RS_BRANCH_FUSED:
        return _("Fused");
    default:
        return _("Final");
    }
}

static void update_zoom_actions(RsWindow *self)
{
    gboolean has_image = rs_canvas_get_texture(self->canvas) != NULL;
    double zoom = rs_canvas_get_zoom(self->canvas);
    gtk_widget_action_set_enabled(GTK_WIDGET(self), "win.zoom-in",
                                  has_image && zoom < RS_CANVAS_MAX_ZOOM);
    gtk_widget_action_set_enabled(GTK_WIDGET(self), "win.zoom-out",
                                  has_image && zoom > rs_canvas_get_min_zoom(self->canvas));
    gtk_widget_action_set_enabled(GTK_WIDGET(self), "win.zoom-best-fit", has_image);
    gtk_widget_action_set_enabled(GTK_WIDGET(self), "win.zoom-100", has_image);
}

static gboolean update_zoom_label(gpointer data)
{
    RsWindow *self = RS_WINDOW(data);
    self->zoom_label_idle = 0;
    /* No image, no zoom level. Translators: the zoom level, e.g. "25 %" */
    char *text = rs_canvas_get_texture(self->canvas) == NULL
                     ? g_strdup("")
                     : g_strdup_printf(_("%.0f %%"), rs_canvas_get_zoom(self->canvas) * 100);
    gtk_label_set_label(self->zoom_label, text);
    g_free(text);
    update_zoom_actions(self);
    return G_SOURCE_REMOVE;
}

/* The canvas changes its zoom while it is allocated (best fit follows the window size); a label
 * must not be resized in the middle of a layout, so the label follows right after it. */
static void queue_zoom_label(RsWindow *self)
{
    if (self->zoom_label_idle == 0)
        self->zoom_label_idle =
            g_idle_add_full(G_PRIORITY_HIGH_IDLE, update_zoom_label, self, NULL);
}

static void show_view(RsWindow *self)
{
    Frame *frame = &self->frames[self->view];
    /* Reflect the view on its toggle; the toggled handler ignores the already-shown view. */
    gtk_toggle_button_set_active(self->view_buttons[self->view], TRUE);
    rs_canvas_set_texture(self->canvas, frame->texture);
    gtk_stack_set_visible_child_name(self->canvas_stack, self->gallery            ? "gallery"
                                                         : self->compare          ? "compare"
                                                         : frame->texture != NULL ? "canvas"
                                                                                  : "empty");
    if (frame->texture != NULL) {
        /* Translators: "<branch> · step <k> of <n> · <phase>" under the canvas */
        char *text = g_strdup_printf(_("%s · step %d of %d · %s"), branch_label(self->view),
                                     frame->step, frame->steps, frame->phase);
        gtk_label_set_label(self->frame_label, text);
        g_free(text);
    } else {
        gtk_label_set_label(self->frame_label, "");
    }
    gtk_widget_set_visible(GTK_WIDGET(self->frame_label),
                           frame->texture != NULL && !self->compare && !self->gallery);
    update_zoom_actions(self);
}

/* Switches to a branch's view; a branch without a frame cannot be shown. */
static void select_view(RsWindow *self, const char *id)
{
    for (int b = 0; b < RS_N_BRANCHES; b++) {
        if (g_strcmp0(id, branch_ids[b]) == 0 && self->frames[b].texture != NULL &&
            self->view != (RsBranch)b) {
            self->view = b;
            g_object_notify(G_OBJECT(self), "view");
            show_view(self);
        }
    }
}

static void on_view_toggled(GtkToggleButton *button, RsWindow *self)
{
    for (int b = 0; b < RS_N_BRANCHES; b++)
        if (button == self->view_buttons[b] && gtk_toggle_button_get_active(button))
            select_view(self, branch_ids[b]);
}

void rs_window_show_frame(RsWindow *self, RsBranch branch, GdkTexture *texture, int step, int steps,
                          const char *phase)
{
    g_return_if_fail(branch < RS_N_BRANCHES && GDK_IS_TEXTURE(texture));
    Frame *frame = &self->frames[branch];
    g_set_object(&frame->texture, texture);
    frame->step = step;
    frame->steps = steps;
    g_free(frame->phase);
    frame->phase = g_strdup(phase);
    gtk_widget_set_sensitive(GTK_WIDGET(self->view_buttons[branch]), TRUE);
    /* The compare view keeps the ResDiT job's branches while the job without ResDiT runs. */
    if (!self->direct_compare)
        rs_compare_view_set_source(self->compare_view, (RsCompareSource)branch, texture);
    else if (branch == RS_BRANCH_FINAL)
        rs_compare_view_set_source(self->compare_view, RS_COMPARE_DIRECT, texture);
    /* The first frame and the final image take the canvas; later frames of other branches wait
     * until the user switches to them. */
    gboolean first = self->frames[self->view].texture == NULL;
    if (first || branch == RS_BRANCH_FINAL || branch == self->view) {
        self->view = branch;
        g_object_notify(G_OBJECT(self), "view");
        show_view(self);
    }
}

void rs_window_clear_frames(RsWindow *self)
{
    for (int b = 0; b < RS_N_BRANCHES; b++) {
        g_clear_object(&self->frames[b].texture);
        g_clear_pointer(&self->frames[b].phase, g_free);
        gtk_widget_set_sensitive(GTK_WIDGET(self->view_buttons[b]), FALSE);
    }
    if (!self->direct_compare)
        rs_compare_view_clear(self->compare_view);
    self->view = RS_BRANCH_FINAL;
    g_object_notify(G_OBJECT(self), "view");
    show_view(self);
}

RsJobSettings *rs_window_get_job(RsWindow *self)
{
    return self->job;
}

RsRunGuard *rs_window_get_run_guard(RsWindow *self)
{
    return self->run_guard;
}

static void zoom_action(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
    RsWindow *self = RS_WINDOW(widget);
    if (g_str_equal(action_name, "win.zoom-in"))
        rs_canvas_zoom_in(self->canvas);
    else if (g_str_equal(action_name, "win.zoom-out"))
        rs_canvas_zoom_out(self->canvas);
    else if (g_str_equal(action_name, "win.zoom-best-fit"))
        rs_canvas_zoom_best_fit(self->canvas);
    else
        rs_canvas_zoom_original(self->canvas);
}

/* ---- toasts and dialogs ------------------------------------------------------------------- */

static void show_toast(RsWindow *self, const char *title)
{
    AdwToast *toast = adw_toast_new(title);
    adw_toast_overlay_add_toast(self->toast_overlay, toast);
}

static void show_error(RsWindow *self, const char *heading, const GError *error)
{
    GtkWidget *dialog = adw_message_dialog_new(GTK_WINDOW(self), heading, NULL);
    adw_message_dialog_format_body(ADW_MESSAGE_DIALOG(dialog), "%s\n\n%s", error->message,
                                   rs_error_next_step(error));
    adw_message_dialog_add_response(ADW_MESSAGE_DIALOG(dialog), "close", _("_Close"));
    gtk_window_present(GTK_WINDOW(dialog));
}

/* ---- state of the Generate button and the image actions ------------------------------------ */

static gboolean is_generating(RsWindow *self)
{
    return self->generation != NULL && rs_generation_is_running(self->generation);
}

/* A job runs, or waits for its model. */
static gboolean is_busy(RsWindow *self)
{
    return is_generating(self) || self->generate_pending;
}

/* Jobs are queued that have not started yet. */
static guint n_waiting(RsWindow *self)
{
    return self->queue != NULL ? rs_job_queue_get_n_jobs(self->queue) : 0;
}

/* The queue button shows while anything runs or waits; its count is the waiting jobs. */
static void update_queue_button(RsWindow *self)
{
    guint n = n_waiting(self);
    gtk_widget_set_visible(GTK_WIDGET(self->queue_button), is_busy(self) || n > 0);
    gtk_widget_set_visible(GTK_WIDGET(self->queue_count_label), n > 0);
    char *count = g_strdup_printf("%u", n);
    gtk_label_set_label(self->queue_count_label, count);
    g_free(count);
    char *tooltip =
        g_strdup_printf(ngettext("Job Queue: %u waiting", "Job Queue: %u waiting", n), n);
    gtk_widget_set_tooltip_text(GTK_WIDGET(self->queue_button), tooltip);
    g_free(tooltip);
    gtk_widget_set_visible(self->queue_running_box, is_generating(self));
    if (!is_busy(self) && n == 0)
        gtk_menu_button_popdown(self->queue_button);
}

static void update_actions(RsWindow *self)
{
    gboolean busy = is_busy(self);
    /* Generate only starts and Cancel only stops: a second Ctrl+Enter never cancels. During a
     * job Generate queues the next one (the open model fixes its parameters). */
    gtk_widget_action_set_enabled(GTK_WIDGET(self), "win.generate",
                                  self->model != NULL ||
                                      (self->opening_key != NULL && !self->generate_pending));
    gtk_widget_action_set_enabled(GTK_WIDGET(self), "win.cancel", busy && !self->cancelling);
    gtk_actionable_set_action_name(GTK_ACTIONABLE(self->generate_button),
                                   busy ? "win.cancel" : "win.generate");
    gtk_button_set_label(self->generate_button, !busy             ? _("_Generate")
                                                : self->cancelling ? _("Cancelling…")
                                                                   : _("_Cancel"));
    const char *tooltip = busy                        ? _("Stop the Generation")
                          : self->model != NULL       ? _("Generate an Image")
                          : self->opening_key != NULL ? _("Generate an Image once the model is open")
                          : self->model_problem ? _("The chosen model cannot be opened: see the notice")
                                                      : _("Choose a model first");
    gtk_widget_set_tooltip_text(GTK_WIDGET(self->generate_button), tooltip);
    if (busy) {
        gtk_widget_remove_css_class(GTK_WIDGET(self->generate_button), "suggested-action");
        gtk_widget_add_css_class(GTK_WIDGET(self->generate_button), "destructive-action");
    } else {
        gtk_widget_remove_css_class(GTK_WIDGET(self->generate_button), "destructive-action");
        gtk_widget_add_css_class(GTK_WIDGET(self->generate_button), "suggested-action");
    }
    gboolean has_file = self->image_path != NULL;
    gtk_widget_action_set_enabled(GTK_WIDGET(self), "win.save-as", has_file);
    gtk_widget_action_set_enabled(GTK_WIDGET(self), "win.export", has_file);
    gtk_widget_action_set_enabled(GTK_WIDGET(self), "win.open-folder", has_file);
    gtk_widget_action_set_enabled(GTK_WIDGET(self), "win.upscale",
                                  has_file && self->model != NULL);
    gtk_widget_action_set_enabled(GTK_WIDGET(self), "win.copy-image",
                                  self->frames[RS_BRANCH_FINAL].texture != NULL);
    update_queue_button(self);
    gtk_widget_action_set_enabled(GTK_WIDGET(self), "win.compare-direct",
                                  can_compare_direct(self));
    /* Escape cancels a job; only without one does it leave fullscreen (add_zoom_keys). */
    gtk_widget_action_set_enabled(GTK_WIDGET(self), "win.leave-fullscreen",
                                  !busy && gtk_window_is_fullscreen(GTK_WINDOW(self)));
}

/* ---- the engine job ------------------------------------------------------------------------ */

static RsBranch view_of_branch(int branch)
{
    switch (branch) {
    case RESDIT_BRANCH_GLOBAL:
        return RS_BRANCH_GLOBAL;
    case RESDIT_BRANCH_LOCAL:
        return RS_BRANCH_LOCAL;
    case RESDIT_BRANCH_FUSED:
        return RS_BRANCH_FUSED;
    default: /* the decoded image, and the plain (direct) pass */
        return RS_BRANCH_FINAL;
    }
}

static void on_job_preview(RsGeneration *generation, int branch, GdkTexture *frame, int step,
                           int phase, gboolean extra, RsWindow *self)
{
    const ResditJobParams *params = rs_generation_get_params(generation);
    rs_window_show_frame(self, view_of_branch(branch), frame, MAX(step, 1), params->steps,
                         rs_phase_label(phase));
}

/* The progress line with the time since Generate was pressed, now. */
static void update_progress_label(RsWindow *self)
{
    gint64 now = g_get_monotonic_time();
    double elapsed = (now - self->job_start) / 1e6;
    char *text;
    if (self->last_progress_time != 0) {
        ResditProgress progress = self->last_progress;
        progress.elapsed = elapsed;
        if (progress.eta >= 0)
            progress.eta = MAX(progress.eta - (now - self->last_progress_time) / 1e6, 0.0);
        text = rs_progress_text(&progress);
    } else {
        text = rs_waiting_text(self->generate_pending, elapsed);
    }
    gtk_label_set_label(self->progress_label, text);
    g_free(text);
}

static gboolean on_clock_tick(gpointer data)
{
    update_progress_label(RS_WINDOW(data));
    return G_SOURCE_CONTINUE;
}

static void start_clock(RsWindow *self)
{
    self->job_start = g_get_monotonic_time();
    self->last_progress_time = 0;
    g_clear_handle_id(&self->clock_timer, g_source_remove);
    self->clock_timer = g_timeout_add(1000, on_clock_tick, self);
    gtk_progress_bar_set_fraction(self->progress_bar, 0);
    update_progress_label(self);
    gtk_revealer_set_reveal_child(self->progress_revealer, TRUE);
}

static void stop_clock(RsWindow *self)
{
    g_clear_handle_id(&self->clock_timer, g_source_remove);
}

static void on_job_progress(RsGeneration *generation, const ResditProgress *progress,
                            RsWindow *self)
{
    double fraction = progress->n_steps > 0 ? (double)progress->step / progress->n_steps : 0;
    /* Sampling fills the bar to 95 %; the decode takes it to 100 % when the image is there. */
    gtk_progress_bar_set_fraction(self->progress_bar, MIN(fraction, 1.0) * 0.95);
    self->last_progress = *progress;
    self->last_progress_time = g_get_monotonic_time();
    if (!self->cancelling)
        update_progress_label(self);
}

static void job_succeeded(RsWindow *self, RsGeneration *generation)
{
    const ResditJobParams *params = rs_generation_get_params(generation);
    const ResditImage *image = rs_generation_get_image(generation);
    rs_window_show_frame(self, RS_BRANCH_FINAL, rs_generation_get_texture(generation),
                         params->steps, params->steps, _("saved"));
    g_free(self->image_path);
    self->image_path = g_strdup(rs_generation_get_image_path(generation));
    gtk_progress_bar_set_fraction(self->progress_bar, 1.0);
    /* Translators: %.1f is seconds, %s the seed */
    char *seed = g_strdup_printf("%" G_GUINT64_FORMAT, image->seed);
    char *text = g_strdup_printf(_("Done in %.1f s · seed %s"), image->seconds_total, seed);
    gtk_label_set_label(self->progress_label, text);
    g_free(text);
    g_free(seed);
    /* A batch or a queue says so once, for its last image (the history has them all). */
    if (n_waiting(self) > 0)
        return;
    char *name = g_path_get_basename(self->image_path);
    AdwToast *toast = adw_toast_new_format(_("Saved “%s”"), name);
    adw_toast_set_button_label(toast, _("Open Folder"));
    adw_toast_set_action_name(toast, "win.open-folder");
    adw_toast_overlay_add_toast(self->toast_overlay, toast);
    g_free(name);
}

static gboolean close_when_idle(gpointer data)
{
    gtk_window_close(GTK_WINDOW(data));
    return G_SOURCE_REMOVE;
}

static void start_next(RsWindow *self);

/* An image-to-image result: the source left of the divider, the result right of it. */
static void compare_with_source(RsWindow *self, const char *source)
{
    RsInitImageGroup *group = rs_params_panel_get_init_image_group(self->params_panel);
    GdkTexture *texture = NULL;
    if (g_strcmp0(rs_job_settings_get_init_image(self->job), source) == 0 &&
        rs_init_image_group_get_texture(group) != NULL)
        texture = g_object_ref(rs_init_image_group_get_texture(group));
    else
        texture = gdk_texture_new_from_filename(source, NULL); /* NULL: gone since; no compare */
    if (texture == NULL)
        return;
    rs_compare_view_set_source(self->compare_view, RS_COMPARE_SOURCE, texture);
    rs_compare_view_set_pair(self->compare_view, RS_COMPARE_SOURCE, RS_COMPARE_FINAL);
    set_compare(self, TRUE);
    g_object_unref(texture);
}

static void on_job_finished(RsGeneration *generation, RsWindow *self)
{
    stop_clock(self);
    self->cancelling = FALSE;
    const GError *error = rs_generation_get_error(generation);
    if (error == NULL) {
        job_succeeded(self, generation);
        rs_run_guard_end(self->run_guard, _("Image Ready"),
                         gtk_label_get_label(self->progress_label));
    } else if (g_error_matches(error, RESDIT_ERROR, RESDIT_ERROR_CANCELLED)) {
        rs_run_guard_end(self->run_guard, NULL, NULL);
        gtk_revealer_set_reveal_child(self->progress_revealer, FALSE);
        show_toast(self, _("Generation cancelled, nothing was saved"));
    } else {
        rs_run_guard_end(self->run_guard, _("Generation Failed"), error->message);
        gtk_revealer_set_reveal_child(self->progress_revealer, FALSE);
        show_error(self,
                   g_error_matches(error, RESDIT_ERROR, RESDIT_ERROR_OUT_OF_MEMORY)
                       ? _("Not Enough Memory")
                       : _("Generation Failed"),
                   error);
    }
    const char *history_error = rs_generation_get_history_error(generation);
    if (history_error != NULL) {
        char *text = g_strdup_printf(_("The history was not updated: %s"), history_error);
        show_toast(self, text);
        g_free(text);
    }
    g_clear_object(&self->generation_cancellable);
    if (self->direct_compare) {
        self->direct_compare = FALSE;
        if (error == NULL) {
            rs_compare_view_set_pair(self->compare_view, RS_COMPARE_FINAL, RS_COMPARE_DIRECT);
            set_compare(self, TRUE);
        }
    } else if (error == NULL && rs_generation_get_params(generation)->init_image != NULL) {
        compare_with_source(self, rs_generation_get_params(generation)->init_image);
    }
    update_actions(self);
    g_signal_emit_by_name(self, "job-finished");
    /* The user asked to close during the job: now that the engine has stopped, close (not in
     * the middle of the job's signal). */
    if (self->close_when_stopped)
        g_idle_add_full(G_PRIORITY_DEFAULT, close_when_idle, g_object_ref(self), g_object_unref);
    else
        start_next(self);
}

static char *output_folder(RsWindow *self)
{
    char *setting = g_settings_get_string(self->settings, "output-folder");
    char *folder = rs_output_folder(setting);
    g_free(setting);
    return folder;
}

/* The parameters on show, with the seed fixed (a random one drawn), and the output folder. */
static char *params_from_settings(RsWindow *self, ResditJobParams *params)
{
    rs_engine_params_from_settings(self->job, self->model->model, params);
    params->preview_every = g_settings_get_int(self->settings, "preview-interval");
    params->preview_max_side = PREVIEW_MAX_SIDE;
    return output_folder(self);
}

/* "1024 × 768 · seed 42" */
static char *job_summary(const ResditJobParams *params)
{
    char *seed = g_strdup_printf("%" G_GUINT64_FORMAT, params->seed);
    /* Translators: width, height and seed of a queued job */
    char *text = g_strdup_printf(_("%d × %d · seed %s"), params->width, params->height, seed);
    g_free(seed);
    return text;
}

/* A prompt as a row title: its first line, escaped (row titles are markup). */
static char *job_title(const ResditJobParams *params)
{
    const char *prompt = params->prompt != NULL ? params->prompt : "";
    const char *end = strchr(prompt, '\n');
    char *line = end != NULL ? g_strndup(prompt, end - prompt) : g_strdup(prompt);
    char *title = g_markup_escape_text(line, -1);
    g_free(line);
    return title;
}

static void start_job(RsWindow *self, RsQueuedJob *job)
{
    const ResditJobParams *params = rs_queued_job_get_params(job);
    /* "Compare Without ResDiT" is queued like any job; the compare view waits for that one. */
    self->direct_compare =
        self->direct_compare_id != 0 && rs_queued_job_get_id(job) == self->direct_compare_id;
    /* The seed used is always on show (and copyable), a drawn one too; a fixed seed stays as
     * the user set it (a batch runs seed, seed + 1, ...). */
    gboolean random_seed = FALSE;
    g_object_get(self->job, "random-seed", &random_seed, NULL);
    if (random_seed && params->seed <= G_MAXUINT32)
        g_object_set(self->job, "seed", (guint)params->seed, NULL);

    if (self->generation != NULL)
        g_signal_handlers_disconnect_by_data(self->generation, self);
    g_clear_object(&self->generation);
    self->generation =
        rs_generation_new(self->model, params, rs_queued_job_get_output_folder(job), self->history);
    g_signal_connect_object(self->generation, "preview", G_CALLBACK(on_job_preview), self, 0);
    g_signal_connect_object(self->generation, "progress", G_CALLBACK(on_job_progress), self, 0);
    g_signal_connect_object(self->generation, "finished", G_CALLBACK(on_job_finished), self, 0);
    self->generation_cancellable = g_cancellable_new();

    char *title = job_title(params);
    char *summary = job_summary(params);
    adw_preferences_row_set_title(ADW_PREFERENCES_ROW(self->queue_running_row), title);
    adw_action_row_set_subtitle(self->queue_running_row, summary);
    g_free(summary);
    g_free(title);

    rs_window_clear_frames(self);
    /* The image actions act on the new image once it is saved, never on the previous one. */
    g_clear_pointer(&self->image_path, g_free);
    /* Pressed while the model opened: the clock runs since then. */
    if (!self->generate_pending)
        start_clock(self);
    self->generate_pending = FALSE;
    self->last_progress_time = 0;
    update_progress_label(self);
    rs_generation_start(self->generation, self->generation_cancellable);
    rs_run_guard_begin(self->run_guard);
    update_actions(self);
}

/* Starts the first waiting job, when none runs and the model is open (else it waits: a job
 * ending, or the model opening, calls this again). */
static void start_next(RsWindow *self)
{
    if (is_generating(self) || self->model == NULL || self->close_when_stopped)
        return;
    RsQueuedJob *job = rs_job_queue_pop(self->queue);
    if (job != NULL) {
        start_job(self, job);
        g_object_unref(job);
    }
}

/* Queues n jobs with the parameters on show: the seed, seed + 1, ... when it is fixed, a new
 * random seed each under Random Seed. The first starts at once when nothing runs. */
static void queue_from_settings(RsWindow *self, int n)
{
    gboolean random_seed = FALSE;
    g_object_get(self->job, "random-seed", &random_seed, NULL);
    ResditJobParams params;
    resdit_job_params_init(&params);
    char *folder = params_from_settings(self, &params);
    guint64 first = params.seed;
    for (int i = 0; i < n; i++) {
        if (i > 0)
            /* Wraps within the seed field's 32 bits, so every seed can be set there again. */
            params.seed = random_seed ? g_random_int() : (guint32)(first + (guint64)i);
        rs_job_queue_push(self->queue, &params, folder);
    }
    g_free(folder);
    resdit_job_params_clear(&params);
    gboolean was_running = is_generating(self);
    start_next(self);
    if (was_running) {
        guint waiting = n_waiting(self);
        char *text = g_strdup_printf(
            ngettext("Queued: %u job waiting", "Queued: %u jobs waiting", waiting), waiting);
        show_toast(self, text);
        g_free(text);
    }
}

/* ---- comparing ----------------------------------------------------------------------------- */

static void set_compare(RsWindow *self, gboolean compare)
{
    compare = !!compare;
    if (self->compare == compare)
        return;
    self->compare = compare;
    if (compare && self->gallery) {
        self->gallery = FALSE;
        g_object_notify(G_OBJECT(self), "gallery");
    }
    show_view(self);
    g_object_notify(G_OBJECT(self), "compare");
}

static void set_gallery(RsWindow *self, gboolean gallery)
{
    gallery = !!gallery;
    if (self->gallery == gallery)
        return;
    self->gallery = gallery;
    if (gallery && self->compare) {
        self->compare = FALSE;
        g_object_notify(G_OBJECT(self), "compare");
    }
    show_view(self);
    g_object_notify(G_OBJECT(self), "gallery");
}

/* The image on the canvas is the last job's, made with ResDiT: it can be made again without. */
static gboolean can_compare_direct(RsWindow *self)
{
    if (is_busy(self) || self->model == NULL || self->generation == NULL ||
        rs_generation_get_image(self->generation) == NULL ||
        g_strcmp0(self->image_path, rs_generation_get_image_path(self->generation)) != 0)
        return FALSE;
    const ResditJobParams *params = rs_generation_get_params(self->generation);
    return params->schedule || params->fixed_mode != RESDIT_MODE_DIRECT;
}

/* "Compare Without ResDiT": the same prompt, size, steps and seed with plain (direct) attention
 * at every step; when it is done the compare view shows the two with the split slider. */
static void compare_direct_action(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
    RsWindow *self = RS_WINDOW(widget);
    if (!can_compare_direct(self))
        return;
    ResditJobParams params = {0}; /* the copy fills it */
    resdit_job_params_copy(&params, rs_generation_get_params(self->generation));
    params.seed = rs_generation_get_image(self->generation)->seed;
    params.random_seed = FALSE;
    params.schedule = FALSE;
    params.fixed_mode = RESDIT_MODE_DIRECT;
    params.inspect_branches = FALSE;
    /* The ResDiT image and its branches stay in the compare view; the new job fills "Without
     * ResDiT" (rs_window_show_frame). */
    rs_compare_view_set_source(self->compare_view, RS_COMPARE_DIRECT, NULL);
    rs_compare_view_set_pair(self->compare_view, RS_COMPARE_FINAL, RS_COMPARE_DIRECT);
    /* Nothing runs (can_compare_direct), so the queue is empty and this job starts at once. */
    char *folder = output_folder(self);
    self->direct_compare_id = rs_job_queue_push(self->queue, &params, folder);
    g_free(folder);
    resdit_job_params_clear(&params);
    start_next(self);
}

/* Stops the running job; the window goes back to idle when the engine has stopped
 * (on_job_finished). A job still waiting for its model just does not start. */
static void cancel_job(RsWindow *self)
{
    if (is_generating(self)) {
        if (self->cancelling)
            return;
        self->cancelling = TRUE;
        g_cancellable_cancel(self->generation_cancellable);
        gtk_label_set_label(self->progress_label, _("Cancelling…"));
        stop_clock(self);
        update_actions(self);
    } else if (self->generate_pending) {
        self->generate_pending = FALSE;
        stop_clock(self);
        gtk_revealer_set_reveal_child(self->progress_revealer, FALSE);
        update_actions(self);
    }
}

static void cancel_action(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
    cancel_job(RS_WINDOW(widget));
}

/* Generate: a batch of jobs with the parameters on show; during a job they wait in the queue. */
static void generate_action(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
    RsWindow *self = RS_WINDOW(widget);
    if (!rs_params_panel_check_prompt(self->params_panel)) {
        return;
    } else if (self->model != NULL) {
        queue_from_settings(self, rs_job_settings_get_batch_count(self->job));
    } else if (self->opening_key != NULL && !self->generate_pending) {
        /* The job starts (or, behind a job still running on the previous model, is queued) as
         * soon as the model is open (on_model_opened). */
        self->generate_pending = TRUE;
        if (!is_generating(self))
            start_clock(self);
        update_actions(self);
    }
}

/* ---- the queue popover ---------------------------------------------------------------------- */

static GtkWidget *queue_row_button(const char *icon, const char *tooltip, const char *action,
                                   guint id)
{
    GtkWidget *button = gtk_button_new_from_icon_name(icon);
    gtk_widget_set_valign(button, GTK_ALIGN_CENTER);
    gtk_widget_set_tooltip_text(button, tooltip);
    gtk_widget_add_css_class(button, "flat");
    gtk_actionable_set_action_name(GTK_ACTIONABLE(button), action);
    gtk_actionable_set_action_target_value(GTK_ACTIONABLE(button), g_variant_new_uint32(id));
    return button;
}

/* A waiting job: its prompt, size and seed, and buttons to move it up or down and remove it. */
static GtkWidget *create_queue_row(gpointer item, gpointer data)
{
    RsQueuedJob *job = item;
    const ResditJobParams *params = rs_queued_job_get_params(job);
    guint id = rs_queued_job_get_id(job);
    GtkWidget *row = adw_action_row_new();
    char *title = job_title(params);
    char *summary = job_summary(params);
    adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), title);
    adw_action_row_set_subtitle(ADW_ACTION_ROW(row), summary);
    adw_action_row_set_title_lines(ADW_ACTION_ROW(row), 1);
    g_free(summary);
    g_free(title);
    GtkWidget *up = queue_row_button("go-up-symbolic", _("Move Up"), "win.queue-up", id);
    GtkWidget *down = queue_row_button("go-down-symbolic", _("Move Down"), "win.queue-down", id);
    adw_action_row_add_suffix(ADW_ACTION_ROW(row), up);
    adw_action_row_add_suffix(ADW_ACTION_ROW(row), down);
    g_object_set_data(G_OBJECT(row), "rs-queue-up", up);
    g_object_set_data(G_OBJECT(row), "rs-queue-down", down);
    adw_action_row_add_suffix(ADW_ACTION_ROW(row),
                              queue_row_button("edit-delete-symbolic", _("Remove from the Queue"),
                                               "win.queue-remove", id));
    return row;
}

/* The first job cannot move up, the last one not down. */
static void update_queue_rows(RsWindow *self)
{
    guint n = n_waiting(self);
    for (guint i = 0; i < n; i++) {
        /* The rows are the action rows themselves (AdwActionRow is a GtkListBoxRow). */
        GtkListBoxRow *row = gtk_list_box_get_row_at_index(self->queue_list, (int)i);
        if (row == NULL)
            continue;
        gtk_widget_set_sensitive(g_object_get_data(G_OBJECT(row), "rs-queue-up"), i > 0);
        gtk_widget_set_sensitive(g_object_get_data(G_OBJECT(row), "rs-queue-down"), i + 1 < n);
    }
}

static void on_queue_changed(RsWindow *self)
{
    update_queue_button(self);
}

static void queue_action(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
    RsWindow *self = RS_WINDOW(widget);
    guint id = g_variant_get_uint32(parameter);
    if (g_str_equal(action_name, "win.queue-remove"))
        rs_job_queue_remove(self->queue, id);
    else
        rs_job_queue_move(self->queue, id, g_str_equal(action_name, "win.queue-up") ? -1 : 1);
}

RsJobQueue *rs_window_get_queue(RsWindow *self)
{
    return self->queue;
}

static void setup_queue(RsWindow *self)
{
    self->queue = rs_job_queue_new();
    gtk_list_box_bind_model(self->queue_list, G_LIST_MODEL(self->queue), create_queue_row, self,
                            NULL);
    /* After the list box's own handler: the rows are there. */
    g_signal_connect_object(self->queue, "items-changed", G_CALLBACK(update_queue_rows), self,
                            G_CONNECT_SWAPPED);
    g_signal_connect_object(self->queue, "notify::n-jobs", G_CALLBACK(on_queue_changed), self,
                            G_CONNECT_SWAPPED);
}

/* ---- image actions ------------------------------------------------------------------------- */

static void on_copied(GObject *source, GAsyncResult *result, gpointer data)
{
    RsWindow *self = RS_WINDOW(data);
    GError *error = NULL;
    if (!g_file_copy_finish(G_FILE(source), result, &error)) {
        show_error(self, _("Could Not Save the Image"), error);
        g_error_free(error);
    }
    g_object_unref(self);
}

static void on_save_as_response(GtkNativeDialog *dialog, int response, gpointer data)
{
    RsWindow *self = RS_WINDOW(data);
    if (response == GTK_RESPONSE_ACCEPT && self->image_path != NULL) {
        GFile *target = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(dialog));
        GFile *source = g_file_new_for_path(self->image_path);
        g_file_copy_async(source, target, G_FILE_COPY_OVERWRITE, G_PRIORITY_DEFAULT, NULL, NULL,
                          NULL, on_copied, g_object_ref(self));
        g_object_unref(source);
        g_object_unref(target);
    }
    g_clear_object(&self->save_chooser);
}

static void save_as_action(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
    RsWindow *self = RS_WINDOW(widget);
    if (self->save_chooser != NULL || self->image_path == NULL)
        return;
    self->save_chooser = gtk_file_chooser_native_new(
        _("Save Image"), GTK_WINDOW(self), GTK_FILE_CHOOSER_ACTION_SAVE, _("_Save"), _("_Cancel"));
    gtk_native_dialog_set_modal(GTK_NATIVE_DIALOG(self->save_chooser), TRUE);
    /* Opens where the image is (the output folder), not in the working directory. */
    char *dir = g_path_get_dirname(self->image_path);
    GFile *folder = g_file_new_for_path(dir);
    gtk_file_chooser_set_current_folder(GTK_FILE_CHOOSER(self->save_chooser), folder, NULL);
    g_object_unref(folder);
    g_free(dir);
    char *name = g_path_get_basename(self->image_path);
    gtk_file_chooser_set_current_name(GTK_FILE_CHOOSER(self->save_chooser), name);
    g_free(name);
    g_signal_connect(self->save_chooser, "response", G_CALLBACK(on_save_as_response), self);
    gtk_native_dialog_show(GTK_NATIVE_DIALOG(self->save_chooser));
}

static void on_export_done(const char *dest, const GError *error, gpointer data)
{
    RsWindow *self = RS_WINDOW(data);
    if (error != NULL) {
        show_error(self, _("Could Not Export the Image"), error);
        return;
    }
    char *name = g_path_get_basename(dest);
    AdwToast *toast = adw_toast_new_format(_("Exported “%s”"), name);
    adw_toast_overlay_add_toast(self->toast_overlay, toast);
    g_free(name);
}

/* Export As: PNG, JPEG or WebP, with or without the parameters (rs-export-dialog.c). */
static void export_action(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
    RsWindow *self = RS_WINDOW(widget);
    if (self->image_path != NULL)
        rs_export_dialog_show(GTK_WINDOW(self), self->image_path, on_export_done, G_OBJECT(self));
}

static void leave_fullscreen_action(GtkWidget *widget, const char *action_name,
                                    GVariant *parameter)
{
    if (!is_busy(RS_WINDOW(widget)))
        gtk_window_unfullscreen(GTK_WINDOW(widget));
}

/* The file a drag out of the canvas offers: the saved image, when it is the one on show. */
static const char *drag_path(gpointer data)
{
    RsWindow *self = RS_WINDOW(data);
    return self->view == RS_BRANCH_FINAL ? self->image_path : NULL;
}

static void copy_image_action(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
    RsWindow *self = RS_WINDOW(widget);
    GdkTexture *texture = self->frames[RS_BRANCH_FINAL].texture;
    if (texture != NULL) {
        gdk_clipboard_set_texture(gtk_widget_get_clipboard(widget), texture);
        show_toast(self, _("Image copied"));
    }
}

void rs_window_show_folder_of(RsWindow *self, const char *path)
{
    char *folder = g_path_get_dirname(path);
    GFile *file = g_file_new_for_path(folder);
    char *uri = g_file_get_uri(file);
    gtk_show_uri(GTK_WINDOW(self), uri, GDK_CURRENT_TIME);
    g_free(uri);
    g_object_unref(file);
    g_free(folder);
}

/* The models found, where their parts come from, and where to get FLUX. */
static void show_models_action(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
    RsWindow *self = RS_WINDOW(widget);
    GtkWidget *models = rs_models_window_new(GTK_WINDOW(self), self->discovered);
    if (g_str_equal(action_name, "win.show-models-help"))
        rs_models_window_show_help(RS_MODELS_WINDOW(models));
    gtk_window_present(GTK_WINDOW(models));
}

static void open_folder_action(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
    RsWindow *self = RS_WINDOW(widget);
    if (self->image_path != NULL)
        rs_window_show_folder_of(self, self->image_path);
}

/* ---- parameters from a PNG ----------------------------------------------------------------- */

static gboolean load_engine_record(RsWindow *self, const char *path)
{
    /* the text chunk only: decoding would trust the header's claimed size */
    char *json = rd_png_read_text(path, "resdit", NULL);
    if (json == NULL)
        return FALSE;
    ResditJobParams params;
    resdit_job_params_init(&params);
    GError *error = NULL;
    gboolean ok = resdit_job_params_from_json(&params, json, &error);
    if (ok && !rs_engine_params_apply(self->job, &params))
        show_toast(self, _("The seed of this image is too large for the seed field"));
    if (!ok) {
        show_error(self, _("Could Not Load the Parameters"), error);
        g_error_free(error);
    }
    resdit_job_params_clear(&params);
    g_free(json);
    return ok;
}

static gboolean load_a1111_record(RsWindow *self, const char *path)
{
    char *text = rd_png_read_text(path, "parameters", NULL);
    RsA1111Params record;
    gboolean ok = rs_a1111_parse(text, &record);
    if (ok && !rs_engine_params_apply_a1111(self->job, &record))
        show_toast(self, _("The seed of this image is too large for the seed field"));
    rs_a1111_params_clear(&record);
    g_free(text);
    return ok;
}

gboolean rs_window_load_parameters(RsWindow *self, const char *path)
{
    char *name = g_path_get_basename(path);
    gboolean loaded = load_engine_record(self, path) || load_a1111_record(self, path);
    char *text = loaded ? g_strdup_printf(_("Parameters loaded from “%s”"), name)
                        : g_strdup_printf(_("“%s” has no generation parameters"), name);
    show_toast(self, text);
    g_free(text);
    g_free(name);
    return loaded;
}

/* ---- image to image ------------------------------------------------------------------------ */

/* png (the opened file, or its PNG copy) becomes the job's source; a PNG of this project (or
 * with A1111 parameters) brings its prompt, seed and settings along. */
static void set_source(RsWindow *self, const char *original, const char *png)
{
    gboolean loaded = load_engine_record(self, png) || load_a1111_record(self, png);
    g_object_set(self->job, "init-image", png, NULL);
    char *name = g_path_get_basename(original);
    char *text = loaded ? g_strdup_printf(_("Image to image from “%s”, with its parameters"), name)
                        : g_strdup_printf(_("Image to image from “%s”"), name);
    show_toast(self, text);
    g_free(text);
    g_free(name);
}

static void copy_source_in_thread(GTask *task, gpointer source, gpointer data,
                                  GCancellable *cancellable)
{
    GError *error = NULL;
    char *folder = rs_img2img_sources_folder();
    char *png = rs_img2img_source_png(data, folder, &error);
    g_free(folder);
    if (png != NULL)
        g_task_return_pointer(task, png, g_free);
    else
        g_task_return_error(task, error);
}

static void on_source_copied(GObject *source, GAsyncResult *result, gpointer data)
{
    GError *error = NULL;
    char *png = g_task_propagate_pointer(G_TASK(result), &error);
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
        g_error_free(error);
        return; /* another image was opened, or the window went away */
    }
    RsWindow *self = RS_WINDOW(data);
    if (png == NULL) {
        show_error(self, _("Could Not Open the Image"), error);
        g_error_free(error);
        return;
    }
    set_source(self, g_task_get_task_data(G_TASK(result)), png);
    g_free(png);
}

void rs_window_open_image(RsWindow *self, const char *path)
{
    if (self->source_cancellable != NULL)
        g_cancellable_cancel(self->source_cancellable);
    g_clear_object(&self->source_cancellable);
    if (rs_img2img_is_png(path)) {
        set_source(self, path, path);
        return;
    }
    /* Other formats are decoded and written as a PNG first, off the main thread. */
    self->source_cancellable = g_cancellable_new();
    GTask *task = g_task_new(NULL, self->source_cancellable, on_source_copied, self);
    g_task_set_task_data(task, g_strdup(path), g_free);
    g_task_run_in_thread(task, copy_source_in_thread);
    g_object_unref(task);
}

static void on_open_image_response(GtkNativeDialog *dialog, int response, gpointer data)
{
    RsWindow *self = RS_WINDOW(data);
    if (response == GTK_RESPONSE_ACCEPT) {
        GFile *file = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(dialog));
        char *path = file != NULL ? g_file_get_path(file) : NULL;
        if (path != NULL)
            rs_window_open_image(self, path);
        g_free(path);
        g_clear_object(&file);
    }
    g_clear_object(&self->open_chooser);
}

static void open_image_action(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
    RsWindow *self = RS_WINDOW(widget);
    if (self->open_chooser != NULL)
        return;
    self->open_chooser = gtk_file_chooser_native_new(
        _("Open Image"), GTK_WINDOW(self), GTK_FILE_CHOOSER_ACTION_OPEN, _("_Open"), _("_Cancel"));
    gtk_native_dialog_set_modal(GTK_NATIVE_DIALOG(self->open_chooser), TRUE);
    GtkFileFilter *filter = gtk_file_filter_new();
    gtk_file_filter_set_name(filter, _("Images"));
    gtk_file_filter_add_pixbuf_formats(filter);
    gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(self->open_chooser), filter);
    g_object_unref(filter);
    g_signal_connect(self->open_chooser, "response", G_CALLBACK(on_open_image_response), self);
    gtk_native_dialog_show(GTK_NATIVE_DIALOG(self->open_chooser));
}

static gboolean on_drop(GtkDropTarget *target, const GValue *value, double x, double y,
                        RsWindow *self)
{
    GSList *files = gdk_file_list_get_files(g_value_get_boxed(value));
    gboolean opened = FALSE;
    if (files != NULL) {
        char *path = g_file_get_path(files->data);
        if (path != NULL) {
            rs_window_open_image(self, path);
            opened = TRUE;
        }
        g_free(path);
    }
    g_slist_free(files);
    return opened;
}

/* Queues the upscale of source (params: its own job, made with the model named model_name or
 * NULL when unknown) at the size and strength of the preferences; it starts at once when
 * nothing runs. */
static void queue_upscale(RsWindow *self, ResditJobParams *params, const char *source,
                          const char *model_name)
{
    rs_img2img_upscale_params(params, source, params->width, params->height,
                              g_settings_get_int(self->settings, "upscale-size"),
                              g_settings_get_double(self->settings, "upscale-strength"));
    params->preview_every = g_settings_get_int(self->settings, "preview-interval");
    params->preview_max_side = PREVIEW_MAX_SIDE;
    params->inspect_branches = FALSE;
    char *folder = output_folder(self);
    rs_job_queue_push(self->queue, params, folder);
    g_free(folder);
    start_next(self);
    const char *open_model = resdit_model_name(self->model->model);
    /* Translators: %d × %d is the new size in pixels */
    char *text = model_name != NULL && *model_name && g_strcmp0(model_name, open_model) != 0
                     ? g_strdup_printf(_("Upscaling to %d × %d with %s (the image was made with "
                                         "%s)"),
                                       params->width, params->height, open_model, model_name)
                     : g_strdup_printf(_("Upscaling to %d × %d"), params->width, params->height);
    show_toast(self, text);
    g_free(text);
}

/* Upscale of the image on show: the parameters come from its PNG. */
static void upscale_action(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
    RsWindow *self = RS_WINDOW(widget);
    if (self->image_path == NULL || self->model == NULL)
        return;
    ResditJobParams params;
    resdit_job_params_init(&params);
    resdit_model_job_defaults(self->model->model, &params);
    if (rs_img2img_params_from_png(self->image_path, &params)) {
        char *source = g_strdup(self->image_path);
        queue_upscale(self, &params, source, NULL);
        g_free(source);
    } else {
        char *name = g_path_get_basename(self->image_path);
        char *text = g_strdup_printf(_("“%s” has no generation parameters"), name);
        show_toast(self, text);
        g_free(text);
        g_free(name);
    }
    resdit_job_params_clear(&params);
}

/* ---- the history sidebar ------------------------------------------------------------------- */

static void on_history_image_loaded(GObject *source, GAsyncResult *result, gpointer data)
{
    GError *error = NULL;
    GdkTexture *texture = rs_texture_load_finish(result, &error);
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
        g_error_free(error);
        return; /* another row was chosen, or the window went away */
    }
    RsWindow *self = RS_WINDOW(data);
    RsHistoryItem *item = self->history_loading;
    if (texture == NULL) {
        char *text = g_strdup_printf(_("The image could not be shown: %s"), error->message);
        show_toast(self, text);
        g_free(text);
        g_error_free(error);
        return;
    }
    if (item != NULL && !is_generating(self)) {
        const HistoryGeneration *gen = rs_history_item_get_generation(item);
        rs_window_clear_frames(self);
        rs_window_show_frame(self, RS_BRANCH_FINAL, texture, gen->params.steps, gen->params.steps,
                             _("from the history"));
        g_free(self->image_path);
        self->image_path = g_strdup(gen->image_path);
        update_actions(self);
    }
    g_object_unref(texture);
}

static void on_history_selected(RsHistorySidebar *sidebar, RsHistoryItem *item, RsWindow *self)
{
    if (self->history_load_cancellable != NULL)
        g_cancellable_cancel(self->history_load_cancellable);
    g_clear_object(&self->history_load_cancellable);
    g_set_object(&self->history_loading, item);
    const HistoryGeneration *gen = item != NULL ? rs_history_item_get_generation(item) : NULL;
    /* A running job keeps the canvas. */
    if (gen == NULL || is_generating(self))
        return;
    if (gen->image_path == NULL) {
        /* A cancelled or failed job has no image: the canvas must not keep another one. */
        rs_window_clear_frames(self);
        g_clear_pointer(&self->image_path, g_free);
        update_actions(self);
        return;
    }
    self->history_load_cancellable = g_cancellable_new();
    rs_texture_load_async(gen->image_path, self->history_load_cancellable,
                          on_history_image_loaded, self);
}

static void reuse_parameters(RsWindow *self, RsHistoryItem *item)
{
    const HistoryGeneration *gen = rs_history_item_get_generation(item);
    ResditJobParams params;
    resdit_job_params_init(&params);
    job_record_params_from_history(&gen->params, &params);
    g_object_get(self->job, "inspect-branches", &params.inspect_branches, NULL);
    if (!rs_engine_params_apply(self->job, &params))
        show_toast(self, _("The seed of this image is too large for the seed field"));
    resdit_job_params_clear(&params);
}

static void on_history_reuse(RsHistorySidebar *sidebar, RsHistoryItem *item, RsWindow *self)
{
    reuse_parameters(self, item);
    show_toast(self, _("Parameters restored"));
}

/* Runs a history row again, at once or after the jobs already queued. */
static void run_again(RsWindow *self, RsHistoryItem *item, gboolean new_seed)
{
    if (self->model == NULL) {
        show_toast(self, _("The model is not open yet"));
        return;
    }
    /* The row's seed (or a new one) is for this job only: Random Seed stays as the user set it. */
    gboolean random_seed = FALSE;
    g_object_get(self->job, "random-seed", &random_seed, NULL);
    reuse_parameters(self, item);
    if (new_seed)
        rs_job_settings_roll_seed(self->job);
    queue_from_settings(self, 1);
    g_object_set(self->job, "random-seed", random_seed, NULL);
}

static void on_history_rerun(RsHistorySidebar *sidebar, RsHistoryItem *item, RsWindow *self)
{
    run_again(self, item, FALSE);
}

static void on_history_vary_seed(RsHistorySidebar *sidebar, RsHistoryItem *item, RsWindow *self)
{
    run_again(self, item, TRUE);
}

/* Upscale of a history row: the parameters come from its record. */
static void on_history_upscale(GtkWidget *sender, RsHistoryItem *item, RsWindow *self)
{
    const HistoryGeneration *gen = rs_history_item_get_generation(item);
    if (gen->image_path == NULL)
        return;
    if (self->model == NULL) {
        show_toast(self, _("The model is not open yet"));
        return;
    }
    ResditJobParams params;
    resdit_job_params_init(&params);
    resdit_model_job_defaults(self->model->model, &params);
    job_record_params_from_history(&gen->params, &params);
    queue_upscale(self, &params, gen->image_path, gen->params.model_name);
    resdit_job_params_clear(&params);
}

static void on_history_show_in_folder(RsHistorySidebar *sidebar, RsHistoryItem *item,
                                      RsWindow *self)
{
    const HistoryGeneration *gen = rs_history_item_get_generation(item);
    if (gen->image_path != NULL)
        rs_window_show_folder_of(self, gen->image_path);
}

/* A deleted row while its undo toast shows. Shared (reference counted) by the toast and the
 * window: the toast's end, or the window's, purges it, whichever comes first. */
typedef struct {
    HistoryStore *store;
    GArray *ids;      /* gint64: the rows deleted together (one toast) */
    gboolean settled; /* undone or purged */
} PendingDelete;

static void pending_delete_clear(gpointer data)
{
    g_object_unref(((PendingDelete *)data)->store);
    g_array_unref(((PendingDelete *)data)->ids);
}

static void pending_delete_release(gpointer data, GClosure *closure)
{
    g_rc_box_release_full(data, pending_delete_clear);
}

static void pending_delete_unref(gpointer data)
{
    g_rc_box_release_full(data, pending_delete_clear);
}

static void on_undo_delete(AdwToast *toast, PendingDelete *pending)
{
    if (pending->settled)
        return;
    pending->settled = TRUE;
    for (guint i = 0; i < pending->ids->len; i++) {
        gint64 id = g_array_index(pending->ids, gint64, i);
        GError *error = NULL;
        if (!history_store_undelete(pending->store, id, &error)) {
            g_message("Undo of history row %" G_GINT64_FORMAT " failed: %s", id, error->message);
            g_error_free(error);
        }
    }
}

/* The undo toast is gone: now the row and its image go for good. */
static void purge_pending(PendingDelete *pending)
{
    if (pending->settled)
        return;
    pending->settled = TRUE;
    for (guint i = 0; i < pending->ids->len; i++) {
        gint64 id = g_array_index(pending->ids, gint64, i);
        GError *error = NULL;
        if (!history_store_purge(pending->store, id, &error)) {
            g_message("Purging history row %" G_GINT64_FORMAT " failed: %s (it is purged at the "
                      "next start)",
                      id, error->message);
            g_error_free(error);
        }
    }
}

static void on_delete_toast_dismissed(AdwToast *toast, PendingDelete *pending)
{
    purge_pending(pending);
}

/* Deletes rows (one undo toast for them all). */
static void delete_rows(RsWindow *self, const gint64 *ids, guint n)
{
    GArray *deleted = g_array_new(FALSE, FALSE, sizeof(gint64));
    for (guint i = 0; i < n; i++) {
        GError *error = NULL;
        if (!history_store_delete(self->history, ids[i], &error)) {
            show_error(self, _("Could Not Delete the Image"), error);
            g_error_free(error);
            break;
        }
        g_array_append_val(deleted, ids[i]);
    }
    if (deleted->len == 0) {
        g_array_unref(deleted);
        return;
    }
    PendingDelete *pending = g_rc_box_new0(PendingDelete);
    pending->store = g_object_ref(self->history);
    pending->ids = deleted;
    g_ptr_array_add(self->pending_deletes, pending);
    char *title = deleted->len == 1
                      ? g_strdup(_("Image deleted"))
                      : g_strdup_printf(g_dngettext(GETTEXT_PACKAGE, "%u image deleted",
                                                    "%u images deleted", deleted->len),
                                        deleted->len);
    AdwToast *toast = adw_toast_new(title);
    g_free(title);
    adw_toast_set_button_label(toast, _("_Undo"));
    adw_toast_set_priority(toast, ADW_TOAST_PRIORITY_HIGH);
    g_signal_connect_data(toast, "button-clicked", G_CALLBACK(on_undo_delete),
                          g_rc_box_acquire(pending), pending_delete_release, 0);
    g_signal_connect_data(toast, "dismissed", G_CALLBACK(on_delete_toast_dismissed),
                          g_rc_box_acquire(pending), pending_delete_release, 0);
    adw_toast_overlay_add_toast(self->toast_overlay, toast);
}

/* Deleting is undone from its toast, so it does not ask first. */
static void on_history_delete(RsHistorySidebar *sidebar, RsHistoryItem *item, RsWindow *self)
{
    gint64 id = rs_history_item_get_generation(item)->id;
    delete_rows(self, &id, 1);
}

static void on_gallery_delete(RsHistoryGallery *gallery, GPtrArray *items, RsWindow *self)
{
    gint64 *ids = g_new(gint64, MAX(items->len, 1));
    for (guint i = 0; i < items->len; i++)
        ids[i] = rs_history_item_get_generation(g_ptr_array_index(items, i))->id;
    delete_rows(self, ids, items->len);
    g_free(ids);
}

/* An image opened from the gallery: shown on the canvas, as a sidebar row would be. */
static void on_gallery_activated(RsHistoryGallery *gallery, RsHistoryItem *item, RsWindow *self)
{
    set_gallery(self, FALSE);
    on_history_selected(self->history_sidebar, item, self);
}

static void search_history_action(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
    RsWindow *self = RS_WINDOW(widget);
    adw_flap_set_reveal_flap(self->history_flap, TRUE);
    rs_history_sidebar_focus_search(self->history_sidebar);
}

static void setup_history_sidebar(RsWindow *self)
{
    GPropertyAction *show =
        g_property_action_new("show-history", self->history_flap, "reveal-flap");
    g_action_map_add_action(G_ACTION_MAP(self), G_ACTION(show));
    g_object_unref(show);
    rs_history_sidebar_set_store(self->history_sidebar, self->history);
    if (self->history != NULL)
        history_store_watch(self->history, 2000); /* the command line's jobs appear too */
    g_signal_connect(self->history_sidebar, "selected", G_CALLBACK(on_history_selected), self);
    g_signal_connect(self->history_sidebar, "reuse", G_CALLBACK(on_history_reuse), self);
    g_signal_connect(self->history_sidebar, "rerun", G_CALLBACK(on_history_rerun), self);
    g_signal_connect(self->history_sidebar, "vary-seed", G_CALLBACK(on_history_vary_seed), self);
    g_signal_connect(self->history_sidebar, "show-in-folder", G_CALLBACK(on_history_show_in_folder),
                     self);
    g_signal_connect(self->history_sidebar, "delete", G_CALLBACK(on_history_delete), self);
    g_signal_connect(self->history_sidebar, "upscale", G_CALLBACK(on_history_upscale), self);
    g_signal_connect(self->history_gallery, "upscale", G_CALLBACK(on_history_upscale), self);
    rs_history_gallery_set_store(self->history_gallery, self->history);
    g_signal_connect(self->history_gallery, "delete", G_CALLBACK(on_gallery_delete), self);
    g_signal_connect(self->history_gallery, "activated", G_CALLBACK(on_gallery_activated), self);
    /* the sidebar's handlers use only the item */
    g_signal_connect(self->history_gallery, "reuse", G_CALLBACK(on_history_reuse), self);
    g_signal_connect(self->history_gallery, "show-in-folder",
                     G_CALLBACK(on_history_show_in_folder), self);
}

/* ---- the model picker ---------------------------------------------------------------------- */

/* The model with this key; for a folder chosen by hand that holds several (a ComfyUI models
 * folder), the first model found inside it. */
static const ResditModelPaths *find_discovered(RsWindow *self, const char *key)
{
    for (guint i = 0; self->discovered != NULL && i < self->discovered->len; i++) {
        const ResditModelPaths *paths = g_ptr_array_index(self->discovered, i);
        if (g_strcmp0(rs_model_paths_key(paths), key) == 0)
            return paths;
    }
    char *prefix = g_str_has_suffix(key, G_DIR_SEPARATOR_S)
                       ? g_strdup(key)
                       : g_strconcat(key, G_DIR_SEPARATOR_S, NULL);
    const ResditModelPaths *inside = NULL;
    for (guint i = 0; inside == NULL && self->discovered != NULL && i < self->discovered->len;
         i++) {
        const ResditModelPaths *paths = g_ptr_array_index(self->discovered, i);
        if (g_str_has_prefix(rs_model_paths_key(paths), prefix))
            inside = paths;
    }
    g_free(prefix);
    return inside;
}

/* The "model" setting; its default, "" (automatic), is the first complete model discovered (a
 * FLUX model when there is one, else the built-in demo model, which discovery lists last), or the
 * self-test model when discovery found none. NULL while discovery runs. */
static char *chosen_model_key(RsWindow *self)
{
    char *key = g_settings_get_string(self->settings, "model");
    if (*key != '\0')
        return key;
    g_free(key);
    if (self->discovered == NULL)
        return NULL;
    for (guint i = 0; i < self->discovered->len; i++) {
        const ResditModelPaths *paths = g_ptr_array_index(self->discovered, i);
        char *missing = resdit_model_paths_missing(paths);
        g_free(missing);
        if (missing == NULL)
            return g_strdup(rs_model_paths_key(paths));
    }
    return g_strdup(SELF_TEST_MODEL);
}

static void update_model_label(RsWindow *self)
{
    char *model = chosen_model_key(self);
    if (model == NULL) { /* automatic, discovery still running */
        gtk_label_set_label(self->model_label, _("Looking for models…"));
        return;
    }
    const ResditModelPaths *paths = find_discovered(self, model);
    gboolean selftest = g_str_equal(model, SELF_TEST_MODEL);
    /* Say plainly what the self-test model is: its images are noise. */
    const char *about_selftest = _("Built-in test model: draws noise, for checking the machinery");
    adw_window_title_set_subtitle(self->window_title, selftest ? about_selftest : "");
    gtk_widget_set_tooltip_text(GTK_WIDGET(self->model_button),
                                selftest ? about_selftest : _("Choose the Model"));
    if (selftest) {
        gtk_label_set_label(self->model_label, _("Self-test model"));
    } else if (paths != NULL) {
        gtk_label_set_label(self->model_label, paths->name);
    } else {
        char *name = g_path_get_basename(model);
        gtk_label_set_label(self->model_label, name);
        g_free(name);
    }
    g_free(model);
}

/* The chosen model cannot be used: a notice under the header bar says why and what to do, until
 * another model opens (an error dialog would go and leave the user guessing). */
static void show_model_notice(RsWindow *self, const char *text)
{
    gtk_label_set_label(self->model_notice_label, text);
    gtk_revealer_set_reveal_child(self->model_notice, TRUE);
    self->model_problem = TRUE;
    update_actions(self);
}

static void hide_model_notice(RsWindow *self)
{
    gtk_revealer_set_reveal_child(self->model_notice, FALSE);
    self->model_problem = FALSE;
}

/* What a partial model lacks and where the parts go. */
static char *partial_model_text(const ResditModelPaths *paths, const char *missing)
{
    char *folder = paths->root != NULL ? g_strdup(paths->root)
                   : paths->transformer != NULL ? g_path_get_dirname(paths->transformer)
                                                : NULL;
    char *text =
        folder == NULL ? g_strdup_printf(_("“%s” is missing parts: %s. Choose another model."),
                                         paths->name, missing)
        : paths->family == RESDIT_FAMILY_SD3
            /* Translators: a model name, the parts it lacks ("clip-g") and its folder */
            ? g_strdup_printf(_("“%s” is missing parts: %s. Put them into “%s” (a diffusers SD3 "
                                "folder has transformer, vae, text_encoder for CLIP-L, "
                                "text_encoder_2 for CLIP-G and, optionally, text_encoder_3 for "
                                "T5), or choose another model."),
                              paths->name, missing, folder)
            /* Translators: a model name, the parts it lacks ("vae, t5") and its folder */
            : g_strdup_printf(_("“%s” is missing parts: %s. Put them into “%s” (a diffusers "
                                "folder has transformer, vae, text_encoder for CLIP-L and "
                                "text_encoder_2 for T5), or choose another model."),
                              paths->name, missing, folder);
    g_free(folder);
    return text;
}

/* Size and steps follow the model and the backend until the user chooses them. */
static void apply_model_defaults(RsWindow *self, const ResditModel *model)
{
    self->applying_defaults = TRUE;
    g_object_freeze_notify(G_OBJECT(self->job));
    if (!g_settings_get_boolean(self->settings, "size-chosen")) {
        g_free(self->auto_size_preset);
        self->auto_size_preset = g_strdup(rs_default_size_preset(model));
        g_object_set(self->job, "size-preset", self->auto_size_preset, NULL);
    }
    if (!g_settings_get_boolean(self->settings, "steps-chosen")) {
        rs_default_steps(model, &self->auto_steps, &self->auto_global_steps,
                         &self->auto_local_steps);
        g_object_set(self->job, "global-steps", 0, "local-steps", 0, NULL);
        g_object_set(self->job, "steps", self->auto_steps, NULL);
        g_object_set(self->job, "global-steps", self->auto_global_steps, "local-steps",
                     self->auto_local_steps, NULL);
    }
    if (!g_settings_get_boolean(self->settings, "guidance-chosen")) {
        self->auto_guidance = CLAMP(resdit_model_default_guidance(model), 0.0, 20.0);
        g_object_set(self->job, "guidance", self->auto_guidance, NULL);
    }
    g_object_thaw_notify(G_OBJECT(self->job));
    self->applying_defaults = FALSE;
}

static void on_job_size_changed(RsWindow *self)
{
    if (self->applying_defaults || g_settings_get_boolean(self->settings, "size-chosen"))
        return;
    char *aspect = NULL, *preset = NULL;
    g_object_get(self->job, "aspect", &aspect, "size-preset", &preset, NULL);
    if (g_strcmp0(aspect, "custom") == 0 || g_strcmp0(preset, self->auto_size_preset) != 0)
        g_settings_set_boolean(self->settings, "size-chosen", TRUE);
    g_free(aspect);
    g_free(preset);
}

static void on_job_steps_changed(RsWindow *self)
{
    if (self->applying_defaults || g_settings_get_boolean(self->settings, "steps-chosen"))
        return;
    int steps, global, local;
    g_object_get(self->job, "steps", &steps, "global-steps", &global, "local-steps", &local, NULL);
    if (steps != self->auto_steps || global != self->auto_global_steps ||
        local != self->auto_local_steps)
        g_settings_set_boolean(self->settings, "steps-chosen", TRUE);
}

static void on_job_guidance_changed(RsWindow *self)
{
    if (self->applying_defaults || g_settings_get_boolean(self->settings, "guidance-chosen"))
        return;
    double guidance;
    g_object_get(self->job, "guidance", &guidance, NULL);
    if (guidance != self->auto_guidance)
        g_settings_set_boolean(self->settings, "guidance-chosen", TRUE);
}

/* What the job has now counts as the automatic values until a model sets its own. */
static void watch_user_choices(RsWindow *self)
{
    g_object_get(self->job, "size-preset", &self->auto_size_preset, "steps", &self->auto_steps,
                 "global-steps", &self->auto_global_steps, "local-steps", &self->auto_local_steps,
                 "guidance", &self->auto_guidance, NULL);
    g_signal_connect_object(self->job, "notify::guidance", G_CALLBACK(on_job_guidance_changed),
                            self, G_CONNECT_SWAPPED);
    const char *size_props[] = {"notify::aspect", "notify::size-preset", "notify::custom-width",
                                "notify::custom-height"};
    for (gsize i = 0; i < G_N_ELEMENTS(size_props); i++)
        g_signal_connect_object(self->job, size_props[i], G_CALLBACK(on_job_size_changed), self,
                                G_CONNECT_SWAPPED);
    const char *steps_props[] = {"notify::steps", "notify::global-steps", "notify::local-steps"};
    for (gsize i = 0; i < G_N_ELEMENTS(steps_props); i++)
        g_signal_connect_object(self->job, steps_props[i], G_CALLBACK(on_job_steps_changed), self,
                                G_CONNECT_SWAPPED);
}

static void set_model(RsWindow *self, RsModelHandle *model)
{
    g_clear_pointer(&self->model, rs_model_handle_unref);
    self->model = model;
    if (model != NULL) {
        /* The model's base size, patch and prompt, then the size and steps that follow the
         * model and the backend until the user chooses them. */
        rs_engine_params_adopt_model(self->job, model->model);
        apply_model_defaults(self, model->model);
    }
    rs_params_panel_set_model(self->params_panel, model);
    update_actions(self);
    g_object_notify(G_OBJECT(self), "model-ready");
}

static void on_model_opened(GObject *source, GAsyncResult *result, gpointer data)
{
    GError *error = NULL;
    RsModelHandle *model = rs_model_handle_open_finish(result, &error);
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
        g_error_free(error);
        if (model != NULL)
            rs_model_handle_unref(model);
        return; /* the window went away or another model was chosen */
    }
    RsWindow *self = RS_WINDOW(data);
    g_clear_pointer(&self->opening_key, g_free);
    g_clear_object(&self->model_cancellable);
    if (model == NULL) {
        if (self->generate_pending) {
            self->generate_pending = FALSE;
            stop_clock(self);
            gtk_revealer_set_reveal_child(self->progress_revealer, FALSE);
        }
        /* Translators: why the model could not be opened, then what to do */
        char *text = g_strdup_printf(_("The model could not be opened: %s %s"), error->message,
                                     rs_error_next_step(error));
        show_model_notice(self, text);
        g_free(text);
        g_error_free(error);
        return;
    }
    set_model(self, model);
    if (self->generate_pending) {
        queue_from_settings(self, rs_job_settings_get_batch_count(self->job));
        /* Queued behind a job of the previous model rather than started: nothing pends now. */
        self->generate_pending = FALSE;
        update_actions(self);
    } else {
        start_next(self); /* jobs queued before the model changed */
    }
}

/* Opens the chosen model unless it is open or opening; the self-test model needs no discovery. */
static void ensure_model(RsWindow *self)
{
    char *key = chosen_model_key(self);
    if (key == NULL)
        return; /* automatic: opened when discovery is done */
    gboolean selftest = g_str_equal(key, SELF_TEST_MODEL);
    if ((self->model != NULL && g_str_equal(self->model->key, key)) ||
        g_strcmp0(self->opening_key, key) == 0 || (!selftest && self->discovered == NULL)) {
        g_free(key);
        return;
    }
    if (self->model_cancellable != NULL)
        g_cancellable_cancel(self->model_cancellable);
    g_clear_object(&self->model_cancellable);
    g_clear_pointer(&self->opening_key, g_free); /* a model still opening is not wanted now */
    set_model(self, NULL);
    hide_model_notice(self);
    const ResditModelPaths *paths = selftest ? NULL : find_discovered(self, key);
    char *missing = paths != NULL ? resdit_model_paths_missing(paths) : NULL;
    if ((!selftest && paths == NULL) || missing != NULL) {
        char *text =
            missing != NULL
                ? partial_model_text(paths, missing)
                /* Translators: %s is a folder */
                : g_strdup_printf(_("No FLUX.1 model was found in “%s”. Choose a folder with a "
                                    "diffusers model (model_index.json) or the FLUX single "
                                    "files, or choose another model."),
                                  key);
        show_model_notice(self, text);
        g_free(text);
        g_free(missing);
        g_free(key);
        return;
    }
    self->opening_key = key;
    self->model_cancellable = g_cancellable_new();
    update_actions(self);
    rs_model_handle_open_async(key, paths, g_settings_get_enum(self->settings, "backend"),
                               self->model_cancellable, on_model_opened, self);
}

static void reopen_model(RsWindow *self)
{
    set_model(self, NULL);
    g_clear_pointer(&self->opening_key, g_free);
    ensure_model(self);
}

static void rebuild_model_menu(RsWindow *self)
{
    g_menu_remove_all(self->model_folders_section);
    for (guint i = 0; self->discovered != NULL && i < self->discovered->len; i++) {
        const ResditModelPaths *paths = g_ptr_array_index(self->discovered, i);
        char *missing = resdit_model_paths_missing(paths);
        /* Translators: a model name and the parts it lacks ("vae, t5") */
        char *label = missing != NULL ? g_strdup_printf(_("%s (missing: %s)"), paths->name, missing)
                                      : g_strdup(paths->name);
        GMenuItem *item = g_menu_item_new(label, NULL);
        /* A partial model is listed (so its missing parts are known) but cannot be chosen. */
        if (missing == NULL)
            g_menu_item_set_action_and_target_value(
                item, "win.model", g_variant_new_string(rs_model_paths_key(paths)));
        g_menu_append_item(self->model_folders_section, item);
        g_object_unref(item);
        g_free(label);
        g_free(missing);
    }
}

static void on_models_discovered(GObject *source, GAsyncResult *result, gpointer data)
{
    GError *error = NULL;
    GPtrArray *models = rs_models_discover_finish(result, &error);
    if (models == NULL) {
        g_error_free(error); /* cancelled: the window went away */
        return;
    }
    RsWindow *self = RS_WINDOW(data);
    g_clear_object(&self->discovery_cancellable);
    g_clear_pointer(&self->discovered, g_ptr_array_unref);
    self->discovered = models;
    rebuild_model_menu(self);
    update_model_label(self);
    ensure_model(self);
}

static void discover_models(RsWindow *self)
{
    if (self->discovery_cancellable != NULL)
        g_cancellable_cancel(self->discovery_cancellable);
    g_clear_object(&self->discovery_cancellable);
    /* Until it is done, a model chosen meanwhile waits for it (ensure_model). */
    g_clear_pointer(&self->discovered, g_ptr_array_unref);
    self->discovery_cancellable = g_cancellable_new();
    char **folders = g_settings_get_strv(self->settings, "model-folders");
    rs_models_discover_async((const char *const *)folders, self->discovery_cancellable,
                             on_models_discovered, self);
    rs_params_panel_discover_loras(self->params_panel, (const char *const *)folders);
    g_strfreev(folders);
}

static void add_model_folder(RsWindow *self, const char *path)
{
    rs_model_folders_add(self->settings, path);
    g_settings_set_string(self->settings, "model", path);
}

static void on_folder_chosen(GtkNativeDialog *dialog, int response, gpointer user_data)
{
    RsWindow *self = RS_WINDOW(user_data);
    if (response == GTK_RESPONSE_ACCEPT) {
        GFile *folder = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(dialog));
        char *path = g_file_get_path(folder);
        if (path != NULL)
            add_model_folder(self, path);
        g_free(path);
        g_object_unref(folder);
    }
    g_clear_object(&self->folder_chooser);
}

static void open_model_folder_action(GtkWidget *widget, const char *action_name,
                                     GVariant *parameter)
{
    RsWindow *self = RS_WINDOW(widget);
    if (self->folder_chooser != NULL)
        return;
    self->folder_chooser = gtk_file_chooser_native_new(_("Open Model Folder"), GTK_WINDOW(self),
                                                       GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER,
                                                       _("_Open"), _("_Cancel"));
    gtk_native_dialog_set_modal(GTK_NATIVE_DIALOG(self->folder_chooser), TRUE);
    g_signal_connect(self->folder_chooser, "response", G_CALLBACK(on_folder_chosen), self);
    gtk_native_dialog_show(GTK_NATIVE_DIALOG(self->folder_chooser));
}

enum { PROP_0, PROP_VIEW, PROP_MODEL_READY, PROP_COMPARE, PROP_GALLERY };

static void rs_window_get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
    if (id == PROP_MODEL_READY)
        g_value_set_boolean(value, RS_WINDOW(object)->model != NULL);
    else if (id == PROP_COMPARE)
        g_value_set_boolean(value, RS_WINDOW(object)->compare);
    else if (id == PROP_GALLERY)
        g_value_set_boolean(value, RS_WINDOW(object)->gallery);
    else
        g_value_set_string(value, branch_ids[RS_WINDOW(object)->view]);
}

static void rs_window_set_property(GObject *object, guint id, const GValue *value,
                                   GParamSpec *pspec)
{
    if (id == PROP_COMPARE)
        set_compare(RS_WINDOW(object), g_value_get_boolean(value));
    else if (id == PROP_GALLERY)
        set_gallery(RS_WINDOW(object), g_value_get_boolean(value));
    else
        select_view(RS_WINDOW(object), g_value_get_string(value));
}

static void rs_window_dispose(GObject *object)
{
    RsWindow *self = RS_WINDOW(object);
    if (self->folder_chooser != NULL)
        gtk_native_dialog_destroy(GTK_NATIVE_DIALOG(self->folder_chooser));
    g_clear_object(&self->folder_chooser);
    if (self->save_chooser != NULL)
        gtk_native_dialog_destroy(GTK_NATIVE_DIALOG(self->save_chooser));
    g_clear_object(&self->save_chooser);
    if (self->open_chooser != NULL)
        gtk_native_dialog_destroy(GTK_NATIVE_DIALOG(self->open_chooser));
    g_clear_object(&self->open_chooser);
    /* Running work stops; its callbacks see the cancellation and leave the window alone. */
    GCancellable **cancellables[] = {&self->discovery_cancellable, &self->model_cancellable,
                                     &self->generation_cancellable,
                                     &self->history_load_cancellable, &self->source_cancellable};
    for (gsize i = 0; i < G_N_ELEMENTS(cancellables); i++) {
        if (*cancellables[i] != NULL)
            g_cancellable_cancel(*cancellables[i]);
        g_clear_object(cancellables[i]);
    }
    if (self->generation != NULL)
        g_signal_handlers_disconnect_by_data(self->generation, self);
    g_clear_object(&self->generation);
    g_clear_object(&self->run_guard);
    g_clear_object(&self->history_loading);
    g_clear_pointer(&self->model, rs_model_handle_unref);
    g_clear_pointer(&self->opening_key, g_free);
    g_clear_pointer(&self->discovered, g_ptr_array_unref);
    g_clear_pointer(&self->image_path, g_free);
    g_clear_handle_id(&self->zoom_label_idle, g_source_remove);
    g_clear_handle_id(&self->clock_timer, g_source_remove);
    g_clear_pointer(&self->auto_size_preset, g_free);
    for (int b = 0; b < RS_N_BRANCHES; b++) {
        g_clear_object(&self->frames[b].texture);
        g_clear_pointer(&self->frames[b].phase, g_free);
    }
    if (self->history_gallery != NULL)
        rs_history_gallery_set_store(self->history_gallery, NULL);
    if (self->history_sidebar != NULL)
        rs_history_sidebar_set_store(self->history_sidebar, NULL);
    /* Dismissing the toasts (undo of a delete) still needs the history; deletes whose toast
     * is not dismissed with the window are made final here. */
    gtk_widget_dispose_template(GTK_WIDGET(self), RS_TYPE_WINDOW);
    g_clear_object(&self->queue);
    if (self->pending_deletes != NULL) {
        for (guint i = 0; i < self->pending_deletes->len; i++)
            purge_pending(g_ptr_array_index(self->pending_deletes, i));
        g_clear_pointer(&self->pending_deletes, g_ptr_array_unref);
    }
    if (self->history != NULL)
        history_store_close(self->history);
    g_clear_object(&self->history);
    g_clear_object(&self->job);
    g_clear_object(&self->settings);
    G_OBJECT_CLASS(rs_window_parent_class)->dispose(object);
}

static void on_close_response(AdwMessageDialog *dialog, const char *response, RsWindow *self)
{
    self->close_dialog = NULL;
    if (!g_str_equal(response, "stop"))
        return;
    rs_job_queue_clear(self->queue); /* the user saw them in the question */
    if (is_generating(self)) {
        self->close_when_stopped = TRUE;
        cancel_job(self);
    } else {
        cancel_job(self); /* a job waiting for its model */
        gtk_window_close(GTK_WINDOW(self));
    }
}

/* Closing the window (or Ctrl+Q) during a job asks first; the job stops cleanly before the window
 * goes. */
static gboolean rs_window_close_request(GtkWindow *window)
{
    RsWindow *self = RS_WINDOW(window);
    guint waiting = n_waiting(self);
    if (!is_busy(self) && waiting == 0)
        return GTK_WINDOW_CLASS(rs_window_parent_class)->close_request(window);
    if (self->close_when_stopped)
        return TRUE; /* closes as soon as the engine has stopped */
    if (self->close_dialog != NULL) {
        gtk_window_present(GTK_WINDOW(self->close_dialog));
        return TRUE;
    }
    /* Queued jobs are named too: closing drops them. */
    const char *running = _("The image being generated is not finished and will not be saved.");
    char *queued = g_strdup_printf(
        ngettext("%u queued job will not run.", "%u queued jobs will not run.", waiting), waiting);
    char *body = !is_busy(self) ? g_strdup(queued)
                 : waiting > 0  ? g_strdup_printf("%s %s", running, queued)
                                : g_strdup(running);
    GtkWidget *dialog = adw_message_dialog_new(
        window, is_busy(self) ? _("Stop the Generation?") : _("Drop the Queued Jobs?"), body);
    g_free(body);
    g_free(queued);
    adw_message_dialog_add_responses(ADW_MESSAGE_DIALOG(dialog), "keep", _("_Keep Generating"),
                                     "stop", _("_Stop and Close"), NULL);
    adw_message_dialog_set_response_appearance(ADW_MESSAGE_DIALOG(dialog), "stop",
                                               ADW_RESPONSE_DESTRUCTIVE);
    adw_message_dialog_set_default_response(ADW_MESSAGE_DIALOG(dialog), "keep");
    adw_message_dialog_set_close_response(ADW_MESSAGE_DIALOG(dialog), "keep");
    g_signal_connect_object(dialog, "response", G_CALLBACK(on_close_response), self, 0);
    self->close_dialog = ADW_MESSAGE_DIALOG(dialog);
    gtk_window_present(GTK_WINDOW(dialog));
    return TRUE;
}

static void rs_window_class_init(RsWindowClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);

    object_class->dispose = rs_window_dispose;
    GTK_WINDOW_CLASS(klass)->close_request = rs_window_close_request;
    object_class->get_property = rs_window_get_property;
    object_class->set_property = rs_window_set_property;
    g_object_class_install_property(
        object_class, PROP_VIEW,
        g_param_spec_string("view", NULL, NULL, "final",
                            G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));
    g_object_class_install_property(
        object_class, PROP_MODEL_READY,
        g_param_spec_boolean("model-ready", NULL, NULL, FALSE,
                             G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));
    g_object_class_install_property(
        object_class, PROP_COMPARE,
        g_param_spec_boolean("compare", NULL, NULL, FALSE,
                             G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));
    g_object_class_install_property(
        object_class, PROP_GALLERY,
        g_param_spec_boolean("gallery", NULL, NULL, FALSE,
                             G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));
    /* The engine job has ended (done, cancelled or failed) and the window shows it. */
    g_signal_new("job-finished", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                 G_TYPE_NONE, 0);

    g_type_ensure(RS_TYPE_PARAMS_PANEL);
    g_type_ensure(RS_TYPE_CANVAS);
    g_type_ensure(RS_TYPE_COMPARE_VIEW);
    g_type_ensure(RS_TYPE_HISTORY_GALLERY);
    g_type_ensure(RS_TYPE_HISTORY_SIDEBAR);
    gtk_widget_class_set_template_from_resource(widget_class,
                                                "/io/github/resdit/Studio/rs-window.ui");
    gtk_widget_class_bind_template_child(widget_class, RsWindow, window_title);
    gtk_widget_class_bind_template_child(widget_class, RsWindow, model_button);
    gtk_widget_class_bind_template_child(widget_class, RsWindow, model_notice);
    gtk_widget_class_bind_template_child(widget_class, RsWindow, model_notice_label);
    gtk_widget_class_bind_template_child(widget_class, RsWindow, model_label);
    gtk_widget_class_bind_template_child(widget_class, RsWindow, model_folders_section);
    gtk_widget_class_bind_template_child(widget_class, RsWindow, params_panel);
    gtk_widget_class_bind_template_child_full(widget_class, "view_global", FALSE,
                                              G_STRUCT_OFFSET(RsWindow, view_buttons[0]));
    gtk_widget_class_bind_template_child_full(widget_class, "view_local", FALSE,
                                              G_STRUCT_OFFSET(RsWindow, view_buttons[1]));
    gtk_widget_class_bind_template_child_full(widget_class, "view_fused", FALSE,
                                              G_STRUCT_OFFSET(RsWindow, view_buttons[2]));
    gtk_widget_class_bind_template_child_full(widget_class, "view_final", FALSE,
                                              G_STRUCT_OFFSET(RsWindow, view_buttons[3]));
    gtk_widget_class_bind_template_child(widget_class, RsWindow, frame_label);
    gtk_widget_class_bind_template_child(widget_class, RsWindow, zoom_label);
    gtk_widget_class_bind_template_child(widget_class, RsWindow, canvas_stack);
    gtk_widget_class_bind_template_child(widget_class, RsWindow, canvas);
    gtk_widget_class_bind_template_child(widget_class, RsWindow, compare_view);
    gtk_widget_class_bind_template_child(widget_class, RsWindow, history_gallery);
    gtk_widget_class_bind_template_child_full(widget_class, "gallery_button", FALSE, 0);
    gtk_widget_class_bind_template_child_full(widget_class, "compare_button", FALSE, 0);
    gtk_widget_class_bind_template_child_full(widget_class, "compare_direct_button", FALSE, 0);
    gtk_widget_class_bind_template_child(widget_class, RsWindow, toast_overlay);
    gtk_widget_class_bind_template_child(widget_class, RsWindow, generate_button);
    gtk_widget_class_bind_template_child(widget_class, RsWindow, queue_button);
    gtk_widget_class_bind_template_child(widget_class, RsWindow, queue_count_label);
    gtk_widget_class_bind_template_child(widget_class, RsWindow, queue_list);
    gtk_widget_class_bind_template_child(widget_class, RsWindow, queue_running_box);
    gtk_widget_class_bind_template_child(widget_class, RsWindow, queue_running_row);
    gtk_widget_class_bind_template_child(widget_class, RsWindow, progress_revealer);
    gtk_widget_class_bind_template_child(widget_class, RsWindow, progress_bar);
    gtk_widget_class_bind_template_child(widget_class, RsWindow, progress_label);
    gtk_widget_class_bind_template_child(widget_class, RsWindow, history_sidebar);
    gtk_widget_class_bind_template_child(widget_class, RsWindow, params_flap);
    gtk_widget_class_bind_template_child_full(widget_class, "params_button", FALSE, 0);
    gtk_widget_class_bind_template_child(widget_class, RsWindow, history_flap);
    gtk_widget_class_bind_template_child_full(widget_class, "history_button", FALSE, 0);
    gtk_widget_class_bind_template_child_full(widget_class, "save_as_button", FALSE, 0);
    gtk_widget_class_bind_template_child_full(widget_class, "export_button", FALSE, 0);
    gtk_widget_class_bind_template_child_full(widget_class, "fullscreen_button", FALSE, 0);
    gtk_widget_class_bind_template_child_full(widget_class, "copy_image_button", FALSE, 0);
    gtk_widget_class_bind_template_child_full(widget_class, "open_folder_button", FALSE, 0);
    gtk_widget_class_bind_template_child_full(widget_class, "upscale_button", FALSE, 0);

    gtk_widget_class_install_property_action(widget_class, "win.view", "view");
    gtk_widget_class_install_property_action(widget_class, "win.compare", "compare");
    gtk_widget_class_install_property_action(widget_class, "win.gallery", "gallery");
    gtk_widget_class_install_action(widget_class, "win.compare-direct", NULL,
                                    compare_direct_action);
    gtk_widget_class_install_action(widget_class, "win.zoom-in", NULL, zoom_action);
    gtk_widget_class_install_action(widget_class, "win.zoom-out", NULL, zoom_action);
    gtk_widget_class_install_action(widget_class, "win.zoom-best-fit", NULL, zoom_action);
    gtk_widget_class_install_action(widget_class, "win.zoom-100", NULL, zoom_action);
    gtk_widget_class_install_action(widget_class, "win.generate", NULL, generate_action);
    gtk_widget_class_install_action(widget_class, "win.cancel", NULL, cancel_action);
    gtk_widget_class_install_action(widget_class, "win.queue-up", "u", queue_action);
    gtk_widget_class_install_action(widget_class, "win.queue-down", "u", queue_action);
    gtk_widget_class_install_action(widget_class, "win.queue-remove", "u", queue_action);
    gtk_widget_class_install_action(widget_class, "win.open-model-folder", NULL,
                                    open_model_folder_action);
    gtk_widget_class_install_action(widget_class, "win.save-as", NULL, save_as_action);
    gtk_widget_class_install_action(widget_class, "win.export", NULL, export_action);
    gtk_widget_class_install_property_action(widget_class, "win.fullscreen", "fullscreened");
    gtk_widget_class_install_action(widget_class, "win.leave-fullscreen", NULL,
                                    leave_fullscreen_action);
    gtk_widget_class_install_action(widget_class, "win.copy-image", NULL, copy_image_action);
    gtk_widget_class_install_action(widget_class, "win.open-folder", NULL, open_folder_action);
    gtk_widget_class_install_action(widget_class, "win.open-image", NULL, open_image_action);
    gtk_widget_class_install_action(widget_class, "win.upscale", NULL, upscale_action);
    gtk_widget_class_install_action(widget_class, "win.show-models", NULL, show_models_action);
    gtk_widget_class_install_action(widget_class, "win.show-models-help", NULL,
                                    show_models_action);
    gtk_widget_class_install_action(widget_class, "win.search-history", NULL,
                                    search_history_action);
}

static void bind_window_state(RsWindow *self)
{
    g_settings_bind(self->settings, "window-width", self, "default-width", G_SETTINGS_BIND_DEFAULT);
    g_settings_bind(self->settings, "window-height", self, "default-height",
                    G_SETTINGS_BIND_DEFAULT);
    g_settings_bind(self->settings, "window-maximized", self, "maximized", G_SETTINGS_BIND_DEFAULT);
}

static void setup_model_picker(RsWindow *self)
{
    GAction *model = g_settings_create_action(self->settings, "model");
    g_action_map_add_action(G_ACTION_MAP(self), model);
    g_object_unref(model);
    g_signal_connect_object(self->settings, "changed::model", G_CALLBACK(update_model_label), self,
                            G_CONNECT_SWAPPED);
    g_signal_connect_object(self->settings, "changed::model", G_CALLBACK(ensure_model), self,
                            G_CONNECT_SWAPPED);
    g_signal_connect_object(self->settings, "changed::backend", G_CALLBACK(reopen_model), self,
                            G_CONNECT_SWAPPED);
    g_signal_connect_object(self->settings, "changed::model-folders", G_CALLBACK(discover_models),
                            self, G_CONNECT_SWAPPED);
    update_model_label(self);
    discover_models(self);
    ensure_model(self);
}

static void show_recovery_notice(RsWindow *self)
{
    g_signal_handlers_disconnect_by_func(self, show_recovery_notice, NULL);
    GtkWidget *dialog = adw_message_dialog_new(GTK_WINDOW(self), _("History Recovered"), NULL);
    adw_message_dialog_format_body(
        ADW_MESSAGE_DIALOG(dialog), "%s\n\n%s",
        _("The history file could not be read. Nothing was deleted: the damaged file was kept "
          "aside and a new history was started."),
        history_store_get_recovery_notice(self->history));
    adw_message_dialog_add_response(ADW_MESSAGE_DIALOG(dialog), "close", _("_Close"));
    gtk_window_present(GTK_WINDOW(dialog));
}

static void open_history(RsWindow *self)
{
    char *path = history_store_default_path();
    GError *error = NULL;
    self->history = history_store_open(path, &error);
    if (self->history == NULL) {
        char *text = g_strdup_printf(_("The history could not be opened: %s"), error->message);
        show_toast(self, text);
        g_free(text);
        g_error_free(error);
    } else if (history_store_get_recovery_notice(self->history) != NULL) {
        /* Rare and important: a dialog once the window is on screen. */
        g_signal_connect(self, "map", G_CALLBACK(show_recovery_notice), NULL);
    }
    g_free(path);
}

static void setup_drop_target(RsWindow *self)
{
    GtkDropTarget *target = gtk_drop_target_new(GDK_TYPE_FILE_LIST, GDK_ACTION_COPY);
    g_signal_connect(target, "drop", G_CALLBACK(on_drop), self);
    gtk_widget_add_controller(GTK_WIDGET(self), GTK_EVENT_CONTROLLER(target));
}

/* Loupe's plain-key zoom shortcuts, and Escape to cancel the running job. They run in the bubble
 * phase, so a focused prompt or spin button that takes the key (typing "1" in the seed, Escape in
 * the search entry) comes first. */
static void add_zoom_keys(RsWindow *self)
{
    static const struct {
        guint key;
        const char *action;
    } keys[] = {
        {GDK_KEY_plus, "win.zoom-in"},         {GDK_KEY_equal, "win.zoom-in"},
        {GDK_KEY_KP_Add, "win.zoom-in"},       {GDK_KEY_minus, "win.zoom-out"},
        {GDK_KEY_KP_Subtract, "win.zoom-out"}, {GDK_KEY_0, "win.zoom-best-fit"},
        {GDK_KEY_KP_0, "win.zoom-best-fit"},   {GDK_KEY_1, "win.zoom-100"},
        {GDK_KEY_KP_1, "win.zoom-100"},        {GDK_KEY_Escape, "win.cancel"},
        /* tried when win.cancel is disabled: no job runs */
        {GDK_KEY_Escape, "win.leave-fullscreen"},
    };
    GtkEventController *controller = gtk_shortcut_controller_new();
    for (gsize i = 0; i < G_N_ELEMENTS(keys); i++)
        gtk_shortcut_controller_add_shortcut(
            GTK_SHORTCUT_CONTROLLER(controller),
            gtk_shortcut_new(gtk_keyval_trigger_new(keys[i].key, 0),
                             gtk_named_action_new(keys[i].action)));
    gtk_widget_add_controller(GTK_WIDGET(self), controller);
}

static void rs_window_init(RsWindow *self)
{
    gtk_widget_init_template(GTK_WIDGET(self));
    self->pending_deletes = g_ptr_array_new_with_free_func(pending_delete_unref);
    self->settings = g_settings_new("io.github.resdit.Studio");
    self->job = rs_job_settings_new();
    self->view = RS_BRANCH_FINAL;
    self->run_guard = rs_run_guard_new(GTK_WINDOW(self));
    rs_job_settings_bind(self->job, self->settings);
    watch_user_choices(self);
    rs_params_panel_set_job(self->params_panel, self->job);
    bind_window_state(self);
    add_zoom_keys(self);

    g_signal_connect_object(self->canvas, "notify::zoom", G_CALLBACK(queue_zoom_label), self,
                            G_CONNECT_SWAPPED);
    g_signal_connect_object(self->canvas, "notify::texture", G_CALLBACK(queue_zoom_label), self,
                            G_CONNECT_SWAPPED);
    update_zoom_label(self);
    for (int b = 0; b < RS_N_BRANCHES; b++)
        g_signal_connect(self->view_buttons[b], "toggled", G_CALLBACK(on_view_toggled), self);
    gtk_toggle_button_set_active(self->view_buttons[RS_BRANCH_FINAL], TRUE);
    setup_drop_target(self);
    rs_image_drag_attach(self->canvas, drag_path, self);
    AdwFlap *flaps[] = {self->params_flap, self->history_flap};
    rs_fullscreen_attach(GTK_WINDOW(self), flaps, G_N_ELEMENTS(flaps));
    g_signal_connect_swapped(self, "notify::fullscreened", G_CALLBACK(update_actions), self);
    open_history(self);
    setup_history_sidebar(self);
    setup_queue(self);
    update_actions(self);
    setup_model_picker(self);
    if (DEVELOPMENT_BUILD)
        gtk_widget_add_css_class(GTK_WIDGET(self), "devel");
}

RsWindow *rs_window_new(RsApplication *app)
{
    return g_object_new(RS_TYPE_WINDOW, "application", app, NULL);
}
