#include "test-util.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <sys/wait.h>

void tu_fill_uniform(float *x, size_t n, float lo, float hi, guint32 seed)
{
    GRand *rng = g_rand_new_with_seed(seed);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)g_rand_double_range(rng, lo, hi);
    g_rand_free(rng);
}

void tu_assert_close(const char *what, const float *got, const float *ref, size_t n, float tol,
                     float eps)
{
    for (size_t i = 0; i < n; i++) {
        float limit = tol + fabsf(ref[i]) * eps;
        if (!(fabsf(got[i] - ref[i]) <= limit))
            g_error("%s: element %zu is %.9g, reference %.9g (limit %.3g)", what, i, got[i],
                    ref[i], limit);
    }
}

double tu_relative_l2(const float *got, const float *ref, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)got[i] - ref[i]) * ((double)got[i] - ref[i]);
        den += (double)ref[i] * ref[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

char *tu_data_path(const char *name)
{
    return g_test_build_filename(G_TEST_DIST, "data", name, NULL);
}

double tu_gamma(double n, double u)
{
    g_assert(n * u < 0.5);
    return n * u / (1 - n * u);
}

void tu_dft_bin(const float *x, int h, int w, int C, int ch, int ky, int kx, double *re,
                double *im)
{
    *re = *im = 0;
    for (int y = 0; y < h; y++)
        for (int xx = 0; xx < w; xx++) {
            double phase = -2 * M_PI * ((double)ky * y / h + (double)kx * xx / w);
            double v = x[(y * w + xx) * C + ch];
            *re += v * cos(phase);
            *im += v * sin(phase);
        }
}

double tu_dot_bound(int64_t K, double abs_sum, double u)
{
    return tu_gamma((double)K, u) * abs_sum;
}

void tu_assert_within(const char *what, const float *got, const float *ref, const double *bound,
                      size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double limit = bound[i] + TU_U_F32 * fabs(ref[i]);
        double diff = fabs((double)got[i] - ref[i]);
        if (!(diff <= limit))
            g_error("%s: element %zu is %.9g, reference %.9g (bound %.3g)", what, i, got[i],
                    ref[i], limit);
        worst = fmax(worst, diff / limit);
    }
    g_test_message("%s: largest error %.2g of its bound", what, worst);
}

double tu_network_bound(int depth, int64_t K, double u)
{
    return 2.0 * depth * tu_gamma((double)K, u);
}

double tu_weight_rounding_bound(int depth, double u_w)
{
    return depth * u_w;
}

double tu_assert_network_close(const char *what, const float *got, const float *ref, size_t n,
                               double bound)
{
    double scale = 0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(ref[i]));
    double limit = bound * scale, rel = tu_relative_l2(got, ref, n);
    g_test_message("%s: relative L2 %.3g, bound %.3g of the largest |value| %.3g", what, rel,
                   bound, scale);
    for (size_t i = 0; i < n; i++)
        if (!(fabs((double)got[i] - ref[i]) <= limit))
            g_error("%s: element %zu is %.9g, reference %.9g (limit %.3g = %.3g x %.3g)", what, i,
                    got[i], ref[i], limit, bound, scale);
    return rel;
}

int tu_flux_depth(int double_blocks, int single_blocks)
{
    return 2 + 7 * double_blocks + 5 * single_blocks + 2;
}

int64_t tu_flux_reduction(int hidden, int mlp_hidden, int tokens, int txt_dim, int vec_dim)
{
    return MAX(MAX(256, hidden + mlp_hidden), MAX(tokens, MAX(txt_dim, vec_dim)));
}

static int config_int(JsonObject *o, const char *name)
{
    g_assert_true(json_object_has_member(o, name));
    return (int)json_object_get_int_member(o, name);
}

double tu_flux_config_bound(const char *config_json, int tokens, int passes, double u)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;
    json_parser_load_from_file(parser, config_json, &error);
    g_assert_no_error(error);
    JsonObject *o = json_node_get_object(json_parser_get_root(parser));
    int hidden = config_int(o, "num_attention_heads") * config_int(o, "attention_head_dim");
    int depth = tu_flux_depth(config_int(o, "num_layers"), config_int(o, "num_single_layers"));
    int64_t K = tu_flux_reduction(hidden, 4 * hidden, tokens, config_int(o, "joint_attention_dim"),
                                  config_int(o, "pooled_projection_dim"));
    return tu_network_bound(passes * depth, K, u);
}

TuRun tu_run_cli(const char *const *args)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_ptr_array_add(argv, (gpointer)g_getenv("RESDIT_CLI"));
    for (int i = 0; args[i]; i++)
        g_ptr_array_add(argv, (gpointer)args[i]);
    g_ptr_array_add(argv, NULL);
    TuRun r = {0};
    int wait_status = 0;
    g_autoptr(GError) error = NULL;
    g_assert_true(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                               &r.out, &r.err, &wait_status, &error));
    g_assert_no_error(error);
    r.status = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
    return r;
}

void tu_run_clear(TuRun *r)
{
    g_clear_pointer(&r->out, g_free);
    g_clear_pointer(&r->err, g_free);
}

void tu_remove_tree(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        if (g_file_test(path, G_FILE_TEST_IS_DIR))
            tu_remove_tree(path);
        else
            g_unlink(path);
    }
    g_rmdir(dir);
}
