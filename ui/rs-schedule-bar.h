/* RsScheduleBar: the branch schedule drawn as one bar: global, fused and local segments. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define RS_TYPE_SCHEDULE_BAR (rs_schedule_bar_get_type())
G_DECLARE_FINAL_TYPE(RsScheduleBar, rs_schedule_bar, RS, SCHEDULE_BAR, GtkWidget)

/* Segment colours (GNOME palette blue 3, purple 3, orange 3), also used for the legend. */
#define RS_SCHEDULE_GLOBAL_RGB 0x3584e4
#define RS_SCHEDULE_FUSED_RGB 0x9141ac
#define RS_SCHEDULE_LOCAL_RGB 0xe66100

GtkWidget *rs_schedule_bar_new(void);

G_END_DECLS
