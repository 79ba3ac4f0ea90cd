/* Reads a text chunk of a PNG file without decoding the image. */
#include "png_text.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define MAX_TEXT_CHUNK (16u << 20)

static const guint8 png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

static guint32 read_be32(const guint8 *p)
{
    return (guint32)p[0] << 24 | (guint32)p[1] << 16 | (guint32)p[2] << 8 | p[3];
}

/* tEXt: keyword NUL Latin-1 text. */
static char *text_of_tEXt(const guint8 *data, guint32 length, const char *keyword)
{
    gsize key_len = strlen(keyword);
    if (length <= key_len || memcmp(data, keyword, key_len) != 0 || data[key_len] != 0)
        return NULL;
    return g_convert((const char *)data + key_len + 1, length - key_len - 1, "UTF-8", "ISO-8859-1",
                     NULL, NULL, NULL);
}

/* iTXt: keyword NUL flag method language NUL translated keyword NUL UTF-8 text. */
static char *text_of_iTXt(const guint8 *data, guint32 length, const char *keyword)
{
    gsize key_len = strlen(keyword);
    if (length < key_len + 3 || memcmp(data, keyword, key_len) != 0 || data[key_len] != 0)
        return NULL;
    if (data[key_len + 1] != 0) /* compressed: not written by the front ends we read */
        return NULL;
    const guint8 *p = data + key_len + 3, *end = data + length;
    for (int field = 0; field < 2; field++) {
        const guint8 *nul = memchr(p, 0, (gsize)(end - p));
        if (nul == NULL)
            return NULL;
        p = nul + 1;
    }
    if (!g_utf8_validate((const char *)p, end - p, NULL))
        return NULL;
    return g_strndup((const char *)p, (gsize)(end - p));
}

static char *scan_chunks(FILE *file, const char *keyword)
{
    guint8 header[8];
    while (fread(header, 1, 8, file) == 8) {
        guint32 length = read_be32(header);
        const char *type = (const char *)header + 4;
        if (memcmp(type, "IDAT", 4) == 0 || memcmp(type, "IEND", 4) == 0)
            return NULL;
        gboolean text = memcmp(type, "tEXt", 4) == 0 || memcmp(type, "iTXt", 4) == 0;
        if (!text || length > MAX_TEXT_CHUNK) {
            if (fseek(file, (long)length + 4, SEEK_CUR) != 0)
                return NULL;
            continue;
        }
        guint8 *data = g_malloc((gsize)length + 4); /* the chunk data and its CRC */
        char *found = NULL;
        if (fread(data, 1, length + 4, file) == length + 4) /* data and CRC (not checked) */
            found = type[0] == 't' ? text_of_tEXt(data, length, keyword)
                                   : text_of_iTXt(data, length, keyword);
        g_free(data);
        if (found != NULL)
            return found;
    }
    return NULL;
}

char *rd_png_read_text(const char *path, const char *keyword, GError **error)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        int saved = errno;
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(saved), "%s: %s", path,
                    g_strerror(saved));
        return NULL;
    }
    guint8 signature[8];
    char *text = NULL;
    gboolean is_png = fread(signature, 1, 8, file) == 8 && memcmp(signature, png_signature, 8) == 0;
    if (is_png)
        text = scan_chunks(file, keyword);
    fclose(file);
    if (text == NULL)
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                    is_png ? "%s has no “%s” text" : "%s is not a PNG file", path, keyword);
    return text;
}
