/* The pure helpers of the command line: one-line text for tables. */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cli/util/text-line", test_text_line);
    return g_test_run();
}
