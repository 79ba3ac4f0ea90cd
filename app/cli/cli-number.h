/* Strict numbers for command-line options (GLib only, no state).
 *
 * The whole text must be the number: ASCII digits with an optional leading '-' (and for real
 * numbers a decimal point and an exponent), nothing before or after it, no spaces, no '+', no
 * hexadecimal, no "inf" or "nan". A value outside [min, max] is refused, never clamped or
 * wrapped. Errors are G_OPTION_ERROR_BAD_VALUE (bad usage: exit status 2) whose message names
 * the option, the text given and the allowed range. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Seeds the command line accepts: 0 to 2^53 - 1, exact in JSON and in the app's seed field
 * (resdit_random_seed draws from the same range). */
#define CLI_SEED_MAX ((gint64)((G_GUINT64_CONSTANT(1) << 53) - 1))

gboolean cli_number_int64(const char *text, const char *option, gint64 min, gint64 max, gint64 *out,
                          GError **error);
gboolean cli_number_int(const char *text, const char *option, int min, int max, int *out,
                        GError **error);
gboolean cli_number_double(const char *text, const char *option, double min, double max,
                           double *out, GError **error);

/* "RxC" (or "RXC"), each side a whole number from min to max, e.g. --grid 64x96. */
gboolean cli_number_pair(const char *text, const char *option, int min, int max, int *first,
                         int *second, GError **error);

G_END_DECLS
