/* Fuzz target for the safetensors header parser: any bytes must give TRUE or a GError, never a
 * crash. Built for libFuzzer with -Dfuzzers=true (clang), and linked with smoke-driver.c for a
 * short run in the unit suite. */
#include <stddef.h>
#include <stdint.h>

#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* First 4 bytes: the data section size the header is checked against. */
    size_t data_size = 0;
    if (size >= 4) {
        data_size = (size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 |
                    (size_t)data[3] << 24;
        data += 4;
        size -= 4;
    }
    GPtrArray *tensors = g_ptr_array_new();
    GError *error = NULL;
    gboolean ok = rd_safetensors_parse_header((const char *)data, size, data_size, "fuzz",
                                              tensors, &error);
    g_assert(ok == (error == NULL));
    g_clear_error(&error);
    for (guint i = 0; i < tensors->len; i++) {
        RdTensorInfo *t = tensors->pdata[i];
        g_free(t->name);
        g_free(t);
    }
    g_ptr_array_free(tensors, TRUE);
    return 0;
}
