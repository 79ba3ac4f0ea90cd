/* RsCompareView: the canvas's compare mode. Two drop-downs choose what to compare among the
 * branches the engine streams (global, local, fused, final) and the same seed generated without
 * ResDiT (direct attention) and, for image to image, the source image; an RsSplitView shows the
 * pair with a split slider or side by side. */
#pragma once

#include <gtk/gtk.h>

#include "rs-split-view.h"

G_BEGIN_DECLS

#define RS_TYPE_COMPARE_VIEW (rs_compare_view_get_type())
G_DECLARE_FINAL_TYPE(RsCompareView, rs_compare_view, RS, COMPARE_VIEW, GtkWidget)

/* The first four are in RsBranch order (rs-window.h). */
typedef enum {
    RS_COMPARE_GLOBAL,
    RS_COMPARE_LOCAL,
    RS_COMPARE_FUSED,
    RS_COMPARE_FINAL,
    RS_COMPARE_DIRECT, /* the same seed and prompt without ResDiT */
    RS_COMPARE_SOURCE, /* image to image: the image the job started from */
    RS_COMPARE_N_SOURCES
} RsCompareSource;

GtkWidget *rs_compare_view_new(void);

/* The latest image of a source (NULL: none). */
void rs_compare_view_set_source(RsCompareView *self, RsCompareSource source, GdkTexture *texture);
GdkTexture *rs_compare_view_get_source(RsCompareView *self, RsCompareSource source);
/* Forgets every source. */
void rs_compare_view_clear(RsCompareView *self);

/* Which two sources are compared: start left of the divider, end right of it. */
void rs_compare_view_set_pair(RsCompareView *self, RsCompareSource start, RsCompareSource end);
void rs_compare_view_get_pair(RsCompareView *self, RsCompareSource *start, RsCompareSource *end);

RsSplitView *rs_compare_view_get_split_view(RsCompareView *self);

const char *rs_compare_source_label(RsCompareSource source);

G_END_DECLS
