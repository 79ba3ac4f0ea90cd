/* The PSF low-pass mask M (docs/METHOD.md): M = 1 where sqrt(fy^2 + fx^2) < cutoff, with each
 * axis' integer frequency in fftfreq order normalised so that 1.0 is Nyquist. */
#pragma once

#include <glib.h>

gboolean resdit_psf_low_pass(int ky, int kx, int h, int w, double cutoff);

typedef enum {
    RESDIT_PSF_MASK_NONE,  /* no bin kept from the global branch: fusion returns the local one */
    RESDIT_PSF_MASK_ALL,   /* every bin: fusion returns the global branch */
    RESDIT_PSF_MASK_MIXED,
} ResditPsfMaskKind;

ResditPsfMaskKind resdit_psf_mask_kind(int h, int w, double cutoff);
