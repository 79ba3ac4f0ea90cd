/* Fullscreen view: see rs-fullscreen.h. */
#include "rs-fullscreen.h"

#define MAX_FLAPS 4

typedef struct {
    AdwFlap *flaps[MAX_FLAPS];
    gboolean revealed[MAX_FLAPS]; /* before fullscreen */
    int n_flaps;
    gboolean folded;
} Fullscreen;

static void free_data(gpointer data, GClosure *closure)
{
    g_free(data);
}

static void on_fullscreened(GtkWindow *window, GParamSpec *pspec, Fullscreen *fs)
{
    gboolean fullscreen = gtk_window_is_fullscreen(window);
    if (fullscreen && !fs->folded) {
        for (int i = 0; i < fs->n_flaps; i++) {
            fs->revealed[i] = adw_flap_get_reveal_flap(fs->flaps[i]);
            adw_flap_set_reveal_flap(fs->flaps[i], FALSE);
        }
        fs->folded = TRUE;
    } else if (!fullscreen && fs->folded) {
        for (int i = 0; i < fs->n_flaps; i++)
            if (fs->revealed[i])
                adw_flap_set_reveal_flap(fs->flaps[i], TRUE);
        fs->folded = FALSE;
    }
}

void rs_fullscreen_attach(GtkWindow *window, AdwFlap *const *flaps, int n_flaps)
{
    g_return_if_fail(n_flaps <= MAX_FLAPS);
    Fullscreen *fs = g_new0(Fullscreen, 1);
    for (int i = 0; i < n_flaps; i++)
        fs->flaps[i] = flaps[i]; /* children of window: they live as long as it */
    fs->n_flaps = n_flaps;
    g_signal_connect_data(window, "notify::fullscreened", G_CALLBACK(on_fullscreened), fs,
                          free_data, 0);
}
