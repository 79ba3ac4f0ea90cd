/* RsRunGuard: see rs-run-guard.h. */
#include "config.h"

#include <glib/gi18n.h>

#include "rs-run-guard.h"

struct _RsRunGuard {
    GObject parent_instance;
    GtkWindow *window; /* weak */
    gboolean running;
    gint64 start;      /* monotonic time of rs_run_guard_begin */
    guint cookie;
    double notify_after;
    gboolean notified; /* a notification is on show */
};

G_DEFINE_FINAL_TYPE(RsRunGuard, rs_run_guard, G_TYPE_OBJECT)

enum { PROP_0, PROP_NOTIFY_AFTER, N_PROPS };
static GParamSpec *props[N_PROPS];
enum { SIGNAL_NOTIFICATION_SENT, N_SIGNALS };
static guint signals[N_SIGNALS];

static GtkApplication *application(RsRunGuard *self)
{
    return self->window != NULL ? gtk_window_get_application(self->window) : NULL;
}

static void uninhibit(RsRunGuard *self)
{
    GtkApplication *app = application(self);
    if (self->cookie != 0 && app != NULL)
        gtk_application_uninhibit(app, self->cookie);
    self->cookie = 0;
}

void rs_run_guard_begin(RsRunGuard *self)
{
    g_return_if_fail(RS_IS_RUN_GUARD(self));
    uninhibit(self); /* one inhibition per window, never two */
    self->running = TRUE;
    self->start = g_get_monotonic_time();
    GtkApplication *app = application(self);
    if (app != NULL)
        self->cookie = gtk_application_inhibit(app, self->window, GTK_APPLICATION_INHIBIT_SUSPEND,
                                               _("Generating an image"));
}

void rs_run_guard_end(RsRunGuard *self, const char *title, const char *body)
{
    g_return_if_fail(RS_IS_RUN_GUARD(self));
    if (!self->running)
        return;
    self->running = FALSE;
    uninhibit(self);
    double seconds = (g_get_monotonic_time() - self->start) / 1e6;
    GtkApplication *app = application(self);
    if (title == NULL || app == NULL || seconds < self->notify_after ||
        gtk_window_is_active(self->window))
        return;
    GNotification *notification = g_notification_new(title);
    if (body != NULL)
        g_notification_set_body(notification, body);
    GIcon *icon = g_themed_icon_new(g_application_get_application_id(G_APPLICATION(app)));
    g_notification_set_icon(notification, icon);
    g_object_unref(icon);
    g_notification_set_default_action(notification, "app.show-window");
    g_application_send_notification(G_APPLICATION(app), RS_RUN_GUARD_NOTIFICATION_ID,
                                    notification);
    self->notified = TRUE;
    g_signal_emit(self, signals[SIGNAL_NOTIFICATION_SENT], 0, notification);
    g_object_unref(notification);
}

gboolean rs_run_guard_is_running(RsRunGuard *self)
{
    return self->running;
}

guint rs_run_guard_get_inhibit_cookie(RsRunGuard *self)
{
    return self->cookie;
}

/* Back at the window: the notification has done its work. */
static void on_active_changed(GtkWindow *window, GParamSpec *pspec, RsRunGuard *self)
{
    GtkApplication *app = application(self);
    if (self->notified && app != NULL && gtk_window_is_active(window)) {
        g_application_withdraw_notification(G_APPLICATION(app), RS_RUN_GUARD_NOTIFICATION_ID);
        self->notified = FALSE;
    }
}

static void rs_run_guard_get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
    if (id == PROP_NOTIFY_AFTER)
        g_value_set_double(value, RS_RUN_GUARD(object)->notify_after);
    else
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
}

static void rs_run_guard_set_property(GObject *object, guint id, const GValue *value,
                                      GParamSpec *pspec)
{
    if (id == PROP_NOTIFY_AFTER)
        RS_RUN_GUARD(object)->notify_after = g_value_get_double(value);
    else
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
}

static void rs_run_guard_dispose(GObject *object)
{
    RsRunGuard *self = RS_RUN_GUARD(object);
    uninhibit(self);
    self->running = FALSE;
    if (self->window != NULL) {
        g_signal_handlers_disconnect_by_data(self->window, self);
        g_object_remove_weak_pointer(G_OBJECT(self->window), (gpointer *)&self->window);
        self->window = NULL;
    }
    G_OBJECT_CLASS(rs_run_guard_parent_class)->dispose(object);
}

static void rs_run_guard_class_init(RsRunGuardClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    object_class->dispose = rs_run_guard_dispose;
    object_class->get_property = rs_run_guard_get_property;
    object_class->set_property = rs_run_guard_set_property;
    props[PROP_NOTIFY_AFTER] =
        g_param_spec_double("notify-after", NULL, NULL, 0, G_MAXDOUBLE, RS_RUN_GUARD_NOTIFY_AFTER,
                            G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
    g_object_class_install_properties(object_class, N_PROPS, props);
    signals[SIGNAL_NOTIFICATION_SENT] =
        g_signal_new("notification-sent", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                     NULL, NULL, G_TYPE_NONE, 1, G_TYPE_NOTIFICATION);
}

static void rs_run_guard_init(RsRunGuard *self)
{
    self->notify_after = RS_RUN_GUARD_NOTIFY_AFTER;
}

RsRunGuard *rs_run_guard_new(GtkWindow *window)
{
    g_return_val_if_fail(GTK_IS_WINDOW(window), NULL);
    RsRunGuard *self = g_object_new(RS_TYPE_RUN_GUARD, NULL);
    self->window = window;
    g_object_add_weak_pointer(G_OBJECT(window), (gpointer *)&self->window);
    g_signal_connect(window, "notify::is-active", G_CALLBACK(on_active_changed), self);
    return self;
}
