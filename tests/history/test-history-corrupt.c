/* A damaged history file is kept aside (renamed, never deleted), the user is told, and a new
 * history starts; a file that merely cannot be opened (permissions, a folder in its place) is
 * reported and left alone. */
#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "history-test-util.h"

typedef struct {
    char *dir;
    char *path;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data)
{
    f->dir = ht_make_tmpdir();
    f->path = g_build_filename(f->dir, "history.sqlite3", NULL);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    ht_remove_tree(f->dir);
    g_free(f->dir);
    g_free(f->path);
}

static void write_history(const char *path, int jobs)
{
    g_autoptr(HistoryStore) store = ht_open_store(path);
    for (int i = 0; i < jobs; i++)
        ht_write_done_job(store, 0, i);
}

static GBytes *read_file(const char *path)
{
    char *data = NULL;
    gsize len = 0;
    g_autoptr(GError) error = NULL;
    g_assert_true(g_file_get_contents(path, &data, &len, &error));
    return g_bytes_new_take(data, len);
}

/* Opens the damaged file and checks the whole recovery; returns where the old file went. */
static char *open_expecting_recovery(Fixture *f)
{
    g_autoptr(GBytes) damaged = read_file(f->path);
    g_autoptr(GError) error = NULL;
    g_autoptr(HistoryStore) store = history_store_open(f->path, &error);
    g_assert_no_error(error);
    const char *aside = history_store_get_moved_aside_path(store);
    const char *notice = history_store_get_recovery_notice(store);
    g_assert_nonnull(aside);
    g_assert_nonnull(notice);
    g_assert_nonnull(strstr(notice, aside)); /* the user is told where the old file is */
    g_assert_true(g_str_has_prefix(aside, f->path));
    g_assert_nonnull(strstr(aside, ".corrupt-"));
    g_autoptr(GBytes) kept = read_file(aside); /* kept byte for byte */
    g_assert_true(g_bytes_equal(kept, damaged));
    /* and the new history works */
    g_assert_cmpint(history_store_count(store, NULL, &error), ==, 0);
    gint64 id = ht_write_done_job(store, 4, 2);
    g_autoptr(HistoryGeneration) gen = history_store_get(store, id, &error);
    g_assert_no_error(error);
    ht_assert_done_job(gen, 4, 2);
    g_autofree char *check = ht_integrity_check(f->path);
    g_assert_cmpstr(check, ==, "ok");
    return g_strdup(aside);
}

static void test_garbage(Fixture *f, gconstpointer data)
{
    guint8 garbage[65536];
    GRand *rand = g_rand_new_with_seed(42);
    for (guint i = 0; i < sizeof(garbage); i++)
        garbage[i] = (guint8)g_rand_int(rand);
    g_rand_free(rand);
    g_assert_true(g_file_set_contents(f->path, (char *)garbage, sizeof(garbage), NULL));
    g_free(open_expecting_recovery(f));
}

static void test_text_file(Fixture *f, gconstpointer data)
{
    g_assert_true(g_file_set_contents(f->path, "not a database\n", -1, NULL));
    g_free(open_expecting_recovery(f));
}

static void truncate_to(const char *path, double fraction, gsize extra)
{
    g_autoptr(GBytes) all = read_file(path);
    gsize keep = (gsize)(g_bytes_get_size(all) * fraction) + extra;
    g_assert_true(g_file_set_contents(path, g_bytes_get_data(all, NULL), (gssize)keep, NULL));
}

static void test_truncated_half(Fixture *f, gconstpointer data)
{
    write_history(f->path, 200);
    truncate_to(f->path, 0.5, 0);
    g_free(open_expecting_recovery(f));
}

static void test_truncated_mid_page(Fixture *f, gconstpointer data)
{
    write_history(f->path, 200);
    truncate_to(f->path, 0.8, 1234);
    g_free(open_expecting_recovery(f));
}

static void test_truncated_header(Fixture *f, gconstpointer data)
{
    write_history(f->path, 3);
    truncate_to(f->path, 0.0, 50);
    g_free(open_expecting_recovery(f));
}

static void test_damaged_header(Fixture *f, gconstpointer data)
{
    write_history(f->path, 20);
    g_autoptr(GBytes) all = read_file(f->path);
    g_autofree guint8 *bytes = g_memdup2(g_bytes_get_data(all, NULL), g_bytes_get_size(all));
    memset(bytes, 0x5a, 100);
    g_assert_true(g_file_set_contents(f->path, (char *)bytes, g_bytes_get_size(all), NULL));
    g_free(open_expecting_recovery(f));
}

/* The -wal file goes aside with the database; two recoveries never overwrite each other. */
static void test_wal_and_repeat(Fixture *f, gconstpointer data)
{
    g_autofree char *wal = g_strconcat(f->path, "-wal", NULL);
    g_assert_true(g_file_set_contents(f->path, "garbage one", -1, NULL));
    g_assert_true(g_file_set_contents(wal, "wal of garbage one", -1, NULL));
    g_autofree char *first = open_expecting_recovery(f);
    g_autofree char *first_wal = g_strconcat(first, "-wal", NULL);
    g_autoptr(GBytes) moved_wal = read_file(first_wal);
    g_assert_cmpmem(g_bytes_get_data(moved_wal, NULL), g_bytes_get_size(moved_wal),
                    "wal of garbage one", 18);

    g_assert_true(g_file_set_contents(f->path, "garbage two", -1, NULL));
    g_autofree char *second = open_expecting_recovery(f);
    g_assert_cmpstr(first, !=, second);
    g_autoptr(GBytes) still = read_file(first);
    g_assert_cmpmem(g_bytes_get_data(still, NULL), g_bytes_get_size(still), "garbage one", 11);
}

/* Every file in f->dir, so a test can tell that nothing was renamed or added. */
static char *list_dir(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    g_autoptr(GPtrArray) names = g_ptr_array_new();
    for (const char *name; d && (name = g_dir_read_name(d)) != NULL;)
        g_ptr_array_add(names, (char *)name);
    g_ptr_array_sort(names, (GCompareFunc)g_strcmp0);
    g_ptr_array_add(names, NULL);
    return g_strjoinv(" ", (char **)names->pdata);
}

/* A history the user may not read (mode 000) is not damage: the open fails with the path and
 * what to do, and the file stays where it is, byte for byte. The open runs in a child that is
 * an unprivileged user when the test runs as root (root reads mode 000 files). */
static void test_unreadable(Fixture *f, gconstpointer data)
{
    if (g_test_subprocess()) {
        const char *path = g_getenv("HT_UNREADABLE_PATH");
        g_rmdir(f->dir); /* this child's own fixture folder: unused */
        ht_drop_privileges();
        g_autoptr(GError) error = NULL;
        g_autoptr(HistoryStore) store = history_store_open(path, &error);
        g_assert_null(store);
        g_assert_error(error, HISTORY_ERROR, HISTORY_ERROR_IO);
        g_test_message("%s", error->message);
        g_assert_nonnull(strstr(error->message, path));
        g_assert_nonnull(strstr(error->message, g_strerror(EACCES)));
        g_assert_nonnull(strstr(error->message, "left as it is"));
        g_assert_nonnull(strstr(error->message, "permission"));
        return;
    }
    write_history(f->path, 3);
    g_autoptr(GBytes) before = read_file(f->path);
    g_autofree char *files_before = list_dir(f->dir);
    g_assert_cmpint(g_chmod(f->path, 0), ==, 0);
    ht_give_away(f->dir);
    g_setenv("HT_UNREADABLE_PATH", f->path, TRUE);
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
    g_test_trap_assert_passed();
    g_unsetenv("HT_UNREADABLE_PATH");
    g_autofree char *files_after = list_dir(f->dir);
    g_assert_cmpstr(files_after, ==, files_before);
    g_assert_cmpint(g_chmod(f->path, 0600), ==, 0);
    g_autoptr(GBytes) after = read_file(f->path);
    g_assert_true(g_bytes_equal(after, before));
}

/* A folder where the file should be: reported with its path, left alone. */
static void test_folder_in_the_way(Fixture *f, gconstpointer data)
{
    g_assert_cmpint(g_mkdir(f->path, 0700), ==, 0);
    g_autofree char *inside = g_build_filename(f->path, "keep.txt", NULL);
    g_assert_true(g_file_set_contents(inside, "mine", -1, NULL));
    g_autofree char *files_before = list_dir(f->dir);
    g_autoptr(GError) error = NULL;
    g_autoptr(HistoryStore) store = history_store_open(f->path, &error);
    g_assert_null(store);
    g_assert_error(error, HISTORY_ERROR, HISTORY_ERROR_IO);
    g_test_message("%s", error->message);
    g_assert_nonnull(strstr(error->message, f->path));
    g_assert_nonnull(strstr(error->message, "folder"));
    g_autofree char *files_after = list_dir(f->dir);
    g_assert_cmpstr(files_after, ==, files_before);
    g_assert_true(g_file_test(inside, G_FILE_TEST_IS_REGULAR));
}

static void test_sound_file_untouched(Fixture *f, gconstpointer data)
{
    write_history(f->path, 5);
    g_autoptr(HistoryStore) store = ht_open_store(f->path);
    g_assert_null(history_store_get_moved_aside_path(store));
    g_assert_null(history_store_get_recovery_notice(store));
    g_autoptr(GError) error = NULL;
    g_assert_cmpint(history_store_count(store, NULL, &error), ==, 5);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(name, fn)                                                                              \
    g_test_add("/history/corrupt/" name, Fixture, NULL, fixture_setup, fn, fixture_teardown)
    ADD("garbage", test_garbage);
    ADD("text-file", test_text_file);
    ADD("truncated-half", test_truncated_half);
    ADD("truncated-mid-page", test_truncated_mid_page);
    ADD("truncated-header", test_truncated_header);
    ADD("damaged-header", test_damaged_header);
    ADD("wal-and-repeat", test_wal_and_repeat);
    ADD("unreadable", test_unreadable);
    ADD("folder-in-the-way", test_folder_in_the_way);
    ADD("sound-file-untouched", test_sound_file_untouched);
    return g_test_run();
}
