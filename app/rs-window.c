/* RsWindow: builds the main window from its template and keeps its size in GSettings. */
#include "config.h"

#include <glib/gi18n.h>

#include "rs-window.h"

struct _RsWindow {
    AdwApplicationWindow parent_instance;

    GSettings *settings;
};

G_DEFINE_FINAL_TYPE(RsWindow, rs_window, ADW_TYPE_APPLICATION_WINDOW)

static void rs_window_dispose(GObject *object)
{
    RsWindow *self = RS_WINDOW(object);
    gtk_widget_dispose_template(GTK_WIDGET(self), RS_TYPE_WINDOW);
    g_clear_object(&self->settings);
    G_OBJECT_CLASS(rs_window_parent_class)->dispose(object);
}

static void rs_window_class_init(RsWindowClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);

    object_class->dispose = rs_window_dispose;
    gtk_widget_class_set_template_from_resource(widget_class,
                                                "/io/github/resdit/Studio/rs-window.ui");
}

static void bind_window_state(RsWindow *self)
{
    g_settings_bind(self->settings, "window-width", self, "default-width", G_SETTINGS_BIND_DEFAULT);
    g_settings_bind(self->settings, "window-height", self, "default-height",
                    G_SETTINGS_BIND_DEFAULT);
    g_settings_bind(self->settings, "window-maximized", self, "maximized", G_SETTINGS_BIND_DEFAULT);
}

static void rs_window_init(RsWindow *self)
{
    gtk_widget_init_template(GTK_WIDGET(self));
    self->settings = g_settings_new("io.github.resdit.Studio");
    bind_window_state(self);
    if (DEVELOPMENT_BUILD)
        gtk_widget_add_css_class(GTK_WIDGET(self), "devel");
}

RsWindow *rs_window_new(RsApplication *app)
{
    return g_object_new(RS_TYPE_WINDOW, "application", app, NULL);
}
