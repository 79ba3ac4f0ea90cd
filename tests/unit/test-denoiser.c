/* The model interface (engine/models/denoiser.h): the family picked by the file's tensors, what
 * each family declares, FLUX's pass through the interface the same numbers as FLUX's own, and
 * what SD3 refuses. */
#include <math.h>
#include <string.h>

#include "denoiser.h"
#include "flux_model.h"
#include "sd3_model.h"
#include "test-util.h"

static RdBackend *be;

static RdDenoiser *load(const char *rel, const char *config)
{
    g_autofree char *path = tu_data_path(rel);
    g_autoptr(GError) error = NULL;
    RdDenoiser *d = rd_denoiser_load(path, config, be, &error);
    g_assert_no_error(error);
    g_assert_nonnull(d);
    return d;
}

static void test_families(void)
{
    RdDenoiser *flux = load("flux/tiny-a/transformer", NULL);
    const RdDenoiserInfo *f = rd_denoiser_info(flux);
    g_assert_cmpint(f->family, ==, RD_DENOISER_FLUX);
    g_assert_cmpint(f->positions, ==, RD_POSITIONS_ROPE);
    g_assert_cmpint(f->guidance, ==, RD_GUIDANCE_EMBEDDED); /* tiny-a is dev-like */
    g_assert_cmpint(f->shift, ==, RD_SHIFT_RESOLUTION);
    g_assert_cmpint(f->spacing, ==, RD_SPACING_TO_ZERO);
    g_assert_cmpfloat(f->vae_scaling, ==, 0.3611);
    g_assert_cmpfloat(f->vae_shift, ==, 0.1159);
    g_assert_true(f->loras);
    g_assert_nonnull(rd_denoiser_flux(flux));
    g_assert_true(g_str_has_suffix(rd_denoiser_path(flux), ".safetensors"));

    RdDenoiser *sd3 = load("sd3/sd3-tiny/transformer", NULL);
    const RdDenoiserInfo *s = rd_denoiser_info(sd3);
    g_assert_cmpint(s->family, ==, RD_DENOISER_SD3);
    g_assert_cmpint(s->positions, ==, RD_POSITIONS_TABLE);
    g_assert_cmpint(s->guidance, ==, RD_GUIDANCE_CFG);
    g_assert_cmpint(s->shift, ==, RD_SHIFT_FIXED);
    g_assert_cmpfloat(fabs(exp(s->fixed_mu) - 3.0), <, 1e-15);
    g_assert_cmpint(s->spacing, ==, RD_SPACING_TRAIN_RANGE);
    g_assert_cmpfloat(s->vae_scaling, ==, 1.5305);
    g_assert_cmpfloat(s->vae_shift, ==, 0.0609);
    g_assert_cmpint(s->max_grid_side, ==, 24);
    g_assert_cmpint(s->txt_dim, ==, 24);
    g_assert_cmpint(s->vec_dim, ==, 20);
    g_assert_false(s->loras);
    g_assert_null(rd_denoiser_flux(sd3));
    g_autoptr(GError) error = NULL;
    g_assert_true(rd_denoiser_set_loras(sd3, NULL, NULL, 0, &error));
    g_assert_false(rd_denoiser_set_loras(sd3, NULL, NULL, 1, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull(strstr(error->message, "SD3"));
    rd_denoiser_free(flux);
    rd_denoiser_free(sd3);
}

/* A config.json is for FLUX single files; SD3 reads its own and says so. */
static void test_sd3_config_refused(void)
{
    g_autofree char *path = tu_data_path("sd3/sd3-tiny/transformer");
    g_autoptr(GError) error = NULL;
    g_assert_null(rd_denoiser_load(path, "{}", be, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull(strstr(error->message, "SD3"));
}

/* The interface adds nothing to FLUX's forward: the same calls, bit for bit, in every mode. */
static void test_flux_same_numbers(void)
{
    RdDenoiser *d = load("flux/tiny-a/transformer", NULL);
    FluxModel *flux = rd_denoiser_flux(d);
    const FluxConfig *c = flux_model_config(flux);
    const int rows = 12, cols = 20, txt_len = 5, n = rows * cols * c->in_channels;
    g_autofree float *img = g_new(float, n), *txt = g_new(float, txt_len * c->txt_dim);
    g_autofree float *vec = g_new(float, c->vec_dim);
    tu_fill_uniform(img, n, -1, 1, 1);
    tu_fill_uniform(txt, txt_len * c->txt_dim, -1, 1, 2);
    tu_fill_uniform(vec, c->vec_dim, -1, 1, 3);
    g_autofree float *a = g_new(float, n), *b = g_new(float, n);
    for (int mode = RESDIT_MODE_DIRECT; mode <= RESDIT_MODE_FUSED; mode++) {
        ResditAttentionPlan plan = {(ResditMode)mode, {0}};
        resdit_method_params_init(&plan.method);
        plan.method.base_area = 64;
        plan.method.patch = 8;
        RdDenoiserInputs in = {img, txt, vec, txt_len, rows, cols, 0.6f, 3.5f};
        FluxInputs fin = {img, txt, vec, txt_len, rows, cols, 0.6f, 3.5f};
        g_autoptr(GError) error = NULL;
        g_assert_true(rd_denoiser_forward(d, &in, &plan, a, NULL, &error));
        g_assert_true(flux_model_forward(flux, &fin, &plan, b, NULL, &error));
        g_assert_no_error(error);
        tu_assert_close(resdit_mode_name(plan.mode), a, b, n, 0.0f, 0.0f);
    }
    rd_denoiser_free(d);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    be = rd_backend_cpu_new();
    g_test_add_func("/denoiser/families", test_families);
    g_test_add_func("/denoiser/sd3-config-refused", test_sd3_config_refused);
    g_test_add_func("/denoiser/flux-same-numbers", test_flux_same_numbers);
    int rc = g_test_run();
    rd_backend_free(be);
    return rc;
}
