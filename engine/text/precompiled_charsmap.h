/* SentencePiece's precompiled normaliser (the "precompiled_charsmap" of spiece.model and of
 * tokenizer.json's Precompiled normaliser: nmt_nfkc for T5): a double-array trie from UTF-8
 * sequences to their replacements, applied per grapheme cluster as the tokenizers library does. */
#pragma once

#include <glib.h>

typedef struct RdCharsmap RdCharsmap;

/* Parses the blob (copied). NULL with an error naming `source` when it is malformed. */
RdCharsmap *rd_charsmap_new(const guint8 *blob, gsize size, const char *source, GError **error);
void rd_charsmap_free(RdCharsmap *map);
/* Returns the normalised text (valid UTF-8 in, valid UTF-8 out). */
char *rd_charsmap_normalize(const RdCharsmap *map, const char *text);
