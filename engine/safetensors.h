/* safetensors files: a checked, mmap'd reader (single files and sharded checkpoints) and a writer. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "dtype.h"

#define RD_MAX_DIMS 8

typedef struct {
    char *name;
    RdDType dtype;
    int ndim;
    int64_t shape[RD_MAX_DIMS];
    const void *data; /* inside the mapping */
    size_t nbytes;
    const char *file; /* path of the file that holds it */
} RdTensorInfo;

typedef struct RdSafetensors RdSafetensors;

/* Opens a .safetensors file, a *.safetensors.index.json of a sharded checkpoint, or a folder that
 * holds exactly one of either (a diffusers component folder). */
RdSafetensors *rd_safetensors_open(const char *path, GError **error);
void rd_safetensors_close(RdSafetensors *st);
const char *rd_safetensors_path(const RdSafetensors *st);
guint rd_safetensors_count(const RdSafetensors *st);
const RdTensorInfo *rd_safetensors_get(const RdSafetensors *st, guint index);
const RdTensorInfo *rd_safetensors_find(const RdSafetensors *st, const char *name);
int64_t rd_tensor_info_numel(const RdTensorInfo *info);
/* A string of the header's "__metadata__" object (of the first file, for a sharded checkpoint),
 * or NULL. */
char *rd_safetensors_metadata(const RdSafetensors *st, const char *key);

/* Parses and checks a header (the JSON after the 8-byte length) against a data section of
 * data_size bytes; fills tensors (RdTensorInfo with data = offset from the data start, cast).
 * Exposed for the fuzzer and the tests. */
gboolean rd_safetensors_parse_header(const char *json, size_t json_len, size_t data_size,
                                     const char *file_name, GPtrArray *tensors, GError **error);

/* Writer: collect tensors, then write atomically (temporary file + rename). */
typedef struct RdSafetensorsWriter RdSafetensorsWriter;
RdSafetensorsWriter *rd_safetensors_writer_new(void);
void rd_safetensors_writer_add(RdSafetensorsWriter *w, const char *name, RdDType dtype, int ndim,
                               const int64_t *shape, const void *data);
/* A "__metadata__" string entry of the file to write. */
void rd_safetensors_writer_set_metadata(RdSafetensorsWriter *w, const char *key, const char *value);
gboolean rd_safetensors_writer_save(RdSafetensorsWriter *w, const char *path, GError **error);
void rd_safetensors_writer_free(RdSafetensorsWriter *w);
