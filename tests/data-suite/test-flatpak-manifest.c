/* data suite: the Flatpak manifests parse, pin every source and agree with the app's data files. */
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>

static char *source_path(const char *relative)
{
    const char *root = g_getenv("SOURCE_ROOT");
    g_assert_nonnull(root);
    return g_build_filename(root, relative, NULL);
}

static JsonNode *parse_file(const char *path)
{
    GError *error = NULL;
    JsonParser *parser = json_parser_new();
    json_parser_load_from_file(parser, path, &error);
    g_assert_no_error(error);
    JsonNode *root = json_node_copy(json_parser_get_root(parser));
    g_object_unref(parser);
    g_assert_true(JSON_NODE_HOLDS_OBJECT(root));
    return root;
}

static gboolean is_hex(const char *text, gsize length)
{
    if (text == NULL || strlen(text) != length)
        return FALSE;
    for (gsize i = 0; i < length; i++)
        if (!g_ascii_isxdigit(text[i]))
            return FALSE;
    return TRUE;
}

static void assert_source_pinned(JsonObject *source, gboolean allow_dir, const char *module)
{
    const char *type = json_object_get_string_member_with_default(source, "type", "");
    const char *url = json_object_get_string_member_with_default(source, "url", NULL);
    const char *path = json_object_get_string_member_with_default(source, "path", NULL);
    if (g_str_equal(type, "archive") || g_str_equal(type, "file")) {
        const char *sha = json_object_get_string_member_with_default(source, "sha256", NULL);
        if (!(url != NULL || path != NULL) || !is_hex(sha, 64))
            g_error("module %s: %s source without url/path and a sha256", module, type);
        if (url != NULL && !g_str_has_prefix(url, "https://"))
            g_error("module %s: %s is not https", module, url);
    } else if (g_str_equal(type, "git")) {
        const char *commit = json_object_get_string_member_with_default(source, "commit", NULL);
        if (url == NULL || !is_hex(commit, 40))
            g_error("module %s: git source without url and a full commit id", module);
    } else if (g_str_equal(type, "dir")) {
        if (!allow_dir)
            g_error("module %s: a local dir source is only allowed in the .Devel manifest", module);
    } else if (g_str_equal(type, "patch")) {
        if (path == NULL)
            g_error("module %s: patch without a local path", module);
    } else {
        g_error("module %s: source type '%s' cannot be checked for pinning", module, type);
    }
}

static void check_modules(JsonArray *modules, const char *dir, gboolean allow_dir, guint *count)
{
    for (guint i = 0; i < json_array_get_length(modules); i++) {
        JsonNode *node = json_array_get_element(modules, i);
        JsonNode *owned = NULL;
        if (JSON_NODE_HOLDS_VALUE(node)) {
            char *path = g_build_filename(dir, json_node_get_string(node), NULL);
            owned = parse_file(path);
            g_free(path);
            node = owned;
        }
        JsonObject *module = json_node_get_object(node);
        const char *name = json_object_get_string_member(module, "name");
        JsonArray *sources = json_object_get_array_member(module, "sources");
        g_assert_nonnull(sources);
        g_assert_cmpuint(json_array_get_length(sources), >, 0);
        for (guint s = 0; s < json_array_get_length(sources); s++) {
            assert_source_pinned(json_array_get_object_element(sources, s), allow_dir, name);
            (*count)++;
        }
        if (json_object_has_member(module, "modules"))
            check_modules(json_object_get_array_member(module, "modules"), dir, allow_dir, count);
        if (owned != NULL)
            json_node_unref(owned);
    }
}

static JsonNode *load_manifest(const char *id, char **dir)
{
    char *name = g_strconcat("flatpak/", id, ".json", NULL);
    char *path = source_path(name);
    JsonNode *root = parse_file(path);
    *dir = g_path_get_dirname(path);
    g_free(name);
    g_free(path);
    return root;
}

static void check_manifest(const char *id, gboolean devel)
{
    char *dir = NULL;
    JsonNode *root = load_manifest(id, &dir);
    JsonObject *manifest = json_node_get_object(root);
    const char *manifest_id = json_object_has_member(manifest, "id")
                                  ? json_object_get_string_member(manifest, "id")
                                  : json_object_get_string_member(manifest, "app-id");
    g_assert_cmpstr(manifest_id, ==, id);
    g_assert_cmpstr(json_object_get_string_member(manifest, "command"), ==, "resdit-studio");
    g_assert_cmpstr(json_object_get_string_member(manifest, "runtime"), ==, "org.gnome.Platform");
    g_assert_cmpstr(json_object_get_string_member(manifest, "sdk"), ==, "org.gnome.Sdk");

    JsonArray *args = json_object_get_array_member(manifest, "finish-args");
    for (guint i = 0; i < json_array_get_length(args); i++) {
        const char *arg = json_array_get_string_element(args, i);
        g_assert_false(g_str_has_prefix(arg, "--share=network"));
        g_assert_false(g_str_equal(arg, "--filesystem=home") ||
                       g_str_equal(arg, "--filesystem=host"));
        g_assert_false(g_str_equal(arg, "--device=all"));
    }

    guint sources = 0;
    JsonArray *modules = json_object_get_array_member(manifest, "modules");
    check_modules(modules, dir, devel, &sources);
    g_assert_cmpuint(sources, >=, 3);

    /* The app module builds the variant whose app id is this manifest's id. */
    JsonObject *app = json_array_get_object_element(modules, json_array_get_length(modules) - 1);
    JsonArray *opts = json_object_get_array_member(app, "config-opts");
    gboolean development = FALSE;
    for (guint i = 0; i < json_array_get_length(opts); i++)
        development |= g_str_equal(json_array_get_string_element(opts, i), "-Ddevelopment=true");
    g_assert_true(development == devel);

    json_node_unref(root);
    g_free(dir);
}

static void test_release_manifest(void)
{
    check_manifest("io.github.resdit.Studio", FALSE);
}

static void test_devel_manifest(void)
{
    check_manifest("io.github.resdit.Studio.Devel", TRUE);
}

static char *read_source(const char *relative)
{
    char *path = source_path(relative);
    char *text = NULL;
    GError *error = NULL;
    g_file_get_contents(path, &text, NULL, &error);
    g_assert_no_error(error);
    g_free(path);
    return text;
}

/* The data files use the release id in their names and @APP_ID@ inside, which meson sets to the
 * .Devel id exactly when -Ddevelopment=true, the option the .Devel manifest passes. */
static void test_ids_match_data_files(void)
{
    char *desktop = read_source("data/io.github.resdit.Studio.desktop.in.in");
    g_assert_nonnull(strstr(desktop, "\nIcon=@APP_ID@\n"));
    g_assert_nonnull(strstr(desktop, "\nExec=resdit-studio\n"));
    char *metainfo = read_source("data/io.github.resdit.Studio.metainfo.xml.in.in");
    g_assert_nonnull(strstr(metainfo, "<id>@APP_ID@</id>"));
    g_assert_nonnull(
        strstr(metainfo, "<launchable type=\"desktop-id\">@APP_ID@.desktop</launchable>"));
    char *schema = read_source("data/io.github.resdit.Studio.gschema.xml");
    g_assert_nonnull(strstr(
        schema, "<schema id=\"io.github.resdit.Studio\" path=\"/io/github/resdit/Studio/\">"));
    char *meson = read_source("meson.build");
    g_assert_nonnull(strstr(meson, "get_option('development') ? 'io.github.resdit.Studio.Devel' : "
                                   "'io.github.resdit.Studio'"));

    /* The files this build generated carry this build's id, one of the two manifests' ids. */
    const char *built_metainfo = g_getenv("BUILT_METAINFO");
    const char *built_id = g_getenv("BUILT_APP_ID");
    g_assert_nonnull(built_metainfo);
    g_assert_true(g_str_equal(built_id, "io.github.resdit.Studio") ||
                  g_str_equal(built_id, "io.github.resdit.Studio.Devel"));
    char *text = NULL;
    g_assert_true(g_file_get_contents(built_metainfo, &text, NULL, NULL));
    char *id_element = g_strdup_printf("<id>%s</id>", built_id);
    g_assert_nonnull(strstr(text, id_element));
    g_free(id_element);
    g_free(text);
    g_free(desktop);
    g_free(metainfo);
    g_free(schema);
    g_free(meson);
}

static void test_flatpak_builder_show_manifest(void)
{
    char *builder = g_find_program_in_path("flatpak-builder");
    if (builder == NULL) {
        g_test_skip("flatpak-builder is not installed (apt-get install flatpak-builder)");
        return;
    }
    const char *ids[] = {"io.github.resdit.Studio", "io.github.resdit.Studio.Devel"};
    for (gsize i = 0; i < G_N_ELEMENTS(ids); i++) {
        char *name = g_strconcat("flatpak/", ids[i], ".json", NULL);
        char *path = source_path(name);
        char *argv[] = {builder, "--show-manifest", path, NULL};
        char *out = NULL, *err = NULL;
        int status = 0;
        GError *error = NULL;
        /* flatpak-builder leaves a .flatpak-builder folder in its working directory. */
        g_spawn_sync(g_get_tmp_dir(), argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status,
                     &error);
        g_assert_no_error(error);
        if (!g_spawn_check_wait_status(status, NULL))
            g_error("flatpak-builder --show-manifest %s failed: %s", path, err);
        g_assert_nonnull(strstr(out, ids[i]));
        g_free(out);
        g_free(err);
        g_free(path);
        g_free(name);
    }
    g_free(builder);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/flatpak/release-manifest", test_release_manifest);
    g_test_add_func("/flatpak/devel-manifest", test_devel_manifest);
    g_test_add_func("/flatpak/ids-match-data-files", test_ids_match_data_files);
    g_test_add_func("/flatpak/flatpak-builder-show-manifest", test_flatpak_builder_show_manifest);
    return g_test_run();
}
