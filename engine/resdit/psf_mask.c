#include "psf_mask.h"

#include <math.h>

/* Bin k of an n-point FFT as a signed frequency (numpy's fftfreq(n) * n), over n / 2. */
static double normalised_frequency(int k, int n)
{
    if (n == 1)
        return 0.0;
    int signed_k = k < (n + 1) / 2 ? k : k - n;
    return (double)signed_k / (n / 2.0);
}

gboolean resdit_psf_low_pass(int ky, int kx, int h, int w, double cutoff)
{
    double fy = normalised_frequency(ky, h), fx = normalised_frequency(kx, w);
    return sqrt(fy * fy + fx * fx) < cutoff;
}

ResditPsfMaskKind resdit_psf_mask_kind(int h, int w, double cutoff)
{
    long ones = 0;
    for (int ky = 0; ky < h; ky++)
        for (int kx = 0; kx < w; kx++)
            ones += resdit_psf_low_pass(ky, kx, h, w, cutoff);
    return ones == 0 ? RESDIT_PSF_MASK_NONE
           : ones == (long)h * w ? RESDIT_PSF_MASK_ALL
                                 : RESDIT_PSF_MASK_MIXED;
}
