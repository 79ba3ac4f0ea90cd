/* Helpers of the gpu suite: every CUDA op is run next to the CPU reference on the same bf16-exact
 * random inputs, GPU outputs are poisoned with NaN first, and every element is compared. */
#pragma once

#include "backend.h"
#include "test-util.h"

/* g_test_init, then exit 77 (meson's skip code) with the reason printed when no CUDA backend is
 * usable: not built (HAVE_CUDA 0), no driver, no device. */
void gu_init_or_skip(int *argc, char ***argv);

RdBackend *gu_cpu(void);
RdBackend *gu_gpu(void);

/* A matrix with the same values on both backends. */
typedef struct {
    int64_t rows, cols;
    float *host; /* the values both copies started from */
    RdTensor cpu, gpu;
} GuMat;

/* Uniform values in [lo, hi) rounded to bf16, so both backends see exactly the same inputs. */
GuMat gu_mat_random(int64_t rows, int64_t cols, float lo, float hi, guint32 seed);
/* An output: NaN on both backends. */
GuMat gu_mat_poisoned(int64_t rows, int64_t cols);
/* The same sub-matrix view of both copies. */
GuMat gu_mat_view(const GuMat *m, int64_t row0, int64_t rows, int64_t col0, int64_t cols);
/* Downloads both copies and asserts |gpu - cpu| <= tol + |cpu| * eps for every element. */
void gu_mat_check(const char *what, const GuMat *m, float tol, float eps);
/* Downloads the GPU copy (rows * cols floats, g_free). */
float *gu_mat_download_gpu(const GuMat *m);
void gu_mat_free(GuMat *m);

/* A weight stored in `dtype` (values from f32, narrowed), prepared on both backends. */
typedef struct {
    void *data;
    RdWeight cpu, gpu;
} GuWeight;

GuWeight gu_weight_from_f32(RdDType dtype, const float *values, int64_t rows, int64_t cols,
                            const char *name);
/* A weight from raw bytes of its dtype (copied). */
GuWeight gu_weight_from_bytes(RdDType dtype, const void *bytes, int64_t rows, int64_t cols,
                              const char *name);
void gu_weight_free(GuWeight *w);

float gu_round_bf16(float v);
