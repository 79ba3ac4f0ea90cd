/* VAEs with random weights, as memory files, for benchmarks without the real weights: FLUX's
 * decoder (16 latent channels; 512/512/256/128 channels up the levels, 3 resnets each, a mid
 * block with attention at 512, GroupNorm of 32 groups), and the layer builders other benches
 * use for their own layouts (diffusers names). */
#pragma once

#include <glib.h>

#include "selftest_model.h"
#include "vae.h"

/* The decoder's safetensors as a memory file (fd, -1 with error); open it as
 * rd_memory_file_path(fd) while the fd is open. *defaults: the config to load it with. */
int random_flux_vae_fd(RdVaeConfig *defaults, GError **error);

/* name.weight [out, in, k, k] ~ 1/sqrt(in k k), name.bias [out]. */
void random_vae_add_conv(RdMemoryCheckpoint *ck, const char *name, int64_t out, int64_t in, int k);
/* A GroupNorm: weight around 1, bias. */
void random_vae_add_norm(RdMemoryCheckpoint *ck, const char *name, int64_t channels);
/* A linear layer [rows, cols] ~ 1/sqrt(cols), bias. */
void random_vae_add_linear(RdMemoryCheckpoint *ck, const char *name, int64_t rows, int64_t cols);
/* A resnet block prefix.{norm1,conv1,norm2,conv2[,conv_shortcut]}. */
void random_vae_add_resnet(RdMemoryCheckpoint *ck, const char *prefix, int cin, int cout);
/* part.mid_block: resnet, attention (group_norm, to_q/k/v, to_out.0), resnet, at c channels. */
void random_vae_add_mid(RdMemoryCheckpoint *ck, const char *part, int c);
