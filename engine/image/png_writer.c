#include "png_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <png.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "resdit.h"

typedef struct {
    FILE *file;
    png_structp png;
    png_infop info;
} PngOut;

static gboolean encode(PngOut *out, int width, int height, const guint8 *rgb,
                       const RdPngText *texts, int n_texts)
{
    if (setjmp(png_jmpbuf(out->png)))
        return FALSE;
    png_init_io(out->png, out->file);
    png_set_IHDR(out->png, out->info, (png_uint_32)width, (png_uint_32)height, 8,
                 PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_text *chunks = g_new0(png_text, MAX(n_texts, 1));
    for (int i = 0; i < n_texts; i++) {
        chunks[i].compression =
            texts[i].utf8 ? PNG_ITXT_COMPRESSION_NONE : PNG_TEXT_COMPRESSION_NONE;
        chunks[i].key = (char *)texts[i].key;
        chunks[i].text = (char *)texts[i].text;
        chunks[i].text_length = strlen(texts[i].text);
    }
    png_set_text(out->png, out->info, chunks, n_texts);
    g_free(chunks);
    png_write_info(out->png, out->info);
    for (int y = 0; y < height; y++)
        png_write_row(out->png, (png_const_bytep)(rgb + (size_t)y * width * 3));
    png_write_end(out->png, out->info);
    return TRUE;
}

/* mkstemp creates 0600 files; a finished image gets the mode a plain open() would give it. */
static mode_t file_mode(void)
{
    static gsize once = 0;
    static mode_t mode;
    if (g_once_init_enter(&once)) {
        mode_t mask = umask(022);
        umask(mask);
        mode = 0666 & ~mask;
        g_once_init_leave(&once, 1);
    }
    return mode;
}

gboolean rd_png_write_rgb8(const char *path, int width, int height, const guint8 *rgb,
                           const RdPngText *texts, int n_texts, GError **error)
{
    g_autofree char *dir = g_path_get_dirname(path);
    g_autofree char *base = g_path_get_basename(path);
    g_autofree char *tmpl = g_strdup_printf("%s/.%s.XXXXXX", dir, base);
    int fd = g_mkstemp(tmpl);
    if (fd < 0) {
        int err = errno;
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_IO, "Cannot write %s: %s", path,
                    g_strerror(err));
        return FALSE;
    }
    if (fchmod(fd, file_mode()) != 0)
        g_debug("cannot set the mode of %s: %s", tmpl, g_strerror(errno));
    PngOut out = {fdopen(fd, "wb"), NULL, NULL};
    out.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    out.info = out.png ? png_create_info_struct(out.png) : NULL;
    gboolean ok = out.file && out.info && encode(&out, width, height, rgb, texts, n_texts);
    png_destroy_write_struct(&out.png, &out.info);
    if (ok)
        ok = fflush(out.file) == 0 && fsync(fileno(out.file)) == 0;
    int err = errno;
    if (out.file)
        ok = (fclose(out.file) == 0) && ok;
    else
        close(fd);
    if (ok && g_rename(tmpl, path) != 0) {
        err = errno;
        ok = FALSE;
    }
    if (!ok) {
        g_unlink(tmpl);
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_IO, "Cannot write %s: %s", path,
                    err ? g_strerror(err) : "PNG encoder failed");
    }
    return ok;
}

/* A text chunk larger than this is refused by libpng (its length field can claim gigabytes). */
#define MAX_TEXT_CHUNK_BYTES (16u << 20)

static void collect_texts(png_structp png, png_infop info, GHashTable *texts)
{
    png_textp text;
    int n = 0;
    png_get_text(png, info, &text, &n);
    for (int i = 0; i < n; i++)
        g_hash_table_replace(texts, g_strdup(text[i].key), g_strdup(text[i].text));
}

/* The header and every chunk before the image data; the caller's setjmp catches libpng's errors. */
static void read_header(png_structp png, png_infop info, FILE *file)
{
    png_init_io(png, file);
    /* Larger than any image the engine makes (4K and beyond); a forged header asking for
     * 10^6 x 10^6 pixels stops here instead of in the allocator. */
    png_set_user_limits(png, RD_PNG_MAX_SIDE, RD_PNG_MAX_SIDE);
    png_set_chunk_malloc_max(png, MAX_TEXT_CHUNK_BYTES);
    png_read_info(png, info);
}

static guint8 *decode(png_structp png, png_infop info, FILE *file, int *width, int *height,
                      GHashTable *texts)
{
    guint8 *volatile rgb = NULL;
    if (setjmp(png_jmpbuf(png))) {
        g_free(rgb);
        return NULL;
    }
    read_header(png, info, file);
    if ((guint64)png_get_image_width(png, info) * png_get_image_height(png, info) >
        RD_PNG_MAX_PIXELS)
        return NULL;
    png_set_expand(png);
    png_set_strip_16(png);
    png_set_strip_alpha(png);
    png_set_gray_to_rgb(png);
    png_read_update_info(png, info);
    *width = (int)png_get_image_width(png, info);
    *height = (int)png_get_image_height(png, info);
    rgb = g_try_malloc((size_t)*width * *height * 3);
    if (!rgb)
        return NULL;
    for (int y = 0; y < *height; y++)
        png_read_row(png, rgb + (size_t)y * *width * 3, NULL);
    png_read_end(png, info);
    collect_texts(png, info, texts);
    return rgb;
}

static FILE *open_png(const char *path, GError **error)
{
    FILE *file = g_fopen(path, "rb");
    if (!file) {
        int err = errno;
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_IO, "Cannot open %s: %s", path,
                    g_strerror(err));
    }
    return file;
}

guint8 *rd_png_read_rgb8(const char *path, int *width, int *height, GHashTable **texts,
                         GError **error)
{
    FILE *file = open_png(path, error);
    if (!file)
        return NULL;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    GHashTable *table = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    guint8 *rgb = info ? decode(png, info, file, width, height, table) : NULL;
    png_destroy_read_struct(&png, &info, NULL);
    fclose(file);
    if (!rgb) {
        g_hash_table_unref(table);
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_FORMAT, "%s is not a readable PNG", path);
        return NULL;
    }
    if (texts)
        *texts = table;
    else
        g_hash_table_unref(table);
    return rgb;
}
