/* Stand-ins for the desktop's D-Bus services on the test's own session bus (the ui suite runs in
 * dbus-run-session, where none runs): org.gnome.SessionManager, so that gtk_application_inhibit
 * has someone to ask, and org.freedesktop.Notifications, so that GApplication's notifications
 * arrive somewhere the test can read them and can be "clicked". They answer on a thread of their
 * own (GTK calls Inhibit synchronously from the main thread). Start them before the application
 * starts up (ui_test_application). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

void fake_desktop_start(void);

/* Inhibitions held now, the flags and reason of the last Inhibit. */
guint fake_desktop_n_inhibitions(void);
guint fake_desktop_last_inhibit_flags(void);
char *fake_desktop_last_inhibit_reason(void);

/* Notifications received (Notify calls) and closed (CloseNotification); the summary and body of
 * the last one. */
guint fake_desktop_n_notifications(void);
guint fake_desktop_n_closed(void);
char *fake_desktop_last_summary(void);
char *fake_desktop_last_body(void);
/* Clicks the last notification (emits ActionInvoked with its default action). */
void fake_desktop_click_last(void);

G_END_DECLS
