/* A whole SD3 generation (text encoders, CFG sampling, VAE) against diffusers'
 * StableDiffusion3Pipeline run with its own text encoders on a prompt and a negative prompt
 * (tools/reference/make_sd3_generate_goldens.py): through the C API and as `resdit generate` on
 * a diffusers folder assembled from tests/data; discovery of that folder; the records; a model
 * missing CLIP-G. */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "noise.h"
#include "pipeline-private.h"
#include "safetensors.h"
#include "sd3_model.h"
#include "sd3_text.h"
#include "test-util.h"
#include "sd3-tiny-model.h"

typedef struct {
    RdSafetensors *st;
    const float *noise, *latent, *rgb8;
    int height, width, steps;
    double guidance;
    guint64 seed;
    char *prompt, *negative;
} Golden;

static const float *tensor(RdSafetensors *st, const char *name)
{
    const RdTensorInfo *t = rd_safetensors_find(st, name);
    g_assert_nonnull(t);
    g_assert_cmpint(t->dtype, ==, RD_F32);
    return t->data;
}

static Golden load_golden(void)
{
    g_autofree char *path = tu_data_path("sd3-generate/golden.safetensors");
    g_autofree char *json_path = tu_data_path("sd3-generate/golden.json");
    g_autoptr(GError) error = NULL;
    Golden g = {rd_safetensors_open(path, &error)};
    g_assert_no_error(error);
    g.noise = tensor(g.st, "noise");
    g.latent = tensor(g.st, "latent");
    g.rgb8 = tensor(g.st, "rgb8");
    const float *pv = tensor(g.st, "params");
    g.height = (int)pv[0];
    g.width = (int)pv[1];
    g.steps = (int)pv[2];
    g.guidance = pv[3];
    g_autoptr(JsonParser) parser = json_parser_new();
    g_assert_true(json_parser_load_from_file(parser, json_path, &error));
    JsonObject *o = json_node_get_object(json_parser_get_root(parser));
    g.prompt = g_strdup(json_object_get_string_member(o, "prompt"));
    g.negative = g_strdup(json_object_get_string_member(o, "negative_prompt"));
    g.seed = (guint64)json_object_get_int_member(o, "seed");
    return g;
}

static void golden_clear(Golden *g)
{
    rd_safetensors_close(g->st);
    g_free(g->prompt);
    g_free(g->negative);
}

/* The shared tiny SD3 folder with its base size at the image's 64 px. */
static char *assemble_model(const char *top)
{
    g_autofree char *data = tu_data_path(".");
    return sd3_tiny_model_assemble(data, top, 64);
}

static char *temp_dir(void)
{
    g_autoptr(GError) error = NULL;
    char *dir = g_dir_make_tmp("resdit-sd3-XXXXXX", &error);
    g_assert_no_error(error);
    return dir;
}

/* The discovered model of the folder: complete, SD3, every part in its place. */
static ResditModelPaths *discover(const char *root)
{
    const char *dirs[] = {root, NULL};
    g_autoptr(GPtrArray) found = resdit_models_discover(dirs);
    g_autofree char *canon = g_canonicalize_filename(root, NULL);
    for (guint i = 0; i < found->len; i++) {
        ResditModelPaths *p = g_ptr_array_index(found, i);
        g_autofree char *proot = p->root ? g_canonicalize_filename(p->root, NULL) : NULL;
        if (g_strcmp0(proot, canon) == 0)
            return resdit_model_paths_copy(p);
    }
    g_assert_not_reached();
    return NULL;
}

/* RGB8 values of a generation against diffusers': none off by more than 1, 99 % exact. */
static void assert_rgb_close(const char *what, const guint8 *rgb, const Golden *g)
{
    size_t n = (size_t)g->width * g->height * 3, exact = 0, worse = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)rgb[i] - (int)g->rgb8[i]);
        exact += d == 0;
        worse += d > 1;
    }
    g_test_message("%s: RGB8 exact %zu of %zu, off by more than 1: %zu", what, exact, n, worse);
    g_assert_cmpuint(worse, ==, 0);
    g_assert_cmpuint(exact, >=, n * 99 / 100);
}

static void job_params(const Golden *g, ResditModel *m, ResditJobParams *p)
{
    resdit_job_params_init(p);
    resdit_model_job_defaults(m, p);
    g_free(p->prompt);
    p->prompt = g_strdup(g->prompt);
    g_free(p->negative_prompt);
    p->negative_prompt = g_strdup(g->negative);
    p->width = g->width;
    p->height = g->height;
    p->steps = g->steps;
    p->guidance = g->guidance;
    p->random_seed = FALSE;
    p->seed = g->seed;
}

/* The engine's noise for the seed is the golden's (computed by the script from noise.h's
 * description): each element within one float rounding of the double Box-Muller value. */
static void test_noise(void)
{
    Golden g = load_golden();
    size_t n = (size_t)16 * (g.height / 8) * (g.width / 8);
    g_autofree float *noise = g_new(float, n);
    rd_noise_normal(g.seed, noise, n);
    for (size_t i = 0; i < n; i++)
        g_assert_cmpfloat(fabsf(noise[i] - g.noise[i]), <=, 0x1p-23f * fabsf(g.noise[i]) + 1e-30f);
    golden_clear(&g);
}

static void test_discovery(void)
{
    g_autofree char *top = temp_dir();
    g_autofree char *root = assemble_model(top);
    ResditModelPaths *p = discover(root);
    g_autofree char *missing = resdit_model_paths_missing(p);
    if (missing)
        g_test_message("missing: %s", missing);
    g_assert_null(missing);
    g_assert_cmpint(p->family, ==, RESDIT_FAMILY_SD3);
    g_assert_nonnull(p->transformer);
    g_assert_nonnull(p->vae);
    g_assert_nonnull(p->clip_l);
    g_assert_nonnull(p->clip_g);
    g_assert_nonnull(p->t5);
    g_assert_true(g_str_has_suffix(p->clip_g, "text_encoder_2"));
    g_assert_true(g_str_has_suffix(p->t5, "text_encoder_3"));
    resdit_model_paths_free(p);
    tu_remove_tree(top);
}

/* resdit_model_open and resdit_generate; then the sampled latent itself, through the job with
 * the model's own encoders' embeddings. */
static void test_api(void)
{
    Golden g = load_golden();
    g_autofree char *top = temp_dir();
    g_autofree char *root = assemble_model(top);
    ResditModelPaths *paths = discover(root);
    g_autoptr(GError) error = NULL;
    ResditModel *m = resdit_model_open(paths, RESDIT_BACKEND_CPU, &error);
    g_assert_no_error(error);
    resdit_model_paths_free(paths);
    g_assert_cmpint(resdit_model_family(m), ==, RESDIT_FAMILY_SD3);
    g_assert_true(resdit_model_uses_cfg(m));
    g_assert_false(resdit_model_has_guidance(m));
    /* SD3 Medium's structure (no q/k norm, no MMDiT-X): 28 steps, CFG 7; resdit.json's base */
    g_assert_cmpfloat(resdit_model_default_guidance(m), ==, 7.0);
    g_assert_cmpint(resdit_model_default_t5_len(m), ==, 256);
    g_assert_cmpint(resdit_model_base_size(m), ==, 64);
    ResditJobParams p;
    resdit_job_params_init(&p);
    resdit_model_job_defaults(m, &p);
    g_assert_cmpint(p.steps, ==, 28);
    g_assert_cmpfloat(p.guidance, ==, 7.0);
    g_assert_cmpint(p.method.base_area, ==, 16);
    resdit_job_params_clear(&p);
    ResditTokenCount count;
    g_assert_true(resdit_model_count_tokens(m, g.prompt, &count, &error));
    g_assert_cmpint(count.clip_limit, ==, 77);
    g_assert_cmpint(count.t5_limit, ==, 256);
    g_assert_cmpint(count.clip, >, 2);

    job_params(&g, m, &p);
    ResditMemoryEstimate est;
    g_assert_true(resdit_estimate_memory(m, &p, &est, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(est.weights, >, 0);
    g_assert_cmpuint(est.total, >=, est.weights);
    ResditImage *image = resdit_generate(m, &p, NULL, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpint(image->width, ==, g.width);
    g_assert_cmpint(image->height, ==, g.height);
    assert_rgb_close("resdit_generate", image->rgb, &g);
    /* the records: the negative prompt as A1111 writes it, the CFG scale, the family */
    g_autofree char *neg_line = g_strdup_printf("\nNegative prompt: %s\n", g.negative);
    g_assert_nonnull(strstr(image->parameters, neg_line));
    g_assert_true(g_str_has_prefix(image->parameters, g.prompt));
    g_assert_nonnull(strstr(image->parameters, "CFG scale: 4.5, Seed:"));
    g_assert_null(strstr(image->parameters, "Distilled CFG"));
    g_assert_nonnull(strstr(image->parameters, "Model family: SD3"));
    g_assert_nonnull(strstr(image->parameters_json, "\"family\":\"SD3\""));
    g_assert_nonnull(strstr(image->parameters_json, "\"t5_len\":256,")); /* not the text rows */
    ResditJobParams back;
    resdit_job_params_init(&back);
    g_assert_true(resdit_job_params_from_json(&back, image->parameters_json, &error));
    g_assert_cmpstr(back.negative_prompt, ==, g.negative);
    g_assert_cmpstr(back.prompt, ==, g.prompt);
    g_assert_cmpfloat(back.guidance, ==, g.guidance);
    resdit_job_params_clear(&back);
    resdit_image_free(image);

    /* the latent: the job from the same encoders' embeddings and the golden noise */
    float *txt, *vec, *neg_txt, *neg_vec;
    g_assert_true(rd_sd3_text_encode(m->sd3_text, g.prompt, g.negative, 256, &txt, &vec, &neg_txt,
                                     &neg_vec, NULL, NULL, &error));
    int rows = rd_sd3_text_txt_rows(m->sd3_text, 256);
    RdConditioning cond = {txt, vec, rows, g.noise, 0, neg_txt, neg_vec, rows};
    size_t n_latent = (size_t)16 * (g.height / 8) * (g.width / 8);
    g_autofree float *latent = g_new(float, n_latent);
    image = rd_pipeline_run(m, &p, &cond, NULL, latent, NULL, &error);
    g_assert_no_error(error);
    assert_rgb_close("job from the encoders' embeddings", image->rgb, &g);
    resdit_image_free(image);
    const Sd3Config *c = sd3_model_config(m->denoiser->impl);
    int tokens = rows + (g.height / 16) * (g.width / 16);
    int depth = 2 + 7 * c->layers + 2;
    int64_t K = MAX(MAX(256, c->mlp_hidden), MAX(tokens, MAX(c->txt_dim, c->vec_dim)));
    /* the chain of passes (two per step, their difference amplified by up to 2 g + 1) after the
     * encoders' own chain (make_sd3_text_goldens.py: 21 reductions of at most 512) */
    double bound = (2 * g.guidance + 1) * (tu_network_bound(g.steps * depth, K, TU_U_F32) +
                                           tu_network_bound(21, 512, TU_U_F32));
    double err = tu_assert_network_close("latent", latent, g.latent, n_latent, bound);
    g_test_message("SD3 generation vs StableDiffusion3Pipeline: latent rel L2 %.3g", err);
    g_assert_cmpfloat(err, <, 1e-4);
    g_free(txt);
    g_free(vec);
    g_free(neg_txt);
    g_free(neg_vec);
    resdit_job_params_clear(&p);
    resdit_model_free(m);
    tu_remove_tree(top);
    golden_clear(&g);
}

/* The command, with its stderr in the test's messages when it fails. */
static TuRun run_cli(const char *const *args)
{
    TuRun r = tu_run_cli(args);
    if (r.status != 0)
        g_test_message("resdit exited with %d:\n%s", r.status, r.err);
    return r;
}

/* `resdit generate --model DIR` with a negative prompt; the PNG's record; `resdit models`. */
static void test_cli(void)
{
    Golden g = load_golden();
    g_autofree char *top = temp_dir();
    g_autofree char *root = assemble_model(top);
    g_autofree char *out = g_build_filename(top, "sd3.png", NULL);
    g_autofree char *seed = g_strdup_printf("%" G_GUINT64_FORMAT, g.seed);
    g_autofree char *w = g_strdup_printf("%d", g.width), *h = g_strdup_printf("%d", g.height);
    g_autofree char *steps = g_strdup_printf("%d", g.steps);
    char guidance[G_ASCII_DTOSTR_BUF_SIZE];
    g_ascii_dtostr(guidance, sizeof guidance, g.guidance);
    const char *args[] = {"generate", "--model",      root,  "-p",         g.prompt, "-n",
                          g.negative, "--seed",       seed,  "-W",         w,        "-H",
                          h,          "--steps",      steps, "--guidance", guidance, "--backend",
                          "cpu",      "--no-history", "-q",  "-o",         out,      NULL};
    TuRun r = run_cli(args);
    g_assert_cmpint(r.status, ==, 0);
    tu_run_clear(&r);
    int pw, ph;
    g_autoptr(GError) error = NULL;
    g_autofree guint8 *rgb = resdit_png_load_rgb(out, &pw, &ph, &error);
    g_assert_no_error(error);
    g_assert_cmpint(pw, ==, g.width);
    g_assert_cmpint(ph, ==, g.height);
    assert_rgb_close("resdit generate", rgb, &g);
    g_autofree char *json = resdit_png_read_parameters(out, &error);
    g_assert_no_error(error);
    g_assert_nonnull(strstr(json, "\"family\":\"SD3\""));
    g_assert_nonnull(strstr(json, "\"negative_prompt\":\"blurry, low quality\""));

    const char *list[] = {"models", "--models-dir", root, NULL};
    r = run_cli(list);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_nonnull(strstr(r.out, "family:        SD3"));
    g_assert_null(strstr(r.out, "not supported"));
    tu_run_clear(&r);

    /* by hand without CLIP-G: the part is named */
    g_autofree char *tf = g_build_filename(root, "transformer", NULL);
    g_autofree char *vae = g_build_filename(root, "vae", NULL);
    g_autofree char *clip_l = g_build_filename(root, "text_encoder", NULL);
    g_autofree char *t5 = g_build_filename(root, "text_encoder_3", NULL);
    const char *no_g[] = {"generate",
                          "--transformer",
                          tf,
                          "--vae",
                          vae,
                          "--clip-l",
                          clip_l,
                          "--t5",
                          t5,
                          "-p",
                          "x",
                          "-o",
                          out,
                          "-q",
                          "--no-history",
                          NULL};
    r = run_cli(no_g);
    g_assert_cmpint(r.status, ==, 1);
    g_assert_nonnull(strstr(r.err, "clip-g missing"));
    g_assert_null(strstr(r.err, "not supported"));
    tu_run_clear(&r);
    tu_remove_tree(top);
    golden_clear(&g);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/sd3-generate/noise", test_noise);
    g_test_add_func("/sd3-generate/discovery", test_discovery);
    g_test_add_func("/sd3-generate/api", test_api);
    g_test_add_func("/sd3-generate/cli", test_cli);
    return g_test_run();
}
