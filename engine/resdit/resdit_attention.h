/* ResDiT attention for one joint [text; image] sequence: the modes direct, global (PES), local
 * (PIPE in MOP patches, spliced with GWS) and fused (PSF of both), as docs/METHOD.md defines them.
 *
 * One context serves every attention layer of a forward pass: the RoPE tables, the partition and
 * the splice weights depend only on the grid and the plan, so they are built once. */
#pragma once

#include "backend.h"
#include "resdit.h"
#include "rope_table.h"

typedef struct {
    ResditMode mode;
    ResditMethodParams method;
} ResditAttentionPlan;

typedef struct ResditAttention ResditAttention;

ResditAttention *resdit_attention_new(RdBackend *be, const RdRopeSpec *rope, int heads,
                                      int head_dim, int txt_len, int grid_rows, int grid_cols,
                                      const ResditAttentionPlan *plan, GError **error);
void resdit_attention_free(ResditAttention *ra);

/* q, k, v: [txt_len + rows * cols, heads * head_dim], after the q/k RMSNorm, before RoPE (they
 * are not modified). out: same shape (may be a strided view); receives the attention output of
 * every token. */
void resdit_attention_run(ResditAttention *ra, const RdTensor *q, const RdTensor *k,
                          const RdTensor *v, RdTensor *out);

/* The base grid PES maps onto for this plan and grid (explicit or derived from base_area). */
void resdit_attention_plan_base_grid(const ResditAttentionPlan *plan, int grid_rows, int grid_cols,
                                     int *base_rows, int *base_cols);
