/* CUDA-only extras beyond the RdBackend table, for tests, benchmarks and memory reports. Only
 * valid on a backend made by rd_backend_cuda_new, and only declared when HAVE_CUDA is 1. */
#pragma once

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "backend.h"

/* A [rows, cols] f32 tensor in device memory (RoPE cos/sin tables, splice weights). */
gboolean rd_cuda_tensor_alloc_f32(RdBackend *be, RdTensor *t, int64_t rows, int64_t cols);
/* Highest device memory in use (the pool's tensors, weights and work areas, plus what cuBLAS and
 * cuFFT allocated themselves) since the last reset. Synchronises.
 */
size_t rd_cuda_peak_bytes(RdBackend *be);
void rd_cuda_reset_peak(RdBackend *be);
/* "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB)"; free with g_free. */
char *rd_cuda_device_name(RdBackend *be);
/* Upper bound of conv2d's im2col scratch per band (default 128 MiB); tests make it small so one
 * convolution runs in several bands. */
void rd_cuda_set_im2col_bytes(RdBackend *be, size_t bytes);

#ifdef __cplusplus
}
#endif
