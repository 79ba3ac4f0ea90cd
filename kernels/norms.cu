// LayerNorm and RMSNorm ops (kernels in norms.cuh).
#include "norms.cuh"

void cuda_layer_norm(RdBackend *be, const RdTensor *x, const RdWeight *weight, const RdWeight *bias,
                     float eps, RdTensor *y)
{
    g_assert(x->rows == y->rows && x->cols == y->cols);
    g_assert(!weight || weight->rows * weight->cols == x->cols);
    g_assert(!bias || bias->rows * bias->cols == x->cols);
    if (x->rows == 0 || x->cols == 0)
        return;
    const bf16 *g = weight ? weight_device(weight) : NULL;
    const bf16 *b = bias ? weight_device(bias) : NULL;
    layer_norm_kernel<<<warp_grid(x->rows), 256, 0, cuda_backend(be)->stream>>>(dev_tensor(x), g, b,
                                                                                eps, dev_tensor(y));
    launchCheck();
}

void cuda_rms_norm(RdBackend *be, const RdTensor *x, const RdWeight *weight, int group, float eps,
                   RdTensor *y)
{
    g_assert(x->rows == y->rows && x->cols == y->cols && group > 0 && x->cols % group == 0);
    g_assert(!weight || weight->rows * weight->cols == group);
    if (x->rows == 0 || x->cols == 0)
        return;
    const bf16 *g = weight ? weight_device(weight) : NULL;
    rms_norm_kernel<<<warp_grid(x->rows * (x->cols / group)), 256, 0, cuda_backend(be)->stream>>>(
        dev_tensor(x), g, group, eps, dev_tensor(y));
    launchCheck();
}
