/* A simple sun detector for the demo model (see sun-detector.h). */
#include "sun-detector.h"

gboolean sun_pixel(const guint8 *px)
{
    const int r = px[0], g = px[1], b = px[2];
    gboolean warm = r >= 190 && r - b >= 70;
    gboolean pale = r >= 205 && g >= 205 && b >= 150;
    return warm || pale;
}

SunCount sun_count(const guint8 *rgb, int width, int height, int min_area)
{
    SunCount out = {0, 0, 0};
    const int rows = (height + 1) / 2; /* the upper half: the scenes' suns lie in the top 45 % */
    const size_t n = (size_t)width * rows;
    guint8 *seen = g_new0(guint8, n);
    guint32 *stack = g_new(guint32, n);
    for (size_t i = 0; i < n; i++) {
        if (seen[i] || !sun_pixel(rgb + 3 * i))
            continue;
        /* Flood fill from i with an explicit stack. */
        int area = 0;
        size_t top = 0;
        stack[top++] = (guint32)i;
        seen[i] = 1;
        while (top > 0) {
            guint32 p = stack[--top];
            area++;
            const int y = (int)(p / width), x = (int)(p % width);
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    const int yy = y + dy, xx = x + dx;
                    if ((dx == 0 && dy == 0) || yy < 0 || yy >= rows || xx < 0 || xx >= width)
                        continue;
                    const size_t q = (size_t)yy * width + xx;
                    if (!seen[q] && sun_pixel(rgb + 3 * q)) {
                        seen[q] = 1;
                        stack[top++] = (guint32)q;
                    }
                }
        }
        out.sun_pixels += area;
        if (area > out.largest)
            out.largest = area;
        if (area >= min_area)
            out.count++;
    }
    g_free(stack);
    g_free(seen);
    return out;
}
