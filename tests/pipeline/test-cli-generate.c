/* `resdit generate` and `resdit models` as a user runs them (the binary from $RESDIT_CLI), on the
 * built-in self-test model. */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "flux_model.h"
#include "pipeline-private.h"
#include "safetensors.h"
#include "test-util.h"

static GPtrArray *argv_for(const char *const *args)
{
    GPtrArray *argv = g_ptr_array_new();
    g_ptr_array_add(argv, (gpointer)g_getenv("RESDIT_CLI"));
    for (int i = 0; args[i]; i++)
        g_ptr_array_add(argv, (gpointer)args[i]);
    g_ptr_array_add(argv, NULL);
    return argv;
}

/* On a wrong exit status the command's own words come first: they say why. */
#define assert_status(r, expected)                                                                \
    do {                                                                                           \
        if ((r).status != (expected))                                                              \
            g_printerr("resdit exited with %d; its stderr:\n%s\nits stdout:\n%s\n", (r).status,     \
                       (r).err, (r).out);                                                          \
        g_assert_cmpint((r).status, ==, (expected));                                               \
    } while (0)

static char *temp_dir(void)
{
    g_autoptr(GError) error = NULL;
    char *dir = g_dir_make_tmp("resdit-cli-XXXXXX", &error);
    g_assert_no_error(error);
    return dir;
}

static int count_entries(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    int n = 0;
    while (d && g_dir_read_name(d))
        n++;
    return n;
}

static void test_same_seed_same_file(void)
{
    g_autofree char *dir = temp_dir();
    g_autofree char *a = g_build_filename(dir, "a.png", NULL);
    g_autofree char *b = g_build_filename(dir, "b.png", NULL);
    const char *args_a[] = {"generate", "--selftest", "-p",       "a red fox", "--seed",  "99",
                            "--width",  "192",        "--height", "128",       "--steps", "4",
                            "-q",       "-o",         a,          NULL};
    const char *args_b[] = {"generate", "--selftest", "-p",       "a red fox", "--seed",  "99",
                            "--width",  "192",        "--height", "128",       "--steps", "4",
                            "-q",       "-o",         b,          NULL};
    TuRun ra = tu_run_cli(args_a), rb = tu_run_cli(args_b);
    assert_status(ra, 0);
    assert_status(rb, 0);
    gchar *da, *db;
    gsize la, lb;
    g_assert_true(g_file_get_contents(a, &da, &la, NULL));
    g_assert_true(g_file_get_contents(b, &db, &lb, NULL));
    g_assert_cmpuint(la, ==, lb);
    /* Bit for bit by construction: the same job in the same environment makes the same calls on the
     * same shapes in the same order (each output block is one thread's sgemm). */
    g_assert_true(memcmp(da, db, la) == 0);
    g_assert_nonnull(memmem(da, la, "Seed: 99", 8));
    g_free(da);
    g_free(db);
    tu_run_clear(&ra);
    tu_run_clear(&rb);

    /* A random seed, then --params-from that PNG: the same file again. */
    g_autofree char *c = g_build_filename(dir, "c.png", NULL);
    g_autofree char *d = g_build_filename(dir, "d.png", NULL);
    const char *args_c[] = {"generate", "--selftest", "-p",      "a fox", "--width",  "128",
                            "--height", "192",        "--steps", "3",     "--no-psf", "--shift",
                            "0.7",      "--lowfreq-noise", "0.5", "-q",    "-o",       c,
                            NULL};
    const char *args_d[] = {"generate", "--selftest", "--params-from", c, "-q", "-o", d, NULL};
    TuRun rc = tu_run_cli(args_c), rd = tu_run_cli(args_d);
    assert_status(rc, 0);
    assert_status(rd, 0);
    gchar *dc, *dd;
    gsize lc, ld;
    g_assert_true(g_file_get_contents(c, &dc, &lc, NULL));
    g_assert_true(g_file_get_contents(d, &dd, &ld, NULL));
    g_assert_cmpuint(lc, ==, ld);
    g_assert_true(memcmp(dc, dd, lc) == 0);
    g_assert_nonnull(memmem(dc, lc, "ResDiT ablation: no_psf", 23));
    g_assert_nonnull(memmem(dc, lc, "Low-frequency noise: 0.5", 24));
    g_free(dc);
    g_free(dd);
    tu_run_clear(&rc);
    tu_run_clear(&rd);
    tu_remove_tree(dir);
}

/* Every stdout line is one JSON event; previews land in --preview-dir. */
static void test_json_events_and_previews(void)
{
    g_autofree char *dir = temp_dir();
    g_autofree char *out = g_build_filename(dir, "x.png", NULL);
    g_autofree char *prev = g_build_filename(dir, "frames", NULL);
    const char *args[] = {"generate", "--selftest",
                          "-p",       "x",
                          "--seed",   "5",
                          "--width",  "256",
                          "--height", "256",
                          "--steps",  "5",
                          "--json",   "--preview-dir",
                          prev,       "--preview-size",
                          "32",       "--inspect-branches",
                          "-o",       out,
                          NULL};
    TuRun r = tu_run_cli(args);
    assert_status(r, 0);
    g_auto(GStrv) lines = g_strsplit(g_strchomp(r.out), "\n", -1);
    int progress = 0, previews = 0, extra = 0, done = 0;
    for (char **l = lines; *l; l++) {
        g_autoptr(JsonParser) p = json_parser_new();
        g_assert_true(json_parser_load_from_data(p, *l, -1, NULL));
        JsonObject *o = json_node_get_object(json_parser_get_root(p));
        const char *ev = json_object_get_string_member(o, "event");
        if (g_str_equal(ev, "progress")) {
            progress++;
            g_assert_cmpint(json_object_get_int_member(o, "n_steps"), ==, 5);
        } else if (g_str_equal(ev, "preview")) {
            previews++;
            extra += json_object_get_boolean_member(o, "extra_pass");
            g_assert_true(
                g_file_test(json_object_get_string_member(o, "path"), G_FILE_TEST_IS_REGULAR));
        } else if (g_str_equal(ev, "done")) {
            done++;
            g_assert_cmpstr(json_object_get_string_member(o, "seed"), ==, "5");
            g_assert_cmpstr(json_object_get_string_member(o, "path"), ==, out);
        }
    }
    g_assert_cmpint(progress, >=, 6);
    g_assert_cmpint(previews, ==, 5 + 4); /* one per step, + global and local in 2 fused steps */
    g_assert_cmpint(extra, ==, 4);
    g_assert_cmpint(done, ==, 1);
    g_assert_cmpint(count_entries(prev), ==, 9);
    tu_run_clear(&r);
    tu_remove_tree(dir);
}

/* SIGINT (Ctrl-C) mid-run: exit status 130, no image and no temporary file left. */
static void test_cancel(void)
{
    g_autofree char *dir = temp_dir();
    g_autofree char *out = g_build_filename(dir, "never.png", NULL);
    const char *args[] = {"generate", "--selftest", "-p",  "x",      "--width", "512", "--height",
                          "512",      "--steps",    "200", "--json", "-o",      out,   NULL};
    g_autoptr(GPtrArray) argv = argv_for(args);
    g_autoptr(GError) error = NULL;
    g_autoptr(GSubprocess) proc =
        g_subprocess_newv((const char *const *)argv->pdata, G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
    g_assert_no_error(error);
    g_autoptr(GDataInputStream) lines = g_data_input_stream_new(g_subprocess_get_stdout_pipe(proc));
    /* Wait for the second step to start, then interrupt. */
    int seen = 0;
    while (seen < 3) {
        g_autofree char *line = g_data_input_stream_read_line(lines, NULL, NULL, &error);
        g_assert_no_error(error);
        g_assert_nonnull(line);
        seen += strstr(line, "\"progress\"") != NULL;
    }
    g_subprocess_send_signal(proc, SIGINT);
    g_assert_true(g_subprocess_wait(proc, NULL, &error));
    g_assert_true(g_subprocess_get_if_exited(proc));
    g_assert_cmpint(g_subprocess_get_exit_status(proc), ==, 130);
    g_assert_false(g_file_test(out, G_FILE_TEST_EXISTS));
    g_assert_cmpint(count_entries(dir), ==, 0);
    tu_remove_tree(dir);
}

/* The rows `resdit history list --json` prints, newest first. */
static JsonArray *history_rows(JsonParser *parser)
{
    const char *args[] = {"history", "list", "--json", NULL};
    TuRun r = tu_run_cli(args);
    assert_status(r, 0);
    g_autoptr(GError) error = NULL;
    g_assert_true(json_parser_load_from_data(parser, r.out, -1, &error));
    tu_run_clear(&r);
    return json_node_get_array(json_parser_get_root(parser));
}

/* Every job lands in the history shared with the app, unless --no-history. */
static void test_history(void)
{
    g_autofree char *dir = temp_dir();
    g_autofree char *db = g_build_filename(dir, "history.sqlite3", NULL);
    g_setenv("RESDIT_HISTORY_DB", db, TRUE);
    g_autofree char *out = g_build_filename(dir, "fox.png", NULL);
    const char *kept[] = {"generate", "--selftest", "-p", "a red fox in snow", "--width", "256",
                          "--height", "256", "--seed", "77", "-q", "-o", out, NULL};
    TuRun r = tu_run_cli(kept);
    assert_status(r, 0);
    tu_run_clear(&r);
    g_autofree char *skipped_out = g_build_filename(dir, "skipped.png", NULL);
    const char *skipped[] = {"generate", "--selftest", "-p", "not recorded", "--width", "256",
                             "--height", "256", "-q", "--no-history", "-o", skipped_out, NULL};
    r = tu_run_cli(skipped);
    assert_status(r, 0);
    tu_run_clear(&r);

    g_autoptr(JsonParser) parser = json_parser_new();
    JsonArray *rows = history_rows(parser);
    g_assert_cmpuint(json_array_get_length(rows), ==, 1);
    JsonObject *row = json_array_get_object_element(rows, 0);
    JsonObject *params = json_object_get_object_member(row, "params");
    g_assert_cmpstr(json_object_get_string_member(row, "status"), ==, "done");
    g_assert_cmpstr(json_object_get_string_member(params, "prompt"), ==, "a red fox in snow");
    g_assert_cmpint(json_object_get_int_member(params, "seed"), ==, 77);
    g_assert_cmpint(json_object_get_int_member(params, "width"), ==, 256);
    g_assert_cmpstr(json_object_get_string_member(row, "image_path"), ==, out);
    g_assert_true(json_object_get_boolean_member(row, "has_thumbnail"));
    g_unsetenv("RESDIT_HISTORY_DB");
    tu_remove_tree(dir);
}

static void expect_failure(const char *const *args, int status, const char *needle)
{
    TuRun r = tu_run_cli(args);
    g_test_message("%s", r.err);
    assert_status(r, status);
    g_assert_nonnull(strstr(r.err, needle));
    tu_run_clear(&r);
}

static void test_bad_inputs(void)
{
    g_autofree char *dir = temp_dir();
    g_autofree char *out = g_build_filename(dir, "r.png", NULL);
    /* Not a multiple of 16: rounded, with a note, and the image has the rounded size. */
    const char *round_args[] = {"generate", "--selftest", "-p",  "x",        "--seed",
                                "1",        "--width",    "200", "--height", "120",
                                "--steps",  "2",          "-o",  out,        NULL};
    TuRun r = tu_run_cli(round_args);
    assert_status(r, 0);
    g_assert_nonnull(strstr(r.err, "200x120 is not a multiple of 16 pixels; using 208x128"));
    tu_run_clear(&r);
    g_assert_true(g_file_test(out, G_FILE_TEST_IS_REGULAR));

    const char *sched[] = {"generate", "--selftest",    "--steps", "8",  "--global-steps",
                           "5",        "--local-steps", "5",       "-o", out,
                           NULL};
    expect_failure(sched, 2, "exceed the 8 steps");
    const char *mode_and_sched[] = {"generate",       "--selftest", "--mode", "local",
                                    "--global-steps", "2",          NULL};
    expect_failure(mode_and_sched, 2, "cannot go with --mode");
    const char *bad_mode[] = {"generate", "--selftest", "--mode", "sideways", NULL};
    expect_failure(bad_mode, 2, "expected direct, global, local or fused");
    const char *bad_shift[] = {"generate", "--selftest", "--shift", "lots", NULL};
    expect_failure(bad_shift, 2, "--shift 'lots'");
    const char *bad_seed[] = {"generate", "--selftest", "--seed", "-4", NULL};
    expect_failure(bad_seed, 2, "--seed '-4'");
    const char *huge[] = {"generate", "--selftest", "--width", "20000", NULL};
    expect_failure(huge, 2, "--width '20000': out of range; give a whole number from 16 to 16384");
    const char *bad_size[] = {"generate", "--selftest", "--size", "8k+", NULL};
    expect_failure(bad_size, 2, "--size '8k+'");
    g_autofree char *vae = g_build_filename(dir, "ae.safetensors", NULL);
    const char *missing[] = {"generate", "--vae", vae, "--models-dir", dir, NULL};
    expect_failure(missing, 1, "transformer, clip-l, t5 missing");
    const char *nowhere[] = {"generate", "--model", dir, NULL};
    expect_failure(nowhere, 1, "No FLUX or SD3 model found in");
    const char *stray[] = {"generate", "--selftest", "a", "prompt", NULL};
    expect_failure(stray, 2, "unexpected argument 'a'");
    tu_remove_tree(dir);
}

/* ---- PNG files written by hand ---------------------------------------------------------- */

static guint32 png_crc(const guint8 *data, gsize len, guint32 crc)
{
    for (gsize i = 0; i < len; i++) {
        crc ^= data[i];
        for (int k = 0; k < 8; k++)
            crc = crc & 1 ? 0xedb88320u ^ (crc >> 1) : crc >> 1;
    }
    return crc;
}

static void put_be32(GByteArray *out, guint32 v)
{
    guint8 b[4] = {(guint8)(v >> 24), (guint8)(v >> 16), (guint8)(v >> 8), (guint8)v};
    g_byte_array_append(out, b, 4);
}

static void put_chunk(GByteArray *out, const char *type, const void *data, gsize len)
{
    put_be32(out, (guint32)len);
    guint start = out->len;
    g_byte_array_append(out, (const guint8 *)type, 4);
    g_byte_array_append(out, data, (guint)len);
    put_be32(out, png_crc(out->data + start, len + 4, 0xffffffffu) ^ 0xffffffffu);
}

/* A small PNG whose header claims width x height RGB pixels, with a "resdit" iTXt record and a
 * few bytes of image data: a decoder would allocate the claimed size. */
static void write_claiming_png(const char *path, guint32 width, guint32 height, const char *json)
{
    g_autoptr(GByteArray) png = g_byte_array_new();
    static const guint8 signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    g_byte_array_append(png, signature, 8);
    guint8 ihdr[13] = {(guint8)(width >> 24),
                       (guint8)(width >> 16),
                       (guint8)(width >> 8),
                       (guint8)width,
                       (guint8)(height >> 24),
                       (guint8)(height >> 16),
                       (guint8)(height >> 8),
                       (guint8)height,
                       8,
                       2,
                       0,
                       0,
                       0};
    put_chunk(png, "IHDR", ihdr, sizeof ihdr);
    g_autoptr(GByteArray) itxt = g_byte_array_new();
    g_byte_array_append(itxt, (const guint8 *)"resdit\0\0\0\0\0", 11);
    g_byte_array_append(itxt, (const guint8 *)json, (guint)strlen(json));
    put_chunk(png, "iTXt", itxt->data, itxt->len);
    static const guint8 idat[] = {0x78, 0x9c, 0x63, 0x60, 0x00, 0x00};
    put_chunk(png, "IDAT", idat, sizeof idat);
    put_chunk(png, "IEND", NULL, 0);
    g_assert_true(g_file_set_contents(path, (const char *)png->data, png->len, NULL));
}

/* --params-from reads the record only: a 1 KB file claiming 100000 x 100000 pixels (30 GB
 * decoded) gives its parameters, and files without a record are refused with their name. */
static void test_params_from_claimed_size(void)
{
    g_autofree char *dir = temp_dir();
    g_autofree char *bomb = g_build_filename(dir, "bomb.png", NULL);
    g_autofree char *out = g_build_filename(dir, "out.png", NULL);
    write_claiming_png(bomb, 100000, 100000,
                       "{\"generator\": \"resdit\", \"prompt\": \"a tiny fox\", \"width\": 128, "
                       "\"height\": 96, \"steps\": 2, \"seed\": 4242, "
                       "\"seed_string\": \"4242\"}");
    const char *args[] = {"generate", "--selftest", "--params-from", bomb, "-q", "-o", out, NULL};
    TuRun r = tu_run_cli(args);
    g_test_message("%s", r.err);
    assert_status(r, 0);
    tu_run_clear(&r);
    gchar *data;
    gsize len;
    g_assert_true(g_file_get_contents(out, &data, &len, NULL));
    g_assert_nonnull(memmem(data, len, "a tiny fox", 10));
    g_assert_nonnull(memmem(data, len, "Seed: 4242, Size: 128x96", 24));
    g_free(data);

    g_autofree char *plain = g_build_filename(dir, "plain.png", NULL);
    write_claiming_png(plain, 100000, 100000, "{}");
    const char *no_record[] = {"generate", "--selftest", "--params-from", plain, "-o", out, NULL};
    expect_failure(no_record, 1, "not written by resdit");
    g_autofree char *text = g_build_filename(dir, "text.png", NULL);
    g_assert_true(g_file_set_contents(text, "not a png", -1, NULL));
    const char *not_png[] = {"generate", "--selftest", "--params-from", text, "-o", out, NULL};
    expect_failure(not_png, 1, "is not a PNG file");
    g_autofree char *missing = g_build_filename(dir, "missing.png", NULL);
    const char *absent[] = {"generate", "--selftest", "--params-from", missing, "-o", out, NULL};
    expect_failure(absent, 1, "missing.png: No such file");
    tu_remove_tree(dir);
}

/* Every number option is parsed strictly: the whole text, within its range, or exit status 2
 * with the option, the value and the range named, before any model opens and with nothing
 * written. Before, -W 2147483647 made a 16-pixel-wide image, --seed " -1" seed 2^64 - 1 and
 * --global-steps -2 was ignored, all with exit status 0. */
static void test_bad_numbers(void)
{
    g_autofree char *dir = temp_dir();
    g_autofree char *out = g_build_filename(dir, "never.png", NULL);
    static const struct {
        const char *option, *value, *needle;
    } cases[] = {
        {"-W", "2147483647",
         "--width '2147483647': out of range; give a whole number from 16 to "
         "16384"},
        {"--height", "4294967312", "--height '4294967312': out of range"},
        {"-H", "128abc", "--height '128abc': not a whole number"},
        {"--width", " 128", "--width ' 128': not a whole number"},
        {"--seed", " -1",
         "--seed ' -1': not a whole number; give a whole number from 0 to "
         "9007199254740991 (2^53 - 1), or random"},
        {"--seed", "18446744073709551615", "--seed '18446744073709551615': out of range"},
        {"--seed", "99999999999999999999999", "--seed '99999999999999999999999': out of range"},
        {"--seed", "9007199254740992", "--seed '9007199254740992': out of range"},
        {"--seed", "0x10", "--seed '0x10': not a whole number"},
        {"--global-steps", "-2",
         "--global-steps '-2': out of range; give a whole number from 0 "
         "to 1000"},
        {"--local-steps", "3.5", "--local-steps '3.5': not a whole number"},
        {"--steps", "0", "--steps '0': out of range; give a whole number from 1 to 1000"},
        {"-s", "1001", "--steps '1001': out of range"},
        {"--guidance", "nan", "--guidance 'nan': not a number; give a number from 0 to 100"},
        {"-g", "1e999", "--guidance '1e999': out of range"},
        {"--guidance", "3,5", "--guidance '3,5': not a number"},
        {"--t5-len", "5000", "--t5-len '5000': out of range; give a whole number from 1 to 4096"},
        {"--preview-every", "0", "--preview-every '0': out of range"},
        {"--preview-size", "-512", "--preview-size '-512': out of range"},
        {"--size", "99999",
         "--size '99999': out of range; give a whole number from 16 to 16384 "
         "(pixels of the longer side), or 1k, 2k, 3k, 4k"},
        {"--aspect", "0:1", "--aspect '0:1': expected W:H"},
        {"--aspect", "16 :9", "--aspect '16 :9': expected W:H"},
        {"--shift", "21", "--shift '21': out of range; give a number from -20 to 20"},
        {"--shift", "inf", "--shift 'inf': not a number"},
        {"--lowfreq-noise", "1.5",
         "--lowfreq-noise '1.5': out of range; give a number from 0 to 1"},
        {"--lowfreq-noise", "nan", "--lowfreq-noise 'nan': not a number"},
        {"--patch", "0", "--patch '0': out of range; give a whole number from 1 to 1024"},
        {"--base-area", "4294967296", "--base-area '4294967296': out of range"},
        {"--sigma", "-1", "--sigma '-1': out of range"},
        {"--cutoff", "-0.1", "--cutoff '-0.1': out of range; give a number from 0 to 2"},
        {"--cutoff", "nan", "--cutoff 'nan': not a number"},
        {"--base-grid", "64x0", "--base-grid '64x0': expected RxC"},
        {"--base-grid", "99999999999x64", "--base-grid '99999999999x64': expected RxC"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        const char *args[] = {"generate",      "--selftest",   "-p", "x", "-q",
                              cases[i].option, cases[i].value, "-o", out, NULL};
        expect_failure(args, 2, cases[i].needle);
    }
    g_assert_cmpint(count_entries(dir), ==, 0);

    /* the ends of the ranges are accepted: the largest seed is used and recorded exactly */
    const char *largest[] = {"generate", "--selftest", "-p", "x",   "--seed",  "9007199254740991",
                             "-W",       "16",         "-H", "128", "--steps", "1",
                             "-q",       "--json",     "-o", out,   NULL};
    TuRun r = tu_run_cli(largest);
    g_test_message("%s", r.err);
    assert_status(r, 0);
    g_assert_nonnull(strstr(r.out, "\"seed\":\"9007199254740991\""));
    g_assert_nonnull(strstr(r.out, "\"width\":16"));
    tu_run_clear(&r);
    tu_remove_tree(dir);
}

/* A record's numbers are 64-bit JSON integers: one outside int is refused, never truncated (a
 * width of 2^32 + 16 was a 16-pixel-wide image). */
static void test_params_from_out_of_range(void)
{
    g_autofree char *dir = temp_dir();
    g_autofree char *png = g_build_filename(dir, "record.png", NULL);
    g_autofree char *out = g_build_filename(dir, "out.png", NULL);
    /* the engine's own wording may name the member or not: "invalid" is the contract */
    const char *invalid = "The parameter record is invalid";
    const struct {
        const char *json, *needle;
    } cases[] = {
        {"{\"generator\": \"resdit\", \"width\": 4294967312, \"height\": 64}", invalid},
        {"{\"generator\": \"resdit\", \"steps\": -4294967294}", invalid},
        {"{\"generator\": \"resdit\", \"method\": {\"patch\": 4294967304}}", invalid},
        {"{\"generator\": \"resdit\", \"width\": \"wide\"}", invalid},
        {"{\"generator\": \"resdit\", \"lowfreq_noise\": \"high\"}", invalid},
        {"{\"generator\": \"resdit\", \"seed_string\": \"-1\"}", invalid},
        {"{\"generator\": \"resdit\", \"width\": 65536, \"height\": 64}",
         "The size 65536x64 is outside 16 to 16384 pixels per side"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        write_claiming_png(png, 8, 8, cases[i].json);
        const char *args[] = {"generate", "--selftest", "--params-from", png, "-q", "-o",
                              out,        NULL};
        expect_failure(args, i + 1 < G_N_ELEMENTS(cases) ? 1 : 2, cases[i].needle);
    }
    g_assert_false(g_file_test(out, G_FILE_TEST_EXISTS));
    tu_remove_tree(dir);
}

/* Parts named by flags, and --model for a folder that has only some parts (the tiny text
 * encoders' diffusers folder) completed by --transformer and --vae. */
static void test_model_flags(void)
{
    g_autofree char *dir = temp_dir();
    g_autofree char *out = g_build_filename(dir, "files.png", NULL);
    g_autofree char *transformer = tu_data_path("pipeline/transformer");
    g_autofree char *vae = tu_data_path("vae/diffusers");
    g_autofree char *text = tu_data_path("text/tiny");
    const char *files[] = {"generate",
                           "--transformer",
                           transformer,
                           "--vae",
                           vae,
                           "--clip-l",
                           text,
                           "--t5",
                           text,
                           "--backend",
                           "cpu",
                           "-p",
                           "a lighthouse",
                           "--base-area",
                           "64",
                           "--patch",
                           "8",
                           "-W",
                           "256",
                           "-H",
                           "128",
                           "--steps",
                           "3",
                           "--seed",
                           "8",
                           "-q",
                           "-o",
                           out,
                           NULL};
    TuRun r = tu_run_cli(files);
    g_test_message("%s", r.err);
    assert_status(r, 0);
    g_assert_true(g_file_test(out, G_FILE_TEST_IS_REGULAR));
    tu_run_clear(&r);
    const char *partial[] = {
        "generate", "--model",     text,  "--transformer", transformer, "--vae",
        vae,        "--base-area", "64",  "--patch",       "8",         "-W",
        "128",      "-H",          "128", "--steps",       "2",         "-q",
        "-o",       out,           NULL};
    r = tu_run_cli(partial);
    g_test_message("%s", r.err);
    assert_status(r, 0);
    tu_run_clear(&r);
    const char *incomplete[] = {"generate", "--model", text, "-o", out, NULL};
    expect_failure(incomplete, 1, "transformer, vae missing");
    tu_remove_tree(dir);
}

/* ---- resdit forward --------------------------------------------------------------------- */

/* An inputs file for tiny-a (in_channels 16, txt_dim 24, vec_dim 20) whose header claims
 * img [1, img_tokens, 16] and txt [1, txt_tokens, 24] in F32; the file is extended to the
 * claimed size without writing it (a sparse file: no disk space, any size). */
static void write_sparse_inputs(const char *path, gint64 img_tokens, gint64 txt_tokens)
{
    gint64 img_bytes = img_tokens * 16 * 4, txt_bytes = txt_tokens * 24 * 4;
    g_autofree char *header = g_strdup_printf(
        "{\"guidance\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, "
        "\"timestep\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}, "
        "\"vec\": {\"dtype\": \"F32\", \"shape\": [1, 20], \"data_offsets\": [8, 88]}, "
        "\"txt\": {\"dtype\": \"F32\", \"shape\": [1, %" G_GINT64_FORMAT ", 24], "
        "\"data_offsets\": [88, %" G_GINT64_FORMAT "]}, "
        "\"img\": {\"dtype\": \"F32\", \"shape\": [1, %" G_GINT64_FORMAT ", 16], "
        "\"data_offsets\": [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]}}",
        txt_tokens, 88 + txt_bytes, img_tokens, 88 + txt_bytes, 88 + txt_bytes + img_bytes);
    guint64 len = strlen(header);
    FILE *f = fopen(path, "wb");
    g_assert_nonnull(f);
    guint8 len_le[8];
    for (int i = 0; i < 8; i++)
        len_le[i] = (guint8)(len >> (8 * i));
    g_assert_cmpuint(fwrite(len_le, 1, 8, f), ==, 8);
    g_assert_cmpuint(fwrite(header, 1, len, f), ==, len);
    g_assert_cmpint(ftruncate(fileno(f), (off_t)(8 + len + 88 + txt_bytes + img_bytes)), ==, 0);
    g_assert_cmpint(fclose(f), ==, 0);
}

/* One forward pass on the tiny-a goldens; numbers and claimed tensor sizes are checked before
 * anything is allocated: a sparse inputs file claiming 2^32 tokens (256 GiB of img) aborted on
 * the allocation, --grid 100000x100000 overflowed rows * cols. */
/* The written velocity's relative L2 distance from the golden lies in [lo, hi]. */
static void assert_forward_output(const char *out, const char *golden_path, double lo, double hi)
{
    g_autoptr(GError) error = NULL;
    RdSafetensors *got = rd_safetensors_open(out, &error);
    g_assert_no_error(error);
    RdSafetensors *golden = rd_safetensors_open(golden_path, &error);
    g_assert_no_error(error);
    const RdTensorInfo *v = rd_safetensors_find(got, "velocity");
    const RdTensorInfo *ref = rd_safetensors_find(golden, "velocity");
    g_assert_cmpint(rd_tensor_info_numel(v), ==, rd_tensor_info_numel(ref));
    double err = tu_relative_l2(v->data, ref->data, (size_t)rd_tensor_info_numel(ref));
    g_test_message("SD3: relative L2 against the direct golden: %.3g", err);
    g_assert_cmpfloat(err, >=, lo);
    g_assert_cmpfloat(err, <=, hi);
    rd_safetensors_close(got);
    rd_safetensors_close(golden);
}

/* `resdit forward` on an SD3.5 Medium-structured transformer: the same inputs as FLUX (no
 * guidance), a grid that is not square, and ResDiT's modes. */
static void test_forward_sd3(void)
{
    g_autofree char *dir = temp_dir();
    g_autofree char *out = g_build_filename(dir, "velocity.safetensors", NULL);
    g_autofree char *transformer = tu_data_path("sd3/sd35m-tiny/transformer");
    g_autofree char *inputs = tu_data_path("sd3/sd35m-tiny.inputs.8x12.safetensors");
    g_autofree char *golden_path = tu_data_path("sd3/sd35m-tiny.direct.8x12.safetensors");
    const char *args[] = {"forward", "--transformer", transformer, "--inputs", inputs,
                          "--grid",  "8x12",          "--output",  out,        "--backend",
                          "cpu",     NULL};
    TuRun r = tu_run_cli(args);
    assert_status(r, 0);
    tu_run_clear(&r);
    g_autoptr(GError) error = NULL;
    RdSafetensors *got = rd_safetensors_open(out, &error);
    g_assert_no_error(error);
    RdSafetensors *golden = rd_safetensors_open(golden_path, &error);
    g_assert_no_error(error);
    const RdTensorInfo *v = rd_safetensors_find(got, "velocity");
    const RdTensorInfo *ref = rd_safetensors_find(golden, "velocity");
    g_assert_cmpint(rd_tensor_info_numel(v), ==, rd_tensor_info_numel(ref));
    double err = tu_relative_l2(v->data, ref->data, (size_t)rd_tensor_info_numel(ref));
    g_test_message("SD3: relative L2 against the golden: %.3g", err);
    g_assert_cmpfloat(err, <=, 1e-4);
    rd_safetensors_close(got);
    rd_safetensors_close(golden);
    /* ResDiT's modes: at a grid within the base grid and one patch, global and local are the
     * plain pass; with an 8-token base grid and patch the fused pass differs from it */
    const char *modes[] = {"global", "local"};
    for (gsize i = 0; i < G_N_ELEMENTS(modes); i++) {
        const char *m[] = {"forward", "--transformer", transformer, "--inputs", inputs,
                           "--grid",  "8x12",          "--output",  out,        "--mode",
                           modes[i],  "--backend",     "cpu",       NULL};
        r = tu_run_cli(m);
        assert_status(r, 0);
        tu_run_clear(&r);
        assert_forward_output(out, golden_path, 0.0, 1e-4);
    }
    const char *fused[] = {"forward",      "--transformer", transformer, "--inputs", inputs,
                           "--grid",       "8x12",          "--output",  out,        "--mode",
                           "fused",        "--base-area",   "36",        "--patch",  "6",
                           "--backend",    "cpu",           NULL};
    r = tu_run_cli(fused);
    assert_status(r, 0);
    tu_run_clear(&r);
    assert_forward_output(out, golden_path, 1e-3, 10.0);
    const char *lora[] = {"forward", "--transformer", transformer, "--inputs", inputs, "--grid",
                          "8x12",    "--output",      out,         "--lora",   inputs, NULL};
    expect_failure(lora, 2, "LoRAs are not supported for SD3");
    /* generate takes it for SD3 and names SD3's missing parts, not FLUX's */
    g_autofree char *single = tu_data_path("sd3/sd35-tiny.stability.safetensors");
    const char *gen[] = {"generate", "--transformer", single, "-p", "x", "-o", out, NULL};
    expect_failure(gen, 1,
                   "The SD3 model sd35-tiny.stability.safetensors is incomplete: vae, clip-l, "
                   "clip-g missing");
    tu_remove_tree(dir);
}

static void test_forward(void)
{
    g_autofree char *dir = temp_dir();
    g_autofree char *out = g_build_filename(dir, "velocity.safetensors", NULL);
    g_autofree char *transformer = tu_data_path("flux/tiny-a/transformer");
    g_autofree char *inputs = tu_data_path("flux/tiny-a.inputs.8x8.safetensors");
    g_autofree char *golden_path = tu_data_path("flux/tiny-a.direct.8x8.safetensors");
    const char *args[] = {"forward", "--transformer", transformer, "--inputs", inputs, "--output",
                          out,       "--backend",     "cpu",       NULL};
    TuRun r = tu_run_cli(args);
    g_test_message("%s", r.err);
    assert_status(r, 0);
    tu_run_clear(&r);
    g_autoptr(GError) error = NULL;
    RdSafetensors *got = rd_safetensors_open(out, &error);
    g_assert_no_error(error);
    RdSafetensors *golden = rd_safetensors_open(golden_path, &error);
    g_assert_no_error(error);
    const RdTensorInfo *v = rd_safetensors_find(got, "velocity");
    const RdTensorInfo *ref = rd_safetensors_find(golden, "velocity");
    g_assert_cmpint(rd_tensor_info_numel(v), ==, rd_tensor_info_numel(ref));
    double err = tu_relative_l2(v->data, ref->data, (size_t)rd_tensor_info_numel(ref));
    g_test_message("relative L2 against the golden: %.3g", err);
    g_assert_cmpfloat(err, <=, 1e-4);
    rd_safetensors_close(got);
    rd_safetensors_close(golden);
    g_unlink(out);

    /* the claimed sizes first: the old code died here on a 256 GiB g_malloc */
    g_autofree char *sparse = g_build_filename(dir, "sparse.safetensors", NULL);
    write_sparse_inputs(sparse, G_GINT64_CONSTANT(1) << 32, 7);
    const char *img_claim[] = {
        "forward", "--transformer", transformer, "--inputs", sparse, "--output",
        out,       "--backend",     "cpu",       NULL};
    expect_failure(img_claim, 1,
                   "tensor 'img' has shape [1, 4294967296, 16]; this transformer wants [1, "
                   "tokens, 16] with 1 to 1048576 tokens");
    write_sparse_inputs(sparse, 64, G_GINT64_CONSTANT(1) << 31);
    expect_failure(img_claim, 1, "tensor 'txt' has shape [1, 2147483648, 24]");

    const char *huge_grid[] = {
        "forward", "--transformer", transformer,     "--inputs", inputs, "--output",
        out,       "--grid",        "100000x100000", NULL};
    expect_failure(huge_grid, 2,
                   "--grid '100000x100000': expected RxC; give two whole numbers from 1 to 1024");
    const char *wrong_grid[] = {
        "forward", "--transformer", transformer, "--inputs", inputs, "--output",
        out,       "--grid",        "8x9",       NULL};
    expect_failure(wrong_grid, 2, "--grid 8x9 has 72 tokens but the inputs hold 64");
    const char *bad_patch[] = {
        "forward", "--transformer", transformer, "--inputs", inputs, "--output",
        out,       "--patch",       "0",         NULL};
    expect_failure(bad_patch, 2, "--patch '0': out of range");
    const char *no_inputs[] = {"forward", "--transformer", transformer, "--output", out, NULL};
    expect_failure(no_inputs, 2, "forward needs --transformer, --inputs and --output");
    g_assert_false(g_file_test(out, G_FILE_TEST_EXISTS));
    tu_remove_tree(dir);
}

static double velocity_error(const char *out, const char *golden_rel, const char *tensor)
{
    g_autofree char *golden_path = tu_data_path(golden_rel);
    g_autoptr(GError) error = NULL;
    RdSafetensors *got = rd_safetensors_open(out, &error);
    g_assert_no_error(error);
    RdSafetensors *golden = rd_safetensors_open(golden_path, &error);
    g_assert_no_error(error);
    const RdTensorInfo *v = rd_safetensors_find(got, "velocity");
    const RdTensorInfo *ref = rd_safetensors_find(golden, tensor);
    g_assert_cmpint(rd_tensor_info_numel(v), ==, rd_tensor_info_numel(ref));
    double err = tu_relative_l2(v->data, ref->data, (size_t)rd_tensor_info_numel(ref));
    rd_safetensors_close(got);
    rd_safetensors_close(golden);
    return err;
}

/* A kohya LoRA for the self-test model (img_in and the first image qkv). */
static char *selftest_lora(const char *dir)
{
    g_autoptr(GError) error = NULL;
    ResditModel *m = resdit_model_open_selftest(RESDIT_BACKEND_CPU, &error);
    g_assert_no_error(error);
    const FluxConfig *c = flux_model_config(rd_denoiser_flux(m->denoiser));
    const int64_t r = 2, C = c->hidden;
    const struct {
        const char *name;
        int64_t rows, cols;
    } t[] = {{"lora_unet_img_in.lora_down.weight", r, c->in_channels},
             {"lora_unet_img_in.lora_up.weight", C, r},
             {"lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight", r, C},
             {"lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight", 3 * C, r}};
    RdSafetensorsWriter *w = rd_safetensors_writer_new();
    g_autoptr(GPtrArray) keep = g_ptr_array_new_with_free_func(g_free);
    for (size_t i = 0; i < G_N_ELEMENTS(t); i++) {
        float *v = g_new(float, t[i].rows *t[i].cols);
        tu_fill_uniform(v, (size_t)(t[i].rows * t[i].cols), -0.4f, 0.4f, 70 + (guint32)i);
        g_ptr_array_add(keep, v);
        rd_safetensors_writer_add(w, t[i].name, RD_F32, 2, (int64_t[]){t[i].rows, t[i].cols}, v);
    }
    char *path = g_build_filename(dir, "sel-style.safetensors", NULL);
    g_assert_true(rd_safetensors_writer_save(w, path, &error));
    rd_safetensors_writer_free(w);
    resdit_model_free(m);
    return path;
}

/* --lora on forward (two formats at once against the hand-merged golden) and on generate (the
 * PNG records it and --params-from brings it back; a later --lora replaces it). */
static void test_lora(void)
{
    g_autofree char *dir = temp_dir();
    g_autofree char *out = g_build_filename(dir, "velocity.safetensors", NULL);
    g_autofree char *transformer = tu_data_path("flux/tiny-a.bfl.f32.safetensors");
    g_autofree char *config = tu_data_path("flux/tiny-a/transformer/config.json");
    g_autofree char *inputs = tu_data_path("flux/tiny-a.inputs.8x8.safetensors");
    g_autofree char *kohya = tu_data_path("flux/lora-kohya.safetensors");
    g_autofree char *peft = tu_data_path("flux/lora-peft.safetensors");
    g_autofree char *kohya_s = g_strconcat(kohya, ":0.8", NULL);
    g_autofree char *peft_s = g_strconcat(peft, ":0.5", NULL);
    const char *args[] = {"forward", "--transformer", transformer, "--config",  config, "--inputs",
                          inputs,    "--output",      out,         "--backend", "cpu",  "--lora",
                          kohya_s,   "--lora",        peft_s,      NULL};
    TuRun r = tu_run_cli(args);
    g_test_message("%s", r.err);
    assert_status(r, 0);
    tu_run_clear(&r);
    double err = velocity_error(out, "flux/tiny-a.lora.8x8.safetensors", "kohya+peft.f32");
    g_test_message("forward --lora x2: relative L2 against the golden %.3g", err);
    g_assert_cmpfloat(err, <=, 1e-4);
    g_autofree char *huge = g_strconcat(kohya, ":1e9", NULL);
    const char *bad_strength[] = {"forward", "--transformer", transformer, "--config",
                                  config,    "--inputs",      inputs,      "--output",
                                  out,       "--lora",        huge,        NULL};
    expect_failure(bad_strength, 2, "LoRA strength 1e9 is out of range");
    const char *not_lora[] = {"forward", "--transformer", transformer, "--config",
                              config,    "--inputs",      inputs,      "--output",
                              out,       "--lora",        inputs,      NULL};
    expect_failure(not_lora, 1, "tensor guidance is not part of a plain LoRA");

    g_autofree char *lora = selftest_lora(dir);
    g_autofree char *spec = g_strconcat(lora, ":0.6", NULL);
    g_autofree char *a = g_build_filename(dir, "a.png", NULL);
    g_autofree char *b = g_build_filename(dir, "b.png", NULL);
    g_autofree char *c = g_build_filename(dir, "c.png", NULL);
    const char *gen_a[] = {"generate", "--selftest", "-p",       "a boat", "--seed",  "5",
                           "--width",  "128",        "--height", "128",    "--steps", "3",
                           "--lora",   spec,         "-q",       "-o",     a,         NULL};
    const char *gen_b[] = {"generate", "--selftest", "--params-from", a, "-q", "-o", b, NULL};
    g_autofree char *off = g_strconcat(lora, ":0", NULL);
    const char *gen_c[] = {"generate", "--selftest", "--params-from", a, "--lora", off, "-q", "-o",
                           c,          NULL};
    TuRun ra = tu_run_cli(gen_a), rb = tu_run_cli(gen_b), rc = tu_run_cli(gen_c);
    g_test_message("%s%s%s", ra.err, rb.err, rc.err);
    assert_status(ra, 0);
    assert_status(rb, 0);
    assert_status(rc, 0);
    gchar *da, *db, *dc;
    gsize la, lb, lc;
    g_assert_true(g_file_get_contents(a, &da, &la, NULL));
    g_assert_true(g_file_get_contents(b, &db, &lb, NULL));
    g_assert_true(g_file_get_contents(c, &dc, &lc, NULL));
    g_assert_nonnull(memmem(da, la, "a boat <lora:sel-style:0.6>", 27));
    g_assert_nonnull(memmem(da, la, "\"sha256\"", 8));
    /* the same job again, bit for bit (same process code, same environment) */
    g_assert_true(la == lb && memcmp(da, db, la) == 0);
    g_assert_null(memmem(dc, lc, "<lora:", 6));
    g_assert_false(la == lc && memcmp(da, dc, la) == 0);
    g_free(da);
    g_free(db);
    g_free(dc);
    tu_run_clear(&ra);
    tu_run_clear(&rb);
    tu_run_clear(&rc);
    tu_remove_tree(dir);
}

static void copy_into(const char *src_rel, const char *dir, const char *rel)
{
    g_autofree char *src = tu_data_path(src_rel);
    g_autoptr(GDir) d = g_dir_open(src, 0, NULL);
    g_assert_nonnull(d);
    const char *name;
    while ((name = g_dir_read_name(d))) {
        g_autofree char *from = g_build_filename(src, name, NULL);
        g_autofree char *to = g_build_filename(dir, rel, name, NULL);
        g_autofree char *parent = g_path_get_dirname(to);
        g_mkdir_with_parents(parent, 0755);
        g_autofree char *bytes = NULL;
        gsize len;
        g_assert_true(g_file_get_contents(from, &bytes, &len, NULL));
        g_assert_true(g_file_set_contents(to, bytes, (gssize)len, NULL));
    }
}

/* Discovery: a FLUX snapshot in a Hugging Face cache whose T5 has not been downloaded is listed
 * as lacking it, with the folders looked in; files that hold no FLUX part are no model. (Every
 * layout that works is in test-layouts.c.) */
static void test_models(void)
{
    g_autofree char *dir = temp_dir();
    const char *snap = "hub/models--black-forest-labs--FLUX.1-dev/snapshots/0123456789abcdef";
    g_autofree char *root = g_build_filename(dir, snap, NULL);
    g_mkdir_with_parents(root, 0755);
    g_autofree char *index = g_build_filename(root, "model_index.json", NULL);
    g_assert_true(g_file_set_contents(index, "{\"_class_name\": \"FluxPipeline\"}", -1, NULL));
    copy_into("pipeline/transformer", root, "transformer");
    copy_into("vae/diffusers", root, "vae");
    copy_into("text/tiny/text_encoder", root, "text_encoder");
    g_autofree char *unet = g_build_filename(dir, "ComfyUI", "models", "unet", NULL);
    g_mkdir_with_parents(unet, 0755);
    g_autofree char *fake = g_build_filename(unet, "flux1-schnell-fp8.safetensors", NULL);
    g_assert_true(g_file_set_contents(fake, "{}", -1, NULL)); /* a name, no FLUX inside */
    g_autofree char *hub = g_build_filename(dir, "hub", NULL);
    g_autofree char *comfy_root = g_build_filename(dir, "ComfyUI", NULL);
    g_setenv("HF_HUB_CACHE", hub, TRUE);
    const char *args[] = {"models", "--json", "--models-dir", comfy_root, NULL};
    TuRun r = tu_run_cli(args);
    assert_status(r, 0);
    g_autoptr(JsonParser) p = json_parser_new();
    g_assert_true(json_parser_load_from_data(p, r.out, -1, NULL));
    JsonArray *list = json_node_get_array(json_parser_get_root(p));
    gboolean saw_hf = FALSE;
    for (guint i = 0; i < json_array_get_length(list); i++) {
        JsonObject *o = json_array_get_object_element(list, i);
        const char *name = json_object_get_string_member(o, "name");
        g_assert_null(strstr(name, "flux1-schnell-fp8"));
        if (g_str_has_prefix(name, "black-forest-labs/FLUX.1-dev (Hugging Face cache")) {
            saw_hf = TRUE;
            g_assert_false(json_object_get_boolean_member(o, "complete"));
            JsonArray *miss = json_object_get_array_member(o, "missing");
            g_assert_cmpuint(json_array_get_length(miss), ==, 1);
            g_assert_cmpstr(json_array_get_string_element(miss, 0), ==, "t5");
            g_assert_true(g_str_has_suffix(json_object_get_string_member(o, "vae"), "vae"));
            JsonArray *searched = json_object_get_array_member(o, "searched");
            g_assert_cmpuint(json_array_get_length(searched), >, 0);
        }
    }
    g_assert_true(saw_hf);
    tu_run_clear(&r);
    const char *text_args[] = {"models", "--models-dir", comfy_root, NULL};
    r = tu_run_cli(text_args);
    assert_status(r, 0);
    g_assert_nonnull(strstr(r.out, "missing:       t5\n"));
    g_assert_nonnull(strstr(r.out, "looked for the missing parts in:"));
    tu_run_clear(&r);
    g_unsetenv("HF_HUB_CACHE");
    tu_remove_tree(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_assert_nonnull(g_getenv("RESDIT_CLI"));
    g_test_add_func("/cli/generate/same-seed-same-file", test_same_seed_same_file);
    g_test_add_func("/cli/generate/json-events-and-previews", test_json_events_and_previews);
    g_test_add_func("/cli/generate/cancel", test_cancel);
    g_test_add_func("/cli/generate/history", test_history);
    g_test_add_func("/cli/generate/bad-inputs", test_bad_inputs);
    g_test_add_func("/cli/generate/params-from-claimed-size", test_params_from_claimed_size);
    g_test_add_func("/cli/generate/bad-numbers", test_bad_numbers);
    g_test_add_func("/cli/generate/params-from-out-of-range", test_params_from_out_of_range);
    g_test_add_func("/cli/generate/model-flags", test_model_flags);
    g_test_add_func("/cli/models", test_models);
    g_test_add_func("/cli/forward", test_forward);
    g_test_add_func("/cli/forward-sd3", test_forward_sd3);
    g_test_add_func("/cli/lora", test_lora);
    return g_test_run();
}
