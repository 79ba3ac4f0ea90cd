/* RsCanvas: view state is (zoom, centre in image pixels); a widget point w maps to the image point
 * centre + (w - size / 2) / zoom. The tile pyramid of a new image is built in a worker thread
 * (half a second for 4096^2); until it arrives the texture is drawn whole, scaled by the GPU. */
#include "config.h"

#include <math.h>

#include "rs-canvas.h"
#include "rs-image-pyramid.h"

struct _RsCanvas {
    GtkWidget parent_instance;

    GdkTexture *texture;
    RsImagePyramid *pyramid; /* of texture once built; NULL while building */
    GCancellable *building;
    double zoom;
    double center_x, center_y;
    gboolean best_fit;

    double pointer_x, pointer_y;
    gboolean pointer_inside;
    double drag_center_x, drag_center_y;
    double pinch_zoom, pinch_x, pinch_y;

    int drawn_level, drawn_tiles;
};

G_DEFINE_FINAL_TYPE(RsCanvas, rs_canvas, GTK_TYPE_WIDGET)

enum { PROP_0, PROP_TEXTURE, PROP_ZOOM, PROP_BEST_FIT, N_PROPS };
static GParamSpec *props[N_PROPS];

static int image_width(RsCanvas *self)
{
    return self->texture != NULL ? gdk_texture_get_width(self->texture) : 0;
}

static int image_height(RsCanvas *self)
{
    return self->texture != NULL ? gdk_texture_get_height(self->texture) : 0;
}

double rs_canvas_get_fit_zoom(RsCanvas *self)
{
    int width = gtk_widget_get_width(GTK_WIDGET(self));
    int height = gtk_widget_get_height(GTK_WIDGET(self));
    if (self->texture == NULL || width <= 0 || height <= 0)
        return 1.0;
    double fit = MIN((double)width / image_width(self), (double)height / image_height(self));
    return MIN(fit, 1.0);
}

double rs_canvas_get_min_zoom(RsCanvas *self)
{
    return rs_canvas_get_fit_zoom(self);
}

/* Centres an axis that fits the widget; otherwise keeps the view inside the image. */
static double clamp_axis(double center, double view, double image, double zoom)
{
    double half = view / (2 * zoom);
    if (image <= 2 * half)
        return image / 2;
    return CLAMP(center, half, image - half);
}

static void clamp_center(RsCanvas *self)
{
    self->center_x = clamp_axis(self->center_x, gtk_widget_get_width(GTK_WIDGET(self)),
                                image_width(self), self->zoom);
    self->center_y = clamp_axis(self->center_y, gtk_widget_get_height(GTK_WIDGET(self)),
                                image_height(self), self->zoom);
}

static void set_best_fit(RsCanvas *self, gboolean best_fit)
{
    if (self->best_fit == best_fit)
        return;
    self->best_fit = best_fit;
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_BEST_FIT]);
}

static void set_zoom(RsCanvas *self, double zoom)
{
    if (self->zoom != zoom) {
        self->zoom = zoom;
        g_object_notify_by_pspec(G_OBJECT(self), props[PROP_ZOOM]);
    }
    clamp_center(self);
    gtk_widget_queue_draw(GTK_WIDGET(self));
}

void rs_canvas_zoom_at(RsCanvas *self, double zoom, double x, double y)
{
    if (self->texture == NULL)
        return;
    zoom = CLAMP(zoom, rs_canvas_get_min_zoom(self), RS_CANVAS_MAX_ZOOM);
    double dx = x - gtk_widget_get_width(GTK_WIDGET(self)) / 2.0;
    double dy = y - gtk_widget_get_height(GTK_WIDGET(self)) / 2.0;
    double image_x = self->center_x + dx / self->zoom;
    double image_y = self->center_y + dy / self->zoom;
    self->center_x = image_x - dx / zoom;
    self->center_y = image_y - dy / zoom;
    set_best_fit(self, zoom <= rs_canvas_get_fit_zoom(self));
    set_zoom(self, zoom);
}

static void zoom_at_center(RsCanvas *self, double zoom)
{
    rs_canvas_zoom_at(self, zoom, gtk_widget_get_width(GTK_WIDGET(self)) / 2.0,
                      gtk_widget_get_height(GTK_WIDGET(self)) / 2.0);
}

void rs_canvas_zoom_in(RsCanvas *self)
{
    zoom_at_center(self, self->zoom * RS_CANVAS_ZOOM_STEP);
}

void rs_canvas_zoom_out(RsCanvas *self)
{
    zoom_at_center(self, self->zoom / RS_CANVAS_ZOOM_STEP);
}

void rs_canvas_zoom_best_fit(RsCanvas *self)
{
    set_best_fit(self, TRUE);
    set_zoom(self, rs_canvas_get_fit_zoom(self));
}

void rs_canvas_zoom_original(RsCanvas *self)
{
    zoom_at_center(self, 1.0);
}

void rs_canvas_pan(RsCanvas *self, double dx, double dy)
{
    self->center_x += dx / self->zoom;
    self->center_y += dy / self->zoom;
    clamp_center(self);
    gtk_widget_queue_draw(GTK_WIDGET(self));
}

static void build_pyramid(GTask *task, gpointer source, gpointer texture, GCancellable *cancel)
{
    g_task_return_pointer(task, rs_image_pyramid_new(texture),
                          (GDestroyNotify)rs_image_pyramid_free);
}

/* Back on the main thread: the latest texture wins, a stale or cancelled pyramid is dropped. */
static void pyramid_built(GObject *source, GAsyncResult *result, gpointer weak_ref)
{
    RsCanvas *self = g_weak_ref_get(weak_ref);
    RsImagePyramid *pyramid = g_task_propagate_pointer(G_TASK(result), NULL);
    if (self != NULL && pyramid != NULL && g_task_get_task_data(G_TASK(result)) == self->texture) {
        self->pyramid = pyramid;
        pyramid = NULL;
        g_clear_object(&self->building);
        gtk_widget_queue_draw(GTK_WIDGET(self));
    }
    g_clear_pointer(&pyramid, rs_image_pyramid_free);
    g_clear_object(&self);
}

static void free_weak_ref(gpointer weak_ref)
{
    g_weak_ref_clear(weak_ref);
    g_free(weak_ref);
}

static void start_pyramid(RsCanvas *self)
{
    GWeakRef *weak_ref = g_new0(GWeakRef, 1);
    g_weak_ref_init(weak_ref, self);
    self->building = g_cancellable_new();
    GTask *task = g_task_new(NULL, self->building, pyramid_built, weak_ref);
    g_task_set_task_data(task, g_object_ref(self->texture), g_object_unref);
    g_object_set_data_full(G_OBJECT(task), "weak-ref", weak_ref, free_weak_ref);
    g_task_run_in_thread(task, build_pyramid);
    g_object_unref(task);
}

gboolean rs_canvas_is_ready(RsCanvas *self)
{
    return self->texture == NULL || self->pyramid != NULL;
}

void rs_canvas_set_texture(RsCanvas *self, GdkTexture *texture)
{
    gboolean same_size = self->texture != NULL && texture != NULL &&
                         gdk_texture_get_width(texture) == image_width(self) &&
                         gdk_texture_get_height(texture) == image_height(self);
    if (!g_set_object(&self->texture, texture))
        return;
    g_clear_pointer(&self->pyramid, rs_image_pyramid_free);
    if (self->building != NULL)
        g_cancellable_cancel(self->building);
    g_clear_object(&self->building);
    if (texture != NULL)
        start_pyramid(self);
    /* A new frame of the same image keeps the view; a new image starts at best fit. */
    if (!same_size) {
        self->center_x = image_width(self) / 2.0;
        self->center_y = image_height(self) / 2.0;
        rs_canvas_zoom_best_fit(self);
    }
    gtk_widget_queue_draw(GTK_WIDGET(self));
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_TEXTURE]);
}

GdkTexture *rs_canvas_get_texture(RsCanvas *self)
{
    return self->texture;
}

double rs_canvas_get_zoom(RsCanvas *self)
{
    return self->zoom;
}

gboolean rs_canvas_get_best_fit(RsCanvas *self)
{
    return self->best_fit;
}

void rs_canvas_get_center(RsCanvas *self, double *x, double *y)
{
    *x = self->center_x;
    *y = self->center_y;
}

int rs_canvas_get_drawn_level(RsCanvas *self)
{
    return self->drawn_level;
}

int rs_canvas_get_drawn_tiles(RsCanvas *self)
{
    return self->drawn_tiles;
}

static void rs_canvas_snapshot(GtkWidget *widget, GtkSnapshot *snapshot)
{
    RsCanvas *self = RS_CANVAS(widget);
    if (self->texture == NULL)
        return;
    double width = gtk_widget_get_width(widget), height = gtk_widget_get_height(widget);
    graphene_rect_t clip = GRAPHENE_RECT_INIT(0, 0, width, height);
    double x = width / 2 - self->center_x * self->zoom;
    double y = height / 2 - self->center_y * self->zoom;
    gtk_snapshot_push_clip(snapshot, &clip);
    if (self->pyramid != NULL) {
        self->drawn_level = rs_image_pyramid_level_for_zoom(self->pyramid, self->zoom);
        self->drawn_tiles = rs_image_pyramid_snapshot(self->pyramid, snapshot, self->drawn_level, x,
                                                      y, self->zoom, &clip);
    } else {
        self->drawn_level = -1;
        self->drawn_tiles = 0;
        gtk_snapshot_append_texture(snapshot, self->texture,
                                    &GRAPHENE_RECT_INIT(x, y, image_width(self) * self->zoom,
                                                        image_height(self) * self->zoom));
    }
    gtk_snapshot_pop(snapshot);
}

static void rs_canvas_size_allocate(GtkWidget *widget, int width, int height, int baseline)
{
    RsCanvas *self = RS_CANVAS(widget);
    if (self->best_fit)
        set_zoom(self, rs_canvas_get_fit_zoom(self));
    else
        set_zoom(self, MAX(self->zoom, rs_canvas_get_min_zoom(self)));
}

static void rs_canvas_measure(GtkWidget *widget, GtkOrientation orientation, int for_size,
                              int *minimum, int *natural, int *min_baseline, int *nat_baseline)
{
    *minimum = 64;
    *natural = 400;
}

static gboolean on_scroll(GtkEventControllerScroll *controller, double dx, double dy,
                          gpointer user_data)
{
    RsCanvas *self = RS_CANVAS(user_data);
    if (self->texture == NULL || dy == 0)
        return FALSE;
    /* A wheel notch is one zoom step; smooth scrolling (touchpads) zooms continuously. */
    double steps =
        gtk_event_controller_scroll_get_unit(controller) == GDK_SCROLL_UNIT_WHEEL ? dy : dy / 10.0;
    double x =
        self->pointer_inside ? self->pointer_x : gtk_widget_get_width(GTK_WIDGET(self)) / 2.0;
    double y =
        self->pointer_inside ? self->pointer_y : gtk_widget_get_height(GTK_WIDGET(self)) / 2.0;
    rs_canvas_zoom_at(self, self->zoom * pow(RS_CANVAS_ZOOM_STEP, -steps), x, y);
    return TRUE;
}

static void on_motion(GtkEventControllerMotion *controller, double x, double y, gpointer user_data)
{
    RsCanvas *self = RS_CANVAS(user_data);
    self->pointer_x = x;
    self->pointer_y = y;
    self->pointer_inside = TRUE;
}

static void on_leave(GtkEventControllerMotion *controller, gpointer user_data)
{
    RS_CANVAS(user_data)->pointer_inside = FALSE;
}

static void on_drag_begin(GtkGestureDrag *gesture, double x, double y, gpointer user_data)
{
    RsCanvas *self = RS_CANVAS(user_data);
    self->drag_center_x = self->center_x;
    self->drag_center_y = self->center_y;
    gtk_widget_grab_focus(GTK_WIDGET(self));
    gtk_widget_set_cursor_from_name(GTK_WIDGET(self), "grabbing");
}

static void on_drag_update(GtkGestureDrag *gesture, double dx, double dy, gpointer user_data)
{
    RsCanvas *self = RS_CANVAS(user_data);
    self->center_x = self->drag_center_x - dx / self->zoom;
    self->center_y = self->drag_center_y - dy / self->zoom;
    clamp_center(self);
    gtk_widget_queue_draw(GTK_WIDGET(self));
}

static void on_drag_end(GtkGestureDrag *gesture, double dx, double dy, gpointer user_data)
{
    gtk_widget_set_cursor_from_name(GTK_WIDGET(user_data), "grab");
}

static void on_pinch_begin(GtkGesture *gesture, GdkEventSequence *sequence, gpointer user_data)
{
    RsCanvas *self = RS_CANVAS(user_data);
    self->pinch_zoom = self->zoom;
    gtk_gesture_get_bounding_box_center(gesture, &self->pinch_x, &self->pinch_y);
}

static void on_pinch_scale(GtkGestureZoom *gesture, double scale, gpointer user_data)
{
    RsCanvas *self = RS_CANVAS(user_data);
    rs_canvas_zoom_at(self, self->pinch_zoom * scale, self->pinch_x, self->pinch_y);
}

static void zoom_action(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
    RsCanvas *self = RS_CANVAS(widget);
    if (g_str_equal(action_name, "canvas.zoom-in"))
        rs_canvas_zoom_in(self);
    else if (g_str_equal(action_name, "canvas.zoom-out"))
        rs_canvas_zoom_out(self);
    else if (g_str_equal(action_name, "canvas.zoom-best-fit"))
        rs_canvas_zoom_best_fit(self);
    else
        rs_canvas_zoom_original(self);
}

static void add_key(GtkWidgetClass *widget_class, guint key, const char *action)
{
    gtk_widget_class_add_binding_action(widget_class, key, 0, action, NULL);
}

static void rs_canvas_dispose(GObject *object)
{
    RsCanvas *self = RS_CANVAS(object);
    if (self->building != NULL)
        g_cancellable_cancel(self->building);
    g_clear_object(&self->building);
    g_clear_object(&self->texture);
    g_clear_pointer(&self->pyramid, rs_image_pyramid_free);
    G_OBJECT_CLASS(rs_canvas_parent_class)->dispose(object);
}

static void rs_canvas_get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
    RsCanvas *self = RS_CANVAS(object);
    switch (id) {
    case PROP_TEXTURE:
        g_value_set_object(value, self->texture);
        break;
    case PROP_ZOOM:
        g_value_set_double(value, self->zoom);
        break;
    case PROP_BEST_FIT:
        g_value_set_boolean(value, self->best_fit);
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
        break;
    }
}

static void rs_canvas_set_property(GObject *object, guint id, const GValue *value,
                                   GParamSpec *pspec)
{
    RsCanvas *self = RS_CANVAS(object);
    switch (id) {
    case PROP_TEXTURE:
        rs_canvas_set_texture(self, g_value_get_object(value));
        break;
    case PROP_ZOOM:
        zoom_at_center(self, g_value_get_double(value));
        break;
    case PROP_BEST_FIT:
        if (g_value_get_boolean(value))
            rs_canvas_zoom_best_fit(self);
        else
            set_best_fit(self, FALSE);
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
        break;
    }
}

static void rs_canvas_class_init(RsCanvasClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
    object_class->dispose = rs_canvas_dispose;
    object_class->get_property = rs_canvas_get_property;
    object_class->set_property = rs_canvas_set_property;
    widget_class->snapshot = rs_canvas_snapshot;
    widget_class->size_allocate = rs_canvas_size_allocate;
    widget_class->measure = rs_canvas_measure;

    GParamFlags flags = G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;
    props[PROP_TEXTURE] = g_param_spec_object("texture", NULL, NULL, GDK_TYPE_TEXTURE, flags);
    props[PROP_ZOOM] =
        g_param_spec_double("zoom", NULL, NULL, 0.0001, RS_CANVAS_MAX_ZOOM, 1.0, flags);
    props[PROP_BEST_FIT] = g_param_spec_boolean("best-fit", NULL, NULL, TRUE, flags);
    g_object_class_install_properties(object_class, N_PROPS, props);

    gtk_widget_class_install_action(widget_class, "canvas.zoom-in", NULL, zoom_action);
    gtk_widget_class_install_action(widget_class, "canvas.zoom-out", NULL, zoom_action);
    gtk_widget_class_install_action(widget_class, "canvas.zoom-best-fit", NULL, zoom_action);
    gtk_widget_class_install_action(widget_class, "canvas.zoom-100", NULL, zoom_action);
    add_key(widget_class, GDK_KEY_plus, "canvas.zoom-in");
    add_key(widget_class, GDK_KEY_equal, "canvas.zoom-in");
    add_key(widget_class, GDK_KEY_KP_Add, "canvas.zoom-in");
    add_key(widget_class, GDK_KEY_minus, "canvas.zoom-out");
    add_key(widget_class, GDK_KEY_KP_Subtract, "canvas.zoom-out");
    add_key(widget_class, GDK_KEY_0, "canvas.zoom-best-fit");
    add_key(widget_class, GDK_KEY_KP_0, "canvas.zoom-best-fit");
    add_key(widget_class, GDK_KEY_1, "canvas.zoom-100");
    add_key(widget_class, GDK_KEY_KP_1, "canvas.zoom-100");

    gtk_widget_class_set_css_name(widget_class, "canvas");
    gtk_widget_class_set_accessible_role(widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void rs_canvas_init(RsCanvas *self)
{
    GtkWidget *widget = GTK_WIDGET(self);
    self->zoom = 1.0;
    self->best_fit = TRUE;
    gtk_widget_set_focusable(widget, TRUE);
    gtk_widget_set_overflow(widget, GTK_OVERFLOW_HIDDEN);
    gtk_widget_set_cursor_from_name(widget, "grab");

    GtkEventController *scroll =
        gtk_event_controller_scroll_new(GTK_EVENT_CONTROLLER_SCROLL_VERTICAL);
    g_signal_connect(scroll, "scroll", G_CALLBACK(on_scroll), self);
    gtk_widget_add_controller(widget, scroll);

    GtkEventController *motion = gtk_event_controller_motion_new();
    g_signal_connect(motion, "motion", G_CALLBACK(on_motion), self);
    g_signal_connect(motion, "leave", G_CALLBACK(on_leave), self);
    gtk_widget_add_controller(widget, motion);

    GtkGesture *drag = gtk_gesture_drag_new();
    g_signal_connect(drag, "drag-begin", G_CALLBACK(on_drag_begin), self);
    g_signal_connect(drag, "drag-update", G_CALLBACK(on_drag_update), self);
    g_signal_connect(drag, "drag-end", G_CALLBACK(on_drag_end), self);
    gtk_widget_add_controller(widget, GTK_EVENT_CONTROLLER(drag));

    GtkGesture *pinch = gtk_gesture_zoom_new();
    g_signal_connect(pinch, "begin", G_CALLBACK(on_pinch_begin), self);
    g_signal_connect(pinch, "scale-changed", G_CALLBACK(on_pinch_scale), self);
    gtk_widget_add_controller(widget, GTK_EVENT_CONTROLLER(pinch));
}

GtkWidget *rs_canvas_new(void)
{
    return g_object_new(RS_TYPE_CANVAS, NULL);
}
