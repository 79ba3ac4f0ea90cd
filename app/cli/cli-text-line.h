/* Text for one line of a terminal table (GLib only, no state). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The first max_chars characters of text (NULL counts as ""), with invalid UTF-8 replaced by
 * U+FFFD, control characters (line breaks, tabs, escapes) as spaces and "..." appended when it
 * was cut. Reads text only up to its terminating NUL, whatever its length. */
char *cli_text_line(const char *text, glong max_chars);

G_END_DECLS
