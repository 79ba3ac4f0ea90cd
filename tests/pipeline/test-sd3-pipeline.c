/* The sampling job on SD3 (tiny transformer and VAE) against diffusers' StableDiffusion3Pipeline
 * with the same text embeddings, negative ones and initial noise
 * (tools/reference/make_sd3_pipeline_goldens.py): classifier-free guidance as two passes, SD3's
 * shift 3.0 and its scheduler's spacing, SD3's VAE constants from the model interface. */
#include <math.h>
#include <string.h>

#include "flow_match.h"
#include "pipeline-private.h"
#include "safetensors.h"
#include "sd3_model.h"
#include "test-util.h"

typedef struct {
    RdSafetensors *st;
    const float *txt, *vec, *neg_txt, *neg_vec, *noise, *sigmas, *latent, *rgb8;
    int txt_len, height, width, steps;
    double guidance;
} Golden;

static const float *tensor(RdSafetensors *st, const char *name, const RdTensorInfo **info)
{
    const RdTensorInfo *t = rd_safetensors_find(st, name);
    g_assert_nonnull(t);
    g_assert_cmpint(t->dtype, ==, RD_F32);
    if (info)
        *info = t;
    return t->data;
}

static Golden load_golden(void)
{
    g_autofree char *path = tu_data_path("sd3-pipeline/golden.safetensors");
    g_autoptr(GError) error = NULL;
    Golden g = {rd_safetensors_open(path, &error)};
    g_assert_no_error(error);
    const RdTensorInfo *txt;
    g.txt = tensor(g.st, "txt", &txt);
    g.txt_len = (int)txt->shape[0];
    g.vec = tensor(g.st, "vec", NULL);
    g.neg_txt = tensor(g.st, "neg_txt", NULL);
    g.neg_vec = tensor(g.st, "neg_vec", NULL);
    g.noise = tensor(g.st, "noise", NULL);
    g.sigmas = tensor(g.st, "sigmas", NULL);
    g.latent = tensor(g.st, "latent", NULL);
    g.rgb8 = tensor(g.st, "rgb8", NULL);
    const float *params = tensor(g.st, "params", NULL);
    g.height = (int)params[0];
    g.width = (int)params[1];
    g.steps = (int)params[2];
    g.guidance = params[3];
    return g;
}

/* sd3-tiny and the tiny VAE's decoder as a single file (no config.json) with SD3's latent
 * constants, as the interface gives them to rd_vae_load_scaled (what resdit_model_open does). */
static ResditModel *tiny_sd3(void)
{
    RdBackend *be = rd_backend_cpu_new();
    g_autofree char *tdir = tu_data_path("sd3/sd3-tiny/transformer");
    g_autofree char *vfile = tu_data_path("pipeline/ae-tiny.bfl.safetensors");
    g_autoptr(GError) error = NULL;
    Sd3Model *sd3 = sd3_model_load(tdir, be, &error);
    g_assert_no_error(error);
    RdDenoiser *d = rd_sd3_denoiser_new(sd3);
    const RdDenoiserInfo *info = rd_denoiser_info(d);
    g_assert_cmpfloat(info->vae_scaling, ==, 1.5305);
    g_assert_cmpfloat(info->vae_shift, ==, 0.0609);
    RdVae *vae = rd_vae_load_scaled(vfile, info->vae_scaling, info->vae_shift, be, &error);
    g_assert_no_error(error);
    g_assert_cmpfloat(rd_vae_config(vae)->scaling_factor, ==, 1.5305);
    g_assert_cmpfloat(rd_vae_config(vae)->shift_factor, ==, 0.0609);
    ResditModel *m = rd_model_new("sd3 tiny", be, d, vae, NULL, NULL);
    m->base_area = 64;
    m->patch = 8;
    m->default_width = m->default_height = 64;
    return m;
}

static void golden_params(const Golden *g, ResditModel *m, ResditJobParams *p)
{
    resdit_job_params_init(p);
    resdit_model_job_defaults(m, p);
    p->width = g->width;
    p->height = g->height;
    p->steps = g->steps;
    p->guidance = g->guidance;
    p->random_seed = FALSE;
    p->seed = 1;
}

/* The sampler's times are the scheduler's sigmas (as float: what the model and the Euler step
 * see). */
static void test_sigmas(void)
{
    Golden g = load_golden();
    double t[16];
    g_assert_cmpint(g.steps, <, 16);
    rd_sampler_timesteps_train_range(g.steps, log(3.0), t);
    for (int i = 0; i <= g.steps; i++)
        g_assert_cmpfloat((float)t[i], ==, g.sigmas[i]);
    rd_safetensors_close(g.st);
}

/* Each element within the bound of the chain of forward passes (two per step, their difference
 * amplified by up to 2 g + 1 in the guided velocity), relative L2 within 1e-4, RGB8 values off by
 * at most 1 and 99 % exact. */
static void test_matches_diffusers(void)
{
    Golden g = load_golden();
    ResditModel *m = tiny_sd3();
    ResditJobParams p;
    golden_params(&g, m, &p);
    RdConditioning cond = {g.txt, g.vec, g.txt_len, g.noise, 0, g.neg_txt, g.neg_vec, g.txt_len};
    size_t n_latent = (size_t)16 * (g.height / 8) * (g.width / 8);
    g_autofree float *latent = g_new(float, n_latent);
    g_autoptr(GError) error = NULL;
    ResditImage *image = rd_pipeline_run(m, &p, &cond, NULL, latent, NULL, &error);
    g_assert_no_error(error);
    g_assert_nonnull(image);
    size_t n_px = (size_t)g.width * g.height * 3, exact = 0, worse = 0;
    for (size_t i = 0; i < n_px; i++) {
        int d = abs((int)image->rgb[i] - (int)g.rgb8[i]);
        exact += d == 0;
        worse += d > 1;
    }
    g_autofree char *tdir = tu_data_path("sd3/sd3-tiny/transformer");
    Sd3Model *probe = sd3_model_load(tdir, m->be, &error);
    g_assert_no_error(error);
    const Sd3Config *c = sd3_model_config(probe);
    int tokens = g.txt_len + (g.height / 16) * (g.width / 16);
    int depth = 2 + 7 * c->layers + 2;
    int64_t K = MAX(MAX(256, c->mlp_hidden), MAX(tokens, MAX(c->txt_dim, c->vec_dim)));
    double bound = (2 * g.guidance + 1) * tu_network_bound(g.steps * depth, K, TU_U_F32);
    sd3_model_free(probe);
    double err = tu_assert_network_close("latent", latent, g.latent, n_latent, bound);
    g_test_message("SD3 job vs StableDiffusion3Pipeline: latent rel L2 %.3g; RGB8 exact %zu of "
                   "%zu, off by more than 1: %zu",
                   err, exact, n_px, worse);
    g_assert_cmpfloat(err, <, 1e-4);
    g_assert_cmpuint(worse, ==, 0);
    g_assert_cmpuint(exact, >=, n_px * 99 / 100);
    resdit_image_free(image);

    /* without the negative embeddings a guided SD3 job is refused with a message */
    RdConditioning bare = {g.txt, g.vec, g.txt_len, g.noise, 0};
    g_assert_null(rd_pipeline_run(m, &p, &bare, NULL, NULL, NULL, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull(strstr(error->message, "negative prompt"));
    resdit_job_params_clear(&p);
    resdit_model_free(m);
    rd_safetensors_close(g.st);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/sd3-pipeline/sigmas", test_sigmas);
    g_test_add_func("/sd3-pipeline/matches-diffusers", test_matches_diffusers);
    return g_test_run();
}
