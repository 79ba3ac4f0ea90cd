/* The job end to end on the tiny reference models, against diffusers' FluxPipeline with the same
 * initial noise and text embeddings (tools/reference/make_pipeline_goldens.py). */
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "flux_model.h"
#include "pipeline-private.h"
#include "png_writer.h"
#include "safetensors.h"
#include "test-util.h"

typedef struct {
    RdSafetensors *st;
    const float *txt, *vec, *noise, *latent, *rgb8;
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

static Golden load_golden(const char *dir)
{
    g_autofree char *name = g_build_filename(dir, "golden.safetensors", NULL);
    g_autofree char *path = tu_data_path(name);
    g_autoptr(GError) error = NULL;
    Golden g = {rd_safetensors_open(path, &error)};
    g_assert_no_error(error);
    const RdTensorInfo *txt;
    g.txt = tensor(g.st, "txt", &txt);
    g.txt_len = (int)txt->shape[0];
    g.vec = tensor(g.st, "vec", NULL);
    g.noise = tensor(g.st, "noise", NULL);
    g.latent = tensor(g.st, "latent", NULL);
    g.rgb8 = tensor(g.st, "rgb8", NULL);
    const float *params = tensor(g.st, "params", NULL);
    g.height = (int)params[0];
    g.width = (int)params[1];
    g.steps = (int)params[2];
    g.guidance = params[3];
    return g;
}

static ResditModel *tiny_model(const char *dir)
{
    RdBackend *be = rd_backend_cpu_new();
    g_autofree char *tname = g_build_filename(dir, "transformer", NULL);
    g_autofree char *tdir = tu_data_path(tname);
    g_autofree char *vdir = tu_data_path("vae/diffusers");
    g_autoptr(GError) error = NULL;
    FluxModel *flux = flux_model_load(tdir, be, &error);
    g_assert_no_error(error);
    RdVae *vae = rd_vae_load(vdir, be, &error);
    g_assert_no_error(error);
    ResditModel *m = rd_model_new("tiny reference", be, rd_flux_denoiser_new(flux), vae, NULL, NULL);
    m->base_area = 64;
    m->patch = 8;
    m->default_width = m->default_height = 128;
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

/* Runs the golden job in one attention setting and compares latent and image. */
static void check_against_diffusers(const char *dir, gboolean schedule, ResditMode fixed)
{
    Golden g = load_golden(dir);
    ResditModel *m = tiny_model(dir);
    ResditJobParams p;
    golden_params(&g, m, &p);
    p.schedule = schedule;
    p.fixed_mode = fixed;
    RdConditioning cond = {g.txt, g.vec, g.txt_len, g.noise, 0};
    size_t n_latent = (size_t)16 * (g.height / 8) * (g.width / 8);
    float *latent = g_new(float, n_latent);
    g_autoptr(GError) error = NULL;
    ResditImage *image = rd_pipeline_run(m, &p, &cond, NULL, latent, NULL, &error);
    g_assert_no_error(error);
    g_assert_nonnull(image);

    double max_diff = 0;
    for (size_t i = 0; i < n_latent; i++)
        max_diff = MAX(max_diff, fabs((double)latent[i] - g.latent[i]));
    size_t n_px = (size_t)g.width * g.height * 3, exact = 0, off_by_one = 0, worse = 0;
    for (size_t i = 0; i < n_px; i++) {
        int d = abs((int)image->rgb[i] - (int)g.rgb8[i]);
        exact += d == 0;
        off_by_one += d == 1;
        worse += d > 1;
    }
    g_test_message("%s, %s vs FluxPipeline: latent max |diff| %.3g, rel L2 %.3g; RGB8 values exact "
                   "%zu, off by 1 %zu, more %zu of %zu",
                   dir, schedule ? "ResDiT schedule" : resdit_mode_name(fixed), max_diff,
                   tu_relative_l2(latent, g.latent, n_latent), exact, off_by_one, worse, n_px);
    /* Every element within the bound of the chain through all steps' forward passes, relative L2
     * within the parity figure; the RGB8 counts below are what a user sees. */
    g_autofree char *config_name = g_build_filename(dir, "transformer", "config.json", NULL);
    g_autofree char *config = tu_data_path(config_name);
    int tokens = g.txt_len + (g.height / 16) * (g.width / 16);
    double bound = tu_flux_config_bound(config, tokens, g.steps, TU_U_F32);
    g_assert_cmpfloat(tu_assert_network_close("latent", latent, g.latent, n_latent, bound), <,
                      1e-4);
    g_assert_cmpuint(worse, ==, 0);
    g_assert_cmpuint(exact, >=, n_px * 99 / 100);
    g_assert_true(g_str_has_prefix(image->parameters, ""));
    g_assert_nonnull(strstr(image->parameters, "Steps: 4"));
    g_assert_nonnull(strstr(image->parameters_json, "\"seed\":1,"));
    resdit_image_free(image);
    g_free(latent);
    resdit_job_params_clear(&p);
    resdit_model_free(m);
    rd_safetensors_close(g.st);
}

/* At the base grid every mode is the plain forward pass, so the schedule matches diffusers. */
static void test_schedule_matches_diffusers(void)
{
    check_against_diffusers("pipeline", TRUE, RESDIT_MODE_DIRECT);
}

static void test_direct_matches_diffusers(void)
{
    check_against_diffusers("pipeline", FALSE, RESDIT_MODE_DIRECT);
}

/* Schnell: no guidance input, no timestep shift (mu = 0 in the base mode). */
static void test_schnell_matches_diffusers(void)
{
    check_against_diffusers("pipeline-schnell", TRUE, RESDIT_MODE_DIRECT);
}

static void test_patchify_round_trip(void)
{
    const int C = 16, H = 6, W = 10;
    float latent[16 * 6 * 10], tokens[16 * 6 * 10], back[16 * 6 * 10];
    tu_fill_uniform(latent, G_N_ELEMENTS(latent), -1, 1, 3);
    rd_patchify(latent, C, H, W, tokens);
    /* token (r=1, c=2), channel 3, py=1, px=0 comes from latent[3][3][4] */
    g_assert_cmpfloat(tokens[(1 * 5 + 2) * 64 + 3 * 4 + 2], ==, latent[(3 * H + 3) * W + 4]);
    rd_unpatchify(tokens, C, H, W, back);
    tu_assert_close("round trip", back, latent, G_N_ELEMENTS(latent), 0, 0);
}

/* The public path from files on disk: the tiny transformer and VAE with the tiny CLIP/T5 of
 * tests/data/text, a prompt in, an image out, the same twice. */
static void test_model_from_files(void)
{
    ResditModelPaths paths = {
        .name = g_strdup("tiny from files"),
        .transformer = tu_data_path("pipeline/transformer"),
        .vae = tu_data_path("vae/diffusers"),
        .clip_l = tu_data_path("text/tiny"),
        .t5 = tu_data_path("text/tiny"),
    };
    g_autoptr(GError) error = NULL;
    ResditModel *m = resdit_model_open(&paths, RESDIT_BACKEND_CPU, &error);
    g_assert_no_error(error);
    g_assert_true(resdit_model_has_guidance(m));
    ResditJobParams p;
    resdit_job_params_init(&p);
    resdit_model_job_defaults(m, &p);
    g_assert_cmpint(p.steps, ==, 35);
    g_free(p.prompt);
    p.prompt = g_strdup("a watercolour lighthouse");
    p.width = 256; /* 16 x 16 tokens: 2x the 8 x 8 base grid, so the schedule does work */
    p.height = 256;
    p.steps = 4;
    p.method.base_area = 64;
    p.method.patch = 8;
    p.random_seed = FALSE;
    p.seed = 31;
    ResditImage *a = resdit_generate(m, &p, NULL, NULL, &error);
    g_assert_no_error(error);
    ResditImage *b = resdit_generate(m, &p, NULL, NULL, &error);
    g_assert_no_error(error);
    size_t n = (size_t)256 * 256 * 3, distinct = 0;
    /* Bit for bit by construction: the same job in the same environment makes the same calls on the
     * same shapes in the same order (each output block is one thread's sgemm). */
    g_assert_true(memcmp(a->rgb, b->rgb, n) == 0);
    for (size_t i = 1; i < n; i++)
        distinct += a->rgb[i] != a->rgb[0];
    g_assert_cmpuint(distinct, >, n / 2);
    g_assert_nonnull(strstr(a->parameters, "ResDiT: global 1 fused 1 local 2"));
    resdit_image_free(a);
    resdit_image_free(b);
    resdit_job_params_clear(&p);
    resdit_model_free(m);

    /* A part missing: named in the error, nothing opened. */
    g_clear_pointer(&paths.t5, g_free);
    g_assert_null(resdit_model_open(&paths, RESDIT_BACKEND_CPU, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL);
    g_assert_nonnull(strstr(error->message, "t5 missing"));
    g_clear_error(&error);
    /* The VAE given as the transformer: said so. */
    paths.t5 = tu_data_path("text/tiny");
    g_free(paths.transformer);
    paths.transformer = tu_data_path("vae/ae.safetensors");
    g_assert_null(resdit_model_open(&paths, RESDIT_BACKEND_CPU, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL);
    g_test_message("%s", error->message);
    resdit_model_paths_clear(&paths);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pipeline/patchify-round-trip", test_patchify_round_trip);
    g_test_add_func("/pipeline/direct-matches-diffusers", test_direct_matches_diffusers);
    g_test_add_func("/pipeline/schedule-matches-diffusers", test_schedule_matches_diffusers);
    g_test_add_func("/pipeline/schnell-matches-diffusers", test_schnell_matches_diffusers);
    g_test_add_func("/pipeline/model-from-files", test_model_from_files);
    return g_test_run();
}
