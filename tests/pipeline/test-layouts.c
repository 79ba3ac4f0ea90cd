/* The weights users have, laid out as each install keeps them, in a temporary HOME: a diffusers
 * folder, ComfyUI (models/ and extra_model_paths.yaml, tokenizers in its source tree), an
 * all-in-one ComfyUI checkpoint, Forge, the Hugging Face cache (blobs, symlinks, refs/main), a
 * lone T5 served by a google/t5-v1_1-xxl snapshot. The same tiny model in every layout (the
 * pipeline's transformer, the VAE and the text encoders of tests/data; the BFL copy from
 * tools/reference/make_layout_goldens.py): `resdit models` finds it complete with no
 * configuration, and `resdit generate` gives the diffusers folder's pixels (to the rounding of
 * other BLAS shapes: see assert_same_pixels). */
#include <glib/gstdio.h>
#include <stdlib.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

#include "png_writer.h"
#include "safetensors.h"
#include "test-util.h"

typedef struct {
    int status;
    char *out, *err;
} Result;

static void result_clear(Result *r)
{
    g_free(r->out);
    g_free(r->err);
}

/* The CLI with HOME set to home and no Hugging Face variables of the machine's own. */
static Result run_in(const char *home, const char *const *args)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_ptr_array_add(argv, (gpointer)g_getenv("RESDIT_CLI"));
    for (int i = 0; args[i]; i++)
        g_ptr_array_add(argv, (gpointer)args[i]);
    g_ptr_array_add(argv, NULL);
    g_auto(GStrv) env = g_get_environ();
    env = g_environ_setenv(env, "HOME", home, TRUE);
    env = g_environ_unsetenv(env, "HF_HOME");
    env = g_environ_unsetenv(env, "HF_HUB_CACHE");
    Result r = {0};
    int wait_status = 0;
    g_autoptr(GError) error = NULL;
    g_assert_true(g_spawn_sync(NULL, (char **)argv->pdata, env, G_SPAWN_DEFAULT, NULL, NULL,
                               &r.out, &r.err, &wait_status, &error));
    g_assert_no_error(error);
    r.status = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
    return r;
}

/* Removes a temporary tree; links are removed, never followed. */
static void remove_tree(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        if (!g_file_test(path, G_FILE_TEST_IS_SYMLINK) && g_file_test(path, G_FILE_TEST_IS_DIR))
            remove_tree(path);
        else
            g_unlink(path);
    }
    g_rmdir(dir);
}

/* ---- building layouts --------------------------------------------------------------------- */

static char *data(const char *rel)
{
    return tu_data_path(rel);
}

static char *under(const char *dir, const char *rel)
{
    g_autofree char *path = g_build_filename(dir, rel, NULL);
    g_autofree char *parent = g_path_get_dirname(path);
    g_assert_cmpint(g_mkdir_with_parents(parent, 0755), ==, 0);
    return g_steal_pointer(&path);
}

static void copy_file(const char *src, const char *dir, const char *rel)
{
    g_autofree char *dst = under(dir, rel);
    g_autofree char *bytes = NULL;
    gsize len;
    g_assert_true(g_file_get_contents(src, &bytes, &len, NULL));
    g_assert_true(g_file_set_contents(dst, bytes, (gssize)len, NULL));
}

static void write_text(const char *dir, const char *rel, const char *text)
{
    g_autofree char *dst = under(dir, rel);
    g_assert_true(g_file_set_contents(dst, text, -1, NULL));
}

/* A diffusers CLIP folder's head count, which its single file can only carry as metadata (the
 * tiny CLIP's heads are not CLIP-L's 64 wide). */
static void clip_heads_metadata(const char *source, RdSafetensorsWriter *w)
{
    g_autofree char *config = g_build_filename(source, "config.json", NULL);
    g_autoptr(JsonParser) parser = json_parser_new();
    if (!g_file_test(config, G_FILE_TEST_IS_REGULAR) ||
        !json_parser_load_from_file(parser, config, NULL))
        return;
    JsonObject *o = json_node_get_object(json_parser_get_root(parser));
    if (!json_object_has_member(o, "architectures") ||
        !json_object_has_member(o, "num_attention_heads"))
        return;
    JsonArray *arch = json_object_get_array_member(o, "architectures");
    if (g_strcmp0(json_array_get_string_element(arch, 0), "CLIPTextModel") != 0)
        return;
    g_autofree char *heads =
        g_strdup_printf("%" G_GINT64_FORMAT, json_object_get_int_member(o, "num_attention_heads"));
    rd_safetensors_writer_set_metadata(w, "clip_num_attention_heads", heads);
}

/* Every tensor of each source (file, index or folder) under prefix + its name, in one file. */
static void write_merged(const char *dir, const char *rel, const char *const *sources,
                         const char *const *prefixes)
{
    RdSafetensorsWriter *w = rd_safetensors_writer_new();
    GPtrArray *open = g_ptr_array_new_with_free_func((GDestroyNotify)rd_safetensors_close);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    for (int s = 0; sources[s]; s++) {
        g_autoptr(GError) error = NULL;
        RdSafetensors *st = rd_safetensors_open(sources[s], &error);
        g_assert_no_error(error);
        g_ptr_array_add(open, st);
        static const char *const keys[] = {"axes_dims_rope", "norm_num_groups"};
        for (size_t k = 0; k < G_N_ELEMENTS(keys); k++) { /* a file's metadata travels with it */
            g_autofree char *value = rd_safetensors_metadata(st, keys[k]);
            if (value)
                rd_safetensors_writer_set_metadata(w, keys[k], value);
        }
        clip_heads_metadata(sources[s], w);
        for (guint i = 0; i < rd_safetensors_count(st); i++) {
            const RdTensorInfo *t = rd_safetensors_get(st, i);
            char *name = g_strconcat(prefixes[s], t->name, NULL);
            g_ptr_array_add(names, name);
            rd_safetensors_writer_add(w, name, t->dtype, t->ndim, t->shape, t->data);
        }
    }
    g_autofree char *dst = under(dir, rel);
    g_autoptr(GError) error = NULL;
    g_assert_true(rd_safetensors_writer_save(w, dst, &error));
    g_assert_no_error(error);
    rd_safetensors_writer_free(w);
    g_ptr_array_unref(open);
}

static void write_single(const char *dir, const char *rel, const char *source)
{
    const char *sources[] = {source, NULL}, *prefixes[] = {"", NULL};
    write_merged(dir, rel, sources, prefixes);
}

typedef struct {
    char *transformer_dir, *bfl_transformer, *vae_dir, *bfl_vae, *clip_dir, *t5_dir;
    char *clip_tokenizer, *t5_tokenizer;
} Sources;

static Sources sources(void)
{
    return (Sources){data("pipeline/transformer"),
                     data("pipeline/flux-tiny-dev.bfl.safetensors"),
                     data("vae/diffusers"),
                     data("pipeline/ae-tiny.bfl.safetensors"),
                     data("text/tiny/text_encoder"),
                     data("text/tiny/text_encoder_2"),
                     data("text/tiny/tokenizer"),
                     data("text/tiny/tokenizer_2")};
}

static void sources_clear(Sources *s)
{
    char **all[] = {&s->transformer_dir, &s->bfl_transformer, &s->vae_dir, &s->bfl_vae,
                    &s->clip_dir, &s->t5_dir, &s->clip_tokenizer, &s->t5_tokenizer};
    for (size_t i = 0; i < G_N_ELEMENTS(all); i++)
        g_clear_pointer(all[i], g_free);
}

static void copy_folder(const char *src, const char *dir, const char *rel)
{
    g_autoptr(GDir) d = g_dir_open(src, 0, NULL);
    g_assert_nonnull(d);
    const char *name;
    while ((name = g_dir_read_name(d))) {
        g_autofree char *from = g_build_filename(src, name, NULL);
        g_autofree char *to = g_build_filename(rel, name, NULL);
        copy_file(from, dir, to);
    }
}

/* The diffusers layout every other one is compared with. */
static void lay_out_diffusers(const Sources *s, const char *dir, const char *rel)
{
    g_autofree char *root = g_build_filename(dir, rel, NULL);
    write_text(root, "model_index.json", "{\"_class_name\": \"FluxPipeline\"}");
    const struct {
        const char *src, *sub;
    } parts[] = {{s->transformer_dir, "transformer"}, {s->vae_dir, "vae"},
                 {s->clip_dir, "text_encoder"},       {s->t5_dir, "text_encoder_2"},
                 {s->clip_tokenizer, "tokenizer"},    {s->t5_tokenizer, "tokenizer_2"}};
    for (size_t i = 0; i < G_N_ELEMENTS(parts); i++)
        copy_folder(parts[i].src, root, parts[i].sub);
}

static void comfy_tokenizers(const Sources *s, const char *comfy)
{
    copy_folder(s->t5_tokenizer, comfy, "comfy/text_encoders/t5_tokenizer");
    copy_folder(s->clip_tokenizer, comfy, "comfy/sd1_tokenizer");
}

/* ComfyUI's split files: models/diffusion_models, vae, text_encoders. */
static void lay_out_comfy(const Sources *s, const char *home)
{
    g_autofree char *comfy = g_build_filename(home, "ComfyUI", NULL);
    write_text(comfy, "main.py", "");
    write_single(comfy, "models/diffusion_models/flux1-dev.safetensors", s->bfl_transformer);
    copy_file(s->bfl_vae, comfy, "models/vae/ae.safetensors");
    write_single(comfy, "models/text_encoders/clip_l.safetensors", s->clip_dir);
    write_single(comfy, "models/text_encoders/t5xxl_fp16.safetensors", s->t5_dir);
    comfy_tokenizers(s, comfy);
}

/* ~/comfy/ComfyUI with its weights elsewhere, named in extra_model_paths.yaml (older folder
 * names unet/ and clip/, a "|" block, a relative base_path). */
static void lay_out_comfy_yaml(const Sources *s, const char *home)
{
    g_autofree char *comfy = g_build_filename(home, "comfy", "ComfyUI", NULL);
    g_assert_cmpint(g_mkdir_with_parents(comfy, 0755), ==, 0);
    write_text(comfy, "main.py", "");
    g_autofree char *models_dir = g_build_filename(comfy, "models", NULL);
    g_assert_cmpint(g_mkdir_with_parents(models_dir, 0755), ==, 0);
    write_text(comfy, "extra_model_paths.yaml",
               "# weights on another disk\n"
               "other:\n"
               "    base_path: ../../weights/\n"
               "    unet: flux/unet\n"
               "    vae: flux/vae   # the autoencoder\n"
               "    clip: |\n"
               "         flux/clip\n"
               "         flux/more-clip\n"
               "    loras: loras\n");
    g_autofree char *weights = g_build_filename(home, "weights", "flux", NULL);
    write_single(weights, "unet/my-flux.safetensors", s->bfl_transformer);
    copy_file(s->bfl_vae, weights, "vae/flux-vae.safetensors");
    write_single(weights, "clip/clip_l.safetensors", s->clip_dir);
    write_single(weights, "more-clip/t5.safetensors", s->t5_dir);
    comfy_tokenizers(s, comfy);
}

/* One file holding transformer, VAE and both text encoders (ComfyUI's checkpoints). */
static void lay_out_all_in_one(const Sources *s, const char *home)
{
    g_autofree char *comfy = g_build_filename(home, "ComfyUI", NULL);
    write_text(comfy, "main.py", "");
    const char *srcs[] = {s->bfl_transformer, s->bfl_vae, s->clip_dir, s->t5_dir, NULL};
    const char *prefixes[] = {"model.diffusion_model.", "vae.", "text_encoders.clip_l.transformer.",
                              "text_encoders.t5xxl.transformer.", NULL};
    write_merged(comfy, "models/checkpoints/flux1-dev-fp8.safetensors", srcs, prefixes);
    comfy_tokenizers(s, comfy);
}

/* Forge: models/Stable-diffusion, VAE, text_encoder; tokenizers in backend/huggingface. */
static void lay_out_forge(const Sources *s, const char *home)
{
    g_autofree char *forge = g_build_filename(home, "stable-diffusion-webui-forge", NULL);
    write_single(forge, "models/Stable-diffusion/flux1-dev.safetensors", s->bfl_transformer);
    copy_file(s->bfl_vae, forge, "models/VAE/ae.safetensors");
    write_single(forge, "models/text_encoder/clip_l.safetensors", s->clip_dir);
    write_single(forge, "models/text_encoder/t5xxl_fp16.safetensors", s->t5_dir);
    copy_folder(s->clip_tokenizer, forge, "backend/huggingface/black-forest-labs/FLUX.1-dev/tokenizer");
    copy_folder(s->t5_tokenizer, forge,
                "backend/huggingface/black-forest-labs/FLUX.1-dev/tokenizer_2");
}

/* The hub cache: every file a symlink into blobs/, refs/main naming the snapshot; an older,
 * partial snapshot beside it is not the one used. */
static void snapshot_file(const char *repo, const char *hash, const char *rel, const char *src)
{
    g_autofree char *bytes = NULL;
    gsize len;
    g_assert_true(g_file_get_contents(src, &bytes, &len, NULL));
    g_autofree char *sum = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (guchar *)bytes, len);
    g_autofree char *blob_rel = g_build_filename("blobs", sum, NULL);
    g_autofree char *blob = under(repo, blob_rel);
    g_assert_true(g_file_set_contents(blob, bytes, (gssize)len, NULL));
    g_autofree char *snap_rel = g_build_filename("snapshots", hash, rel, NULL);
    g_autofree char *link = under(repo, snap_rel);
    int depth = 2;
    for (const char *c = rel; *c; c++)
        depth += *c == '/';
    GString *target = g_string_new(NULL);
    for (int i = 0; i < depth; i++)
        g_string_append(target, "../");
    g_string_append(target, blob_rel);
    g_assert_cmpint(symlink(target->str, link), ==, 0);
    g_string_free(target, TRUE);
}

static void snapshot_folder(const char *repo, const char *hash, const char *sub, const char *src)
{
    g_autoptr(GDir) d = g_dir_open(src, 0, NULL);
    const char *name;
    while ((name = g_dir_read_name(d))) {
        g_autofree char *from = g_build_filename(src, name, NULL);
        g_autofree char *rel = g_build_filename(sub, name, NULL);
        snapshot_file(repo, hash, rel, from);
    }
}

static void lay_out_hf_cache(const Sources *s, const char *home)
{
    g_autofree char *repo = g_build_filename(home, ".cache", "huggingface", "hub",
                                             "models--black-forest-labs--FLUX.1-dev", NULL);
    const char *hash = "0ef5fff789c832c5c7f4e127f94c8b54bbcced44";
    g_autofree char *tmp = g_dir_make_tmp("resdit-index-XXXXXX", NULL);
    write_text(tmp, "model_index.json", "{\"_class_name\": \"FluxPipeline\"}");
    g_autofree char *index = g_build_filename(tmp, "model_index.json", NULL);
    snapshot_file(repo, hash, "model_index.json", index);
    snapshot_file(repo, "1111111111111111111111111111111111111111", "model_index.json", index);
    const struct {
        const char *src, *sub;
    } parts[] = {{s->transformer_dir, "transformer"}, {s->vae_dir, "vae"},
                 {s->clip_dir, "text_encoder"},       {s->t5_dir, "text_encoder_2"},
                 {s->clip_tokenizer, "tokenizer"},    {s->t5_tokenizer, "tokenizer_2"}};
    for (size_t i = 0; i < G_N_ELEMENTS(parts); i++)
        snapshot_folder(repo, hash, parts[i].sub, parts[i].src);
    write_text(repo, "refs/main", hash);
    g_unlink(index);
    g_rmdir(tmp);
}

/* ComfyUI's files without its tokenizers: the T5 vocabulary of a google/t5-v1_1-xxl snapshot. */
/* ComfyUI's files in the older folders (unet/, clip/) and no T5 tokenizer in its tree. */
static char *lay_out_comfy_without_t5_tokenizer(const Sources *s, const char *home)
{
    char *comfy = g_build_filename(home, "ComfyUI", NULL);
    write_text(comfy, "main.py", "");
    write_single(comfy, "models/unet/flux1-dev.safetensors", s->bfl_transformer);
    copy_file(s->bfl_vae, comfy, "models/vae/ae.safetensors");
    write_single(comfy, "models/clip/clip_l.safetensors", s->clip_dir);
    write_single(comfy, "models/clip/t5xxl_fp16.safetensors", s->t5_dir);
    copy_folder(s->clip_tokenizer, comfy, "comfy/sd1_tokenizer");
    return comfy;
}

static void lay_out_lone_t5(const Sources *s, const char *home)
{
    g_free(lay_out_comfy_without_t5_tokenizer(s, home));
    g_autofree char *repo = g_build_filename(home, ".cache", "huggingface", "hub",
                                             "models--google--t5-v1_1-xxl", NULL);
    g_autofree char *spiece = g_build_filename(s->t5_tokenizer, "spiece.model", NULL);
    snapshot_file(repo, "abcdef0123456789abcdef0123456789abcdef01", "spiece.model", spiece);
}

/* ---- checks ------------------------------------------------------------------------------- */

static guint8 *generate(const char *home, const char *model_dir, const char *out, int *w, int *h)
{
    const char *args[] = {"generate", "-p", "a red fox in the snow", "--seed", "11", "--width",
                          "128", "--height", "96", "--steps", "2", "--backend", "cpu", "-q",
                          "--no-history", "-o", out, model_dir ? "--model" : NULL, model_dir,
                          NULL};
    Result r = run_in(home, args);
    if (r.status != 0)
        g_error("resdit generate in %s failed (%d): %s", home, r.status, r.err);
    result_clear(&r);
    g_autoptr(GError) error = NULL;
    guint8 *rgb = rd_png_read_rgb8(out, w, h, NULL, &error);
    g_assert_no_error(error);
    return rgb;
}

/* The first complete model of `resdit models --json` in that HOME. */
static JsonObject *first_complete(const char *home, JsonParser *parser, char **listing)
{
    const char *args[] = {"models", "--json", NULL};
    Result r = run_in(home, args);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_true(json_parser_load_from_data(parser, r.out, -1, NULL));
    const char *text_args[] = {"models", NULL};
    Result t = run_in(home, text_args);
    *listing = g_steal_pointer(&t.out);
    result_clear(&t);
    result_clear(&r);
    JsonArray *list = json_node_get_array(json_parser_get_root(parser));
    for (guint i = 0; i < json_array_get_length(list); i++) {
        JsonObject *o = json_array_get_object_element(list, i);
        if (json_object_get_boolean_member(o, "complete"))
            return o;
    }
    return NULL;
}

/* The same weights in another layout run other shapes through BLAS (BFL's fused qkv and
 * linear1 are row views of one matrix, diffusers' are three), so the latents agree to rounding
 * (test-flux: relative L2 ~3e-7, the network bound ~1e-3) and an 8-bit value can only flip where
 * it sits next to a rounding edge: none may be off by more than one level, and at most 1 % by one
 * (a uniform value lands within 1e-3 * 255 of an edge with probability 2 * 0.26 / 255 = 0.2 %). */
static void assert_same_pixels(const char *what, const guint8 *got, const guint8 *ref, size_t n)
{
    size_t off_by_one = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)got[i] - (int)ref[i]);
        if (d > 1)
            g_error("%s: value %zu is %d, the diffusers folder's %d", what, i, got[i], ref[i]);
        off_by_one += d;
    }
    g_test_message("%s: %zu of %zu 8-bit values differ by one", what, off_by_one, n);
    g_assert_cmpuint(off_by_one, <=, n / 100);
}

typedef void (*LayOut)(const Sources *s, const char *home);

static void check_layout(gconstpointer data)
{
    const struct {
        const char *name;
        LayOut lay_out;
        const char *expect_name; /* a part of the model's name */
    } *layout = data;
    Sources s = sources();
    g_autofree char *ref_home = g_dir_make_tmp("resdit-ref-home-XXXXXX", NULL);
    lay_out_diffusers(&s, ref_home, "FLUX-tiny");
    g_autofree char *ref_dir = g_build_filename(ref_home, "FLUX-tiny", NULL);
    g_autofree char *ref_png = g_build_filename(ref_home, "ref.png", NULL);
    int rw, rh, w, h;
    g_autofree guint8 *ref = generate(ref_home, ref_dir, ref_png, &rw, &rh);

    g_autofree char *home = g_dir_make_tmp("resdit-home-XXXXXX", NULL);
    layout->lay_out(&s, home);
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autofree char *listing = NULL;
    JsonObject *model = first_complete(home, parser, &listing);
    g_test_message("%s layout:\n%s", layout->name, listing);
    g_assert_nonnull(model);
    g_assert_nonnull(strstr(json_object_get_string_member(model, "name"), layout->expect_name));
    g_autofree char *png = g_build_filename(home, "out.png", NULL);
    g_autofree guint8 *rgb = generate(home, NULL, png, &w, &h); /* no --model: found alone */
    g_assert_cmpint(w, ==, rw);
    g_assert_cmpint(h, ==, rh);
    assert_same_pixels(layout->name, rgb, ref, (size_t)w * h * 3);
    remove_tree(home);
    remove_tree(ref_home);
    sources_clear(&s);
}

/* A lone T5 file with no tokenizer anywhere: listed as lacking it, with where it looked; the
 * job fails with exit status 1 naming the files and the fix. */
static void test_no_t5_tokenizer(void)
{
    Sources s = sources();
    g_autofree char *home = g_dir_make_tmp("resdit-home-XXXXXX", NULL);
    g_autofree char *comfy = lay_out_comfy_without_t5_tokenizer(&s, home);
    const char *args[] = {"models", NULL};
    Result r = run_in(home, args);
    g_test_message("%s", r.out);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_nonnull(strstr(r.out, "t5-tokenizer"));
    g_assert_nonnull(strstr(r.out, "comfy/text_encoders/t5_tokenizer"));
    result_clear(&r);
    g_autofree char *out = g_build_filename(home, "out.png", NULL);
    const char *gen[] = {"generate", "-p", "x", "--width", "128", "--height", "96", "--steps",
                         "1", "-q", "--no-history", "--model", comfy, "-o", out, NULL};
    r = run_in(home, gen);
    g_test_message("%s", r.err);
    g_assert_cmpint(r.status, ==, 1);
    g_assert_nonnull(strstr(r.err, "tokenizer.json or spiece.model"));
    g_assert_nonnull(strstr(r.err, "comfy/text_encoders/t5_tokenizer"));
    g_assert_false(g_file_test(out, G_FILE_TEST_EXISTS));
    result_clear(&r);
    remove_tree(home);
    sources_clear(&s);
}

/* Files that are no FLUX part are named for what they are, never taken as one. */
static void test_identified_by_content(void)
{
    Sources s = sources();
    g_autofree char *home = g_dir_make_tmp("resdit-home-XXXXXX", NULL);
    g_autofree char *comfy = g_build_filename(home, "ComfyUI", NULL);
    write_text(comfy, "main.py", "");
    /* misleading names: the VAE named like a transformer and the reverse */
    write_single(comfy, "models/diffusion_models/ae.safetensors", s.bfl_transformer);
    copy_file(s.bfl_vae, comfy, "models/vae/flux1-dev.safetensors");
    write_single(comfy, "models/text_encoders/t5xxl.safetensors", s.clip_dir);
    write_single(comfy, "models/text_encoders/clip_l.safetensors", s.t5_dir);
    write_text(comfy, "models/diffusion_models/broken.safetensors", "not a safetensors file");
    comfy_tokenizers(&s, comfy);
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autofree char *listing = NULL;
    JsonObject *model = first_complete(home, parser, &listing);
    g_test_message("%s", listing);
    g_assert_nonnull(model);
    g_assert_true(g_str_has_suffix(json_object_get_string_member(model, "transformer"),
                                   "diffusion_models/ae.safetensors"));
    g_assert_true(g_str_has_suffix(json_object_get_string_member(model, "vae"),
                                   "vae/flux1-dev.safetensors"));
    g_assert_true(g_str_has_suffix(json_object_get_string_member(model, "clip_l"),
                                   "text_encoders/t5xxl.safetensors"));
    g_assert_true(g_str_has_suffix(json_object_get_string_member(model, "t5"),
                                   "text_encoders/clip_l.safetensors"));
    JsonArray *list = json_node_get_array(json_parser_get_root(parser));
    for (guint i = 0; i < json_array_get_length(list); i++) {
        JsonObject *o = json_array_get_object_element(list, i);
        const char *t = json_object_get_string_member_with_default(o, "transformer", "");
        g_assert_false(g_str_has_suffix(t ? t : "", "broken.safetensors"));
        g_assert_false(g_str_has_suffix(t ? t : "", "vae/flux1-dev.safetensors"));
    }
    remove_tree(home);
    sources_clear(&s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_assert_nonnull(g_getenv("RESDIT_CLI"));
    static const struct {
        const char *name;
        LayOut lay_out;
        const char *expect_name;
    } layouts[] = {
        {"comfyui", lay_out_comfy, "flux1-dev.safetensors (ComfyUI)"},
        {"comfyui-extra-model-paths", lay_out_comfy_yaml, "my-flux.safetensors (ComfyUI)"},
        {"comfyui-all-in-one", lay_out_all_in_one, "flux1-dev-fp8.safetensors (ComfyUI)"},
        {"forge", lay_out_forge, "flux1-dev.safetensors (Forge)"},
        {"hf-cache", lay_out_hf_cache, "black-forest-labs/FLUX.1-dev (Hugging Face cache, 0ef5fff7)"},
        {"lone-t5-hf-tokenizer", lay_out_lone_t5, "flux1-dev.safetensors (ComfyUI)"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(layouts); i++) {
        g_autofree char *path = g_strdup_printf("/layouts/%s", layouts[i].name);
        g_test_add_data_func(path, &layouts[i], check_layout);
    }
    g_test_add_func("/layouts/no-t5-tokenizer", test_no_t5_tokenizer);
    g_test_add_func("/layouts/identified-by-content", test_identified_by_content);
    return g_test_run();
}
