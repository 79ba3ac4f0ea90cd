/* The SD3 transformer against diffusers' SD3Transformer2DModel (tools/reference/
 * make_sd3_goldens.py): SD3 Medium's structure, SD3.5's q/k RMSNorm and SD3.5 Medium's MMDiT-X
 * layers, on a grid that is not square and one that is, each cropped from the centre of the
 * position table. */
#include <stdarg.h>
#include <string.h>

#include "backend.h"
#include "resdit.h"
#include "safetensors.h"
#include "sd3_model.h"
#include "test-util.h"

static RdBackend *be;

static const char *const configs[] = {"sd3-tiny", "sd35-tiny", "sd35m-tiny"};
static const int grids[][2] = {{8, 12}, {10, 10}};

static char *sd3_data(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static char *sd3_data(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *name = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_autofree char *rel = g_build_filename("sd3", name, NULL);
    return tu_data_path(rel);
}

static gboolean stability_layout; /* the test loads <config>.stability.safetensors */

static Sd3Model *load(const char *config)
{
    g_autofree char *path = stability_layout ? sd3_data("%s.stability.safetensors", config)
                                             : sd3_data("%s/transformer", config);
    g_autoptr(GError) error = NULL;
    Sd3Model *m = sd3_model_load(path, be, &error);
    g_assert_no_error(error);
    return m;
}

static float *golden(const char *file, const char *tensor, int64_t *numel)
{
    g_autofree char *path = sd3_data("%s", file);
    g_autoptr(GError) error = NULL;
    RdSafetensors *st = rd_safetensors_open(path, &error);
    g_assert_no_error(error);
    const RdTensorInfo *t = rd_safetensors_find(st, tensor);
    if (t == NULL)
        g_error("%s has no tensor %s", path, tensor);
    *numel = rd_tensor_info_numel(t);
    float *data = g_new(float, *numel);
    rd_convert_to_f32(t->dtype, t->data, data, (size_t)*numel);
    rd_safetensors_close(st);
    return data;
}

typedef struct {
    float *img, *txt, *vec, *timestep;
    Sd3Inputs in;
} Inputs;

static void inputs_load(Inputs *x, const Sd3Model *m, const char *config, int rows, int cols)
{
    g_autofree char *file = g_strdup_printf("%s.inputs.%dx%d.safetensors", config, rows, cols);
    int64_t n, txt_numel;
    x->img = golden(file, "img", &n);
    g_assert_cmpint(n, ==, (int64_t)rows * cols * 64);
    x->txt = golden(file, "txt", &txt_numel);
    x->vec = golden(file, "vec", &n);
    g_assert_cmpint(n, ==, sd3_model_config(m)->vec_dim);
    x->timestep = golden(file, "timestep", &n);
    x->in = (Sd3Inputs){x->img, x->txt, x->vec, (int)(txt_numel / sd3_model_config(m)->txt_dim),
                        rows, cols, x->timestep[0]};
}

static void inputs_clear(Inputs *x)
{
    g_free(x->img);
    g_free(x->txt);
    g_free(x->vec);
    g_free(x->timestep);
}

/* Two f32 evaluations in different orders: the longest chain is the two embedder linears, seven
 * reductions a joint block (modulation, q/k/v, scores, values, output, two MLP linears; the
 * MMDiT-X attention runs beside the joint one, not after it) and the final two; the longest
 * reduction the 256 timestep frequencies, the MLP's hidden width, every token, or the text
 * width. */
static double model_bound(const Sd3Config *c, const Sd3Inputs *in)
{
    int tokens = in->txt_len + in->grid_rows * in->grid_cols;
    int depth = 2 + 7 * c->layers + 2;
    int64_t k = MAX(MAX(256, c->mlp_hidden), MAX(tokens, MAX(c->txt_dim, c->vec_dim)));
    return tu_network_bound(depth, k, TU_U_F32);
}

static void check_direct(const char *config)
{
    Sd3Model *m = load(config);
    const Sd3Config *c = sd3_model_config(m);
    g_assert_cmpint(c->layers, ==, 3);
    g_assert_cmpint(c->head_dim, ==, 16);
    g_assert_cmpint(c->heads, ==, 2);
    g_assert_cmpint(c->qk_norm, ==, strcmp(config, "sd3-tiny") != 0);
    g_assert_cmpint(c->dual[0], ==, strcmp(config, "sd35m-tiny") == 0);
    g_assert_false(c->dual[2]);
    for (gsize g = 0; g < G_N_ELEMENTS(grids); g++) {
        Inputs x;
        inputs_load(&x, m, config, grids[g][0], grids[g][1]);
        size_t n = (size_t)grids[g][0] * grids[g][1] * 64;
        g_autofree float *v = g_new(float, n);
        g_autoptr(GError) error = NULL;
        g_assert_true(sd3_model_forward(m, &x.in, v, NULL, &error));
        g_assert_no_error(error);
        g_autofree char *file =
            g_strdup_printf("%s.direct.%dx%d.safetensors", config, grids[g][0], grids[g][1]);
        int64_t ref_n;
        g_autofree float *ref = golden(file, "velocity", &ref_n);
        g_assert_cmpint(ref_n, ==, (int64_t)n);
        g_autofree char *what = g_strdup_printf("%s %dx%d", config, grids[g][0], grids[g][1]);
        double err = tu_assert_network_close(what, v, ref, n, model_bound(c, &x.in));
        if (!(err <= 1e-4))
            g_error("%s: relative L2 %.3g exceeds 1e-4", what, err);
        inputs_clear(&x);
    }
    sd3_model_free(m);
}

static void test_direct(gconstpointer data)
{
    stability_layout = FALSE;
    check_direct(data);
}

/* Stability's single files (sd35m-tiny's with ComfyUI's "model.diffusion_model." prefix): the
 * same numbers from the fused qkv and the (shift, scale) modulations. */
static void test_stability(gconstpointer data)
{
    stability_layout = TRUE;
    check_direct(data);
    stability_layout = FALSE;
}

/* A grid larger than the position table is refused with a message, never read out of bounds. */
static void test_grid_beyond_table(void)
{
    Sd3Model *m = load("sd3-tiny");
    Inputs x;
    inputs_load(&x, m, "sd3-tiny", 8, 12);
    x.in.grid_rows = sd3_model_config(m)->pos_max + 1;
    x.in.grid_cols = 1;
    float v[64];
    g_autoptr(GError) error = NULL;
    g_assert_false(sd3_model_forward(m, &x.in, v, NULL, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull(strstr(error->message, "position table"));
    inputs_clear(&x);
    sd3_model_free(m);
}

static void test_cancel(void)
{
    Sd3Model *m = load("sd35m-tiny");
    Inputs x;
    inputs_load(&x, m, "sd35m-tiny", 8, 12);
    g_autofree float *v = g_new(float, 8 * 12 * 64);
    g_autoptr(GCancellable) cancel = g_cancellable_new();
    g_cancellable_cancel(cancel);
    g_autoptr(GError) error = NULL;
    g_assert_false(sd3_model_forward(m, &x.in, v, cancel, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_CANCELLED);
    inputs_clear(&x);
    sd3_model_free(m);
}

/* A FLUX transformer is not taken for SD3, and the message says what the file lacks. */
static void test_not_sd3(void)
{
    g_autofree char *flux = tu_data_path("flux/tiny-a/transformer");
    g_autofree char *sd3 = sd3_data("sd3-tiny/transformer");
    g_assert_false(sd3_weights_recognise(flux));
    g_assert_true(sd3_weights_recognise(sd3));
    g_autofree char *single = sd3_data("sd35m-tiny.stability.safetensors");
    g_assert_true(sd3_weights_recognise(single));
    g_autoptr(GError) error = NULL;
    g_assert_null(sd3_model_load(flux, be, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL);
    g_assert_nonnull(strstr(error->message, "not an SD3 transformer"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    be = rd_backend_cpu_new();
    for (gsize i = 0; i < G_N_ELEMENTS(configs); i++) {
        g_autofree char *path = g_strdup_printf("/sd3/direct/%s", configs[i]);
        g_test_add_data_func(path, configs[i], test_direct);
        g_autofree char *single = g_strdup_printf("/sd3/stability/%s", configs[i]);
        g_test_add_data_func(single, configs[i], test_stability);
    }
    g_test_add_func("/sd3/grid-beyond-table", test_grid_beyond_table);
    g_test_add_func("/sd3/cancel", test_cancel);
    g_test_add_func("/sd3/not-sd3", test_not_sd3);
    int rc = g_test_run();
    rd_backend_free(be);
    return rc;
}
