/* The CLIP and T5 encoders against transformers (tiny random models made by
 * tools/reference/make_text_goldens.py): every output element, relative L2 <= 1e-4 in f32. */
#include <glib/gstdio.h>
#include <string.h>

#include "backend.h"
#include "clip_model.h"
#include "resdit.h"
#include "safetensors.h"
#include "t5_model.h"
#include "test-util.h"
#include "text-test-util.h"

static RdSafetensors *goldens;

static const float *golden_f32(const char *name, int64_t numel)
{
    const RdTensorInfo *info = rd_safetensors_find(goldens, name);
    g_assert_nonnull(info);
    g_assert_cmpint(info->dtype, ==, RD_F32);
    g_assert_cmpint(rd_tensor_info_numel(info), ==, numel);
    return info->data;
}

static int32_t *golden_ids(const char *name, int *n)
{
    const RdTensorInfo *info = rd_safetensors_find(goldens, name);
    g_assert_nonnull(info);
    g_assert_cmpint(info->dtype, ==, RD_I64);
    *n = (int)rd_tensor_info_numel(info);
    int32_t *ids = g_new(int32_t, *n);
    for (int i = 0; i < *n; i++)
        ids[i] = (int32_t)((const int64_t *)info->data)[i];
    return ids;
}

static void assert_matches(const char *what, const float *got, const float *ref, size_t n)
{
    /* Every element within the arithmetic bound; relative L2 within the parity figure. */
    double rel = tu_assert_network_close(what, got, ref, n, tt_encoder_bound());
    g_assert_cmpfloat(rel, <=, 1e-4);
}

static void test_clip(void)
{
    char *path = tt_path("tiny/text_encoder");
    GError *error = NULL;
    RdBackend *be = tt_backend_new();
    if (!be)
        return;
    RdClipModel *m = rd_clip_model_load(path, be, &error);
    g_assert_no_error(error);
    const RdClipConfig *c = rd_clip_model_config(m);
    g_assert_cmpint(c->hidden, ==, 32);
    g_assert_cmpint(c->layers, ==, 2);
    g_assert_cmpint(c->act, ==, RD_UNARY_GELU_QUICK);
    int n;
    int32_t *ids = golden_ids("clip_ids", &n);
    g_assert_cmpint(n, ==, 77);
    float *hidden = g_new(float, (size_t)n * c->hidden), *pooled = g_new(float, c->hidden);
    size_t peak = 0;
    g_assert_true(rd_clip_model_forward(m, ids, n, c->eos_token_id, hidden, pooled, &peak, &error));
    g_assert_no_error(error);
    g_assert_cmpint(rd_clip_model_pool_index(m, ids, n, c->eos_token_id), ==, 20);
    assert_matches("clip hidden", hidden, golden_f32("clip_hidden", (int64_t)n * 32),
                   (size_t)n * 32);
    assert_matches("clip pooled", pooled, golden_f32("clip_pooled", 32), 32);
    g_assert_cmpuint(peak, >, 0);
    g_free(hidden);
    g_free(pooled);
    g_free(ids);
    rd_clip_model_free(m);
    rd_backend_free(be);
    g_free(path);
}

static void test_t5(void)
{
    char *path = tt_path("tiny/text_encoder_2"); /* sharded: model.safetensors.index.json */
    GError *error = NULL;
    RdBackend *be = tt_backend_new();
    if (!be)
        return;
    RdT5Model *m = rd_t5_model_load(path, be, &error);
    g_assert_no_error(error);
    const RdT5Config *c = rd_t5_model_config(m);
    g_assert_cmpint(c->d_model, ==, 32);
    g_assert_cmpint(c->heads, ==, 4);
    g_assert_cmpint(c->d_kv, ==, 8);
    g_assert_cmpint(c->layers, ==, 2);
    int n;
    int32_t *ids = golden_ids("t5_ids", &n);
    float *hidden = g_new(float, (size_t)n * c->d_model);
    g_assert_true(rd_t5_model_forward(m, ids, n, hidden, NULL, NULL, &error));
    g_assert_no_error(error);
    assert_matches("t5 hidden", hidden, golden_f32("t5_hidden", (int64_t)n * 32), (size_t)n * 32);

    GCancellable *cancel = g_cancellable_new();
    g_cancellable_cancel(cancel);
    g_assert_false(rd_t5_model_forward(m, ids, n, hidden, NULL, cancel, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_CANCELLED);
    g_clear_error(&error);
    g_object_unref(cancel);
    g_free(hidden);
    g_free(ids);
    rd_t5_model_free(m);
    rd_backend_free(be);
    g_free(path);
}

static void copy_file(const char *from, const char *to, const char *find, const char *replace)
{
    char *bytes;
    gsize len;
    g_assert_true(g_file_get_contents(from, &bytes, &len, NULL));
    if (find) {
        char **parts = g_strsplit(bytes, find, -1);
        g_assert_cmpint(g_strv_length(parts), ==, 2);
        g_free(bytes);
        bytes = g_strjoinv(replace, parts);
        len = strlen(bytes);
        g_strfreev(parts);
    }
    g_assert_true(g_file_set_contents(to, bytes, (gssize)len, NULL));
    g_free(bytes);
}

/* openai/clip-vit-large-patch14 and FLUX's text_encoder/config.json say eos_token_id 2: the
 * reference then pools at argmax(ids), which differs from "first EOS" when there is no EOS. */
static void test_clip_argmax_pooling(void)
{
    RdBackend *be = tt_backend_new();
    if (!be)
        return;
    char *dir = g_dir_make_tmp("resdit-clip-XXXXXX", NULL);
    char *src_cfg = tt_path("tiny/text_encoder/config.json");
    char *src_st = tt_path("tiny/text_encoder/model.safetensors");
    char *cfg = g_build_filename(dir, "config.json", NULL);
    char *st = g_build_filename(dir, "model.safetensors", NULL);
    copy_file(src_cfg, cfg, "\"eos_token_id\": 1013", "\"eos_token_id\": 2");
    copy_file(src_st, st, NULL, NULL);
    GError *error = NULL;
    RdClipModel *m = rd_clip_model_load(dir, be, &error);
    g_assert_no_error(error);
    g_assert_true(rd_clip_model_config(m)->eos_by_argmax);
    int n;
    int32_t *ids = golden_ids("clip_noeos_ids", &n);
    int argmax = 0;
    for (int i = 0; i < n; i++)
        argmax = ids[i] > ids[argmax] ? i : argmax;
    g_assert_cmpint(argmax, >, 0);
    g_assert_cmpint(rd_clip_model_pool_index(m, ids, n, 2), ==, argmax);
    float pooled[32];
    g_assert_true(rd_clip_model_forward(m, ids, n, 2, NULL, pooled, NULL, &error));
    g_assert_no_error(error);
    assert_matches("clip pooled (argmax)", pooled, golden_f32("clip_pooled_argmax", 32), 32);
    rd_clip_model_free(m);
    rd_backend_free(be);
    g_unlink(cfg);
    g_unlink(st);
    g_rmdir(dir);
    g_free(ids);
    g_free(cfg);
    g_free(st);
    g_free(src_cfg);
    g_free(src_st);
    g_free(dir);
}

/* Single files as ComfyUI ships them (no config.json): f16, and fp8 e4m3 linear weights. */
static void test_t5_single_file(gconstpointer tag)
{
    char *file = g_strdup_printf("t5xxl_%s_tiny.safetensors", (const char *)tag);
    char *golden = g_strdup_printf("t5_%s_hidden", (const char *)tag);
    char *path = tt_path(file);
    GError *error = NULL;
    RdBackend *be = tt_backend_new();
    if (!be)
        return;
    RdT5Model *m = rd_t5_model_load(path, be, &error);
    g_assert_no_error(error);
    g_assert_cmpint(rd_t5_model_config(m)->heads, ==, 4);
    int n;
    int32_t *ids = golden_ids("t5_ids", &n);
    float *hidden = g_new(float, (size_t)n * 32);
    g_assert_true(rd_t5_model_forward(m, ids, n, hidden, NULL, NULL, &error));
    g_assert_no_error(error);
    assert_matches(golden, hidden, golden_f32(golden, (int64_t)n * 32), (size_t)n * 32);
    g_free(hidden);
    g_free(ids);
    rd_t5_model_free(m);
    rd_backend_free(be);
    g_free(path);
    g_free(golden);
    g_free(file);
}

/* T5's bucket function at the values the reference gives (bidirectional, 32 buckets, 128). */
static void test_t5_buckets(void)
{
    static const int cases[][2] = {{0, 0},    {1, 17},   {-1, 1},    {7, 23},   {-7, 7},
                                   {8, 24},   {-8, 8},   {12, 25},   {-16, 10}, {20, 26},
                                   {-64, 14}, {100, 31}, {-127, 15}, {500, 31}, {-500, 15}};
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++)
        g_assert_cmpint(rd_t5_relative_bucket(cases[i][0], 32, 128), ==, cases[i][1]);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    char *path = tt_path("encoder_goldens.safetensors");
    GError *error = NULL;
    goldens = rd_safetensors_open(path, &error);
    g_assert_no_error(error);
    g_free(path);
    g_test_add_func("/text/encoders/clip", test_clip);
    g_test_add_func("/text/encoders/clip-argmax-pooling", test_clip_argmax_pooling);
    g_test_add_func("/text/encoders/t5", test_t5);
    g_test_add_data_func("/text/encoders/t5-fp16-file", "fp16", test_t5_single_file);
    g_test_add_data_func("/text/encoders/t5-fp8-file", "fp8_e4m3fn", test_t5_single_file);
    g_test_add_func("/text/encoders/t5-buckets", test_t5_buckets);
    int rc = g_test_run();
    rd_safetensors_close(goldens);
    return rc;
}
