/* Reads one text chunk (tEXt, or uncompressed iTXt) of a PNG file by its keyword. GLib only. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The text of the first chunk named keyword (UTF-8 for iTXt, Latin-1 converted to UTF-8 for
 * tEXt), or NULL with G_FILE_ERROR_NOENT when the file is not a PNG or has no such chunk. Stops at
 * the first IDAT: text chunks written before the image data are found without reading the pixels.
 */
char *rd_png_read_text(const char *path, const char *keyword, GError **error);

G_END_DECLS
