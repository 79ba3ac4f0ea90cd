/* RsApplication: app actions (about, preferences, quit), accelerators, one window per activate. */
#include "config.h"

#include <glib/gi18n.h>

#include "rs-application.h"
#include "rs-preferences-window.h"
#include "rs-window.h"

struct _RsApplication {
    AdwApplication parent_instance;
};

G_DEFINE_FINAL_TYPE(RsApplication, rs_application, ADW_TYPE_APPLICATION)

static void show_about(GSimpleAction *action, GVariant *param, gpointer user_data)
{
    GtkApplication *app = GTK_APPLICATION(user_data);
    const char *developers[] = {"The ResDiT Studio authors", NULL};

    GtkWidget *about = adw_about_window_new();
    g_object_set(about, "application-name", _("ResDiT Studio"), "application-icon", APP_ID,
                 "developer-name", _("The ResDiT Studio authors"), "version", PACKAGE_VERSION,
                 "comments",
                 _("Generate 3K and 4K images with FLUX.1 and ResDiT, a training-free "
                   "high-resolution method."),
                 "website", "https://github.com/resdit/resdit-studio", "issue-url",
                 "https://github.com/resdit/resdit-studio/issues", "license-type",
                 GTK_LICENSE_GPL_3_0, "developers", developers,
                 /* Translators: your names, one per line */
                 "translator-credits", _("translator-credits"), NULL);
    GtkWindow *parent = gtk_application_get_active_window(app);
    if (parent != NULL)
        gtk_window_set_transient_for(GTK_WINDOW(about), parent);
    gtk_window_present(GTK_WINDOW(about));
}

static void show_preferences(GSimpleAction *action, GVariant *param, gpointer user_data)
{
    GtkWindow *parent = gtk_application_get_active_window(GTK_APPLICATION(user_data));
    gtk_window_present(GTK_WINDOW(rs_preferences_window_new(parent)));
}

/* Closes the windows as their close button would: a window with a job running asks first. */
static void quit(GSimpleAction *action, GVariant *param, gpointer user_data)
{
    GList *windows = g_list_copy(gtk_application_get_windows(GTK_APPLICATION(user_data)));
    for (GList *l = windows; l != NULL; l = l->next)
        g_object_ref(l->data);
    for (GList *l = windows; l != NULL; l = l->next)
        gtk_window_close(GTK_WINDOW(l->data));
    g_list_free_full(windows, g_object_unref);
}

/* A notification's click: back to the window (the last one used). */
static void show_window(GSimpleAction *action, GVariant *param, gpointer user_data)
{
    GtkApplication *app = GTK_APPLICATION(user_data);
    GtkWindow *window = gtk_application_get_active_window(app);
    if (window != NULL)
        gtk_window_present(window);
    else
        g_application_activate(G_APPLICATION(app));
}

static const GActionEntry app_actions[] = {
    {.name = "show-window", .activate = show_window},
    {.name = "about", .activate = show_about},
    {.name = "preferences", .activate = show_preferences},
    {.name = "quit", .activate = quit},
};

static void set_accels(GtkApplication *app)
{
    static const struct {
        const char *action;
        const char *accels[4];
    } accels[] = {
        {"app.quit", {"<Control>q", NULL}},
        {"window.close", {"<Control>w", NULL}},
        {"app.preferences", {"<Control>comma", NULL}},
        {"win.show-help-overlay", {"<Control>question", NULL}},
        {"win.generate", {"<Control>Return", NULL}},
        {"win.save-as", {"<Control>s", NULL}},
        {"win.open-image", {"<Control>o", NULL}},
        {"win.export", {"<Control><Shift>e", NULL}},
        {"win.fullscreen", {"F11", NULL}},
        {"win.show-history", {"F9", NULL}},
        {"win.search-history", {"<Control>f", NULL}},
        {"win.zoom-in", {"<Control>plus", "<Control>equal", NULL}},
        {"win.zoom-out", {"<Control>minus", NULL}},
        {"win.zoom-best-fit", {"<Control>0", NULL}},
        {"win.zoom-100", {"<Control>1", NULL}},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(accels); i++)
        gtk_application_set_accels_for_action(app, accels[i].action, accels[i].accels);
}

static void rs_application_startup(GApplication *app)
{
    G_APPLICATION_CLASS(rs_application_parent_class)->startup(app);
    g_action_map_add_action_entries(G_ACTION_MAP(app), app_actions, G_N_ELEMENTS(app_actions), app);
    set_accels(GTK_APPLICATION(app));
}

static void rs_application_activate(GApplication *app)
{
    GtkWindow *window = gtk_application_get_active_window(GTK_APPLICATION(app));
    if (window == NULL)
        window = GTK_WINDOW(rs_window_new(RS_APPLICATION(app)));
    gtk_window_present(window);
}

static void rs_application_class_init(RsApplicationClass *klass)
{
    GApplicationClass *app_class = G_APPLICATION_CLASS(klass);
    app_class->startup = rs_application_startup;
    app_class->activate = rs_application_activate;
}

static void rs_application_init(RsApplication *self)
{
}

RsApplication *rs_application_new(GApplicationFlags flags)
{
    /* The resource path stays the same for the .Devel id, so one GResource serves both. */
    return g_object_new(RS_TYPE_APPLICATION, "application-id", APP_ID, "flags", flags,
                        "resource-base-path", "/io/github/resdit/Studio", NULL);
}
