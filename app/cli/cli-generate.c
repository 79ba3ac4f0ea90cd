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
#include "cli-number.h"
#include "cli-options.h"
#include "cli.h"
#include "job-record.h"
#include "json_load.h"
#include "memory_plan.h"
#include "pipeline-private.h"
#include "png_text.h"
#include "resdit.h"

#define EXIT_CANCELLED 130

/* Largest image side and step count (the engine's limits, checked before a model opens). */
#define MAX_SIDE 16384
#define MAX_STEPS 1000

typedef struct {
    char *prompt, *output, *preview_dir, *aspect, *size, *shift, *seed, *params_from;
    char *negative_prompt; /* --negative-prompt: SD3's classifier-free guidance */
    /* numbers as typed (NULL: not given); parse_numbers() checks them into the values below */
    char *width_text, *height_text, *steps_text, *guidance_text, *global_steps_text,
        *local_steps_text, *t5_len_text, *preview_every_text, *preview_size_text;
    int width, height, steps, global_steps, local_steps, t5_len, preview_every, preview_size;
    double guidance;
    gboolean seed_random; /* --seed random */
    guint64 seed_value;
    int longer;                 /* --size */
    double ratio;               /* --aspect */
    ResditShiftMode shift_mode; /* --shift */
    double mu;
    gboolean no_schedule, inspect, json, quiet, no_history;
    gboolean dry_run; /* --dry-run: print the memory plan, generate nothing */
    char *vram;       /* --vram SIZE: plan for a card of that size */
    char **loras; /* --lora FILE[:STRENGTH], repeatable; replaces a record's list */
    char *init_image, *strength_text; /* --init-image, --strength (image to image) */
    double strength;
    char *lowfreq_text; /* --lowfreq-noise */
    double lowfreq;
    char *record_model; /* upscale: the model named by the source's record */
    gboolean upscale;   /* resdit upscale: init_image is the source, its record the parameters */
    int source_w, source_h; /* upscale: the source image's size */
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

/* A parser's message with what else the option accepts. */
static gboolean or_also(GError **error, const char *also)
{
    if (error && *error) {
        char *message = g_strconcat((*error)->message, also, NULL);
        g_free((*error)->message);
        (*error)->message = message;
    }
    return FALSE;
}

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
    return cli_number_int(text, "--size", 16, MAX_SIDE, longer, error) ||
           or_also(error, " (pixels of the longer side), or 1k, 2k, 3k, 4k");
}

static gboolean parse_aspect(const char *text, double *ratio, GError **error)
{
    const char *colon = strchr(text, ':');
    g_autofree char *left = colon ? g_strndup(text, (gsize)(colon - text)) : NULL;
    double w = 0, h = 0;
    if (!colon || !cli_number_double(left, "--aspect", 0, 1e6, &w, NULL) ||
        !cli_number_double(colon + 1, "--aspect", 0, 1e6, &h, NULL) || !(w > 0) || !(h > 0) ||
        w / h > 16 || h / w > 16) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "--aspect '%s': expected W:H such as 16:9, two positive numbers with a ratio "
                    "from 1:16 to 16:1",
                    text);
        return FALSE;
    }
    *ratio = w / h;
    return TRUE;
}

static gboolean parse_shift(GenerateOptions *o, GError **error)
{
    if (resdit_shift_mode_from_name(o->shift, &o->shift_mode) &&
        o->shift_mode != RESDIT_SHIFT_FIXED)
        return TRUE;
    o->shift_mode = RESDIT_SHIFT_FIXED;
    return cli_number_double(o->shift, "--shift", -20, 20, &o->mu, error) ||
           or_also(error, " (a fixed mu), or base, or resolution");
}

static gboolean parse_seed(GenerateOptions *o, GError **error)
{
    o->seed_random = g_str_equal(o->seed, "random");
    gint64 v = 0;
    if (!o->seed_random && !cli_number_int64(o->seed, "--seed", 0, CLI_SEED_MAX, &v, error))
        return or_also(error, " (2^53 - 1), or random");
    o->seed_value = (guint64)v;
    return TRUE;
}

/* Every number the options give, strictly (cli-number.h): nothing clamped, wrapped or ignored.
 * Errors are G_OPTION_ERROR_BAD_VALUE (exit status 2), before any model is opened. */
static gboolean parse_numbers(GenerateOptions *o, GError **error)
{
    ResditMethodParams method;
    resdit_method_params_init(&method);
    return (!o->width_text ||
            cli_number_int(o->width_text, "--width", 16, MAX_SIDE, &o->width, error)) &&
           (!o->height_text ||
            cli_number_int(o->height_text, "--height", 16, MAX_SIDE, &o->height, error)) &&
           (!o->steps_text ||
            cli_number_int(o->steps_text, "--steps", 1, MAX_STEPS, &o->steps, error)) &&
           (!o->guidance_text ||
            cli_number_double(o->guidance_text, "--guidance", 0, 100, &o->guidance, error)) &&
           (!o->global_steps_text || cli_number_int(o->global_steps_text, "--global-steps", 0,
                                                    MAX_STEPS, &o->global_steps, error)) &&
           (!o->local_steps_text || cli_number_int(o->local_steps_text, "--local-steps", 0,
                                                   MAX_STEPS, &o->local_steps, error)) &&
           (!o->t5_len_text ||
            cli_number_int(o->t5_len_text, "--t5-len", 1, 4096, &o->t5_len, error)) &&
           (!o->preview_every_text || cli_number_int(o->preview_every_text, "--preview-every", 1,
                                                     MAX_STEPS, &o->preview_every, error)) &&
           (!o->preview_size_text || cli_number_int(o->preview_size_text, "--preview-size", 16,
                                                    MAX_SIDE, &o->preview_size, error)) &&
           (!o->size || parse_size(o->size, &o->longer, error)) &&
           (!o->aspect || parse_aspect(o->aspect, &o->ratio, error)) &&
           (!o->strength_text ||
            cli_number_double(o->strength_text, "--strength", 0, 1, &o->strength, error)) &&
           (!o->lowfreq_text || cli_number_double(o->lowfreq_text, "--lowfreq-noise", 0, 1,
                                                  &o->lowfreq, error)) &&
           (!o->shift || parse_shift(o, error)) && (!o->seed || parse_seed(o, error)) &&
           cli_method_params(&o->method, &method, error); /* checked again on the job's values */
}

/* v in [1, MAX_SIDE]: the nearest multiple of 16, at least 16. */
static int round16(double v)
{
    return MAX(16, (int)floor(v / 16.0 + 0.5) * 16);
}

static gboolean size_error(GError **error, int width, int height)
{
    g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                "The size %dx%d is outside 16 to %d pixels per side (the %d-pixel limit)", width,
                height, MAX_SIDE, MAX_SIDE);
    return FALSE;
}

/* Size from --width/--height or --aspect/--size; non-multiples of 16 are rounded with a note.
 * The model's or the record's size is checked too: it may come from any file. */
static gboolean resolve_size(GenerateOptions *o, ResditJobParams *p, GError **error)
{
    if (o->aspect || o->size) {
        if (o->width_text || o->height_text) {
            g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                        "Give --width/--height or --aspect/--size, not both");
            return FALSE;
        }
        double ratio = o->aspect ? o->ratio : 1.0;
        int longer = o->size ? o->longer : MAX(p->width, p->height);
        if (longer < 1 || longer > MAX_SIDE)
            return size_error(error, p->width, p->height);
        p->width = ratio >= 1 ? longer : round16(longer * ratio);
        p->height = ratio >= 1 ? round16(longer / ratio) : longer;
    }
    if (o->width_text)
        p->width = o->width;
    if (o->height_text)
        p->height = o->height;
    if (p->width < 1 || p->height < 1 || p->width > MAX_SIDE || p->height > MAX_SIDE)
        return size_error(error, p->width, p->height);
    int w = round16(p->width), h = round16(p->height);
    if ((w != p->width || h != p->height) && !o->quiet)
        fprintf(stderr, "resdit: %dx%d is not a multiple of 16 pixels; using %dx%d\n", p->width,
                p->height, w, h);
    p->width = w;
    p->height = h;
    return TRUE;
}

/* Only the record's text chunk is read (png_text.c), never the image: its header may claim
 * any size. */
static gboolean apply_record(const char *png, ResditJobParams *p, GError **error)
{
    g_autoptr(GError) read_error = NULL;
    g_autofree char *json = rd_png_read_text(png, "resdit", &read_error);
    if (json == NULL) {
        gboolean exists = g_file_test(png, G_FILE_TEST_IS_REGULAR);
        g_set_error(error, RESDIT_ERROR, exists ? RESDIT_ERROR_FORMAT : RESDIT_ERROR_IO,
                    "--params-from: %s%s", read_error->message,
                    exists ? " (only PNG files written by resdit or ResDiT Studio carry their "
                             "parameters)"
                           : "");
        return FALSE;
    }
    if (!resdit_job_params_from_json(p, json, error)) {
        g_prefix_error(error, "--params-from %s: ", png);
        return FALSE;
    }
    return TRUE;
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
    if (o->negative_prompt) {
        g_free(p->negative_prompt);
        p->negative_prompt = g_strdup(o->negative_prompt);
    }
    if (o->steps_text)
        p->steps = o->steps;
    if (o->guidance_text)
        p->guidance = o->guidance;
    if (o->steps_text && o->params_from && !o->global_steps_text && !o->local_steps_text)
        p->global_steps = p->local_steps = -1; /* other steps: the scaled defaults again */
    if (o->global_steps_text)
        p->global_steps = o->global_steps;
    if (o->local_steps_text)
        p->local_steps = o->local_steps;
    if (o->t5_len_text)
        p->t5_len = o->t5_len;
    p->inspect_branches = o->inspect;
    p->preview_every = o->preview_dir ? o->preview_every : 0;
    p->preview_max_side = o->preview_size;
    /* the ResDiT method: what the flags give, over the model's default or the record */
    if (!cli_method_params(&o->method, &p->method, error))
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
    if ((o->global_steps_text || o->local_steps_text) && !p->schedule) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                    "--global-steps/--local-steps set the ResDiT schedule; they cannot go with "
                    "--mode or --no-schedule");
        return FALSE;
    }
    if (o->lowfreq_text)
        p->lowfreq_noise = o->lowfreq;
    if (o->shift) {
        p->shift_mode = o->shift_mode;
        if (o->shift_mode == RESDIT_SHIFT_FIXED)
            p->mu = o->mu;
    }
    if (o->seed || !o->params_from) {
        p->random_seed = !o->seed || o->seed_random;
        p->seed = p->random_seed ? 0 : o->seed_value;
    }
    if (o->strength_text && !o->init_image) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                    "--strength goes with --init-image (the image to start from)");
        return FALSE;
    }
    if (o->init_image) /* default strength: 0.75 from an init image, 0.35 to upscale */
        resdit_job_params_set_init_image(p, o->init_image,
                                         o->strength_text ? o->strength
                                         : o->upscale     ? 0.35
                                                          : 0.75);
    if (o->upscale && !o->width_text && !o->height_text && !o->aspect) {
        /* the source's aspect at the requested size (--size, else the record's longer side) */
        o->ratio = (double)o->source_w / o->source_h;
        o->aspect = g_strdup("source");
    }
    if (o->loras) { /* the flags' list replaces the record's */
        resdit_job_params_set_loras(p, NULL, 0);
        for (char **l = o->loras; *l; l++) {
            g_autofree char *path = NULL;
            double strength;
            if (!resdit_lora_spec_parse(*l, &path, &strength, error)) {
                g_prefix_error(error, "--lora: ");
                return FALSE;
            }
            resdit_job_params_add_lora(p, path, strength, TRUE);
        }
    }
    return resolve_size(o, p, error);
}

static GOptionContext *make_context(GenerateOptions *o)
{
    GOptionEntry entries[] = {
        {"prompt", 'p', 0, G_OPTION_ARG_STRING, &o->prompt, "what to draw", "TEXT"},
        {"negative-prompt", 'n', 0, G_OPTION_ARG_STRING, &o->negative_prompt,
         "what not to draw (models with classifier-free guidance: SD3, the demo model; at a CFG "
         "scale above 1; default empty; FLUX.1 dev and schnell ignore it)", "TEXT"},
        {"output", 'o', 0, G_OPTION_ARG_FILENAME, &o->output,
         "PNG to write (default resdit-SEED.png)", "FILE"},
        {"width", 'W', 0, G_OPTION_ARG_STRING, &o->width_text,
         "width in pixels, 16 to 16384 (multiple of 16)", "PX"},
        {"height", 'H', 0, G_OPTION_ARG_STRING, &o->height_text,
         "height in pixels, 16 to 16384 (multiple of 16)", "PX"},
        {"aspect", 0, 0, G_OPTION_ARG_STRING, &o->aspect, "aspect ratio, e.g. 16:9", "W:H"},
        {"size", 0, 0, G_OPTION_ARG_STRING, &o->size, "longer side: 1k, 2k, 3k, 4k or pixels",
         "SIZE"},
        {"steps", 's', 0, G_OPTION_ARG_STRING, &o->steps_text,
         "sampling steps, 1 to 1000 (dev 35, schnell 4, SD3 28, SD3.5 Medium 40)", "N"},
        {"guidance", 'g', 0, G_OPTION_ARG_STRING, &o->guidance_text,
         "FLUX dev: distilled guidance (3.5); SD3 and models whose resdit.json asks for it: the "
         "CFG scale, none at 1 or below (SD3 Medium 7, SD3.5 Large 3.5, SD3.5 Medium 4.5); 0 "
         "to 100",
         "G"},
        {"seed", 0, 0, G_OPTION_ARG_STRING, &o->seed,
         "seed, 0 to 9007199254740991 (2^53 - 1), or random (default; recorded)", "N"},
        {"params-from", 0, 0, G_OPTION_ARG_FILENAME, &o->params_from,
         "start from the parameters recorded in a PNG made by resdit (flags override)", "PNG"},
        {"init-image", 0, 0, G_OPTION_ARG_FILENAME, &o->init_image,
         "image to image: start from this PNG (resized to cover the size, centre-cropped)",
         "PNG"},
        {"strength", 0, 0, G_OPTION_ARG_STRING, &o->strength_text,
         "with --init-image: 0 keeps the image, 1 ignores it (default 0.75; upscale 0.35)", "S"},
        {"lora", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &o->loras,
         "apply a LoRA at a strength (default 1; repeatable; replaces a record's LoRAs)",
         "FILE[:STRENGTH]"},
        {"global-steps", 0, 0, G_OPTION_ARG_STRING, &o->global_steps_text,
         "first steps global-only (default steps * 10 / 35)", "G"},
        {"local-steps", 0, 0, G_OPTION_ARG_STRING, &o->local_steps_text,
         "last steps local-only (default steps * 15 / 35)", "L"},
        {"no-schedule", 0, 0, G_OPTION_ARG_NONE, &o->no_schedule,
         "plain FLUX: every step direct (same as --mode direct)", NULL},
        {"shift", 0, 0, G_OPTION_ARG_STRING, &o->shift,
         "timestep shift: base (default), resolution, or a fixed mu from -20 to 20", "MODE"},
        {"lowfreq-noise", 0, 0, G_OPTION_ARG_STRING, &o->lowfreq_text,
         "experimental, beyond the paper: above the base size, give the initial noise's "
         "base-grid frequencies this share of a base-size draw's strength, 0 to 1 (default 0: "
         "plain noise; 0.75 helps the demo model keep one layout)",
         "S"},
        {"t5-len", 0, 0, G_OPTION_ARG_STRING, &o->t5_len_text,
         "T5 tokens, 1 to 4096 (dev 512, schnell 256)", "N"},
        {"preview-dir", 0, 0, G_OPTION_ARG_FILENAME, &o->preview_dir,
         "write preview frames (step-NNN-BRANCH.png) here", "DIR"},
        {"preview-every", 0, 0, G_OPTION_ARG_STRING, &o->preview_every_text,
         "a preview every N steps (default 1)", "N"},
        {"preview-size", 0, 0, G_OPTION_ARG_STRING, &o->preview_size_text,
         "longer side of previews in pixels, 16 to 16384 (default 512)", "PX"},
        {"inspect-branches", 0, 0, G_OPTION_ARG_NONE, &o->inspect,
         "in fused steps also preview the global and local predictions (extra passes)", NULL},
        {"dry-run", 0, 0, G_OPTION_ARG_NONE, &o->dry_run,
         "print the memory plan (weight format, streaming, predicted peak) from the files' headers "
         "and exit: 0 when the job fits, 1 when nothing fits",
         NULL},
        {"vram", 0, 0, G_OPTION_ARG_STRING, &o->vram,
         "with --dry-run: plan for a card of SIZE (24G or 24GiB = 24 x 2^30 bytes, 24GB = 24 x "
         "10^9; default: this machine's device or host memory)",
         "SIZE"},
        {"json", 0, 0, G_OPTION_ARG_NONE, &o->json, "one JSON object per event on stdout", NULL},
        {"quiet", 'q', 0, G_OPTION_ARG_NONE, &o->quiet, "no progress bar or notes", NULL},
        {"no-history", 0, 0, G_OPTION_ARG_NONE, &o->no_history,
         "do not record the job in the history shared with the app ($RESDIT_HISTORY_DB)", NULL},
        {NULL}};
    GOptionContext *ctx =
        g_option_context_new(o->upscale ? "IMAGE - upscale an image" : "- generate an image");
    if (o->upscale)
        g_option_context_set_summary(
            ctx, "Upscales IMAGE (e.g. --size 4k): the image, resized to the new size, is encoded "
                 "and resampled from t = --strength (0.35).\nA PNG made by resdit gives the "
                 "prompt, model, seed and settings (flags override); any other PNG needs "
                 "--prompt.\nExit status: 0 written, 1 error, 2 bad usage, 130 cancelled "
                 "(nothing written).");
    else
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
    run.model = o->record_model && !cli_model_options_given(&o->model)
                    ? cli_model_open_named(&o->model, o->record_model, !o->quiet && !o->json,
                                           &error)
                    : cli_model_open(&o->model, !o->quiet && !o->json, &error);
    if (!run.model || !build_params(o, run.model, &run.params, &error)) {
        int rc = g_error_matches(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT) ? 2 : 1;
        report_error(&run, error);
        g_error_free(error);
        resdit_job_params_clear(&run.params);
        resdit_model_free(run.model);
        return rc;
    }
    ResditMemoryEstimate est;
    if (!resdit_estimate_memory(run.model, &run.params, &est, &error)) {
        int rc = g_error_matches(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT) ? 2 : 1;
        report_error(&run, error);
        g_error_free(error);
        resdit_job_params_clear(&run.params);
        resdit_model_free(run.model);
        return rc;
    }
    const char *negative = run.params.negative_prompt;
    if (!o->quiet && !o->json && negative && *negative &&
        (!resdit_model_uses_cfg(run.model) || run.params.guidance <= 1.0))
        fprintf(stderr, "resdit: note: the negative prompt is not used: %s\n",
                resdit_model_uses_cfg(run.model)
                    ? "a CFG scale of 1 or below (--guidance) guides without it"
                    : "this model does not take one (FLUX.1-dev's guidance is distilled)");
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

/* ---- --dry-run ---------------------------------------------------------------------------- */

/* "24G", "24GiB" (binary), "24GB" (decimal), "12.5G", "25769803776": bytes. */
static gboolean parse_bytes(const char *text, guint64 *bytes, GError **error)
{
    static const struct {
        const char *suffix;
        double factor;
    } units[] = {{"", 1},
                 {"b", 1},
                 {"k", 1024.0},
                 {"kib", 1024.0},
                 {"kb", 1e3},
                 {"m", 1048576.0},
                 {"mib", 1048576.0},
                 {"mb", 1e6},
                 {"g", 1073741824.0},
                 {"gib", 1073741824.0},
                 {"gb", 1e9},
                 {"t", 1099511627776.0},
                 {"tib", 1099511627776.0},
                 {"tb", 1e12}};
    char *end = NULL;
    const double v = text && g_ascii_isdigit(text[0]) ? g_ascii_strtod(text, &end) : -1;
    if (v > 0 && end) {
        g_autofree char *unit = g_ascii_strdown(end, -1);
        for (size_t i = 0; i < G_N_ELEMENTS(units); i++)
            if (strcmp(unit, units[i].suffix) == 0 && v * units[i].factor >= 1 &&
                v * units[i].factor <= 1e15) {
                *bytes = (guint64)(v * units[i].factor);
                return TRUE;
            }
    }
    g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                "--vram '%s': expected a size such as 24G, 24GiB, 24GB or 12.5G", text ? text : "");
    return FALSE;
}

/* The target of a dry run: --vram, else the CUDA device's free memory, else host memory. */
static gboolean dry_run_target(const GenerateOptions *o, RdPlanTarget *target, char **where,
                               GError **error)
{
    guint64 bytes = 0, free_bytes = 0, total = 0;
    if (o->vram) {
        if (!parse_bytes(o->vram, &bytes, error))
            return FALSE;
        rd_plan_target_cuda(target, bytes);
        *where = g_strdup_printf("a %.1f GiB card", bytes / 1073741824.0);
        return TRUE;
    }
    const gboolean cpu = o->model.backend && strcmp(o->model.backend, "cpu") == 0;
    if (!cpu && rd_cuda_memory(&free_bytes, &total)) {
        rd_plan_target_cuda(target, free_bytes);
        target->reserve_bytes = 0; /* what is free now */
        target->fp8_gemm = rd_cuda_device_fp8_gemm();
        *where = g_strdup_printf("this machine's device (%.1f of %.1f GiB free)",
                                 free_bytes / 1073741824.0, total / 1073741824.0);
        return TRUE;
    }
    rd_plan_target_cpu(target, rd_host_available());
    *where = g_strdup_printf("the CPU backend (%.1f GiB of host memory available)",
                             target->card_bytes / 1073741824.0);
    return TRUE;
}

static int dry_run(GenerateOptions *o)
{
    GError *error = NULL;
    if (o->model.selftest)
        return cli_fail("--dry-run plans a model from its files; the self-test model has none") + 1;
    ResditModelPaths *paths = cli_model_paths(&o->model, &error);
    RdModelInventory mi = {0};
    ResditJobParams p = {0};
    RdPlanTarget target;
    RdMemoryPlan plan = {0};
    g_autofree char *where = NULL;
    int rc = 1;
    /* the model's defaults as opening it would set them (resdit.json included), without the
     * weights */
    ResditModel defaults = {0};
    gboolean ok = paths && rd_model_inventory_from_paths(paths, &mi, &error);
    if (ok && mi.transformer.sd3)
        rd_model_defaults_init_sd3(&defaults, mi.transformer.qk_norm,
                                   mi.transformer.dual_attention);
    else if (ok)
        rd_model_defaults_init(&defaults, mi.transformer.guidance);
    ok = ok && rd_model_read_settings(&defaults, paths->root, &error) &&
         build_params(o, &defaults, &p, &error) && dry_run_target(o, &target, &where, &error);
    if (ok) {
        RdPlanJob job;
        rd_plan_job_from_params(&job, &p, defaults.default_t5_len);
        if (rd_memory_plan(&mi, &job, &target, FALSE, &plan, &error)) {
            g_autofree char *text = rd_memory_plan_describe(&plan, &target);
            printf("plan for %s, %dx%d, %d steps (%s steps at most), on %s:\n%s", paths->name,
                   p.width, p.height, p.steps, resdit_mode_name(job.worst_mode), where, text);
            printf("fits: %s\n", plan.fits ? "yes" : "no");
            if (plan.fits)
                printf("this build runs it: %s%s%s\n", plan.executable ? "yes" : "no (needs ",
                       plan.executable ? "" : plan.not_executable, plan.executable ? "" : ")");
            rc = plan.fits ? 0 : 1;
            if (!plan.fits)
                cli_fail("%s", plan.reason);
            /* what the engine as built would need for the same job */
            RdMemoryPlan built = {0};
            if (!plan.executable && rd_memory_plan(&mi, &job, &target, TRUE, &built, NULL))
                printf("as this build runs it (%s weights resident, T5 %s): peak %.2f GB, %s\n",
                       rd_weight_format_name(built.format),
                       built.t5_first ? "first" : "beside them", built.peak / 1e9,
                       built.fits ? "fits" : "does not fit");
            rd_memory_plan_clear(&built);
        }
    }
    if (error) {
        rc = g_error_matches(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT) ? 2 : 1;
        cli_fail("%s", error->message);
        g_error_free(error);
    }
    rd_memory_plan_clear(&plan);
    g_free(defaults.default_prompt);
    rd_model_inventory_clear(&mi);
    resdit_job_params_clear(&p);
    resdit_model_paths_free(paths);
    return rc;
}

/* resdit upscale IMAGE: the source becomes the init image; a resdit PNG's record gives the
 * parameters (as --params-from) and the model; any other PNG needs --prompt. */
static int upscale(GenerateOptions *o, const char *source)
{
    GError *error = NULL;
    int w, h;
    g_autofree guint8 *rgb = resdit_png_load_rgb(source, &w, &h, &error);
    if (!rgb) {
        int rc = cli_fail("%s", error->message);
        g_error_free(error);
        return rc;
    }
    o->source_w = w;
    o->source_h = h;
    g_autofree char *json = rd_png_read_text(source, "resdit", NULL);
    if (json) {
        g_autoptr(JsonParser) parser = json_parser_new();
        JsonNode *root = rd_json_load_data(parser, json, -1, NULL)
                             ? json_parser_get_root(parser)
                             : NULL;
        JsonObject *obj = root && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
        JsonNode *model = obj ? json_object_get_member(obj, "model") : NULL;
        if (model && JSON_NODE_HOLDS_VALUE(model) &&
            json_node_get_value_type(model) == G_TYPE_STRING)
            o->record_model = g_strdup(json_node_get_string(model));
        o->params_from = g_strdup(source);
    } else if (!o->prompt) {
        return cli_fail("%s has no resdit parameters (it was not made by resdit or ResDiT "
                        "Studio): give the prompt with --prompt",
                        source) +
               1;
    }
    if (o->init_image)
        return cli_fail("resdit upscale takes the image as its argument, not --init-image") + 1;
    o->init_image = g_strdup(source);
    if (!o->size && !o->width_text && !o->height_text) {
        o->size = g_strdup("4k");
        o->longer = 4096;
    }
    return generate(o);
}

static int run_command(GenerateOptions *o, int argc, char **argv)
{
    cli_method_options_init(&o->method);
    cli_model_options_init(&o->model);
    GOptionContext *ctx = make_context(o);
    GError *error = NULL;
    int rc;
    const char *help = o->upscale ? "resdit upscale --help" : "resdit generate --help";
    if (!g_option_context_parse(ctx, &argc, &argv, &error) || !parse_numbers(o, &error)) {
        rc = cli_fail("%s (see %s)", error->message, help) + 1;
        g_error_free(error);
    } else if (o->upscale && argc != 2) {
        rc = cli_fail(argc < 2 ? "which image? resdit upscale IMAGE --size 4k (see %s)"
                               : "one image at a time (see %s)",
                      help) +
             1;
    } else if (!o->upscale && argc > 1) {
        rc = cli_fail("unexpected argument '%s' (quote the prompt: -p \"...\")", argv[1]) + 1;
    } else if (o->vram && !o->dry_run) {
        rc = cli_fail("--vram goes with --dry-run (see %s)", help) + 1;
    } else {
        rc = o->upscale ? upscale(o, argv[1]) : o->dry_run ? dry_run(o) : generate(o);
    }
    g_option_context_free(ctx);
    cli_model_options_clear(&o->model);
    cli_method_options_clear(&o->method);
    g_strfreev(o->loras);
    char **texts[] = {&o->prompt,
                      &o->negative_prompt,
                      &o->init_image,
                      &o->strength_text,
                      &o->lowfreq_text,
                      &o->record_model,
                      &o->output,
                      &o->preview_dir,
                      &o->aspect,
                      &o->size,
                      &o->shift,
                      &o->seed,
                      &o->params_from,
                      &o->width_text,
                      &o->height_text,
                      &o->steps_text,
                      &o->guidance_text,
                      &o->global_steps_text,
                      &o->local_steps_text,
                      &o->t5_len_text,
                      &o->preview_every_text,
                      &o->preview_size_text,
                      &o->vram};
    for (size_t i = 0; i < G_N_ELEMENTS(texts); i++)
        g_clear_pointer(texts[i], g_free);
    return rc;
}

int cli_generate(int argc, char **argv)
{
    GenerateOptions o = {.preview_every = 1, .preview_size = 512};
    return run_command(&o, argc, argv);
}

int cli_upscale(int argc, char **argv)
{
    GenerateOptions o = {.preview_every = 1, .preview_size = 512, .upscale = TRUE};
    return run_command(&o, argc, argv);
}
