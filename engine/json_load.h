/* Loading JSON safely: json-glib parses recursively without a depth limit, so a file of a few
 * hundred kilobytes of "[[[[..." overflows the stack. Every JSON the engine reads goes through
 * these functions, which check the nesting depth (a linear scan that respects strings and their
 * escapes) and the size before json-glib sees the text. */
#pragma once

#include <json-glib/json-glib.h>

/* Deeper than any real config, tokenizer, safetensors header or parameter record (at most 6). */
#define RD_JSON_MAX_DEPTH 64
/* Larger than any tokenizer.json or index we read (T5's is 2.4 MB). */
#define RD_JSON_MAX_FILE_BYTES (64u << 20)

/* FALSE with RESDIT_ERROR_FORMAT when text (len bytes, or up to its NUL when len < 0) nests
 * arrays and objects deeper than max_depth. Brackets inside strings do not count. */
gboolean rd_json_check_depth(const char *text, gssize len, int max_depth, GError **error);

/* json_parser_load_from_data after the depth check. The error message says what is wrong but not
 * which file: callers prefix it with the file name. */
gboolean rd_json_load_data(JsonParser *parser, const char *text, gssize len, GError **error);

/* Reads path (at most RD_JSON_MAX_FILE_BYTES), checks the depth, parses. */
gboolean rd_json_load_file(JsonParser *parser, const char *path, GError **error);

/* Typed members without json-glib's criticals on a wrong type: FALSE (or NULL) when o is NULL or
 * the member is missing or of another type. A double member accepts integers too. */
gboolean rd_json_get_int(JsonObject *o, const char *name, gint64 *out);
gboolean rd_json_get_double(JsonObject *o, const char *name, double *out);
gboolean rd_json_get_bool(JsonObject *o, const char *name, gboolean *out);
const char *rd_json_get_string(JsonObject *o, const char *name);
JsonArray *rd_json_get_array(JsonObject *o, const char *name);
JsonObject *rd_json_get_object(JsonObject *o, const char *name);
/* The same for array elements (FALSE or NULL when index is out of range). */
gboolean rd_json_element_int(JsonArray *a, guint index, gint64 *out);
gboolean rd_json_element_double(JsonArray *a, guint index, double *out);
const char *rd_json_element_string(JsonArray *a, guint index);
JsonArray *rd_json_element_array(JsonArray *a, guint index);
JsonObject *rd_json_element_object(JsonArray *a, guint index);
