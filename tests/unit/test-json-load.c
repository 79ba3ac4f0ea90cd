/* JSON depth limits (rd_json_check_depth) and every engine site that loads JSON: a few hundred
 * kilobytes of "[[[[" must give an error that names the file, not overflow the stack. */
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "json_load.h"
#include "resdit.h"
#include "safetensors.h"
#include "test-util.h"
#include "vae.h"

#define DEEP 200000

static char *tmpdir;

/* n opening brackets (alternating [ and {"k":) then the matching closers: valid JSON. */
static char *deep_json(int n)
{
    GString *s = g_string_new(NULL);
    for (int i = 0; i < n; i++)
        g_string_append(s, i % 2 ? "{\"k\": " : "[");
    g_string_append(s, "1");
    for (int i = n - 1; i >= 0; i--)
        g_string_append_c(s, i % 2 ? '}' : ']');
    return g_string_free(s, FALSE);
}

static void assert_deep_error(const GError *error, const char *file)
{
    g_assert_nonnull(error);
    if (!strstr(error->message, "nest deeper") || (file && !strstr(error->message, file)))
        g_error("message '%s' does not say the nesting is too deep in %s", error->message,
                file ? file : "(data)");
}

static void test_depth_scan(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *ok = deep_json(RD_JSON_MAX_DEPTH);
    g_assert_true(rd_json_check_depth(ok, -1, RD_JSON_MAX_DEPTH, &error));
    g_assert_no_error(error);
    g_autofree char *deep = deep_json(RD_JSON_MAX_DEPTH + 1);
    g_assert_false(rd_json_check_depth(deep, -1, RD_JSON_MAX_DEPTH, &error));
    assert_deep_error(error, NULL);
    g_clear_error(&error);
    /* brackets inside strings, escaped quotes and backslashes do not count */
    const char *strings = "[\"[[[[\\\"[[[[\", \"\\\\\", \"{{{{\"]";
    g_assert_true(rd_json_check_depth(strings, -1, 2, &error));
    g_assert_no_error(error);
    g_assert_false(rd_json_check_depth("[[[\"]\"]]]", -1, 2, &error));
    g_clear_error(&error);
    /* the length bounds the scan: the NUL and what follows are not read */
    g_assert_true(rd_json_check_depth("[[]][[[[[[", 4, 2, &error));
    g_assert_no_error(error);

    g_autoptr(JsonParser) parser = json_parser_new();
    g_autofree char *huge = deep_json(DEEP);
    g_assert_false(rd_json_load_data(parser, huge, -1, &error));
    assert_deep_error(error, NULL);
}

static void test_safetensors_header(void)
{
    g_autofree char *deep = deep_json(DEEP);
    g_autofree char *header = g_strconcat("{\"w\": ", deep, "}", NULL);
    GPtrArray *tensors = g_ptr_array_new();
    g_autoptr(GError) error = NULL;
    g_assert_false(rd_safetensors_parse_header(header, strlen(header), 0, "deep.safetensors",
                                               tensors, &error));
    assert_deep_error(error, "deep.safetensors");
    g_assert_cmpuint(tensors->len, ==, 0);
    g_ptr_array_free(tensors, TRUE);
}

static void test_safetensors_index(void)
{
    g_autofree char *path = g_build_filename(tmpdir, "model.safetensors.index.json", NULL);
    g_autofree char *deep = deep_json(DEEP);
    g_assert_true(g_file_set_contents(path, deep, -1, NULL));
    g_autoptr(GError) error = NULL;
    g_assert_null(rd_safetensors_open(path, &error));
    assert_deep_error(error, path);
}

static void test_vae_config(void)
{
    g_autofree char *dir = g_build_filename(tmpdir, "vae", NULL);
    g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
    g_autofree char *path = g_build_filename(dir, "config.json", NULL);
    g_autofree char *deep = deep_json(DEEP);
    g_assert_true(g_file_set_contents(path, deep, -1, NULL));
    RdBackend *be = rd_backend_cpu_new();
    g_autoptr(GError) error = NULL;
    g_assert_null(rd_vae_load(dir, be, &error));
    assert_deep_error(error, path);
    g_clear_error(&error);
    /* values are checked too: zero GroupNorm groups used to divide by zero */
    g_assert_true(g_file_set_contents(path, "{\"norm_num_groups\": 0}", -1, NULL));
    g_assert_null(rd_vae_load(dir, be, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL);
    g_assert_nonnull(strstr(error->message, "norm_num_groups"));
    g_assert_nonnull(strstr(error->message, path));
    g_clear_error(&error);
    g_assert_true(g_file_set_contents(path, "{\"scaling_factor\": \"big\"}", -1, NULL));
    g_assert_null(rd_vae_load(dir, be, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL);
    g_assert_nonnull(strstr(error->message, "scaling_factor"));
    be->destroy(be);
}

static void test_job_record(void)
{
    g_autofree char *deep = deep_json(DEEP);
    g_autofree char *record = g_strconcat("{\"generator\": \"resdit\", \"x\": ", deep, "}", NULL);
    ResditJobParams p;
    resdit_job_params_init(&p);
    g_autoptr(GError) error = NULL;
    g_assert_false(resdit_job_params_from_json(&p, record, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_FORMAT);
    resdit_job_params_clear(&p);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    tmpdir = g_dir_make_tmp("resdit-json-XXXXXX", NULL);
    g_test_add_func("/json/depth-scan", test_depth_scan);
    g_test_add_func("/json/safetensors-header", test_safetensors_header);
    g_test_add_func("/json/safetensors-index", test_safetensors_index);
    g_test_add_func("/json/vae-config", test_vae_config);
    g_test_add_func("/json/job-record", test_job_record);
    int status = g_test_run();
    g_autofree char *rm = g_strdup_printf("rm -rf '%s'", tmpdir);
    if (system(rm) != 0)
        g_printerr("could not remove %s\n", tmpdir);
    g_free(tmpdir);
    return status;
}
