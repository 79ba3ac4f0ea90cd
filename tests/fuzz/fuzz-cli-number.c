/* Fuzz target for the command line's strict number parser (app/cli-number.c): any text must give
 * TRUE with a value inside the range that is exactly the text's number, or FALSE with a
 * G_OPTION_ERROR_BAD_VALUE naming the option, never a crash. Built for libFuzzer with
 * -Dfuzzers=true (clang), and linked with smoke-driver.c for a short run in the unit suite on
 * the seeds of corpus/cli-number/.
 *
 * Input: the first byte picks the parser ('I' int64 over the whole range, 'i' int from 16 to
 * 16384, 'd' double from -20 to 20, 'p' RxC from 1 to 1024; any other byte by its value mod
 * 4), the rest is the option's text (up to the first NUL). */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cli-number.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The canonical decimal form of an integer text that is [-]digits: no leading zeros, "-0" is
 * "0"; NULL for anything else. */
static char *canonical_integer(const char *text)
{
    const char *p = text;
    gboolean negative = *p == '-';
    if (negative)
        p++;
    if (*p == '\0')
        return NULL;
    for (const char *q = p; *q; q++)
        if (!g_ascii_isdigit(*q))
            return NULL;
    while (*p == '0' && p[1] != '\0')
        p++;
    return g_strconcat(negative && strcmp(p, "0") != 0 ? "-" : "", p, NULL);
}

static void check_error(GError *error, gboolean ok, const char *option)
{
    g_assert(ok == (error == NULL));
    if (!ok) {
        g_assert(g_error_matches(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE));
        g_assert(g_str_has_prefix(error->message, option));
        g_assert(g_utf8_validate(error->message, -1, NULL));
        g_assert(strlen(error->message) < 400);
    }
}

static void check_int64(const char *text)
{
    gint64 value = 77;
    GError *error = NULL;
    gboolean ok = cli_number_int64(text, "--n", G_MININT64, G_MAXINT64, &value, &error);
    check_error(error, ok, "--n '");
    g_clear_error(&error);
    g_autofree char *canonical = canonical_integer(text);
    if (ok) {
        /* exactly the text's number */
        g_autofree char *printed = g_strdup_printf("%" G_GINT64_FORMAT, value);
        g_assert(canonical != NULL && strcmp(printed, canonical) == 0);
    } else {
        g_assert(value == 77);
        /* refused only when it is not [-]digits or does not fit in 64 bits */
        gint64 parsed;
        g_assert(canonical == NULL ||
                 !g_ascii_string_to_signed(text, 10, G_MININT64, G_MAXINT64, &parsed, NULL));
    }
}

static void check_int(const char *text)
{
    int value = 77;
    GError *error = NULL;
    gboolean ok = cli_number_int(text, "--width", 16, 16384, &value, &error);
    check_error(error, ok, "--width '");
    g_clear_error(&error);
    g_assert(ok ? value >= 16 && value <= 16384 : value == 77);
}

static void check_double(const char *text)
{
    double value = 77;
    GError *error = NULL;
    gboolean ok = cli_number_double(text, "--shift", -20, 20, &value, &error);
    check_error(error, ok, "--shift '");
    g_clear_error(&error);
    if (ok) {
        g_assert(isfinite(value) && value >= -20 && value <= 20);
        g_assert(value == g_ascii_strtod(text, NULL) || value == 0);
        g_assert(!g_ascii_isspace(text[0]) && text[0] != '+');
        g_assert(strpbrk(text, "xXnNiI ") == NULL); /* no hexadecimal, nan or inf */
    } else {
        g_assert(value == 77);
    }
}

static void check_pair(const char *text)
{
    int rows = 77, cols = 77;
    GError *error = NULL;
    gboolean ok = cli_number_pair(text, "--grid", 1, 1024, &rows, &cols, &error);
    check_error(error, ok, "--grid '");
    g_clear_error(&error);
    if (ok)
        g_assert(rows >= 1 && rows <= 1024 && cols >= 1 && cols <= 1024);
    else
        g_assert(rows == 77 && cols == 77);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    g_autofree char *text = g_strndup((const char *)data + 1, size - 1);
    switch (data[0]) {
    case 'I':
        check_int64(text);
        break;
    case 'i':
        check_int(text);
        break;
    case 'd':
        check_double(text);
        break;
    case 'p':
        check_pair(text);
        break;
    default:
        switch (data[0] % 4) {
        case 0:
            check_int64(text);
            break;
        case 1:
            check_int(text);
            break;
        case 2:
            check_double(text);
            break;
        default:
            check_pair(text);
            break;
        }
    }
    return 0;
}
