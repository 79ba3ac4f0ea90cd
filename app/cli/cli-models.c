/* Choosing a model from the command line, and `resdit models`: what is found and what is missing.
 */
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#include "cli-model.h"
#include "cli.h"

void cli_model_options_init(CliModelOptions *o)
{
    memset(o, 0, sizeof *o);
}

void cli_model_options_clear(CliModelOptions *o)
{
    g_free(o->model);
    g_free(o->transformer);
    g_free(o->vae);
    g_free(o->clip_l);
    g_free(o->clip_g);
    g_free(o->t5);
    g_strfreev(o->dirs);
    g_free(o->backend);
}

GOptionGroup *cli_model_option_group(CliModelOptions *o)
{
    GOptionEntry entries[] = {
        {"model", 'm', 0, G_OPTION_ARG_FILENAME, &o->model,
         "a diffusers folder (model_index.json), a Hugging Face cache or a ComfyUI folder", "DIR"},
        {"transformer", 0, 0, G_OPTION_ARG_FILENAME, &o->transformer,
         "FLUX or SD3 transformer: flux1-dev.safetensors, sd3.5_large.safetensors or a "
         "diffusers transformer/ folder",
         "PATH"},
        {"vae", 0, 0, G_OPTION_ARG_FILENAME, &o->vae, "VAE: ae.safetensors or a vae/ folder",
         "PATH"},
        {"clip-l", 0, 0, G_OPTION_ARG_FILENAME, &o->clip_l,
         "CLIP-L: clip_l.safetensors or a text_encoder/ folder", "PATH"},
        {"clip-g", 0, 0, G_OPTION_ARG_FILENAME, &o->clip_g,
         "SD3's CLIP-G: clip_g.safetensors or a text_encoder_2/ folder", "PATH"},
        {"t5", 0, 0, G_OPTION_ARG_FILENAME, &o->t5,
         "T5-XXL: t5xxl_fp16.safetensors or a text_encoder_2/ folder (SD3: text_encoder_3/, "
         "optional)",
         "PATH"},
        {"models-dir", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &o->dirs,
         "another folder to search for models (repeatable)", "DIR"},
        {"selftest", 0, 0, G_OPTION_ARG_NONE, &o->selftest,
         "the built-in tiny self-test model (random weights, noise-like images)", NULL},
        {"backend", 0, 0, G_OPTION_ARG_STRING, &o->backend, "auto (default), cuda or cpu", "NAME"},
        {NULL}};
    GOptionGroup *group =
        g_option_group_new("model", "Model options:", "Show the model options", NULL, NULL);
    g_option_group_add_entries(group, entries);
    return group;
}

static gboolean parse_backend(const char *name, ResditBackendChoice *choice, GError **error)
{
    if (!name || g_str_equal(name, "auto"))
        *choice = RESDIT_BACKEND_AUTO;
    else if (g_str_equal(name, "cuda"))
        *choice = RESDIT_BACKEND_CUDA;
    else if (g_str_equal(name, "cpu"))
        *choice = RESDIT_BACKEND_CPU;
    else {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                    "--backend '%s': expected auto, cuda or cpu", name);
        return FALSE;
    }
    return TRUE;
}

/* The search list: --model first, then --models-dir. */
static GPtrArray *search_dirs(const CliModelOptions *o)
{
    GPtrArray *dirs = g_ptr_array_new();
    if (o->model)
        g_ptr_array_add(dirs, o->model);
    for (char **d = o->dirs; d && *d; d++)
        g_ptr_array_add(dirs, *d);
    g_ptr_array_add(dirs, NULL);
    return dirs;
}

static gboolean under(const char *path, const char *dir)
{
    if (!path || !dir)
        return FALSE;
    g_autofree char *canon_path = g_canonicalize_filename(path, NULL);
    g_autofree char *canon_dir = g_canonicalize_filename(dir, NULL);
    return g_str_has_prefix(canon_path, canon_dir);
}

/* Whether a discovered model is one that comes with the app (the demo model). */
static gboolean bundled(const ResditModelPaths *p)
{
    g_autofree char *dir = resdit_bundled_models_dir();
    return p->root && under(p->root, dir);
}

/* The discovered model to start from: the one in --model, else the first complete one (the
 * built-in demo model when there is no other, but never to fill in parts given by hand). */
static ResditModelPaths *choose(const CliModelOptions *o, GError **error)
{
    g_autoptr(GPtrArray) dirs = search_dirs(o);
    g_autoptr(GPtrArray) found = resdit_models_discover((const char *const *)dirs->pdata);
    for (guint i = 0; i < found->len; i++) {
        ResditModelPaths *p = g_ptr_array_index(found, i);
        gboolean by_hand = o->transformer || o->vae || o->clip_l || o->clip_g || o->t5;
        g_autofree char *missing = resdit_model_paths_missing(p);
        if (o->model ? under(p->root ? p->root : p->transformer, o->model)
                     : !missing && !(by_hand && bundled(p)))
            return resdit_model_paths_copy(p);
    }
    if (o->model)
        g_set_error(
            error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
            "No FLUX or SD3 model found in %s (expected model_index.json, a Hugging Face cache "
            "or ComfyUI's models/ folders)",
            o->model);
    return NULL;
}

ResditModelPaths *cli_model_paths(const CliModelOptions *o, GError **error)
{
    /* FLUX: transformer, VAE, CLIP-L, T5; SD3: transformer, VAE, CLIP-L, CLIP-G (T5 optional) */
    gboolean all_files = o->transformer && o->vae && o->clip_l && (o->t5 || o->clip_g);
    ResditModelPaths *paths = all_files ? g_new0(ResditModelPaths, 1) : choose(o, error);
    if (!paths && error && *error)
        return NULL;
    if (!paths) {
        paths = g_new0(ResditModelPaths, 1);
        if (!o->transformer && !o->vae && !o->clip_l && !o->clip_g && !o->t5) {
            resdit_model_paths_free(paths);
            g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                        "No complete FLUX or SD3 model found (see `resdit models`); give --model "
                        "DIR, or --transformer, --vae, --clip-l and --t5 (SD3: --clip-g too, T5 "
                        "optional), or try --selftest");
            return NULL;
        }
    }
    const struct {
        const char *flag;
        char **slot;
    } overrides[] = {{o->transformer, &paths->transformer},
                     {o->vae, &paths->vae},
                     {o->clip_l, &paths->clip_l},
                     {o->clip_g, &paths->clip_g},
                     {o->t5, &paths->t5}};
    for (size_t i = 0; i < G_N_ELEMENTS(overrides); i++)
        if (overrides[i].flag) {
            g_free(*overrides[i].slot);
            *overrides[i].slot = g_strdup(overrides[i].flag);
        }
    if (!paths->name)
        paths->name = g_path_get_basename(paths->transformer ? paths->transformer : "FLUX.1");
    return paths;
}

ResditModel *cli_model_open(const CliModelOptions *o, gboolean verbose, GError **error)
{
    ResditBackendChoice backend;
    if (!parse_backend(o->backend, &backend, error))
        return NULL;
    if (o->selftest)
        return resdit_model_open_selftest(backend, error);
    ResditModelPaths *paths = cli_model_paths(o, error);
    if (!paths)
        return NULL;
    if (verbose)
        fprintf(stderr, "resdit: loading %s\n", paths->name);
    ResditModel *model = resdit_model_open(paths, backend, error);
    resdit_model_paths_free(paths);
    return model;
}

/* ---- resdit models ----------------------------------------------------------------------- */

static void print_list(const char *label, char **dirs)
{
    printf("  %s\n", label);
    for (; dirs && *dirs; dirs++)
        printf("    %s\n", *dirs);
}

static void print_text(GPtrArray *found)
{
    printf("%s\n  complete (generated in memory, no files)\n\n",
           "selftest: built-in self-test model");
    if (found->len == 0)
        printf("No FLUX or SD3 model found in ComfyUI or Forge installs, the Hugging Face cache or the "
               "folders given.\nGive --model DIR or the four files (see resdit generate --help); "
               "docs/MODELS.md says where to get FLUX.\n");
    for (guint i = 0; i < found->len; i++) {
        ResditModelPaths *p = g_ptr_array_index(found, i);
        g_autofree char *missing = resdit_model_paths_missing(p);
        const gboolean sd3 = p->family == RESDIT_FAMILY_SD3;
        printf("%s\n  %s\n", p->name, missing ? "incomplete" : "complete");
        printf("  family:        %s\n", resdit_model_family_name(p->family));
        if (p->root)
            printf("  folder:        %s\n", p->root);
        const char *labels[] = {"transformer", "vae", "clip-l", "clip-g", "t5",
                                "clip tokenizer", "t5 tokenizer"};
        const char *values[] = {p->transformer, p->vae, p->clip_l, p->clip_g, p->t5,
                                p->clip_tokenizer ? p->clip_tokenizer
                                : p->clip_l       ? "beside the weights, or bundled"
                                                  : NULL,
                                p->t5_tokenizer};
        for (int k = 0; k < 7; k++) {
            if (!sd3 && k == 3)
                continue; /* FLUX has no CLIP-G */
            const char *none = sd3 && k >= 4 && !p->t5 ? "none (optional for SD3: zeros, as "
                                                         "diffusers runs without T5)"
                                                       : "MISSING";
            printf("  %-14s %s\n", labels[k], values[k] ? values[k] : none);
        }
        if (missing) {
            printf("  missing:       %s\n", missing);
            if (p->searched)
                print_list("looked for the missing parts in:", p->searched);
            if (p->t5_tokenizer_searched) {
                print_list("looked for a T5 tokenizer (tokenizer.json or spiece.model) in:",
                           p->t5_tokenizer_searched);
                printf("  fix: copy tokenizer.json or spiece.model from a FLUX diffusers "
                       "folder's tokenizer_2/ next to %s\n",
                       p->t5);
            }
        }
        printf("\n");
    }
}

static void print_loras_text(GPtrArray *loras, gboolean alone)
{
    if (loras->len == 0) {
        printf("No LoRA found (ComfyUI models/loras, Forge models/Lora, the folders given).\n");
        return;
    }
    if (!alone)
        printf("LoRAs (resdit generate --lora FILE[:STRENGTH]):\n");
    for (guint i = 0; i < loras->len; i++) {
        const ResditLoraInfo *l = g_ptr_array_index(loras, i);
        printf("%s%-32s %8.1f MB  %s\n", alone ? "" : "  ", l->name, l->size / 1e6, l->path);
    }
}

static void print_loras_json(GPtrArray *loras)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_array(b);
    for (guint i = 0; i < loras->len; i++) {
        const ResditLoraInfo *l = g_ptr_array_index(loras, i);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, l->name);
        json_builder_set_member_name(b, "path");
        json_builder_add_string_value(b, l->path);
        json_builder_set_member_name(b, "size");
        json_builder_add_int_value(b, (gint64)l->size);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, TRUE);
    g_autofree char *text = json_generator_to_data(gen, NULL);
    printf("%s\n", text);
}

static void add_list(JsonBuilder *b, const char *key, char **values)
{
    json_builder_set_member_name(b, key);
    json_builder_begin_array(b);
    for (; values && *values; values++)
        json_builder_add_string_value(b, *values);
    json_builder_end_array(b);
}

static void add_path(JsonBuilder *b, const char *key, const char *value)
{
    json_builder_set_member_name(b, key);
    if (value)
        json_builder_add_string_value(b, value);
    else
        json_builder_add_null_value(b);
}

static void print_json(GPtrArray *found)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_array(b);
    for (guint i = 0; i < found->len; i++) {
        ResditModelPaths *p = g_ptr_array_index(found, i);
        g_autofree char *missing = resdit_model_paths_missing(p);
        json_builder_begin_object(b);
        add_path(b, "name", p->name);
        add_path(b, "root", p->root);
        add_path(b, "family", resdit_model_family_name(p->family));
        add_path(b, "transformer", p->transformer);
        add_path(b, "vae", p->vae);
        add_path(b, "clip_l", p->clip_l);
        add_path(b, "clip_g", p->clip_g);
        add_path(b, "t5", p->t5);
        add_path(b, "clip_tokenizer", p->clip_tokenizer);
        add_path(b, "t5_tokenizer", p->t5_tokenizer);
        add_list(b, "searched", p->searched);
        add_list(b, "t5_tokenizer_searched", p->t5_tokenizer_searched);
        json_builder_set_member_name(b, "complete");
        json_builder_add_boolean_value(b, missing == NULL);
        json_builder_set_member_name(b, "missing");
        json_builder_begin_array(b);
        g_auto(GStrv) parts = missing ? g_strsplit(missing, ", ", -1) : NULL;
        for (char **m = parts; m && *m; m++)
            json_builder_add_string_value(b, *m);
        json_builder_end_array(b);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, TRUE);
    g_autofree char *text = json_generator_to_data(gen, NULL);
    printf("%s\n", text);
}

int cli_models(int argc, char **argv)
{
    char **dirs = NULL;
    gboolean json = FALSE, loras_only = FALSE;
    GOptionEntry entries[] = {{"models-dir", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &dirs,
                               "another folder to search (repeatable)", "DIR"},
                              {"json", 0, 0, G_OPTION_ARG_NONE, &json, "print JSON", NULL},
                              {"loras", 0, 0, G_OPTION_ARG_NONE, &loras_only,
                               "list the LoRA files only (with --json: an array of them)", NULL},
                              {NULL}};
    GOptionContext *ctx =
        g_option_context_new("- list the FLUX and SD3 models found on this machine");
    g_option_context_set_summary(
        ctx, "Searches ComfyUI installs (~/ComfyUI, ~/comfy/ComfyUI and the folders of their "
             "extra_model_paths.yaml), Forge and AUTOMATIC1111 installs, the Hugging Face cache "
             "($HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub) and the folders given. "
             "Files are recognised by their tensors, not their names, and put together into "
             "models; each model says where every part comes from, or what it lacks and where "
             "it looked. LoRA files (ComfyUI models/loras and its yaml's loras, Forge "
             "models/Lora) are listed after the models.");
    g_option_context_add_main_entries(ctx, entries, NULL);
    GError *error = NULL;
    int rc = 0;
    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        rc = cli_fail("%s", error->message) + 1;
        g_error_free(error);
    } else if (loras_only) {
        g_autoptr(GPtrArray) loras = resdit_loras_discover((const char *const *)dirs);
        if (json)
            print_loras_json(loras);
        else
            print_loras_text(loras, TRUE);
    } else {
        g_autoptr(GPtrArray) found = resdit_models_discover((const char *const *)dirs);
        if (json) {
            print_json(found);
        } else {
            print_text(found);
            g_autoptr(GPtrArray) loras = resdit_loras_discover((const char *const *)dirs);
            print_loras_text(loras, FALSE);
        }
    }
    g_option_context_free(ctx);
    g_strfreev(dirs);
    return rc;
}

gboolean cli_model_options_given(const CliModelOptions *o)
{
    return o->selftest || o->model || o->transformer || o->vae || o->clip_l || o->clip_g || o->t5;
}

ResditModel *cli_model_open_named(const CliModelOptions *o, const char *name, gboolean verbose,
                                  GError **error)
{
    ResditBackendChoice backend;
    if (!parse_backend(o->backend, &backend, error))
        return NULL;
    ResditModel *selftest = NULL;
    if (g_str_has_prefix(name, "Self-test model")) { /* its name is not a place: open it */
        selftest = resdit_model_open_selftest(backend, error);
        if (!selftest || g_strcmp0(resdit_model_name(selftest), name) == 0)
            return selftest;
        resdit_model_free(selftest);
    }
    g_autoptr(GPtrArray) dirs = search_dirs(o); /* NULL-terminated */
    g_autoptr(GPtrArray) found = resdit_models_discover((const char *const *)dirs->pdata);
    for (guint i = 0; i < found->len; i++) {
        const ResditModelPaths *p = g_ptr_array_index(found, i);
        g_autofree char *missing = resdit_model_paths_missing(p);
        if (!missing && g_strcmp0(p->name, name) == 0) {
            if (verbose)
                fprintf(stderr, "resdit: loading %s (the model the image was made with)\n", name);
            return resdit_model_open(p, backend, error);
        }
    }
    g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                "The model the image was made with (%s) was not found; give --model DIR (or "
                "--transformer, --vae, --clip-l and --t5)",
                name);
    return NULL;
}
