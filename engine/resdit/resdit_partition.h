/* MOP (minimum-overlap partition) and GWS (Gaussian-weighted splicing) along one axis of the token
 * grid. A 2-D patch is a pair (row patch, column patch); its splice weight at a token is the
 * product of the two axes' normalised weights, because the Gaussian and its normaliser are both
 * separable over the product partition. */
#pragma once

#include <glib.h>

typedef struct {
    int length;     /* axis length in tokens */
    int count;      /* number of patches along the axis */
    int *start;     /* first token of each patch */
    int *size;      /* tokens in each patch */
    float **weight; /* weight[i][t]: normalised splice weight of patch i at its token t */
} ResditAxisPartition;

/* MOP starts: count and starts for an axis of `length` tokens and patches of `patch` tokens. */
int resdit_mop_count(int length, int patch);
int resdit_mop_start(int k, int count, int length, int patch);

/* sigma <= 0 means patch / 4. no_overlap: ceil(length / patch) tiles, weight 1. uniform: weight 1
 * for every covering patch before normalisation. */
ResditAxisPartition *resdit_axis_partition_new(int length, int patch, double sigma,
                                               gboolean no_overlap, gboolean uniform);
void resdit_axis_partition_free(ResditAxisPartition *p);

/* PES target grid of the same aspect ratio and about `area` tokens (METHOD.md, rule in
 * docs/METHOD.md): the shorter side first, rounded half up, then the longer one from it. */
void resdit_base_grid(int rows, int cols, int area, int *base_rows, int *base_cols);
