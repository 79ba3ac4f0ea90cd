/* history-bench: opening the history and showing its first page with 10 000 generations.
 *
 * Builds a history of N finished generations (every parameter, three timings, a 128 x 128 PNG
 * thumbnail each) through the store's own API, then, in a fresh process per run, measures:
 * open (with migration check and start-up housekeeping), count, the first page of rows, the
 * thumbnails of that page, and the same for a prompt search. Prints wall times and the peak
 * resident memory of the measuring process.
 *
 * Usage: history-bench [--rows N] [--page N] [--runs N] [--keep DIR] */
#include <glib/gstdio.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "history-store.h"

typedef struct {
    int rows;
    int page;
    int runs;
    char *keep;
} BenchOptions;

/* ---- building the history --------------------------------------------------------------- */

static GBytes *make_thumbnail(guint seed)
{
    enum { SIDE = 128 };
    g_autofree guint8 *pixels = g_malloc(SIDE * SIDE * 3);
    GRand *rand = g_rand_new_with_seed(seed);
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++)
            for (int c = 0; c < 3; c++) /* a gradient with grain, like a downscaled photo */
                pixels[(y * SIDE + x) * 3 + c] =
                    (guint8)((x * (c + 1) + y * (3 - c) + (int)seed) / 2 +
                             g_rand_int_range(rand, 0, 24));
    g_rand_free(rand);
    png_image image = {
        .version = PNG_IMAGE_VERSION, .width = SIDE, .height = SIDE, .format = PNG_FORMAT_RGB};
    png_alloc_size_t size = 0;
    if (!png_image_write_to_memory(&image, NULL, &size, 0, pixels, 0, NULL))
        g_error("png: %s", image.message);
    guint8 *buffer = g_malloc(size);
    if (!png_image_write_to_memory(&image, buffer, &size, 0, pixels, 0, NULL))
        g_error("png: %s", image.message);
    return g_bytes_new_take(buffer, size);
}

static const char *const subjects[] = {
    "a lighthouse on a cliff in a storm", "a red fox in fresh snow",
    "a watercolour of Venice at dawn",    "macro photo of a dragonfly wing",
    "an isometric city at night",         "a bowl of ramen, studio lighting",
    "an astronaut riding a horse",        "a foggy pine forest, 35mm film",
};

static void fill_params(HistoryParams *p, int i)
{
    history_params_init(p);
    g_free(p->prompt);
    p->prompt = g_strdup_printf("%s, highly detailed, 4k, variation %d",
                                subjects[i % G_N_ELEMENTS(subjects)], i);
    p->width = i % 3 == 0 ? 4096 : 3072;
    p->height = i % 3 == 0 ? 4096 : 1728;
    p->seed = (guint64)i * 2654435761u;
    p->cutoff = 0.2 + 0.001 * (i % 10);
    g_free(p->model_name);
    p->model_name = g_strdup(i % 4 ? "flux1-dev" : "flux1-schnell");
    g_free(p->model_fingerprint);
    p->model_fingerprint = g_strdup_printf("sha256:%016x", i % 4 ? 0xdeadbeefu : 0xfeedfaceu);
}

static double seconds_since(gint64 start)
{
    return (g_get_monotonic_time() - start) / 1e6;
}

static void build_history(const char *path, int rows)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(HistoryStore) store = history_store_open(path, &error);
    if (store == NULL)
        g_error("%s", error->message);
    GBytes *thumbs[16];
    for (guint i = 0; i < G_N_ELEMENTS(thumbs); i++)
        thumbs[i] = make_thumbnail(i * 7 + 1);
    gint64 start = g_get_monotonic_time();
    for (int i = 0; i < rows; i++) {
        g_auto(HistoryParams) params;
        fill_params(&params, i);
        gint64 id = history_store_begin(store, &params, HISTORY_STATUS_RUNNING, &error);
        HistoryTiming timings[] = {
            {"text encoding", 1.5}, {"denoising", 300.0 + i % 50}, {"vae decode", 12.0}};
        g_autofree char *image = g_strdup_printf("/home/user/Pictures/ResDiT/%06d.png", i);
        HistoryOutcome outcome = {
            .status = i % 25 == 0 ? HISTORY_STATUS_FAILED : HISTORY_STATUS_DONE,
            .image_path = i % 25 == 0 ? NULL : image,
            .error_message = i % 25 == 0 ? "Out of GPU memory" : NULL,
            .peak_host_bytes = G_GINT64_CONSTANT(20) << 30,
            .peak_device_bytes = G_GINT64_CONSTANT(60) << 30,
            .timings = timings,
            .n_timings = G_N_ELEMENTS(timings),
            .thumbnail_png = i % 25 == 0 ? NULL : thumbs[i % G_N_ELEMENTS(thumbs)],
        };
        if (id < 0 || !history_store_finish(store, id, &outcome, &error))
            g_error("%s", error->message);
    }
    gsize thumb_bytes = 0;
    for (guint i = 0; i < G_N_ELEMENTS(thumbs); i++) {
        thumb_bytes += g_bytes_get_size(thumbs[i]);
        g_bytes_unref(thumbs[i]);
    }
    history_store_close(store);
    GStatBuf st;
    g_stat(path, &st);
    printf("built %d generations in %.1f s (%.0f jobs/s, begin + finish each); thumbnails "
           "%.1f KiB on average; database %.1f MiB\n",
           rows, seconds_since(start), rows / seconds_since(start),
           thumb_bytes / (double)G_N_ELEMENTS(thumbs) / 1024.0, st.st_size / 1048576.0);
}

/* ---- one measurement (in its own process) ----------------------------------------------- */

static long rss_kib(const char *field)
{
    g_autofree char *status = NULL;
    if (!g_file_get_contents("/proc/self/status", &status, NULL, NULL))
        return -1;
    const char *line = strstr(status, field);
    return line ? strtol(line + strlen(field) + 1, NULL, 10) : -1;
}

static int load_page_thumbnails(HistoryStore *store, GPtrArray *rows, gsize *bytes)
{
    int n = 0;
    for (guint i = 0; i < rows->len; i++) {
        HistoryGeneration *gen = g_ptr_array_index(rows, i);
        if (!gen->has_thumbnail)
            continue;
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) png = history_store_get_thumbnail(store, gen->id, &error);
        if (png == NULL)
            g_error("%s", error->message);
        *bytes += g_bytes_get_size(png);
        n++;
    }
    return n;
}

static double cpu_ms(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 +
           (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}

static int measure(const char *path, int page)
{
    long rss_before = rss_kib("VmRSS:");
    double cpu_before = cpu_ms();
    g_autoptr(GError) error = NULL;
    gint64 t0 = g_get_monotonic_time();
    g_autoptr(HistoryStore) store = history_store_open(path, &error);
    if (store == NULL)
        g_error("%s", error->message);
    gint64 t_open = g_get_monotonic_time();
    gint64 total = history_store_count(store, NULL, &error);
    g_autoptr(GPtrArray) rows = history_store_list(store, NULL, 0, (guint)page, &error);
    if (total < 0 || rows == NULL)
        g_error("%s", error->message);
    gint64 t_page = g_get_monotonic_time();
    gsize thumb_bytes = 0;
    int thumbs = load_page_thumbnails(store, rows, &thumb_bytes);
    gint64 t_thumbs = g_get_monotonic_time();
    double cpu_page = cpu_ms() - cpu_before;
    HistoryQuery search = {.search = "red fox"};
    gint64 found = history_store_count(store, &search, &error);
    g_autoptr(GPtrArray) found_rows = history_store_list(store, &search, 0, (guint)page, &error);
    if (found < 0 || found_rows == NULL)
        g_error("%s", error->message);
    gint64 t_search = g_get_monotonic_time();
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    printf("%.3f %.3f %.3f %.3f %.3f %.3f %ld %ld %" G_GINT64_FORMAT " %u %d %" G_GINT64_FORMAT
           "\n",
           (t_open - t0) / 1e3, (t_page - t_open) / 1e3, (t_thumbs - t_page) / 1e3,
           (t_thumbs - t0) / 1e3, cpu_page, (t_search - t_thumbs) / 1e3, rss_before,
           usage.ru_maxrss, total, rows->len, thumbs, found);
    return 0;
}

/* ---- driver ----------------------------------------------------------------------------- */

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

enum { F_OPEN, F_PAGE, F_THUMBS, F_TOTAL, F_CPU, F_SEARCH, F_RSS0, F_PEAK, N_FIGURES };

typedef struct {
    double v[N_FIGURES];
} Figures;

static void report(const Figures *runs, int n, int page)
{
    static const char *const names[N_FIGURES] = {"open (ms)",
                                                 "count + first page (ms)",
                                                 "page thumbnails (ms)",
                                                 "open to page shown (ms)",
                                                 "  of which CPU time (ms)",
                                                 "search count + page (ms)",
                                                 "RSS before open (KiB)",
                                                 "peak RSS (KiB)"};
    printf("\n%-28s %10s %10s %10s   (%d runs, first page = %d rows)\n", "figure", "median", "min",
           "max", n, page);
    for (int f = 0; f < N_FIGURES; f++) {
        g_autofree double *v = g_new(double, n);
        for (int r = 0; r < n; r++)
            v[r] = runs[r].v[f];
        qsort(v, (size_t)n, sizeof(double), compare_double);
        printf("%-28s %10.2f %10.2f %10.2f\n", names[f], v[n / 2], v[0], v[n - 1]);
    }
}

static gboolean run_measurements(const char *path, const BenchOptions *opt)
{
    g_autofree char *exe = g_file_read_link("/proc/self/exe", NULL);
    g_autofree char *page = g_strdup_printf("%d", opt->page);
    Figures *runs = g_new0(Figures, opt->runs);
    for (int r = 0; r < opt->runs; r++) {
        const char *argv[] = {exe, "--measure", path, page, NULL};
        g_autofree char *out = NULL;
        int status = 0;
        g_autoptr(GError) error = NULL;
        if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, NULL,
                          &status, &error) ||
            !g_spawn_check_wait_status(status, &error)) {
            fprintf(stderr, "history-bench: measurement failed: %s\n", error->message);
            g_free(runs);
            return FALSE;
        }
        gint64 total = 0, found = 0;
        unsigned listed = 0;
        int thumbs = 0;
        double *v = runs[r].v;
        if (sscanf(out,
                   "%lf %lf %lf %lf %lf %lf %lf %lf %" G_GINT64_FORMAT " %u %d %" G_GINT64_FORMAT,
                   &v[F_OPEN], &v[F_PAGE], &v[F_THUMBS], &v[F_TOTAL], &v[F_CPU], &v[F_SEARCH],
                   &v[F_RSS0], &v[F_PEAK], &total, &listed, &thumbs, &found) != 12)
            g_error("unexpected measurement output: %s", out);
        if (r == 0)
            printf("history of %" G_GINT64_FORMAT " rows: first page %u rows with %d thumbnails; "
                   "search \"red fox\" matches %" G_GINT64_FORMAT "\n",
                   total, listed, thumbs, found);
    }
    report(runs, opt->runs, opt->page);
    g_free(runs);
    return TRUE;
}

static void remove_bench_files(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d)) != NULL) {
        g_autofree char *child = g_build_filename(dir, name, NULL);
        if (g_file_test(child, G_FILE_TEST_IS_DIR))
            remove_bench_files(child);
        else
            g_unlink(child);
    }
    g_rmdir(dir);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--measure") == 0)
        return measure(argv[2], atoi(argv[3]));
    BenchOptions opt = {.rows = 10000, .page = 50, .runs = 7};
    GOptionEntry entries[] = {
        {"rows", 0, 0, G_OPTION_ARG_INT, &opt.rows, "Generations in the history", "N"},
        {"page", 0, 0, G_OPTION_ARG_INT, &opt.page, "Rows of the first page", "N"},
        {"runs", 0, 0, G_OPTION_ARG_INT, &opt.runs, "Measurements (fresh process each)", "N"},
        {"keep", 0, 0, G_OPTION_ARG_FILENAME, &opt.keep,
         "Build the history in DIR and keep it (reused when it is there)", "DIR"},
        {NULL},
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- history open + first page benchmark");
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_autoptr(GError) error = NULL;
    if (!g_option_context_parse(ctx, &argc, &argv, &error) || opt.rows < 1 || opt.page < 1 ||
        opt.runs < 1) {
        fprintf(stderr, "history-bench: %s\n", error ? error->message : "bad numbers");
        return 2;
    }
    g_autofree char *dir =
        opt.keep ? g_strdup(opt.keep) : g_dir_make_tmp("history-bench-XXXXXX", &error);
    if (dir == NULL || g_mkdir_with_parents(dir, 0700) != 0) {
        fprintf(stderr, "history-bench: no folder to work in\n");
        return 1;
    }
    g_autofree char *path = g_build_filename(dir, "history.sqlite3", NULL);
    if (!opt.keep || !g_file_test(path, G_FILE_TEST_EXISTS))
        build_history(path, opt.rows);
    gboolean ok = run_measurements(path, &opt);
    if (!opt.keep)
        remove_bench_files(dir);
    g_free(opt.keep);
    return ok ? 0 : 1;
}
