/* Dragging the image out of the canvas: see rs-image-drag.h. */
#include "rs-image-drag.h"

#define DRAG_ICON_SIDE 128.0

typedef struct {
    RsCanvas *canvas;
    RsImageDragPath path_func;
    gpointer data;
} DragData;

static void free_data(gpointer data, GClosure *closure)
{
    g_free(data);
}

GdkContentProvider *rs_image_drag_content(GdkTexture *texture, const char *path)
{
    GdkContentProvider *providers[2];
    int n = 0;
    if (path != NULL) {
        GFile *file = g_file_new_for_path(path);
        providers[n++] = gdk_content_provider_new_typed(G_TYPE_FILE, file);
        g_object_unref(file);
    }
    providers[n++] = gdk_content_provider_new_typed(GDK_TYPE_TEXTURE, texture);
    return gdk_content_provider_new_union(providers, n);
}

static GdkContentProvider *on_prepare(GtkDragSource *source, double x, double y, DragData *d)
{
    GdkTexture *texture = rs_canvas_get_texture(d->canvas);
    if (texture == NULL)
        return NULL;
    GdkModifierType state =
        gtk_event_controller_get_current_event_state(GTK_EVENT_CONTROLLER(source));
    gboolean whole_image = rs_canvas_get_zoom(d->canvas) <= rs_canvas_get_fit_zoom(d->canvas);
    if (!whole_image && (state & (GDK_CONTROL_MASK | GDK_ALT_MASK)) == 0)
        return NULL; /* the canvas pans */
    /* The icon: the image scaled to a thumbnail. */
    double w = gdk_texture_get_width(texture), h = gdk_texture_get_height(texture);
    double scale = DRAG_ICON_SIDE / MAX(w, h);
    graphene_size_t size = GRAPHENE_SIZE_INIT(w * scale, h * scale);
    GtkSnapshot *snapshot = gtk_snapshot_new();
    gtk_snapshot_append_texture(snapshot, texture,
                                &GRAPHENE_RECT_INIT(0, 0, size.width, size.height));
    GdkPaintable *icon = gtk_snapshot_free_to_paintable(snapshot, &size);
    gtk_drag_source_set_icon(source, icon, (int)(size.width / 2), (int)(size.height / 2));
    g_object_unref(icon);
    return rs_image_drag_content(texture, d->path_func(d->data));
}

GtkDragSource *rs_image_drag_attach(RsCanvas *canvas, RsImageDragPath path_func, gpointer data)
{
    DragData *d = g_new0(DragData, 1);
    d->canvas = canvas;
    d->path_func = path_func;
    d->data = data;
    GtkDragSource *source = gtk_drag_source_new();
    gtk_drag_source_set_actions(source, GDK_ACTION_COPY);
    g_signal_connect_data(source, "prepare", G_CALLBACK(on_prepare), d, free_data,
                          0);
    gtk_widget_add_controller(GTK_WIDGET(canvas), GTK_EVENT_CONTROLLER(source));
    return source;
}
