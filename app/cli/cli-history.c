/* resdit history: list, search, show, delete and undelete generations of the shared history. */
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-number.h"
#include "cli-text-line.h"
#include "cli.h"
#include "history-store.h"
#include "json_load.h"

typedef struct {
    char *db;
    gboolean json;
    char *status;
    char *model;
    char *size;
    char *limit; /* numbers as typed, NULL when not given */
    char *offset;
    gboolean now;
} HistoryOptions;

static void history_options_clear(HistoryOptions *opt)
{
    g_free(opt->db);
    g_free(opt->status);
    g_free(opt->model);
    g_free(opt->size);
    g_free(opt->limit);
    g_free(opt->offset);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(HistoryOptions, history_options_clear)

static const char *const history_usage =
    "Usage: resdit history COMMAND [OPTIONS]\n\n"
    "The history of generations shared with ResDiT Studio.\n\n"
    "Commands:\n"
    "  list                 newest first (--status, --model, --size, --limit, --offset)\n"
    "  search WORDS...      prompts containing every word (same filters)\n"
    "  show ID              every parameter, timings and outcome of one generation\n"
    "  delete ID            hide it; undelete brings it back for an hour, --now deletes\n"
    "                       the row and its image file at once\n"
    "  undelete ID          bring a deleted generation back\n\n"
    "Options: --json (machine-readable output), --db PATH (default: $RESDIT_HISTORY_DB or\n"
    "the user data folder), -h for the options of a command.\n";

static gboolean parse_options(int *argc, char ***argv, HistoryOptions *opt, GError **error)
{
    GOptionEntry entries[] = {
        {"db", 0, 0, G_OPTION_ARG_FILENAME, &opt->db, "History database file", "PATH"},
        {"json", 0, 0, G_OPTION_ARG_NONE, &opt->json, "Print JSON", NULL},
        {"status", 0, 0, G_OPTION_ARG_STRING, &opt->status,
         "Only these statuses (comma separated: queued, running, done, cancelled, failed, "
         "interrupted)",
         "LIST"},
        {"model", 0, 0, G_OPTION_ARG_STRING, &opt->model, "Only this model", "NAME"},
        {"size", 0, 0, G_OPTION_ARG_STRING, &opt->size, "Only this size", "WxH"},
        {"limit", 0, 0, G_OPTION_ARG_STRING, &opt->limit,
         "At most N rows, 1 to 1000000 (default 50)", "N"},
        {"offset", 0, 0, G_OPTION_ARG_STRING, &opt->offset, "Skip the first N rows", "N"},
        {"now", 0, 0, G_OPTION_ARG_NONE, &opt->now, "delete: no undo, remove the image too", NULL},
        {NULL},
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("COMMAND [ARGS] - the generation history");
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_description(ctx, history_usage);
    return g_option_context_parse(ctx, argc, argv, error);
}

static gboolean build_query(const HistoryOptions *opt, HistoryQuery *q, guint *offset,
                            guint *limit, GError **error)
{
    int first = 0, count = 50;
    if ((opt->offset && !cli_number_int(opt->offset, "--offset", 0, G_MAXINT, &first, error)) ||
        (opt->limit && !cli_number_int(opt->limit, "--limit", 1, 1000000, &count, error)))
        return FALSE;
    *offset = (guint)first;
    *limit = (guint)count;
    if (opt->status != NULL) {
        g_auto(GStrv) names = g_strsplit(opt->status, ",", -1);
        for (char **n = names; *n; n++) {
            HistoryStatus s;
            if (!history_status_from_name(g_strstrip(*n), &s)) {
                g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "unknown status '%s'",
                            *n);
                return FALSE;
            }
            q->status_mask |= 1u << s;
        }
    }
    q->model = opt->model;
    /* WIDTHxHEIGHT in pixels: any size a generation can have */
    return opt->size == NULL ||
           cli_number_pair(opt->size, "--size", 16, 16384, &q->width, &q->height, error);
}

/* ---- output ----------------------------------------------------------------------------- */

static char *format_time(gint64 us)
{
    if (us == 0)
        return NULL;
    g_autoptr(GDateTime) seconds = g_date_time_new_from_unix_local(us / G_USEC_PER_SEC);
    g_autoptr(GDateTime) local = seconds ? g_date_time_add(seconds, us % G_USEC_PER_SEC) : NULL;
    return local ? g_date_time_format_iso8601(local) : NULL;
}

static void add_string(JsonBuilder *b, const char *name, const char *value)
{
    json_builder_set_member_name(b, name);
    if (value)
        json_builder_add_string_value(b, value);
    else
        json_builder_add_null_value(b);
}

static void add_time(JsonBuilder *b, const char *name, gint64 us)
{
    g_autofree char *text = format_time(us);
    add_string(b, name, text);
}

/* The stored parameter blob as JSON; a blob that does not parse (a damaged database) is null. */
static void add_params(JsonBuilder *b, const char *params_json)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonNode *root = params_json && rd_json_load_data(parser, params_json, -1, NULL)
                         ? json_parser_get_root(parser)
                         : NULL;
    if (root)
        json_builder_add_value(b, json_node_copy(root));
    else
        json_builder_add_null_value(b);
}

/* with_timings: pages are read without timings, so a list leaves the key out */
static void add_generation(JsonBuilder *b, const HistoryGeneration *gen, gboolean with_timings)
{
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_int_value(b, gen->id);
    add_string(b, "status", history_status_name(gen->status));
    add_time(b, "created_at", gen->created_at);
    add_time(b, "started_at", gen->started_at);
    add_time(b, "finished_at", gen->finished_at);
    json_builder_set_member_name(b, "params");
    add_params(b, gen->params_json);
    add_string(b, "image_path", gen->image_path);
    add_string(b, "error_message", gen->error_message);
    json_builder_set_member_name(b, "peak_host_bytes");
    json_builder_add_int_value(b, gen->peak_host_bytes);
    json_builder_set_member_name(b, "peak_device_bytes");
    json_builder_add_int_value(b, gen->peak_device_bytes);
    json_builder_set_member_name(b, "has_thumbnail");
    json_builder_add_boolean_value(b, gen->has_thumbnail);
    if (with_timings) {
        json_builder_set_member_name(b, "timings");
        json_builder_begin_object(b);
        for (guint i = 0; i < gen->timings->len; i++) {
            HistoryTiming *t = &g_array_index(gen->timings, HistoryTiming, i);
            json_builder_set_member_name(b, t->phase);
            json_builder_add_double_value(b, t->seconds);
        }
        json_builder_end_object(b);
    }
    json_builder_end_object(b);
}

static void print_json(JsonBuilder *b)
{
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    json_generator_set_pretty(gen, TRUE);
    json_generator_set_root(gen, root);
    g_autofree char *text = json_generator_to_data(gen, NULL);
    puts(text);
}

static void print_rows(GPtrArray *rows, gint64 total, gboolean json)
{
    if (json) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        json_builder_begin_array(b);
        for (guint i = 0; i < rows->len; i++)
            add_generation(b, g_ptr_array_index(rows, i), FALSE);
        json_builder_end_array(b);
        print_json(b);
        return;
    }
    printf("%6s  %-19s  %-11s  %-9s  %-16s  %s\n", "ID", "CREATED", "STATUS", "SIZE", "MODEL",
           "PROMPT");
    for (guint i = 0; i < rows->len; i++) {
        HistoryGeneration *g = g_ptr_array_index(rows, i);
        g_autoptr(GDateTime) t = g_date_time_new_from_unix_local(g->created_at / G_USEC_PER_SEC);
        g_autofree char *when = t ? g_date_time_format(t, "%Y-%m-%d %H:%M:%S") : g_strdup("?");
        g_autofree char *size = g_strdup_printf("%dx%d", g->params.width, g->params.height);
        g_autofree char *prompt = cli_text_line(g->params.prompt, 60);
        printf("%6" G_GINT64_FORMAT "  %-19s  %-11s  %-9s  %-16s  %s\n", g->id, when,
               history_status_name(g->status), size, g->params.model_name, prompt);
    }
    printf("(%u of %" G_GINT64_FORMAT ")\n", rows->len, total);
}

static void print_generation(const HistoryGeneration *g, gboolean json)
{
    if (json) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        add_generation(b, g, TRUE);
        print_json(b);
        return;
    }
    g_autofree char *created = format_time(g->created_at);
    g_autofree char *finished = format_time(g->finished_at);
    printf("id           %" G_GINT64_FORMAT "\nstatus       %s\ncreated      %s\nfinished     %s\n",
           g->id, history_status_name(g->status), created, finished ? finished : "-");
    printf("image        %s\n", g->image_path ? g->image_path : "-");
    if (g->error_message)
        printf("error        %s\n", g->error_message);
    printf("peak memory  host %.1f MiB, device %.1f MiB\n", g->peak_host_bytes / 1048576.0,
           g->peak_device_bytes / 1048576.0);
    for (guint i = 0; i < g->timings->len; i++) {
        HistoryTiming *t = &g_array_index(g->timings, HistoryTiming, i);
        printf("time         %-16s %.3f s\n", t->phase, t->seconds);
    }
    printf("parameters   %s\n", g->params_json);
}

/* ---- commands --------------------------------------------------------------------------- */

static int list_or_search(HistoryStore *store, const HistoryOptions *opt, const char *search)
{
    HistoryQuery q = {.search = search};
    g_autoptr(GError) error = NULL;
    guint offset, limit;
    if (!build_query(opt, &q, &offset, &limit, &error))
        return cli_fail("%s", error->message), 2;
    gint64 total = history_store_count(store, &q, &error);
    g_autoptr(GPtrArray) rows =
        total < 0 ? NULL : history_store_list(store, &q, offset, limit, &error);
    if (rows == NULL)
        return cli_fail("%s", error->message);
    print_rows(rows, total, opt->json);
    return 0;
}

static int run_on_id(HistoryStore *store, const char *command, const char *arg,
                     const HistoryOptions *opt)
{
    gint64 id;
    g_autoptr(GError) error = NULL;
    g_autofree char *what = g_strdup_printf("history %s ID", command);
    if (arg == NULL)
        return cli_fail("history %s wants a generation id (see resdit history list)", command), 2;
    if (!cli_number_int64(arg, what, 1, G_MAXINT64, &id, &error))
        return cli_fail("%s", error->message), 2;
    if (strcmp(command, "show") == 0) {
        g_autoptr(HistoryGeneration) gen = history_store_get(store, id, &error);
        if (gen == NULL)
            return cli_fail("%s", error->message);
        print_generation(gen, opt->json);
        return 0;
    }
    gboolean ok;
    if (strcmp(command, "undelete") == 0)
        ok = history_store_undelete(store, id, &error);
    else if (opt->now)
        ok = history_store_purge(store, id, &error);
    else
        ok = history_store_delete(store, id, &error);
    if (!ok)
        return cli_fail("%s", error->message);
    if (strcmp(command, "delete") == 0 && !opt->now)
        fprintf(stderr,
                "Deleted %" G_GINT64_FORMAT " (undo within the hour: resdit history "
                "undelete %" G_GINT64_FORMAT ")\n",
                id, id);
    return 0;
}

int cli_history(int argc, char **argv)
{
    g_auto(HistoryOptions) opt = {0};
    g_autoptr(GError) error = NULL;
    if (!parse_options(&argc, &argv, &opt, &error))
        return cli_fail("%s", error->message), 2;
    if (argc < 2) {
        fputs(history_usage, stderr);
        return 2;
    }
    const char *command = argv[1];
    static const char *const known[] = {"list", "search", "show", "delete", "undelete"};
    gboolean is_known = FALSE;
    for (guint i = 0; i < G_N_ELEMENTS(known); i++)
        is_known |= strcmp(command, known[i]) == 0;
    if (!is_known) {
        fprintf(stderr, "resdit: unknown history command '%s'\n\n%s", command, history_usage);
        return 2;
    }
    g_autofree char *path = opt.db ? g_strdup(opt.db) : history_store_default_path();
    g_autoptr(HistoryStore) store = history_store_open(path, &error);
    if (store == NULL)
        return cli_fail("%s%s", error->message,
                        g_error_matches(error, HISTORY_ERROR, HISTORY_ERROR_IO)
                            ? " Or use another history file: --db PATH or $RESDIT_HISTORY_DB."
                            : "");
    if (history_store_get_recovery_notice(store))
        fprintf(stderr, "resdit: %s\n", history_store_get_recovery_notice(store));

    int status;
    if (strcmp(command, "list") == 0 || strcmp(command, "search") == 0) {
        g_autofree char *words = argc > 2 ? g_strjoinv(" ", argv + 2) : NULL;
        if (strcmp(command, "search") == 0 && words == NULL)
            return cli_fail("history search wants words to look for"), 2;
        status = list_or_search(store, &opt, words);
    } else {
        status = run_on_id(store, command, argc > 2 ? argv[2] : NULL, &opt);
    }
    history_store_close(store);
    return status;
}
