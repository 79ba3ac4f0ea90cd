// CUDA backend entry points. Device probing lives here; the op table is filled in by the
// kernels of this folder.
#include <cuda_runtime.h>

extern "C" {
#include "backend.h"
#include "resdit.h"
}

static bool probe_device(char **reason)
{
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
        if (reason)
            *reason = g_strdup_printf("CUDA is not usable: %s (is the NVIDIA driver loaded and "
                                      "/dev/nvidia-uvm present?)",
                                      cudaGetErrorString(err));
        return false;
    }
    if (count == 0) {
        if (reason)
            *reason = g_strdup("no CUDA device found");
        return false;
    }
    return true;
}

extern "C" gboolean rd_backend_cuda_available(char **reason)
{
    return probe_device(reason) ? TRUE : FALSE;
}

extern "C" RdBackend *rd_backend_cuda_new(GError **error)
{
    char *reason = NULL;
    if (!probe_device(&reason)) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_BACKEND, "%s", reason);
        g_free(reason);
        return NULL;
    }
    g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_BACKEND,
                "the CUDA op table is not complete in this build");
    return NULL;
}
