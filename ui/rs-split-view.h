/* RsSplitView: two images over each other with a vertical divider the user drags (a "split
 * slider"), or side by side. Both share one zoom and one pan: wheel zooms around the pointer, a
 * drag away from the divider pans. Images of different sizes (a 512 px preview and the full
 * image) are drawn into the same rectangle, so that the same point of the scene lines up. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define RS_TYPE_SPLIT_VIEW (rs_split_view_get_type())
G_DECLARE_FINAL_TYPE(RsSplitView, rs_split_view, RS, SPLIT_VIEW, GtkWidget)

/* How close (widget pixels) a press must be to the divider to move it rather than pan. */
#define RS_SPLIT_VIEW_GRAB 16.0

GtkWidget *rs_split_view_new(void);

/* start is drawn left of the divider (or in the left half), end right of it; either may be NULL. */
void rs_split_view_set_textures(RsSplitView *self, GdkTexture *start, GdkTexture *end);
GdkTexture *rs_split_view_get_start(RsSplitView *self);
GdkTexture *rs_split_view_get_end(RsSplitView *self);

/* The divider as a fraction of the width, 0 to 1 ("position"). */
void rs_split_view_set_position(RsSplitView *self, double position);
double rs_split_view_get_position(RsSplitView *self);

/* TRUE: the two images side by side, each in half the width ("side-by-side"). */
void rs_split_view_set_side_by_side(RsSplitView *self, gboolean side_by_side);
gboolean rs_split_view_get_side_by_side(RsSplitView *self);

/* Zoom relative to best fit (1 = the image fits), clamped to 1..RS_SPLIT_VIEW_MAX_ZOOM, keeping the
 * image point under widget point (x, y) in place. */
#define RS_SPLIT_VIEW_MAX_ZOOM 32.0
void rs_split_view_zoom_at(RsSplitView *self, double zoom, double x, double y);
double rs_split_view_get_zoom(RsSplitView *self);
void rs_split_view_reset_zoom(RsSplitView *self);

G_END_DECLS
