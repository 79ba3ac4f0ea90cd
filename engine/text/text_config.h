/* config.json of a transformers model folder: small typed readers. */
#pragma once

#include <json-glib/json-glib.h>

/* The parsed config.json next to path (path a folder, or a file inside one); NULL when absent.
 * A config.json that is not JSON is an error. */
JsonObject *rd_text_config_load(const char *path, gboolean *failed, GError **error);
int rd_text_config_int(JsonObject *cfg, const char *name, int fallback);
double rd_text_config_double(JsonObject *cfg, const char *name, double fallback);
const char *rd_text_config_string(JsonObject *cfg, const char *name, const char *fallback);
