#include "cli-text-line.h"

#include <string.h>

char *cli_text_line(const char *text, glong max_chars)
{
    g_autofree char *valid = g_utf8_make_valid(text ? text : "", -1);
    max_chars = MAX(max_chars, 0);
    /* Walk at most max_chars characters, stopping at the NUL: a shorter text is used whole. */
    const char *end = valid;
    glong n = 0;
    while (*end != '\0' && n < max_chars) {
        end = g_utf8_next_char(end);
        n++;
    }
    gboolean cut = *end != '\0';
    GString *line = g_string_new_len(valid, end - valid);
    for (gsize i = 0; i < line->len; i++)
        if ((guchar)line->str[i] < 0x20 || line->str[i] == 0x7f)
            line->str[i] = ' ';
    if (cut)
        g_string_append(line, "...");
    return g_string_free(line, FALSE);
}
