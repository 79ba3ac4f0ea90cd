/* ui suite: around a job the window inhibits suspend (a cookie from the session manager while it
 * runs, none after it ends, fails or is cancelled) and, when a long job ends while the window is
 * not active, sends a desktop notification whose click presents the window. */
#include "config.h"

#include <string.h>

#include "fake-desktop.h"
#include "resdit.h"
#include "rs-run-guard.h"
#include "rs-window.h"
#include "ui-test-util.h"

typedef struct {
    UiStudio studio;
    RsRunGuard *guard;
    GNotification *notification;
    int notifications;
} Fixture;

static void on_notification_sent(RsRunGuard *guard, GNotification *notification, Fixture *f)
{
    f->notifications++;
    g_set_object(&f->notification, notification);
}

static void fixture_set_up(Fixture *f, gconstpointer data)
{
    ui_studio_set_up(&f->studio, data);
    g_object_set(f->studio.job, "prompt", "run guard", "random-seed", TRUE, "aspect", "1:1",
                 "size-preset", "512", NULL);
    g_object_set(f->studio.job, "steps", 2, "global-steps", 0, "local-steps", 0, NULL);
    f->guard = rs_window_get_run_guard(f->studio.window);
    g_signal_connect(f->guard, "notification-sent", G_CALLBACK(on_notification_sent), f);
}

static void fixture_tear_down(Fixture *f, gconstpointer data)
{
    g_clear_object(&f->notification);
    ui_studio_tear_down(&f->studio, data);
}

static void start_job(Fixture *f)
{
    f->studio.finished = FALSE;
    g_assert_true(gtk_widget_activate_action(GTK_WIDGET(f->studio.window), "win.generate", NULL));
}

static void wait_job(Fixture *f)
{
    g_assert_true(ui_test_wait_until(ui_studio_job_finished, &f->studio, 90000));
}

static gboolean is_inactive(gpointer window)
{
    return !gtk_window_is_active(window);
}

static gboolean is_active(gpointer window)
{
    return gtk_window_is_active(window);
}

/* Another window takes the focus, as when the user works elsewhere during a long job. */
static GtkWindow *look_away(Fixture *f)
{
    GtkWindow *other = GTK_WINDOW(gtk_window_new());
    gtk_window_set_default_size(other, 200, 100);
    ui_test_present(other);
    g_assert_true(ui_test_wait_until(is_inactive, f->studio.window, 5000));
    return other;
}

/* Uninhibit is an asynchronous call: the session manager sees it a moment later. */
static gboolean no_inhibitions(gpointer data)
{
    return fake_desktop_n_inhibitions() == 0;
}

static gboolean notification_arrived(gpointer data)
{
    return fake_desktop_n_notifications() > GPOINTER_TO_UINT(data);
}

/* The desktop has seen more withdrawals than data (the count before); the withdrawal travels over
 * D-Bus, so a busy machine needs more than a fixed spin. */
static gboolean notification_closed(gpointer data)
{
    return fake_desktop_n_closed() > GPOINTER_TO_UINT(data);
}

/* While a job runs the session holds one suspend inhibition with a reason; none after. */
static void test_inhibit(Fixture *f, gconstpointer data)
{
    g_assert_cmpuint(rs_run_guard_get_inhibit_cookie(f->guard), ==, 0);
    g_assert_cmpuint(fake_desktop_n_inhibitions(), ==, 0);
    start_job(f);
    g_assert_true(rs_run_guard_is_running(f->guard));
    g_assert_cmpuint(rs_run_guard_get_inhibit_cookie(f->guard), !=, 0);
    g_assert_cmpuint(fake_desktop_n_inhibitions(), ==, 1);
    g_assert_cmpuint(fake_desktop_last_inhibit_flags() & GTK_APPLICATION_INHIBIT_SUSPEND, !=, 0);
    char *reason = fake_desktop_last_inhibit_reason();
    g_assert_cmpstr(reason, ==, "Generating an image");
    g_free(reason);
    wait_job(f);
    g_assert_false(rs_run_guard_is_running(f->guard));
    g_assert_cmpuint(rs_run_guard_get_inhibit_cookie(f->guard), ==, 0);
    g_assert_true(ui_test_wait_until(no_inhibitions, NULL, 5000));
    /* the window was active: no notification */
    g_assert_cmpint(f->notifications, ==, 0);
}

/* A cancelled job lets go of the inhibition too, and the user who cancelled it is not told. */
static void test_inhibit_cancel(Fixture *f, gconstpointer data)
{
    g_object_set(f->guard, "notify-after", 0.0, NULL);
    g_object_set(f->studio.job, "custom-width", 1024, "custom-height", 1024, "aspect", "custom",
                 "steps", 40, NULL);
    start_job(f);
    g_assert_cmpuint(fake_desktop_n_inhibitions(), ==, 1);
    ui_test_spin(300);
    g_assert_true(gtk_widget_activate_action(GTK_WIDGET(f->studio.window), "win.cancel", NULL));
    wait_job(f);
    g_assert_cmpuint(rs_run_guard_get_inhibit_cookie(f->guard), ==, 0);
    g_assert_true(ui_test_wait_until(no_inhibitions, NULL, 5000));
    g_assert_cmpint(f->notifications, ==, 0);
}

/* A job longer than notify-after that ends while the window is not active: a notification that
 * reaches the desktop; clicking it brings the window back, which withdraws it. */
static void test_notification(Fixture *f, gconstpointer data)
{
    GtkWindow *other = look_away(f);
    guint before = fake_desktop_n_notifications();

    /* a job shorter than notify-after: nothing (an hour here, so that a loaded machine cannot
     * make this tiny job count as long; the default is 10 s) */
    double notify_after = 0;
    g_object_get(f->guard, "notify-after", &notify_after, NULL);
    g_assert_cmpfloat(notify_after, ==, RS_RUN_GUARD_NOTIFY_AFTER);
    g_assert_cmpfloat(RS_RUN_GUARD_NOTIFY_AFTER, ==, 10.0);
    g_object_set(f->guard, "notify-after", 3600.0, NULL);
    start_job(f);
    wait_job(f);
    ui_test_spin(200);
    g_assert_cmpint(f->notifications, ==, 0);
    g_assert_cmpuint(fake_desktop_n_notifications(), ==, before);

    /* a job that counts as long */
    g_object_set(f->guard, "notify-after", 0.0, NULL);
    start_job(f);
    wait_job(f);
    g_assert_cmpint(f->notifications, ==, 1);
    g_assert_true(ui_test_wait_until(notification_arrived, GUINT_TO_POINTER(before), 5000));
    char *summary = fake_desktop_last_summary(), *body = fake_desktop_last_body();
    g_assert_cmpstr(summary, ==, "Image Ready");
    g_assert_nonnull(strstr(body, "seed"));
    g_free(summary);
    g_free(body);

    /* Back at the window (without the notification): it is withdrawn. */
    guint closed = fake_desktop_n_closed();
    gtk_window_present(GTK_WINDOW(f->studio.window));
    g_assert_true(ui_test_wait_until(is_active, f->studio.window, 5000));
    g_assert_true(ui_test_wait_until(notification_closed, GUINT_TO_POINTER(closed), 5000));
    ui_test_spin(200);
    g_assert_cmpuint(fake_desktop_n_closed(), ==, closed + 1);

    /* Away again; this time the notification's click presents the window. */
    gtk_window_present(other);
    g_assert_true(ui_test_wait_until(is_inactive, f->studio.window, 5000));
    start_job(f);
    wait_job(f);
    g_assert_cmpint(f->notifications, ==, 2);
    g_assert_true(ui_test_wait_until(notification_arrived, GUINT_TO_POINTER(before + 1), 5000));
    fake_desktop_click_last();
    g_assert_true(ui_test_wait_until(is_active, f->studio.window, 5000));
    gtk_window_destroy(other);
}

/* An active window gets no notification however long the job. */
static void test_no_notification_when_active(Fixture *f, gconstpointer data)
{
    g_object_set(f->guard, "notify-after", 0.0, NULL);
    g_assert_true(gtk_window_is_active(GTK_WINDOW(f->studio.window)));
    guint before = fake_desktop_n_notifications();
    start_job(f);
    wait_job(f);
    ui_test_spin(200);
    g_assert_cmpint(f->notifications, ==, 0);
    g_assert_cmpuint(fake_desktop_n_notifications(), ==, before);
}

int main(int argc, char **argv)
{
    ui_test_init(&argc, &argv);
    fake_desktop_start(); /* before the application looks for the session manager */
    g_test_add("/run-guard/inhibit", Fixture, NULL, fixture_set_up, test_inhibit,
               fixture_tear_down);
    g_test_add("/run-guard/inhibit-cancel", Fixture, NULL, fixture_set_up, test_inhibit_cancel,
               fixture_tear_down);
    g_test_add("/run-guard/no-notification-when-active", Fixture, NULL, fixture_set_up,
               test_no_notification_when_active, fixture_tear_down);
    g_test_add("/run-guard/notification", Fixture, NULL, fixture_set_up, test_notification,
               fixture_tear_down);
    return g_test_run();
}
