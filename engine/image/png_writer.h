/* PNG output: RGB8 with text chunks, written atomically (temporary file in the same folder, then
 * rename), so a cancelled or failed write never leaves a partial image behind. */
#pragma once

#include <glib.h>

typedef struct {
    const char *key;  /* Latin-1 keyword, 1-79 characters */
    const char *text; /* UTF-8 */
    gboolean utf8;    /* TRUE: iTXt (UTF-8); FALSE: tEXt (the text must be Latin-1/ASCII) */
} RdPngText;

gboolean rd_png_write_rgb8(const char *path, int width, int height, const guint8 *rgb,
                           const RdPngText *texts, int n_texts, GError **error);
/* The largest width or height rd_png_read_rgb8 accepts (4x the engine's 4K images). */
#define RD_PNG_MAX_SIDE 16384
/* The most pixels rd_png_read_rgb8 decodes (8192 x 8192: 192 MiB of RGB8). */
#define RD_PNG_MAX_PIXELS (8192u * 8192u)

/* Reads back an RGB8 PNG and its text chunks (for tests and "import parameters"). texts gets
 * key -> value (g_free'd strings). */
guint8 *rd_png_read_rgb8(const char *path, int *width, int *height, GHashTable **texts,
                         GError **error);
