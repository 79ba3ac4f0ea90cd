/* Text the window shows about a running or failed job. */
#include "rs-job-text.h"

#include <glib/gi18n.h>

const char *rs_phase_label(ResditPhase phase)
{
    switch (phase) {
    case RESDIT_PHASE_ENCODING:
        return _("Encoding the prompt");
    case RESDIT_PHASE_GLOBAL:
        return _("Global");
    case RESDIT_PHASE_FUSED:
        return _("Fused");
    case RESDIT_PHASE_LOCAL:
        return _("Local");
    case RESDIT_PHASE_DIRECT:
        return _("Direct");
    default:
        return _("Decoding");
    }
}

static char *format_seconds(double seconds)
{
    int s = (int)(seconds + 0.5);
    if (s >= 3600)
        return g_strdup_printf("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
    return g_strdup_printf("%d:%02d", s / 60, s % 60);
}

char *rs_progress_text(const ResditProgress *progress)
{
    char *elapsed = format_seconds(progress->elapsed);
    char *text;
    if (progress->phase == RESDIT_PHASE_ENCODING) {
        /* Translators: the phase and the elapsed time (m:ss) */
        text = g_strdup_printf(_("%s · %s elapsed"), _("Encoding the prompt"), elapsed);
    } else if (progress->phase == RESDIT_PHASE_DECODING) {
        text = g_strdup_printf(_("%s · %s elapsed"), _("Decoding"), elapsed);
    } else if (progress->eta >= 0) {
        char *eta = format_seconds(progress->eta);
        /* Translators: step k of n, the phase, elapsed and remaining time (m:ss) */
        text = g_strdup_printf(_("Step %d of %d · %s · %s elapsed · about %s left"), progress->step,
                               progress->n_steps, rs_phase_label(progress->phase), elapsed, eta);
        g_free(eta);
    } else {
        text = g_strdup_printf(_("Step %d of %d · %s · %s elapsed"), progress->step,
                               progress->n_steps, rs_phase_label(progress->phase), elapsed);
    }
    g_free(elapsed);
    return text;
}

char *rs_waiting_text(gboolean loading_model, double elapsed)
{
    char *time = format_seconds(elapsed);
    char *text = g_strdup_printf(_("%s · %s elapsed"),
                                 loading_model ? _("Loading the model") : _("Starting"), time);
    g_free(time);
    return text;
}

const char *rs_error_next_step(const GError *error)
{
    if (error->domain != RESDIT_ERROR)
        return _("Check the file and folder permissions, then try again.");
    switch (error->code) {
    case RESDIT_ERROR_OUT_OF_MEMORY:
        return _("Choose a smaller size, or close other programs that use a lot of memory.");
    case RESDIT_ERROR_MODEL:
    case RESDIT_ERROR_FORMAT:
    case RESDIT_ERROR_TOKENIZER:
        return _("Check that the model folder is complete, or choose another model.");
    case RESDIT_ERROR_INVALID_ARGUMENT:
        return _("Change the parameters named above and try again.");
    case RESDIT_ERROR_BACKEND:
        return _("Choose the processor (CPU) backend in Preferences, or check the GPU driver.");
    default:
        return _("Check the output folder in Preferences and try again.");
    }
}

char *rs_output_folder(const char *setting)
{
    if (setting != NULL && setting[0] != '\0')
        return g_strdup(setting);
    const char *pictures = g_get_user_special_dir(G_USER_DIRECTORY_PICTURES);
    if (pictures != NULL)
        return g_build_filename(pictures, "ResDiT Studio", NULL);
    return g_build_filename(g_get_home_dir(), "Pictures", "ResDiT Studio", NULL);
}
