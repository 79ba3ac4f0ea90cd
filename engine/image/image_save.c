/* resdit_image_save_png: the image with its parameters, AUTOMATIC1111-style ("parameters" tEXt,
 * Latin-1 safe) and as JSON ("resdit" iTXt, UTF-8). */
#include "png_text.h"
#include "png_writer.h"
#include "resdit.h"

/* tEXt is Latin-1: A1111 readers expect the prompt there, so non-Latin-1 text goes to iTXt. */
static gboolean is_latin1_safe(const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if (*p >= 0x80)
            return FALSE;
    return TRUE;
}

gboolean resdit_image_save_png(const ResditImage *image, const char *path, GError **error)
{
    RdPngText texts[2];
    int n = 0;
    if (image->parameters)
        texts[n++] =
            (RdPngText){"parameters", image->parameters, !is_latin1_safe(image->parameters)};
    if (image->parameters_json)
        texts[n++] = (RdPngText){"resdit", image->parameters_json, TRUE};
    return rd_png_write_rgb8(path, image->width, image->height, image->rgb, texts, n, error);
}

gboolean resdit_save_rgb_png(const char *path, int width, int height, const guint8 *rgb,
                             GError **error)
{
    return rd_png_write_rgb8(path, width, height, rgb, NULL, 0, error);
}

char *resdit_png_read_parameters(const char *path, GError **error)
{
    g_autoptr(GError) read_error = NULL;
    char *json = rd_png_read_text(path, "resdit", &read_error);
    if (g_error_matches(read_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_FORMAT,
                    "%s has no resdit parameter record (was it made by resdit?)", path);
    else if (read_error)
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_IO, "%s", read_error->message);
    return json;
}
