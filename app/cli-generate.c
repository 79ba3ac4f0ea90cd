/* resdit generate: prompt -> PNG from the command line, with a progress bar, Ctrl-C to cancel,
 * preview frames and JSON events for scripts.
 *
 * Exit status: 0 image written, 1 error (nothing written), 2 bad usage, 130 cancelled (Ctrl-C;
 * nothing written). */
#include <errno.h>
#include <glib-unix.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli-model.h"
#include "cli-options.h"
#include "cli.h"
#include "job-record.h"
#include "resdit.h"

#define EXIT_CANCELLED 130

typedef struct {
    char *prompt, *output, *preview_dir, *aspect, *size, *shift, *seed, *params_from;
    int width, height, steps, global_steps, local_steps, t5_len, preview_every, preview_size;
    double guidance;
    gboolean no_schedule, inspect, json, quiet, no_history;
    CliModelOptions model;
    CliMethodOptions method;
} GenerateOptions;

typedef struct {
    GenerateOptions *o;
    ResditModel *model;
    ResditJobParams params;
    GCancellable *cancellable;
    GMainLoop *loop;
    ResditImage *image;
    GError *error;
    gboolean tty;
    int previews;
} Run;

/* ---- output ------------------------------------------------------------------------------ */

static void emit_json(JsonBuilder *b)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    g_autofree char *text = json_generator_to_data(gen, NULL);
    printf("%s\n", text);
    fflush(stdout);
}

static JsonBuilder *event(const char *name)
{
    JsonBuilder *b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "event");
    json_builder_add_string_value(b, name);
    return b;
}

static void add_int(JsonBuilder *b, const char *k, gint64 v)
{
    json_builder_set_member_name(b, k);
    json_builder_add_int_value(b, v);
}

static void add_double(JsonBuilder *b, const char *k, double v)
{
    json_builder_set_member_name(b, k);
    json_builder_add_double_value(b, v);
}

static void add_string(JsonBuilder *b, const char *k, const char *v)
{
    json_builder_set_member_name(b, k);
    json_builder_add_string_value(b, v);
}

static void finish_event(JsonBuilder *b)
{
    json_builder_end_object(b);
    emit_json(b);
    g_object_unref(b);
}

static char *format_seconds(double s)
{
    if (s < 0)
        return g_strdup("--:--");
    int total = (int)lrint(s);
    return total >= 3600
               ? g_strdup_printf("%d:%02d:%02d", total / 3600, total / 60 % 60, total % 60)
               : g_strdup_printf("%d:%02d", total / 60, total % 60);
}

static void draw_bar(const ResditProgress *p)
{
    const int width = 30;
    int filled = p->n_steps > 0 ? p->step * width / p->n_steps : 0;
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[width] = '\0';
    g_autofree char *el = format_seconds(p->elapsed), *eta = format_seconds(p->eta);
    fprintf(stderr, "\r\033[K[%s] step %d/%d  %-8s  elapsed %s  ETA %s", bar, p->step, p->n_steps,
            resdit_phase_name(p->phase), el, eta);
    fflush(stderr);
}

static void on_progress(const ResditProgress *p, gpointer data)
{
    Run *run = data;
    if (run->o->json) {
        JsonBuilder *b = event("progress");
        add_int(b, "step", p->step);
        add_int(b, "n_steps", p->n_steps);
        add_string(b, "phase", resdit_phase_name(p->phase));
        add_double(b, "elapsed", p->elapsed);
        add_double(b, "eta", p->eta);
        finish_event(b);
    } else if (run->tty && !run->o->quiet) {
        draw_bar(p);
    }
}

static void on_preview(const ResditPreview *pv, gpointer data)
{
    Run *run = data;
    if (!run->o->preview_dir || pv->branch == RESDIT_BRANCH_FINAL)
        return;
    g_autofree char *name =
        g_strdup_printf("step-%03d-%s%s.png", pv->step, resdit_branch_name(pv->branch),
                        pv->extra_pass ? "-extra" : "");
    g_autofree char *path = g_build_filename(run->o->preview_dir, name, NULL);
    g_autoptr(GError) error = NULL;
    if (!resdit_save_rgb_png(path, pv->width, pv->height, pv->rgb, &error)) {
        fprintf(stderr, "\nresdit: preview not written: %s\n", error->message);
        return;
    }
    run->previews++;
    if (run->o->json) {
        JsonBuilder *b = event("preview");
        add_int(b, "step", pv->step);
        add_string(b, "phase", resdit_phase_name(pv->phase));
        add_string(b, "branch", resdit_branch_name(pv->branch));
        json_builder_set_member_name(b, "extra_pass");
        json_builder_add_boolean_value(b, pv->extra_pass);
        add_int(b, "width", pv->width);
        add_int(b, "height", pv->height);
        add_string(b, "path", path);
        finish_event(b);
    }
}

/* ---- the job on a worker thread, Ctrl-C on the main loop --------------------------------- */

static gboolean quit_loop(gpointer data)
{
    g_main_loop_quit(((Run *)data)->loop);
    return G_SOURCE_REMOVE;
}

static gpointer worker(gpointer data)
{
    Run *run = data;
    ResditCallbacks cb = {on_progress, on_preview, run};
    run->image = resdit_generate(run->model, &run->params, &cb, run->cancellable, &run->error);
    g_idle_add(quit_loop, run);
    return NULL;
}

static gboolean on_sigint(gpointer data)
{
    Run *run = data;
    if (g_cancellable_is_cancelled(run->cancellable))
        _exit(EXIT_CANCELLED); /* a second Ctrl-C: stop now */
    if (!run->o->json)
        fprintf(stderr, "\nresdit: cancelling (Ctrl-C again to stop at once)...\n");
    g_cancellable_cancel(run->cancellable);
    return G_SOURCE_CONTINUE;
}

static void run_job(Run *run)
{
    run->loop = g_main_loop_new(NULL, FALSE);
    guint sig = g_unix_signal_add(SIGINT, on_sigint, run);
    guint term = g_unix_signal_add(SIGTERM, on_sigint, run);
    GThread *thread = g_thread_new("resdit-generate", worker, run);
    g_main_loop_run(run->loop);
    g_thread_join(thread);
    g_source_remove(sig);
    g_source_remove(term);
    g_main_loop_unref(run->loop);
    if (run->tty && !run->o->json && !run->o->quiet)
        fputc('\n', stderr);
}

/* ---- options ----------------------------------------------------------------------------- */

static gboolean parse_size(const char *text, int *longer, GError **error)
{
    static const struct {
        const char *name;
        int px;
    } named[] = {{"1k", 1024}, {"2k", 2048}, {"3k", 3072}, {"4k", 4096}};
    for (size_t i = 0; i < G_N_ELEMENTS(named); i++)
        if (g_ascii_strcasecmp(text, named[i].name) == 0) {
            *longer = named[i].px;
            return TRUE;
        }
    char *end = NULL;
    long v = strtol(text, &end, 10);
    if (end && *end == '\0' && v >= 16 && v <= 16384) {
        *longer = (int)v;
        return TRUE;
    }
    g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                "--size '%s': expected 1k, 2k, 3k, 4k or a pixel count (the longer side)", text);
    return FALSE;
}

static gboolean parse_aspect(const char *text, double *ratio, GError **error)
{
    char *end = NULL;
    double w = g_ascii_strtod(text, &end);
    double h = end && *end == ':' ? g_ascii_strtod(end + 1, &end) : 0;
    if (!end || *end != '\0' || !(w > 0) || !(h > 0) || w / h > 16 || h / w > 16) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                    "--aspect '%s': expected W:H such as 16:9", text);
        return FALSE;
    }
    *ratio = w / h;
    return TRUE;
}

static int round16(double v)
{
    return MAX(16, (int)floor(v / 16.0 + 0.5) * 16);
}

/* Size from --width/--height or --aspect/--size; non-multiples of 16 are rounded with a note. */
static gboolean resolve_size(GenerateOptions *o, ResditJobParams *p, GError **error)
{
    if (o->aspect || o->size) {
        double ratio = 1.0;
        int longer = MAX(p->width, p->height);
        if ((o->aspect && !parse_aspect(o->aspect, &ratio, error)) ||
            (o->size && !parse_size(o->size, &longer, error)))
            return FALSE;
        if (o->width || o->height) {
            g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                        "Give --width/--height or --aspect/--size, not both");
            return FALSE;
        }
        p->width = ratio >= 1 ? longer : round16(longer * ratio);
        p->height = ratio >= 1 ? round16(longer / ratio) : longer;
    }
    if (o->width)
        p->width = o->width;
    if (o->height)
        p->height = o->height;
    if (p->width < 1 || p->height < 1) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                    "The size must be positive (got %dx%d)", p->width, p->height);
        return FALSE;
    }
    int w = round16(p->width), h = round16(p->height);
    if ((w != p->width || h != p->height) && !o->quiet)
        fprintf(stderr, "resdit: %dx%d is not a multiple of 16 pixels; using %dx%d\n", p->width,
                p->height, w, h);
    p->width = w;
    p->height = h;
    return TRUE;
}

static gboolean resolve_shift(const char *text, ResditJobParams *p, GError **error)
{
    if (!text || resdit_shift_mode_from_name(text, &p->shift_mode))
        return TRUE;
    char *end = NULL;
    double mu = g_ascii_strtod(text, &end);
    if (end && end != text && *end == '\0' && isfinite(mu)) {
        p->shift_mode = RESDIT_SHIFT_FIXED;
        p->mu = mu;
        return TRUE;
    }
    g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                "--shift '%s': expected base, resolution or a number (a fixed mu)", text);
    return FALSE;
}

static gboolean resolve_seed(const char *text, ResditJobParams *p, GError **error)
{
    if (!text || g_str_equal(text, "random")) {
        p->random_seed = TRUE;
        return TRUE;
    }
    char *end = NULL;
    guint64 v = g_ascii_strtoull(text, &end, 10);
    if (!end || end == text || *end != '\0' || text[0] == '-') {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                    "--seed '%s': expected a whole number from 0 to 2^64-1, or random", text);
        return FALSE;
    }
    p->random_seed = FALSE;
    p->seed = v;
    return TRUE;
}

/* The ResDiT method: from the flags, except that a flag left at its default keeps the value
 * already in p (the model's default, or the record of --params-from). */
static gboolean apply_method(CliMethodOptions *o, ResditJobParams *p, GError **error)
{
    CliMethodOptions d;
    cli_method_options_init(&d);
    ResditMethodParams from_flags;
    if (o->base_area == 0)
        o->base_area = p->method.base_area;
    if (o->patch == 0)
        o->patch = p->method.patch;
    if (!cli_method_params(o, &from_flags, error))
        return FALSE;
    ResditMethodParams *m = &p->method;
    m->base_area = from_flags.base_area;
    m->patch = from_flags.patch;
    if (o->base_grid) {
        m->base_rows = from_flags.base_rows;
        m->base_cols = from_flags.base_cols;
    }
    if (o->sigma != d.sigma)
        m->sigma = o->sigma;
    if (o->cutoff != d.cutoff)
        m->cutoff = o->cutoff;
    m->no_pes |= o->no_pes;
    m->no_pipe |= o->no_pipe;
    m->no_psf |= o->no_psf;
    m->no_overlap |= o->no_overlap;
    m->uniform_weights |= o->uniform_weights;
    return TRUE;
}

static gboolean apply_record(const char *png, ResditJobParams *p, GError **error)
{
    g_autofree char *json = resdit_png_read_parameters(png, error);
    return json && resdit_job_params_from_json(p, json, error);
}

/* Job parameters: the model's defaults, then --params-from, then every flag the user gave. */
static gboolean build_params(GenerateOptions *o, ResditModel *model, ResditJobParams *p,
                             GError **error)
{
    resdit_job_params_init(p);
    resdit_model_job_defaults(model, p);
    if (o->params_from && !apply_record(o->params_from, p, error))
        return FALSE;
    if (o->prompt || !o->params_from) {
        g_free(p->prompt);
        const char *suggested = resdit_model_default_prompt(model); /* the demo model's */
        p->prompt = g_strdup(o->prompt ? o->prompt : suggested ? suggested : "");
    }
    if (o->steps)
        p->steps = o->steps;
    if (!isnan(o->guidance))
        p->guidance = o->guidance;
    if (o->steps && o->params_from && o->global_steps < 0 && o->local_steps < 0)
        p->global_steps = p->local_steps = -1; /* other steps: the scaled defaults again */
    if (o->global_steps >= 0)
        p->global_steps = o->global_steps;
    if (o->local_steps >= 0)
        p->local_steps = o->local_steps;
    if (o->t5_len)
        p->t5_len = o->t5_len;
    p->inspect_branches = o->inspect;
    p->preview_every = o->preview_dir ? MAX(1, o->preview_every) : 0;
    p->preview_max_side = o->preview_size;
    if (!apply_method(&o->method, p, error))
        return FALSE;
    /* --mode fixes every step's mode; otherwise the ResDiT schedule (unless --no-schedule). */
    if (o->no_schedule || o->method.mode)
        p->schedule = FALSE;
    if (o->no_schedule)
        p->fixed_mode = RESDIT_MODE_DIRECT;
    if (o->method.mode && !resdit_mode_from_name(o->method.mode, &p->fixed_mode)) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                    "--mode '%s': expected direct, global, local or fused", o->method.mode);
        return FALSE;
    }
    if ((o->global_steps >= 0 || o->local_steps >= 0) && !p->schedule) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                    "--global-steps/--local-steps set the ResDiT schedule; they cannot go with "
                    "--mode or --no-schedule");
        return FALSE;
    }
    return resolve_size(o, p, error) && resolve_shift(o->shift, p, error) &&
           (!o->seed && o->params_from ? TRUE : resolve_seed(o->seed, p, error));
}

static GOptionContext *make_context(GenerateOptions *o)
{
    GOptionEntry entries[] = {
        {"prompt", 'p', 0, G_OPTION_ARG_STRING, &o->prompt, "what to draw", "TEXT"},
        {"output", 'o', 0, G_OPTION_ARG_FILENAME, &o->output,
         "PNG to write (default resdit-SEED.png)", "FILE"},
        {"width", 'W', 0, G_OPTION_ARG_INT, &o->width, "width in pixels (multiple of 16)", "PX"},
        {"height", 'H', 0, G_OPTION_ARG_INT, &o->height, "height in pixels (multiple of 16)", "PX"},
        {"aspect", 0, 0, G_OPTION_ARG_STRING, &o->aspect, "aspect ratio, e.g. 16:9", "W:H"},
        {"size", 0, 0, G_OPTION_ARG_STRING, &o->size, "longer side: 1k, 2k, 3k, 4k or pixels",
         "SIZE"},
        {"steps", 's', 0, G_OPTION_ARG_INT, &o->steps, "sampling steps (dev 35, schnell 4)", "N"},
        {"guidance", 'g', 0, G_OPTION_ARG_DOUBLE, &o->guidance, "distilled guidance (3.5)", "G"},
        {"seed", 0, 0, G_OPTION_ARG_STRING, &o->seed, "seed (default: random; recorded)", "N"},
        {"params-from", 0, 0, G_OPTION_ARG_FILENAME, &o->params_from,
         "start from the parameters recorded in a PNG made by resdit (flags override)", "PNG"},
        {"global-steps", 0, 0, G_OPTION_ARG_INT, &o->global_steps,
         "first steps global-only (default steps * 10 / 35)", "G"},
        {"local-steps", 0, 0, G_OPTION_ARG_INT, &o->local_steps,
         "last steps local-only (default steps * 15 / 35)", "L"},
        {"no-schedule", 0, 0, G_OPTION_ARG_NONE, &o->no_schedule,
         "plain FLUX: every step direct (same as --mode direct)", NULL},
        {"shift", 0, 0, G_OPTION_ARG_STRING, &o->shift,
         "timestep shift: base (default), resolution, or a fixed mu", "MODE"},
        {"t5-len", 0, 0, G_OPTION_ARG_INT, &o->t5_len, "T5 tokens (dev 512, schnell 256)", "N"},
        {"preview-dir", 0, 0, G_OPTION_ARG_FILENAME, &o->preview_dir,
         "write preview frames (step-NNN-BRANCH.png) here", "DIR"},
        {"preview-every", 0, 0, G_OPTION_ARG_INT, &o->preview_every,
         "a preview every N steps (default 1)", "N"},
        {"preview-size", 0, 0, G_OPTION_ARG_INT, &o->preview_size,
         "longer side of previews in pixels (default 512)", "PX"},
        {"inspect-branches", 0, 0, G_OPTION_ARG_NONE, &o->inspect,
         "in fused steps also preview the global and local predictions (extra passes)", NULL},
        {"json", 0, 0, G_OPTION_ARG_NONE, &o->json, "one JSON object per event on stdout", NULL},
        {"quiet", 'q', 0, G_OPTION_ARG_NONE, &o->quiet, "no progress bar or notes", NULL},
        {"no-history", 0, 0, G_OPTION_ARG_NONE, &o->no_history,
         "do not record the job in the history shared with the app ($RESDIT_HISTORY_DB)", NULL},
        {NULL}};
    GOptionContext *ctx = g_option_context_new("- generate an image");
    g_option_context_set_summary(
        ctx, "Generates an image with FLUX.1 and ResDiT and writes it as a PNG with its "
             "parameters.\nThe model: --model, or --transformer/--vae/--clip-l/--t5, or "
             "--selftest; without them the first complete model `resdit models` finds.\n"
             "Exit status: 0 written, 1 error, 2 bad usage, 130 cancelled (nothing written).");
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_add_group(ctx, cli_model_option_group(&o->model));
    g_option_context_add_group(ctx, cli_method_option_group(&o->method));
    return ctx;
}

static void report_error(const Run *run, const GError *error)
{
    if (run->o->json) {
        JsonBuilder *b = event(
            g_error_matches(error, RESDIT_ERROR, RESDIT_ERROR_CANCELLED) ? "cancelled" : "error");
        add_string(b, "message", error->message);
        add_int(b, "code", error->code);
        finish_event(b);
    }
    if (!g_error_matches(error, RESDIT_ERROR, RESDIT_ERROR_CANCELLED))
        cli_fail("%s", error->message);
    else if (!run->o->json)
        fprintf(stderr, "resdit: cancelled; no image written\n");
}

static void report_done(const Run *run, const char *path)
{
    const ResditImage *im = run->image;
    if (run->o->json) {
        JsonBuilder *b = event("done");
        add_string(b, "path", path);
        g_autofree char *seed = g_strdup_printf("%" G_GUINT64_FORMAT, im->seed);
        add_string(b, "seed", seed);
        add_int(b, "width", im->width);
        add_int(b, "height", im->height);
        add_double(b, "seconds_encoding", im->seconds_encoding);
        add_double(b, "seconds_sampling", im->seconds_sampling);
        add_double(b, "seconds_decoding", im->seconds_decoding);
        add_double(b, "seconds_total", im->seconds_total);
        add_int(b, "peak_bytes", (gint64)im->peak_bytes);
        add_int(b, "previews", run->previews);
        finish_event(b);
    } else if (!run->o->quiet) {
        fprintf(stderr,
                "resdit: wrote %s (%dx%d, seed %" G_GUINT64_FORMAT ") in %.1f s (text %.1f s, "
                "sampling %.1f s, decoding %.1f s), peak memory %.2f GB\n",
                path, im->width, im->height, im->seed, im->seconds_total, im->seconds_encoding,
                im->seconds_sampling, im->seconds_decoding, im->peak_bytes / 1e9);
    }
}

/* The job's row in the history shared with the app. A history that cannot be opened costs a
 * note, never the image. */
static HistoryStore *history_begin(Run *run, gint64 *id)
{
    *id = 0;
    if (run->o->no_history)
        return NULL;
    if (run->params.random_seed) { /* the row records the seed, so draw it before the job */
        run->params.seed = resdit_random_seed();
        run->params.random_seed = FALSE;
    }
    GError *error = NULL;
    g_autofree char *path = history_store_default_path();
    HistoryStore *store = history_store_open(path, &error);
    const ResditModelPaths *paths = store ? resdit_model_get_paths(run->model) : NULL;
    g_autofree char *fingerprint = paths ? job_record_fingerprint(paths) : g_strdup("");
    if (store)
        *id = job_record_begin(store, &run->params, run->model, fingerprint, &error);
    if (error && !run->o->quiet)
        fprintf(stderr, "resdit: not recorded in the history: %s\n", error->message);
    g_clear_error(&error);
    return store;
}

static void history_finish(Run *run, HistoryStore *store, gint64 id, const char *saved_path,
                           const GError *job_error)
{
    GError *error = NULL;
    if (store && id > 0 &&
        !job_record_finish(store, id, run->image, saved_path, job_error, &error) && !run->o->quiet)
        fprintf(stderr, "resdit: the history row was not finished: %s\n", error->message);
    g_clear_error(&error);
    if (store)
        history_store_close(store);
}

static int generate(GenerateOptions *o)
{
    Run run = {.o = o, .tty = isatty(STDERR_FILENO)};
    GError *error = NULL;
    run.model = cli_model_open(&o->model, !o->quiet && !o->json, &error);
    if (!run.model || !build_params(o, run.model, &run.params, &error)) {
        int rc = error && error->code == RESDIT_ERROR_INVALID_ARGUMENT ? 2 : 1;
        report_error(&run, error);
        g_error_free(error);
        resdit_job_params_clear(&run.params);
        resdit_model_free(run.model);
        return rc;
    }
    ResditMemoryEstimate est;
    if (!resdit_estimate_memory(run.model, &run.params, &est, &error)) {
        int rc = error->code == RESDIT_ERROR_INVALID_ARGUMENT ? 2 : 1;
        report_error(&run, error);
        g_error_free(error);
        resdit_job_params_clear(&run.params);
        resdit_model_free(run.model);
        return rc;
    }
    if (!o->quiet && !o->json)
        fprintf(stderr, "resdit: %s on %s, %dx%d, %d steps, about %.2f GB of memory\n",
                resdit_model_name(run.model), resdit_model_backend_name(run.model),
                run.params.width, run.params.height, run.params.steps, est.total / 1e9);
    if (o->preview_dir && g_mkdir_with_parents(o->preview_dir, 0755) != 0) {
        int rc = cli_fail("cannot create %s: %s", o->preview_dir, g_strerror(errno));
        resdit_job_params_clear(&run.params);
        resdit_model_free(run.model);
        return rc;
    }
    gint64 history_id;
    HistoryStore *history = history_begin(&run, &history_id);
    run.cancellable = g_cancellable_new();
    run_job(&run);
    int rc = 0;
    if (!run.image) {
        history_finish(&run, history, history_id, NULL, run.error);
        report_error(&run, run.error);
        rc = g_error_matches(run.error, RESDIT_ERROR, RESDIT_ERROR_CANCELLED) ? EXIT_CANCELLED : 1;
        g_clear_error(&run.error);
    } else {
        g_autofree char *path =
            o->output ? g_strdup(o->output)
                      : g_strdup_printf("resdit-%" G_GUINT64_FORMAT ".png", run.image->seed);
        if (resdit_image_save_png(run.image, path, &error)) {
            g_autofree char *absolute = g_canonicalize_filename(path, NULL);
            history_finish(&run, history, history_id, absolute, NULL);
            report_done(&run, path);
        } else {
            history_finish(&run, history, history_id, NULL, error);
            report_error(&run, error);
            g_clear_error(&error);
            rc = 1;
        }
    }
    resdit_image_free(run.image);
    g_object_unref(run.cancellable);
    resdit_job_params_clear(&run.params);
    resdit_model_free(run.model);
    return rc;
}

int cli_generate(int argc, char **argv)
{
    GenerateOptions o = {.global_steps = -1,
                         .local_steps = -1,
                         .preview_every = 1,
                         .preview_size = 512,
                         .guidance = NAN};
    cli_method_options_init(&o.method);
    o.method.base_area = o.method.patch = 0; /* 0 = the model's default (or the record's) */
    cli_model_options_init(&o.model);
    GOptionContext *ctx = make_context(&o);
    GError *error = NULL;
    int rc;
    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        rc = cli_fail("%s (see resdit generate --help)", error->message) + 1;
        g_error_free(error);
    } else if (argc > 1) {
        rc = cli_fail("unexpected argument '%s' (quote the prompt: -p \"...\")", argv[1]) + 1;
    } else {
        rc = generate(&o);
    }
    g_option_context_free(ctx);
    cli_model_options_clear(&o.model);
    g_free(o.prompt);
    g_free(o.output);
    g_free(o.preview_dir);
    g_free(o.aspect);
    g_free(o.size);
    g_free(o.shift);
    g_free(o.seed);
    g_free(o.params_from);
    g_free(o.method.mode);
    g_free(o.method.base_grid);
    return rc;
}
