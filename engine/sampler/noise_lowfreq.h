/* Low-frequency noise (beyond the paper; docs/METHOD.md "Low-frequency noise"): above the base
 * size, the initial noise's frequencies that the base token grid can hold are weaker per element
 * than in a base-size draw (one base position holds (rows / base_rows) x (cols / base_cols) tokens
 * of independent noise, whose mean has that much less variance). This raises that band to a share
 * of a base-size draw's strength and lowers the rest so that every element keeps variance 1 on
 * average.
 *
 * On the patchified noise [rows, cols, channels] (token-major), per channel, with F its 2-D DFT
 * over the token grid, the band is every frequency (ky, kx) (integers in fftfreq order) with
 * |ky| <= base_rows / 2 and |kx| <= base_cols / 2 (at the base size: every bin); p = (the band's
 * bins) / (rows cols). Where strength^2 <= p (the band is already that strong) or strength = 0 the
 * noise is left as it is; otherwise the band is scaled by a = strength / sqrt(p) and the rest by
 * b = sqrt((1 - strength^2) / (1 - p)). strength is in [0, 1]: 1 puts all of the variance in the
 * band (a base-size noise, interpolated). */
#pragma once

#include <glib.h>

/* The band's share p of the token grid's frequencies. */
double rd_noise_lowfreq_share(int rows, int cols, int base_rows, int base_cols);
/* In place on noise [rows, cols, channels]; returns FALSE (noise unchanged) where nothing is to
 * do. */
gboolean rd_noise_lowfreq(float *noise, int rows, int cols, int channels, int base_rows,
                          int base_cols, double strength);
