// Rotary embedding on adjacent pairs (2j, 2j+1) of every head; cos/sin tables are [rows, D/2] in
// f32 (or bf16), the rotation is done in f32.
#include "rope.cuh"

void cuda_rope(RdBackend *be, RdTensor *x, const RdTensor *cos, const RdTensor *sin, int heads,
               int head_dim)
{
    g_assert(x->cols == (int64_t)heads * head_dim && cos->cols == head_dim / 2);
    g_assert(sin->cols == cos->cols && cos->rows == x->rows && sin->rows == x->rows);
    const int pairs = head_dim / 2;
    for_each(cuda_backend(be), x->rows, (int64_t)heads * pairs,
             Rope{dev_tensor(x), dev_tensor(cos), dev_tensor(sin), pairs});
}
