/* MOP, GWS and the PES base grid: the properties METHOD.md requires for any size. */
#include <json-glib/json-glib.h>
#include <math.h>

#include "resdit_partition.h"
#include "test-util.h"

static void check_starts(int length, int patch, const int *want, int count)
{
    g_assert_cmpint(resdit_mop_count(length, patch), ==, count);
    for (int k = 0; k < count; k++)
        g_assert_cmpint(resdit_mop_start(k, count, length, patch), ==, want[k]);
}

static void test_mop_starts(void)
{
    /* 2048 px = 128 tokens: N = 3 (128/64 = 2 exactly, N must exceed it) */
    check_starts(128, 64, (int[]){0, 32, 64}, 3);
    /* 3072 px = 192 tokens: METHOD.md's example */
    check_starts(192, 64, (int[]){0, 43, 85, 128}, 4);
    /* 4096 px = 256 tokens */
    check_starts(256, 64, (int[]){0, 48, 96, 144, 192}, 5);
    /* 1024 px: the base, one patch */
    check_starts(64, 64, (int[]){0}, 1);
    check_starts(40, 64, (int[]){0}, 1);
    /* 3072 x 1728 px: 108 tokens, N = 2 */
    check_starts(108, 64, (int[]){0, 44}, 2);
}

/* Every token covered, the last patch ends at the axis end, overlaps < patch, weights sum to 1. */
static void check_axis(int length, int patch, double sigma, gboolean no_overlap, gboolean uniform)
{
    ResditAxisPartition *p = resdit_axis_partition_new(length, patch, sigma, no_overlap, uniform);
    g_autofree double *sum = g_new0(double, length);
    g_autofree int *cover = g_new0(int, length);
    for (int i = 0; i < p->count; i++) {
        g_assert_cmpint(p->start[i], >=, 0);
        g_assert_cmpint(p->start[i] + p->size[i], <=, length);
        if (i > 0) {
            g_assert_cmpint(p->start[i], >, p->start[i - 1]);
            g_assert_cmpint(p->start[i], <=, p->start[i - 1] + p->size[i - 1]);
        }
        for (int t = 0; t < p->size[i]; t++) {
            g_assert_cmpfloat(p->weight[i][t], >, 0.0f);
            sum[p->start[i] + t] += p->weight[i][t];
            cover[p->start[i] + t]++;
        }
    }
    g_assert_cmpint(p->start[0], ==, 0);
    g_assert_cmpint(p->start[p->count - 1] + p->size[p->count - 1], ==, length);
    for (int t = 0; t < length; t++) {
        g_assert_cmpint(cover[t], >=, 1);
        if (no_overlap)
            g_assert_cmpint(cover[t], ==, 1);
        g_assert_cmpfloat(fabs(sum[t] - 1.0), <, 1e-6);
    }
    resdit_axis_partition_free(p);
}

static void test_coverage_and_weights(void)
{
    const int lengths[] = {1, 7, 63, 64, 65, 100, 108, 128, 192, 200, 256, 321};
    for (size_t i = 0; i < G_N_ELEMENTS(lengths); i++) {
        check_axis(lengths[i], 64, 0, FALSE, FALSE);
        check_axis(lengths[i], 64, 3.5, FALSE, FALSE);
        check_axis(lengths[i], 64, 0, FALSE, TRUE);
        check_axis(lengths[i], 64, 0, TRUE, FALSE);
        check_axis(lengths[i], 8, 0, FALSE, FALSE);
    }
}

/* The Gaussian prefers the patch whose centre is nearer: at a token nearer patch 1's centre,
 * patch 1 weighs more. */
static void test_gaussian_prefers_nearer_centre(void)
{
    ResditAxisPartition *p = resdit_axis_partition_new(192, 64, 0, FALSE, FALSE);
    /* patches [0,64) centre 31.5 and [43,107) centre 74.5; token 60: nearer the second */
    g_assert_cmpfloat(p->weight[1][60 - 43], >, p->weight[0][60]);
    /* token 45: 13.5 from the first centre, 29.5 from the second */
    g_assert_cmpfloat(p->weight[0][45], >, p->weight[1][45 - 43]);
    /* weights = exp(-d^2 / 2 sigma^2) normalised, sigma = 16 */
    double w0 = exp(-13.5 * 13.5 / 512.0), w1 = exp(-29.5 * 29.5 / 512.0);
    g_assert_cmpfloat(fabs(p->weight[0][45] - w0 / (w0 + w1)), <, 1e-6);
    resdit_axis_partition_free(p);
}

static void test_no_overlap_tiles(void)
{
    ResditAxisPartition *p = resdit_axis_partition_new(150, 64, 0, TRUE, FALSE);
    g_assert_cmpint(p->count, ==, 3);
    g_assert_cmpint(p->start[2], ==, 128);
    g_assert_cmpint(p->size[2], ==, 22);
    g_assert_cmpfloat(p->weight[1][10], ==, 1.0f);
    resdit_axis_partition_free(p);
}

static void test_base_grid(void)
{
    int r, c;
    resdit_base_grid(64, 64, 4096, &r, &c);
    g_assert_cmpint(r, ==, 64);
    g_assert_cmpint(c, ==, 64);
    resdit_base_grid(192, 192, 4096, &r, &c);
    g_assert_cmpint(r, ==, 64);
    g_assert_cmpint(c, ==, 64);
    resdit_base_grid(128, 256, 4096, &r, &c); /* 2048 x 4096 px: METHOD.md's 45 x 90 */
    g_assert_cmpint(r, ==, 45);
    g_assert_cmpint(c, ==, 90);
    resdit_base_grid(256, 128, 4096, &r, &c);
    g_assert_cmpint(r, ==, 90);
    g_assert_cmpint(c, ==, 45);
    resdit_base_grid(108, 192, 4096, &r, &c); /* 3072 x 1728 px */
    g_assert_cmpint(r, ==, 48);
    g_assert_cmpint(c, ==, 85);
}

/* One axis table of the reference: weights per patch over the whole axis (0 outside it). */
static void check_axis_weights(ResditAxisPartition *p, JsonArray *table, const char *what)
{
    g_assert_cmpuint(json_array_get_length(table), ==, (guint)p->count);
    for (int i = 0; i < p->count; i++) {
        JsonArray *row = json_array_get_array_element(table, i);
        for (int t = 0; t < p->length; t++) {
            gboolean inside = t >= p->start[i] && t < p->start[i] + p->size[i];
            double ref = json_array_get_double_element(row, t);
            double got = inside ? p->weight[i][t - p->start[i]] : 0.0;
            if (fabs(got - ref) > 1e-6)
                g_error("%s: patch %d token %d: %.9g, reference %.9g", what, i, t, got, ref);
        }
    }
}

/* Starts, weights and base grids against the PyTorch reference's tables. */
static void test_reference_tables(void)
{
    g_autofree char *path = tu_data_path("flux/resdit-partition.json");
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;
    g_assert_true(json_parser_load_from_file(parser, path, &error));
    JsonObject *root = json_node_get_object(json_parser_get_root(parser));
    JsonArray *axes = json_object_get_array_member(root, "axes");
    for (guint a = 0; a < json_array_get_length(axes); a++) {
        JsonObject *ax = json_array_get_object_element(axes, a);
        int length = (int)json_object_get_int_member(ax, "length");
        int patch = (int)json_object_get_int_member(ax, "patch");
        double sigma = json_object_get_double_member(ax, "sigma");
        ResditAxisPartition *p = resdit_axis_partition_new(length, patch, sigma, FALSE, FALSE);
        JsonArray *starts = json_object_get_array_member(ax, "mop_starts");
        g_assert_cmpuint(json_array_get_length(starts), ==, (guint)p->count);
        for (int i = 0; i < p->count; i++) {
            g_assert_cmpint(p->start[i], ==, json_array_get_int_element(starts, i));
            g_assert_cmpint(p->size[i], ==, json_object_get_int_member(ax, "mop_size"));
        }
        check_axis_weights(p, json_object_get_array_member(ax, "gws_weights"), "gaussian");
        resdit_axis_partition_free(p);

        p = resdit_axis_partition_new(length, patch, sigma, FALSE, TRUE);
        check_axis_weights(p, json_object_get_array_member(ax, "uniform_weights"), "uniform");
        resdit_axis_partition_free(p);

        p = resdit_axis_partition_new(length, patch, sigma, TRUE, FALSE);
        JsonArray *tiles = json_object_get_array_member(ax, "no_overlap_starts");
        JsonArray *sizes = json_object_get_array_member(ax, "no_overlap_sizes");
        g_assert_cmpuint(json_array_get_length(tiles), ==, (guint)p->count);
        for (int i = 0; i < p->count; i++) {
            g_assert_cmpint(p->start[i], ==, json_array_get_int_element(tiles, i));
            g_assert_cmpint(p->size[i], ==, json_array_get_int_element(sizes, i));
        }
        resdit_axis_partition_free(p);
    }
    JsonArray *grids = json_object_get_array_member(root, "base_grids");
    for (guint g = 0; g < json_array_get_length(grids); g++) {
        JsonObject *o = json_array_get_object_element(grids, g);
        JsonArray *grid = json_object_get_array_member(o, "grid");
        JsonArray *base = json_object_get_array_member(o, "base");
        int r, c;
        resdit_base_grid((int)json_array_get_int_element(grid, 0),
                         (int)json_array_get_int_element(grid, 1),
                         (int)json_object_get_int_member(o, "area"), &r, &c);
        g_assert_cmpint(r, ==, json_array_get_int_element(base, 0));
        g_assert_cmpint(c, ==, json_array_get_int_element(base, 1));
    }
    g_test_message("%u axes and %u base grids match the reference", json_array_get_length(axes),
                   json_array_get_length(grids));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/partition/mop-starts", test_mop_starts);
    g_test_add_func("/partition/coverage-and-weights", test_coverage_and_weights);
    g_test_add_func("/partition/gaussian", test_gaussian_prefers_nearer_centre);
    g_test_add_func("/partition/no-overlap", test_no_overlap_tiles);
    g_test_add_func("/partition/base-grid", test_base_grid);
    g_test_add_func("/partition/reference-tables", test_reference_tables);
    return g_test_run();
}
