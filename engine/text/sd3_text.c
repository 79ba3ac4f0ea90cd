#include "sd3_text.h"

#include <string.h>

#include "clip_model.h"
#include "clip_tokenizer.h"
#include "model_places.h"
#include "resdit.h"
#include "safetensors.h"
#include "t5_model.h"
#include "t5_tokenizer.h"
#include "text_paths.h"

#define MAX_T5_LENGTH 512 /* diffusers' check_inputs refuses more */
#define DEFAULT_JOINT_DIM 4096
#define T5_PROBE "encoder.block.0.layer.0.SelfAttention.q.weight"

struct RdSd3Text {
    RdBackend *backend;
    RdClipTokenizer *tok_l, *tok_g;
    RdT5Tokenizer *tok_t5;
    RdClipModel *clip_l, *clip_g;
    RdT5Model *t5; /* NULL: zeros in its place */
    int clip_len, txt_dim, vec_dim;
};

typedef struct {
    const char *role;    /* "clip_l", "clip_g" */
    const char *name;    /* for messages */
    const char *encoder; /* diffusers component folders */
    const char *tokenizer;
} ClipRole;

static const ClipRole ROLE_L = {"clip_l", "CLIP-L", "text_encoder", "tokenizer"};
static const ClipRole ROLE_G = {"clip_g", "CLIP-G", "text_encoder_2", "tokenizer_2"};

static void use_tokenizer(RdTextPaths *p, const char *tokenizer)
{
    if (!tokenizer)
        return;
    g_free(p->tokenizer);
    p->tokenizer = g_strdup(tokenizer);
}

/* A checkpoint bundling encoders names each one text_encoders.<role>.: the CLIP found must be the
 * one asked for, not the other. */
static gboolean check_role(RdClipModel *model, const char *prefer, const ClipRole *role,
                           const char *path, GError **error)
{
    const char *prefix = rd_clip_model_key_prefix(model);
    if (!g_str_has_prefix(prefix, "text_encoders.") || g_str_has_prefix(prefix, prefer))
        return TRUE;
    g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                "%s bundles text encoders but no %s (no tensors named %s*); give the %s file "
                "separately",
                path, role->name, prefer, role->name);
    return FALSE;
}

static gboolean load_clip(RdSd3Text *enc, const char *path, const char *tokenizer,
                          const ClipRole *role, RdClipTokenizer **tok, RdClipModel **model,
                          GError **error)
{
    RdTextPaths p;
    if (!rd_text_paths_resolve_in(path, RD_TEXT_CLIP, role->encoder, role->tokenizer, &p, error))
        return FALSE;
    use_tokenizer(&p, tokenizer);
    g_autofree char *prefer = g_strconcat("text_encoders.", role->role, ".", NULL);
    gboolean ok = TRUE;
    if (!p.weights) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                    "%s holds no %s weights (no %s/ folder); give the model folder or the "
                    "weights file",
                    path, role->name, role->encoder);
        ok = FALSE;
    }
    ok = ok && (*model = rd_clip_model_load_within(p.weights, prefer, enc->backend, error)) &&
         check_role(*model, prefer, role, p.weights, error) &&
         (*tok = rd_clip_tokenizer_load(p.tokenizer, error));
    /* SD3's tokenizer_2 pads with "!" (id 0); the bundled vocabulary pads with EOS. */
    if (ok && !p.tokenizer && role == &ROLE_G)
        rd_clip_tokenizer_set_pad(*tok, "!");
    if (ok && rd_clip_tokenizer_vocab_size(*tok) > rd_clip_model_config(*model)->vocab_size) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                    "%s: the %s tokenizer (%d tokens, %s) is larger than the model's embedding "
                    "table (%d)",
                    p.weights, role->name, rd_clip_tokenizer_vocab_size(*tok),
                    rd_clip_tokenizer_source(*tok), rd_clip_model_config(*model)->vocab_size);
        ok = FALSE;
    }
    /* diffusers' single-file loader gives a bundled CLIP-L the identity as text_projection */
    if (ok && role == &ROLE_L && g_str_has_prefix(rd_clip_model_key_prefix(*model), prefer))
        rd_clip_model_drop_projection(*model);
    rd_text_paths_clear(&p);
    return ok;
}

/* Whether a file or folder of safetensors holds T5 weights. */
static gboolean file_has_t5(const char *path)
{
    RdSafetensors *st = rd_safetensors_open(path, NULL);
    gboolean found = FALSE;
    for (guint i = 0; st && !found && i < rd_safetensors_count(st); i++)
        found = g_str_has_suffix(rd_safetensors_get(st, i)->name, T5_PROBE);
    if (st)
        rd_safetensors_close(st);
    return found;
}

static char *find_t5_tokenizer(const char *path, GError **error)
{
    g_autoptr(GPtrArray) places = rd_places_find(NULL);
    g_autoptr(GPtrArray) searched = g_ptr_array_new_with_free_func(g_free);
    char *found = rd_places_find_t5_tokenizer(places, searched);
    if (!found) {
        g_ptr_array_add(searched, NULL);
        rd_text_paths_t5_tokenizer_missing(path, (const char *const *)searched->pdata, error);
    }
    return found;
}

/* T5 from src->t5 (must be there) or from root (optional). */
static gboolean load_t5(RdSd3Text *enc, const RdSd3TextSources *src, GError **error)
{
    const char *path = src->t5 ? src->t5 : src->root;
    if (src->without_t5 || !path)
        return TRUE;
    RdTextPaths p;
    if (!rd_text_paths_resolve_in(path, RD_TEXT_T5, "text_encoder_3", "tokenizer_3", &p, error))
        return FALSE;
    use_tokenizer(&p, src->t5_tokenizer);
    gboolean ok = TRUE;
    if (!src->t5 && (!p.weights || !file_has_t5(p.weights))) {
        rd_text_paths_clear(&p); /* root without T5: run without it */
        return TRUE;
    }
    if (!p.weights) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                    "%s holds no T5 weights (only a tokenizer); give the model folder or the "
                    "weights file",
                    path);
        ok = FALSE;
    }
    if (ok && !p.tokenizer)
        ok = (p.tokenizer = find_t5_tokenizer(path, error)) != NULL;
    ok = ok && (enc->tok_t5 = rd_t5_tokenizer_load(p.tokenizer, error)) &&
         (enc->t5 = rd_t5_model_load(p.weights, enc->backend, error));
    if (ok && rd_t5_tokenizer_vocab_size(enc->tok_t5) > rd_t5_model_config(enc->t5)->vocab_size) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                    "%s: the T5 tokenizer (%d pieces, %s) is larger than the model's embedding "
                    "table (%d)",
                    p.weights, rd_t5_tokenizer_vocab_size(enc->tok_t5),
                    rd_t5_tokenizer_source(enc->tok_t5), rd_t5_model_config(enc->t5)->vocab_size);
        ok = FALSE;
    }
    rd_text_paths_clear(&p);
    return ok;
}

static gboolean check_shapes(RdSd3Text *enc, const RdSd3TextSources *src, GError **error)
{
    const RdClipConfig *l = rd_clip_model_config(enc->clip_l),
                       *g = rd_clip_model_config(enc->clip_g);
    enc->clip_len = l->max_positions;
    enc->vec_dim =
        rd_clip_model_projected_dim(enc->clip_l) + rd_clip_model_projected_dim(enc->clip_g);
    if (enc->t5) {
        enc->txt_dim = rd_t5_model_config(enc->t5)->d_model;
        if (src->joint_dim > 0 && src->joint_dim != enc->txt_dim) {
            g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                        "The T5 encoder is %d wide but the transformer takes %d-wide text: they "
                        "are not from the same model",
                        enc->txt_dim, src->joint_dim);
            return FALSE;
        }
    } else {
        enc->txt_dim = src->joint_dim > 0 ? src->joint_dim : DEFAULT_JOINT_DIM;
    }
    if (g->max_positions != l->max_positions) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                    "CLIP-L takes %d tokens but CLIP-G %d: SD3's CLIPs both take 77",
                    l->max_positions, g->max_positions);
        return FALSE;
    }
    if (l->hidden + g->hidden > enc->txt_dim) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                    "CLIP-L (%d) and CLIP-G (%d) together are wider than the joint text width %d "
                    "(SD3: 768 + 1280 within 4096); is CLIP-G given as CLIP-L?",
                    l->hidden, g->hidden, enc->txt_dim);
        return FALSE;
    }
    return TRUE;
}

RdSd3Text *rd_sd3_text_load(const RdSd3TextSources *src, RdBackend *backend, GError **error)
{
    RdSd3Text *enc = g_new0(RdSd3Text, 1);
    enc->backend = backend;
    const char *l = src->clip_l ? src->clip_l : src->root;
    const char *g = src->clip_g ? src->clip_g : src->root;
    gboolean ok = TRUE;
    if (!l || !g) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                    "SD3 needs both CLIP-L and CLIP-G: give the model folder or both files");
        ok = FALSE;
    }
    ok = ok &&
         load_clip(enc, l, src->clip_l_tokenizer, &ROLE_L, &enc->tok_l, &enc->clip_l, error) &&
         load_clip(enc, g, src->clip_g_tokenizer, &ROLE_G, &enc->tok_g, &enc->clip_g, error) &&
         load_t5(enc, src, error) && check_shapes(enc, src, error);
    if (!ok) {
        rd_sd3_text_free(enc);
        return NULL;
    }
    return enc;
}

void rd_sd3_text_free(RdSd3Text *enc)
{
    if (!enc)
        return;
    rd_clip_model_free(enc->clip_l);
    rd_clip_model_free(enc->clip_g);
    rd_t5_model_free(enc->t5);
    rd_clip_tokenizer_free(enc->tok_l);
    rd_clip_tokenizer_free(enc->tok_g);
    rd_t5_tokenizer_free(enc->tok_t5);
    g_free(enc);
}

gboolean rd_sd3_text_has_t5(const RdSd3Text *enc)
{
    return enc->t5 != NULL;
}
int rd_sd3_text_txt_dim(const RdSd3Text *enc)
{
    return enc->txt_dim;
}
int rd_sd3_text_vec_dim(const RdSd3Text *enc)
{
    return enc->vec_dim;
}
int rd_sd3_text_clip_length(const RdSd3Text *enc)
{
    return enc->clip_len;
}
int rd_sd3_text_txt_rows(const RdSd3Text *enc, int t5_len)
{
    return enc->clip_len + (enc->t5 ? t5_len : enc->clip_len);
}

static gboolean check_t5_len(int t5_len, GError **error)
{
    if (t5_len >= 1 && t5_len <= MAX_T5_LENGTH)
        return TRUE;
    g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                "The T5 length must be 1 to %d (SD3: 256 by default), not %d", MAX_T5_LENGTH,
                t5_len);
    return FALSE;
}

gboolean rd_sd3_text_tokenize(RdSd3Text *enc, const char *prompt, int t5_len, int32_t *ids_l,
                              int32_t *ids_g, int32_t *ids_t5, RdSd3TextInfo *info, GError **error)
{
    if (!check_t5_len(t5_len, error))
        return FALSE;
    RdSd3TextInfo local = {0, 0, 0, 0};
    gboolean ok = rd_clip_tokenizer_encode(enc->tok_l, prompt, enc->clip_len, ids_l,
                                           &local.clip_l_dropped, error) &&
                  rd_clip_tokenizer_encode(enc->tok_g, prompt, enc->clip_len, ids_g,
                                           &local.clip_g_dropped, error) &&
                  (!enc->t5 || rd_t5_tokenizer_encode(enc->tok_t5, prompt, t5_len, ids_t5,
                                                      &local.t5_dropped, error));
    if (ok && info)
        *info = local;
    return ok;
}

gboolean rd_sd3_text_count_tokens(RdSd3Text *enc, const char *prompt, int *clip, int *t5,
                                  GError **error)
{
    GArray *ids_l = rd_clip_tokenizer_tokenize(enc->tok_l, prompt, error);
    GArray *ids_t5 = ids_l && enc->t5 ? rd_t5_tokenizer_tokenize(enc->tok_t5, prompt, error) : NULL;
    gboolean ok = ids_l && (!enc->t5 || ids_t5);
    if (ok) {
        *clip = (int)ids_l->len + 2;             /* BOS, EOS */
        *t5 = ids_t5 ? (int)ids_t5->len + 1 : 0; /* EOS */
    }
    if (ids_l)
        g_array_unref(ids_l);
    if (ids_t5)
        g_array_unref(ids_t5);
    return ok;
}

static int eos_of(const RdClipModel *model, const RdClipTokenizer *tok)
{
    const RdClipConfig *c = rd_clip_model_config(model);
    return c->eos_token_id >= 0 ? c->eos_token_id : rd_clip_tokenizer_eos(tok);
}

static gboolean cancelled(GCancellable *cancellable, GError **error)
{
    if (!g_cancellable_is_cancelled(cancellable))
        return FALSE;
    g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_CANCELLED, "Text encoding cancelled");
    return TRUE;
}

/* txt [rows, D] is zeroed by the caller; the CLIP rows get L then G features, the rest T5. */
static gboolean encode_one(RdSd3Text *enc, const char *prompt, int t5_len, float *txt, float *vec,
                           RdSd3TextInfo *info, GCancellable *cancellable, GError **error)
{
    const int n = enc->clip_len, D = enc->txt_dim;
    const int hl = rd_clip_model_config(enc->clip_l)->hidden;
    const int hg = rd_clip_model_config(enc->clip_g)->hidden;
    g_autofree int32_t *ids_l = g_new(int32_t, n), *ids_g = g_new(int32_t, n);
    g_autofree int32_t *ids_t5 = g_new(int32_t, t5_len > 0 ? t5_len : 1);
    g_autofree float *h_l = g_new(float, (size_t)n *hl), *h_g = g_new(float, (size_t)n *hg);
    size_t peak_l = 0, peak_g = 0, peak_t5 = 0;
    gboolean ok =
        rd_sd3_text_tokenize(enc, prompt, t5_len, ids_l, ids_g, ids_t5, info, error) &&
        rd_clip_model_forward_penultimate(enc->clip_l, ids_l, n, eos_of(enc->clip_l, enc->tok_l),
                                          h_l, vec, &peak_l, error) &&
        !cancelled(cancellable, error) &&
        rd_clip_model_forward_penultimate(enc->clip_g, ids_g, n, eos_of(enc->clip_g, enc->tok_g),
                                          h_g, vec + rd_clip_model_projected_dim(enc->clip_l),
                                          &peak_g, error) &&
        !cancelled(cancellable, error);
    for (int r = 0; ok && r < n; r++) {
        memcpy(txt + (size_t)r * D, h_l + (size_t)r * hl, (size_t)hl * sizeof(float));
        memcpy(txt + (size_t)r * D + hl, h_g + (size_t)r * hg, (size_t)hg * sizeof(float));
    }
    if (ok && enc->t5)
        ok = rd_t5_model_forward(enc->t5, ids_t5, t5_len, txt + (size_t)n * D, &peak_t5,
                                 cancellable, error);
    if (ok && info) {
        size_t weights = rd_clip_model_weight_bytes(enc->clip_l) +
                         rd_clip_model_weight_bytes(enc->clip_g) +
                         (enc->t5 ? rd_t5_model_weight_bytes(enc->t5) : 0);
        info->peak_bytes = weights + MAX(MAX(peak_l, peak_g), peak_t5);
    }
    return ok;
}

static float *alloc_txt(RdSd3Text *enc, int t5_len, GError **error)
{
    float *txt = g_try_new0(float, (size_t)rd_sd3_text_txt_rows(enc, t5_len) * enc->txt_dim);
    if (!txt)
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_OUT_OF_MEMORY,
                    "Not enough memory for the SD3 text embeddings");
    return txt;
}

gboolean rd_sd3_text_encode(RdSd3Text *enc, const char *prompt, const char *negative, int t5_len,
                            float **txt, float **vec, float **neg_txt, float **neg_vec,
                            RdSd3TextInfo *info, GCancellable *cancellable, GError **error)
{
    float *t = NULL, *v = g_new0(float, enc->vec_dim), *nt = NULL, *nv = NULL;
    RdSd3TextInfo local = {0, 0, 0, 0}, neg_info = local;
    gboolean ok = check_t5_len(t5_len, error) && (t = alloc_txt(enc, t5_len, error)) != NULL &&
                  encode_one(enc, prompt, t5_len, t, v, &local, cancellable, error);
    if (ok && neg_txt) {
        nv = g_new0(float, enc->vec_dim);
        ok = (nt = alloc_txt(enc, t5_len, error)) != NULL &&
             encode_one(enc, negative ? negative : "", t5_len, nt, nv, &neg_info, cancellable,
                        error);
    }
    if (!ok) {
        g_free(t);
        g_free(v);
        g_free(nt);
        g_free(nv);
        return FALSE;
    }
    *txt = t;
    *vec = v;
    if (neg_txt) {
        *neg_txt = nt;
        *neg_vec = nv;
    }
    if (info) {
        *info = local;
        info->peak_bytes = MAX(local.peak_bytes, neg_info.peak_bytes);
    }
    return TRUE;
}
