#include "resdit_partition.h"

#include <math.h>

int resdit_mop_count(int length, int patch)
{
    return length <= patch ? 1 : length / patch + 1;
}

int resdit_mop_start(int k, int count, int length, int patch)
{
    if (count == 1)
        return 0;
    /* floor(k * (length - patch) / (count - 1) + 1/2), in integers. */
    long num = 2L * k * (length - patch) + (count - 1);
    return (int)(num / (2L * (count - 1)));
}

static double gaussian(double distance, double sigma)
{
    return exp(-distance * distance / (2.0 * sigma * sigma));
}

static void fill_weights(ResditAxisPartition *p, double sigma, gboolean flat)
{
    double *total = g_new0(double, p->length);
    double **raw = g_new(double *, p->count);
    for (int i = 0; i < p->count; i++) {
        raw[i] = g_new(double, p->size[i]);
        double centre = p->start[i] + (p->size[i] - 1) / 2.0;
        for (int t = 0; t < p->size[i]; t++) {
            int pos = p->start[i] + t;
            raw[i][t] = flat ? 1.0 : gaussian(pos - centre, sigma);
            total[pos] += raw[i][t];
        }
    }
    for (int i = 0; i < p->count; i++) {
        for (int t = 0; t < p->size[i]; t++)
            p->weight[i][t] = (float)(raw[i][t] / total[p->start[i] + t]);
        g_free(raw[i]);
    }
    g_free(raw);
    g_free(total);
}

ResditAxisPartition *resdit_axis_partition_new(int length, int patch, double sigma,
                                               gboolean no_overlap, gboolean uniform)
{
    g_return_val_if_fail(length > 0 && patch > 0, NULL);
    ResditAxisPartition *p = g_new0(ResditAxisPartition, 1);
    p->length = length;
    p->count = no_overlap ? (length + patch - 1) / patch : resdit_mop_count(length, patch);
    p->start = g_new(int, p->count);
    p->size = g_new(int, p->count);
    p->weight = g_new(float *, p->count);
    int h = MIN(patch, length);
    for (int i = 0; i < p->count; i++) {
        if (no_overlap) {
            p->start[i] = i * patch;
            p->size[i] = MIN(patch, length - p->start[i]);
        } else {
            p->start[i] = resdit_mop_start(i, p->count, length, h);
            p->size[i] = h;
        }
        p->weight[i] = g_new(float, p->size[i]);
    }
    if (sigma <= 0)
        sigma = patch / 4.0;
    fill_weights(p, sigma, uniform || no_overlap);
    return p;
}

void resdit_axis_partition_free(ResditAxisPartition *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->count; i++)
        g_free(p->weight[i]);
    g_free(p->weight);
    g_free(p->start);
    g_free(p->size);
    g_free(p);
}

static int round_half_up(double x)
{
    return (int)floor(x + 0.5);
}

void resdit_base_grid(int rows, int cols, int area, int *base_rows, int *base_cols)
{
    int shorter = MIN(rows, cols), longer = MAX(rows, cols);
    int base_short = MAX(1, round_half_up(sqrt((double)area * shorter / longer)));
    int base_long = MAX(1, round_half_up((double)base_short * longer / shorter));
    *base_rows = rows <= cols ? base_short : base_long;
    *base_cols = rows <= cols ? base_long : base_short;
}
