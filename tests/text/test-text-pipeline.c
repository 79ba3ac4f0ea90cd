/* rd_text_encode end to end on the tiny diffusers-like root (tests/data/text/tiny) against
 * diffusers' FluxPipeline encoding with transformers, path resolution, T5 release, bad input. */
#include <glib/gstdio.h>
#include <string.h>

#include "backend.h"
#include "resdit.h"
#include "safetensors.h"
#include "test-util.h"
#include "text-test-util.h"
#include "text_encoders.h"

static RdSafetensors *goldens;
static JsonArray *prompts;
static RdBackend *backend;

static const float *golden(const char *name, size_t n)
{
    const RdTensorInfo *info = rd_safetensors_find(goldens, name);
    g_assert_nonnull(info);
    g_assert_cmpint(rd_tensor_info_numel(info), ==, (int64_t)n);
    return info->data;
}

static void check_prompts(RdTextEncoders *enc, gboolean release)
{
    for (guint i = 0; i < json_array_get_length(prompts); i++) {
        const char *prompt = json_array_get_string_element(prompts, i);
        int t5_len = i == 0 ? 512 : 256;
        float *txt = NULL, *vec = NULL;
        RdTextEncodeInfo info;
        GError *error = NULL;
        g_assert_true(
            rd_text_encode(enc, prompt, t5_len, release, &txt, &vec, &info, NULL, &error));
        g_assert_no_error(error);
        g_assert_cmpint(rd_text_encoders_t5_loaded(enc), ==, !release);
        char *name = g_strdup_printf("pipeline%u_vec", i);
        const int vd = rd_text_encoders_vec_dim(enc), td = rd_text_encoders_txt_dim(enc);
        g_assert_cmpfloat(tu_assert_network_close(name, vec, golden(name, vd), vd,
                                                  tt_encoder_bound()),
                          <=, 1e-4);
        g_free(name);
        name = g_strdup_printf("pipeline%u_txt", i);
        size_t n = (size_t)t5_len * td;
        g_assert_cmpfloat(
            tu_assert_network_close(name, txt, golden(name, n), n, tt_encoder_bound()), <=, 1e-4);
        g_free(name);
        g_assert_cmpint(info.clip_dropped > 0, ==, i == 2); /* only the long prompt is cut */
        g_assert_cmpuint(info.peak_bytes, >, 0);
        g_free(txt);
        g_free(vec);
    }
}

/* Made inside a test, so that a missing CUDA device skips instead of failing. */
static gboolean ensure_backend(void)
{
    if (!backend)
        backend = tt_backend_new();
    return backend != NULL;
}

static RdTextEncoders *load_ok(const char *clip, const char *t5)
{
    char *c = tt_path(clip), *t = tt_path(t5);
    GError *error = NULL;
    RdTextEncoders *enc = rd_text_encoders_load(c, t, NULL, NULL, backend, &error);
    g_assert_no_error(error);
    g_assert_cmpint(rd_text_encoders_vec_dim(enc), ==, 32);
    g_assert_cmpint(rd_text_encoders_txt_dim(enc), ==, 32);
    g_free(c);
    g_free(t);
    return enc;
}

/* Whether a file whose path contains needle is mapped into this process. */
static gboolean is_mapped(const char *needle)
{
    char *maps = NULL;
    if (!g_file_get_contents("/proc/self/maps", &maps, NULL, NULL))
        return FALSE;
    gboolean found = strstr(maps, needle) != NULL;
    g_free(maps);
    return found;
}

static void test_model_root(void)
{
    if (!ensure_backend())
        return;
    const char *shard = "text_encoder_2/model-00001-of-00002.safetensors";
    RdTextEncoders *enc = load_ok("tiny", "tiny");
    g_assert_true(is_mapped(shard));
    check_prompts(enc, FALSE);
    g_assert_true(is_mapped(shard));
    check_prompts(enc, TRUE); /* T5 released after each prompt and loaded again */
    g_assert_false(is_mapped(shard));
    g_assert_true(is_mapped("text_encoder/model.safetensors")); /* CLIP stays */
    rd_text_encoders_free(enc);
    g_assert_false(is_mapped("text_encoder/model.safetensors"));
}

static void test_component_folders(void)
{
    if (!ensure_backend())
        return;
    RdTextEncoders *enc = load_ok("tiny/text_encoder", "tiny/tokenizer_2");
    check_prompts(enc, TRUE);
    rd_text_encoders_free(enc);
    enc = load_ok("tiny/tokenizer", "tiny/text_encoder_2/model.safetensors.index.json");
    check_prompts(enc, FALSE);
    rd_text_encoders_free(enc);
}

/* Copies every tensor of src into one file (names prefixed), optionally cutting one tensor. */
static char *write_single(const char *src, const char *dir, const char *file, const char *prefix,
                          const char *cut)
{
    char *path = tt_path(src);
    GError *error = NULL;
    RdSafetensors *st = rd_safetensors_open(path, &error);
    g_assert_no_error(error);
    RdSafetensorsWriter *w = rd_safetensors_writer_new();
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < rd_safetensors_count(st); i++) {
        const RdTensorInfo *t = rd_safetensors_get(st, i);
        int64_t shape[RD_MAX_DIMS];
        memcpy(shape, t->shape, sizeof shape);
        if (cut && strcmp(t->name, cut) == 0)
            shape[0] -= 1;
        char *name = g_strconcat(prefix, t->name, NULL);
        g_ptr_array_add(names, name);
        rd_safetensors_writer_add(w, name, t->dtype, t->ndim, shape, t->data);
    }
    char *out = g_build_filename(dir, file, NULL);
    g_assert_true(rd_safetensors_writer_save(w, out, &error));
    g_assert_no_error(error);
    rd_safetensors_writer_free(w);
    g_ptr_array_free(names, TRUE);
    rd_safetensors_close(st);
    g_free(path);
    return out;
}

static void assert_load_fails(const char *clip, const char *t5, int code, const char *needle,
                              const char *needle2)
{
    GError *error = NULL;
    g_assert_null(rd_text_encoders_load(clip, t5, NULL, NULL, backend, &error));
    g_assert_nonnull(error);
    g_test_message("%s", error->message);
    if (error->code != code || !strstr(error->message, needle) ||
        (needle2 && !strstr(error->message, needle2)))
        g_error("unexpected error (code %d): %s", error->code, error->message);
    g_error_free(error);
}

static void test_single_files_and_bad_input(void)
{
    if (!ensure_backend())
        return;
    char *dir = g_dir_make_tmp("resdit-text-XXXXXX", NULL);
    char *root = tt_path("tiny");
    /* T5 as one file with a ComfyUI/SD-style key prefix and no tokenizer anywhere near it */
    char *t5 = write_single("tiny/text_encoder_2", dir, "t5xxl_fp16.safetensors",
                            "text_encoders.t5xxl.transformer.", NULL);
    g_setenv("RESDIT_DATA_DIR", dir, TRUE); /* no bundled data at all */
    assert_load_fails(root, t5, RESDIT_ERROR_TOKENIZER, "No T5 tokenizer (tokenizer.json or spiece.model) for", t5);

    /* a T5 vocabulary installed in the data folder's tokenizers/t5/ is the fallback */
    char *t5_data = g_build_filename(dir, "tokenizers", "t5", NULL);
    char *t5_data_file = g_build_filename(t5_data, "tokenizer.json", NULL);
    char *t5_json = tt_path("tiny/tokenizer_2/tokenizer.json");
    char *json_bytes;
    gsize json_len;
    g_assert_cmpint(g_mkdir_with_parents(t5_data, 0755), ==, 0);
    g_assert_true(g_file_get_contents(t5_json, &json_bytes, &json_len, NULL));
    g_assert_true(g_file_set_contents(t5_data_file, json_bytes, (gssize)json_len, NULL));
    g_free(json_bytes);
    GError *fallback_error = NULL;
    RdTextEncoders *fallback = rd_text_encoders_load(root, t5, NULL, NULL, backend, &fallback_error);
    g_assert_no_error(fallback_error);
    check_prompts(fallback, TRUE);
    rd_text_encoders_free(fallback);
    g_unlink(t5_data_file);
    g_rmdir(t5_data);
    char *tokenizers_dir = g_path_get_dirname(t5_data);
    g_rmdir(tokenizers_dir);
    g_free(tokenizers_dir);
    g_free(t5_json);
    g_free(t5_data_file);
    g_free(t5_data);

    /* CLIP as one file: the bundled vocabulary is used (missing here, then too large) */
    char *clip = write_single("tiny/text_encoder", dir, "clip_l.safetensors", "", NULL);
    assert_load_fails(clip, root, RESDIT_ERROR_TOKENIZER, "clip/merges.txt.gz", dir);
    g_unsetenv("RESDIT_DATA_DIR");
    assert_load_fails(clip, root, RESDIT_ERROR_MODEL, "larger than the model's embedding", clip);

    /* the T5 file works once its tokenizer sits next to it */
    char *tok_src = tt_path("tiny/tokenizer_2/spiece.model");
    char *tok_dst = g_build_filename(dir, "spiece.model", NULL);
    char *bytes;
    gsize len;
    g_assert_true(g_file_get_contents(tok_src, &bytes, &len, NULL));
    g_assert_true(g_file_set_contents(tok_dst, bytes, (gssize)len, NULL));
    g_free(bytes);
    GError *error = NULL;
    RdTextEncoders *enc = rd_text_encoders_load(root, t5, NULL, NULL, backend, &error);
    g_assert_no_error(error);
    check_prompts(enc, TRUE);

    /* bad prompts and lengths */
    float *txt = NULL, *vec = NULL;
    g_assert_false(
        rd_text_encode(enc, "bad \xFF utf8", 256, FALSE, &txt, &vec, NULL, NULL, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_TOKENIZER);
    g_clear_error(&error);
    g_assert_false(rd_text_encode(enc, "ok", 0, FALSE, &txt, &vec, NULL, NULL, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    GCancellable *cancel = g_cancellable_new();
    g_cancellable_cancel(cancel);
    g_assert_false(rd_text_encode(enc, "ok", 256, TRUE, &txt, &vec, NULL, cancel, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_CANCELLED);
    g_clear_error(&error);
    g_object_unref(cancel);
    rd_text_encoders_free(enc);

    /* a CLIP file given as T5, a T5 file given as CLIP */
    assert_load_fails(root, clip, RESDIT_ERROR_MODEL, "is a CLIP text encoder, not a T5", clip);
    assert_load_fails(t5, root, RESDIT_ERROR_MODEL, "is a T5 encoder, not a CLIP", t5);
    /* shape mismatch */
    char *cut = write_single("tiny/text_encoder", dir, "cut.safetensors", "",
                             "text_model.encoder.layers.1.mlp.fc1.weight");
    assert_load_fails(cut, root, RESDIT_ERROR_MODEL, "text_model.encoder.layers.1.mlp.fc1.weight",
                      cut);
    char *missing = g_build_filename(dir, "nothing-here.safetensors", NULL);
    assert_load_fails(root, missing, RESDIT_ERROR_IO, "does not exist", missing);

    for (const char *const *f =
             (const char *const[]){"t5xxl_fp16.safetensors", "clip_l.safetensors",
                                   "cut.safetensors", "spiece.model", NULL};
         *f; f++) {
        char *p = g_build_filename(dir, *f, NULL);
        g_unlink(p);
        g_free(p);
    }
    g_rmdir(dir);
    g_free(missing);
    g_free(cut);
    g_free(tok_src);
    g_free(tok_dst);
    g_free(clip);
    g_free(t5);
    g_free(root);
    g_free(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    /* The T5 tokenizer search must see no install or cache of the machine's own. */
    g_autofree char *home = g_dir_make_tmp("resdit-text-home-XXXXXX", NULL);
    g_setenv("HOME", home, TRUE);
    g_unsetenv("HF_HOME");
    g_unsetenv("HF_HUB_CACHE");
    char *path = tt_path("encoder_goldens.safetensors");
    GError *error = NULL;
    goldens = rd_safetensors_open(path, &error);
    g_assert_no_error(error);
    g_free(path);
    JsonParser *pp = tt_load_json("pipeline_prompts.json");
    prompts = json_node_get_array(json_parser_get_root(pp));
    g_test_add_func("/text/pipeline/model-root", test_model_root);
    g_test_add_func("/text/pipeline/component-folders", test_component_folders);
    g_test_add_func("/text/pipeline/single-files-and-bad-input", test_single_files_and_bad_input);
    int rc = g_test_run();
    rd_backend_free(backend);
    g_object_unref(pp);
    rd_safetensors_close(goldens);
    g_rmdir(home);
    return rc;
}
