#include "precompiled_charsmap.h"

#include <string.h>

#include "resdit.h"
#include "text_unicode.h"

struct RdCharsmap {
    guint32 *units;
    gsize n_units;
    char *normalized; /* NUL-separated replacement strings */
    gsize normalized_size;
};

RdCharsmap *rd_charsmap_new(const guint8 *blob, gsize size, const char *source, GError **error)
{
    guint32 trie_bytes = 0;
    if (size >= 4) {
        memcpy(&trie_bytes, blob, 4);
        trie_bytes = GUINT32_FROM_LE(trie_bytes);
    }
    if (size < 4 || trie_bytes % 4 != 0 || trie_bytes > size - 4 || trie_bytes == 0) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_TOKENIZER,
                    "%s: the precompiled normalisation map is malformed", source);
        return NULL;
    }
    RdCharsmap *map = g_new0(RdCharsmap, 1);
    map->n_units = trie_bytes / 4;
    map->units = g_new(guint32, map->n_units);
    for (gsize i = 0; i < map->n_units; i++) {
        guint32 v;
        memcpy(&v, blob + 4 + i * 4, 4);
        map->units[i] = GUINT32_FROM_LE(v);
    }
    map->normalized_size = size - 4 - trie_bytes;
    map->normalized = g_malloc(map->normalized_size + 1);
    memcpy(map->normalized, blob + 4 + trie_bytes, map->normalized_size);
    map->normalized[map->normalized_size] = '\0';
    return map;
}

void rd_charsmap_free(RdCharsmap *map)
{
    if (!map)
        return;
    g_free(map->units);
    g_free(map->normalized);
    g_free(map);
}

static gboolean unit_has_leaf(guint32 u)
{
    return (u >> 8) & 1;
}
static guint32 unit_value(guint32 u)
{
    return u & ((1u << 31) - 1);
}
static guint32 unit_label(guint32 u)
{
    return u & ((1u << 31) | 0xFF);
}
static guint32 unit_offset(guint32 u)
{
    return (u >> 10) << ((u & (1u << 9)) >> 6);
}

/* The replacement of the shortest key that is a prefix of s[0..len), or NULL (darts-clone's
 * common prefix search; the reference takes its first result). */
static const char *transform(const RdCharsmap *map, const char *s, gsize len)
{
    gsize pos = unit_offset(map->units[0]);
    for (gsize i = 0; i < len; i++) {
        guint8 c = (guint8)s[i];
        if (c == 0)
            break;
        pos ^= c;
        if (pos >= map->n_units)
            return NULL;
        guint32 unit = map->units[pos];
        if (unit_label(unit) != c)
            return NULL;
        pos ^= unit_offset(unit);
        if (pos >= map->n_units)
            return NULL;
        if (unit_has_leaf(unit)) {
            guint32 index = unit_value(map->units[pos]);
            return index < map->normalized_size ? map->normalized + index : NULL;
        }
    }
    return NULL;
}

char *rd_charsmap_normalize(const RdCharsmap *map, const char *text)
{
    GString *out = g_string_sized_new(strlen(text));
    const char *end = text + strlen(text);
    for (const char *g = text; g < end;) {
        gsize glen = rd_grapheme_length(g, end);
        const char *norm = glen < 6 ? transform(map, g, glen) : NULL;
        if (norm) {
            g_string_append(out, norm);
        } else {
            for (const char *p = g; p < g + glen; p = g_utf8_next_char(p)) {
                gsize clen = (gsize)(g_utf8_next_char(p) - p);
                const char *n = transform(map, p, clen);
                if (n)
                    g_string_append(out, n);
                else
                    g_string_append_len(out, p, (gssize)clen);
            }
        }
        g += glen;
    }
    return g_string_free(out, FALSE);
}
