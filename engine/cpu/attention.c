/* Blocked attention with an online softmax: a block of queries walks over blocks of keys, keeping
 * a running maximum and sum, so the full score matrix never exists (65 536 tokens fit). The block
 * products go through CBLAS, single-threaded inside the OpenMP loop over (head, query block). */
#include "cpu_ops.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#define Q_BLOCK 64
#define K_BLOCK 256

typedef struct {
    const RdTensor *q, *k, *v;
    RdTensor *out;
    int head_dim;
    float scale;
    const RdAttentionExtras *extras;
} AttentionJob;

/* Masks and biases one block of scores, then folds it into the running softmax of each row:
 * scores become probabilities, acc rows are rescaled by the change of maximum. */
static void online_softmax_block(const AttentionJob *job, int head, int64_t q0, int nq,
                                 int64_t k0, int kb, float *scores, float *acc, float *row_max,
                                 float *row_sum)
{
    const int D = job->head_dim;
    const gboolean causal = job->extras && job->extras->causal;
    const RdTensor *bias = job->extras ? job->extras->bias : NULL;
    for (int i = 0; i < nq; i++) {
        float *s = scores + (int64_t)i * K_BLOCK;
        float block_max = -INFINITY;
        for (int j = 0; j < kb; j++) {
            if (bias)
                s[j] += RD_AT(bias, (int64_t)head * job->q->rows + q0 + i, k0 + j);
            if (causal && k0 + j > q0 + i)
                s[j] = -INFINITY;
            block_max = fmaxf(block_max, s[j]);
        }
        float new_max = fmaxf(row_max[i], block_max);
        float correction = new_max == -INFINITY ? 1.0f : expf(row_max[i] - new_max);
        float sum = 0.0f;
        for (int j = 0; j < kb; j++) {
            s[j] = new_max == -INFINITY ? 0.0f : expf(s[j] - new_max);
            sum += s[j];
        }
        row_sum[i] = row_sum[i] * correction + sum;
        row_max[i] = new_max;
        float *a = acc + (int64_t)i * D;
        for (int d = 0; d < D; d++)
            a[d] *= correction;
    }
}

/* One head, queries q0..q0+nq-1: scores and products through single-threaded sgemm.
 * scores: [Q_BLOCK * K_BLOCK], acc: [Q_BLOCK * head_dim]. */
static void attend_block(const AttentionJob *job, int head, int64_t q0, int nq, float *scores,
                         float *acc, float *row_max, float *row_sum)
{
    const int D = job->head_dim;
    const int64_t col = (int64_t)head * D;
    const gboolean causal = job->extras && job->extras->causal;
    const int64_t k_end = causal ? MIN(job->k->rows, q0 + nq) : job->k->rows;
    for (int i = 0; i < nq; i++) {
        row_max[i] = -INFINITY;
        row_sum[i] = 0.0f;
    }
    memset(acc, 0, sizeof(float) * (size_t)nq * D);
    const float *q = &RD_AT(job->q, q0, col);
    for (int64_t k0 = 0; k0 < k_end; k0 += K_BLOCK) {
        int kb = (int)MIN(K_BLOCK, k_end - k0);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nq, kb, D, job->scale, q,
                    (int)job->q->stride, &RD_AT(job->k, k0, col), (int)job->k->stride, 0.0f,
                    scores, K_BLOCK);
        online_softmax_block(job, head, q0, nq, k0, kb, scores, acc, row_max, row_sum);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nq, D, kb, 1.0f, scores, K_BLOCK,
                    &RD_AT(job->v, k0, col), (int)job->v->stride, 1.0f, acc, D);
    }
    for (int i = 0; i < nq; i++) {
        float *o = &RD_AT(job->out, q0 + i, col);
        float inv = row_sum[i] > 0.0f ? 1.0f / row_sum[i] : 0.0f;
        for (int d = 0; d < D; d++)
            o[d] = acc[(int64_t)i * D + d] * inv;
    }
}

void cpu_attention(RdBackend *be, const RdTensor *q, const RdTensor *k, const RdTensor *v,
                   RdTensor *out, int heads, int head_dim, const RdAttentionExtras *extras)
{
    g_assert(q->cols == (int64_t)heads * head_dim && k->cols == q->cols && v->cols == q->cols);
    g_assert(k->rows == v->rows && out->rows == q->rows && out->cols == q->cols);
    AttentionJob job = {q, k, v, out, head_dim, 1.0f / sqrtf((float)head_dim), extras};
    const int64_t q_blocks = (q->rows + Q_BLOCK - 1) / Q_BLOCK;
    const int64_t tasks = q_blocks * heads;

#pragma omp parallel
    {
        float *scores = g_new(float, Q_BLOCK * K_BLOCK);
        float *acc = g_new(float, (size_t)Q_BLOCK * head_dim);
        float row_max[Q_BLOCK], row_sum[Q_BLOCK];
#pragma omp for schedule(dynamic)
        for (int64_t t = 0; t < tasks; t++) {
            int head = (int)(t % heads);
            int64_t q0 = (t / heads) * Q_BLOCK;
            int nq = (int)MIN(Q_BLOCK, q->rows - q0);
            attend_block(&job, head, q0, nq, scores, acc, row_max, row_sum);
        }
        g_free(scores);
        g_free(acc);
    }
}
