#include "text_encoders.h"

#include <string.h>

#include "clip_model.h"
#include "clip_tokenizer.h"
#include "resdit.h"
#include "t5_model.h"
#include "t5_tokenizer.h"
#include "model_places.h"
#include "text_paths.h"

#define MAX_T5_LENGTH 4096

struct RdTextEncoders {
    RdBackend *backend;
    char *t5_weights_path;
    RdClipTokenizer *clip_tok;
    RdT5Tokenizer *t5_tok;
    RdClipModel *clip;
    RdT5Model *t5; /* NULL while released */
    int txt_dim, vec_dim;
};

static gboolean need_weights(const RdTextPaths *p, const char *path, const char *what,
                             GError **error)
{
    if (p->weights)
        return TRUE;
    g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                "%s holds no %s weights (only a tokenizer); give the model folder or the weights "
                "file",
                path, what);
    return FALSE;
}

static void use_tokenizer(RdTextPaths *p, const char *tokenizer)
{
    if (!tokenizer)
        return;
    g_free(p->tokenizer);
    p->tokenizer = g_strdup(tokenizer);
}

static gboolean load_clip(RdTextEncoders *enc, const char *path, const char *tokenizer,
                          GError **error)
{
    RdTextPaths p;
    if (!rd_text_paths_resolve(path, RD_TEXT_CLIP, &p, error))
        return FALSE;
    use_tokenizer(&p, tokenizer);
    gboolean ok = need_weights(&p, path, "CLIP", error) &&
                  (enc->clip_tok = rd_clip_tokenizer_load(p.tokenizer, error)) != NULL &&
                  (enc->clip = rd_clip_model_load(p.weights, enc->backend, error)) != NULL;
    if (ok &&
        rd_clip_tokenizer_vocab_size(enc->clip_tok) > rd_clip_model_config(enc->clip)->vocab_size) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                    "%s: the CLIP tokenizer (%d tokens, %s) is larger than the model's embedding "
                    "table (%d)",
                    p.weights, rd_clip_tokenizer_vocab_size(enc->clip_tok),
                    rd_clip_tokenizer_source(enc->clip_tok),
                    rd_clip_model_config(enc->clip)->vocab_size);
        ok = FALSE;
    }
    if (ok)
        enc->vec_dim = rd_clip_model_config(enc->clip)->hidden;
    rd_text_paths_clear(&p);
    return ok;
}

static gboolean load_t5(RdTextEncoders *enc, const char *path, const char *tokenizer,
                        GError **error)
{
    RdTextPaths p;
    if (!rd_text_paths_resolve(path, RD_TEXT_T5, &p, error))
        return FALSE;
    use_tokenizer(&p, tokenizer);
    gboolean ok = need_weights(&p, path, "T5", error);
    if (ok && !p.tokenizer) {
        g_autoptr(GPtrArray) places = rd_places_find(NULL);
        g_autoptr(GPtrArray) searched = g_ptr_array_new_with_free_func(g_free);
        p.tokenizer = rd_places_find_t5_tokenizer(places, searched);
        if (!p.tokenizer) {
            g_ptr_array_add(searched, NULL);
            rd_text_paths_t5_tokenizer_missing(path, (const char *const *)searched->pdata, error);
            ok = FALSE;
        }
    }
    ok = ok && (enc->t5_tok = rd_t5_tokenizer_load(p.tokenizer, error)) != NULL &&
         (enc->t5 = rd_t5_model_load(p.weights, enc->backend, error)) != NULL;
    if (ok && rd_t5_tokenizer_vocab_size(enc->t5_tok) > rd_t5_model_config(enc->t5)->vocab_size) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                    "%s: the T5 tokenizer (%d pieces, %s) is larger than the model's embedding "
                    "table (%d)",
                    p.weights, rd_t5_tokenizer_vocab_size(enc->t5_tok),
                    rd_t5_tokenizer_source(enc->t5_tok), rd_t5_model_config(enc->t5)->vocab_size);
        ok = FALSE;
    }
    if (ok) {
        enc->txt_dim = rd_t5_model_config(enc->t5)->d_model;
        enc->t5_weights_path = g_strdup(p.weights);
    }
    rd_text_paths_clear(&p);
    return ok;
}

RdTextEncoders *rd_text_encoders_load(const char *clip_path, const char *t5_path,
                                      const char *clip_tokenizer, const char *t5_tokenizer,
                                      RdBackend *backend, GError **error)
{
    RdTextEncoders *enc = g_new0(RdTextEncoders, 1);
    enc->backend = backend;
    if (!load_clip(enc, clip_path, clip_tokenizer, error) ||
        !load_t5(enc, t5_path, t5_tokenizer, error)) {
        rd_text_encoders_free(enc);
        return NULL;
    }
    return enc;
}

void rd_text_encoders_free(RdTextEncoders *enc)
{
    if (!enc)
        return;
    rd_clip_model_free(enc->clip);
    rd_t5_model_free(enc->t5);
    rd_clip_tokenizer_free(enc->clip_tok);
    rd_t5_tokenizer_free(enc->t5_tok);
    g_free(enc->t5_weights_path);
    g_free(enc);
}

int rd_text_encoders_txt_dim(const RdTextEncoders *enc)
{
    return enc->txt_dim;
}
int rd_text_encoders_vec_dim(const RdTextEncoders *enc)
{
    return enc->vec_dim;
}
gboolean rd_text_encoders_t5_loaded(const RdTextEncoders *enc)
{
    return enc->t5 != NULL;
}

int rd_text_encoders_clip_length(const RdTextEncoders *enc)
{
    return rd_clip_model_config(enc->clip)->max_positions;
}

gboolean rd_text_encoders_tokenize(RdTextEncoders *enc, const char *prompt, int t5_len,
                                   int32_t *clip_ids, int32_t *t5_ids, RdTextEncodeInfo *info,
                                   GError **error)
{
    if (t5_len < 1 || t5_len > MAX_T5_LENGTH) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                    "The T5 length must be 1 to %d (FLUX: 512 for dev, 256 for schnell), not %d",
                    MAX_T5_LENGTH, t5_len);
        return FALSE;
    }
    RdTextEncodeInfo local = {0, 0, 0};
    gboolean ok =
        rd_clip_tokenizer_encode(enc->clip_tok, prompt, rd_text_encoders_clip_length(enc), clip_ids,
                                 &local.clip_dropped, error) &&
        rd_t5_tokenizer_encode(enc->t5_tok, prompt, t5_len, t5_ids, &local.t5_dropped, error);
    if (ok && info)
        *info = local;
    return ok;
}

gboolean rd_text_encoders_count_tokens(RdTextEncoders *enc, const char *prompt, int *clip,
                                       int *t5, GError **error)
{
    GArray *clip_ids = rd_clip_tokenizer_tokenize(enc->clip_tok, prompt, error);
    GArray *t5_ids = clip_ids ? rd_t5_tokenizer_tokenize(enc->t5_tok, prompt, error) : NULL;
    if (t5_ids) {
        *clip = (int)clip_ids->len + 2; /* BOS, EOS */
        *t5 = (int)t5_ids->len + 1;     /* EOS */
    }
    if (clip_ids)
        g_array_unref(clip_ids);
    if (t5_ids)
        g_array_unref(t5_ids);
    return t5_ids != NULL;
}

static gboolean ensure_t5(RdTextEncoders *enc, GError **error)
{
    if (!enc->t5)
        enc->t5 = rd_t5_model_load(enc->t5_weights_path, enc->backend, error);
    return enc->t5 != NULL;
}

gboolean rd_text_encode(RdTextEncoders *enc, const char *prompt, int t5_len, gboolean release_t5,
                        float **txt, float **vec, RdTextEncodeInfo *info, GCancellable *cancellable,
                        GError **error)
{
    const int clip_len = rd_text_encoders_clip_length(enc);
    int32_t *clip_ids = g_new(int32_t, clip_len), *t5_ids = g_new(int32_t, MAX(t5_len, 1));
    RdTextEncodeInfo local = {0, 0, 0};
    float *out_vec = NULL, *out_txt = NULL;
    size_t clip_peak = 0, t5_peak = 0;
    gboolean ok = rd_text_encoders_tokenize(enc, prompt, t5_len, clip_ids, t5_ids, &local, error);
    if (ok) {
        const RdClipConfig *cc = rd_clip_model_config(enc->clip);
        int eos = cc->eos_token_id >= 0 ? cc->eos_token_id : rd_clip_tokenizer_eos(enc->clip_tok);
        out_vec = g_new(float, enc->vec_dim);
        ok = rd_clip_model_forward(enc->clip, clip_ids, clip_len, eos, NULL, out_vec, &clip_peak,
                                   error);
    }
    if (ok && g_cancellable_is_cancelled(cancellable)) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_CANCELLED, "Text encoding cancelled");
        ok = FALSE;
    }
    ok = ok && ensure_t5(enc, error);
    if (ok) {
        out_txt = g_try_new(float, (size_t)t5_len * enc->txt_dim);
        if (!out_txt)
            g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_OUT_OF_MEMORY,
                        "Not enough memory for the T5 output");
        ok = out_txt &&
             rd_t5_model_forward(enc->t5, t5_ids, t5_len, out_txt, &t5_peak, cancellable, error);
    }
    size_t clip_weights = rd_clip_model_weight_bytes(enc->clip);
    size_t t5_weights = enc->t5 ? rd_t5_model_weight_bytes(enc->t5) : 0;
    local.peak_bytes =
        MAX(clip_weights + t5_weights + clip_peak, clip_weights + t5_weights + t5_peak);
    if (release_t5)
        g_clear_pointer(&enc->t5, rd_t5_model_free);
    g_free(clip_ids);
    g_free(t5_ids);
    if (!ok) {
        g_free(out_vec);
        g_free(out_txt);
        return FALSE;
    }
    *txt = out_txt;
    *vec = out_vec;
    if (info)
        *info = local;
    return TRUE;
}

gboolean rd_text_encoders_check_loras(RdTextEncoders *enc, RdLoraFile *const *files, int n,
                                      GError **error)
{
    g_autofree double *ones = g_new(double, MAX(n, 1));
    for (int i = 0; i < n; i++)
        ones[i] = 1.0;
    if (enc && enc->clip)
        return rd_clip_model_set_loras(enc->clip, files, ones, n, TRUE, error);
    for (int i = 0; i < n; i++)
        if (rd_lora_count_part(files[i], RD_LORA_CLIP_L) > 0) {
            g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                        "LoRA %s has CLIP-L parts but this model has no CLIP-L to apply them to",
                        files[i]->path);
            return FALSE;
        }
    return TRUE;
}

gboolean rd_text_encoders_set_loras(RdTextEncoders *enc, RdLoraFile *const *files,
                                    const double *strengths, int n, GError **error)
{
    if (!enc || !enc->clip)
        return TRUE;
    return rd_clip_model_set_loras(enc->clip, files, strengths, n, FALSE, error);
}
