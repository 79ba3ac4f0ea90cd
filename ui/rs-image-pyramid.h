/* RsImagePyramid: an image as a mip pyramid of tiles (GdkMemoryTextures), so drawing a 4096^2
 * image at any zoom touches only the visible tiles of the level nearest the zoom. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define RS_PYRAMID_TILE 512

typedef struct _RsImagePyramid RsImagePyramid;

RsImagePyramid *rs_image_pyramid_new(GdkTexture *texture);
void rs_image_pyramid_free(RsImagePyramid *pyramid);

int rs_image_pyramid_get_width(RsImagePyramid *pyramid);
int rs_image_pyramid_get_height(RsImagePyramid *pyramid);
int rs_image_pyramid_get_n_levels(RsImagePyramid *pyramid);

/* The level to draw at zoom: the smallest one still at least as large as the drawn image, so
 * the GPU never shrinks a level by more than 2x. */
int rs_image_pyramid_level_for_zoom(RsImagePyramid *pyramid, double zoom);

/* Appends the tiles of level that intersect clip (widget coordinates); the image's top left
 * corner is at (x, y) and one image pixel is zoom widget pixels. Returns the tiles drawn. */
int rs_image_pyramid_snapshot(RsImagePyramid *pyramid, GtkSnapshot *snapshot, int level, double x,
                              double y, double zoom, const graphene_rect_t *clip);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(RsImagePyramid, rs_image_pyramid_free)

G_END_DECLS
