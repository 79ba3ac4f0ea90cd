#include "cli-number.h"

#include <math.h>
#include <string.h>

/* The text as given, for a message: at most 40 bytes, control bytes and invalid UTF-8 escaped. */
static char *shown(const char *text)
{
    gsize len = strlen(text);
    gboolean cut = len > 40;
    g_autofree char *head = g_strndup(text, cut ? 40 : len);
    gboolean plain = g_utf8_validate(head, -1, NULL);
    for (const char *p = head; plain && *p; p++)
        plain = (guchar)*p >= 0x20 && *p != 0x7f && *p != '\\';
    g_autofree char *safe = plain ? g_strdup(head) : g_strescape(head, NULL);
    return g_strconcat(safe, cut ? "..." : "", NULL);
}

static gboolean bad_value(GError **error, const char *option, const char *text, const char *what,
                          const char *range)
{
    g_autofree char *value = shown(text);
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "%s '%s': %s; give %s", option,
                value, what, range);
    return FALSE;
}

static char *int_range(gint64 min, gint64 max)
{
    return g_strdup_printf("a whole number from %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT, min,
                           max);
}

gboolean cli_number_int64(const char *text, const char *option, gint64 min, gint64 max, gint64 *out,
                          GError **error)
{
    g_return_val_if_fail(option != NULL && min <= max, FALSE);
    g_autofree char *range = int_range(min, max);
    if (text == NULL)
        text = "";
    const char *p = text;
    gboolean negative = *p == '-';
    if (negative)
        p++;
    if (*p == '\0')
        return bad_value(error, option, text, "not a whole number", range);
    /* the magnitude, saturated: anything past 2^63 is out of every range */
    guint64 magnitude = 0;
    gboolean huge = FALSE;
    for (; *p; p++) {
        if (!g_ascii_isdigit(*p))
            return bad_value(error, option, text, "not a whole number", range);
        guint digit = (guint)(*p - '0');
        if (magnitude > (G_MAXUINT64 - digit) / 10)
            huge = TRUE;
        else
            magnitude = magnitude * 10 + digit;
    }
    const guint64 limit = (guint64)G_MAXINT64 + (negative ? 1u : 0u);
    if (huge || magnitude > limit)
        return bad_value(error, option, text, "out of range", range);
    gint64 value = !negative            ? (gint64)magnitude
                   : magnitude == limit ? G_MININT64
                                        : -(gint64)magnitude;
    if (value < min || value > max)
        return bad_value(error, option, text, "out of range", range);
    *out = value;
    return TRUE;
}

gboolean cli_number_int(const char *text, const char *option, int min, int max, int *out,
                        GError **error)
{
    gint64 value;
    if (!cli_number_int64(text, option, min, max, &value, error))
        return FALSE;
    *out = (int)value;
    return TRUE;
}

/* [-] digits [. digits] [e [+-] digits], with a digit before or after the point. */
static gboolean is_decimal(const char *p)
{
    if (*p == '-')
        p++;
    gsize digits = 0;
    for (; g_ascii_isdigit(*p); p++)
        digits++;
    if (*p == '.')
        for (p++; g_ascii_isdigit(*p); p++)
            digits++;
    if (digits == 0)
        return FALSE;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!g_ascii_isdigit(*p))
            return FALSE;
        while (g_ascii_isdigit(*p))
            p++;
    }
    return *p == '\0';
}

gboolean cli_number_double(const char *text, const char *option, double min, double max,
                           double *out, GError **error)
{
    g_return_val_if_fail(option != NULL && min <= max, FALSE);
    g_autofree char *range = g_strdup_printf("a number from %g to %g", min, max);
    if (text == NULL)
        text = "";
    if (!is_decimal(text))
        return bad_value(error, option, text, "not a number", range);
    char *end = NULL;
    double value = g_ascii_strtod(text, &end);
    if (end == NULL || *end != '\0')
        return bad_value(error, option, text, "not a number", range);
    if (!isfinite(value) || value < min || value > max)
        return bad_value(error, option, text, "out of range", range);
    *out = value == 0 ? 0.0 : value; /* no -0 */
    return TRUE;
}

gboolean cli_number_pair(const char *text, const char *option, int min, int max, int *first,
                         int *second, GError **error)
{
    g_return_val_if_fail(option != NULL && min <= max, FALSE);
    if (text == NULL)
        text = "";
    const char *x = strpbrk(text, "xX");
    g_autofree char *left = x ? g_strndup(text, (gsize)(x - text)) : NULL;
    int a = 0, b = 0;
    if (x == NULL || !cli_number_int(left, option, min, max, &a, NULL) ||
        !cli_number_int(x + 1, option, min, max, &b, NULL)) {
        int example = CLAMP(64, min, max);
        g_autofree char *range = g_strdup_printf(
            "two whole numbers from %d to %d joined by x, e.g. %dx%d", min, max, example, example);
        return bad_value(error, option, text, "expected RxC", range);
    }
    *first = a;
    *second = b;
    return TRUE;
}
