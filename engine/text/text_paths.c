#include "text_paths.h"

#include "resdit.h"
#include "tokenizer_data.h"

static const char *const clip_files[] = {"vocab.json", NULL};
static const char *const t5_files[] = {"tokenizer.json", "spiece.model", NULL};

static gboolean has_file(const char *dir, const char *name)
{
    char *p = g_build_filename(dir, name, NULL);
    gboolean ok = g_file_test(p, G_FILE_TEST_EXISTS);
    g_free(p);
    return ok;
}

static char *child_dir(const char *dir, const char *name)
{
    char *p = g_build_filename(dir, name, NULL);
    if (g_file_test(p, G_FILE_TEST_IS_DIR))
        return p;
    g_free(p);
    return NULL;
}

static gboolean is_tokenizer_dir(const char *dir, RdTextKind kind)
{
    if (kind == RD_TEXT_CLIP)
        return has_file(dir, "vocab.json") && has_file(dir, "merges.txt");
    char *f = rd_tokenizer_find_file(dir, t5_files);
    g_free(f);
    return f != NULL;
}

/* A tokenizer folder beside a component folder (text_encoder -> tokenizer), or the folder itself.
 */
static char *tokenizer_near(const char *component, RdTextKind kind, const char *tokenizer)
{
    char *parent = g_path_get_dirname(component);
    char *sibling = child_dir(parent, tokenizer);
    g_free(parent);
    if (sibling && is_tokenizer_dir(sibling, kind))
        return sibling;
    g_free(sibling);
    return is_tokenizer_dir(component, kind) ? g_strdup(component) : NULL;
}

static char *bundled_t5(void)
{
    char *dir = rd_tokenizer_data_dir();
    char *t5 = g_build_filename(dir, "t5", NULL);
    g_free(dir);
    char *file = rd_tokenizer_find_file(t5, t5_files);
    g_free(t5);
    return file;
}

static char *fallback_tokenizer(RdTextKind kind)
{
    return kind == RD_TEXT_CLIP ? NULL : bundled_t5();
}

static void resolve_dir(const char *path, RdTextKind kind, const char *encoder,
                        const char *tokenizer, RdTextPaths *out)
{
    char *enc_dir = child_dir(path, encoder), *tok_dir = child_dir(path, tokenizer);
    if (enc_dir || tok_dir || has_file(path, "model_index.json")) { /* a model root */
        out->weights = enc_dir;
        out->tokenizer = tok_dir && is_tokenizer_dir(tok_dir, kind) ? g_strdup(tok_dir)
                                                                    : fallback_tokenizer(kind);
        g_free(tok_dir);
        return;
    }
    if (has_file(path, "config.json") || !is_tokenizer_dir(path, kind)) { /* encoder folder */
        out->weights = g_strdup(path);
        out->tokenizer = tokenizer_near(path, kind, tokenizer);
        if (!out->tokenizer)
            out->tokenizer = fallback_tokenizer(kind);
        return;
    }
    out->tokenizer = g_strdup(path); /* a tokenizer folder: its encoder, if any, beside it */
    char *parent = g_path_get_dirname(path);
    out->weights = child_dir(parent, encoder);
    g_free(parent);
}

static gboolean is_tokenizer_file(const char *base, RdTextKind kind)
{
    const char *const *names = kind == RD_TEXT_CLIP ? clip_files : t5_files;
    for (int i = 0; names[i]; i++)
        if (g_strcmp0(base, names[i]) == 0)
            return TRUE;
    return kind == RD_TEXT_CLIP && g_strcmp0(base, "merges.txt") == 0;
}

gboolean rd_text_paths_resolve(const char *path, RdTextKind kind, RdTextPaths *out, GError **error)
{
    gboolean clip = kind == RD_TEXT_CLIP;
    return rd_text_paths_resolve_in(path, kind, clip ? "text_encoder" : "text_encoder_2",
                                    clip ? "tokenizer" : "tokenizer_2", out, error);
}

gboolean rd_text_paths_resolve_in(const char *path, RdTextKind kind, const char *encoder,
                                  const char *tokenizer, RdTextPaths *out, GError **error)
{
    *out = (RdTextPaths){NULL, NULL};
    if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_IO, "%s does not exist", path);
        return FALSE;
    }
    if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
        resolve_dir(path, kind, encoder, tokenizer, out);
        return TRUE;
    }
    char *base = g_path_get_basename(path), *dir = g_path_get_dirname(path);
    if (is_tokenizer_file(base, kind)) {
        out->tokenizer = kind == RD_TEXT_CLIP ? g_strdup(dir) : g_strdup(path);
    } else { /* a weights file: a tokenizer beside it (diffusers layout), else the bundled one */
        out->weights = g_strdup(path);
        if (has_file(dir, "config.json"))
            out->tokenizer = tokenizer_near(dir, kind, tokenizer);
        else if (kind == RD_TEXT_T5)
            out->tokenizer = rd_tokenizer_find_file(dir, t5_files);
        if (!out->tokenizer)
            out->tokenizer = fallback_tokenizer(kind);
    }
    g_free(base);
    g_free(dir);
    return TRUE;
}

void rd_text_paths_clear(RdTextPaths *paths)
{
    g_clear_pointer(&paths->weights, g_free);
    g_clear_pointer(&paths->tokenizer, g_free);
}

void rd_text_paths_t5_tokenizer_missing(const char *path, const char *const *searched,
                                        GError **error)
{
    g_autofree char *dir = rd_tokenizer_data_dir();
    g_autofree char *parent = g_file_test(path, G_FILE_TEST_IS_DIR) ? g_strdup(path)
                                                                     : g_path_get_dirname(path);
    g_autoptr(GString) looked = g_string_new(parent);
    for (; searched && *searched; searched++)
        g_string_append_printf(looked, ", %s", *searched);
    g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_TOKENIZER,
                "No T5 tokenizer (tokenizer.json or spiece.model) for %s: T5's vocabulary is not "
                "bundled. Looked in: %s. Fix: copy tokenizer.json or spiece.model from a FLUX "
                "diffusers folder's tokenizer_2/ (or ComfyUI's comfy/text_encoders/t5_tokenizer/) "
                "next to the weights file, or into %s/t5/",
                path, looked->str, dir);
}
