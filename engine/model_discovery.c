/* Finding models on disk. Every weights file in the places people keep them (model_places.c) is
 * identified by its tensors (model_parts.c), never by its name; each FLUX or SD3 transformer
 * becomes a model, completed with the VAE and text encoders whose dimensions fit it, from its own
 * file (all-in-one checkpoints), its own place, then any other place (SD3's VAE only from its own
 * checkpoint or folder); each T5 gets a tokenizer from beside it, its place, then anywhere. Diffusers folders (and Hugging Face snapshots of them)
 * are models as they stand. */
#include <json-glib/json-glib.h>
#include <string.h>

#include "json_load.h"
#include "model_parts.h"
#include "model_places.h"
#include "resdit.h"
#include "text_paths.h"

typedef struct {
    char *path;
    RdPartInfo info;
    const RdPlace *place;
    char *label; /* where it is, for the model's name: "ComfyUI", "Hugging Face cache, ORG/NAME" */
} Candidate;

static void candidate_free(Candidate *c)
{
    g_free(c->path);
    g_free(c->label);
    g_free(c);
}

static gboolean is_dir(const char *path)
{
    return g_file_test(path, G_FILE_TEST_IS_DIR);
}

static gboolean has(const char *dir, const char *name)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    return g_file_test(path, G_FILE_TEST_EXISTS);
}

static gint compare_strings(gconstpointer a, gconstpointer b)
{
    return g_strcmp0(*(char *const *)a, *(char *const *)b);
}

/* The entries of dir, sorted, so that listings do not depend on the file system's order. */
static GPtrArray *sorted_entries(const char *dir)
{
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d)))
        if (name[0] != '.')
            g_ptr_array_add(names, g_strdup(name));
    g_ptr_array_sort(names, compare_strings);
    return names;
}

/* ---- diffusers folders ------------------------------------------------------------------- */

/* The folder root/sub when it holds kind; *info (may be NULL) gets what it is. */
static char *component_info(const char *root, const char *sub, RdPartKind kind, RdPartInfo *info)
{
    g_autofree char *dir = g_build_filename(root, sub, NULL);
    RdPartInfo own;
    RdPartInfo *i = info ? info : &own;
    return is_dir(dir) && rd_part_identify(dir, i) && (i->parts & kind) ? g_steal_pointer(&dir)
                                                                         : NULL;
}

static char *component(const char *root, const char *sub, RdPartKind kind)
{
    return component_info(root, sub, kind, NULL);
}

/* A file at the root that holds kind (BFL's repositories ship flux1-dev.safetensors and
 * ae.safetensors beside the diffusers folders). */
static char *root_file(const char *root, RdPartKind kind, RdPartInfo *info)
{
    g_autoptr(GPtrArray) names = sorted_entries(root);
    RdPartInfo own;
    RdPartInfo *i_info = info ? info : &own;
    for (guint i = 0; i < names->len; i++) {
        const char *name = g_ptr_array_index(names, i);
        g_autofree char *path = g_build_filename(root, name, NULL);
        if (g_str_has_suffix(name, ".safetensors") && rd_part_identify(path, i_info) &&
            (i_info->parts & kind))
            return g_steal_pointer(&path);
    }
    return NULL;
}

/* The family model_index.json names ("FluxPipeline", "StableDiffusion3Pipeline"): a model even
 * while a part is still downloading. */
static gboolean index_family(const char *root, RdFamily *family)
{
    g_autofree char *path = g_build_filename(root, "model_index.json", NULL);
    g_autoptr(JsonParser) parser = json_parser_new();
    if (!rd_json_load_file(parser, path, NULL))
        return FALSE;
    JsonNode *node = json_parser_get_root(parser);
    const char *cls = node && JSON_NODE_HOLDS_OBJECT(node)
                          ? rd_json_get_string(json_node_get_object(node), "_class_name")
                          : NULL;
    if (cls && strstr(cls, "Flux"))
        *family = RD_FAMILY_FLUX;
    else if (cls && strstr(cls, "StableDiffusion3"))
        *family = RD_FAMILY_SD3;
    else
        return FALSE;
    return TRUE;
}

static ResditModelFamily family_of(RdFamily family)
{
    return family == RD_FAMILY_SD3 ? RESDIT_FAMILY_SD3 : RESDIT_FAMILY_FLUX;
}

/* A diffusers root is a model when its index says so or its transformer is one. FLUX keeps CLIP-L
 * in text_encoder/ and T5 in text_encoder_2/; SD3 CLIP-L, CLIP-G and T5 in text_encoder/,
 * text_encoder_2/ and text_encoder_3/. */
static ResditModelPaths *from_diffusers_root(const char *root, const char *name)
{
    RdPartInfo info;
    g_autofree char *transformer =
        component_info(root, "transformer", RD_PART_TRANSFORMER, &info);
    if (!transformer)
        transformer = root_file(root, RD_PART_TRANSFORMER, &info);
    RdFamily family = RD_FAMILY_FLUX;
    if (transformer)
        family = info.family;
    else if (!index_family(root, &family))
        return NULL;
    ResditModelPaths *p = g_new0(ResditModelPaths, 1);
    p->name = g_strdup(name);
    p->root = g_strdup(root);
    p->family = family_of(family);
    p->transformer = g_steal_pointer(&transformer);
    p->vae = component(root, "vae", RD_PART_VAE);
    if (!p->vae)
        p->vae = root_file(root, RD_PART_VAE, NULL);
    p->clip_l = component(root, "text_encoder", RD_PART_CLIP);
    if (family == RD_FAMILY_SD3) {
        p->clip_g = component(root, "text_encoder_2", RD_PART_CLIP);
        p->t5 = component(root, "text_encoder_3", RD_PART_T5);
    } else {
        p->t5 = component(root, "text_encoder_2", RD_PART_T5);
    }
    return p;
}

/* ---- candidates --------------------------------------------------------------------------- */

/* Shards of a checkpoint whose index sits beside them are read through the index. */
static gboolean is_indexed_shard(const char *dir, const char *name)
{
    if (!strstr(name, "-of-"))
        return FALSE;
    g_autoptr(GPtrArray) names = sorted_entries(dir);
    for (guint i = 0; i < names->len; i++)
        if (g_str_has_suffix(g_ptr_array_index(names, i), ".safetensors.index.json"))
            return TRUE;
    return FALSE;
}

static void add_candidate(GPtrArray *out, const char *path, const RdPlace *place,
                          const char *label)
{
    for (guint i = 0; i < out->len; i++)
        if (g_str_equal(((Candidate *)g_ptr_array_index(out, i))->path, path))
            return; /* reached again through a nested weights folder */
    Candidate *c = g_new0(Candidate, 1);
    if (!rd_part_identify(path, &c->info) || !c->info.parts) {
        g_free(c);
        return;
    }
    c->path = g_strdup(path);
    c->place = place;
    c->label = g_strdup(label);
    g_ptr_array_add(out, c);
}

/* Weights files in dir and, to `depth` levels, its subfolders (people sort their files into
 * folders); diffusers folders met on the way go to roots. */
static void collect(const char *dir, int depth, const RdPlace *place, const char *label,
                    GPtrArray *files, GPtrArray *roots)
{
    g_autoptr(GPtrArray) names = sorted_entries(dir);
    for (guint i = 0; i < names->len; i++) {
        const char *name = g_ptr_array_index(names, i);
        g_autofree char *path = g_build_filename(dir, name, NULL);
        if (is_dir(path)) {
            if (has(path, "model_index.json"))
                g_ptr_array_add(roots, g_steal_pointer(&path));
            else if (depth > 0)
                collect(path, depth - 1, place, label, files, roots);
        } else if ((g_str_has_suffix(name, ".safetensors") && !is_indexed_shard(dir, name)) ||
                   g_str_has_suffix(name, ".safetensors.index.json")) {
            add_candidate(files, path, place, label);
        }
    }
}

/* ---- assembling --------------------------------------------------------------------------- */

/* Parts are not borrowed from another family's checkpoint (SD3's VAE and CLIP-L have FLUX's
 * shapes but not its weights). */
static gboolean may_lend(const Candidate *c, const Candidate *t)
{
    return !(c->info.parts & RD_PART_TRANSFORMER) || c->info.family == t->info.family;
}

static const Candidate *fitting(GPtrArray *files, const Candidate *t, RdPartKind kind,
                                const RdPlace *only)
{
    for (guint i = 0; i < files->len; i++) {
        const Candidate *c = g_ptr_array_index(files, i);
        if ((!only || c->place == only) && may_lend(c, t) &&
            rd_part_fits(&t->info, kind, &c->info))
            return c;
    }
    return NULL;
}

/* A lone CLIP of exactly `hidden` width, in `only` or anywhere. */
static const Candidate *lone_clip(GPtrArray *files, const Candidate *t, int hidden,
                                  const RdPlace *only)
{
    for (guint i = 0; i < files->len; i++) {
        const Candidate *c = g_ptr_array_index(files, i);
        if ((!only || c->place == only) && may_lend(c, t) && (c->info.parts & RD_PART_CLIP) &&
            !c->info.clip_g_hidden && c->info.clip_hidden == hidden)
            return c;
    }
    return NULL;
}

/* SD3's CLIP-L and CLIP-G: both from the transformer's own file, else two lone CLIPs whose
 * widths add up to the pooled width (the narrower is CLIP-L), from its place first. */
static void complete_clip_pair(GPtrArray *files, const Candidate *t, ResditModelPaths *p)
{
    if (rd_part_has_clip_pair(&t->info, &t->info)) {
        p->clip_l = g_strdup(t->path);
        p->clip_g = g_strdup(t->path);
        return;
    }
    const RdPlace *where[2] = {t->place, NULL};
    for (int w = 0; w < 2 && !p->clip_l; w++)
        for (guint i = 0; i < files->len; i++) {
            const Candidate *l = g_ptr_array_index(files, i);
            int width = l->info.clip_hidden;
            if (!(l->info.parts & RD_PART_CLIP) || l->info.clip_g_hidden || !may_lend(l, t) ||
                (where[w] && l->place != where[w]) || 2 * width >= t->info.vec_dim)
                continue;
            const Candidate *g = lone_clip(files, t, t->info.vec_dim - width, where[w]);
            if (g) {
                p->clip_l = g_strdup(l->path);
                p->clip_g = g_strdup(g->path);
                break;
            }
        }
}

/* The part from the transformer's own file, its own place, else any place. */
static char *complete_part(GPtrArray *files, const Candidate *t, RdPartKind kind)
{
    if (rd_part_fits(&t->info, kind, &t->info))
        return g_strdup(t->path);
    const Candidate *c = fitting(files, t, kind, t->place);
    if (!c)
        c = fitting(files, t, kind, NULL);
    return c ? g_strdup(c->path) : NULL;
}

static GPtrArray *one_place(const RdPlace *place)
{
    GPtrArray *list = g_ptr_array_new();
    g_ptr_array_add(list, (gpointer)place);
    return list;
}

/* Tokenizers: beside the weights (diffusers layout, or files next to a single file), else the
 * place's own copy, else (T5) any place's; CLIP falls back to the bundled vocabulary. */
static void find_tokenizers(ResditModelPaths *p, const RdPlace *place, GPtrArray *places)
{
    RdTextPaths tp;
    /* SD3's diffusers layout keeps T5 in text_encoder_3/ with tokenizer_3/ */
    const gboolean sd3 = p->family == RESDIT_FAMILY_SD3;
    if (p->t5 &&
        rd_text_paths_resolve_in(p->t5, RD_TEXT_T5, sd3 ? "text_encoder_3" : "text_encoder_2",
                                 sd3 ? "tokenizer_3" : "tokenizer_2", &tp, NULL)) {
        p->t5_tokenizer = g_steal_pointer(&tp.tokenizer);
        rd_text_paths_clear(&tp);
    }
    g_autoptr(GPtrArray) searched = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) own = place ? one_place(place) : NULL;
    if (p->t5 && !p->t5_tokenizer && own)
        p->t5_tokenizer = rd_places_find_t5_tokenizer(own, NULL);
    if (p->t5 && !p->t5_tokenizer)
        p->t5_tokenizer = rd_places_find_t5_tokenizer(places, searched);
    if (p->clip_l && rd_text_paths_resolve(p->clip_l, RD_TEXT_CLIP, &tp, NULL)) {
        p->clip_tokenizer = g_steal_pointer(&tp.tokenizer);
        rd_text_paths_clear(&tp);
    }
    if (p->clip_l && !p->clip_tokenizer && own)
        p->clip_tokenizer = rd_places_find_clip_tokenizer(own, NULL);
    if (p->t5 && !p->t5_tokenizer) {
        g_ptr_array_add(searched, NULL);
        p->t5_tokenizer_searched = g_strdupv((char **)searched->pdata);
    }
}

/* Every folder looked in, for a model that lacks a part. */
static char **searched_places(GPtrArray *places)
{
    GPtrArray *dirs = g_ptr_array_new();
    for (guint i = 0; i < places->len; i++) {
        const RdPlace *pl = g_ptr_array_index(places, i);
        for (guint j = 0; j < pl->weights->len; j++)
            g_ptr_array_add(dirs, g_strdup(g_ptr_array_index(pl->weights, j)));
        for (guint j = 0; j < pl->snapshots->len; j++)
            g_ptr_array_add(dirs, g_strdup(g_ptr_array_index(pl->snapshots, j)));
    }
    g_ptr_array_add(dirs, NULL);
    return (char **)g_ptr_array_free(dirs, FALSE);
}

static ResditModelPaths *from_transformer(GPtrArray *files, const Candidate *t, GPtrArray *places)
{
    ResditModelPaths *p = g_new0(ResditModelPaths, 1);
    g_autofree char *base = g_path_get_basename(t->path);
    p->name = g_strdup_printf("%s (%s)", base, t->label);
    p->root = g_strdup(t->place->root);
    p->transformer = g_strdup(t->path);
    p->t5 = complete_part(files, t, RD_PART_T5);
    if (t->info.family == RD_FAMILY_SD3) {
        /* FLUX's and SD3's VAEs have the same shapes: only the checkpoint's own is SD3's */
        p->family = RESDIT_FAMILY_SD3;
        if (rd_part_fits(&t->info, RD_PART_VAE, &t->info))
            p->vae = g_strdup(t->path);
        complete_clip_pair(files, t, p);
        return p;
    }
    p->vae = complete_part(files, t, RD_PART_VAE);
    p->clip_l = complete_part(files, t, RD_PART_CLIP);
    return p;
}

static void finish(ResditModelPaths *p, const RdPlace *place, GPtrArray *places)
{
    find_tokenizers(p, place, places);
    gboolean sd3 = p->family == RESDIT_FAMILY_SD3;
    if (!p->transformer || !p->vae || !p->clip_l || (sd3 ? !p->clip_g : !p->t5))
        p->searched = searched_places(places);
}

static gboolean already_listed(GPtrArray *out, const ResditModelPaths *p)
{
    for (guint i = 0; i < out->len; i++) {
        const ResditModelPaths *q = g_ptr_array_index(out, i);
        if (g_strcmp0(q->transformer, p->transformer) == 0 && g_strcmp0(q->root, p->root) == 0)
            return TRUE;
    }
    return FALSE;
}

static void add_model(GPtrArray *out, ResditModelPaths *p, const RdPlace *place,
                      GPtrArray *places)
{
    if (!p)
        return;
    if (already_listed(out, p)) {
        resdit_model_paths_free(p);
        return;
    }
    finish(p, place, places);
    g_ptr_array_add(out, p);
}

static char *root_name(const RdPlace *place, const char *root)
{
    g_autofree char *base = g_path_get_basename(root);
    if (place->kind == RD_PLACE_FOLDER && g_str_equal(place->root, root))
        return g_steal_pointer(&base);
    return g_strdup_printf("%s (%s)", base, rd_place_kind_name(place->kind));
}

/* .../models--ORG--NAME/snapshots/HASH -> "Hugging Face cache, ORG/NAME" */
static char *snapshot_label(const char *snap)
{
    g_autofree char *snapshots = g_path_get_dirname(snap);
    g_autofree char *repo_dir = g_path_get_dirname(snapshots);
    g_autofree char *entry = g_path_get_basename(repo_dir);
    g_auto(GStrv) parts = g_strsplit(entry + strlen("models--"), "--", 2);
    return g_strdup_printf("Hugging Face cache, %s/%s", parts[0] ? parts[0] : "",
                           parts[0] && parts[1] ? parts[1] : "");
}

/* The diffusers folders of a place become models now; its single files join the candidates. */
static void scan_place(const RdPlace *pl, GPtrArray *places, GPtrArray *files, GPtrArray *out)
{
    g_autoptr(GPtrArray) roots = g_ptr_array_new_with_free_func(g_free);
    if (pl->kind == RD_PLACE_FOLDER && has(pl->root, "model_index.json"))
        g_ptr_array_add(roots, g_strdup(pl->root));
    else
        for (guint j = 0; j < pl->weights->len; j++)
            collect(g_ptr_array_index(pl->weights, j), 2, pl, rd_place_kind_name(pl->kind), files,
                    roots);
    for (guint j = 0; j < roots->len; j++) {
        g_autofree char *name = root_name(pl, g_ptr_array_index(roots, j));
        add_model(out, from_diffusers_root(g_ptr_array_index(roots, j), name), pl, places);
    }
    for (guint j = 0; j < pl->snapshots->len; j++) {
        const char *snap = g_ptr_array_index(pl->snapshots, j);
        const char *name = g_ptr_array_index(pl->snapshot_names, j);
        if (has(snap, "model_index.json")) {
            add_model(out, from_diffusers_root(snap, name), pl, places);
        } else { /* a repository of single files (ComfyUI's, text encoders) */
            g_autofree char *where = snapshot_label(snap);
            g_autoptr(GPtrArray) nested = g_ptr_array_new_with_free_func(g_free);
            collect(snap, 2, pl, where, files, nested);
        }
    }
}

/* The user's models first (diffusers folders, then single files put together), the models that
 * come with the app last: a real FLUX model, when there is one, is the first complete one. */
GPtrArray *resdit_models_discover(const char *const *extra_dirs)
{
    g_autoptr(GPtrArray) places = rd_places_find(extra_dirs);
    g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func((GDestroyNotify)candidate_free);
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)resdit_model_paths_free);
    for (guint i = 0; i < places->len; i++) {
        const RdPlace *pl = g_ptr_array_index(places, i);
        if (pl->kind != RD_PLACE_BUILT_IN)
            scan_place(pl, places, files, out);
    }
    for (guint i = 0; i < files->len; i++) {
        const Candidate *c = g_ptr_array_index(files, i);
        if (c->info.parts & RD_PART_TRANSFORMER)
            add_model(out, from_transformer(files, c, places), c->place, places);
    }
    /* The app ships diffusers folders only: nothing to put together from its files. */
    g_autoptr(GPtrArray) built_in_files =
        g_ptr_array_new_with_free_func((GDestroyNotify)candidate_free);
    for (guint i = 0; i < places->len; i++) {
        const RdPlace *pl = g_ptr_array_index(places, i);
        if (pl->kind == RD_PLACE_BUILT_IN)
            scan_place(pl, places, built_in_files, out);
    }
    return out;
}
