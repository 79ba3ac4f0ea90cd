#include "cpu_ops.h"

#include <cblas.h>
#include <string.h>

#include "config.h"

#include "resdit.h"

static gboolean cpu_tensor_alloc(RdBackend *be, RdTensor *t, int64_t rows, int64_t cols)
{
    size_t bytes = (size_t)(rows * cols) * sizeof(float);
    t->data = g_try_malloc(bytes ? bytes : 1);
    t->rows = rows;
    t->cols = cols;
    t->stride = cols;
    t->dtype = RD_F32;
    return t->data != NULL;
}

static void cpu_tensor_free(RdBackend *be, RdTensor *t)
{
    g_free(t->data);
    t->data = NULL;
}

static void cpu_upload(RdBackend *be, const float *host, RdTensor *dst)
{
    for (int64_t r = 0; r < dst->rows; r++)
        memcpy(&RD_AT(dst, r, 0), host + r * dst->cols, (size_t)dst->cols * sizeof(float));
}

static void cpu_download(RdBackend *be, const RdTensor *src, float *host)
{
    for (int64_t r = 0; r < src->rows; r++)
        memcpy(host + r * src->cols, &RD_AT(src, r, 0), (size_t)src->cols * sizeof(float));
}

static gboolean cpu_weight_prepare(RdBackend *be, RdWeight *w, GError **error)
{
    if (!w->host) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL, "Weight %s has no data",
                    w->name ? w->name : "(unnamed)");
        return FALSE;
    }
    return TRUE;
}

static void cpu_weight_release(RdBackend *be, RdWeight *w)
{
}

static void cpu_synchronize(RdBackend *be)
{
}

void cpu_copy(RdBackend *be, const RdTensor *src, RdTensor *dst)
{
    g_assert(src->rows == dst->rows && src->cols == dst->cols);
    for (int64_t r = 0; r < src->rows; r++)
        memmove(&RD_AT(dst, r, 0), &RD_AT(src, r, 0), (size_t)src->cols * sizeof(float));
}

static void cpu_destroy(RdBackend *be)
{
    g_free(be);
}

/* The CPU backend threads with OpenMP; a BLAS with its own thread pool would fight it for the
 * cores (both spin while waiting), so BLAS runs on one thread inside our parallel loops. */
static void blas_single_threaded(void)
{
#if HAVE_OPENBLAS_SET_NUM_THREADS
    openblas_set_num_threads(1);
#endif
}

RdBackend *rd_backend_cpu_new(void)
{
    blas_single_threaded();
    RdBackend *be = g_new0(RdBackend, 1);
    be->name = "cpu";
    be->tensor_alloc = cpu_tensor_alloc;
    be->tensor_free = cpu_tensor_free;
    be->table_alloc = cpu_tensor_alloc;
    be->upload = cpu_upload;
    be->download = cpu_download;
    be->weight_prepare = cpu_weight_prepare;
    be->weight_release = cpu_weight_release;
    be->synchronize = cpu_synchronize;
    be->linear = cpu_linear;
    be->layer_norm = cpu_layer_norm;
    be->rms_norm = cpu_rms_norm;
    be->modulate = cpu_modulate;
    be->gated_add = cpu_gated_add;
    be->mul = cpu_mul;
    be->fill = cpu_fill;
    be->scale_add = cpu_scale_add;
    be->unary = cpu_unary;
    be->copy = cpu_copy;
    be->rope = cpu_rope;
    be->attention = cpu_attention;
    be->grid_gather = cpu_grid_gather;
    be->grid_splice = cpu_grid_splice;
    be->spectral_fuse = cpu_spectral_fuse;
    be->conv2d = cpu_conv2d;
    be->conv2d_down2 = cpu_conv2d_down2;
    be->group_norm = cpu_group_norm;
    be->group_sums = cpu_group_sums;
    be->upsample_nearest2x = cpu_upsample_nearest2x;
    be->destroy = cpu_destroy;
    return be;
}
