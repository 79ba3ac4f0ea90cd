/* The job on the built-in self-test model: schedule phases and previews, same seed -> same PNG,
 * PNG metadata, cancellation, bad inputs, memory estimate. */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <unistd.h>
#include <string.h>

#include "noise.h"
#include "flux_model.h"
#include "pipeline-private.h"
#include "png_writer.h"
#include "selftest_model.h"
#include "test-util.h"

#define TXT_LEN 16

typedef struct {
    float txt[TXT_LEN * RD_SELFTEST_TXT_DIM];
    float vec[RD_SELFTEST_VEC_DIM];
} Embeddings;

static ResditModel *open_selftest(void)
{
    g_autoptr(GError) error = NULL;
    ResditModel *m = rd_selftest_model_new(rd_backend_cpu_new(), &error);
    g_assert_no_error(error);
    g_assert_true(resdit_model_is_selftest(m));
    return m;
}

static RdConditioning conditioning(Embeddings *e)
{
    rd_noise_normal(101, e->txt, G_N_ELEMENTS(e->txt));
    rd_noise_normal(102, e->vec, G_N_ELEMENTS(e->vec));
    return (RdConditioning){e->txt, e->vec, TXT_LEN, NULL, 0};
}

static void small_params(ResditModel *m, ResditJobParams *p)
{
    resdit_job_params_init(p);
    resdit_model_job_defaults(m, p);
    g_free(p->prompt);
    p->prompt = g_strdup("a lighthouse at dusk, \xc3\xa9t\xc3\xa9"); /* non-Latin-1-safe */
    p->width = 192; /* 12 x 12 tokens: larger than the 8 x 8 base grid */
    p->height = 256;
    p->steps = 5;
    p->random_seed = FALSE;
    p->seed = 1234567;
}

typedef struct {
    int progress_calls, last_step;
    ResditPhase phases[16];
    int previews, extra_previews, finals;
    ResditBranch branches[32];
    int cancel_at; /* cancel when this step starts (-1 never) */
    GCancellable *cancellable;
} Recorder;

static void on_progress(const ResditProgress *pr, gpointer data)
{
    Recorder *r = data;
    r->progress_calls++;
    g_assert_cmpint(pr->step, >=, r->last_step);
    r->last_step = pr->step;
    if (pr->step < 16 && pr->phase != RESDIT_PHASE_DECODING)
        r->phases[pr->step] = pr->phase;
    g_assert_cmpfloat(pr->elapsed, >=, 0);
    if (pr->step == r->cancel_at && r->cancellable)
        g_cancellable_cancel(r->cancellable);
}

static void on_preview(const ResditPreview *pv, gpointer data)
{
    Recorder *r = data;
    g_assert_nonnull(pv->rgb);
    g_assert_cmpint(pv->width, >, 0);
    if (pv->branch == RESDIT_BRANCH_FINAL) {
        r->finals++;
        return;
    }
    g_assert_cmpint(MAX(pv->width, pv->height), <=, 16);
    if (pv->extra_pass) {
        r->extra_previews++;
        g_assert_cmpint(pv->phase, !=, RESDIT_PHASE_FUSED);
        g_assert_true(pv->branch == RESDIT_BRANCH_GLOBAL || pv->branch == RESDIT_BRANCH_LOCAL);
    } else {
        r->branches[r->previews++] = pv->branch;
    }
}

static void test_schedule_and_previews(void)
{
    ResditModel *m = open_selftest();
    ResditJobParams p;
    small_params(m, &p);
    p.preview_every = 1;
    p.preview_max_side = 16;
    p.inspect_branches = TRUE;
    Embeddings e;
    RdConditioning cond = conditioning(&e);
    Recorder rec = {.cancel_at = -1};
    ResditCallbacks cb = {on_progress, on_preview, &rec};
    g_autoptr(GError) error = NULL;
    ResditImage *image = rd_pipeline_run(m, &p, &cond, &cb, NULL, NULL, &error);
    g_assert_no_error(error);
    /* 5 steps: G = round(5 * 10 / 35) = 1, L = round(5 * 15 / 35) = 2, fused 2. */
    const ResditPhase expected[5] = {RESDIT_PHASE_GLOBAL, RESDIT_PHASE_FUSED, RESDIT_PHASE_FUSED,
                                     RESDIT_PHASE_LOCAL, RESDIT_PHASE_LOCAL};
    const ResditBranch branches[5] = {RESDIT_BRANCH_GLOBAL, RESDIT_BRANCH_FUSED,
                                      RESDIT_BRANCH_FUSED, RESDIT_BRANCH_LOCAL,
                                      RESDIT_BRANCH_LOCAL};
    for (int i = 0; i < 5; i++) {
        g_assert_cmpint(rec.phases[i], ==, expected[i]);
        g_assert_cmpint(rec.branches[i], ==, branches[i]);
    }
    g_assert_cmpint(rec.previews, ==, 5);
    g_assert_cmpint(rec.extra_previews, ==, 4); /* global + local in each of the 2 fused steps */
    g_assert_cmpint(rec.finals, ==, 1);
    g_assert_cmpint(rec.last_step, ==, 5);
    g_assert_cmpuint(image->seed, ==, 1234567);
    g_assert_nonnull(strstr(image->parameters, "ResDiT: global 1 fused 2 local 2"));
    resdit_image_free(image);
    resdit_job_params_clear(&p);
    resdit_model_free(m);
}

static char *read_file(const char *path, gsize *len)
{
    char *data = NULL;
    g_assert_true(g_file_get_contents(path, &data, len, NULL));
    return data;
}

static void test_same_seed_same_png(void)
{
    ResditModel *m = open_selftest();
    ResditJobParams p;
    small_params(m, &p);
    Embeddings e;
    RdConditioning cond = conditioning(&e);
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = g_dir_make_tmp("resdit-job-XXXXXX", &error);
    g_autofree char *a = g_build_filename(dir, "a.png", NULL);
    g_autofree char *b = g_build_filename(dir, "b.png", NULL);
    ResditImage *first = rd_pipeline_run(m, &p, &cond, NULL, NULL, NULL, &error);
    g_assert_no_error(error);
    ResditImage *second = rd_pipeline_run(m, &p, &cond, NULL, NULL, NULL, &error);
    g_assert_no_error(error);
    g_assert_true(resdit_image_save_png(first, a, &error));
    g_assert_true(resdit_image_save_png(second, b, &error));
    gsize la, lb;
    g_autofree char *da = read_file(a, &la);
    g_autofree char *db = read_file(b, &lb);
    g_assert_cmpuint(la, ==, lb);
    /* Bit for bit by construction: the same job in the same environment makes the same calls on the
     * same shapes in the same order (each output block is one thread's sgemm). */
    g_assert_true(memcmp(da, db, la) == 0);

    /* Not a constant image, and another seed gives another image. */
    size_t n = (size_t)first->width * first->height * 3, distinct = 0;
    for (size_t i = 1; i < n; i++)
        distinct += first->rgb[i] != first->rgb[0];
    g_assert_cmpuint(distinct, >, n / 2);
    p.seed = 7;
    ResditImage *other = rd_pipeline_run(m, &p, &cond, NULL, NULL, NULL, &error);
    g_assert_no_error(error);
    g_assert_false(memcmp(other->rgb, first->rgb, n) == 0);

    /* The PNG carries both records; the JSON names the seed used. */
    int w, h;
    GHashTable *texts = NULL;
    g_autofree guint8 *rgb = rd_png_read_rgb8(a, &w, &h, &texts, &error);
    g_assert_no_error(error);
    g_assert_cmpint(w, ==, 192);
    g_assert_cmpint(h, ==, 256);
    g_assert_true(memcmp(rgb, first->rgb, n) == 0);
    const char *params = g_hash_table_lookup(texts, "parameters");
    const char *json = g_hash_table_lookup(texts, "resdit");
    g_assert_nonnull(params);
    g_assert_true(g_str_has_prefix(params, "a lighthouse at dusk, \xc3\xa9t\xc3\xa9\nSteps: 5"));
    g_assert_nonnull(strstr(params, "Seed: 1234567"));
    g_autoptr(JsonParser) parser = json_parser_new();
    g_assert_true(json_parser_load_from_data(parser, json, -1, NULL));
    JsonObject *o = json_node_get_object(json_parser_get_root(parser));
    g_assert_cmpint(json_object_get_int_member(o, "seed"), ==, 1234567);
    g_assert_cmpint(json_object_get_int_member(o, "global_steps"), ==, 1);
    g_assert_cmpstr(json_object_get_string_member(o, "shift_mode"), ==, "base");
    g_assert_cmpstr(json_object_get_string_member(o, "noise"), ==, RD_NOISE_NAME);
    JsonObject *method = json_object_get_object_member(o, "method");
    g_assert_cmpint(json_object_get_int_member(method, "patch"), ==, 8);
    g_hash_table_unref(texts);

    /* No temporary file is left behind by the atomic writes. */
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    int files = 0;
    while (g_dir_read_name(d))
        files++;
    g_assert_cmpint(files, ==, 2);
    g_unlink(a);
    g_unlink(b);
    g_rmdir(dir);
    resdit_image_free(first);
    resdit_image_free(second);
    resdit_image_free(other);
    resdit_job_params_clear(&p);
    resdit_model_free(m);
}

/* The JSON record of an image is enough to make it again: a random seed, ablations, a fixed
 * mode, a fixed shift and the low-frequency noise all come back. */
static void test_record_reproduces(void)
{
    ResditModel *m = open_selftest();
    ResditJobParams p;
    small_params(m, &p);
    p.random_seed = TRUE;
    p.steps = 4;
    p.method.no_psf = TRUE;
    p.method.cutoff = 0.35;
    p.shift_mode = RESDIT_SHIFT_FIXED;
    p.mu = 0.8;
    p.global_steps = 2;
    p.lowfreq_noise = 0.6;
    Embeddings e;
    RdConditioning cond = conditioning(&e);
    g_autoptr(GError) error = NULL;
    ResditImage *first = rd_pipeline_run(m, &p, &cond, NULL, NULL, NULL, &error);
    g_assert_no_error(error);
    g_autofree char *dir = g_dir_make_tmp("resdit-record-XXXXXX", &error);
    g_autofree char *path = g_build_filename(dir, "first.png", NULL);
    g_assert_true(resdit_image_save_png(first, path, &error));
    g_autofree char *json = resdit_png_read_parameters(path, &error);
    g_assert_no_error(error);

    ResditJobParams q;
    resdit_job_params_init(&q);
    g_assert_true(resdit_job_params_from_json(&q, json, &error));
    g_assert_no_error(error);
    g_assert_false(q.random_seed);
    g_assert_cmpuint(q.seed, ==, first->seed);
    g_assert_cmpstr(q.prompt, ==, p.prompt);
    g_assert_true(q.method.no_psf);
    g_assert_cmpint(q.shift_mode, ==, RESDIT_SHIFT_FIXED);
    g_assert_cmpfloat(q.lowfreq_noise, ==, 0.6);
    g_assert_nonnull(strstr(first->parameters, "Low-frequency noise: 0.6"));
    ResditImage *again = rd_pipeline_run(m, &q, &cond, NULL, NULL, NULL, &error);
    g_assert_no_error(error);
    g_assert_true(memcmp(again->rgb, first->rgb, (size_t)first->width * first->height * 3) == 0);
    g_assert_cmpstr(again->parameters_json, ==, first->parameters_json);

    g_assert_false(resdit_job_params_from_json(&q, "{\"generator\":\"other\"}", &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_FORMAT);
    g_clear_error(&error);
    g_assert_false(resdit_job_params_from_json(&q, "[1,", &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_FORMAT);
    g_unlink(path);
    g_rmdir(dir);
    resdit_image_free(first);
    resdit_image_free(again);
    resdit_job_params_clear(&p);
    resdit_job_params_clear(&q);
    resdit_model_free(m);
}

static ResditImage *run_lowfreq(ResditModel *m, int width, int height, double lowfreq)
{
    ResditJobParams p;
    small_params(m, &p);
    p.width = width;
    p.height = height;
    p.steps = 3;
    p.lowfreq_noise = lowfreq;
    Embeddings e;
    RdConditioning cond = conditioning(&e);
    g_autoptr(GError) error = NULL;
    ResditImage *image = rd_pipeline_run(m, &p, &cond, NULL, NULL, NULL, &error);
    g_assert_no_error(error);
    resdit_job_params_clear(&p);
    return image;
}

/* Low-frequency noise changes a picture above the base size and none at it (128 px: the
 * self-test model's 8 x 8 base grid), where the band is every frequency. */
static void test_lowfreq_noise(void)
{
    ResditModel *m = open_selftest();
    ResditImage *plain = run_lowfreq(m, 192, 256, 0), *raised = run_lowfreq(m, 192, 256, 0.7);
    const size_t n = (size_t)plain->width * plain->height * 3;
    size_t differ = 0;
    for (size_t i = 0; i < n; i++)
        differ += plain->rgb[i] != raised->rgb[i];
    g_assert_cmpuint(differ, >, n / 4);
    resdit_image_free(plain);
    resdit_image_free(raised);
    plain = run_lowfreq(m, 128, 128, 0);
    raised = run_lowfreq(m, 128, 128, 1.0);
    g_assert_cmpmem(plain->rgb, (size_t)128 * 128 * 3, raised->rgb, (size_t)128 * 128 * 3);
    resdit_image_free(plain);
    resdit_image_free(raised);
    resdit_model_free(m);
}

static void test_cancel_mid_run(void)
{
    ResditModel *m = open_selftest();
    ResditJobParams p;
    small_params(m, &p);
    Embeddings e;
    RdConditioning cond = conditioning(&e);
    Recorder rec = {.cancel_at = 2, .cancellable = g_cancellable_new()};
    ResditCallbacks cb = {on_progress, NULL, &rec};
    g_autoptr(GError) error = NULL;
    ResditImage *image = rd_pipeline_run(m, &p, &cond, &cb, NULL, rec.cancellable, &error);
    g_assert_null(image);
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_CANCELLED);
    g_assert_cmpint(rec.last_step, ==, 2); /* stopped in the step it was cancelled in */
    g_object_unref(rec.cancellable);
    resdit_job_params_clear(&p);
    resdit_model_free(m);
}

static void expect_invalid(ResditModel *m, ResditJobParams *p, const char *needle)
{
    g_autoptr(GError) error = NULL;
    ResditMemoryEstimate est;
    g_assert_false(resdit_estimate_memory(m, p, &est, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT);
    g_test_message("%s", error->message);
    g_assert_nonnull(strstr(error->message, needle));
}

static void test_bad_inputs(void)
{
    ResditModel *m = open_selftest();
    ResditJobParams p;
    small_params(m, &p);
    p.width = 250;
    expect_invalid(m, &p, "try 256x256");
    p.width = 256;
    p.global_steps = 3;
    p.local_steps = 3;
    expect_invalid(m, &p, "exceed the 5 steps");
    p.global_steps = p.local_steps = -1;
    p.steps = 0;
    expect_invalid(m, &p, "Steps");
    p.steps = 5;
    p.method.cutoff = -1;
    expect_invalid(m, &p, "cutoff");
    p.method.cutoff = 0.2;
    const double bad_lowfreq[] = {-0.1, 1.01, NAN, INFINITY};
    for (size_t i = 0; i < G_N_ELEMENTS(bad_lowfreq); i++) {
        p.lowfreq_noise = bad_lowfreq[i];
        expect_invalid(m, &p, "low-frequency noise");
    }
    p.lowfreq_noise = 0;

    /* Too large for the memory there is: refused before starting, with the estimate. */
    ResditMemoryEstimate est;
    g_autoptr(GError) error = NULL;
    p.width = p.height = 4096;
    g_assert_false(rd_estimate_memory_within(m, &p, G_GUINT64_CONSTANT(1) << 30, &est, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_OUT_OF_MEMORY);
    g_assert_nonnull(strstr(error->message, "GB"));
    g_assert_cmpuint(est.total, >, G_GUINT64_CONSTANT(1) << 30);
    g_clear_error(&error);
    guint64 big = est.total;
    p.width = p.height = 256;
    g_assert_true(rd_estimate_memory_within(m, &p, G_GUINT64_CONSTANT(1) << 30, &est, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(est.total, <, big);
    g_assert_cmpuint(est.weights, >, 1000000);
    resdit_job_params_clear(&p);
    resdit_model_free(m);
}

/* A copy of the self-test part in fd (closed), written to dir/name, with every value of the
 * tensors whose name ends in `suffix` (NULL: none) set to NaN: one damaged tensor of a file. */
static char *copy_part(int fd, const char *dir, const char *name, const char *suffix)
{
    g_autofree char *src = rd_memory_file_path(fd);
    g_autoptr(GError) error = NULL;
    RdSafetensors *st = rd_safetensors_open(src, &error);
    g_assert_no_error(error);
    RdSafetensorsWriter *w = rd_safetensors_writer_new();
    GPtrArray *buffers = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < rd_safetensors_count(st); i++) {
        const RdTensorInfo *t = rd_safetensors_get(st, i);
        const void *data = t->data;
        if (suffix && g_str_has_suffix(t->name, suffix)) {
            g_assert_cmpint(t->dtype, ==, RD_F32);
            float *nan = g_malloc(t->nbytes);
            for (size_t k = 0; k < t->nbytes / sizeof(float); k++)
                nan[k] = NAN;
            g_ptr_array_add(buffers, nan);
            data = nan;
        }
        rd_safetensors_writer_add(w, t->name, t->dtype, t->ndim, t->shape, data);
    }
    g_assert_true(!suffix || buffers->len > 0);
    char *path = g_build_filename(dir, name, NULL);
    g_assert_true(rd_safetensors_writer_save(w, path, &error));
    g_assert_no_error(error);
    rd_safetensors_writer_free(w);
    g_ptr_array_unref(buffers);
    rd_safetensors_close(st);
    close(fd);
    return path;
}

/* Runs a small job on the self-test model with NaN weights in the transformer (flux_suffix) or
 * the VAE (vae_suffix): the job must fail, and the message must name the damaged file. */
static void expect_nan_failure(const char *flux_suffix, const char *vae_suffix)
{
    g_autofree char *dir = g_dir_make_tmp("resdit-nan-XXXXXX", NULL);
    g_autoptr(GError) error = NULL;
    int tfd = rd_selftest_transformer(&error);
    g_assert_no_error(error);
    int vfd = rd_selftest_vae(&error);
    g_assert_no_error(error);
    g_autofree char *flux_path = copy_part(tfd, dir, "flux.safetensors", flux_suffix);
    g_autofree char *vae_path = copy_part(vfd, dir, "vae.safetensors", vae_suffix);
    RdBackend *be = rd_backend_cpu_new();
    FluxModel *flux = flux_model_load(flux_path, be, &error);
    g_assert_no_error(error);
    RdSafetensors *vst = rd_safetensors_open(vae_path, &error);
    g_assert_no_error(error);
    const RdVaeConfig defaults = {16, 0, 0, 8, 0.3611, 0.1159};
    RdVae *vae = rd_vae_load_safetensors(vst, &defaults, be, &error);
    g_assert_no_error(error);
    ResditModel *m = rd_model_new("nan", be, rd_flux_denoiser_new(flux), vae, NULL, NULL);
    m->base_area = 64;
    m->patch = 8;
    ResditJobParams p;
    small_params(m, &p);
    p.steps = 2;
    Embeddings e;
    RdConditioning cond = conditioning(&e);
    ResditImage *image = rd_pipeline_run(m, &p, &cond, NULL, NULL, NULL, &error);
    if (image) {
        resdit_image_free(image);
        g_error("a model with NaN weights gave an image");
    }
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL);
    g_test_message("%s", error->message);
    g_assert_nonnull(strstr(error->message, "NaN"));
    g_assert_nonnull(strstr(error->message, flux_suffix ? flux_path : vae_path));
    resdit_job_params_clear(&p);
    resdit_model_free(m);
    g_unlink(flux_path);
    g_unlink(vae_path);
    g_rmdir(dir);
}

static void test_nan_weights(void)
{
    expect_nan_failure("final_layer.linear.bias", NULL);
    expect_nan_failure(NULL, "conv_out.bias");
}

/* NaN text embeddings (a damaged text encoder) stop the job before sampling. */
static void test_nan_conditioning(void)
{
    ResditModel *m = open_selftest();
    ResditJobParams p;
    small_params(m, &p);
    Embeddings e;
    RdConditioning cond = conditioning(&e);
    e.txt[5] = INFINITY;
    g_autoptr(GError) error = NULL;
    ResditImage *image = rd_pipeline_run(m, &p, &cond, NULL, NULL, NULL, &error);
    g_assert_null(image);
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL);
    g_assert_nonnull(strstr(error->message, "T5"));
    g_clear_error(&error);
    e.txt[5] = 0;
    e.vec[0] = NAN;
    image = rd_pipeline_run(m, &p, &cond, NULL, NULL, NULL, &error);
    g_assert_null(image);
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL);
    g_assert_nonnull(strstr(error->message, "CLIP"));
    resdit_job_params_clear(&p);
    resdit_model_free(m);
}

/* The public path: prompt -> tiny text encoders -> sampling -> decode, twice with one seed. */
static void test_selftest_generate(void)
{
    g_autoptr(GError) error = NULL;
    ResditModel *m = resdit_model_open_selftest(RESDIT_BACKEND_CPU, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(resdit_model_name(m), ==, RD_SELFTEST_NAME);
    ResditJobParams p;
    small_params(m, &p);
    Recorder rec = {.cancel_at = -1};
    ResditCallbacks cb = {on_progress, NULL, &rec};
    ResditImage *a = resdit_generate(m, &p, &cb, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpint(rec.last_step, ==, p.steps);
    ResditImage *b = resdit_generate(m, &p, NULL, NULL, &error);
    g_assert_no_error(error);
    size_t n = (size_t)a->width * a->height * 3;
    g_assert_true(memcmp(a->rgb, b->rgb, n) == 0);
    g_assert_cmpuint(a->peak_bytes, >, 0);
    g_assert_cmpfloat(a->seconds_total, >=, a->seconds_sampling);
    /* Another prompt conditions the model differently. */
    g_free(p.prompt);
    p.prompt = g_strdup("a different prompt");
    ResditImage *c = resdit_generate(m, &p, NULL, NULL, &error);
    g_assert_no_error(error);
    g_assert_false(memcmp(a->rgb, c->rgb, n) == 0);
    resdit_image_free(a);
    resdit_image_free(b);
    resdit_image_free(c);
    resdit_job_params_clear(&p);
    resdit_model_free(m);
}

/* Token counts with the model's own tokenizers: specials included, limits the job's; busy while a
 * job holds the tokenizers (simulated by holding the lock the job takes). */
static void test_count_tokens(void)
{
    g_autoptr(GError) error = NULL;
    ResditModel *m = resdit_model_open_selftest(RESDIT_BACKEND_CPU, &error);
    g_assert_no_error(error);
    ResditTokenCount count;
    g_assert_true(resdit_model_count_tokens(m, "", &count, &error));
    g_assert_no_error(error);
    g_assert_cmpint(count.clip, ==, 2); /* BOS, EOS */
    g_assert_cmpint(count.t5, ==, 1);   /* EOS */
    g_assert_cmpint(count.clip_limit, ==, 77);
    g_assert_cmpint(count.t5_limit, ==, resdit_model_default_t5_len(m));
    g_assert_true(resdit_model_count_tokens(m, "a cat", &count, &error));
    g_assert_cmpint(count.clip, >, 2);
    g_assert_cmpint(count.t5, >, 1);
    int clip_short = count.clip;
    g_assert_true(resdit_model_count_tokens(m, "a cat a cat", &count, &error));
    g_assert_cmpint(count.clip, >, clip_short);
    g_mutex_lock(&m->text_lock);
    g_assert_false(resdit_model_count_tokens(m, "a cat", &count, &error));
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_BUSY);
    g_clear_error(&error);
    g_mutex_unlock(&m->text_lock);
    resdit_model_free(m);
}

/* A model folder's resdit.json sets the model's base size (and with it the ResDiT base area,
 * patch and default size), steps, T5 length and prompt; bad values are refused by name. */
static void test_model_settings(void)
{
    ResditModel *m = open_selftest();
    g_autofree char *dir = g_dir_make_tmp("rd-settings-XXXXXX", NULL);
    g_autofree char *file = g_build_filename(dir, "resdit.json", NULL);
    g_autoptr(GError) error = NULL;
    g_assert_true(rd_model_read_settings(m, dir, &error)); /* no file: nothing changes */
    g_assert_cmpint(resdit_model_base_size(m), ==, 128);
    g_assert_true(g_file_set_contents(
        file, "{\"base_size\": 256, \"default_steps\": 8, \"t5_length\": 32, "
              "\"default_prompt\": \"a red sun\"}", -1, NULL));
    g_assert_true(rd_model_read_settings(m, dir, &error));
    g_assert_no_error(error);
    ResditJobParams p;
    resdit_job_params_init(&p);
    resdit_model_job_defaults(m, &p);
    g_assert_cmpint(resdit_model_base_size(m), ==, 256);
    g_assert_cmpint(p.method.base_area, ==, 256);
    g_assert_cmpint(p.method.patch, ==, 16);
    g_assert_cmpint(p.width, ==, 256);
    g_assert_cmpint(p.height, ==, 256);
    g_assert_cmpint(p.steps, ==, 8);
    g_assert_cmpint(resdit_model_default_t5_len(m), ==, 32);
    g_assert_cmpstr(resdit_model_default_prompt(m), ==, "a red sun");
    resdit_job_params_clear(&p);
    const struct {
        const char *json, *message;
    } bad[] = {{"{\"base_size\": 250}", "multiple of 16"},
               {"{\"base_size\": \"big\"}", "\"base_size\" must be an integer"},
               {"{\"default_steps\": 0}", "\"default_steps\" must be an integer from 1"},
               {"{\"default_prompt\": 3}", "\"default_prompt\" must be a string"},
               {"{\"guidance\": \"none\"}", "\"guidance\" must be \"cfg\""},
               {"{\"guidance\": [\"cfg\"]}", "\"guidance\" must be \"cfg\""},
               {"{\"guidance\": 3}", "\"guidance\" must be \"cfg\""},
               /* the self-test transformer has FLUX.1-dev's guidance embedder */
               {"{\"guidance\": \"cfg\"}", "embeds its guidance value"},
               {"[1, 2]", "not a JSON object"},
               {"{base_size", "not valid JSON"}};
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_assert_true(g_file_set_contents(file, bad[i].json, -1, NULL));
        g_clear_error(&error);
        g_assert_false(rd_model_read_settings(m, dir, &error));
        g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_FORMAT);
        g_assert_nonnull(strstr(error->message, bad[i].message));
    }
    g_assert_false(resdit_model_uses_cfg(m)); /* refused files change nothing */
    g_unlink(file);
    g_rmdir(dir);
    resdit_model_free(m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/job/schedule-and-previews", test_schedule_and_previews);
    g_test_add_func("/job/same-seed-same-png", test_same_seed_same_png);
    g_test_add_func("/job/record-reproduces", test_record_reproduces);
    g_test_add_func("/job/lowfreq-noise", test_lowfreq_noise);
    g_test_add_func("/job/cancel-mid-run", test_cancel_mid_run);
    g_test_add_func("/job/bad-inputs", test_bad_inputs);
    g_test_add_func("/job/nan-weights", test_nan_weights);
    g_test_add_func("/job/nan-conditioning", test_nan_conditioning);
    g_test_add_func("/job/selftest-generate", test_selftest_generate);
    g_test_add_func("/job/count-tokens", test_count_tokens);
    g_test_add_func("/job/model-settings", test_model_settings);
    return g_test_run();
}
