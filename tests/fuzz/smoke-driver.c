/* A short, deterministic fuzz run without libFuzzer: seeds from valid and broken headers, then
 * random byte mutations of them (flip, insert, delete, splice), fed to the fuzz target. */
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

int main(int argc, char **argv)
{
    int iterations = argc > 1 ? atoi(argv[1]) : 20000;
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
