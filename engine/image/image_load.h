/* Init images: reading and fitting to a job's size (image_load.c). */
#pragma once

#include <glib.h>

/* rgb8 [h0 * w0 * 3] scaled to cover width x height with its aspect kept (linear filter,
 * widened when shrinking), centre-cropped, as floats in [-1, 1] (the VAE's input); an image of
 * exactly that size comes back unchanged. NULL when out of memory. */
float *rd_image_fit(const guint8 *rgb, int w0, int h0, int width, int height);
