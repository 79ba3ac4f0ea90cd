/* A VAE decoder with FLUX's layout (16 latent channels; 512/512/256/128 channels up the levels,
 * 3 resnets each, a mid block with attention at 512, GroupNorm of 32 groups) and random weights,
 * as a memory file, for benchmarks of the 4K decode without the real weights. */
#pragma once

#include <glib.h>

#include "vae.h"

/* The decoder's safetensors as a memory file (fd, -1 with error); open it as
 * rd_memory_file_path(fd) while the fd is open. *defaults: the config to load it with. */
int random_flux_vae_fd(RdVaeConfig *defaults, GError **error);
