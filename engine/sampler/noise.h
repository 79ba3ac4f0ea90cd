/* The initial noise: our own counter-based generator, identical on every backend for a seed.
 *
 * Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011) with
 * key = (seed & 0xffffffff, seed >> 32). Element i of the noise (latent in [16, H/8, W/8] order,
 * row-major) comes from counter block q = i / 4: counter = (q & 0xffffffff, q >> 32, 0, 0) gives
 * four 32-bit words x0..x3. Each word becomes a uniform u = (x + 0.5) / 2^32 in (0, 1), and each
 * pair (u0, u1), (u2, u3) a pair of standard normals by Box-Muller in double precision:
 * r = sqrt(-2 ln u_a), z_a = r cos(2 pi u_b), z_b = r sin(2 pi u_b). Elements 4q .. 4q+3 take
 * z0, z1, z2, z3, rounded to float. The noise is always made on the host, so every backend starts
 * from the same bits. */
#pragma once

#include <glib.h>
#include <stdint.h>

/* One Philox4x32-10 block. */
void rd_philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]);
/* n standard normal values for seed, as described above. */
void rd_noise_normal(guint64 seed, float *out, size_t n);
/* A seed from the system's entropy (for "random seed"). */
guint64 rd_noise_random_seed(void);
