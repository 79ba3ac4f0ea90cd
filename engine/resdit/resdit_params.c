/* Defaults and names of the ResDiT parameters (docs/METHOD.md lists them). */
#include <string.h>

#include "resdit.h"

static const char *const mode_names[] = {
    [RESDIT_MODE_DIRECT] = "direct",
    [RESDIT_MODE_GLOBAL] = "global",
    [RESDIT_MODE_LOCAL] = "local",
    [RESDIT_MODE_FUSED] = "fused",
};

const char *resdit_mode_name(ResditMode mode)
{
    return (unsigned)mode < G_N_ELEMENTS(mode_names) ? mode_names[mode] : "unknown";
}

gboolean resdit_mode_from_name(const char *name, ResditMode *mode)
{
    for (unsigned i = 0; i < G_N_ELEMENTS(mode_names); i++)
        if (g_strcmp0(name, mode_names[i]) == 0) {
            *mode = (ResditMode)i;
            return TRUE;
        }
    return FALSE;
}

void resdit_method_params_init(ResditMethodParams *p)
{
    memset(p, 0, sizeof *p);
    p->base_area = 4096; /* FLUX: 1024 x 1024 px = 64 x 64 tokens */
    p->patch = 64;
    p->sigma = 0.0; /* patch / 4 */
    p->cutoff = 0.2;
}
