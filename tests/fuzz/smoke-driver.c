/* A short, deterministic fuzz run without libFuzzer: the seeds of a corpus folder, then random
 * byte mutations of them (flip, insert, delete, truncate, splice with another seed), fed to the
 * fuzz target. Usage: fuzz-smoke-NAME CORPUS_DIR [ITERATIONS]. Prints TAP. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int compare_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every file of dir, in name order (GBytes). */
static GPtrArray *read_corpus(const char *dir)
{
    GPtrArray *seeds = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    g_autoptr(GError) error = NULL;
    g_autoptr(GDir) d = g_dir_open(dir, 0, &error);
    if (!d) {
        g_printerr("cannot read the corpus: %s\n", error->message);
        exit(1);
    }
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const char *name;
    while ((name = g_dir_read_name(d)))
        g_ptr_array_add(names, g_build_filename(dir, name, NULL));
    g_ptr_array_sort(names, compare_names);
    for (guint i = 0; i < names->len; i++) {
        char *contents;
        gsize len;
        if (!g_file_get_contents(names->pdata[i], &contents, &len, &error)) {
            g_printerr("cannot read a seed: %s\n", error->message);
            exit(1);
        }
        g_ptr_array_add(seeds, g_bytes_new_take(contents, len));
    }
    if (seeds->len == 0) {
        g_printerr("%s holds no seeds\n", dir);
        exit(1);
    }
    return seeds;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        g_printerr("usage: %s CORPUS_DIR [ITERATIONS]\n", argv[0]);
        return 2;
    }
    g_autoptr(GPtrArray) seeds = read_corpus(argv[1]);
    const int iterations = argc > 2 ? atoi(argv[2]) : 20000;
    GRand *rng = g_rand_new_with_seed(12345);
    static const char tokens[] = "{}[]\":,0123456789-e.\\ \n\x00\xff";
    GByteArray *buf = g_byte_array_new();
    for (int it = 0; it < iterations; it++) {
        GBytes *seed = seeds->pdata[(guint)it % seeds->len];
        gsize n;
        const guint8 *p = g_bytes_get_data(seed, &n);
        g_byte_array_set_size(buf, 0);
        g_byte_array_append(buf, p, (guint)n);
        /* the seeds themselves first, then mutants */
        int mutations = it < (int)seeds->len ? 0 : g_rand_int_range(rng, 1, 9);
        for (int m = 0; m < mutations && buf->len > 0; m++) {
            guint pos = (guint)g_rand_int_range(rng, 0, (gint32)buf->len);
            switch (g_rand_int_range(rng, 0, 5)) {
            case 0: buf->data[pos] ^= (guint8)(1u << g_rand_int_range(rng, 0, 8)); break;
            case 1: {
                guint8 c = (guint8)tokens[g_rand_int_range(rng, 0, sizeof tokens - 1)];
                g_array_insert_vals((GArray *)buf, pos, &c, 1);
                break;
            }
            case 2: g_byte_array_remove_index(buf, pos); break;
            case 3:
                if (g_rand_int_range(rng, 0, 4) == 0) /* truncations are rarer: keep the tail */
                    g_byte_array_set_size(buf, pos);
                break;
            case 4: { /* splice: a piece of another seed at pos */
                GBytes *other = seeds->pdata[(guint)g_rand_int_range(rng, 0, (gint32)seeds->len)];
                gsize on;
                const guint8 *op = g_bytes_get_data(other, &on);
                if (on > 0) {
                    guint from = (guint)g_rand_int_range(rng, 0, (gint32)on);
                    guint want = (guint)g_rand_int_range(rng, 1, 64); /* not inside MIN() */
                    guint len = (guint)MIN(on - from, want);
                    g_array_insert_vals((GArray *)buf, pos, op + from, len);
                }
                break;
            }
            }
        }
        LLVMFuzzerTestOneInput(buf->data, buf->len);
    }
    g_byte_array_free(buf, TRUE);
    g_rand_free(rng);
    g_print("1..1\nok 1 - %d fuzz inputs without a crash\n", iterations);
    return 0;
}
