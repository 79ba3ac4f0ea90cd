#include "text_unicode.h"

#include <string.h>

gboolean rd_py_isspace(gunichar c)
{
    switch (c) {
    case '\t':
    case '\n':
    case 0x0B:
    case 0x0C:
    case '\r':
    case 0x1C:
    case 0x1D:
    case 0x1E:
    case 0x1F:
    case ' ':
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
        return TRUE;
    default:
        return c >= 0x2000 && c <= 0x200A;
    }
}

gboolean rd_uni_is_white_space(gunichar c)
{
    return (c >= 0x09 && c <= 0x0D) || (rd_py_isspace(c) && !(c >= 0x1C && c <= 0x1F));
}

gboolean rd_uni_is_letter(gunichar c)
{
    switch (g_unichar_type(c)) {
    case G_UNICODE_LOWERCASE_LETTER:
    case G_UNICODE_UPPERCASE_LETTER:
    case G_UNICODE_TITLECASE_LETTER:
    case G_UNICODE_MODIFIER_LETTER:
    case G_UNICODE_OTHER_LETTER:
        return TRUE;
    default:
        return FALSE;
    }
}

gboolean rd_uni_is_number(gunichar c)
{
    GUnicodeType t = g_unichar_type(c);
    return t == G_UNICODE_DECIMAL_NUMBER || t == G_UNICODE_LETTER_NUMBER ||
           t == G_UNICODE_OTHER_NUMBER;
}

static gboolean is_cased(gunichar c)
{
    return g_unichar_isupper(c) || g_unichar_islower(c) || g_unichar_istitle(c);
}

/* Case_Ignorable: marks, format characters, modifier letters and symbols, and the word-internal
 * punctuation of Word_Break MidLetter / MidNumLet / Single_Quote. */
static gboolean is_case_ignorable(gunichar c)
{
    switch (g_unichar_type(c)) {
    case G_UNICODE_NON_SPACING_MARK:
    case G_UNICODE_ENCLOSING_MARK:
    case G_UNICODE_FORMAT:
    case G_UNICODE_MODIFIER_LETTER:
    case G_UNICODE_MODIFIER_SYMBOL:
        return TRUE;
    default:
        break;
    }
    switch (c) {
    case '\'':
    case '.':
    case ':':
    case 0xB7:
    case 0x387:
    case 0x5F4:
    case 0x2018:
    case 0x2019:
    case 0x2024:
    case 0x2027:
    case 0xFE13:
    case 0xFE52:
    case 0xFE55:
    case 0xFF07:
    case 0xFF0E:
    case 0xFF1A:
        return TRUE;
    default:
        return FALSE;
    }
}

/* Python lowers a capital sigma to the final form when a cased letter precedes it and none
 * follows (skipping case-ignorable characters both ways). */
static gboolean is_final_sigma(const char *start, const char *at, const char *end)
{
    gboolean before = FALSE, after = FALSE;
    for (const char *p = at; p > start;) {
        p = g_utf8_prev_char(p);
        gunichar c = g_utf8_get_char(p);
        if (is_case_ignorable(c))
            continue;
        before = is_cased(c);
        break;
    }
    for (const char *p = g_utf8_next_char(at); p < end; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        if (is_case_ignorable(c))
            continue;
        after = is_cased(c);
        break;
    }
    return before && !after;
}

void rd_py_lower_append(GString *out, const char *s, gssize len)
{
    const char *end = s + (len < 0 ? (gssize)strlen(s) : len);
    for (const char *p = s; p < end; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        if (c == 0x130) { /* the one unconditional multi-character lowercase mapping */
            g_string_append(out, "i\xCC\x87");
            continue;
        }
        if (c == 0x3A3)
            c = is_final_sigma(s, p, end) ? 0x3C2 : 0x3C3;
        else if (c >= 0x2160 && c <= 0x216F) /* Roman numerals (Nl) have lowercase forms */
            c += 0x10;
        else if (c >= 0x24B6 && c <= 0x24CF) /* circled capitals (So) too */
            c += 26;
        else
            c = g_unichar_tolower(c);
        g_string_append_unichar(out, c);
    }
}

/* --- grapheme clusters (UAX #29, the rules that matter for normalisation) --- */

static gboolean is_control_gcb(gunichar c)
{
    if (c == 0x200C || c == 0x200D)
        return FALSE;
    GUnicodeType t = g_unichar_type(c);
    return t == G_UNICODE_CONTROL || t == G_UNICODE_LINE_SEPARATOR ||
           t == G_UNICODE_PARAGRAPH_SEPARATOR || t == G_UNICODE_FORMAT;
}

/* Other_Grapheme_Extend: extending characters outside the mark categories. */
static gboolean is_other_grapheme_extend(gunichar c)
{
    switch (c) {
    case 0x09BE:
    case 0x09D7:
    case 0x0B3E:
    case 0x0B57:
    case 0x0BBE:
    case 0x0BD7:
    case 0x0CC2:
    case 0x0CD5:
    case 0x0CD6:
    case 0x0D3E:
    case 0x0D57:
    case 0x0DCF:
    case 0x0DDF:
    case 0x1B35:
    case 0x302E:
    case 0x302F:
    case 0xFF9E:
    case 0xFF9F:
    case 0x1133E:
    case 0x11357:
    case 0x114B0:
    case 0x114BD:
    case 0x115AF:
    case 0x11930:
    case 0x1D165:
        return TRUE;
    default:
        return c >= 0x1D16E && c <= 0x1D172;
    }
}

static gboolean is_extend(gunichar c)
{
    GUnicodeType t = g_unichar_type(c);
    return t == G_UNICODE_NON_SPACING_MARK || t == G_UNICODE_ENCLOSING_MARK ||
           t == G_UNICODE_SPACING_MARK || c == 0x200C || c == 0x200D ||
           is_other_grapheme_extend(c) || (c >= 0x1F3FB && c <= 0x1F3FF) ||
           (c >= 0xE0020 && c <= 0xE007F);
}

static gboolean is_pictographic(gunichar c)
{
    return (c >= 0x1F000 && c <= 0x1FAFF) || (c >= 0x2600 && c <= 0x27BF) ||
           (c >= 0x2300 && c <= 0x23FF) || c == 0xA9 || c == 0xAE || c == 0x203C || c == 0x2049 ||
           c == 0x2122 || c == 0x2139 || (c >= 0x2194 && c <= 0x21AA) ||
           (c >= 0x2B05 && c <= 0x2B55) || c == 0x3030 || c == 0x303D || c == 0x3297 || c == 0x3299;
}

static gboolean is_regional(gunichar c)
{
    return c >= 0x1F1E6 && c <= 0x1F1FF;
}

typedef enum { HANGUL_NONE, HANGUL_L, HANGUL_V, HANGUL_T, HANGUL_LV, HANGUL_LVT } Hangul;

static Hangul hangul_kind(gunichar c)
{
    if ((c >= 0x1100 && c <= 0x115F) || (c >= 0xA960 && c <= 0xA97C))
        return HANGUL_L;
    if ((c >= 0x1160 && c <= 0x11A7) || (c >= 0xD7B0 && c <= 0xD7C6))
        return HANGUL_V;
    if ((c >= 0x11A8 && c <= 0x11FF) || (c >= 0xD7CB && c <= 0xD7FB))
        return HANGUL_T;
    if (c >= 0xAC00 && c <= 0xD7A3)
        return (c - 0xAC00) % 28 == 0 ? HANGUL_LV : HANGUL_LVT;
    return HANGUL_NONE;
}

static gboolean hangul_joins(gunichar a, gunichar b)
{
    Hangul x = hangul_kind(a), y = hangul_kind(b);
    if (x == HANGUL_L)
        return y == HANGUL_L || y == HANGUL_V || y == HANGUL_LV || y == HANGUL_LVT;
    if (x == HANGUL_LV || x == HANGUL_V)
        return y == HANGUL_V || y == HANGUL_T;
    if (x == HANGUL_LVT || x == HANGUL_T)
        return y == HANGUL_T;
    return FALSE;
}

gsize rd_grapheme_length(const char *s, const char *end)
{
    const char *p = s;
    gunichar prev = g_utf8_get_char(p);
    gunichar base = prev; /* last non-extend character, for emoji ZWJ sequences */
    int regional = is_regional(prev) ? 1 : 0;
    p = g_utf8_next_char(p);
    while (p < end) {
        gunichar c = g_utf8_get_char(p);
        gboolean join;
        if (prev == '\r')
            join = c == '\n';
        else if (is_control_gcb(prev) || is_control_gcb(c))
            join = FALSE;
        else if (is_extend(c))
            join = TRUE;
        else if (prev == 0x200D && is_pictographic(c) && is_pictographic(base))
            join = TRUE;
        else if (is_regional(prev) && is_regional(c))
            join = regional % 2 == 1;
        else
            join = hangul_joins(prev, c);
        if (!join)
            break;
        if (is_regional(c))
            regional++;
        if (!is_extend(c))
            base = c;
        prev = c;
        p = g_utf8_next_char(p);
    }
    return (gsize)(p - s);
}
