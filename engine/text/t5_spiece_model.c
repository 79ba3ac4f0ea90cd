/* Reads SentencePiece's spiece.model (a ModelProto protobuf) into the tokenizer T5TokenizerFast
 * would convert it to: the pieces plus 100 <extra_id_N> (N from 99 down), the precompiled
 * normaliser, strip right, runs of spaces to one marker, Metaspace. */
#include <math.h>
#include <string.h>

#include "resdit.h"
#include "t5_tokenizer_private.h"
#include "tokenizer_data.h"

#define EXTRA_IDS 100
#define PIECE_UNKNOWN 2

typedef struct {
    const guint8 *p, *end;
    gboolean bad;
} Reader;

static guint64 read_varint(Reader *r)
{
    guint64 v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) {
            r->bad = TRUE;
            return 0;
        }
        guint8 b = *r->p++;
        v |= (guint64)(b & 0x7F) << shift;
        if (!(b & 0x80))
            return v;
    }
    r->bad = TRUE;
    return 0;
}

/* Reads one field header; for length-delimited fields sets *sub to the payload. */
static gboolean next_field(Reader *r, int *field, int *wire, Reader *sub, guint32 *fixed32)
{
    if (r->p >= r->end || r->bad)
        return FALSE;
    guint64 key = read_varint(r);
    *field = (int)(key >> 3);
    *wire = (int)(key & 7);
    switch (*wire) {
    case 0:
        *fixed32 = (guint32)read_varint(r);
        break;
    case 1:
        if (r->end - r->p < 8)
            r->bad = TRUE;
        else
            r->p += 8;
        break;
    case 2: {
        guint64 len = read_varint(r);
        if (r->bad || len > (guint64)(r->end - r->p)) {
            r->bad = TRUE;
            break;
        }
        *sub = (Reader){r->p, r->p + len, FALSE};
        r->p += len;
        break;
    }
    case 5:
        if (r->end - r->p < 4) {
            r->bad = TRUE;
            break;
        }
        memcpy(fixed32, r->p, 4);
        *fixed32 = GUINT32_FROM_LE(*fixed32);
        r->p += 4;
        break;
    default:
        r->bad = TRUE;
    }
    return !r->bad;
}

static void read_piece(RdT5Tokenizer *tok, Reader *r)
{
    char *piece = NULL;
    float score = 0.0f;
    int type = 1, field, wire;
    Reader sub;
    guint32 v;
    while (next_field(r, &field, &wire, &sub, &v)) {
        if (field == 1 && wire == 2) {
            g_free(piece); /* a repeated field: the last one counts */
            piece = g_strndup((const char *)sub.p, (gsize)(sub.end - sub.p));
        }
        else if (field == 2 && wire == 5)
            memcpy(&score, &v, 4);
        else if (field == 3 && wire == 0)
            type = (int)v;
    }
    if (!piece || !g_utf8_validate(piece, -1, NULL) || !isfinite(score)) {
        r->bad = TRUE;
        g_free(piece);
        return;
    }
    if (type == PIECE_UNKNOWN && tok->unk_id < 0)
        tok->unk_id = tok->n_pieces;
    t5_tokenizer_add_piece(tok, piece, (double)score);
    g_free(piece);
}

static gboolean read_normalizer(RdT5Tokenizer *tok, Reader *r, const char *path, GError **error)
{
    int field, wire;
    Reader sub;
    guint32 v;
    while (next_field(r, &field, &wire, &sub, &v))
        if (field == 2 && wire == 2 && sub.end > sub.p) {
            rd_charsmap_free(tok->charsmap); /* a repeated field: the last one counts */
            tok->charsmap = rd_charsmap_new(sub.p, (gsize)(sub.end - sub.p), path, error);
            if (!tok->charsmap)
                return FALSE;
        }
    return TRUE;
}

gboolean t5_load_spiece_model(RdT5Tokenizer *tok, const char *path, GError **error)
{
    char *data;
    gsize size;
    if (!rd_tokenizer_read_file(path, &data, &size, error))
        return FALSE;
    Reader r = {(const guint8 *)data, (const guint8 *)data + size, FALSE};
    int field, wire;
    Reader sub;
    guint32 v;
    gboolean ok = TRUE;
    while (ok && next_field(&r, &field, &wire, &sub, &v)) {
        if (field == 1 && wire == 2) {
            read_piece(tok, &sub);
            r.bad |= sub.bad;
        } else if (field == 3 && wire == 2) {
            ok = read_normalizer(tok, &sub, path, error);
        }
    }
    g_free(data);
    if (!ok)
        return FALSE;
    if (r.bad || tok->n_pieces == 0) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_TOKENIZER,
                    "%s is not a SentencePiece model (spiece.model)", path);
        return FALSE;
    }
    int specials[] = {tok->unk_id, -1, -1};
    for (int i = 0; i < tok->n_pieces; i++) {
        const char *piece = tok->pieces->pdata[i];
        if (strcmp(piece, "<pad>") == 0 || strcmp(piece, "</s>") == 0)
            specials[strcmp(piece, "<pad>") == 0 ? 1 : 2] = i;
    }
    for (int i = 0; i < 3; i++)
        if (specials[i] >= 0)
            t5_tokenizer_add_special(tok, tok->pieces->pdata[specials[i]], specials[i], FALSE,
                                     FALSE);
    for (int n = EXTRA_IDS - 1; n >= 0; n--) {
        char *name = g_strdup_printf("<extra_id_%d>", n);
        t5_tokenizer_add_special(tok, name, tok->n_pieces, FALSE, FALSE);
        t5_tokenizer_add_piece(tok, name, 0.0);
        g_free(name);
    }
    if (tok->charsmap)
        t5_tokenizer_add_step(tok, T5_NORM_PRECOMPILED, FALSE, FALSE, NULL, NULL);
    t5_tokenizer_add_step(tok, T5_NORM_STRIP, FALSE, TRUE, NULL, NULL);
    t5_tokenizer_add_step(tok, T5_NORM_REPLACE_SPACES, FALSE, FALSE, NULL, "\xE2\x96\x81");
    return TRUE;
}
