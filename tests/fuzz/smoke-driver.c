/* A short, deterministic fuzz run without libFuzzer: seeds from valid and broken headers, then
 * random byte mutations of them (flip, insert, delete, splice), fed to the fuzz target.
 *
 * smoke-driver [ITERATIONS [SEED_DIR]]: with SEED_DIR the seeds are the files in it (a
 * libFuzzer corpus: each file a whole input), mutated over all their bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *seeds[] = {
    "{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 24]}}",
    "{\"__metadata__\": {\"format\": \"pt\"}, \"a\": {\"dtype\": \"BF16\", \"shape\": [4], "
    "\"data_offsets\": [0, 8]}, \"b\": {\"dtype\": \"F8_E4M3\", \"shape\": [], \"data_offsets\": "
    "[8, 9]}}",
    "{\"w\": {\"dtype\": \"F32\", \"shape\": [9223372036854775807, 9223372036854775807], "
    "\"data_offsets\": [0, 0]}}",
    "{\"a\": {\"dtype\": \"F16\", \"shape\": [1], \"data_offsets\": [2, 4]}, \"b\": {\"dtype\": "
    "\"F16\", \"shape\": [1], \"data_offsets\": [0, 2]}}",
    "[]", "{", "", "{\"a\": 1}",
};

/* Mutations of the corpus files in dir, with bytes that numbers and their neighbours are made
 * of. */
static int run_corpus(int iterations, const char *dir)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GDir) d = g_dir_open(dir, 0, &error);
    g_assert_no_error(error);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    for (const char *name; (name = g_dir_read_name(d)) != NULL;)
        g_ptr_array_add(names, g_build_filename(dir, name, NULL));
    g_ptr_array_sort(names, (GCompareFunc)g_strcmp0);
    g_assert_cmpuint(names->len, >, 0);
    g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    for (guint i = 0; i < names->len; i++) {
        char *contents;
        gsize len;
        g_assert_true(g_file_get_contents(names->pdata[i], &contents, &len, &error));
        g_ptr_array_add(files, g_bytes_new_take(contents, len));
    }
    static const char alphabet[] = "0123456789-+.eExX: \t\n\0,'9";
    GRand *rng = g_rand_new_with_seed(12345);
    guint8 buf[4096];
    for (int it = 0; it < iterations; it++) {
        gsize n;
        const guint8 *seed = g_bytes_get_data(files->pdata[(guint)it % files->len], &n);
        n = MIN(n, sizeof buf - 1);
        memcpy(buf, seed, n);
        int mutations = g_rand_int_range(rng, 0, 8);
        for (int m = 0; m < mutations && n > 0; m++) {
            size_t pos = (size_t)g_rand_int_range(rng, 0, (gint32)n);
            switch (g_rand_int_range(rng, 0, 5)) {
            case 0: buf[pos] ^= (guint8)(1u << g_rand_int_range(rng, 0, 8)); break;
            case 1:
                if (n < sizeof buf - 1) {
                    memmove(buf + pos + 1, buf + pos, n - pos);
                    buf[pos] = (guint8)alphabet[g_rand_int_range(rng, 0, sizeof alphabet - 1)];
                    n++;
                }
                break;
            case 2: memmove(buf + pos, buf + pos + 1, n - pos - 1); n--; break;
            case 3: n = pos; break;
            case 4: /* repeat a digit run: long numbers */
                while (n < sizeof buf - 1 && g_rand_int_range(rng, 0, 24) != 0) {
                    memmove(buf + pos + 1, buf + pos, n - pos);
                    buf[pos] = (guint8)('0' + g_rand_int_range(rng, 0, 10));
                    n++;
                }
                break;
            }
        }
        LLVMFuzzerTestOneInput(buf, n);
    }
    g_rand_free(rng);
    g_print("1..1\nok 1 - %d fuzz inputs from %u seeds in %s without a crash\n", iterations,
            files->len, dir);
    return 0;
}

int main(int argc, char **argv)
{
    int iterations = argc > 1 ? atoi(argv[1]) : 20000;
    if (argc > 2)
        return run_corpus(iterations, argv[2]);
    GRand *rng = g_rand_new_with_seed(12345);
    guint8 buf[4096];
    for (int it = 0; it < iterations; it++) {
        const char *seed = seeds[it % G_N_ELEMENTS(seeds)];
        size_t n = strlen(seed);
        guint32 data_size = g_rand_int_range(rng, 0, 64);
        memcpy(buf, &data_size, 4);
        memcpy(buf + 4, seed, n);
        n += 4;
        int mutations = g_rand_int_range(rng, 0, 8);
        for (int m = 0; m < mutations && n > 4; m++) {
            size_t pos = 4 + (size_t)g_rand_int_range(rng, 0, (gint32)(n - 4));
            switch (g_rand_int_range(rng, 0, 4)) {
            case 0: buf[pos] ^= (guint8)(1u << g_rand_int_range(rng, 0, 8)); break;
            case 1:
                if (n < sizeof buf - 1) {
                    memmove(buf + pos + 1, buf + pos, n - pos);
                    buf[pos] = "{}[]\":,0123456789-e"[g_rand_int_range(rng, 0, 19)];
                    n++;
                }
                break;
            case 2: memmove(buf + pos, buf + pos + 1, n - pos - 1); n--; break;
            case 3: n = pos; break;
            }
        }
        LLVMFuzzerTestOneInput(buf, n);
    }
    g_rand_free(rng);
    g_print("1..1\nok 1 - %d fuzz inputs without a crash\n", iterations);
    return 0;
}
