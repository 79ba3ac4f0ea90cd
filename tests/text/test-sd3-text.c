/* rd_sd3_text_encode against diffusers' StableDiffusion3Pipeline.encode_prompt on tiny random
 * encoders (tests/data/sd3-text, tools/reference/make_sd3_text_goldens.py), in every layout: the
 * diffusers folder, ComfyUI's separate clip_l / clip_g files, a checkpoint bundling all three;
 * with and without T5, with negative prompts, and bad input. */
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "clip_tokenizer.h"
#include "resdit.h"
#include "safetensors.h"
#include "sd3_text.h"
#include "test-util.h"
#include "text-test-util.h"

static RdSafetensors *goldens;
static JsonArray *cases;
static RdBackend *backend;

#define JOINT_DIM 48  /* the tiny T5's d_model and the tiny transformer's joint_attention_dim */
#define CLIP_WIDTH 40 /* CLIP-L 16 + CLIP-G 24 features: the rest of the CLIP rows are zeros */

static char *data_path(const char *name)
{
    return g_test_build_filename(G_TEST_DIST, "data", "sd3-text", name, NULL);
}

/* Two f32 evaluations of the deepest encoder, CLIP-G: 3 layers of six reductions each (qkv,
 * scores, values, output, fc1, fc2), the embedding sum, the final norm and the projection; T5 is
 * shallower (2 layers). The longest reduction is attention over 256 T5 tokens; 512 bounds it. */
static double sd3_text_bound(void)
{
    return tu_network_bound(6 * 3 + 3, 512, TU_U_F32);
}

static const RdTensorInfo *golden_info(const char *name)
{
    const RdTensorInfo *info = rd_safetensors_find(goldens, name);
    if (!info)
        g_error("golden %s missing", name);
    return info;
}

static const float *golden(const char *name, size_t n)
{
    const RdTensorInfo *info = golden_info(name);
    g_assert_cmpint(info->dtype, ==, RD_F32);
    g_assert_cmpint(rd_tensor_info_numel(info), ==, (int64_t)n);
    return info->data;
}

/* Every element within the network bound, the relative L2 within the parity figure (1e-4), and
 * the padding exactly zero: it is written, never computed. */
static void check_txt(const char *what, const float *got, const float *ref, int rows,
                      gboolean with_t5)
{
    size_t n = (size_t)rows * JOINT_DIM;
    g_assert_cmpfloat(tu_assert_network_close(what, got, ref, n, sd3_text_bound()), <=, 1e-4);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < JOINT_DIM; c++) {
            gboolean pad = r < 77 ? c >= CLIP_WIDTH : !with_t5;
            size_t i = (size_t)r * JOINT_DIM + c;
            if (pad && (ref[i] != 0.0f || got[i] != 0.0f))
                g_error("%s: [%d, %d] should be padding: got %g, reference %g", what, r, c, got[i],
                        ref[i]);
        }
}

static void check_vec(const char *what, const float *got, const float *ref)
{
    g_assert_cmpfloat(tu_assert_network_close(what, got, ref, CLIP_WIDTH, sd3_text_bound()), <=,
                      1e-4);
}

static gboolean ensure_backend(void)
{
    if (!backend)
        backend = tt_backend_new();
    return backend != NULL;
}

/* Encodes every case golden for this encoder set (with_t5: the cases with T5, else the one
 * without) and checks txt, vec and the negative ones. vec_key: "vec" or "vec_bundled". */
static void check_cases(RdSd3Text *enc, const char *vec_key)
{
    gboolean with_t5 = rd_sd3_text_has_t5(enc);
    int checked = 0;
    for (guint i = 0; i < json_array_get_length(cases); i++) {
        JsonObject *c = json_array_get_object_element(cases, i);
        if (json_object_get_boolean_member(c, "t5") != with_t5)
            continue;
        const char *name = json_object_get_string_member(c, "name");
        const char *prompt = json_object_get_string_member(c, "prompt");
        const char *negative = json_object_get_null_member(c, "negative")
                                   ? NULL
                                   : json_object_get_string_member(c, "negative");
        int t5_len = (int)json_object_get_int_member(c, "max_sequence_length");
        int rows = rd_sd3_text_txt_rows(enc, t5_len);
        g_assert_cmpint(rows, ==, 77 + (with_t5 ? t5_len : 77));
        g_autofree char *k_txt = g_strdup_printf("%s.txt", name);
        g_autofree char *k_vec = g_strdup_printf("%s.%s", name, vec_key);
        g_autofree char *k_ntxt = g_strdup_printf("%s.neg_txt", name);
        gboolean has_neg = rd_safetensors_find(goldens, k_ntxt) != NULL;
        float *txt = NULL, *vec = NULL, *ntxt = NULL, *nvec = NULL;
        RdSd3TextInfo info;
        GError *error = NULL;
        g_assert_true(rd_sd3_text_encode(enc, prompt, negative, t5_len, &txt, &vec,
                                         has_neg ? &ntxt : NULL, has_neg ? &nvec : NULL, &info,
                                         NULL, &error));
        g_assert_no_error(error);
        check_txt(k_txt, txt, golden(k_txt, (size_t)rows * JOINT_DIM), rows, with_t5);
        check_vec(k_vec, vec, golden(k_vec, CLIP_WIDTH));
        if (has_neg) {
            g_autofree char *k_nvec = g_strdup_printf("%s.neg_%s", name, vec_key);
            check_txt(k_ntxt, ntxt, golden(k_ntxt, (size_t)rows * JOINT_DIM), rows, with_t5);
            check_vec(k_nvec, nvec, golden(k_nvec, CLIP_WIDTH));
        }
        g_assert_cmpint(info.clip_l_dropped, ==, json_object_get_int_member(c, "clip_dropped"));
        g_assert_cmpint(info.clip_g_dropped, ==, json_object_get_int_member(c, "clip_dropped"));
        g_assert_cmpint(info.t5_dropped, ==, json_object_get_int_member(c, "t5_dropped"));
        g_assert_cmpuint(info.peak_bytes, >, 0);
        int n_clip = 0, n_t5 = 0;
        g_assert_true(rd_sd3_text_count_tokens(enc, prompt, &n_clip, &n_t5, &error));
        g_assert_no_error(error);
        if (info.clip_l_dropped > 0)
            g_assert_cmpint(n_clip, ==, 77 + info.clip_l_dropped);
        else
            g_assert_cmpint(n_clip, <=, 77);
        if (!with_t5)
            g_assert_cmpint(n_t5, ==, 0);
        else if (info.t5_dropped > 0)
            g_assert_cmpint(n_t5, ==, t5_len + info.t5_dropped);
        else
            g_assert_cmpint(n_t5, <=, t5_len);
        g_free(txt);
        g_free(vec);
        g_free(ntxt);
        g_free(nvec);
        checked++;
    }
    g_assert_cmpint(checked, >=, 1);
}

static RdSd3Text *load_ok(const RdSd3TextSources *src)
{
    GError *error = NULL;
    RdSd3Text *enc = rd_sd3_text_load(src, backend, &error);
    g_assert_no_error(error);
    g_assert_cmpint(rd_sd3_text_txt_dim(enc), ==, JOINT_DIM);
    g_assert_cmpint(rd_sd3_text_vec_dim(enc), ==, CLIP_WIDTH);
    g_assert_cmpint(rd_sd3_text_clip_length(enc), ==, 77);
    return enc;
}

/* The tiny diffusers root with the T5 tokenizer of the FLUX text goldens (not copied). */
static RdSd3Text *load_root(gboolean without_t5)
{
    g_autofree char *root = data_path("tiny");
    g_autofree char *t5_tok = tt_path("tiny/tokenizer_2");
    RdSd3TextSources src = {
        .root = root, .t5_tokenizer = t5_tok, .without_t5 = without_t5, .joint_dim = JOINT_DIM};
    return load_ok(&src);
}

static void assert_ids(const char *what, const int32_t *got, const char *golden_name)
{
    const RdTensorInfo *info = golden_info(golden_name);
    g_assert_cmpint(info->dtype, ==, RD_I64);
    g_assert_cmpint(rd_tensor_info_numel(info), ==, 77);
    const int64_t *want = info->data;
    for (int i = 0; i < 77; i++)
        if (got[i] != want[i])
            g_error("%s: id %d is %d, reference %" G_GINT64_FORMAT, what, i, got[i], want[i]);
}

/* CLIP-G pads with its own pad token ("!", id 0), CLIP-L with EOS, as diffusers' tokenizers. */
static void test_tokenize(void)
{
    if (!ensure_backend())
        return;
    RdSd3Text *enc = load_root(FALSE);
    JsonObject *c = json_array_get_object_element(cases, 0);
    int32_t ids_l[77], ids_g[77], ids_t5[32];
    GError *error = NULL;
    g_assert_true(rd_sd3_text_tokenize(enc, json_object_get_string_member(c, "prompt"), 32, ids_l,
                                       ids_g, ids_t5, NULL, &error));
    g_assert_no_error(error);
    assert_ids("CLIP-L ids", ids_l, "cat.ids_l");
    assert_ids("CLIP-G ids", ids_g, "cat.ids_g");
    g_assert_cmpint(ids_g[76], ==, 0);
    g_assert_cmpint(ids_l[76], !=, 0);
    rd_sd3_text_free(enc);
}

static void test_diffusers_root(void)
{
    if (!ensure_backend())
        return;
    RdSd3Text *enc = load_root(FALSE);
    g_assert_true(rd_sd3_text_has_t5(enc));
    check_cases(enc, "vec");
    rd_sd3_text_free(enc);
    enc = load_root(TRUE); /* diffusers' text_encoder_3=None: zeros [77, joint_dim] */
    g_assert_false(rd_sd3_text_has_t5(enc));
    check_cases(enc, "vec");
    rd_sd3_text_free(enc);
}

/* ComfyUI's separate files (transformers names, text_projection.weight beside text_model.) */
static void test_separate_files(void)
{
    if (!ensure_backend())
        return;
    g_autofree char *clip_l = data_path("clip_l.safetensors");
    g_autofree char *clip_g = data_path("clip_g.safetensors");
    g_autofree char *t5 = data_path("tiny/text_encoder_3/model.safetensors");
    g_autofree char *tok_l = data_path("tiny/tokenizer");
    g_autofree char *tok_g = data_path("tiny/tokenizer_2");
    g_autofree char *tok_t5 = tt_path("tiny/tokenizer_2");
    RdSd3TextSources src = {.clip_l = clip_l,
                            .clip_g = clip_g,
                            .t5 = t5,
                            .clip_l_tokenizer = tok_l,
                            .clip_g_tokenizer = tok_g,
                            .t5_tokenizer = tok_t5};
    RdSd3Text *enc = load_ok(&src);
    check_cases(enc, "vec");
    rd_sd3_text_free(enc);
    src.t5 = NULL; /* no root, no T5 file: run without it; 4096 unless told */
    src.joint_dim = JOINT_DIM;
    enc = load_ok(&src);
    check_cases(enc, "vec");
    rd_sd3_text_free(enc);
}

/* A Stability checkpoint bundling the three encoders (text_encoders.<role>.transformer.): its
 * CLIP-L projection is the identity, as diffusers' single-file loader makes it. */
static void test_bundled_checkpoint(void)
{
    if (!ensure_backend())
        return;
    g_autofree char *file = data_path("sd3-text-tiny.bundled.safetensors");
    g_autofree char *tok_l = data_path("tiny/tokenizer");
    g_autofree char *tok_g = data_path("tiny/tokenizer_2");
    g_autofree char *tok_t5 = tt_path("tiny/tokenizer_2");
    RdSd3TextSources src = {
        .root = file, .clip_l_tokenizer = tok_l, .clip_g_tokenizer = tok_g, .t5_tokenizer = tok_t5};
    RdSd3Text *enc = load_ok(&src);
    g_assert_true(rd_sd3_text_has_t5(enc));
    check_cases(enc, "vec_bundled");
    rd_sd3_text_free(enc);
    src.without_t5 = TRUE;
    src.joint_dim = JOINT_DIM;
    enc = load_ok(&src);
    check_cases(enc, "vec_bundled");
    rd_sd3_text_free(enc);
}

static void link_into(const char *dir, const char *target, const char *name)
{
    g_autofree char *link = g_build_filename(dir, name, NULL);
    g_assert_cmpint(symlink(target, link), ==, 0);
}

static void remove_links(const char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *name;
    while ((name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(dir, name, NULL);
        g_unlink(p);
    }
    g_dir_close(d);
    g_rmdir(dir);
}

/* A root found by its folders alone: tokenizer_3/ is read without being named, and a root without
 * text_encoder_3/ runs without T5. */
static void test_root_discovery(void)
{
    if (!ensure_backend())
        return;
    g_autofree char *dir = g_dir_make_tmp("resdit-sd3-text-XXXXXX", NULL);
    g_autofree char *tiny = data_path("tiny");
    const char *parts[] = {"text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2"};
    for (size_t i = 0; i < G_N_ELEMENTS(parts); i++) {
        g_autofree char *target = g_build_filename(tiny, parts[i], NULL);
        link_into(dir, target, parts[i]);
    }
    RdSd3TextSources src = {.root = dir, .joint_dim = JOINT_DIM};
    RdSd3Text *enc = load_ok(&src);
    g_assert_false(rd_sd3_text_has_t5(enc));
    check_cases(enc, "vec");
    rd_sd3_text_free(enc);
    g_autofree char *t5 = g_build_filename(tiny, "text_encoder_3", NULL);
    g_autofree char *t5_tok = tt_path("tiny/tokenizer_2");
    link_into(dir, t5, "text_encoder_3");
    link_into(dir, t5_tok, "tokenizer_3");
    enc = load_ok(&src);
    g_assert_true(rd_sd3_text_has_t5(enc));
    check_cases(enc, "vec");
    rd_sd3_text_free(enc);
    remove_links(dir);
}

static void assert_load_fails(const RdSd3TextSources *src, int code, const char *needle)
{
    GError *error = NULL;
    g_assert_null(rd_sd3_text_load(src, backend, &error));
    g_assert_nonnull(error);
    g_test_message("%s", error->message);
    if (error->code != code || !strstr(error->message, needle))
        g_error("unexpected error (code %d): %s", error->code, error->message);
    g_error_free(error);
}

/* The bundled checkpoint cut down to its CLIP-L. */
static char *write_clip_l_only(const char *dir)
{
    g_autofree char *src = data_path("sd3-text-tiny.bundled.safetensors");
    GError *error = NULL;
    RdSafetensors *st = rd_safetensors_open(src, &error);
    g_assert_no_error(error);
    RdSafetensorsWriter *w = rd_safetensors_writer_new();
    for (guint i = 0; i < rd_safetensors_count(st); i++) {
        const RdTensorInfo *t = rd_safetensors_get(st, i);
        if (g_str_has_prefix(t->name, "text_encoders.clip_l."))
            rd_safetensors_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data);
    }
    rd_safetensors_writer_set_metadata(w, "clip_l_num_attention_heads", "2");
    char *out = g_build_filename(dir, "clip_l_only.safetensors", NULL);
    g_assert_true(rd_safetensors_writer_save(w, out, &error));
    g_assert_no_error(error);
    rd_safetensors_writer_free(w);
    rd_safetensors_close(st);
    return out;
}

static void test_bad_input(void)
{
    if (!ensure_backend())
        return;
    g_autofree char *root = data_path("tiny");
    g_autofree char *clip_l = data_path("clip_l.safetensors");
    g_autofree char *clip_g = data_path("clip_g.safetensors");
    g_autofree char *tok_l = data_path("tiny/tokenizer");
    g_autofree char *tok_g = data_path("tiny/tokenizer_2");
    g_autofree char *tok_t5 = tt_path("tiny/tokenizer_2");
    RdSd3TextSources src = {.root = root, .t5_tokenizer = tok_t5, .joint_dim = 64};
    assert_load_fails(&src, RESDIT_ERROR_MODEL, "not from the same model");
    src = (RdSd3TextSources){.root = root, .without_t5 = TRUE, .joint_dim = 32};
    assert_load_fails(&src, RESDIT_ERROR_MODEL, "wider than the joint text width");
    src = (RdSd3TextSources){.clip_l = clip_l};
    assert_load_fails(&src, RESDIT_ERROR_INVALID_ARGUMENT, "both CLIP-L and CLIP-G");
    src = (RdSd3TextSources){.root = "/nonexistent/sd3"};
    assert_load_fails(&src, RESDIT_ERROR_IO, "does not exist");
    src = (RdSd3TextSources){.clip_l = clip_l,
                             .clip_g = clip_g,
                             .t5 = clip_g,
                             .clip_l_tokenizer = tok_l,
                             .clip_g_tokenizer = tok_g,
                             .t5_tokenizer = tok_t5};
    assert_load_fails(&src, RESDIT_ERROR_MODEL, "is a CLIP text encoder, not a T5");
    /* the CLIP-G asked of a checkpoint that bundles only a CLIP-L is not that CLIP-L */
    g_autofree char *dir = g_dir_make_tmp("resdit-sd3-text-XXXXXX", NULL);
    g_autofree char *only_l = write_clip_l_only(dir);
    src = (RdSd3TextSources){.root = only_l, .clip_l_tokenizer = tok_l, .clip_g_tokenizer = tok_g};
    assert_load_fails(&src, RESDIT_ERROR_MODEL, "no CLIP-G");
    g_unlink(only_l);
    g_rmdir(dir);

    RdSd3Text *enc = load_root(FALSE);
    float *txt = NULL, *vec = NULL;
    GError *error = NULL;
    for (int len = -1; len <= 513; len += 514) {
        g_assert_false(rd_sd3_text_encode(enc, "a cat", NULL, len == -1 ? 0 : len, &txt, &vec, NULL,
                                          NULL, NULL, NULL, &error));
        g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
    }
    g_assert_false(rd_sd3_text_encode(enc, "bad \xff utf-8", NULL, 32, &txt, &vec, NULL, NULL, NULL,
                                      NULL, &error));
    g_assert_nonnull(error);
    g_clear_error(&error);
    GCancellable *cancel = g_cancellable_new();
    g_cancellable_cancel(cancel);
    g_assert_false(
        rd_sd3_text_encode(enc, "a cat", NULL, 32, &txt, &vec, NULL, NULL, NULL, cancel, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_CANCELLED);
    g_clear_error(&error);
    g_object_unref(cancel);
    g_assert_null(txt);
    rd_sd3_text_free(enc);
}

/* Single files without a tokenizer folder take the bundled CLIP vocabulary (too large for the tiny
 * models: refused, naming CLIP-G); CLIP-G then pads with "!" (id 0 of CLIP's vocabulary), as
 * SD3's tokenizer_2 and Stability's reference do. A folder may say its pad token in
 * tokenizer_config.json alone. */
static void test_pad_token(void)
{
    if (!ensure_backend())
        return;
    g_autofree char *clip_l = data_path("clip_l.safetensors");
    g_autofree char *clip_g = data_path("clip_g.safetensors");
    g_autofree char *tok_l = data_path("tiny/tokenizer");
    RdSd3TextSources src = {
        .clip_l = clip_l, .clip_g = clip_g, .clip_l_tokenizer = tok_l, .joint_dim = JOINT_DIM};
    assert_load_fails(&src, RESDIT_ERROR_MODEL, "the CLIP-G tokenizer (49408 tokens");
    GError *error = NULL;
    RdClipTokenizer *tok = rd_clip_tokenizer_load(NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpint(rd_clip_tokenizer_pad(tok), ==, rd_clip_tokenizer_eos(tok));
    g_assert_true(rd_clip_tokenizer_set_pad(tok, "!"));
    g_assert_false(rd_clip_tokenizer_set_pad(tok, "no-such-token"));
    int32_t ids[77];
    g_assert_true(rd_clip_tokenizer_encode(tok, "a photo of a cat", 77, ids, NULL, &error));
    const int32_t want[] = {49406, 320, 1125, 539, 320, 2368, 49407};
    for (int i = 0; i < 77; i++)
        g_assert_cmpint(ids[i], ==, i < 7 ? want[i] : 0);
    rd_clip_tokenizer_free(tok);

    /* a tokenizer folder that says pad_token only in tokenizer_config.json */
    g_autofree char *dir = g_dir_make_tmp("resdit-sd3-text-XXXXXX", NULL);
    const char *files[] = {"vocab.json", "merges.txt"};
    for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
        g_autofree char *from = data_path("tiny/tokenizer_2");
        g_autofree char *target = g_build_filename(from, files[i], NULL);
        g_autofree char *link = g_build_filename(dir, files[i], NULL);
        g_assert_cmpint(symlink(target, link), ==, 0);
    }
    g_autofree char *config = g_build_filename(dir, "tokenizer_config.json", NULL);
    g_assert_true(g_file_set_contents(
        config, "{\"model_max_length\": 77, \"pad_token\": {\"content\": \"!\"}}", -1, NULL));
    tok = rd_clip_tokenizer_load(dir, &error);
    g_assert_no_error(error);
    g_assert_cmpint(rd_clip_tokenizer_pad(tok), ==, 0);
    rd_clip_tokenizer_free(tok);
    remove_links(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_autofree char *path = data_path("goldens.safetensors");
    GError *error = NULL;
    goldens = rd_safetensors_open(path, &error);
    g_assert_no_error(error);
    g_autofree char *cases_path = data_path("cases.json");
    JsonParser *parser = json_parser_new();
    if (!json_parser_load_from_file(parser, cases_path, &error))
        g_error("cannot load %s: %s", cases_path, error->message);
    cases = json_node_get_array(json_parser_get_root(parser));
    g_test_add_func("/sd3-text/tokenize", test_tokenize);
    g_test_add_func("/sd3-text/diffusers-root", test_diffusers_root);
    g_test_add_func("/sd3-text/separate-files", test_separate_files);
    g_test_add_func("/sd3-text/bundled-checkpoint", test_bundled_checkpoint);
    g_test_add_func("/sd3-text/root-discovery", test_root_discovery);
    g_test_add_func("/sd3-text/bad-input", test_bad_input);
    g_test_add_func("/sd3-text/pad-token", test_pad_token);
    int rc = g_test_run();
    if (backend)
        rd_backend_free(backend);
    rd_safetensors_close(goldens);
    g_object_unref(parser);
    return rc;
}
