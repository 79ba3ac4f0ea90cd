/* RsImagePyramid: level 0 is the image, level k+1 halves level k with a 2x2 box filter; every
 * level is cut into RS_PYRAMID_TILE square tiles. Pixels are premultiplied BGRA (GDK's default
 * memory format), so averaging them is correct. */
#include "rs-image-pyramid.h"

#include <math.h>

typedef struct {
    int width, height;
    int columns, rows;
    GdkTexture **tiles; /* rows x columns */
} Level;

struct _RsImagePyramid {
    int n_levels;
    Level *levels;
};

enum { BPP = 4, SMALLEST_SIDE = 256 };

static void cut_tiles(Level *level, const guint8 *pixels)
{
    level->columns = (level->width + RS_PYRAMID_TILE - 1) / RS_PYRAMID_TILE;
    level->rows = (level->height + RS_PYRAMID_TILE - 1) / RS_PYRAMID_TILE;
    level->tiles = g_new0(GdkTexture *, (gsize)level->columns * level->rows);
    gsize stride = (gsize)level->width * BPP;
    for (int r = 0; r < level->rows; r++) {
        for (int c = 0; c < level->columns; c++) {
            int x = c * RS_PYRAMID_TILE, y = r * RS_PYRAMID_TILE;
            int w = MIN(RS_PYRAMID_TILE, level->width - x);
            int h = MIN(RS_PYRAMID_TILE, level->height - y);
            guint8 *tile = g_malloc((gsize)w * h * BPP);
            for (int row = 0; row < h; row++)
                memcpy(tile + (gsize)row * w * BPP, pixels + (y + row) * stride + (gsize)x * BPP,
                       (gsize)w * BPP);
            GBytes *bytes = g_bytes_new_take(tile, (gsize)w * h * BPP);
            level->tiles[r * level->columns + c] =
                gdk_memory_texture_new(w, h, GDK_MEMORY_DEFAULT, bytes, (gsize)w * BPP);
            g_bytes_unref(bytes);
        }
    }
}

static guint8 *halve(const guint8 *src, int width, int height, int *out_w, int *out_h)
{
    int w = (width + 1) / 2, h = (height + 1) / 2;
    guint8 *dst = g_malloc((gsize)w * h * BPP);
    for (int y = 0; y < h; y++) {
        const guint8 *row0 = src + (gsize)(2 * y) * width * BPP;
        const guint8 *row1 = src + (gsize)MIN(2 * y + 1, height - 1) * width * BPP;
        guint8 *out = dst + (gsize)y * w * BPP;
        for (int x = 0; x < w; x++) {
            int x0 = 2 * x * BPP, x1 = MIN(2 * x + 1, width - 1) * BPP;
            for (int ch = 0; ch < BPP; ch++)
                out[x * BPP + ch] =
                    (guint8)((row0[x0 + ch] + row0[x1 + ch] + row1[x0 + ch] + row1[x1 + ch] + 2) /
                             4);
        }
    }
    *out_w = w;
    *out_h = h;
    return dst;
}

RsImagePyramid *rs_image_pyramid_new(GdkTexture *texture)
{
    int width = gdk_texture_get_width(texture), height = gdk_texture_get_height(texture);
    int n_levels = 1;
    for (int w = width, h = height; MAX(w, h) > SMALLEST_SIDE; w = (w + 1) / 2, h = (h + 1) / 2)
        n_levels++;

    RsImagePyramid *pyramid = g_new0(RsImagePyramid, 1);
    pyramid->n_levels = n_levels;
    pyramid->levels = g_new0(Level, n_levels);

    guint8 *pixels = g_malloc((gsize)width * height * BPP);
    gdk_texture_download(texture, pixels, (gsize)width * BPP);
    for (int k = 0; k < n_levels; k++) {
        Level *level = &pyramid->levels[k];
        level->width = width;
        level->height = height;
        cut_tiles(level, pixels);
        if (k + 1 < n_levels) {
            guint8 *next = halve(pixels, width, height, &width, &height);
            g_free(pixels);
            pixels = next;
        }
    }
    g_free(pixels);
    return pyramid;
}

void rs_image_pyramid_free(RsImagePyramid *pyramid)
{
    if (pyramid == NULL)
        return;
    for (int k = 0; k < pyramid->n_levels; k++) {
        Level *level = &pyramid->levels[k];
        for (int i = 0; i < level->columns * level->rows; i++)
            g_object_unref(level->tiles[i]);
        g_free(level->tiles);
    }
    g_free(pyramid->levels);
    g_free(pyramid);
}

int rs_image_pyramid_get_width(RsImagePyramid *pyramid)
{
    return pyramid->levels[0].width;
}

int rs_image_pyramid_get_height(RsImagePyramid *pyramid)
{
    return pyramid->levels[0].height;
}

int rs_image_pyramid_get_n_levels(RsImagePyramid *pyramid)
{
    return pyramid->n_levels;
}

int rs_image_pyramid_level_for_zoom(RsImagePyramid *pyramid, double zoom)
{
    if (zoom >= 1.0)
        return 0;
    int level = (int)floor(log2(1.0 / zoom) + 1e-9);
    return CLAMP(level, 0, pyramid->n_levels - 1);
}

static void append_tile(GtkSnapshot *snapshot, GdkTexture *tile, const graphene_rect_t *rect,
                        double zoom)
{
#if GTK_CHECK_VERSION(4, 10, 0)
    /* Loupe's choice: crisp pixels when magnified, smooth when reduced. */
    GskScalingFilter filter = zoom > 1.0 ? GSK_SCALING_FILTER_NEAREST : GSK_SCALING_FILTER_LINEAR;
    gtk_snapshot_append_scaled_texture(snapshot, tile, filter, rect);
#else
    gtk_snapshot_append_texture(snapshot, tile, rect);
#endif
}

int rs_image_pyramid_snapshot(RsImagePyramid *pyramid, GtkSnapshot *snapshot, int level_index,
                              double x, double y, double zoom, const graphene_rect_t *clip)
{
    Level *level = &pyramid->levels[level_index];
    /* Widget pixels per level pixel. */
    double scale = zoom * pyramid->levels[0].width / level->width;
    int drawn = 0;
    for (int r = 0; r < level->rows; r++) {
        double y0 = round(y + r * RS_PYRAMID_TILE * scale);
        double y1 = round(y + MIN((r + 1) * RS_PYRAMID_TILE, level->height) * scale);
        if (y1 <= clip->origin.y || y0 >= clip->origin.y + clip->size.height)
            continue;
        for (int c = 0; c < level->columns; c++) {
            double x0 = round(x + c * RS_PYRAMID_TILE * scale);
            double x1 = round(x + MIN((c + 1) * RS_PYRAMID_TILE, level->width) * scale);
            if (x1 <= clip->origin.x || x0 >= clip->origin.x + clip->size.width || x1 <= x0 ||
                y1 <= y0)
                continue;
            append_tile(snapshot, level->tiles[r * level->columns + c],
                        &GRAPHENE_RECT_INIT(x0, y0, x1 - x0, y1 - y0), zoom);
            drawn++;
        }
    }
    return drawn;
}
