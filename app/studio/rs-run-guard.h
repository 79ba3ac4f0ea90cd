/* RsRunGuard: what a window does around a long engine job for the rest of the desktop.
 *
 * While a job runs it asks the session not to suspend (gtk_application_inhibit with
 * GTK_APPLICATION_INHIBIT_SUSPEND and a reason; the screen may still blank), and lets go when the
 * job ends, fails or is cancelled. When a job that ran longer than "notify-after" seconds ends
 * while its window is not the active one, it sends a desktop notification (GNotification through
 * the GApplication) whose click presents the window (app.show-window); the notification is
 * withdrawn once the window is active again. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define RS_TYPE_RUN_GUARD (rs_run_guard_get_type())
G_DECLARE_FINAL_TYPE(RsRunGuard, rs_run_guard, RS, RUN_GUARD, GObject)

#define RS_RUN_GUARD_NOTIFY_AFTER 10.0 /* seconds: shorter jobs end without a notification */
#define RS_RUN_GUARD_NOTIFICATION_ID "job-finished"

/* window must belong to a GtkApplication; the guard does not keep it alive. */
RsRunGuard *rs_run_guard_new(GtkWindow *window);

/* A job starts: suspend is inhibited until rs_run_guard_end. */
void rs_run_guard_begin(RsRunGuard *self);
/* The job has ended. title NULL: no notification (the user cancelled it); else title and body
 * are what the notification says, if the job was long and the window is not active. */
void rs_run_guard_end(RsRunGuard *self, const char *title, const char *body);

gboolean rs_run_guard_is_running(RsRunGuard *self);
/* The cookie of the inhibition held now, 0 when none (no job, or the session has no inhibitor
 * service). */
guint rs_run_guard_get_inhibit_cookie(RsRunGuard *self);

/* Signals: "notification-sent" (GNotification *) after g_application_send_notification. */

G_END_DECLS
