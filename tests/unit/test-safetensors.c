/* The safetensors reader and writer: round trips, sharded checkpoints and every bad-file case
 * giving a clear error that names the file or tensor. */
#include <glib/gstdio.h>
#include <string.h>

#include "resdit.h"
#include "safetensors.h"
#include "test-util.h"

static char *tmpdir;

static char *path_in_tmp(const char *name)
{
    return g_build_filename(tmpdir, name, NULL);
}

/* A file made of an 8-byte length, the header text and `data_len` data bytes. */
static char *raw_file(const char *name, const char *header, guint64 declared_len, size_t data_len)
{
    char *path = path_in_tmp(name);
    GString *s = g_string_new(NULL);
    guint64 len = GUINT64_TO_LE(declared_len);
    g_string_append_len(s, (const char *)&len, 8);
    g_string_append(s, header);
    for (size_t i = 0; i < data_len; i++)
        g_string_append_c(s, (char)(i * 13 + 1));
    g_assert_true(g_file_set_contents(path, s->str, (gssize)s->len, NULL));
    g_string_free(s, TRUE);
    return path;
}

static char *file_with_header(const char *name, const char *header, size_t data_len)
{
    return raw_file(name, header, strlen(header), data_len);
}

static void expect_error(const char *path, int code, const char *needle)
{
    g_autoptr(GError) error = NULL;
    RdSafetensors *st = rd_safetensors_open(path, &error);
    g_assert_null(st);
    g_assert_error(error, RESDIT_ERROR, code);
    if (!strstr(error->message, needle))
        g_error("message '%s' does not mention '%s'", error->message, needle);
}

static void test_round_trip(void)
{
    float a[6];
    uint16_t b[4];
    tu_fill_uniform(a, 6, -3, 3, 1);
    for (int i = 0; i < 4; i++)
        b[i] = rd_f32_to_bf16(a[i]);
    g_autofree char *path = path_in_tmp("round.safetensors");
    RdSafetensorsWriter *w = rd_safetensors_writer_new();
    rd_safetensors_writer_add(w, "a", RD_F32, 2, (int64_t[]){2, 3}, a);
    rd_safetensors_writer_add(w, "layer.0.b", RD_BF16, 1, (int64_t[]){4}, b);
    g_autoptr(GError) error = NULL;
    g_assert_true(rd_safetensors_writer_save(w, path, &error));
    rd_safetensors_writer_free(w);

    RdSafetensors *st = rd_safetensors_open(path, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(rd_safetensors_count(st), ==, 2);
    const RdTensorInfo *ta = rd_safetensors_find(st, "a"), *tb = rd_safetensors_find(st, "layer.0.b");
    g_assert_cmpint(ta->dtype, ==, RD_F32);
    g_assert_cmpint(ta->ndim, ==, 2);
    g_assert_cmpint(ta->shape[1], ==, 3);
    tu_assert_close("a", ta->data, a, 6, 0, 0);
    g_assert_cmpint(tb->dtype, ==, RD_BF16);
    g_assert_cmpmem(tb->data, 8, b, 8);
    g_assert_null(rd_safetensors_find(st, "missing"));
    rd_safetensors_close(st);
}

static void test_sharded(void)
{
    g_autofree char *dir = path_in_tmp("sharded");
    g_mkdir_with_parents(dir, 0755);
    float x[3] = {1.5f, -2, 3}, y[2] = {4, 5.25f};
    const char *names[2] = {"x", "y"};
    float *datas[2] = {x, y};
    int64_t lens[2] = {3, 2};
    for (int i = 0; i < 2; i++) {
        g_autofree char *shard = g_strdup_printf("%s/model-0000%d-of-00002.safetensors", dir, i + 1);
        RdSafetensorsWriter *w = rd_safetensors_writer_new();
        rd_safetensors_writer_add(w, names[i], RD_F32, 1, &lens[i], datas[i]);
        g_assert_true(rd_safetensors_writer_save(w, shard, NULL));
        rd_safetensors_writer_free(w);
    }
    g_autofree char *index = g_build_filename(dir, "model.safetensors.index.json", NULL);
    const char *json = "{\"metadata\": {}, \"weight_map\": {\"x\": \"model-00001-of-00002.safetensors\","
                       " \"y\": \"model-00002-of-00002.safetensors\"}}";
    g_assert_true(g_file_set_contents(index, json, -1, NULL));
    g_autoptr(GError) error = NULL;
    RdSafetensors *st = rd_safetensors_open(dir, &error); /* the folder resolves to the index */
    g_assert_no_error(error);
    tu_assert_close("x", rd_safetensors_find(st, "x")->data, x, 3, 0, 0);
    tu_assert_close("y", rd_safetensors_find(st, "y")->data, y, 2, 0, 0);
    rd_safetensors_close(st);

    const char *bad = "{\"weight_map\": {\"x\": \"model-00001-of-00002.safetensors\","
                      " \"z\": \"model-00002-of-00002.safetensors\"}}";
    g_assert_true(g_file_set_contents(index, bad, -1, NULL));
    expect_error(index, RESDIT_ERROR_MODEL, "z");

    /* a shard name that is not a string (found by the fuzzer): an error, not a critical */
    const char *not_string[] = {"{\"weight_map\": {\"x\": {}}}", "{\"weight_map\": {\"x\": [1]}}",
                                "{\"weight_map\": {\"x\": 7}}", "{\"weight_map\": {\"x\": null}}"};
    for (size_t i = 0; i < G_N_ELEMENTS(not_string); i++) {
        g_assert_true(g_file_set_contents(index, not_string[i], -1, NULL));
        expect_error(index, RESDIT_ERROR_FORMAT, "bad shard name for x");
    }
}

static void test_bad_files(void)
{
    g_autofree char *missing = path_in_tmp("does-not-exist.safetensors");
    expect_error(missing, RESDIT_ERROR_IO, "does-not-exist");

    g_autofree char *tiny = path_in_tmp("tiny.safetensors");
    g_assert_true(g_file_set_contents(tiny, "abc", 3, NULL));
    expect_error(tiny, RESDIT_ERROR_FORMAT, "truncated");

    g_autofree char *long_header = raw_file("long.safetensors", "{}", 1u << 20, 0);
    expect_error(long_header, RESDIT_ERROR_FORMAT, "header length");

    g_autofree char *not_json = file_with_header("notjson.safetensors", "{\"a\": [", 0);
    expect_error(not_json, RESDIT_ERROR_FORMAT, "not valid JSON");

    g_autofree char *no_dtype = file_with_header(
        "nodtype.safetensors", "{\"w\": {\"shape\": [2], \"data_offsets\": [0, 8]}}", 8);
    expect_error(no_dtype, RESDIT_ERROR_FORMAT, "tensor w: missing dtype");

    g_autofree char *unknown = file_with_header(
        "unknown.safetensors",
        "{\"w\": {\"dtype\": \"Q4_K\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8);
    expect_error(unknown, RESDIT_ERROR_FORMAT, "unknown dtype Q4_K");

    g_autofree char *size = file_with_header(
        "size.safetensors", "{\"w\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}",
        8);
    expect_error(size, RESDIT_ERROR_FORMAT, "do not match its shape");

    g_autofree char *truncated = file_with_header(
        "trunc.safetensors",
        "{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 10);
    expect_error(truncated, RESDIT_ERROR_FORMAT, "truncated");

    g_autofree char *overlap = file_with_header(
        "overlap.safetensors",
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
        " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}",
        12);
    expect_error(overlap, RESDIT_ERROR_FORMAT, "overlap");

    g_autofree char *negative = file_with_header(
        "neg.safetensors", "{\"w\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}",
        4);
    expect_error(negative, RESDIT_ERROR_FORMAT, "bad shape");

    g_autofree char *array = file_with_header("array.safetensors", "[1, 2]", 0);
    expect_error(array, RESDIT_ERROR_FORMAT, "not a JSON object");

    g_autofree char *empty_dir = path_in_tmp("empty");
    g_mkdir_with_parents(empty_dir, 0755);
    expect_error(empty_dir, RESDIT_ERROR_MODEL, "no .safetensors");
}

static void test_write_failure_leaves_nothing(void)
{
    g_autofree char *path = g_build_filename(tmpdir, "no-such-dir", "out.safetensors", NULL);
    float v = 1;
    RdSafetensorsWriter *w = rd_safetensors_writer_new();
    rd_safetensors_writer_add(w, "v", RD_F32, 1, (int64_t[]){1}, &v);
    g_autoptr(GError) error = NULL;
    g_assert_false(rd_safetensors_writer_save(w, path, &error));
    g_assert_nonnull(error);
    g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
    rd_safetensors_writer_free(w);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    tmpdir = g_dir_make_tmp("resdit-st-XXXXXX", NULL);
    g_test_add_func("/safetensors/round-trip", test_round_trip);
    g_test_add_func("/safetensors/sharded", test_sharded);
    g_test_add_func("/safetensors/bad-files", test_bad_files);
    g_test_add_func("/safetensors/write-failure", test_write_failure_leaves_nothing);
    int status = g_test_run();
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        g_warning("could not remove %s", tmpdir);
    g_free(tmpdir);
    return status;
}
