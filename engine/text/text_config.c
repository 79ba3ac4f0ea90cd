#include "text_config.h"

#include "json_load.h"
#include "resdit.h"

JsonObject *rd_text_config_load(const char *path, gboolean *failed, GError **error)
{
    *failed = FALSE;
    char *dir = g_file_test(path, G_FILE_TEST_IS_DIR) ? g_strdup(path) : NULL;
    if (!dir)
        return NULL; /* single files carry no config: shapes come from the tensors */
    char *file = g_build_filename(dir, "config.json", NULL);
    g_free(dir);
    if (!g_file_test(file, G_FILE_TEST_IS_REGULAR)) {
        g_free(file);
        return NULL;
    }
    JsonParser *parser = json_parser_new();
    GError *local = NULL;
    JsonObject *obj = NULL;
    if (!rd_json_load_file(parser, file, &local)) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_FORMAT, "%s is not valid JSON: %s", file,
                    local->message);
        g_error_free(local);
        *failed = TRUE;
    } else if (json_parser_get_root(parser) &&
               JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
        obj = json_object_ref(json_node_get_object(json_parser_get_root(parser)));
    }
    g_object_unref(parser);
    g_free(file);
    return obj;
}

static JsonNode *value(JsonObject *cfg, const char *name)
{
    JsonNode *n = cfg ? json_object_get_member(cfg, name) : NULL;
    return n && JSON_NODE_HOLDS_VALUE(n) ? n : NULL;
}

int rd_text_config_int(JsonObject *cfg, const char *name, int fallback)
{
    JsonNode *n = value(cfg, name);
    return n && json_node_get_value_type(n) == G_TYPE_INT64 ? (int)json_node_get_int(n) : fallback;
}

double rd_text_config_double(JsonObject *cfg, const char *name, double fallback)
{
    JsonNode *n = value(cfg, name);
    if (!n)
        return fallback;
    GType t = json_node_get_value_type(n);
    return t == G_TYPE_DOUBLE  ? json_node_get_double(n)
           : t == G_TYPE_INT64 ? (double)json_node_get_int(n)
                               : fallback;
}

const char *rd_text_config_string(JsonObject *cfg, const char *name, const char *fallback)
{
    JsonNode *n = value(cfg, name);
    return n && json_node_get_value_type(n) == G_TYPE_STRING ? json_node_get_string(n) : fallback;
}
