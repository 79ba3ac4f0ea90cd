/* The pure helpers of the command line: strict numbers for options, one-line text for tables. */
#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli-number.h"
#include "cli-text-line.h"

/* text copied to the very end of a readable page followed by an inaccessible one: a read past
 * its NUL is a crash, not a silent garbage byte. */
typedef struct {
    guint8 *pages;
    size_t page;
    char *text;
} Guarded;

static Guarded guarded_new(const char *text, size_t len)
{
    Guarded g = {.page = (size_t)sysconf(_SC_PAGESIZE)};
    g.pages = mmap(NULL, 2 * g.page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    g_assert_true(g.pages != MAP_FAILED);
    g_assert_cmpint(mprotect(g.pages + g.page, g.page, PROT_NONE), ==, 0);
    g.text = (char *)g.pages + g.page - (len + 1);
    memcpy(g.text, text, len);
    g.text[len] = '\0';
    return g;
}

static void guarded_free(Guarded *g)
{
    munmap(g->pages, 2 * g->page);
}

static void check_line(const char *text, size_t len, glong max, const char *expected)
{
    Guarded g = guarded_new(text, len);
    g_autofree char *line = cli_text_line(g.text, max);
    g_assert_cmpstr(line, ==, expected);
    guarded_free(&g);
}

static void test_text_line(void)
{
    check_line("", 0, 60, "");
    check_line("a", 1, 60, "a");
    check_line("a red fox", 9, 60, "a red fox");
    check_line("ünïcödé 日本", strlen("ünïcödé 日本"), 60, "ünïcödé 日本");
    /* a sequence cut short by the end of the text, and a stray continuation byte */
    check_line("fox \xF0", 5, 60, "fox \xEF\xBF\xBD");
    check_line("\x80", 1, 60, "\xEF\xBF\xBD");
    /* line breaks, tabs and terminal escapes never reach the terminal */
    check_line("a\nb\tc\r\x1b[2Jd", 11, 60, "a b c  [2Jd");
    /* exactly max characters: whole, no dots; one more: cut on a character boundary */
    g_autoptr(GString) s = g_string_new(NULL);
    for (int i = 0; i < 60; i++)
        g_string_append(s, "é");
    g_autofree char *exact = g_strdup(s->str);
    check_line(s->str, s->len, 60, exact);
    g_string_append(s, "x");
    g_autofree char *cut = g_strconcat(exact, "...", NULL);
    check_line(s->str, s->len, 60, cut);
    check_line("abc", 3, 0, "...");
    g_autofree char *null_line = cli_text_line(NULL, 60);
    g_assert_cmpstr(null_line, ==, "");
}

typedef struct {
    const char *text;
    gint64 min, max;
    gboolean ok;
    gint64 value;
} IntCase;

static void test_int64(void)
{
    static const IntCase cases[] = {
        {"0", 0, 10, TRUE, 0},
        {"10", 0, 10, TRUE, 10},
        {"007", 0, 10, TRUE, 7},
        {"-3", -5, 5, TRUE, -3},
        {"-0", 0, 5, TRUE, 0},
        {"11", 0, 10, FALSE, 0},
        {"-1", 0, 10, FALSE, 0},
        {"2147483647", 16, 16384, FALSE, 0}, /* -W 2147483647 was a 16-pixel image */
        {"4294967312", 16, 16384, FALSE, 0}, /* 2^32 + 16: 16 once truncated to int */
        {"9223372036854775807", 0, G_MAXINT64, TRUE, G_MAXINT64},
        {"9223372036854775808", 0, G_MAXINT64, FALSE, 0},
        {"-9223372036854775808", G_MININT64, 0, TRUE, G_MININT64},
        {"-9223372036854775809", G_MININT64, 0, FALSE, 0},
        {"18446744073709551615", 0, G_MAXINT64, FALSE, 0},
        {"18446744073709551616", 0, G_MAXINT64, FALSE, 0},
        {"99999999999999999999999999999", 0, G_MAXINT64, FALSE, 0},
        {"9007199254740991", 0, CLI_SEED_MAX, TRUE, CLI_SEED_MAX},
        {"9007199254740992", 0, CLI_SEED_MAX, FALSE, 0},
        {" -1", 0, CLI_SEED_MAX, FALSE, 0}, /* --seed " -1": was 2^64 - 1 */
        {" 5", 0, 10, FALSE, 0},
        {"5 ", 0, 10, FALSE, 0},
        {"5\n", 0, 10, FALSE, 0},
        {"+5", 0, 10, FALSE, 0},
        {"--5", -10, 10, FALSE, 0},
        {"-", -10, 10, FALSE, 0},
        {"", 0, 10, FALSE, 0},
        {"0x10", 0, 100, FALSE, 0},
        {"1e3", 0, 10000, FALSE, 0},
        {"5.0", 0, 10, FALSE, 0},
        {"5x", 0, 10, FALSE, 0},
        {"Ù¥", 0, 10, FALSE, 0}, /* Arabic-Indic five */
    };
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        const IntCase *c = &cases[i];
        gint64 value = 12345;
        g_autoptr(GError) error = NULL;
        gboolean ok = cli_number_int64(c->text, "--n", c->min, c->max, &value, &error);
        g_test_message("'%s' -> %s", c->text, ok ? "ok" : error->message);
        g_assert_cmpint(ok, ==, c->ok);
        if (ok) {
            g_assert_no_error(error);
            g_assert_cmpint(value, ==, c->value);
        } else {
            g_assert_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE);
            g_assert_cmpint(value, ==, 12345); /* untouched */
            g_assert_true(g_str_has_prefix(error->message, "--n '"));
            g_autofree char *range =
                g_strdup_printf("from %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT, c->min, c->max);
            g_assert_nonnull(strstr(error->message, range));
        }
    }
    g_autoptr(GError) error = NULL;
    g_assert_false(cli_number_int64(NULL, "--n", 0, 1, &(gint64){0}, &error));
    g_assert_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE);
}

static void test_int_messages(void)
{
    int v = 0;
    g_autoptr(GError) error = NULL;
    g_assert_false(cli_number_int("2147483647", "--width", 16, 16384, &v, &error));
    g_assert_cmpstr(error->message, ==,
                    "--width '2147483647': out of range; give a whole number from 16 to 16384");
    g_clear_error(&error);
    g_assert_false(cli_number_int(" -1", "--seed", 0, 10, &v, &error));
    g_assert_cmpstr(error->message, ==,
                    "--seed ' -1': not a whole number; give a whole number "
                    "from 0 to 10");
    g_clear_error(&error);
    /* control bytes are escaped, a long text is cut */
    g_assert_false(cli_number_int("1\x1b[2J", "--steps", 1, 1000, &v, &error));
    g_assert_null(strchr(error->message, 0x1b));
    g_clear_error(&error);
    g_autofree char *long_text = g_strnfill(5000, '7');
    g_assert_false(cli_number_int(long_text, "--steps", 1, 1000, &v, &error));
    g_assert_cmpuint(strlen(error->message), <, 200);
    g_clear_error(&error);
    g_assert_true(cli_number_int("-2147483648", "--n", G_MININT, G_MAXINT, &v, &error));
    g_assert_cmpint(v, ==, G_MININT);
}

typedef struct {
    const char *text;
    double min, max;
    gboolean ok;
    double value;
} DoubleCase;

static void test_double(void)
{
    static const DoubleCase cases[] = {
        {"3.5", 0, 100, TRUE, 3.5},   {"0", 0, 100, TRUE, 0},
        {"100", 0, 100, TRUE, 100},   {".5", 0, 1, TRUE, 0.5},
        {"5.", 0, 10, TRUE, 5},       {"1e2", 0, 100, TRUE, 100},
        {"2.5E-1", 0, 1, TRUE, 0.25}, {"-0.7", -20, 20, TRUE, -0.7},
        {"-0", 0, 1, TRUE, 0},        {"100.0001", 0, 100, FALSE, 0},
        {"-1", 0, 100, FALSE, 0},     {"1e400", 0, 1e300, FALSE, 0},
        {"inf", 0, 100, FALSE, 0},    {"nan", 0, 100, FALSE, 0},
        {"NaN", 0, 100, FALSE, 0},    {"0x1p3", 0, 100, FALSE, 0},
        {" 1", 0, 100, FALSE, 0},     {"1 ", 0, 100, FALSE, 0},
        {"+1", 0, 100, FALSE, 0},     {"1,5", 0, 100, FALSE, 0},
        {"1e", 0, 100, FALSE, 0},     {"1e+", 0, 100, FALSE, 0},
        {".", 0, 100, FALSE, 0},      {"-", 0, 100, FALSE, 0},
        {"", 0, 100, FALSE, 0},       {"1.2.3", 0, 100, FALSE, 0},
    };
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        const DoubleCase *c = &cases[i];
        double value = 42;
        g_autoptr(GError) error = NULL;
        gboolean ok = cli_number_double(c->text, "--g", c->min, c->max, &value, &error);
        g_test_message("'%s' -> %s", c->text, ok ? "ok" : error->message);
        g_assert_cmpint(ok, ==, c->ok);
        if (ok) {
            g_assert_cmpfloat(value, ==, c->value);
            g_assert_false(signbit(value) && value == 0);
        } else {
            g_assert_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE);
            g_assert_cmpfloat(value, ==, 42);
            g_assert_true(g_str_has_prefix(error->message, "--g '"));
        }
    }
}

static void test_pair(void)
{
    int r = 0, c = 0;
    g_autoptr(GError) error = NULL;
    g_assert_true(cli_number_pair("64x96", "--grid", 1, 1024, &r, &c, &error));
    g_assert_cmpint(r, ==, 64);
    g_assert_cmpint(c, ==, 96);
    g_assert_true(cli_number_pair("2X3", "--grid", 1, 1024, &r, &c, &error));
    g_assert_cmpint(r * 10 + c, ==, 23);
    static const char *const bad[] = {"64",    "64x",           "x64",   "64x64x", "64 x64",
                                      "64x-1", "0x5",           "5x0",   " 5x5",   "5x5 ",
                                      "",      "100000x100000", "64x+6", "axb"};
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_clear_error(&error);
        r = c = 7;
        g_assert_false(cli_number_pair(bad[i], "--grid", 1, 1024, &r, &c, &error));
        g_test_message("%s", error->message);
        g_assert_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE);
        g_assert_true(g_str_has_prefix(error->message, "--grid '"));
        g_assert_nonnull(strstr(error->message, "from 1 to 1024"));
        g_assert_cmpint(r * 10 + c, ==, 77);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cli/util/text-line", test_text_line);
    g_test_add_func("/cli/util/number-int64", test_int64);
    g_test_add_func("/cli/util/number-int-messages", test_int_messages);
    g_test_add_func("/cli/util/number-double", test_double);
    g_test_add_func("/cli/util/number-pair", test_pair);
    return g_test_run();
}
