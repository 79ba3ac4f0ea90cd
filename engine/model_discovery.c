/* Finding models on disk: diffusers folders (model_index.json), the Hugging Face cache
 * (models--ORG--NAME/snapshots/HASH), ComfyUI's models/ folders, then the models that come with
 * the app (data/models), in that order of preference. */
#include <string.h>

#include "config.h"
#include "resdit.h"

static gboolean is_dir(const char *path)
{
    return g_file_test(path, G_FILE_TEST_IS_DIR);
}

static gboolean is_file(const char *path)
{
    return g_file_test(path, G_FILE_TEST_IS_REGULAR);
}

/* A diffusers component folder holds a .safetensors file or a sharded index. */
static gboolean component_present(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d)))
        if (g_str_has_suffix(name, ".safetensors") ||
            g_str_has_suffix(name, ".safetensors.index.json"))
            return TRUE;
    return FALSE;
}

static char *component(const char *root, const char *sub)
{
    g_autofree char *dir = g_build_filename(root, sub, NULL);
    return component_present(dir) ? g_steal_pointer(&dir) : NULL;
}

/* The first existing file of root/names[i]. */
static char *first_file(const char *root, const char *const *names)
{
    for (; *names; names++) {
        g_autofree char *path = g_build_filename(root, *names, NULL);
        if (is_file(path))
            return g_steal_pointer(&path);
    }
    return NULL;
}

/* A diffusers root; BFL single files next to it (the BFL repositories ship both) fill gaps. */
static ResditModelPaths *from_diffusers_root(const char *root, const char *name)
{
    g_autofree char *index = g_build_filename(root, "model_index.json", NULL);
    static const char *const bfl_transformers[] = {"flux1-dev.safetensors",
                                                   "flux1-schnell.safetensors", NULL};
    static const char *const bfl_vae[] = {"ae.safetensors", NULL};
    g_autofree char *single = first_file(root, bfl_transformers);
    if (!is_file(index) && !single)
        return NULL;
    ResditModelPaths *p = g_new0(ResditModelPaths, 1);
    p->name = g_strdup(name);
    p->root = g_strdup(root);
    p->transformer = component(root, "transformer");
    if (!p->transformer)
        p->transformer = g_steal_pointer(&single);
    p->vae = component(root, "vae");
    if (!p->vae)
        p->vae = first_file(root, bfl_vae);
    p->clip_l = component(root, "text_encoder");
    p->t5 = component(root, "text_encoder_2");
    return p;
}

/* models--black-forest-labs--FLUX.1-dev -> "black-forest-labs/FLUX.1-dev" */
static char *repo_name(const char *cache_entry)
{
    g_auto(GStrv) parts = g_strsplit(cache_entry + strlen("models--"), "--", 2);
    return parts[0] && parts[1] ? g_strdup_printf("%s/%s", parts[0], parts[1])
                                : g_strdup(cache_entry);
}

static void scan_hf_cache(const char *hub, GPtrArray *out)
{
    g_autoptr(GDir) d = g_dir_open(hub, 0, NULL);
    const char *entry;
    while (d && (entry = g_dir_read_name(d))) {
        if (!g_str_has_prefix(entry, "models--") || !strstr(entry, "FLUX"))
            continue;
        g_autofree char *snapshots = g_build_filename(hub, entry, "snapshots", NULL);
        g_autoptr(GDir) s = g_dir_open(snapshots, 0, NULL);
        const char *hash;
        g_autofree char *repo = repo_name(entry);
        while (s && (hash = g_dir_read_name(s))) {
            g_autofree char *root = g_build_filename(snapshots, hash, NULL);
            g_autofree char *name = g_strdup_printf("%s (Hugging Face cache, %.8s)", repo, hash);
            ResditModelPaths *p = from_diffusers_root(root, name);
            if (p)
                g_ptr_array_add(out, p);
        }
    }
}

/* The first file in dir whose name contains one of the needles (in order of preference). */
static char *pick(const char *dir, const char *const *needles)
{
    for (; *needles; needles++) {
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        const char *name;
        while (d && (name = g_dir_read_name(d))) {
            g_autofree char *lower = g_ascii_strdown(name, -1);
            if (g_str_has_suffix(lower, ".safetensors") && strstr(lower, *needles))
                return g_build_filename(dir, name, NULL);
        }
    }
    return NULL;
}

static char *pick_in(const char *models, const char *const *subdirs, const char *const *needles)
{
    for (; *subdirs; subdirs++) {
        g_autofree char *dir = g_build_filename(models, *subdirs, NULL);
        char *found = pick(dir, needles);
        if (found)
            return found;
    }
    return NULL;
}

/* ComfyUI: every FLUX transformer in models/unet or models/diffusion_models is a model, with
 * the VAE and text encoders picked from the shared folders. */
static void scan_comfyui_models(const char *models, GPtrArray *out)
{
    static const char *const unet_dirs[] = {"diffusion_models", "unet", NULL};
    static const char *const vae_dirs[] = {"vae", NULL};
    static const char *const text_dirs[] = {"text_encoders", "clip", NULL};
    static const char *const vae_names[] = {"ae.safetensors", "flux", "ae", NULL};
    static const char *const clip_names[] = {"clip_l", "clip-l", NULL};
    static const char *const t5_names[] = {"t5xxl_fp16", "t5xxl", "t5", NULL};
    for (const char *const *sub = unet_dirs; *sub; sub++) {
        g_autofree char *dir = g_build_filename(models, *sub, NULL);
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        const char *name;
        while (d && (name = g_dir_read_name(d))) {
            g_autofree char *lower = g_ascii_strdown(name, -1);
            if (!g_str_has_suffix(lower, ".safetensors") || !strstr(lower, "flux"))
                continue;
            ResditModelPaths *p = g_new0(ResditModelPaths, 1);
            p->name = g_strdup_printf("%s (ComfyUI)", name);
            p->root = g_strdup(models);
            p->transformer = g_build_filename(dir, name, NULL);
            p->vae = pick_in(models, vae_dirs, vae_names);
            p->clip_l = pick_in(models, text_dirs, clip_names);
            p->t5 = pick_in(models, text_dirs, t5_names);
            g_ptr_array_add(out, p);
        }
    }
}

static void scan_dir(const char *dir, GPtrArray *out)
{
    g_autofree char *base = g_path_get_basename(dir);
    ResditModelPaths *p = from_diffusers_root(dir, base);
    if (p) {
        g_ptr_array_add(out, p);
        return;
    }
    g_autofree char *models = g_build_filename(dir, "models", NULL);
    g_autofree char *snapshots_hint = g_build_filename(dir, "hub", NULL);
    if (is_dir(models))
        scan_comfyui_models(models, out);
    else
        scan_comfyui_models(dir, out);
    scan_hf_cache(dir, out);
    if (is_dir(snapshots_hint))
        scan_hf_cache(snapshots_hint, out);
}

static char *hf_hub_dir(void)
{
    const char *cache = g_getenv("HF_HUB_CACHE");
    if (cache && *cache)
        return g_strdup(cache);
    const char *home = g_getenv("HF_HOME");
    if (home && *home)
        return g_build_filename(home, "hub", NULL);
    return g_build_filename(g_get_home_dir(), ".cache", "huggingface", "hub", NULL);
}

static gboolean already_listed(GPtrArray *out, const ResditModelPaths *p)
{
    for (guint i = 0; i < out->len - 1; i++) {
        const ResditModelPaths *q = g_ptr_array_index(out, i);
        if (g_strcmp0(q->transformer, p->transformer) == 0 && g_strcmp0(q->root, p->root) == 0)
            return TRUE;
    }
    return FALSE;
}

char *resdit_bundled_models_dir(void)
{
    const char *env = g_getenv("RESDIT_DATA_DIR");
    if (env && *env)
        return g_build_filename(env, "models", NULL);
    if (g_file_test(SOURCE_DATADIR "/models", G_FILE_TEST_IS_DIR))
        return g_strdup(SOURCE_DATADIR "/models");
    return g_strdup(PKGDATADIR "/models");
}

static gint compare_names(gconstpointer a, gconstpointer b)
{
    return g_strcmp0(*(char *const *)a, *(char *const *)b);
}

/* The models that come with the app (data/models: the demo model), after every other model so
 * that a real FLUX model, when there is one, is the first complete one. */
static void scan_bundled(GPtrArray *out)
{
    g_autofree char *dir = resdit_bundled_models_dir();
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const char *name;
    while (d && (name = g_dir_read_name(d)))
        g_ptr_array_add(names, g_strdup(name));
    g_ptr_array_sort(names, compare_names);
    for (guint i = 0; i < names->len; i++) {
        const char *entry = g_ptr_array_index(names, i);
        g_autofree char *root = g_build_filename(dir, entry, NULL);
        g_autofree char *label = g_strdup_printf("%s (built in)", entry);
        ResditModelPaths *p = from_diffusers_root(root, label);
        if (p)
            g_ptr_array_add(out, p);
    }
}

GPtrArray *resdit_models_discover(const char *const *extra_dirs)
{
    GPtrArray *found = g_ptr_array_new_with_free_func((GDestroyNotify)resdit_model_paths_free);
    for (; extra_dirs && *extra_dirs; extra_dirs++)
        scan_dir(*extra_dirs, found);
    g_autofree char *hub = hf_hub_dir();
    scan_hf_cache(hub, found);
    g_autofree char *comfy = g_build_filename(g_get_home_dir(), "ComfyUI", "models", NULL);
    scan_comfyui_models(comfy, found);
    scan_bundled(found);
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)resdit_model_paths_free);
    for (guint i = 0; i < found->len; i++) {
        ResditModelPaths *p = resdit_model_paths_copy(g_ptr_array_index(found, i));
        g_ptr_array_add(out, p);
        if (already_listed(out, p))
            g_ptr_array_remove_index(out, out->len - 1);
    }
    g_ptr_array_unref(found);
    return out;
}
