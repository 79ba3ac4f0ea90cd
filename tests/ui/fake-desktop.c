/* fake-desktop: see fake-desktop.h. */
#include "fake-desktop.h"

#include <gio/gio.h>

static const char session_xml[] =
    "<node><interface name='org.gnome.SessionManager'>"
    "<method name='Inhibit'><arg type='s' direction='in'/><arg type='u' direction='in'/>"
    "<arg type='s' direction='in'/><arg type='u' direction='in'/>"
    "<arg type='u' direction='out'/></method>"
    "<method name='Uninhibit'><arg type='u' direction='in'/></method>"
    "<method name='IsInhibited'><arg type='u' direction='in'/><arg type='b' direction='out'/>"
    "</method></interface></node>";

static const char notifications_xml[] =
    "<node><interface name='org.freedesktop.Notifications'>"
    "<method name='Notify'><arg type='s' direction='in'/><arg type='u' direction='in'/>"
    "<arg type='s' direction='in'/><arg type='s' direction='in'/><arg type='s' direction='in'/>"
    "<arg type='as' direction='in'/><arg type='a{sv}' direction='in'/>"
    "<arg type='i' direction='in'/><arg type='u' direction='out'/></method>"
    "<method name='CloseNotification'><arg type='u' direction='in'/></method>"
    "<method name='GetCapabilities'><arg type='as' direction='out'/></method>"
    "<method name='GetServerInformation'><arg type='s' direction='out'/>"
    "<arg type='s' direction='out'/><arg type='s' direction='out'/><arg type='s' direction='out'/>"
    "</method>"
    "<signal name='ActionInvoked'><arg type='u'/><arg type='s'/></signal>"
    "<signal name='NotificationClosed'><arg type='u'/><arg type='u'/></signal>"
    "</interface></node>";

static GMutex lock;
static GCond cond;
static gboolean ready;
static GDBusConnection *connection;
static GMainContext *context;
static GHashTable *inhibitions; /* cookie -> flags */
static guint next_cookie = 1;
static guint last_flags;
static char *last_reason;
static guint n_notifications, n_closed, last_id;
static char *last_summary, *last_body;

static void on_session_method(GDBusConnection *bus, const char *sender, const char *path,
                              const char *interface, const char *method, GVariant *parameters,
                              GDBusMethodInvocation *invocation, gpointer data)
{
    g_mutex_lock(&lock);
    if (g_str_equal(method, "Inhibit")) {
        const char *app_id, *reason;
        guint xid, flags;
        g_variant_get(parameters, "(&su&su)", &app_id, &xid, &reason, &flags);
        guint cookie = next_cookie++;
        g_hash_table_insert(inhibitions, GUINT_TO_POINTER(cookie), GUINT_TO_POINTER(flags));
        last_flags = flags;
        g_free(last_reason);
        last_reason = g_strdup(reason);
        g_dbus_method_invocation_return_value(invocation, g_variant_new("(u)", cookie));
    } else if (g_str_equal(method, "Uninhibit")) {
        guint cookie;
        g_variant_get(parameters, "(u)", &cookie);
        g_hash_table_remove(inhibitions, GUINT_TO_POINTER(cookie));
        g_dbus_method_invocation_return_value(invocation, NULL);
    } else {
        g_dbus_method_invocation_return_value(
            invocation, g_variant_new("(b)", g_hash_table_size(inhibitions) > 0));
    }
    g_mutex_unlock(&lock);
}

static void on_notifications_method(GDBusConnection *bus, const char *sender, const char *path,
                                    const char *interface, const char *method,
                                    GVariant *parameters, GDBusMethodInvocation *invocation,
                                    gpointer data)
{
    g_mutex_lock(&lock);
    if (g_str_equal(method, "Notify")) {
        const char *summary, *body;
        g_variant_get_child(parameters, 3, "&s", &summary);
        g_variant_get_child(parameters, 4, "&s", &body);
        n_notifications++;
        last_id = n_notifications;
        g_free(last_summary);
        last_summary = g_strdup(summary);
        g_free(last_body);
        last_body = g_strdup(body);
        g_dbus_method_invocation_return_value(invocation, g_variant_new("(u)", last_id));
    } else if (g_str_equal(method, "CloseNotification")) {
        n_closed++;
        g_dbus_method_invocation_return_value(invocation, NULL);
    } else if (g_str_equal(method, "GetCapabilities")) {
        const char *caps[] = {"actions", "body", NULL};
        g_dbus_method_invocation_return_value(invocation, g_variant_new("(^as)", caps));
    } else {
        g_dbus_method_invocation_return_value(
            invocation, g_variant_new("(ssss)", "fake-desktop", "test", "0", "1.2"));
    }
    g_mutex_unlock(&lock);
}

static void own_name(const char *name)
{
    GError *error = NULL;
    GVariant *reply = g_dbus_connection_call_sync(
        connection, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
        "RequestName", g_variant_new("(su)", name, 4 /* do not queue */), G_VARIANT_TYPE("(u)"),
        G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
    g_assert_no_error(error);
    guint owned;
    g_variant_get(reply, "(u)", &owned);
    g_assert_cmpuint(owned, ==, 1); /* primary owner */
    g_variant_unref(reply);
}

static void export(const char *xml, const char *path, GDBusInterfaceMethodCallFunc method)
{
    GError *error = NULL;
    GDBusNodeInfo *node = g_dbus_node_info_new_for_xml(xml, &error);
    g_assert_no_error(error);
    GDBusInterfaceVTable vtable = {.method_call = method};
    g_dbus_connection_register_object(connection, path, node->interfaces[0], &vtable, NULL, NULL,
                                      &error);
    g_assert_no_error(error);
    g_dbus_node_info_unref(node);
}

static gpointer run(gpointer data)
{
    g_main_context_push_thread_default(context);
    GError *error = NULL;
    char *address = g_dbus_address_get_for_bus_sync(G_BUS_TYPE_SESSION, NULL, &error);
    g_assert_no_error(error);
    connection = g_dbus_connection_new_for_address_sync(
        address,
        G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
            G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
        NULL, NULL, &error);
    g_assert_no_error(error);
    g_free(address);
    export(session_xml, "/org/gnome/SessionManager", on_session_method);
    export(notifications_xml, "/org/freedesktop/Notifications", on_notifications_method);
    own_name("org.gnome.SessionManager");
    own_name("org.freedesktop.Notifications");

    g_mutex_lock(&lock);
    ready = TRUE;
    g_cond_signal(&cond);
    g_mutex_unlock(&lock);
    GMainLoop *loop = g_main_loop_new(context, FALSE);
    g_main_loop_run(loop); /* for the rest of the test program */
    return NULL;
}

void fake_desktop_start(void)
{
    inhibitions = g_hash_table_new(NULL, NULL);
    context = g_main_context_new();
    g_thread_unref(g_thread_new("fake-desktop", run, NULL));
    g_mutex_lock(&lock);
    while (!ready)
        g_cond_wait(&cond, &lock);
    g_mutex_unlock(&lock);
}

#define GETTER(type, name, expr)                                                                 \
    type name(void)                                                                              \
    {                                                                                            \
        g_mutex_lock(&lock);                                                                     \
        type value = expr;                                                                       \
        g_mutex_unlock(&lock);                                                                   \
        return value;                                                                            \
    }

GETTER(guint, fake_desktop_n_inhibitions, g_hash_table_size(inhibitions))
GETTER(guint, fake_desktop_last_inhibit_flags, last_flags)
GETTER(char *, fake_desktop_last_inhibit_reason, g_strdup(last_reason))
GETTER(guint, fake_desktop_n_notifications, n_notifications)
GETTER(guint, fake_desktop_n_closed, n_closed)
GETTER(char *, fake_desktop_last_summary, g_strdup(last_summary))
GETTER(char *, fake_desktop_last_body, g_strdup(last_body))

static gboolean click(gpointer data)
{
    g_mutex_lock(&lock);
    guint id = last_id;
    g_mutex_unlock(&lock);
    g_dbus_connection_emit_signal(connection, NULL, "/org/freedesktop/Notifications",
                                  "org.freedesktop.Notifications", "ActionInvoked",
                                  g_variant_new("(us)", id, "default"), NULL);
    return G_SOURCE_REMOVE;
}

void fake_desktop_click_last(void)
{
    g_main_context_invoke(context, click, NULL);
}
