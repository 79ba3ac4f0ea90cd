/* The ResDiT ablation on the demo model (data/models/resdit-demo, docs/DEMO_MODEL.md): over N
 * seeds, the share of images with exactly one sun (tests/demo/sun-detector.c) at a size above
 * the model's 256 px base, for plain generation, PE interpolation, full ResDiT and ResDiT with
 * each part switched off in turn. Writes a picture grid (rows: variants, columns: the first
 * seeds). Prints figures only; record them in bench/RESULTS.md.
 *
 * Usage: bench-demo [--seeds N] [--size WxH] [--steps S] [--global-steps G] [--local-steps L]
 *                   [--cutoff C] [--guidance G] [--mu MU]
 *                   [--lowfreq-noise S] [--grid FILE.png] [--grid-seeds K]
 *                   [--thumb PX] [--variants a,b,...] [--save-dir DIR] [--backend cpu|cuda]
 * Variants: direct, pe-interp, resdit, no-pes, no-pipe, no-psf, no-gws, no-mop (default: all
 * but no-mop). */
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "resdit.h"
#include "demo-prompts.h"
#include "sun-detector.h"


typedef struct {
    const char *name, *label;
} Variant;

static const Variant variants[] = {
    {"direct", "direct (plain attention, original positions)"},
    {"pe-interp", "PE interpolation (PES in every step)"},
    {"resdit", "ResDiT (full)"},
    {"no-pes", "ResDiT without PES"},
    {"no-pipe", "ResDiT without PIPE"},
    {"no-psf", "ResDiT without PSF"},
    {"no-gws", "ResDiT without GWS (uniform weights)"},
    {"no-mop", "ResDiT without MOP overlap (tiles, no splicing)"},
};

/* One variant's sun counts over the seeds, for one smallest blob area. */
typedef struct {
    int one, none, more, total;
    GString *counts; /* one digit per seed, 9 for 9 or more */
} Tally;

static void tally_add(Tally *t, int count)
{
    t->one += count == 1;
    t->none += count == 0;
    t->more += count >= 2;
    t->total += count;
    g_string_append_printf(t->counts, "%d", MIN(count, 9));
}

static void tally_print(const char *label, const Tally *t, int seeds, double seconds)
{
    printf("%-50s %7.0f%% %5.0f%% %5.0f%% %6.2f %8.1f %s\n", label, 100.0 * t->one / seeds,
           100.0 * t->none / seeds, 100.0 * t->more / seeds, (double)t->total / seeds,
           seconds / seeds, t->counts->str);
}

static gboolean set_variant(ResditJobParams *p, const char *name)
{
    p->schedule = TRUE;
    if (strcmp(name, "direct") == 0) {
        p->schedule = FALSE;
        p->fixed_mode = RESDIT_MODE_DIRECT;
    } else if (strcmp(name, "pe-interp") == 0) {
        p->schedule = FALSE;
        p->fixed_mode = RESDIT_MODE_GLOBAL;
    } else if (strcmp(name, "no-pes") == 0) {
        p->method.no_pes = TRUE;
    } else if (strcmp(name, "no-pipe") == 0) {
        p->method.no_pipe = TRUE;
    } else if (strcmp(name, "no-psf") == 0) {
        p->method.no_psf = TRUE;
    } else if (strcmp(name, "no-gws") == 0) {
        p->method.uniform_weights = TRUE;
    } else if (strcmp(name, "no-mop") == 0) {
        p->method.no_overlap = TRUE;
    } else if (strcmp(name, "resdit") != 0) {
        return FALSE;
    }
    return TRUE;
}

static const Variant *find_variant(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(variants); i++)
        if (strcmp(variants[i].name, name) == 0)
            return &variants[i];
    return NULL;
}

/* Box-filters an RGB8 image into a t x t' tile of the grid (aspect kept, width = thumb). */
static void paste_thumb(guint8 *grid, int grid_w, int x0, int y0, const guint8 *rgb, int w, int h,
                        int tw, int th)
{
    for (int ty = 0; ty < th; ty++)
        for (int tx = 0; tx < tw; tx++) {
            int ya = ty * h / th, yb = MAX(ya + 1, (ty + 1) * h / th);
            int xa = tx * w / tw, xb = MAX(xa + 1, (tx + 1) * w / tw);
            double sum[3] = {0, 0, 0};
            for (int y = ya; y < yb; y++)
                for (int x = xa; x < xb; x++)
                    for (int c = 0; c < 3; c++)
                        sum[c] += rgb[((size_t)y * w + x) * 3 + c];
            double n = (double)(yb - ya) * (xb - xa);
            for (int c = 0; c < 3; c++)
                grid[((size_t)(y0 + ty) * grid_w + x0 + tx) * 3 + c] = (guint8)lround(sum[c] / n);
        }
}

static ResditModelPaths *find_demo(void)
{
    g_autoptr(GPtrArray) found = resdit_models_discover(NULL);
    g_autofree char *bundled = resdit_bundled_models_dir();
    g_autofree char *root = g_build_filename(bundled, "resdit-demo", NULL);
    for (guint i = 0; i < found->len; i++) {
        ResditModelPaths *p = g_ptr_array_index(found, i);
        if (g_strcmp0(p->root, root) == 0)
            return resdit_model_paths_copy(p);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int seeds = 32, steps = 0, grid_seeds = 4, thumb = 192, global_steps = -1, local_steps = -1;
    double cutoff = -1, guidance = -1, mu = NAN, lowfreq = 0;
    char *size = NULL, *grid_path = NULL, *variant_list = NULL, *save_dir = NULL,
         *backend = NULL;
    GOptionEntry entries[] = {
        {"seeds", 0, 0, G_OPTION_ARG_INT, &seeds, "seeds 1..N (32)", "N"},
        {"size", 0, 0, G_OPTION_ARG_STRING, &size, "image size (1024x1024: 4x the base)", "WxH"},
        {"steps", 0, 0, G_OPTION_ARG_INT, &steps, "sampling steps (the model's default)", "S"},
        {"global-steps", 0, 0, G_OPTION_ARG_INT, &global_steps, "ResDiT G (default)", "G"},
        {"local-steps", 0, 0, G_OPTION_ARG_INT, &local_steps, "ResDiT L (default)", "L"},
        {"cutoff", 0, 0, G_OPTION_ARG_DOUBLE, &cutoff, "PSF cutoff (the model's default)", "C"},
        {"guidance", 0, 0, G_OPTION_ARG_DOUBLE, &guidance, "CFG scale (the model's default)", "G"},
        {"mu", 0, 0, G_OPTION_ARG_DOUBLE, &mu, "a fixed timestep shift mu (the model's shift)", "MU"},
        {"lowfreq-noise", 0, 0, G_OPTION_ARG_DOUBLE, &lowfreq,
         "low-frequency noise, 0 to 1 (0: plain noise)", "S"},
        {"grid", 0, 0, G_OPTION_ARG_FILENAME, &grid_path, "write a picture grid", "FILE"},
        {"grid-seeds", 0, 0, G_OPTION_ARG_INT, &grid_seeds, "columns of the grid (4)", "K"},
        {"thumb", 0, 0, G_OPTION_ARG_INT, &thumb, "grid tile width in pixels (192)", "PX"},
        {"variants", 0, 0, G_OPTION_ARG_STRING, &variant_list, "comma-separated variants", "LIST"},
        {"save-dir", 0, 0, G_OPTION_ARG_FILENAME, &save_dir, "save every image here", "DIR"},
        {"backend", 0, 0, G_OPTION_ARG_STRING, &backend, "cpu (default) or cuda", "NAME"},
        {NULL}};
    GOptionContext *ctx = g_option_context_new("- ResDiT ablation on the demo model");
    g_option_context_add_main_entries(ctx, entries, NULL);
    GError *error = NULL;
    if (!g_option_context_parse(ctx, &argc, &argv, &error))
        g_error("%s", error->message);
    g_option_context_free(ctx);
    int width = 1024, height = 1024;
    if (size && sscanf(size, "%dx%d", &width, &height) != 2)
        g_error("--size: expected WxH");
    g_auto(GStrv) names =
        g_strsplit(variant_list ? variant_list : "direct,pe-interp,resdit,no-pes,no-pipe,no-psf,no-gws",
                   ",", -1);
    const int n_var = (int)g_strv_length(names);
    for (int v = 0; v < n_var; v++)
        if (!find_variant(names[v]))
            g_error("unknown variant %s", names[v]);

    ResditModelPaths *paths = find_demo();
    if (!paths)
        g_error("the demo model (data/models/resdit-demo) was not found");
    const ResditBackendChoice choice =
        g_strcmp0(backend, "cuda") == 0 ? RESDIT_BACKEND_CUDA : RESDIT_BACKEND_CPU;
    if (backend && choice == RESDIT_BACKEND_CPU && strcmp(backend, "cpu") != 0)
        g_error("--backend: expected cpu or cuda");
    ResditModel *model = resdit_model_open(paths, choice, &error);
    resdit_model_paths_free(paths);
    if (!model)
        g_error("%s", error->message);

    grid_seeds = MIN(grid_seeds, seeds);
    const int th = thumb * height / width;
    const int grid_w = grid_seeds * thumb, grid_h = n_var * th;
    guint8 *grid = grid_path ? g_new0(guint8, (size_t)grid_w * grid_h * 3) : NULL;

    ResditJobParams shown;
    resdit_job_params_init(&shown);
    resdit_model_job_defaults(model, &shown);
    g_autofree char *guide = resdit_model_uses_cfg(model)
                                 ? g_strdup_printf("CFG scale %g", guidance >= 0 ? guidance
                                                                                 : shown.guidance)
                                 : g_strdup("no guidance");
    g_autofree char *shift = isnan(mu) ? g_strdup("the model's shift") : g_strdup_printf("mu %g", mu);
    /* The detector's smallest blob as it is (SUN_MIN_AREA pixels at any size) and scaled with
     * the picture's area over the base size's: the blobs it would count on the picture seen at
     * the base size (the "scaled" rows). */
    const int base = resdit_model_base_size(model);
    const int scaled_area = (int)lround((double)SUN_MIN_AREA * width * height / ((double)base * base));
    printf("demo model, %dx%d (base %d px), %d seeds, %d steps, %s, cutoff %g, %s, "
           "low-frequency noise %g, detector min area %d px (scaled: %d px), %s backend\n",
           width, height, base, seeds, steps > 0 ? steps : shown.steps, guide,
           cutoff >= 0 ? cutoff : shown.method.cutoff, shift, lowfreq, SUN_MIN_AREA, scaled_area,
           choice == RESDIT_BACKEND_CUDA ? "CUDA" : "CPU");
    resdit_job_params_clear(&shown);
    printf("%-50s %8s %6s %6s %6s %8s %8s\n", "variant", "one sun", "none", "two+", "mean",
           "s/image", "counts");
    for (int v = 0; v < n_var; v++) {
        const Variant *var = find_variant(names[v]);
        Tally fixed = {.counts = g_string_new(NULL)}, scaled = {.counts = g_string_new(NULL)};
        double seconds = 0;
        for (int s = 1; s <= seeds; s++) {
            ResditJobParams p;
            resdit_job_params_init(&p);
            resdit_model_job_defaults(model, &p);
            g_free(p.prompt);
            p.prompt = g_strdup(demo_prompt((guint64)s));
            p.width = width;
            p.height = height;
            if (steps > 0)
                p.steps = steps;
            p.random_seed = FALSE;
            p.seed = (guint64)s;
            set_variant(&p, var->name);
            p.global_steps = global_steps;
            p.local_steps = local_steps;
            if (cutoff >= 0)
                p.method.cutoff = cutoff;
            if (guidance >= 0)
                p.guidance = guidance;
            p.lowfreq_noise = lowfreq;
            if (!isnan(mu)) {
                p.shift_mode = RESDIT_SHIFT_FIXED;
                p.mu = mu;
            }
            ResditImage *img = resdit_generate(model, &p, NULL, NULL, &error);
            if (!img)
                g_error("%s seed %d: %s", var->name, s, error->message);
            tally_add(&fixed, sun_count(img->rgb, img->width, img->height, SUN_MIN_AREA).count);
            tally_add(&scaled, sun_count(img->rgb, img->width, img->height, scaled_area).count);
            seconds += img->seconds_total;
            if (grid && s <= grid_seeds)
                paste_thumb(grid, grid_w, (s - 1) * thumb, v * th, img->rgb, img->width,
                            img->height, thumb, th);
            if (save_dir) {
                g_mkdir_with_parents(save_dir, 0755);
                g_autofree char *file =
                    g_strdup_printf("%s/%s-%dx%d-seed%02d.png", save_dir, var->name, width,
                                    height, s);
                if (!resdit_image_save_png(img, file, &error))
                    g_error("%s", error->message);
            }
            resdit_image_free(img);
            resdit_job_params_clear(&p);
        }
        tally_print(var->label, &fixed, seeds, seconds);
        tally_print("  same, scaled min area", &scaled, seeds, seconds);
        fflush(stdout);
        g_string_free(fixed.counts, TRUE);
        g_string_free(scaled.counts, TRUE);
    }
    if (grid) {
        if (!resdit_save_rgb_png(grid_path, grid_w, grid_h, grid, &error))
            g_error("%s", error->message);
        printf("grid: %s (rows: %s; columns: seeds 1..%d)\n", grid_path,
               variant_list ? variant_list : "direct,pe-interp,resdit,no-pes,no-pipe,no-psf,no-gws",
               grid_seeds);
        g_free(grid);
    }
    resdit_model_free(model);
    g_free(size);
    g_free(grid_path);
    g_free(variant_list);
    g_free(save_dir);
    return 0;
}
