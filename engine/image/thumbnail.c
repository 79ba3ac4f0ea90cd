/* History thumbnails: a box-filtered copy of the image, encoded as PNG in memory. */
#include <png.h>

#include "resdit.h"

static void append_bytes(png_structp png, png_bytep data, png_size_t length)
{
    g_byte_array_append(png_get_io_ptr(png), data, (guint)length);
}

static void no_flush(png_structp png)
{
}

static gboolean encode(png_structp png, png_infop info, GByteArray *out, int w, int h,
                       const guint8 *rgb)
{
    if (setjmp(png_jmpbuf(png)))
        return FALSE;
    png_set_write_fn(png, out, append_bytes, no_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++)
        png_write_row(png, (png_const_bytep)(rgb + (size_t)y * w * 3));
    png_write_end(png, info);
    return TRUE;
}

static guint8 *box_filter(const ResditImage *image, int factor, int w, int h)
{
    guint8 *small = g_malloc((gsize)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                guint sum = 0;
                for (int dy = 0; dy < factor; dy++)
                    for (int dx = 0; dx < factor; dx++)
                        sum += image->rgb[(((gsize)y * factor + dy) * image->width +
                                           (gsize)x * factor + dx) * 3 + c];
                small[((gsize)y * w + x) * 3 + c] = (guint8)(sum / (guint)(factor * factor));
            }
    return small;
}

GBytes *resdit_image_thumbnail_png(const ResditImage *image, int max_side, GError **error)
{
    int factor = MAX(1, (MAX(image->width, image->height) + max_side - 1) / max_side);
    int w = MAX(image->width / factor, 1), h = MAX(image->height / factor, 1);
    g_autofree guint8 *small = box_filter(image, factor, w, h);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    GByteArray *out = g_byte_array_new();
    gboolean ok = info && encode(png, info, out, w, h, small);
    png_destroy_write_struct(&png, info ? &info : NULL);
    if (!ok) {
        g_byte_array_unref(out);
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_IO, "Could not encode the thumbnail");
        return NULL;
    }
    return g_byte_array_free_to_bytes(out);
}
