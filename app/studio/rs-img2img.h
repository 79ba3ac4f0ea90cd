/* Image to image in the app: the source file the engine reads (a PNG), and Upscale, an
 * image-to-image job at a larger size with the source image's own parameters, as
 * `resdit upscale IMAGE --size 4k` does. GLib, GDK textures and the engine only. */
#pragma once

#include <gio/gio.h>

#include "resdit.h"

G_BEGIN_DECLS

/* The source's aspect ratio with the longer side long_side, both sides on the 16 px grid. */
void rs_img2img_upscale_size(int source_width, int source_height, int long_side, int *width,
                             int *height);

/* Turns params (the source's own job: prompt, seed, steps, method, LoRAs) into the upscale of
 * source: its size, source as the init image at strength, the seed fixed. */
void rs_img2img_upscale_params(ResditJobParams *params, const char *source, int source_width,
                               int source_height, int long_side, double strength);

/* params from the record of a PNG this project wrote (its "resdit" chunk; the pixels are not
 * read). FALSE when the file has none or it does not parse. */
gboolean rs_img2img_params_from_png(const char *path, ResditJobParams *params);

/* Whether the file starts with the PNG signature. */
gboolean rs_img2img_is_png(const char *path);

/* The engine reads PNG sources only: path itself when it is a PNG, else a PNG copy of the image
 * (any format GDK reads: JPEG, WebP, ...) written under folder, whose path is returned. Blocking
 * (call it on a worker thread for other formats); NULL with error when the file cannot be read. */
char *rs_img2img_source_png(const char *path, const char *folder, GError **error);

/* Where those copies go: a folder of the app's data (the history keeps their paths). */
char *rs_img2img_sources_folder(void);

G_END_DECLS
