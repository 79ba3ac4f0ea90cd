/* RsScheduleBar: steps [0, G) global only, [G, N - L) fused, [N - L, N) local only. */
#include "config.h"

#include <glib/gi18n.h>

#include "rs-schedule-bar.h"

struct _RsScheduleBar {
    GtkWidget parent_instance;

    int steps, global_steps, local_steps;
};

G_DEFINE_FINAL_TYPE(RsScheduleBar, rs_schedule_bar, GTK_TYPE_WIDGET)

enum { PROP_0, PROP_STEPS, PROP_GLOBAL_STEPS, PROP_LOCAL_STEPS, N_PROPS };
static GParamSpec *props[N_PROPS];

static GdkRGBA rgb(guint32 value)
{
    return (GdkRGBA){((value >> 16) & 0xff) / 255.f, ((value >> 8) & 0xff) / 255.f,
                     (value & 0xff) / 255.f, 1.f};
}

static void update_tooltip(RsScheduleBar *self)
{
    int global = MIN(self->global_steps, self->steps);
    int local = MIN(self->local_steps, self->steps - global);
    char *text = g_strdup_printf(_("%d global, %d fused and %d local steps"), global,
                                 self->steps - global - local, local);
    gtk_widget_set_tooltip_text(GTK_WIDGET(self), text);
    g_free(text);
}

static void append_segment(GtkSnapshot *snapshot, float x0, float x1, float height, guint32 color)
{
    if (x1 <= x0)
        return;
    GdkRGBA rgba = rgb(color);
    gtk_snapshot_append_color(snapshot, &rgba, &GRAPHENE_RECT_INIT(x0, 0, x1 - x0, height));
}

static void rs_schedule_bar_snapshot(GtkWidget *widget, GtkSnapshot *snapshot)
{
    RsScheduleBar *self = RS_SCHEDULE_BAR(widget);
    float width = gtk_widget_get_width(widget);
    float height = gtk_widget_get_height(widget);
    int n = MAX(self->steps, 1);
    int global = MIN(self->global_steps, n);
    int local = MIN(self->local_steps, n - global);
    /* Segment edges on whole pixels, so neighbouring segments meet without a seam. */
    float fused_start = roundf(width * global / n);
    float local_start = roundf(width * (n - local) / n);

    GskRoundedRect outline;
    gsk_rounded_rect_init_from_rect(&outline, &GRAPHENE_RECT_INIT(0, 0, width, height), height / 4);
    gtk_snapshot_push_rounded_clip(snapshot, &outline);
    append_segment(snapshot, 0, fused_start, height, RS_SCHEDULE_GLOBAL_RGB);
    append_segment(snapshot, fused_start, local_start, height, RS_SCHEDULE_FUSED_RGB);
    append_segment(snapshot, local_start, width, height, RS_SCHEDULE_LOCAL_RGB);
    gtk_snapshot_pop(snapshot);
}

static void rs_schedule_bar_measure(GtkWidget *widget, GtkOrientation orientation, int for_size,
                                    int *minimum, int *natural, int *min_baseline,
                                    int *nat_baseline)
{
    *minimum = *natural = orientation == GTK_ORIENTATION_HORIZONTAL ? 60 : 14;
    if (orientation == GTK_ORIENTATION_HORIZONTAL)
        *natural = 240;
}

static void rs_schedule_bar_set_property(GObject *object, guint id, const GValue *value,
                                         GParamSpec *pspec)
{
    RsScheduleBar *self = RS_SCHEDULE_BAR(object);
    int v = g_value_get_int(value);
    int *field = id == PROP_STEPS          ? &self->steps
                 : id == PROP_GLOBAL_STEPS ? &self->global_steps
                                           : &self->local_steps;
    if (*field == v)
        return;
    *field = v;
    update_tooltip(self);
    gtk_widget_queue_draw(GTK_WIDGET(self));
    g_object_notify_by_pspec(object, pspec);
}

static void rs_schedule_bar_get_property(GObject *object, guint id, GValue *value,
                                         GParamSpec *pspec)
{
    RsScheduleBar *self = RS_SCHEDULE_BAR(object);
    g_value_set_int(value, id == PROP_STEPS          ? self->steps
                           : id == PROP_GLOBAL_STEPS ? self->global_steps
                                                     : self->local_steps);
}

static void rs_schedule_bar_class_init(RsScheduleBarClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
    object_class->set_property = rs_schedule_bar_set_property;
    object_class->get_property = rs_schedule_bar_get_property;
    widget_class->snapshot = rs_schedule_bar_snapshot;
    widget_class->measure = rs_schedule_bar_measure;

    GParamFlags flags = G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;
    props[PROP_STEPS] = g_param_spec_int("steps", NULL, NULL, 1, 1000, 35, flags);
    props[PROP_GLOBAL_STEPS] = g_param_spec_int("global-steps", NULL, NULL, 0, 1000, 10, flags);
    props[PROP_LOCAL_STEPS] = g_param_spec_int("local-steps", NULL, NULL, 0, 1000, 15, flags);
    g_object_class_install_properties(object_class, N_PROPS, props);
    gtk_widget_class_set_css_name(widget_class, "schedulebar");
    gtk_widget_class_set_accessible_role(widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void rs_schedule_bar_init(RsScheduleBar *self)
{
    self->steps = 35;
    self->global_steps = 10;
    self->local_steps = 15;
    update_tooltip(self);
}

GtkWidget *rs_schedule_bar_new(void)
{
    return g_object_new(RS_TYPE_SCHEDULE_BAR, NULL);
}
