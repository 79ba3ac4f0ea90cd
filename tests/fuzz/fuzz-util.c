#include "fuzz-util.h"

#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEPARATOR "\n--8<--\n"

static char *dir;

static void remove_dir(void)
{
    g_autofree char *rm = g_strdup_printf("rm -rf '%s'", dir);
    if (system(rm) != 0)
        g_printerr("could not remove %s\n", dir);
}

const char *fuzz_dir(void)
{
    if (!dir) {
        g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
        dir = g_dir_make_tmp("resdit-fuzz-XXXXXX", NULL);
        g_assert(dir != NULL);
        atexit(remove_dir);
    }
    return dir;
}

char *fuzz_write(const char *name, const void *data, size_t size)
{
    char *path = g_build_filename(fuzz_dir(), name, NULL);
    g_autofree char *parent = g_path_get_dirname(path);
    g_assert(g_mkdir_with_parents(parent, 0700) == 0);
    /* not g_file_set_contents: its fsync would make every input cost milliseconds */
    FILE *f = fopen(path, "wb");
    g_assert(f != NULL);
    g_assert(size == 0 || fwrite(data, 1, size, f) == size);
    g_assert(fclose(f) == 0);
    return path;
}

void fuzz_split(const uint8_t *data, size_t size, int n, const uint8_t **parts, size_t *sizes)
{
    const size_t sep_len = strlen(SEPARATOR);
    for (int i = 0; i < n; i++) {
        parts[i] = NULL;
        sizes[i] = 0;
    }
    for (int i = 0; i < n && data; i++) {
        const uint8_t *end = i + 1 < n ? memmem(data, size, SEPARATOR, sep_len) : NULL;
        parts[i] = data;
        sizes[i] = end ? (size_t)(end - data) : size;
        if (!end)
            break;
        size -= sizes[i] + sep_len;
        data = end + sep_len;
    }
}
