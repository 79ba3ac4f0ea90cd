#include "json_load.h"

#include <gio/gio.h>
#include <string.h>

#include "resdit.h"

gboolean rd_json_check_depth(const char *text, gssize len, int max_depth, GError **error)
{
    const size_t n = len < 0 ? strlen(text) : (size_t)len;
    int depth = 0;
    gboolean in_string = FALSE;
    for (size_t i = 0; i < n; i++) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++; /* the escaped character cannot end the string */
            else if (c == '"')
                in_string = FALSE;
            continue;
        }
        switch (c) {
        case '"':
            in_string = TRUE;
            break;
        case '[':
        case '{':
            if (++depth > max_depth) {
                g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_FORMAT,
                            "arrays and objects nest deeper than %d levels (at byte %zu): the "
                            "file is damaged or not what it claims to be",
                            max_depth, i);
                return FALSE;
            }
            break;
        case ']':
        case '}':
            depth--; /* unbalanced closers are json-glib's to report */
            break;
        default:
            break;
        }
    }
    return TRUE;
}

gboolean rd_json_load_data(JsonParser *parser, const char *text, gssize len, GError **error)
{
    return rd_json_check_depth(text, len, RD_JSON_MAX_DEPTH, error) &&
           json_parser_load_from_data(parser, text, len, error);
}

gboolean rd_json_load_file(JsonParser *parser, const char *path, GError **error)
{
    g_autoptr(GFile) file = g_file_new_for_path(path);
    g_autoptr(GFileInfo) info = g_file_query_info(file, G_FILE_ATTRIBUTE_STANDARD_SIZE,
                                                  G_FILE_QUERY_INFO_NONE, NULL, error);
    if (!info)
        return FALSE;
    if (g_file_info_get_size(info) > (goffset)RD_JSON_MAX_FILE_BYTES) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_FORMAT,
                    "%" G_GOFFSET_FORMAT " bytes, more than the %u MB any JSON file of a model "
                    "has: the file is damaged or not what it claims to be",
                    g_file_info_get_size(info), RD_JSON_MAX_FILE_BYTES >> 20);
        return FALSE;
    }
    g_autofree char *text = NULL;
    gsize len = 0;
    if (!g_file_get_contents(path, &text, &len, error))
        return FALSE;
    return rd_json_load_data(parser, text, (gssize)len, error);
}

static JsonNode *member(JsonObject *o, const char *name)
{
    return o ? json_object_get_member(o, name) : NULL;
}

static JsonNode *element(JsonArray *a, guint index)
{
    return a && index < json_array_get_length(a) ? json_array_get_element(a, index) : NULL;
}

static gboolean node_int(JsonNode *n, gint64 *out)
{
    if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64)
        return FALSE;
    *out = json_node_get_int(n);
    return TRUE;
}

static gboolean node_double(JsonNode *n, double *out)
{
    if (!n || !JSON_NODE_HOLDS_VALUE(n))
        return FALSE;
    GType t = json_node_get_value_type(n);
    if (t == G_TYPE_DOUBLE)
        *out = json_node_get_double(n);
    else if (t == G_TYPE_INT64)
        *out = (double)json_node_get_int(n);
    else
        return FALSE;
    return TRUE;
}

static const char *node_string(JsonNode *n)
{
    return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
               ? json_node_get_string(n)
               : NULL;
}

gboolean rd_json_get_int(JsonObject *o, const char *name, gint64 *out)
{
    return node_int(member(o, name), out);
}

gboolean rd_json_get_double(JsonObject *o, const char *name, double *out)
{
    return node_double(member(o, name), out);
}

gboolean rd_json_get_bool(JsonObject *o, const char *name, gboolean *out)
{
    JsonNode *n = member(o, name);
    if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN)
        return FALSE;
    *out = json_node_get_boolean(n);
    return TRUE;
}

const char *rd_json_get_string(JsonObject *o, const char *name)
{
    return node_string(member(o, name));
}

JsonArray *rd_json_get_array(JsonObject *o, const char *name)
{
    JsonNode *n = member(o, name);
    return n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

JsonObject *rd_json_get_object(JsonObject *o, const char *name)
{
    JsonNode *n = member(o, name);
    return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

gboolean rd_json_element_int(JsonArray *a, guint index, gint64 *out)
{
    return node_int(element(a, index), out);
}

gboolean rd_json_element_double(JsonArray *a, guint index, double *out)
{
    return node_double(element(a, index), out);
}

const char *rd_json_element_string(JsonArray *a, guint index)
{
    return node_string(element(a, index));
}

JsonArray *rd_json_element_array(JsonArray *a, guint index)
{
    JsonNode *n = element(a, index);
    return n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

JsonObject *rd_json_element_object(JsonArray *a, guint index)
{
    JsonNode *n = element(a, index);
    return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}
