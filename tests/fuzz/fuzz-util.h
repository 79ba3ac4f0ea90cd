/* Helpers of the fuzz targets: loaders that take a path get the input through files in one
 * temporary folder per process, and GLib criticals and warnings abort (a critical from json-glib
 * on a wrong type is a bug the fuzzer should find, not a line on stderr). */
#pragma once

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Makes criticals and warnings fatal; the temporary folder (removed at exit). */
const char *fuzz_dir(void);
/* Writes dir/name (creating sub-folders); returns the path (g_free). */
char *fuzz_write(const char *name, const void *data, size_t size);
/* Splits data at each "\n--8<--\n" into at most n parts (missing parts are empty). */
void fuzz_split(const uint8_t *data, size_t size, int n, const uint8_t **parts, size_t *sizes);
