/* Activation tensors of one encoder pass, allocated on the backend, counted, freed together. */
#pragma once

#include <gio/gio.h>

#include "backend.h"

typedef struct {
    RdBackend *backend;
    RdTensor *tensors[16];
    int count;
    size_t bytes;
} RdScratch;

void rd_scratch_init(RdScratch *s, RdBackend *backend);
/* FALSE with RESDIT_ERROR_OUT_OF_MEMORY naming `what` when the backend has no room. */
gboolean rd_scratch_alloc(RdScratch *s, RdTensor *t, int64_t rows, int64_t cols, const char *what,
                          GError **error);
void rd_scratch_free(RdScratch *s);
