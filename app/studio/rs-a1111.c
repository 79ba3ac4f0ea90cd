/* Parameters of an AUTOMATIC1111-style PNG; the format is described in the header. */
#include "rs-a1111.h"

#include <stdlib.h>
#include <string.h>

#define NEGATIVE_PREFIX "Negative prompt:"
#define SETTINGS_PREFIX "Steps:"

/* The start of the last line that begins with prefix, or NULL. */
static const char *find_last_line(const char *text, const char *prefix)
{
    const char *found = NULL;
    for (const char *line = text; line != NULL;) {
        if (g_str_has_prefix(line, prefix))
            found = line;
        const char *newline = strchr(line, '\n');
        line = newline != NULL ? newline + 1 : NULL;
    }
    return found;
}

static char *strip_copy(const char *start, const char *end)
{
    char *copy = g_strndup(start, (gsize)(end - start));
    return g_strstrip(copy);
}

/* Splits the settings line at ", " outside double quotes. */
static GPtrArray *split_settings(const char *line)
{
    GPtrArray *items = g_ptr_array_new_with_free_func(g_free);
    gboolean quoted = FALSE;
    const char *start = line;
    for (const char *p = line;; p++) {
        if (*p == '"')
            quoted = !quoted;
        if (*p == '\0' || *p == '\n' || (*p == ',' && !quoted)) {
            g_ptr_array_add(items, strip_copy(start, p));
            if (*p != ',')
                break;
            start = p + 1;
        }
    }
    return items;
}

static gboolean parse_int(const char *value, int *out)
{
    char *end;
    long v = strtol(value, &end, 10);
    if (end == value || *end != '\0' || v < 1 || v > G_MAXINT)
        return FALSE;
    *out = (int)v;
    return TRUE;
}

static gboolean parse_double(const char *value, double *out)
{
    char *end;
    double v = g_ascii_strtod(value, &end);
    if (end == value || *end != '\0')
        return FALSE;
    *out = v;
    return TRUE;
}

static gboolean parse_seed(const char *value, guint64 *out)
{
    return value[0] != '-' && g_ascii_string_to_unsigned(value, 10, 0, G_MAXUINT64, out, NULL);
}

static gboolean parse_size(const char *value, int *width, int *height)
{
    char **parts = g_strsplit(value, "x", 2);
    gboolean ok =
        g_strv_length(parts) == 2 && parse_int(parts[0], width) && parse_int(parts[1], height);
    g_strfreev(parts);
    return ok;
}

static void apply_setting(RsA1111Params *params, const char *key, const char *value,
                          gboolean *distilled)
{
    if (g_ascii_strcasecmp(key, "Steps") == 0) {
        params->has_steps = parse_int(value, &params->steps);
    } else if (g_ascii_strcasecmp(key, "Distilled CFG Scale") == 0) {
        *distilled = parse_double(value, &params->guidance);
        params->has_guidance = params->has_guidance || *distilled;
    } else if (g_ascii_strcasecmp(key, "CFG scale") == 0 && !*distilled) {
        params->has_guidance = parse_double(value, &params->guidance);
    } else if (g_ascii_strcasecmp(key, "Seed") == 0) {
        params->has_seed = parse_seed(value, &params->seed);
    } else if (g_ascii_strcasecmp(key, "Size") == 0) {
        params->has_size = parse_size(value, &params->width, &params->height);
    }
}

static void parse_settings(RsA1111Params *params, const char *line)
{
    GPtrArray *items = split_settings(line);
    gboolean distilled = FALSE;
    for (guint i = 0; i < items->len; i++) {
        const char *item = g_ptr_array_index(items, i);
        const char *colon = strchr(item, ':');
        if (colon == NULL)
            continue;
        char *key = strip_copy(item, colon);
        char *value = g_strstrip(g_strdup(colon + 1));
        apply_setting(params, key, value, &distilled);
        g_free(key);
        g_free(value);
    }
    g_ptr_array_unref(items);
}

gboolean rs_a1111_parse(const char *text, RsA1111Params *params)
{
    memset(params, 0, sizeof *params);
    if (text == NULL)
        return FALSE;
    const char *settings = find_last_line(text, SETTINGS_PREFIX);
    if (settings == NULL)
        return FALSE;
    const char *negative = find_last_line(text, NEGATIVE_PREFIX);
    if (negative != NULL && negative > settings)
        negative = NULL;
    const char *prompt_end = negative != NULL ? negative : settings;
    params->prompt = strip_copy(text, prompt_end);
    if (negative != NULL)
        params->negative_prompt = strip_copy(negative + strlen(NEGATIVE_PREFIX), settings);
    parse_settings(params, settings);
    return TRUE;
}

void rs_a1111_params_clear(RsA1111Params *params)
{
    g_clear_pointer(&params->prompt, g_free);
    g_clear_pointer(&params->negative_prompt, g_free);
}
