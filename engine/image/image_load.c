/* Reading a PNG's pixels (init images, `resdit vae encode`, `resdit upscale`) and fitting them
 * to a job's size: scaled to cover it with the aspect kept, centre-cropped to it. */
#include "image_load.h"

#include <math.h>
#include <png.h>
#include <string.h>

#include "resdit.h"

guint8 *resdit_png_load_rgb(const char *path, int *width, int *height, GError **error)
{
    if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_IO, "%s: no such image file", path);
        return NULL;
    }
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path)) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_FORMAT,
                    "%s is not a PNG image that can be read (%s); convert it to PNG first", path,
                    img.message);
        png_image_free(&img);
        return NULL;
    }
    if (img.width < 1 || img.height < 1 || img.width > RESDIT_IMAGE_MAX_SIDE ||
        img.height > RESDIT_IMAGE_MAX_SIDE ||
        (guint64)img.width * img.height > RESDIT_IMAGE_MAX_PIXELS) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_FORMAT,
                    "%s is %ux%u pixels: images up to %d pixels a side and %d megapixels can be "
                    "read",
                    path, img.width, img.height, RESDIT_IMAGE_MAX_SIDE,
                    RESDIT_IMAGE_MAX_PIXELS >> 20);
        png_image_free(&img);
        return NULL;
    }
    img.format = PNG_FORMAT_RGB; /* 16-bit, grey, palette: converted; alpha over white */
    guint8 *rgb = g_try_malloc(PNG_IMAGE_SIZE(img));
    if (!rgb) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_OUT_OF_MEMORY,
                    "Not enough memory to read %s (%ux%u)", path, img.width, img.height);
        png_image_free(&img);
        return NULL;
    }
    const png_color white = {255, 255, 255};
    if (!png_image_finish_read(&img, &white, rgb, 0, NULL)) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_FORMAT, "%s is damaged: %s", path,
                    img.message);
        png_image_free(&img);
        g_free(rgb);
        return NULL;
    }
    *width = (int)img.width;
    *height = (int)img.height;
    png_image_free(&img);
    return rgb;
}

/* Weights of a linear (triangle) filter from n_in source samples to n_out outputs at scale
 * `scale`, reading the source from offset `off` (source pixels); widened by 1 / scale when
 * shrinking so every source pixel counts (no aliasing). */
typedef struct {
    int first, count;
} Taps;

static float *filter_weights(int n_in, int n_out, double scale, double off, int *support,
                             Taps *taps)
{
    const double radius = MAX(1.0, 1.0 / scale);
    *support = (int)ceil(radius) * 2 + 1;
    float *w = g_new0(float, (size_t)n_out * *support);
    for (int o = 0; o < n_out; o++) {
        double centre = off + (o + 0.5) / scale - 0.5;
        int first = (int)floor(centre - radius) + 1, last = (int)ceil(centre + radius) - 1;
        first = MAX(first, 0);
        last = MIN(last, n_in - 1);
        double sum = 0;
        int count = 0;
        for (int i = first; i <= last && count < *support; i++, count++) {
            double d = fabs(i - centre) / radius, v = d < 1 ? 1 - d : 0;
            w[(size_t)o * *support + count] = (float)v;
            sum += v;
        }
        if (sum <= 0) { /* outside the source: the nearest pixel */
            first = CLAMP((int)lround(centre), 0, n_in - 1);
            count = 1;
            w[(size_t)o * *support] = 1;
            sum = 1;
        }
        for (int k = 0; k < count; k++)
            w[(size_t)o * *support + k] = (float)(w[(size_t)o * *support + k] / sum);
        taps[o] = (Taps){first, count};
    }
    return w;
}

float *rd_image_fit(const guint8 *rgb, int w0, int h0, int width, int height)
{
    const double scale = MAX((double)width / w0, (double)height / h0);
    const double offx = (w0 - width / scale) / 2, offy = (h0 - height / scale) / 2;
    int sx, sy;
    Taps *tx = g_new(Taps, width), *ty = g_new(Taps, height);
    float *wx = filter_weights(w0, width, scale, offx, &sx, tx);
    float *wy = filter_weights(h0, height, scale, offy, &sy, ty);
    float *rows = g_try_new(float, (size_t)h0 * width * 3);
    float *out = rows ? g_try_new(float, (size_t)height * width * 3) : NULL;
    if (out) {
#pragma omp parallel for schedule(static)
        for (int y = 0; y < h0; y++)
            for (int x = 0; x < width; x++)
                for (int c = 0; c < 3; c++) {
                    float s = 0;
                    for (int k = 0; k < tx[x].count; k++)
                        s += wx[(size_t)x * sx + k] *
                             (float)rgb[((size_t)y * w0 + tx[x].first + k) * 3 + c];
                    rows[((size_t)y * width + x) * 3 + c] = s;
                }
#pragma omp parallel for schedule(static)
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                for (int c = 0; c < 3; c++) {
                    float s = 0;
                    for (int k = 0; k < ty[y].count; k++)
                        s += wy[(size_t)y * sy + k] *
                             rows[((size_t)(ty[y].first + k) * width + x) * 3 + c];
                    out[((size_t)y * width + x) * 3 + c] = CLAMP(s, 0.0f, 255.0f) / 127.5f - 1.0f;
                }
    }
    g_free(rows);
    g_free(wx);
    g_free(wy);
    g_free(tx);
    g_free(ty);
    return out;
}
