/* Where models are looked for (engine/model_places.c): ComfyUI's extra_model_paths.yaml as people
 * write it, damaged or hostile files, and Hugging Face refs that point anywhere. */
#include <glib/gstdio.h>
#include <string.h>

#include "model_places.h"
#include "test-util.h"

static char *home;

static char *make_dir(const char *root, const char *rel)
{
    char *dir = g_build_filename(root, rel, NULL);
    g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
    return dir;
}

static void write_file(const char *dir, const char *name, const char *text, gssize len)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_assert_true(g_file_set_contents(path, text, len, NULL));
}

static gboolean lists(GPtrArray *dirs, const char *suffix)
{
    for (guint i = 0; i < dirs->len; i++)
        if (g_str_has_suffix(g_ptr_array_index(dirs, i), suffix))
            return TRUE;
    return FALSE;
}

/* The one ComfyUI place found from the root given. */
static RdPlace *comfy_place(GPtrArray *places, const char *root)
{
    g_autofree char *canon = g_canonicalize_filename(root, NULL);
    for (guint i = 0; i < places->len; i++) {
        RdPlace *p = g_ptr_array_index(places, i);
        if (p->kind == RD_PLACE_COMFYUI && g_str_equal(p->root, canon))
            return p;
    }
    g_error("no ComfyUI place at %s", root);
}

static void test_extra_model_paths(void)
{
    g_autofree char *root = make_dir(home, "yaml/ComfyUI");
    g_free(make_dir(root, "models"));
    write_file(root, "main.py", "", 0);
    g_free(make_dir(home, "yaml/disk/flux/unet"));
    g_free(make_dir(home, "yaml/disk/flux/t5"));
    g_free(make_dir(home, "yaml/disk/flux/clip"));
    g_free(make_dir(home, "yaml/absolute/vae"));
    g_free(make_dir(home, "yaml/disk/flux/loras"));
    g_autofree char *abs_vae = g_build_filename(home, "yaml", "absolute", "vae", NULL);
    g_autofree char *yaml = g_strdup_printf(
        "comfyui:\n"
        "    base_path: ../disk/flux   # relative to this file\n"
        "    unet: unet/\n"
        "    text_encoders: |\n"
        "        t5\n"
        "        \"clip\"\n"
        "    loras: loras\n"
        "    vae: %s\n"
        "\n"
        "broken: [\n"
        ":::\n"
        "    : no key\n"
        "    unet: |\n"
        "other:\n"
        "    unet: missing/folder\n",
        abs_vae);
    write_file(root, "extra_model_paths.yaml", yaml, -1);
    const char *extra[] = {root, NULL};
    g_autoptr(GPtrArray) places = rd_places_find(extra);
    RdPlace *p = comfy_place(places, root);
    for (guint i = 0; i < p->weights->len; i++)
        g_test_message("weights: %s", (char *)g_ptr_array_index(p->weights, i));
    g_assert_true(lists(p->weights, "yaml/disk/flux/unet"));
    g_assert_true(lists(p->weights, "yaml/disk/flux/t5"));
    g_assert_true(lists(p->weights, "yaml/disk/flux/clip"));
    g_assert_true(lists(p->weights, "yaml/absolute/vae"));
    g_assert_false(lists(p->weights, "loras")); /* not a kind that holds FLUX parts */
    g_assert_false(lists(p->weights, "missing/folder"));
    g_assert_true(lists(p->tokenizers, "comfy/text_encoders/t5_tokenizer"));
}

/* Damaged yaml files (binary junk, no newline at the end, a NUL, a huge line) find nothing in
 * them and crash nothing. */
static void test_damaged_yaml(void)
{
    g_autofree char *root = make_dir(home, "damaged/ComfyUI");
    g_free(make_dir(root, "models"));
    write_file(root, "main.py", "", 0);
    GString *junk = g_string_new(NULL);
    GRand *rng = g_rand_new_with_seed(7);
    for (int i = 0; i < 20000; i++)
        g_string_append_c(junk, (char)g_rand_int_range(rng, 1, 256));
    g_rand_free(rng);
    const char *texts[] = {junk->str, "a:\n  base_path: x\n  unet: |", "unet: models", ":\n:\n|\n",
                           "a:\n    unet: \"\n"};
    for (size_t i = 0; i < G_N_ELEMENTS(texts); i++) {
        write_file(root, "extra_model_paths.yaml", texts[i], -1);
        const char *extra[] = {root, NULL};
        g_autoptr(GPtrArray) places = rd_places_find(extra);
        RdPlace *p = comfy_place(places, root);
        g_assert_cmpuint(p->weights->len, ==, 0);
    }
    g_string_free(junk, TRUE);
}

/* refs/main naming a path outside the snapshots is not followed: every snapshot is listed. */
static void test_hf_refs(void)
{
    g_autofree char *hub = make_dir(home, "hub");
    g_autofree char *repo = make_dir(hub, "models--org--name");
    g_free(make_dir(repo, "snapshots/aaaa"));
    g_free(make_dir(repo, "snapshots/bbbb"));
    g_autofree char *refs = make_dir(repo, "refs");
    const char *bad_refs[] = {"../../../etc", "", "cccc", "aaaa/../bbbb"};
    for (size_t i = 0; i < G_N_ELEMENTS(bad_refs); i++) {
        write_file(refs, "main", bad_refs[i], -1);
        const char *extra[] = {hub, NULL};
        g_autoptr(GPtrArray) places = rd_places_find(extra);
        RdPlace *p = g_ptr_array_index(places, 0);
        g_assert_cmpint(p->kind, ==, RD_PLACE_HF_CACHE);
        g_assert_cmpuint(p->snapshots->len, ==, 2);
    }
    write_file(refs, "main", "bbbb\n", -1);
    const char *extra[] = {hub, NULL};
    g_autoptr(GPtrArray) places = rd_places_find(extra);
    RdPlace *p = g_ptr_array_index(places, 0);
    g_assert_cmpuint(p->snapshots->len, ==, 1);
    g_assert_true(g_str_has_suffix(g_ptr_array_index(p->snapshots, 0), "snapshots/bbbb"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    home = g_dir_make_tmp("resdit-places-XXXXXX", NULL);
    g_setenv("HOME", home, TRUE); /* never the machine's own installs */
    g_unsetenv("HF_HOME");
    g_unsetenv("HF_HUB_CACHE");
    g_test_add_func("/places/extra-model-paths", test_extra_model_paths);
    g_test_add_func("/places/damaged-yaml", test_damaged_yaml);
    g_test_add_func("/places/hf-refs", test_hf_refs);
    int rc = g_test_run();
    g_free(home);
    return rc;
}
