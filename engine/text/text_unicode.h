/* Unicode helpers shared by the tokenizers: character classes as Python and the Hugging Face
 * tokenizers library see them, Python's str.lower(), and extended grapheme clusters. */
#pragma once

#include <glib.h>

/* Python's str.isspace(). */
gboolean rd_py_isspace(gunichar c);
/* Unicode general category L* / N*. */
gboolean rd_uni_is_letter(gunichar c);
gboolean rd_uni_is_number(gunichar c);
/* Rust's char::is_whitespace (the White_Space property). */
gboolean rd_uni_is_white_space(gunichar c);

/* Appends Python's str.lower() of the valid UTF-8 string s (len bytes) to out. */
void rd_py_lower_append(GString *out, const char *s, gssize len);

/* Byte length of the extended grapheme cluster that starts at s (valid UTF-8, end = s + len). */
gsize rd_grapheme_length(const char *s, const char *end);
