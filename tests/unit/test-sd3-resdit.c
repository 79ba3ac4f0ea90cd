/* ResDiT on SD3 (docs/METHOD.md, "SD3"): the position table read at PES / PIPE points (sin-cos
 * tables by their formula, learned ones bilinearly), and the method's invariants on the tiny
 * SD3 models (tools/reference/make_sd3_goldens.py: pos_embed_max_size 24, a learned table;
 * base grid 8 x 8 here, patch 8). */
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "backend.h"
#include "psf_mask.h"
#include "resdit.h"
#include "safetensors.h"
#include "sd3_model.h"
#include "sd3_pos_table.h"
#include "test-util.h"

static RdBackend *be;

/* ---- the position table ---------------------------------------------------------------------- */

enum { SIZE = 24, DIM = 32, BASE = 8 };

/* diffusers' get_2d_sincos_pos_embed(DIM, SIZE, base_size=BASE) written out here: coordinates
 * arange(SIZE, float32) / (SIZE / BASE) in float32; the first half embeds the column (meshgrid
 * "xy" puts w first), the second the row; each half [sin(x w_k), cos(x w_k)], w_k =
 * 10000^(-k / (DIM / 4)) in double. */
static void reference_1d(double x, float *out)
{
    const int q = DIM / 4;
    for (int k = 0; k < q; k++) {
        double w = 1.0 / pow(10000.0, (double)k / q);
        out[k] = (float)sin(x * w);
        out[q + k] = (float)cos(x * w);
    }
}

static void reference_at(double row_x, double col_x, float *out)
{
    reference_1d(col_x, out);
    reference_1d(row_x, out + DIM / 2);
}

static float *sincos_table(void)
{
    float *t = g_new(float, SIZE *SIZE *DIM);
    const float div = (float)SIZE / BASE;
    for (int i = 0; i < SIZE; i++)
        for (int j = 0; j < SIZE; j++)
            reference_at((float)i / div, (float)j / div, t + (i * SIZE + j) * DIM);
    return t;
}

static void test_table_detect(void)
{
    g_autofree float *t = sincos_table();
    Sd3PosTable pt;
    sd3_pos_table_open(&pt, t, RD_F32, SIZE, DIM);
    g_assert_true(pt.sincos);
    g_assert_cmpfloat(pt.scale, ==, (double)BASE / SIZE);
    /* the same table stored as bf16, as SD3.5's files hold it */
    g_autofree guint16 *bf = g_new(guint16, SIZE * SIZE * DIM);
    for (int i = 0; i < SIZE * SIZE * DIM; i++)
        bf[i] = rd_f32_to_bf16(t[i]);
    sd3_pos_table_open(&pt, bf, RD_BF16, SIZE, DIM);
    g_assert_true(pt.sincos);
    g_assert_cmpfloat(pt.scale, ==, (double)BASE / SIZE);
    /* one entry off by more than the rounding: learned */
    t[(5 * SIZE + 7) * DIM + 3] += 0.01f;
    sd3_pos_table_open(&pt, t, RD_F32, SIZE, DIM);
    g_assert_false(pt.sincos);
    g_autofree float *random = g_new(float, SIZE *SIZE *DIM);
    tu_fill_uniform(random, SIZE * SIZE * DIM, -1.0f, 1.0f, 7);
    sd3_pos_table_open(&pt, random, RD_F32, SIZE, DIM);
    g_assert_false(pt.sincos);
}

/* PES at twice the base grid (an integer scale): every other point is a table entry, read as the
 * file has it; the points between are the formula at their exact coordinates. */
static void test_table_sincos_points(void)
{
    g_autofree float *t = sincos_table();
    Sd3PosTable pt;
    sd3_pos_table_open(&pt, t, RD_F32, SIZE, DIM);
    const int grid = 2 * BASE, top = (SIZE - BASE) / 2;
    const int n = grid * grid;
    g_autofree float *points = g_new(float, n * 2);
    for (int r = 0; r < grid; r++)
        for (int c = 0; c < grid; c++) {
            points[(r * grid + c) * 2] = (float)(top + r * 0.5);
            points[(r * grid + c) * 2 + 1] = (float)(top + c * 0.5);
        }
    g_autofree float *got = g_new(float, n *DIM);
    g_autoptr(GError) error = NULL;
    g_assert_true(sd3_pos_table_read(&pt, points, n, got, &error));
    g_assert_no_error(error);
    float ref[DIM];
    for (int r = 0; r < grid; r++)
        for (int c = 0; c < grid; c++) {
            const float *g = got + (r * grid + c) * DIM;
            if (r % 2 == 0 && c % 2 == 0) { /* an entry: the file's numbers */
                int i = top + r / 2, j = top + c / 2;
                tu_assert_close("entry", g, t + (i * SIZE + j) * DIM, DIM, 0.0f, 0.0f);
            } else { /* sin and cos of the exact coordinate, each rounded once to f32 */
                double s = (double)BASE / SIZE;
                reference_at((top + r * 0.5) * s, (top + c * 0.5) * s, ref);
                tu_assert_close("between entries", g, ref, DIM, 2 * TU_U_F32, 0.0f);
            }
        }
    /* beyond the entries a sin-cos table continues by its formula */
    const float outside[2] = {SIZE + 0.5f, -2.0f};
    g_assert_true(sd3_pos_table_read(&pt, outside, 1, got, &error));
    reference_at((SIZE + 0.5) * BASE / SIZE, -2.0 * BASE / SIZE, ref);
    tu_assert_close("outside", got, ref, DIM, 2 * TU_U_F32, 0.0f);
}

/* A learned table: bilinear between the four entries around a point (weights and sums in
 * double, one rounding to f32); entries exactly; outside the table an error naming the point. */
static void test_table_learned(void)
{
    g_autofree float *t = g_new(float, SIZE *SIZE *DIM);
    tu_fill_uniform(t, SIZE * SIZE * DIM, -1.0f, 1.0f, 11);
    Sd3PosTable pt;
    sd3_pos_table_open(&pt, t, RD_F32, SIZE, DIM);
    g_assert_false(pt.sincos);
    const float points[][2] = {{3.5f, 7.25f}, {10.0f, 4.75f}, {0.125f, 22.0f}, {6.0f, 9.0f}};
    const int n = G_N_ELEMENTS(points);
    float got[G_N_ELEMENTS(points) * DIM], ref[DIM];
    g_autoptr(GError) error = NULL;
    g_assert_true(sd3_pos_table_read(&pt, &points[0][0], n, got, &error));
    for (int p = 0; p < n; p++) {
        double r = points[p][0], c = points[p][1];
        int r0 = (int)floor(r), c0 = (int)floor(c);
        double fr = r - r0, fc = c - c0;
        for (int k = 0; k < DIM; k++) {
            double v00 = t[(r0 * SIZE + c0) * DIM + k];
            double v01 = fc > 0 ? t[(r0 * SIZE + c0 + 1) * DIM + k] : 0;
            double v10 = fr > 0 ? t[((r0 + 1) * SIZE + c0) * DIM + k] : 0;
            double v11 = fr > 0 && fc > 0 ? t[((r0 + 1) * SIZE + c0 + 1) * DIM + k] : 0;
            ref[k] = (float)((1 - fr) * (1 - fc) * v00 + (1 - fr) * fc * v01 + fr * (1 - fc) * v10 +
                             fr * fc * v11);
        }
        float eps = fr == 0 && fc == 0 ? 0.0f : 2 * TU_U_F32;
        tu_assert_close("bilinear", got + p * DIM, ref, DIM, eps, 0.0f);
    }
    const float outside[2] = {SIZE - 0.5f, 3.0f};
    g_assert_false(sd3_pos_table_read(&pt, outside, 1, got, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull(strstr(error->message, "outside"));
}

/* ---- the model ------------------------------------------------------------------------------- */

typedef struct {
    float *img, *txt, *vec;
    Sd3Inputs in;
} Inputs;

static float *golden(const char *file, const char *tensor, int64_t *numel)
{
    g_autofree char *rel = g_build_filename("sd3", file, NULL);
    g_autofree char *path = tu_data_path(rel);
    g_autoptr(GError) error = NULL;
    RdSafetensors *st = rd_safetensors_open(path, &error);
    g_assert_no_error(error);
    const RdTensorInfo *t = rd_safetensors_find(st, tensor);
    g_assert_nonnull(t);
    *numel = rd_tensor_info_numel(t);
    float *data = g_new(float, *numel);
    rd_convert_to_f32(t->dtype, t->data, data, (size_t)*numel);
    rd_safetensors_close(st);
    return data;
}

/* The golden text and pooled embeddings of `config`, an image of rows x cols tokens drawn
 * uniformly in [-1, 1) (the velocities are compared with each other, not with a reference). */
static void inputs_make(Inputs *x, const Sd3Model *m, const char *config, int rows, int cols)
{
    g_autofree char *file = g_strdup_printf("%s.inputs.8x12.safetensors", config);
    int64_t txt_n, vec_n;
    x->txt = golden(file, "txt", &txt_n);
    x->vec = golden(file, "vec", &vec_n);
    x->img = g_new(float, (size_t)rows *cols * 64);
    tu_fill_uniform(x->img, (size_t)rows * cols * 64, -1.0f, 1.0f, 5);
    x->in = (Sd3Inputs){x->img, x->txt, x->vec, (int)(txt_n / sd3_model_config(m)->txt_dim),
                        rows,   cols,   0.7f};
}

static void inputs_clear(Inputs *x)
{
    g_free(x->img);
    g_free(x->txt);
    g_free(x->vec);
}

static Sd3Model *load(const char *config)
{
    g_autofree char *rel = g_strdup_printf("sd3/%s/transformer", config);
    g_autofree char *path = tu_data_path(rel);
    g_autoptr(GError) error = NULL;
    Sd3Model *m = sd3_model_load(path, be, &error);
    g_assert_no_error(error);
    return m;
}

/* Base grid 8 x 8 (the tiny table's 16 px base size is 8 tokens), patch 8, sigma 2, cutoff 0.2. */
static ResditAttentionPlan tiny_plan(ResditMode mode)
{
    ResditAttentionPlan plan = {mode, {0}};
    resdit_method_params_init(&plan.method);
    plan.method.base_area = 64;
    plan.method.patch = 8;
    plan.method.sigma = 2.0;
    plan.method.cutoff = 0.2;
    return plan;
}

static float *run(Sd3Model *m, const Inputs *x, const ResditAttentionPlan *plan)
{
    size_t n = (size_t)x->in.grid_rows * x->in.grid_cols * 64;
    float *v = g_new(float, n);
    g_autoptr(GError) error = NULL;
    g_assert_true(sd3_model_forward_plan(m, &x->in, plan, v, NULL, &error));
    g_assert_no_error(error);
    for (size_t i = 0; i < n; i++)
        g_assert_true(isfinite(v[i]));
    return v;
}

static void assert_same(const char *what, const float *a, const float *b, size_t n)
{
    tu_assert_close(what, a, b, n, 0.0f, 0.0f);
}

/* At the base grid the global branch's positions are the plain crop's, and one patch covering
 * the grid is the plain pass (splice weight exactly 1): the same numbers, bit for bit, because
 * they run the same calls. Fused there mixes two equal velocities: PSF returns the local one
 * plus the transform of their zero difference, exactly. */
static void test_base_grid(gconstpointer data)
{
    Sd3Model *m = load(data);
    g_assert_false(sd3_model_pos_table_is_sincos(m)); /* the tiny tables are random */
    Inputs x;
    inputs_make(&x, m, data, 8, 8);
    const size_t n = 8 * 8 * 64;
    ResditAttentionPlan direct = tiny_plan(RESDIT_MODE_DIRECT);
    ResditAttentionPlan global = tiny_plan(RESDIT_MODE_GLOBAL);
    ResditAttentionPlan local = tiny_plan(RESDIT_MODE_LOCAL);
    ResditAttentionPlan fused = tiny_plan(RESDIT_MODE_FUSED);
    g_autofree float *v_direct = run(m, &x, &direct);
    g_autofree float *v_global = run(m, &x, &global);
    g_autofree float *v_local = run(m, &x, &local);
    g_autofree float *v_fused = run(m, &x, &fused);
    assert_same("global at the base grid = direct", v_global, v_direct, n);
    assert_same("one patch over the base grid = direct", v_local, v_direct, n);
    assert_same("fused at the base grid = direct", v_fused, v_direct, n);
    inputs_clear(&x);
    sd3_model_free(m);
}

/* Above the base grid, within the table (20 x 20) and beyond it (30 x 36 on a 24 x 24 table):
 * cutoff 0 keeps no bin of the global branch and is the local step, a cutoff above Nyquist keeps
 * every bin and is the global step; direct mode refuses the grid the table cannot hold. */
static void test_cutoffs(gconstpointer data)
{
    Sd3Model *m = load(data);
    const int sizes[][2] = {{20, 20}, {30, 36}};
    for (gsize s = 0; s < G_N_ELEMENTS(sizes); s++) {
        Inputs x;
        inputs_make(&x, m, data, sizes[s][0], sizes[s][1]);
        const size_t n = (size_t)sizes[s][0] * sizes[s][1] * 64;
        ResditAttentionPlan fused0 = tiny_plan(RESDIT_MODE_FUSED);
        ResditAttentionPlan fused15 = tiny_plan(RESDIT_MODE_FUSED);
        ResditAttentionPlan local = tiny_plan(RESDIT_MODE_LOCAL);
        ResditAttentionPlan global = tiny_plan(RESDIT_MODE_GLOBAL);
        ResditAttentionPlan fused = tiny_plan(RESDIT_MODE_FUSED);
        fused0.method.cutoff = 0.0;
        fused15.method.cutoff = 1.5;
        g_autofree float *a = run(m, &x, &fused0), *b = run(m, &x, &local);
        g_autofree float *c = run(m, &x, &fused15), *d = run(m, &x, &global);
        g_autofree float *e = run(m, &x, &fused);
        assert_same("cutoff 0 = local", a, b, n);
        assert_same("cutoff 1.5 = global", c, d, n);
        /* the branches differ, and fused at 0.2 is neither */
        g_assert_cmpfloat(tu_relative_l2(b, d, n), >, 1e-3);
        g_assert_cmpfloat(tu_relative_l2(e, b, n), >, 1e-4);
        g_assert_cmpfloat(tu_relative_l2(e, d, n), >, 1e-4);
        if (sizes[s][0] > sd3_model_config(m)->pos_max) {
            ResditAttentionPlan direct = tiny_plan(RESDIT_MODE_DIRECT);
            g_autoptr(GError) error = NULL;
            g_assert_false(sd3_model_forward_plan(m, &x.in, &direct, e, NULL, &error));
            g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT);
            g_assert_nonnull(strstr(error->message, "position table"));
        }
        inputs_clear(&x);
    }
    sd3_model_free(m);
}

/* PSF on the velocity: with one patch covering a 12 x 12 grid (base 8 x 8, so the branches
 * differ), fused = IFFT(M F(global) + (1 - M) F(local)) per channel, here by a direct DFT in
 * double. The float FFT's error is at most gamma_{2 log2 N + 2} times the sum of magnitudes it
 * transforms (forward and inverse, Higham, 24.1), relative to each channel's largest values. */
static void test_fused_spectrum(void)
{
    Sd3Model *m = load("sd3-tiny");
    enum { R = 12, C = 12, CH = 64 };
    Inputs x;
    inputs_make(&x, m, "sd3-tiny", R, C);
    ResditAttentionPlan global = tiny_plan(RESDIT_MODE_GLOBAL);
    ResditAttentionPlan local = tiny_plan(RESDIT_MODE_LOCAL);
    ResditAttentionPlan fused = tiny_plan(RESDIT_MODE_FUSED);
    local.method.patch = fused.method.patch = 12;
    fused.method.cutoff = 0.5;
    g_assert_cmpint(resdit_psf_mask_kind(R, C, 0.5), ==, RESDIT_PSF_MASK_MIXED);
    g_autofree float *g = run(m, &x, &global), *l = run(m, &x, &local), *f = run(m, &x, &fused);
    g_assert_cmpfloat(tu_relative_l2(g, l, R * C * CH), >, 1e-3);
    g_autofree float *ref = g_new(float, R *C *CH);
    g_autofree double *bound = g_new(double, R *C *CH);
    const int N = R * C;
    const double eps = tu_gamma(2 * log2((double)N) + 2, TU_U_F32);
    double spec_re[R * C], spec_im[R * C];
    for (int ch = 0; ch < CH; ch++) {
        double sum_abs = 0;
        for (int t = 0; t < N; t++)
            sum_abs += fabs(g[t * CH + ch]) + fabs(l[t * CH + ch]);
        /* the mixed spectrum: low bins from the global velocity, the others from the local */
        for (int ky = 0; ky < R; ky++)
            for (int kx = 0; kx < C; kx++) {
                const float *src = resdit_psf_low_pass(ky, kx, R, C, 0.5) ? g : l;
                tu_dft_bin(src, R, C, CH, ch, ky, kx, &spec_re[ky * C + kx], &spec_im[ky * C + kx]);
            }
        for (int y = 0; y < R; y++)
            for (int xx = 0; xx < C; xx++) {
                double acc = 0;
                for (int k = 0; k < N; k++) {
                    double ph = 2 * G_PI * ((double)(k / C) * y / R + (double)(k % C) * xx / C);
                    acc += spec_re[k] * cos(ph) - spec_im[k] * sin(ph);
                }
                ref[(y * C + xx) * CH + ch] = (float)(acc / N);
                bound[(y * C + xx) * CH + ch] = eps * sum_abs;
            }
    }
    tu_assert_within("fused = PSF of the two velocities", f, ref, bound, (size_t)N * CH);
    inputs_clear(&x);
    sd3_model_free(m);
}

/* sd3-tiny with diffusers' own sin-cos table (tools/reference/make_sd3_resdit_goldens.py), in a
 * temporary diffusers folder: every tensor of sd3-tiny but the table. */
static char *sincos_copy(void)
{
    g_autofree char *src =
        tu_data_path("sd3/sd3-tiny/transformer/diffusion_pytorch_model.safetensors");
    g_autofree char *cfg = tu_data_path("sd3/sd3-tiny/transformer/config.json");
    g_autofree char *table_path = tu_data_path("sd3/sd3-tiny.sincos-table.safetensors");
    g_autoptr(GError) error = NULL;
    char *dir = g_dir_make_tmp("sd3-sincos-XXXXXX", &error);
    g_assert_no_error(error);
    RdSafetensors *st = rd_safetensors_open(src, &error);
    g_assert_no_error(error);
    RdSafetensors *table = rd_safetensors_open(table_path, &error);
    g_assert_no_error(error);
    const RdTensorInfo *sincos = rd_safetensors_find(table, "pos_embed.pos_embed");
    g_assert_nonnull(sincos);
    RdSafetensorsWriter *w = rd_safetensors_writer_new();
    for (guint i = 0; i < rd_safetensors_count(st); i++) {
        const RdTensorInfo *t = rd_safetensors_get(st, i);
        const RdTensorInfo *use = strcmp(t->name, "pos_embed.pos_embed") == 0 ? sincos : t;
        g_assert_cmpint(rd_tensor_info_numel(use), ==, rd_tensor_info_numel(t));
        rd_safetensors_writer_add(w, t->name, use->dtype, t->ndim, t->shape, use->data);
    }
    g_autofree char *dst = g_build_filename(dir, "diffusion_pytorch_model.safetensors", NULL);
    g_assert_true(rd_safetensors_writer_save(w, dst, &error));
    g_assert_no_error(error);
    rd_safetensors_writer_free(w);
    rd_safetensors_close(st);
    rd_safetensors_close(table);
    g_autofree char *json = NULL;
    g_assert_true(g_file_get_contents(cfg, &json, NULL, NULL));
    g_autofree char *cfg_dst = g_build_filename(dir, "config.json", NULL);
    g_assert_true(g_file_set_contents(cfg_dst, json, -1, NULL));
    return dir;
}

/* Two f32 evaluations of the tiny SD3 network in different orders (as test-sd3.c's bound): the
 * embedders, seven reductions per joint block, the final two; the longest reduction the MLP, the
 * tokens of one pass, the text or the timestep frequencies. Local and fused add a splice (one
 * rounding per patch) and, fused, the FFT (2 log2(64) + 2 roundings of sums over a patch). */
static double tiny_bound(const Sd3Config *c, int txt_len, int tokens, int extra)
{
    int depth = 2 + 7 * c->layers + 2 + extra;
    int64_t k = MAX(MAX(256, c->mlp_hidden), MAX(txt_len + tokens, MAX(c->txt_dim, c->vec_dim)));
    return tu_network_bound(depth, k, TU_U_F32);
}

/* Global (PES read by the formula between entries), local (PIPE, MOP, GWS) and fused (PSF) against
 * diffusers running each branch as whole passes in float64. */
static void test_goldens(void)
{
    g_autofree char *dir = sincos_copy();
    g_autoptr(GError) error = NULL;
    Sd3Model *m = sd3_model_load(dir, be, &error);
    g_assert_no_error(error);
    g_assert_true(sd3_model_pos_table_is_sincos(m));
    int64_t n_img, n_txt, n_vec, n_t;
    g_autofree float *img = golden("sd3-tiny.inputs.10x12.resdit.safetensors", "img", &n_img);
    g_autofree float *txt = golden("sd3-tiny.inputs.10x12.resdit.safetensors", "txt", &n_txt);
    g_autofree float *vec = golden("sd3-tiny.inputs.10x12.resdit.safetensors", "vec", &n_vec);
    g_autofree float *t = golden("sd3-tiny.inputs.10x12.resdit.safetensors", "timestep", &n_t);
    const Sd3Config *c = sd3_model_config(m);
    g_assert_cmpint(n_img, ==, 10 * 12 * 64);
    Inputs x = {.in = {img, txt, vec, (int)(n_txt / c->txt_dim), 10, 12, t[0]}};
    const char *modes[] = {"global", "local", "fused"};
    const int extra[] = {0, 1, 2 * 6 + 3};
    for (gsize i = 0; i < G_N_ELEMENTS(modes); i++) {
        ResditAttentionPlan plan = tiny_plan(RESDIT_MODE_DIRECT);
        g_assert_true(resdit_mode_from_name(modes[i], &plan.mode));
        g_autofree float *v = run(m, &x, &plan);
        int64_t n;
        g_autofree float *ref = golden("sd3-tiny.resdit.10x12.safetensors", modes[i], &n);
        g_assert_cmpint(n, ==, n_img);
        int tokens = i == 0 ? 120 : 64;
        double err = tu_assert_network_close(modes[i], v, ref, (size_t)n,
                                             tiny_bound(c, x.in.txt_len, tokens, extra[i]));
        g_test_message("%s: relative L2 %.3g against diffusers", modes[i], err);
        g_assert_cmpfloat(err, <=, 1e-4);
    }
    sd3_model_free(m);
    g_autofree char *file = g_build_filename(dir, "diffusion_pytorch_model.safetensors", NULL);
    g_autofree char *cfg = g_build_filename(dir, "config.json", NULL);
    g_remove(file);
    g_remove(cfg);
    g_rmdir(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    be = rd_backend_cpu_new();
    g_test_add_func("/sd3/pos-table/detect", test_table_detect);
    g_test_add_func("/sd3/pos-table/sincos-points", test_table_sincos_points);
    g_test_add_func("/sd3/pos-table/learned", test_table_learned);
    static const char *const configs[] = {"sd3-tiny", "sd35m-tiny"};
    for (gsize i = 0; i < G_N_ELEMENTS(configs); i++) {
        g_autofree char *p1 = g_strdup_printf("/sd3/resdit/base-grid/%s", configs[i]);
        g_test_add_data_func(p1, configs[i], test_base_grid);
        g_autofree char *p2 = g_strdup_printf("/sd3/resdit/cutoffs/%s", configs[i]);
        g_test_add_data_func(p2, configs[i], test_cutoffs);
    }
    g_test_add_func("/sd3/resdit/fused-spectrum", test_fused_spectrum);
    g_test_add_func("/sd3/resdit/goldens", test_goldens);
    int rc = g_test_run();
    rd_backend_free(be);
    return rc;
}
