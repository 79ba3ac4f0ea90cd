/* Where the bundled tokenizer data lives, and reading (possibly gzip-compressed) data files. */
#pragma once

#include <glib.h>

/* The bundled tokenizers folder: $RESDIT_DATA_DIR/tokenizers when set, else the source tree's
 * data/tokenizers when it exists (running from the build tree), else PKGDATADIR/tokenizers. */
char *rd_tokenizer_data_dir(void);

/* Reads a whole file; a name ending in ".gz" is decompressed. The text is NUL-terminated. */
gboolean rd_tokenizer_read_file(const char *path, char **contents, gsize *length, GError **error);

/* The first of the names that exists in folder (a file), or NULL. */
char *rd_tokenizer_find_file(const char *folder, const char *const *names);
