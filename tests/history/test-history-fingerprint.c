/* Model fingerprints: stable across copies, sensitive to the header and the end of each file. */
#include <glib/gstdio.h>
#include <string.h>

#include "history-fingerprint.h"
#include "history-error.h"
#include "history-test-util.h"

static char *write_file(const char *dir, const char *name, gsize size, guint32 seed)
{
    g_autofree guint8 *data = g_malloc(size);
    GRand *rand = g_rand_new_with_seed(seed);
    for (gsize i = 0; i < size; i++)
        data[i] = (guint8)g_rand_int(rand);
    g_rand_free(rand);
    char *path = g_build_filename(dir, name, NULL);
    g_assert_true(g_file_set_contents(path, (char *)data, (gssize)size, NULL));
    return path;
}

static void flip_byte(const char *path, gsize offset)
{
    char *data = NULL;
    gsize len;
    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    data[offset] ^= 0x40;
    g_assert_true(g_file_set_contents(path, data, (gssize)len, NULL));
    g_free(data);
}

static char *fingerprint(const char *a, const char *b)
{
    const char *paths[] = {a, b, NULL};
    g_autoptr(GError) error = NULL;
    char *fp = history_model_fingerprint(paths, &error);
    g_assert_no_error(error);
    g_assert_true(g_str_has_prefix(fp, "v1:"));
    g_assert_cmpuint(strlen(fp), ==, 3 + 32);
    return fp;
}

static void test_fingerprint(void)
{
    g_autofree char *dir = ht_make_tmpdir();
    enum { BIG = 3 << 20, SMALL = 1000 };
    g_autofree char *big = write_file(dir, "transformer.safetensors", BIG, 1);
    g_autofree char *small = write_file(dir, "config.json", SMALL, 2);
    g_autofree char *copy = write_file(dir, "copy.safetensors", BIG, 1);
    g_autofree char *base = fingerprint(big, small);
    g_autofree char *again = fingerprint(copy, small);
    g_assert_cmpstr(base, ==, again);
    g_autofree char *swapped = fingerprint(small, big);
    g_assert_cmpstr(base, !=, swapped);

    flip_byte(copy, BIG / 2); /* outside the sampled head and tail: the price of being cheap */
    g_autofree char *middle = fingerprint(copy, small);
    g_assert_cmpstr(base, ==, middle);
    flip_byte(copy, 100); /* the safetensors header */
    g_autofree char *head = fingerprint(copy, small);
    g_assert_cmpstr(base, !=, head);
    flip_byte(copy, 100);
    flip_byte(copy, BIG - 1);
    g_autofree char *tail = fingerprint(copy, small);
    g_assert_cmpstr(base, !=, tail);
    flip_byte(copy, BIG - 1);
    flip_byte(small, SMALL - 1);
    g_autofree char *small_changed = fingerprint(copy, small);
    g_assert_cmpstr(base, !=, small_changed);

    g_autofree char *missing = g_build_filename(dir, "missing", NULL);
    const char *paths[] = {big, missing, NULL};
    g_autoptr(GError) error = NULL;
    g_assert_null(history_model_fingerprint(paths, &error));
    g_assert_error(error, HISTORY_ERROR, HISTORY_ERROR_IO);
    g_assert_nonnull(strstr(error->message, missing));
    ht_remove_tree(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/history/fingerprint", test_fingerprint);
    return g_test_run();
}
