/* What a weights file is, read from its tensors (model_parts.c), and how discovery puts SD3
 * models together (model_discovery.c): Stability's checkpoint with everything bundled, ComfyUI's
 * split files (CLIP-L and CLIP-G told apart by their widths adding up to the pooled width), a
 * diffusers SD3 folder, and a FLUX model beside them that borrows nothing from SD3's files.
 * Only the headers matter here: tensors are small, with the shapes of the real ones' roles. */
#include <glib/gstdio.h>
#include <string.h>

#include "model_parts.h"
#include "resdit.h"
#include "safetensors.h"
#include "test-util.h"

enum { HIDDEN = 16, TXT = 24, VEC = 20, CLIP_L = 8, CLIP_G = 12, VOCAB = 10 };

typedef struct {
    const char *name;
    int ndim;
    int64_t shape[4];
} Spec;

/* Writes every spec under prefix + name with small non-zero values. */
static void write_specs(RdSafetensorsWriter *w, GPtrArray *keep, const char *prefix,
                        const Spec *specs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int64_t count = 1;
        for (int d = 0; d < specs[i].ndim; d++)
            count *= specs[i].shape[d];
        float *data = g_new(float, count);
        tu_fill_uniform(data, (size_t)count, -1, 1, (guint32)i + 1);
        g_ptr_array_add(keep, data);
        g_autofree char *name = g_strconcat(prefix, specs[i].name, NULL);
        rd_safetensors_writer_add(w, name, RD_F32, specs[i].ndim, specs[i].shape, data);
    }
}

static const Spec sd3_stability[] = {
    {"x_embedder.proj.weight", 4, {HIDDEN, 16, 2, 2}},
    {"y_embedder.mlp.0.weight", 2, {HIDDEN, VEC}},
    {"context_embedder.weight", 2, {HIDDEN, TXT}},
    {"joint_blocks.0.x_block.attn.qkv.weight", 2, {3 * HIDDEN, HIDDEN}},
};
static const Spec sd3_diffusers[] = {
    {"pos_embed.proj.weight", 4, {HIDDEN, 16, 2, 2}},
    {"time_text_embed.text_embedder.linear_1.weight", 2, {HIDDEN, VEC}},
    {"context_embedder.weight", 2, {HIDDEN, TXT}},
    {"transformer_blocks.0.attn.to_q.weight", 2, {HIDDEN, HIDDEN}},
};
static const Spec flux_bfl[] = {
    {"img_in.weight", 2, {HIDDEN, 64}},
    {"txt_in.weight", 2, {HIDDEN, TXT}},
    {"vector_in.in_layer.weight", 2, {HIDDEN, CLIP_L}},
    {"double_blocks.0.img_attn.qkv.weight", 2, {3 * HIDDEN, HIDDEN}},
};
static const Spec vae[] = {{"decoder.conv_in.weight", 4, {8, 16, 3, 3}}};
static const Spec clip_l[] = {
    {"text_model.embeddings.token_embedding.weight", 2, {VOCAB, CLIP_L}}};
static const Spec clip_g[] = {
    {"text_model.embeddings.token_embedding.weight", 2, {VOCAB, CLIP_G}}};
static const Spec t5[] = {{"encoder.block.0.layer.0.SelfAttention.q.weight", 2, {TXT, TXT}}};

typedef struct {
    const char *prefix;
    const Spec *specs;
    size_t n;
} Part;

#define PART(prefix, specs) {prefix, specs, G_N_ELEMENTS(specs)}

static char *write_parts(const char *dir, const char *rel, const Part *parts, size_t n)
{
    g_autofree char *path = g_build_filename(dir, rel, NULL);
    g_autofree char *parent = g_path_get_dirname(path);
    g_assert_cmpint(g_mkdir_with_parents(parent, 0755), ==, 0);
    RdSafetensorsWriter *w = rd_safetensors_writer_new();
    g_autoptr(GPtrArray) keep = g_ptr_array_new_with_free_func(g_free);
    for (size_t i = 0; i < n; i++)
        write_specs(w, keep, parts[i].prefix, parts[i].specs, parts[i].n);
    g_autoptr(GError) error = NULL;
    g_assert_true(rd_safetensors_writer_save(w, path, &error));
    g_assert_no_error(error);
    rd_safetensors_writer_free(w);
    return g_steal_pointer(&path);
}

/* Stability's sd3.5_large.safetensors with its VAE and text encoders. */
static char *write_sd3_bundle(const char *dir, const char *rel)
{
    const Part parts[] = {PART("model.diffusion_model.", sd3_stability),
                          PART("first_stage_model.", vae),
                          PART("text_encoders.clip_l.transformer.", clip_l),
                          PART("text_encoders.clip_g.transformer.", clip_g),
                          PART("text_encoders.t5xxl.transformer.", t5)};
    return write_parts(dir, rel, parts, G_N_ELEMENTS(parts));
}

static char *write_one(const char *dir, const char *rel, const Spec *specs, size_t n)
{
    const Part part = {"", specs, n};
    return write_parts(dir, rel, &part, 1);
}

#define WRITE_ONE(dir, rel, specs) write_one(dir, rel, specs, G_N_ELEMENTS(specs))

static void test_identify(void)
{
    g_autofree char *dir = g_dir_make_tmp("resdit-parts-XXXXXX", NULL);
    g_autofree char *bundle = write_sd3_bundle(dir, "sd3.5_large.safetensors");
    RdPartInfo info;
    g_assert_true(rd_part_identify(bundle, &info));
    g_assert_cmpuint(info.parts, ==, RD_PART_TRANSFORMER | RD_PART_VAE | RD_PART_CLIP | RD_PART_T5);
    g_assert_cmpint(info.family, ==, RD_FAMILY_SD3);
    g_assert_cmpint(info.in_channels, ==, 64);
    g_assert_cmpint(info.txt_dim, ==, TXT);
    g_assert_cmpint(info.vec_dim, ==, VEC);
    g_assert_cmpint(info.latent_channels, ==, 16);
    g_assert_cmpint(info.clip_hidden, ==, CLIP_L);
    g_assert_cmpint(info.clip_g_hidden, ==, CLIP_G);
    g_assert_cmpint(info.t5_dim, ==, TXT);
    g_assert_true(rd_part_has_clip_pair(&info, &info));

    g_autofree char *diffusers = WRITE_ONE(dir, "sd3-diffusers.safetensors", sd3_diffusers);
    g_assert_true(rd_part_identify(diffusers, &info));
    g_assert_cmpuint(info.parts, ==, RD_PART_TRANSFORMER);
    g_assert_cmpint(info.family, ==, RD_FAMILY_SD3);
    g_assert_cmpint(info.vec_dim, ==, VEC);

    g_autofree char *flux = WRITE_ONE(dir, "flux.safetensors", flux_bfl);
    g_assert_true(rd_part_identify(flux, &info));
    g_assert_cmpint(info.family, ==, RD_FAMILY_FLUX);
    g_assert_cmpint(info.vec_dim, ==, CLIP_L);
    g_autofree char *lone = WRITE_ONE(dir, "clip_g.safetensors", clip_g);
    g_assert_true(rd_part_identify(lone, &info));
    g_assert_cmpuint(info.parts, ==, RD_PART_CLIP);
    g_assert_cmpint(info.clip_hidden, ==, CLIP_G); /* alone it cannot say it is CLIP-G */
    g_assert_cmpint(info.clip_g_hidden, ==, 0);
    tu_remove_tree(dir);
}

/* The model of discovery's list whose transformer (or root) is under dir. */
static const ResditModelPaths *model_in(GPtrArray *found, const char *dir)
{
    const ResditModelPaths *hit = NULL;
    for (guint i = 0; i < found->len; i++) {
        const ResditModelPaths *p = g_ptr_array_index(found, i);
        const char *where = p->transformer ? p->transformer : p->root;
        if (where && g_str_has_prefix(where, dir)) {
            g_assert_null(hit); /* one model per folder in this test */
            hit = p;
        }
    }
    g_assert_nonnull(hit);
    return hit;
}

static void test_discover_sd3(void)
{
    g_autofree char *top = g_dir_make_tmp("resdit-discovery-XXXXXX", NULL);
    g_autofree char *a = g_build_filename(top, "bundle", NULL);
    g_autofree char *b = g_build_filename(top, "comfy-split", NULL);
    g_autofree char *c = g_build_filename(top, "flux-files", NULL);
    g_autofree char *d = g_build_filename(top, "sd3-diffusers", NULL);
    g_autofree char *bundle = write_sd3_bundle(a, "checkpoints/sd3.5_large.safetensors");
    g_autofree char *split = WRITE_ONE(b, "diffusion_models/sd3.5_medium.safetensors",
                                       sd3_stability);
    g_autofree char *split_l = WRITE_ONE(b, "text_encoders/clip_l.safetensors", clip_l);
    g_autofree char *split_g = WRITE_ONE(b, "text_encoders/clip_g.safetensors", clip_g);
    g_autofree char *split_t5 = WRITE_ONE(b, "text_encoders/t5xxl_fp16.safetensors", t5);
    g_autofree char *split_vae = WRITE_ONE(b, "vae/ae.safetensors", vae); /* FLUX's VAE */
    g_autofree char *flux = WRITE_ONE(c, "unet/flux1-dev.safetensors", flux_bfl);
    g_autofree char *flux_vae = WRITE_ONE(c, "vae/ae.safetensors", vae);
    g_autofree char *flux_l = WRITE_ONE(c, "clip/clip_l.safetensors", clip_l);
    g_autofree char *flux_t5 = WRITE_ONE(c, "clip/t5xxl_fp16.safetensors", t5);
    g_autofree char *d_transformer = WRITE_ONE(d, "transformer/model.safetensors", sd3_diffusers);
    g_autofree char *d_vae = WRITE_ONE(d, "vae/model.safetensors", vae);
    g_autofree char *d_l = WRITE_ONE(d, "text_encoder/model.safetensors", clip_l);
    g_autofree char *d_g = WRITE_ONE(d, "text_encoder_2/model.safetensors", clip_g);
    g_autofree char *d_t5 = WRITE_ONE(d, "text_encoder_3/model.safetensors", t5);
    g_autofree char *index = g_build_filename(d, "model_index.json", NULL);
    g_assert_true(g_file_set_contents(
        index, "{\"_class_name\": \"StableDiffusion3Pipeline\"}", -1, NULL));

    const char *dirs[] = {a, b, c, d, NULL};
    g_autoptr(GPtrArray) found = resdit_models_discover(dirs);

    /* everything from the one checkpoint */
    const ResditModelPaths *p = model_in(found, a);
    g_assert_cmpint(p->family, ==, RESDIT_FAMILY_SD3);
    g_assert_cmpstr(p->transformer, ==, bundle);
    g_assert_cmpstr(p->vae, ==, bundle);
    g_assert_cmpstr(p->clip_l, ==, bundle);
    g_assert_cmpstr(p->clip_g, ==, bundle);
    g_assert_cmpstr(p->t5, ==, bundle);
    g_autofree char *missing = resdit_model_paths_missing(p);
    g_assert_cmpstr(missing, ==, "t5-tokenizer"); /* none in this empty home */

    /* split files: the CLIPs by width; FLUX's ae.safetensors is not taken for SD3 */
    p = model_in(found, b);
    g_assert_cmpint(p->family, ==, RESDIT_FAMILY_SD3);
    g_assert_cmpstr(p->transformer, ==, split);
    g_assert_cmpstr(p->clip_l, ==, split_l);
    g_assert_cmpstr(p->clip_g, ==, split_g);
    g_assert_cmpstr(p->t5, ==, split_t5);
    g_assert_null(p->vae);
    g_autofree char *split_missing = resdit_model_paths_missing(p);
    g_assert_cmpstr(split_missing, ==, "vae, t5-tokenizer");
    g_assert_nonnull(p->searched);
    g_assert_nonnull(split_vae);

    /* FLUX borrows nothing from the SD3 checkpoint and keeps its own parts */
    p = model_in(found, c);
    g_assert_cmpint(p->family, ==, RESDIT_FAMILY_FLUX);
    g_assert_cmpstr(p->transformer, ==, flux);
    g_assert_cmpstr(p->vae, ==, flux_vae);
    g_assert_cmpstr(p->clip_l, ==, flux_l);
    g_assert_cmpstr(p->t5, ==, flux_t5);
    g_assert_null(p->clip_g);

    /* a diffusers SD3 folder: text_encoder_2 is CLIP-G, text_encoder_3 T5 */
    p = model_in(found, d);
    g_assert_cmpint(p->family, ==, RESDIT_FAMILY_SD3);
    g_autofree char *d_transformer_dir = g_path_get_dirname(d_transformer);
    g_autofree char *d_l_dir = g_path_get_dirname(d_l), *d_g_dir = g_path_get_dirname(d_g);
    g_autofree char *d_t5_dir = g_path_get_dirname(d_t5), *d_vae_dir = g_path_get_dirname(d_vae);
    g_assert_cmpstr(p->transformer, ==, d_transformer_dir);
    g_assert_cmpstr(p->vae, ==, d_vae_dir);
    g_assert_cmpstr(p->clip_l, ==, d_l_dir);
    g_assert_cmpstr(p->clip_g, ==, d_g_dir);
    g_assert_cmpstr(p->t5, ==, d_t5_dir);

    /* copies keep the family and CLIP-G */
    ResditModelPaths *copy = resdit_model_paths_copy(p);
    g_assert_cmpint(copy->family, ==, RESDIT_FAMILY_SD3);
    g_assert_cmpstr(copy->clip_g, ==, d_g_dir);
    resdit_model_paths_free(copy);

    /* SD3 without T5 is complete (diffusers runs it with zeros); without CLIP-G it is not */
    ResditModelPaths no_t5 = {.family = RESDIT_FAMILY_SD3, .transformer = bundle, .vae = bundle,
                              .clip_l = bundle, .clip_g = bundle};
    g_autofree char *none = resdit_model_paths_missing(&no_t5);
    g_assert_null(none);
    no_t5.clip_g = NULL;
    g_autofree char *no_g = resdit_model_paths_missing(&no_t5);
    g_assert_cmpstr(no_g, ==, "clip-g");
    tu_remove_tree(top);
}

int main(int argc, char **argv)
{
    /* an empty home: no install or cache of this machine's joins the listing */
    g_autofree char *home = g_dir_make_tmp("resdit-home-XXXXXX", NULL);
    g_setenv("HOME", home, TRUE);
    g_unsetenv("HF_HOME");
    g_unsetenv("HF_HUB_CACHE");
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/discovery/identify", test_identify);
    g_test_add_func("/discovery/sd3", test_discover_sd3);
    int status = g_test_run();
    g_rmdir(home);
    return status;
}
