/* Blocked attention with an online softmax: a block of queries walks over blocks of keys, keeping
 * a running maximum and sum, so the full score matrix never exists (65 536 tokens fit). */
#include "cpu_ops.h"

#include <math.h>

#define Q_BLOCK 32
#define K_BLOCK 128

typedef struct {
    const RdTensor *q, *k, *v;
    RdTensor *out;
    int head_dim;
    float scale;
    const RdAttentionExtras *extras;
} AttentionJob;

static float dot(const float *a, const float *b, int n)
{
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static void axpy(float *y, float a, const float *x, int n)
{
#pragma omp simd
    for (int i = 0; i < n; i++)
        y[i] += a * x[i];
}

/* One head, queries q0..q0+nq-1. scores: [Q_BLOCK * K_BLOCK], acc: [Q_BLOCK * head_dim]. */
static void attend_block(const AttentionJob *job, int head, int64_t q0, int nq, float *scores,
                         float *acc, float *row_max, float *row_sum)
{
    const int D = job->head_dim;
    const int64_t nk = job->k->rows, col = (int64_t)head * D;
    const gboolean causal = job->extras && job->extras->causal;
    const RdTensor *bias = job->extras ? job->extras->bias : NULL;

    for (int i = 0; i < nq; i++) {
        row_max[i] = -INFINITY;
        row_sum[i] = 0.0f;
        for (int d = 0; d < D; d++)
            acc[i * D + d] = 0.0f;
    }
    int64_t k_end = causal ? MIN(nk, q0 + nq) : nk;
    for (int64_t k0 = 0; k0 < k_end; k0 += K_BLOCK) {
        int kb = (int)MIN(K_BLOCK, k_end - k0);
        for (int i = 0; i < nq; i++) {
            const float *qi = &RD_AT(job->q, q0 + i, col);
            float *s = scores + i * K_BLOCK;
            float block_max = -INFINITY;
            for (int j = 0; j < kb; j++) {
                float v = dot(qi, &RD_AT(job->k, k0 + j, col), D) * job->scale;
                if (bias)
                    v += RD_AT(bias, (int64_t)head * job->q->rows + q0 + i, k0 + j);
                if (causal && k0 + j > q0 + i)
                    v = -INFINITY;
                s[j] = v;
                block_max = fmaxf(block_max, v);
            }
            float new_max = fmaxf(row_max[i], block_max);
            if (new_max == -INFINITY)
                continue; /* every key so far masked */
            float correction = expf(row_max[i] - new_max);
            row_sum[i] *= correction;
            float *a = acc + i * D;
            for (int d = 0; d < D; d++)
                a[d] *= correction;
            for (int j = 0; j < kb; j++) {
                float p = expf(s[j] - new_max);
                row_sum[i] += p;
                axpy(a, p, &RD_AT(job->v, k0 + j, col), D);
            }
            row_max[i] = new_max;
        }
    }
    for (int i = 0; i < nq; i++) {
        float *o = &RD_AT(job->out, q0 + i, col);
        float inv = row_sum[i] > 0.0f ? 1.0f / row_sum[i] : 0.0f;
        for (int d = 0; d < D; d++)
            o[d] = acc[i * D + d] * inv;
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
