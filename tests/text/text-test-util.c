#include "text-test-util.h"

#include "test-util.h"

char *tt_path(const char *name)
{
    return g_test_build_filename(G_TEST_DIST, "data", "text", name, NULL);
}

JsonParser *tt_load_json(const char *name)
{
    char *path = tt_path(name);
    JsonParser *parser = json_parser_new();
    GError *error = NULL;
    if (!json_parser_load_from_file(parser, path, &error))
        g_error("cannot load %s: %s", path, error->message);
    g_free(path);
    return parser;
}

static char *ids_string(const int32_t *ids, int n)
{
    GString *s = g_string_new("[");
    for (int i = 0; i < n; i++)
        g_string_append_printf(s, i ? ", %d" : "%d", ids[i]);
    g_string_append_c(s, ']');
    return g_string_free(s, FALSE);
}

void tt_assert_ids(const char *what, int index, const char *prompt, const int32_t *got, int n,
                   JsonArray *want)
{
    gboolean same = (int)json_array_get_length(want) == n;
    for (int i = 0; same && i < n; i++)
        same = json_array_get_int_element(want, i) == got[i];
    if (same)
        return;
    int32_t *ref = g_new(int32_t, json_array_get_length(want) + 1);
    for (guint i = 0; i < json_array_get_length(want); i++)
        ref[i] = (int32_t)json_array_get_int_element(want, i);
    char *a = ids_string(got, n), *b = ids_string(ref, (int)json_array_get_length(want));
    g_error("%s: prompt %d \"%s\"\n  got       %s\n  reference %s", what, index, prompt, a, b);
}

RdBackend *tt_backend_new(void)
{
    if (g_strcmp0(g_getenv("RESDIT_TEST_BACKEND"), "cuda") != 0)
        return rd_backend_cpu_new();
    GError *error = NULL;
    RdBackend *be = rd_backend_cuda_new(&error);
    if (!be) {
        char *msg = g_strdup_printf("CUDA backend unavailable: %s", error->message);
        g_test_skip(msg);
        g_free(msg);
        g_error_free(error);
    }
    return be;
}

double tt_encoder_bound(void)
{
    return tu_network_bound(6 * 2 + 2, 512, TU_U_F32);
}
