/* Counts suns (and moons) in an RGB8 picture of the demo model's scenes (tools/demo/scenes.py):
 * connected blobs of bright, sun-coloured pixels. Used by the demo model's tests and by
 * bench/bench-demo.c. */
#pragma once

#include <glib.h>

/* Smallest blob that counts, in pixels at any image size: a sun of radius 4.5 px. The scenes'
 * suns have radius 13-22 px at 256 px (area >= 530). */
#define SUN_MIN_AREA 64

typedef struct {
    int count;      /* blobs of at least min_area pixels */
    int largest;    /* pixels of the largest blob */
    int sun_pixels; /* every sun-coloured pixel */
} SunCount;

/* A pixel is sun-coloured when it is bright and warm (red >= 190, red - blue >= 70: the yellow,
 * orange and red suns) or bright and pale (red, green >= 205, blue >= 150: the moon). The scene
 * generator keeps sky, land, water, trees and houses out of both ranges. */
gboolean sun_pixel(const guint8 *px);

/* Counts 8-connected blobs of sun-coloured pixels in the upper half of the picture (the scenes'
 * suns lie wholly in the top 45 %; orange specks the model puts on houses below do not count). */
SunCount sun_count(const guint8 *rgb, int width, int height, int min_area);
