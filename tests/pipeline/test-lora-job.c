/* LoRAs in the job on the built-in self-test model: merged before the job (transformer and CLIP-L
 * parts), recorded in the PNG parameters (<lora:NAME:STRENGTH>, Lora hashes) and the JSON record
 * (name, file, strength, SHA-256), read back by resdit_job_params_from_json; strength 0 and an
 * emptied list give the base image again; a LoRA for another model is refused. */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "flux_model.h"
#include "pipeline-private.h"
#include "safetensors.h"
#include "selftest_model.h"
#include "test-util.h"

static char *tmpdir;

static void add(RdSafetensorsWriter *w, GPtrArray *keep, const char *name, int64_t rows,
                int64_t cols, guint32 seed)
{
    float *v = g_new(float, rows *cols);
    tu_fill_uniform(v, (size_t)(rows * cols), -0.3f, 0.3f, seed);
    g_ptr_array_add(keep, v);
    int64_t shape[2] = {rows, cols};
    rd_safetensors_writer_add(w, name, RD_F32, 2, shape, v);
}

/* A kohya LoRA for the self-test model: img_in, the first double block's fused image qkv and
 * CLIP-L's first q_proj. */
static char *write_lora(ResditModel *m, const char *file, gboolean foreign)
{
    const FluxConfig *c = flux_model_config(rd_denoiser_flux(m->denoiser));
    const int r = 2, C = c->hidden;
    RdSafetensorsWriter *w = rd_safetensors_writer_new();
    GPtrArray *keep = g_ptr_array_new_with_free_func(g_free);
    add(w, keep, "lora_unet_img_in.lora_down.weight", r, c->in_channels, 1);
    add(w, keep, "lora_unet_img_in.lora_up.weight", C, r, 2);
    add(w, keep, "lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight", r, C, 3);
    add(w, keep, "lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight", 3 * C, r, 4);
    add(w, keep, "lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight", r,
        RD_SELFTEST_VEC_DIM, 5);
    add(w, keep, "lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight",
        RD_SELFTEST_VEC_DIM, r, 6);
    if (foreign) { /* SD 1.5's UNet */
        add(w, keep, "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight", r, 320, 7);
        add(w, keep, "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight", 320, r, 8);
    }
    char *path = g_build_filename(tmpdir, file, NULL);
    g_autoptr(GError) error = NULL;
    g_assert_true(rd_safetensors_writer_save(w, path, &error));
    rd_safetensors_writer_free(w);
    g_ptr_array_unref(keep);
    return path;
}

static void small_params(ResditModel *m, ResditJobParams *p)
{
    resdit_job_params_init(p);
    resdit_model_job_defaults(m, p);
    g_free(p->prompt);
    p->prompt = g_strdup("a red bicycle");
    p->width = p->height = 128;
    p->steps = 3;
    p->random_seed = FALSE;
    p->seed = 42;
}

static ResditImage *generate(ResditModel *m, const ResditJobParams *p)
{
    g_autoptr(GError) error = NULL;
    ResditImage *img = resdit_generate(m, p, NULL, NULL, &error);
    g_assert_no_error(error);
    g_assert_nonnull(img);
    return img;
}

static gboolean same_rgb(const ResditImage *a, const ResditImage *b)
{
    return a->width == b->width && a->height == b->height &&
           memcmp(a->rgb, b->rgb, (size_t)a->width * a->height * 3) == 0;
}

static void test_job(void)
{
    g_autoptr(GError) error = NULL;
    ResditModel *m = resdit_model_open_selftest(RESDIT_BACKEND_CPU, &error);
    g_assert_no_error(error);
    g_autofree char *path = write_lora(m, "my-style.safetensors", FALSE);
    ResditJobParams p;
    small_params(m, &p);
    ResditImage *base = generate(m, &p);

    resdit_job_params_add_lora(&p, path, 0.7, TRUE);
    ResditImage *styled = generate(m, &p);
    g_assert_false(same_rgb(base, styled));
    g_assert_nonnull(strstr(styled->parameters, "a red bicycle <lora:my-style:0.7>\n"));
    g_autofree char *sha = NULL;
    {
        g_autofree char *bytes = NULL;
        gsize len;
        g_assert_true(g_file_get_contents(path, &bytes, &len, NULL));
        sha = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)bytes, len);
    }
    g_autofree char *hashes = g_strdup_printf("Lora hashes: \"my-style: %.12s\"", sha);
    g_assert_nonnull(strstr(styled->parameters, hashes));
    /* the JSON record */
    g_autoptr(JsonParser) parser = json_parser_new();
    g_assert_true(json_parser_load_from_data(parser, styled->parameters_json, -1, NULL));
    JsonObject *o = json_node_get_object(json_parser_get_root(parser));
    JsonArray *loras = json_object_get_array_member(o, "loras");
    g_assert_cmpuint(json_array_get_length(loras), ==, 1);
    JsonObject *l = json_array_get_object_element(loras, 0);
    g_assert_cmpstr(json_object_get_string_member(l, "name"), ==, "my-style");
    g_assert_cmpstr(json_object_get_string_member(l, "file"), ==, path);
    g_assert_cmpfloat(json_object_get_double_member(l, "strength"), ==, 0.7);
    g_assert_cmpstr(json_object_get_string_member(l, "sha256"), ==, sha);
    /* read back: the same job */
    ResditJobParams q;
    small_params(m, &q);
    g_assert_true(resdit_job_params_from_json(&q, styled->parameters_json, &error));
    g_assert_no_error(error);
    g_assert_cmpint(q.n_loras, ==, 1);
    g_assert_cmpstr(q.loras[0].path, ==, path);
    g_assert_cmpfloat(q.loras[0].strength, ==, 0.7);
    ResditImage *again = generate(m, &q);
    g_assert_true(same_rgb(again, styled)); /* the same job in the same process: bit for bit */

    /* strength 0 and the switch off give the base image (the original weights, restored) */
    p.loras[0].strength = 0.0;
    ResditImage *zero = generate(m, &p);
    g_assert_true(same_rgb(zero, base));
    g_assert_null(strstr(zero->parameters, "<lora:"));
    p.loras[0].strength = 0.7;
    p.loras[0].enabled = FALSE;
    ResditImage *off = generate(m, &p);
    g_assert_true(same_rgb(off, base));

    /* a LoRA for another model: refused, naming the module, and the model is unchanged */
    g_autofree char *foreign = write_lora(m, "sd15.safetensors", TRUE);
    resdit_job_params_set_loras(&p, NULL, 0);
    resdit_job_params_add_lora(&p, path, 0.7, TRUE);
    resdit_job_params_add_lora(&p, foreign, 1.0, TRUE);
    g_assert_null(resdit_generate(m, &p, NULL, NULL, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL);
    g_assert_nonnull(strstr(error->message, "down_blocks_0_attentions_0_proj_in"));
    g_clear_error(&error);
    resdit_job_params_set_loras(&p, NULL, 0);
    ResditImage *after = generate(m, &p);
    g_assert_true(same_rgb(after, base));

    ResditImage *imgs[] = {base, styled, again, zero, off, after};
    for (size_t i = 0; i < G_N_ELEMENTS(imgs); i++)
        resdit_image_free(imgs[i]);
    resdit_job_params_clear(&p);
    resdit_job_params_clear(&q);
    resdit_model_free(m);
}

static void test_spec(void)
{
    g_autofree char *path = NULL;
    double s;
    g_autoptr(GError) error = NULL;
    g_assert_true(resdit_lora_spec_parse("a/b.safetensors", &path, &s, &error));
    g_assert_cmpstr(path, ==, "a/b.safetensors");
    g_assert_cmpfloat(s, ==, 1.0);
    g_clear_pointer(&path, g_free);
    g_assert_true(resdit_lora_spec_parse("C:/x:y.safetensors:-0.25", &path, &s, &error));
    g_assert_cmpstr(path, ==, "C:/x:y.safetensors");
    g_assert_cmpfloat(s, ==, -0.25);
    g_clear_pointer(&path, g_free);
    g_assert_false(resdit_lora_spec_parse("x.safetensors:1e9", &path, &s, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    g_assert_false(resdit_lora_spec_parse(":0.5", &path, &s, &error));
    g_assert_nonnull(error);
    g_autofree char *name = resdit_lora_name("/x/y/My LoRA v2.safetensors");
    g_assert_cmpstr(name, ==, "My LoRA v2");
    /* job parameters own their list: a copy survives the original */
    ResditJobParams a, b;
    resdit_job_params_init(&a);
    resdit_job_params_add_lora(&a, "one.safetensors", 0.5, TRUE);
    resdit_job_params_add_lora(&a, "two.safetensors", -1.0, FALSE);
    resdit_job_params_copy(&b, &a);
    resdit_job_params_clear(&a);
    g_assert_cmpint(b.n_loras, ==, 2);
    g_assert_cmpstr(b.loras[1].path, ==, "two.safetensors");
    g_assert_cmpfloat(b.loras[1].strength, ==, -1.0);
    g_assert_false(b.loras[1].enabled);
    resdit_job_params_clear(&b);
    g_assert_null(b.loras);
    /* a record whose LoRA file is not a string (found by the fuzzer): an error, no critical */
    const char *records[] = {"{\"generator\": \"resdit\", \"prompt\": \"x\", \"loras\": [{\"file\": [], \"strength\": 1}]}",
                             "{\"generator\": \"resdit\", \"prompt\": \"x\", \"loras\": [{\"file\": {}, \"strength\": 1}]}",
                             "{\"generator\": \"resdit\", \"prompt\": \"x\", \"loras\": [{\"file\": 3, \"strength\": 1}]}"};
    for (size_t i = 0; i < G_N_ELEMENTS(records); i++) {
        ResditJobParams r;
        resdit_job_params_init(&r);
        g_clear_error(&error);
        g_assert_false(resdit_job_params_from_json(&r, records[i], &error));
        g_assert_nonnull(error);
        g_assert_nonnull(strstr(error->message, "LoRA entry"));
        g_assert_cmpint(r.n_loras, ==, 0);
        resdit_job_params_clear(&r);
    }
}

/* ComfyUI's models/loras (and extra_model_paths.yaml "loras"), Forge's models/Lora: LoRA files
 * are listed, other safetensors are not. */
static void test_discover(void)
{
    g_autoptr(GError) error = NULL;
    ResditModel *m = resdit_model_open_selftest(RESDIT_BACKEND_CPU, &error);
    g_assert_no_error(error);
    g_autofree char *comfy = g_build_filename(tmpdir, "ComfyUI", NULL);
    g_autofree char *comfy_loras = g_build_filename(comfy, "models", "loras", "flux", NULL);
    g_autofree char *comfy_comfy = g_build_filename(comfy, "comfy", NULL);
    g_autofree char *extra = g_build_filename(tmpdir, "more-loras", NULL);
    g_autofree char *forge = g_build_filename(tmpdir, "forge", NULL);
    g_autofree char *forge_sd = g_build_filename(forge, "models", "Stable-diffusion", NULL);
    g_autofree char *forge_lora = g_build_filename(forge, "models", "Lora", NULL);
    const char *dirs[] = {comfy_loras, comfy_comfy, extra, forge_sd, forge_lora};
    for (size_t i = 0; i < G_N_ELEMENTS(dirs); i++)
        g_assert_cmpint(g_mkdir_with_parents(dirs[i], 0700), ==, 0);
    g_autofree char *yaml = g_build_filename(comfy, "extra_model_paths.yaml", NULL);
    g_autofree char *yaml_text =
        g_strdup_printf("mine:\n  base_path: %s\n  loras: more-loras\n", tmpdir);
    g_assert_true(g_file_set_contents(yaml, yaml_text, -1, NULL));
    g_free(write_lora(m, "ComfyUI/models/loras/flux/alpha.safetensors", FALSE));
    g_free(write_lora(m, "more-loras/beta.safetensors", FALSE));
    g_free(write_lora(m, "forge/models/Lora/gamma.safetensors", FALSE));
    /* not a LoRA: a file of other tensors in a LoRA folder */
    RdSafetensorsWriter *w = rd_safetensors_writer_new();
    float v[4] = {1, 2, 3, 4};
    rd_safetensors_writer_add(w, "img_in.weight", RD_F32, 2, (int64_t[]){2, 2}, v);
    g_autofree char *not_lora = g_build_filename(forge_lora, "model.safetensors", NULL);
    g_assert_true(rd_safetensors_writer_save(w, not_lora, &error));
    rd_safetensors_writer_free(w);
    const char *extra_dirs[] = {comfy, forge, NULL};
    g_autoptr(GPtrArray) found = resdit_loras_discover(extra_dirs);
    GString *names = g_string_new(NULL);
    for (guint i = 0; i < found->len; i++) {
        const ResditLoraInfo *info = g_ptr_array_index(found, i);
        if (g_str_has_prefix(info->path, tmpdir))
            g_string_append_printf(names, "%s%s", names->len ? "," : "", info->name);
    }
    g_assert_cmpstr(names->str, ==, "alpha,beta,gamma");
    g_string_free(names, TRUE);
    resdit_model_free(m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    tmpdir = g_dir_make_tmp("test-lora-job-XXXXXX", NULL);
    g_test_add_func("/lora-job/spec", test_spec);
    g_test_add_func("/lora-job/generate", test_job);
    g_test_add_func("/lora-job/discover", test_discover);
    int rc = g_test_run();
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        g_warning("could not remove %s", tmpdir);
    g_free(tmpdir);
    return rc;
}
