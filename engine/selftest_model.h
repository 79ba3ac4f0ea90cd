/* The built-in self-test model: tiny FLUX-architecture weights (and a tiny VAE) generated
 * deterministically from Philox noise, serialised as safetensors into anonymous memory files
 * (memfd_create: never on disk) and opened by the ordinary loaders through /proc/self/fd. Its
 * images are noise-like; it exists so that every part of a job runs on any machine in seconds. */
#pragma once

#include <glib.h>

#include "pipeline-private.h"
#include "safetensors.h"

#define RD_SELFTEST_NAME "Self-test model (tiny random FLUX, built in)"

/* Collects f32 tensors and writes them as one safetensors image into a memory file. */
typedef struct RdMemoryCheckpoint RdMemoryCheckpoint;

RdMemoryCheckpoint *rd_memory_checkpoint_new(void);
/* A tensor of normal values * scale + offset, seeded by the tensor's name. */
void rd_memory_checkpoint_add_random(RdMemoryCheckpoint *ck, const char *name, int ndim,
                                     const int64_t *shape, float scale, float offset);
/* Writes the checkpoint into an anonymous memory file; returns its fd (-1 with error) and frees
 * ck. The file can be opened as /proc/self/fd/<fd> while the fd is open. */
int rd_memory_checkpoint_finish(RdMemoryCheckpoint *ck, const char *label, GError **error);
char *rd_memory_file_path(int fd);

/* The self-test parts, each as a memory file (fd). */
int rd_selftest_transformer(GError **error);
int rd_selftest_vae(GError **error);

/* The self-test model without its text encoders (tests give embeddings directly); takes the
 * backend. */
ResditModel *rd_selftest_model_new(RdBackend *be, GError **error);

/* Its tiny text encoders (CLIP with the bundled vocabulary, T5 with a character vocabulary);
 * the memory files are recorded in the model. */
typedef struct RdTextEncoders RdTextEncoders;
RdTextEncoders *rd_selftest_text_encoders(ResditModel *model, GError **error);

/* Sizes of the self-test model (the text encoders must produce these). */
#define RD_SELFTEST_TXT_DIM 32
#define RD_SELFTEST_VEC_DIM 32
