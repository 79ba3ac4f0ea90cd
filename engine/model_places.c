#include "model_places.h"

#include <string.h>

#include "config.h"
#include "resdit.h"
#include "tokenizer_data.h"

static gboolean is_dir(const char *path)
{
    return g_file_test(path, G_FILE_TEST_IS_DIR);
}

static gboolean has(const char *dir, const char *name)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    return g_file_test(path, G_FILE_TEST_EXISTS);
}

static RdPlace *place_new(RdPlaceKind kind, const char *root)
{
    RdPlace *p = g_new0(RdPlace, 1);
    p->kind = kind;
    p->root = g_canonicalize_filename(root, NULL);
    p->weights = g_ptr_array_new_with_free_func(g_free);
    p->snapshots = g_ptr_array_new_with_free_func(g_free);
    p->snapshot_names = g_ptr_array_new_with_free_func(g_free);
    p->tokenizers = g_ptr_array_new_with_free_func(g_free);
    p->loras = g_ptr_array_new_with_free_func(g_free);
    return p;
}

void rd_place_free(RdPlace *p)
{
    if (!p)
        return;
    g_free(p->root);
    g_ptr_array_unref(p->weights);
    g_ptr_array_unref(p->snapshots);
    g_ptr_array_unref(p->snapshot_names);
    g_ptr_array_unref(p->tokenizers);
    g_ptr_array_unref(p->loras);
    g_free(p);
}

const char *rd_place_kind_name(RdPlaceKind kind)
{
    switch (kind) {
    case RD_PLACE_FOLDER: return "folder";
    case RD_PLACE_COMFYUI: return "ComfyUI";
    case RD_PLACE_FORGE: return "Forge";
    case RD_PLACE_HF_CACHE: return "Hugging Face cache";
    case RD_PLACE_BUILT_IN: return "built in";
    }
    return "?";
}

static void add_dir(GPtrArray *list, const char *dir)
{
    if (!is_dir(dir))
        return;
    g_autofree char *canon = g_canonicalize_filename(dir, NULL);
    for (guint i = 0; i < list->len; i++)
        if (g_str_equal(g_ptr_array_index(list, i), canon))
            return;
    g_ptr_array_add(list, g_steal_pointer(&canon));
}

static void add_subdirs(GPtrArray *list, const char *root, const char *const *subdirs)
{
    for (; *subdirs; subdirs++) {
        g_autofree char *dir = g_build_filename(root, *subdirs, NULL);
        add_dir(list, dir);
    }
}

/* ---- ComfyUI ------------------------------------------------------------------------------ */

static const char *const comfy_weight_dirs[] = {
    "models/diffusion_models", "models/unet", "models/checkpoints", "models/vae",
    "models/clip", "models/text_encoders", "models/diffusers", NULL};
static const char *const comfy_tokenizer_dirs[] = {
    "comfy/text_encoders/t5_tokenizer", "comfy/t5_tokenizer", "comfy/sd1_tokenizer", NULL};
/* The extra_model_paths.yaml keys whose folders can hold FLUX parts. */
static const char *const yaml_weight_keys[] = {"checkpoints", "diffusion_models", "unet", "vae",
                                               "clip", "text_encoders", "diffusers", NULL};

static char *expand_home(const char *path)
{
    if (path[0] == '~' && (path[1] == '/' || path[1] == '\0'))
        return g_build_filename(g_get_home_dir(), path + 1, NULL);
    return g_strdup(path);
}

static char *yaml_scalar(const char *text)
{
    g_autofree char *s = g_strstrip(g_strdup(text));
    size_t n = strlen(s);
    if (n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0])
        return g_strndup(s + 1, n - 2);
    return g_steal_pointer(&s);
}

static char *yaml_path(const char *yaml_dir, const char *base, const char *value)
{
    g_autofree char *v = expand_home(value);
    if (g_path_is_absolute(v))
        return g_steal_pointer(&v);
    g_autofree char *b = base ? expand_home(base) : g_strdup(yaml_dir);
    if (!g_path_is_absolute(b)) {
        g_autofree char *rel = g_steal_pointer(&b);
        b = g_build_filename(yaml_dir, rel, NULL);
    }
    return g_build_filename(b, v, NULL);
}

/* ComfyUI's extra_model_paths.yaml: top-level sections, each with base_path and one folder (or a
 * "|" block of folders) per model kind. Only that subset of YAML, read line by line. */
static void read_extra_model_paths(const char *yaml, GPtrArray *weights, GPtrArray *loras)
{
    g_autofree char *text = NULL;
    if (!g_file_get_contents(yaml, &text, NULL, NULL))
        return;
    g_autofree char *yaml_dir = g_path_get_dirname(yaml);
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    g_autofree char *base = NULL;
    g_autoptr(GPtrArray) pending = g_ptr_array_new_with_free_func(g_free); /* section's values */
    g_autoptr(GPtrArray) pending_loras = g_ptr_array_new_with_free_func(g_free);
    gboolean in_block = FALSE, block_wanted = FALSE, block_loras = FALSE;
    int block_indent = 0;
    for (char **l = lines;; l++) {
        char *line = *l ? *l : "";
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        int indent = (int)strspn(line, " \t");
        gboolean blank = line[indent] == '\0' || line[indent] == '\r';
        if (in_block && !blank && indent > block_indent && *l) {
            if (block_wanted)
                g_ptr_array_add(block_loras ? pending_loras : pending, yaml_scalar(line));
            continue;
        }
        in_block = FALSE;
        if (blank && *l)
            continue;
        if (!*l || indent == 0) { /* a section ends: its folders are relative to its base_path */
            for (guint i = 0; i < pending->len; i++) {
                g_autofree char *dir = yaml_path(yaml_dir, base, g_ptr_array_index(pending, i));
                add_dir(weights, dir);
            }
            for (guint i = 0; i < pending_loras->len; i++) {
                g_autofree char *dir =
                    yaml_path(yaml_dir, base, g_ptr_array_index(pending_loras, i));
                add_dir(loras, dir);
            }
            g_ptr_array_set_size(pending, 0);
            g_ptr_array_set_size(pending_loras, 0);
            g_clear_pointer(&base, g_free);
            if (!*l)
                break;
            continue;
        }
        char *colon = strchr(line + indent, ':');
        if (!colon)
            continue;
        g_autofree char *key = g_strndup(line + indent, (gsize)(colon - line - indent));
        g_autofree char *value = yaml_scalar(colon + 1);
        gboolean is_loras = g_str_equal(g_strstrip(key), "loras");
        gboolean wanted = is_loras || g_strv_contains(yaml_weight_keys, key);
        if (g_str_equal(key, "base_path"))
            base = g_strdup(value);
        else if (value[0] == '|' || value[0] == '>') {
            in_block = TRUE;
            block_wanted = wanted;
            block_loras = is_loras;
            block_indent = indent;
        } else if (wanted && value[0])
            g_ptr_array_add(is_loras ? pending_loras : pending, g_strdup(value));
    }
}

static gboolean is_comfy_root(const char *dir)
{
    return has(dir, "models") && (has(dir, "comfy") || has(dir, "extra_model_paths.yaml") ||
                                  has(dir, "main.py"));
}

static RdPlace *comfy_place(const char *root)
{
    RdPlace *p = place_new(RD_PLACE_COMFYUI, root);
    add_subdirs(p->weights, p->root, comfy_weight_dirs);
    g_autofree char *yaml = g_build_filename(p->root, "extra_model_paths.yaml", NULL);
    g_autofree char *loras = g_build_filename(p->root, "models", "loras", NULL);
    add_dir(p->loras, loras);
    read_extra_model_paths(yaml, p->weights, p->loras);
    /* Listed even when absent: an error can then say where ComfyUI keeps them. */
    for (const char *const *t = comfy_tokenizer_dirs; *t; t++)
        g_ptr_array_add(p->tokenizers, g_build_filename(p->root, *t, NULL));
    return p;
}

/* ---- Forge / AUTOMATIC1111 ---------------------------------------------------------------- */

static const char *const forge_weight_dirs[] = {"models/Stable-diffusion", "models/VAE",
                                                "models/text_encoder", "models/CLIP", NULL};

static gboolean is_forge_root(const char *dir)
{
    return has(dir, "models/Stable-diffusion");
}

/* Forge ships the Hugging Face configs and tokenizers of the models it supports in
 * backend/huggingface/<org>/<repo>/. */
static void add_forge_tokenizers(RdPlace *p)
{
    g_autofree char *hf = g_build_filename(p->root, "backend", "huggingface", NULL);
    g_autoptr(GDir) orgs = g_dir_open(hf, 0, NULL);
    const char *org;
    while (orgs && (org = g_dir_read_name(orgs))) {
        g_autofree char *org_dir = g_build_filename(hf, org, NULL);
        g_autoptr(GDir) repos = g_dir_open(org_dir, 0, NULL);
        const char *repo;
        while (repos && (repo = g_dir_read_name(repos))) {
            g_autofree char *repo_dir = g_build_filename(org_dir, repo, NULL);
            static const char *const subs[] = {"tokenizer_2", "tokenizer", NULL};
            add_subdirs(p->tokenizers, repo_dir, subs);
        }
    }
}

static RdPlace *forge_place(const char *root)
{
    RdPlace *p = place_new(RD_PLACE_FORGE, root);
    add_subdirs(p->weights, p->root, forge_weight_dirs);
    static const char *const lora_dirs[] = {"models/Lora", "models/LoRA", "models/loras", NULL};
    add_subdirs(p->loras, p->root, lora_dirs);
    add_forge_tokenizers(p);
    return p;
}

/* ---- Hugging Face cache ------------------------------------------------------------------- */

/* models--black-forest-labs--FLUX.1-dev -> "black-forest-labs/FLUX.1-dev" */
static char *repo_name(const char *entry)
{
    g_auto(GStrv) parts = g_strsplit(entry + strlen("models--"), "--", 2);
    return parts[0] && parts[1] ? g_strdup_printf("%s/%s", parts[0], parts[1]) : g_strdup(entry);
}

/* The snapshot refs/main names, when it exists; else every snapshot. */
static void add_snapshots(RdPlace *p, const char *repo_dir, const char *repo)
{
    g_autofree char *snapshots = g_build_filename(repo_dir, "snapshots", NULL);
    g_autofree char *ref_file = g_build_filename(repo_dir, "refs", "main", NULL);
    g_autofree char *ref = NULL;
    if (g_file_get_contents(ref_file, &ref, NULL, NULL)) {
        g_strstrip(ref);
        g_autofree char *snap = g_build_filename(snapshots, ref, NULL);
        if (ref[0] && !strchr(ref, '/') && is_dir(snap)) {
            g_ptr_array_add(p->snapshots, g_steal_pointer(&snap));
            g_ptr_array_add(p->snapshot_names, g_strdup_printf("%s (Hugging Face cache, %.8s)",
                                                                repo, ref));
            return;
        }
    }
    g_autoptr(GDir) d = g_dir_open(snapshots, 0, NULL);
    const char *hash;
    while (d && (hash = g_dir_read_name(d))) {
        g_ptr_array_add(p->snapshots, g_build_filename(snapshots, hash, NULL));
        g_ptr_array_add(p->snapshot_names,
                        g_strdup_printf("%s (Hugging Face cache, %.8s)", repo, hash));
    }
}

static RdPlace *hf_place(const char *hub)
{
    RdPlace *p = place_new(RD_PLACE_HF_CACHE, hub);
    g_autoptr(GDir) d = g_dir_open(p->root, 0, NULL);
    const char *entry;
    while (d && (entry = g_dir_read_name(d))) {
        if (!g_str_has_prefix(entry, "models--"))
            continue;
        g_autofree char *repo = repo_name(entry);
        g_autofree char *repo_dir = g_build_filename(p->root, entry, NULL);
        guint first = p->snapshots->len;
        add_snapshots(p, repo_dir, repo);
        for (guint i = first; i < p->snapshots->len; i++) {
            const char *snap = g_ptr_array_index(p->snapshots, i);
            static const char *const subs[] = {"tokenizer_2", "tokenizer", NULL};
            add_subdirs(p->tokenizers, snap, subs);
            g_autofree char *lower = g_ascii_strdown(repo, -1);
            if (strstr(lower, "t5")) /* google/t5-v1_1-xxl and the like: the tokenizer at top */
                add_dir(p->tokenizers, snap);
        }
    }
    return p;
}

static gboolean is_hf_hub(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *entry;
    while (d && (entry = g_dir_read_name(d)))
        if (g_str_has_prefix(entry, "models--"))
            return TRUE;
    return FALSE;
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

/* ---- the list ----------------------------------------------------------------------------- */

static gboolean listed(GPtrArray *places, RdPlaceKind kind, const char *root)
{
    g_autofree char *canon = g_canonicalize_filename(root, NULL);
    for (guint i = 0; i < places->len; i++) {
        const RdPlace *p = g_ptr_array_index(places, i);
        if (p->kind == kind && g_str_equal(p->root, canon))
            return TRUE;
    }
    return FALSE;
}

static void add_place(GPtrArray *places, RdPlace *p)
{
    if (listed(places, p->kind, p->root))
        rd_place_free(p);
    else
        g_ptr_array_add(places, p);
}

/* A folder the user named: an install, a cache, a ComfyUI models/ folder, or files. */
static void add_user_dir(GPtrArray *places, const char *dir)
{
    if (!is_dir(dir))
        return;
    g_autofree char *hub = g_build_filename(dir, "hub", NULL);
    g_autofree char *parent = g_path_get_dirname(dir);
    if (is_comfy_root(dir))
        add_place(places, comfy_place(dir));
    else if (is_forge_root(dir))
        add_place(places, forge_place(dir));
    else if (is_hf_hub(dir))
        add_place(places, hf_place(dir));
    else if (is_hf_hub(hub))
        add_place(places, hf_place(hub));
    else if (g_str_has_suffix(dir, "/models") && is_comfy_root(parent))
        add_place(places, comfy_place(parent));
    else {
        RdPlace *p = place_new(RD_PLACE_FOLDER, dir);
        add_dir(p->weights, p->root);
        static const char *const subs[] = {"diffusion_models", "unet", "checkpoints", "vae",
                                           "clip", "text_encoders", NULL};
        add_subdirs(p->weights, p->root, subs); /* a ComfyUI-style models/ folder */
        static const char *const lora_subs[] = {"loras", "Lora", NULL};
        add_dir(p->loras, p->root);
        add_subdirs(p->loras, p->root, lora_subs);
        add_place(places, p);
    }
}

GPtrArray *rd_places_find(const char *const *extra_dirs)
{
    GPtrArray *places = g_ptr_array_new_with_free_func((GDestroyNotify)rd_place_free);
    for (; extra_dirs && *extra_dirs; extra_dirs++)
        add_user_dir(places, *extra_dirs);
    const char *home = g_get_home_dir();
    static const char *const comfy_roots[] = {"ComfyUI", "comfy/ComfyUI", "comfyui", NULL};
    static const char *const forge_roots[] = {"stable-diffusion-webui-forge",
                                              "stable-diffusion-webui", "forge", NULL};
    for (const char *const *r = comfy_roots; *r; r++) {
        g_autofree char *root = g_build_filename(home, *r, NULL);
        if (is_comfy_root(root))
            add_place(places, comfy_place(root));
    }
    for (const char *const *r = forge_roots; *r; r++) {
        g_autofree char *root = g_build_filename(home, *r, NULL);
        if (is_forge_root(root))
            add_place(places, forge_place(root));
    }
    g_autofree char *hub = hf_hub_dir();
    if (is_dir(hub))
        add_place(places, hf_place(hub));
    g_autofree char *built_in = resdit_bundled_models_dir();
    if (is_dir(built_in)) {
        RdPlace *p = place_new(RD_PLACE_BUILT_IN, built_in);
        add_dir(p->weights, p->root);
        add_place(places, p);
    }
    return places;
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

/* ---- tokenizers --------------------------------------------------------------------------- */

static char *t5_in(const char *dir)
{
    static const char *const names[] = {"tokenizer.json", "spiece.model", NULL};
    return rd_tokenizer_find_file(dir, names);
}

static char *clip_in(const char *dir)
{
    return has(dir, "vocab.json") && has(dir, "merges.txt") ? g_strdup(dir) : NULL;
}

/* A T5 tokenizer.json and a CLIP vocab.json look alike by name only in folders of the other
 * kind's name; ComfyUI's sd1_tokenizer holds CLIP's and t5_tokenizer T5's. */
static char *search(GPtrArray *places, GPtrArray *searched, char *(*probe)(const char *),
                    const char *data_sub)
{
    for (guint i = 0; places && i < places->len; i++) {
        const RdPlace *p = g_ptr_array_index(places, i);
        for (guint j = 0; j < p->tokenizers->len; j++) {
            const char *dir = g_ptr_array_index(p->tokenizers, j);
            if (searched)
                g_ptr_array_add(searched, g_strdup(dir));
            char *found = probe(dir);
            if (found)
                return found;
        }
    }
    if (!data_sub)
        return NULL;
    g_autofree char *data = rd_tokenizer_data_dir();
    g_autofree char *dir = g_build_filename(data, data_sub, NULL);
    if (searched)
        g_ptr_array_add(searched, g_strdup(dir));
    return probe(dir);
}

static char *t5_probe(const char *dir)
{
    g_autofree char *base = g_path_get_basename(dir);
    return g_str_equal(base, "sd1_tokenizer") || g_str_equal(base, "tokenizer") ? NULL : t5_in(dir);
}

static char *clip_probe(const char *dir)
{
    g_autofree char *base = g_path_get_basename(dir);
    return strstr(base, "t5") || g_str_equal(base, "tokenizer_2") ? NULL : clip_in(dir);
}

char *rd_places_find_t5_tokenizer(GPtrArray *places, GPtrArray *searched)
{
    return search(places, searched, t5_probe, "t5");
}

char *rd_places_find_clip_tokenizer(GPtrArray *places, GPtrArray *searched)
{
    return search(places, searched, clip_probe, NULL); /* NULL: the bundled vocabulary */
}
