/* RsSplitView: see rs-split-view.h. */
#include "rs-split-view.h"

#include <math.h>

struct _RsSplitView {
    GtkWidget parent_instance;
    GdkTexture *start, *end;
    double position;  /* divider, fraction of the width */
    gboolean side_by_side;
    double zoom;      /* relative to best fit */
    double cx, cy;    /* image point at the centre of the view, as fractions of the image */
    /* the drag in progress */
    gboolean moving_divider;
    double drag_cx, drag_cy;
    gboolean pointer_inside;
    double pointer_x, pointer_y;
};

G_DEFINE_FINAL_TYPE(RsSplitView, rs_split_view, GTK_TYPE_WIDGET)

enum { PROP_0, PROP_POSITION, PROP_SIDE_BY_SIDE, PROP_ZOOM, N_PROPS };
static GParamSpec *props[N_PROPS];

/* The image size both textures are drawn at: the larger of the two. */
static gboolean image_size(RsSplitView *self, double *w, double *h)
{
    *w = *h = 0;
    GdkTexture *textures[] = {self->start, self->end};
    for (int i = 0; i < 2; i++) {
        if (textures[i] == NULL)
            continue;
        int tw = gdk_texture_get_width(textures[i]), th = gdk_texture_get_height(textures[i]);
        if ((double)tw * th > *w * *h) {
            *w = tw;
            *h = th;
        }
    }
    return *w > 0 && *h > 0;
}

/* The rectangle the image takes in a pane of pw x ph widget pixels. */
static graphene_rect_t image_rect(RsSplitView *self, double pw, double ph)
{
    double iw, ih;
    if (!image_size(self, &iw, &ih) || pw <= 0 || ph <= 0)
        return GRAPHENE_RECT_INIT(0, 0, 0, 0);
    double fit = MIN(MIN(pw / iw, ph / ih), 1.0);
    double scale = fit * self->zoom;
    double w = iw * scale, h = ih * scale;
    double x = pw / 2 - self->cx * w, y = ph / 2 - self->cy * h;
    /* An image smaller than the pane stays centred. */
    if (w <= pw)
        x = (pw - w) / 2;
    if (h <= ph)
        y = (ph - h) / 2;
    return GRAPHENE_RECT_INIT(x, y, w, h);
}

static double pane_width(RsSplitView *self)
{
    int width = gtk_widget_get_width(GTK_WIDGET(self));
    return self->side_by_side ? width / 2.0 : width;
}

static void draw_clipped(GtkSnapshot *snapshot, GdkTexture *texture, const graphene_rect_t *rect,
                         const graphene_rect_t *clip)
{
    if (texture == NULL || clip->size.width <= 0)
        return;
    gtk_snapshot_push_clip(snapshot, clip);
    gtk_snapshot_append_texture(snapshot, texture, rect);
    gtk_snapshot_pop(snapshot);
}

static void rs_split_view_snapshot(GtkWidget *widget, GtkSnapshot *snapshot)
{
    RsSplitView *self = RS_SPLIT_VIEW(widget);
    double width = gtk_widget_get_width(widget), height = gtk_widget_get_height(widget);
    if (width <= 0 || height <= 0)
        return;
    GdkRGBA line = {1, 1, 1, 0.9}, shadow = {0, 0, 0, 0.5};
    if (self->side_by_side) {
        double half = width / 2;
        graphene_rect_t rect = image_rect(self, half, height);
        graphene_rect_t left = GRAPHENE_RECT_INIT(0, 0, half, height);
        draw_clipped(snapshot, self->start, &rect, &left);
        graphene_rect_t rect2 = rect;
        rect2.origin.x += half;
        graphene_rect_t right = GRAPHENE_RECT_INIT(half, 0, width - half, height);
        draw_clipped(snapshot, self->end, &rect2, &right);
        gtk_snapshot_append_color(snapshot, &shadow,
                                  &GRAPHENE_RECT_INIT(floor(half) - 1, 0, 2, height));
        return;
    }
    graphene_rect_t rect = image_rect(self, width, height);
    double divider = round(self->position * width);
    graphene_rect_t left = GRAPHENE_RECT_INIT(0, 0, divider, height);
    graphene_rect_t right = GRAPHENE_RECT_INIT(divider, 0, width - divider, height);
    draw_clipped(snapshot, self->start, &rect, &left);
    draw_clipped(snapshot, self->end, &rect, &right);
    /* The divider: a light line with a dark edge and a round grip in the middle. */
    gtk_snapshot_append_color(snapshot, &shadow, &GRAPHENE_RECT_INIT(divider - 2, 0, 4, height));
    gtk_snapshot_append_color(snapshot, &line, &GRAPHENE_RECT_INIT(divider - 1, 0, 2, height));
    GskRoundedRect grip;
    gsk_rounded_rect_init_from_rect(&grip, &GRAPHENE_RECT_INIT(divider - 8, height / 2 - 16, 16, 32),
                                    8);
    gtk_snapshot_push_rounded_clip(snapshot, &grip);
    gtk_snapshot_append_color(snapshot, &line, &grip.bounds);
    gtk_snapshot_pop(snapshot);
}

static void clamp_center(RsSplitView *self)
{
    self->cx = CLAMP(self->cx, 0, 1);
    self->cy = CLAMP(self->cy, 0, 1);
}

void rs_split_view_zoom_at(RsSplitView *self, double zoom, double x, double y)
{
    g_return_if_fail(RS_IS_SPLIT_VIEW(self));
    zoom = CLAMP(zoom, 1.0, RS_SPLIT_VIEW_MAX_ZOOM);
    double pw = pane_width(self), ph = gtk_widget_get_height(GTK_WIDGET(self));
    if (self->side_by_side && x >= pw)
        x -= pw;
    graphene_rect_t before = image_rect(self, pw, ph);
    if (before.size.width > 0 && before.size.height > 0) {
        /* the image point under (x, y), kept there */
        double u = (x - before.origin.x) / before.size.width;
        double v = (y - before.origin.y) / before.size.height;
        double scale = zoom / self->zoom;
        double w = before.size.width * scale, h = before.size.height * scale;
        self->cx = (pw / 2 - (x - u * w)) / w;
        self->cy = (ph / 2 - (y - v * h)) / h;
    }
    self->zoom = zoom;
    if (zoom == 1.0)
        self->cx = self->cy = 0.5;
    clamp_center(self);
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_ZOOM]);
    gtk_widget_queue_draw(GTK_WIDGET(self));
}

double rs_split_view_get_zoom(RsSplitView *self)
{
    return self->zoom;
}

void rs_split_view_reset_zoom(RsSplitView *self)
{
    self->cx = self->cy = 0.5;
    self->zoom = 1.0;
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_ZOOM]);
    gtk_widget_queue_draw(GTK_WIDGET(self));
}

static gboolean on_scroll(GtkEventControllerScroll *controller, double dx, double dy,
                          RsSplitView *self)
{
    if (dy == 0)
        return FALSE;
    double x = self->pointer_inside ? self->pointer_x : gtk_widget_get_width(GTK_WIDGET(self)) / 2.0;
    double y =
        self->pointer_inside ? self->pointer_y : gtk_widget_get_height(GTK_WIDGET(self)) / 2.0;
    rs_split_view_zoom_at(self, self->zoom * pow(1.25, -dy), x, y);
    return TRUE;
}

static void on_motion(GtkEventControllerMotion *controller, double x, double y, RsSplitView *self)
{
    self->pointer_inside = TRUE;
    self->pointer_x = x;
    self->pointer_y = y;
}

static void on_leave(GtkEventControllerMotion *controller, RsSplitView *self)
{
    self->pointer_inside = FALSE;
}

static void on_drag_begin(GtkGestureDrag *gesture, double x, double y, RsSplitView *self)
{
    double divider = self->position * gtk_widget_get_width(GTK_WIDGET(self));
    self->moving_divider = !self->side_by_side && fabs(x - divider) <= RS_SPLIT_VIEW_GRAB;
    self->drag_cx = self->cx;
    self->drag_cy = self->cy;
    if (self->moving_divider)
        rs_split_view_set_position(self, x / MAX(gtk_widget_get_width(GTK_WIDGET(self)), 1));
}

static void on_drag_update(GtkGestureDrag *gesture, double dx, double dy, RsSplitView *self)
{
    double x0, y0;
    gtk_gesture_drag_get_start_point(gesture, &x0, &y0);
    if (self->moving_divider) {
        rs_split_view_set_position(self, (x0 + dx) / MAX(gtk_widget_get_width(GTK_WIDGET(self)), 1));
        return;
    }
    graphene_rect_t rect = image_rect(self, pane_width(self), gtk_widget_get_height(GTK_WIDGET(self)));
    if (rect.size.width <= 0 || rect.size.height <= 0)
        return;
    self->cx = self->drag_cx - dx / rect.size.width;
    self->cy = self->drag_cy - dy / rect.size.height;
    clamp_center(self);
    gtk_widget_queue_draw(GTK_WIDGET(self));
}

void rs_split_view_set_textures(RsSplitView *self, GdkTexture *start, GdkTexture *end)
{
    g_return_if_fail(RS_IS_SPLIT_VIEW(self));
    g_set_object(&self->start, start);
    g_set_object(&self->end, end);
    gtk_widget_queue_draw(GTK_WIDGET(self));
}

GdkTexture *rs_split_view_get_start(RsSplitView *self)
{
    return self->start;
}

GdkTexture *rs_split_view_get_end(RsSplitView *self)
{
    return self->end;
}

void rs_split_view_set_position(RsSplitView *self, double position)
{
    g_return_if_fail(RS_IS_SPLIT_VIEW(self));
    position = CLAMP(position, 0.0, 1.0);
    if (position == self->position)
        return;
    self->position = position;
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_POSITION]);
    gtk_widget_queue_draw(GTK_WIDGET(self));
}

double rs_split_view_get_position(RsSplitView *self)
{
    return self->position;
}

void rs_split_view_set_side_by_side(RsSplitView *self, gboolean side_by_side)
{
    g_return_if_fail(RS_IS_SPLIT_VIEW(self));
    side_by_side = !!side_by_side;
    if (side_by_side == self->side_by_side)
        return;
    self->side_by_side = side_by_side;
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_SIDE_BY_SIDE]);
    gtk_widget_queue_draw(GTK_WIDGET(self));
}

gboolean rs_split_view_get_side_by_side(RsSplitView *self)
{
    return self->side_by_side;
}

static void rs_split_view_get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
    RsSplitView *self = RS_SPLIT_VIEW(object);
    switch (id) {
    case PROP_POSITION:
        g_value_set_double(value, self->position);
        break;
    case PROP_SIDE_BY_SIDE:
        g_value_set_boolean(value, self->side_by_side);
        break;
    case PROP_ZOOM:
        g_value_set_double(value, self->zoom);
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
    }
}

static void rs_split_view_set_property(GObject *object, guint id, const GValue *value,
                                       GParamSpec *pspec)
{
    RsSplitView *self = RS_SPLIT_VIEW(object);
    switch (id) {
    case PROP_POSITION:
        rs_split_view_set_position(self, g_value_get_double(value));
        break;
    case PROP_SIDE_BY_SIDE:
        rs_split_view_set_side_by_side(self, g_value_get_boolean(value));
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
    }
}

static void rs_split_view_dispose(GObject *object)
{
    RsSplitView *self = RS_SPLIT_VIEW(object);
    g_clear_object(&self->start);
    g_clear_object(&self->end);
    G_OBJECT_CLASS(rs_split_view_parent_class)->dispose(object);
}

static void rs_split_view_class_init(RsSplitViewClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
    object_class->dispose = rs_split_view_dispose;
    object_class->get_property = rs_split_view_get_property;
    object_class->set_property = rs_split_view_set_property;
    widget_class->snapshot = rs_split_view_snapshot;
    props[PROP_POSITION] = g_param_spec_double("position", NULL, NULL, 0, 1, 0.5,
                                               G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY |
                                                   G_PARAM_STATIC_STRINGS);
    props[PROP_SIDE_BY_SIDE] = g_param_spec_boolean("side-by-side", NULL, NULL, FALSE,
                                                    G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY |
                                                        G_PARAM_STATIC_STRINGS);
    props[PROP_ZOOM] = g_param_spec_double("zoom", NULL, NULL, 1, RS_SPLIT_VIEW_MAX_ZOOM, 1,
                                           G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY |
                                               G_PARAM_STATIC_STRINGS);
    g_object_class_install_properties(object_class, N_PROPS, props);
    gtk_widget_class_set_css_name(widget_class, "rs-split-view");
}

static void rs_split_view_init(RsSplitView *self)
{
    self->position = 0.5;
    self->zoom = 1.0;
    self->cx = self->cy = 0.5;
    gtk_widget_set_overflow(GTK_WIDGET(self), GTK_OVERFLOW_HIDDEN);
    gtk_widget_set_hexpand(GTK_WIDGET(self), TRUE);
    gtk_widget_set_vexpand(GTK_WIDGET(self), TRUE);
    gtk_widget_set_cursor_from_name(GTK_WIDGET(self), "col-resize");

    GtkGesture *drag = gtk_gesture_drag_new();
    g_signal_connect(drag, "drag-begin", G_CALLBACK(on_drag_begin), self);
    g_signal_connect(drag, "drag-update", G_CALLBACK(on_drag_update), self);
    gtk_widget_add_controller(GTK_WIDGET(self), GTK_EVENT_CONTROLLER(drag));

    GtkEventController *scroll =
        gtk_event_controller_scroll_new(GTK_EVENT_CONTROLLER_SCROLL_VERTICAL);
    g_signal_connect(scroll, "scroll", G_CALLBACK(on_scroll), self);
    gtk_widget_add_controller(GTK_WIDGET(self), scroll);

    GtkEventController *motion = gtk_event_controller_motion_new();
    g_signal_connect(motion, "motion", G_CALLBACK(on_motion), self);
    g_signal_connect(motion, "leave", G_CALLBACK(on_leave), self);
    gtk_widget_add_controller(GTK_WIDGET(self), motion);
}

GtkWidget *rs_split_view_new(void)
{
    return g_object_new(RS_TYPE_SPLIT_VIEW, NULL);
}
