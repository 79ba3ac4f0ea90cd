/* unit suite: the A1111 "parameters" parser and the PNG text chunk reader. */
#include <glib/gstdio.h>
#include <string.h>

#include "resdit.h"
#include "rs-a1111.h"
#include "png_text.h"

static void test_full_record(void)
{
    const char *text = "a lighthouse at dusk,\nvolumetric light\n"
                       "Negative prompt: blurry, low quality\n"
                       "Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 7.5, Seed: 3141592653, "
                       "Size: 1344x768, Model hash: abc123, Model: \"flux, dev\", Version: v1.9";
    RsA1111Params p;
    g_assert_true(rs_a1111_parse(text, &p));
    g_assert_cmpstr(p.prompt, ==, "a lighthouse at dusk,\nvolumetric light");
    g_assert_cmpstr(p.negative_prompt, ==, "blurry, low quality");
    g_assert_true(p.has_steps && p.has_guidance && p.has_seed && p.has_size);
    g_assert_cmpint(p.steps, ==, 28);
    g_assert_cmpfloat(p.guidance, ==, 7.5);
    g_assert_cmpuint(p.seed, ==, G_GUINT64_CONSTANT(3141592653));
    g_assert_cmpint(p.width, ==, 1344);
    g_assert_cmpint(p.height, ==, 768);
    rs_a1111_params_clear(&p);
}

static void test_no_negative_and_distilled_cfg(void)
{
    const char *text = "cat\nSteps: 20, CFG scale: 1, Distilled CFG Scale: 3.5, Seed: 7, "
                       "Size: 1024x1024";
    RsA1111Params p;
    g_assert_true(rs_a1111_parse(text, &p));
    g_assert_cmpstr(p.prompt, ==, "cat");
    g_assert_null(p.negative_prompt);
    g_assert_cmpfloat(p.guidance, ==, 3.5);
    g_assert_cmpuint(p.seed, ==, 7);
    rs_a1111_params_clear(&p);
}

static void test_missing_and_bad_values(void)
{
    /* Keys the record does not have, or values that do not parse, stay unset. */
    const char *text = "Steps: many, Seed: -1, Size: 512 by 512, Sampler: Euler";
    RsA1111Params p;
    g_assert_true(rs_a1111_parse(text, &p));
    g_assert_cmpstr(p.prompt, ==, "");
    g_assert_false(p.has_steps);
    g_assert_false(p.has_seed);
    g_assert_false(p.has_size);
    g_assert_false(p.has_guidance);
    rs_a1111_params_clear(&p);

    g_assert_false(rs_a1111_parse("just a prompt, no settings", &p));
    g_assert_null(p.prompt);
    g_assert_false(rs_a1111_parse(NULL, &p));
}

static void put_be32(GByteArray *a, guint32 v)
{
    guint8 b[4] = {v >> 24, v >> 16, v >> 8, v};
    g_byte_array_append(a, b, 4);
}

static void put_chunk(GByteArray *a, const char *type, const void *data, guint32 length)
{
    put_be32(a, length);
    g_byte_array_append(a, (const guint8 *)type, 4);
    g_byte_array_append(a, data, length);
    put_be32(a, 0); /* CRC: the reader does not check it */
}

static char *write_png(const char *name, gboolean itxt, const char *keyword, const char *text)
{
    static const guint8 sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    GByteArray *a = g_byte_array_new();
    g_byte_array_append(a, sig, 8);
    guint8 ihdr[13] = {0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0};
    put_chunk(a, "IHDR", ihdr, 13);
    put_chunk(a, "tEXt", "Software\0test", 13);
    GByteArray *body = g_byte_array_new();
    g_byte_array_append(body, (const guint8 *)keyword, strlen(keyword) + 1);
    if (itxt)
        g_byte_array_append(body, (const guint8 *)"\0\0\0\0", 4); /* flag, method, lang, tkey */
    g_byte_array_append(body, (const guint8 *)text, strlen(text));
    put_chunk(a, itxt ? "iTXt" : "tEXt", body->data, body->len);
    put_chunk(a, "IEND", "", 0);
    char *path = g_build_filename(g_get_tmp_dir(), name, NULL);
    g_assert_true(g_file_set_contents(path, (const char *)a->data, a->len, NULL));
    g_byte_array_unref(body);
    g_byte_array_unref(a);
    return path;
}

static void test_png_text_chunks(void)
{
    char *path = write_png("rs-a1111-text.png", FALSE, "parameters", "p\nSteps: 3, Seed: 5");
    GError *error = NULL;
    char *text = rd_png_read_text(path, "parameters", &error);
    g_assert_no_error(error);
    g_assert_cmpstr(text, ==, "p\nSteps: 3, Seed: 5");
    g_free(text);
    g_assert_null(rd_png_read_text(path, "resdit", &error));
    g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
    g_clear_error(&error);
    g_unlink(path);
    g_free(path);

    path = write_png("rs-a1111-itxt.png", TRUE, "parameters", "Käse über alles\nSteps: 9");
    text = rd_png_read_text(path, "parameters", &error);
    g_assert_no_error(error);
    g_assert_cmpstr(text, ==, "Käse über alles\nSteps: 9");
    g_free(text);
    g_unlink(path);
    g_free(path);

    g_assert_null(rd_png_read_text("/nonexistent/x.png", "parameters", &error));
    g_assert_nonnull(error);
    g_clear_error(&error);
}

/* A PNG written by the engine carries an A1111 record this parser reads back. */
static void test_engine_png_round_trip(void)
{
    guint8 rgb[16 * 16 * 3];
    for (gsize i = 0; i < sizeof rgb; i++)
        rgb[i] = (guint8)(i * 7);
    ResditImage image = {
        .width = 16,
        .height = 16,
        .rgb = rgb,
        .seed = 99,
        .parameters = "red fox\nSteps: 12, Sampler: Euler (flow matching), CFG scale: 1, "
                      "Distilled CFG Scale: 4, Seed: 99, Size: 16x16",
        .parameters_json = "{}",
    };
    char *path = g_build_filename(g_get_tmp_dir(), "rs-a1111-engine.png", NULL);
    GError *error = NULL;
    g_assert_true(resdit_image_save_png(&image, path, &error));
    g_assert_no_error(error);
    char *text = rd_png_read_text(path, "parameters", &error);
    g_assert_no_error(error);
    RsA1111Params p;
    g_assert_true(rs_a1111_parse(text, &p));
    g_assert_cmpstr(p.prompt, ==, "red fox");
    g_assert_cmpint(p.steps, ==, 12);
    g_assert_cmpfloat(p.guidance, ==, 4);
    g_assert_cmpuint(p.seed, ==, 99);
    g_assert_cmpint(p.width, ==, 16);
    rs_a1111_params_clear(&p);
    g_free(text);
    g_unlink(path);
    g_free(path);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/a1111/full-record", test_full_record);
    g_test_add_func("/a1111/distilled-cfg", test_no_negative_and_distilled_cfg);
    g_test_add_func("/a1111/missing-and-bad", test_missing_and_bad_values);
    g_test_add_func("/a1111/png-text", test_png_text_chunks);
    g_test_add_func("/a1111/engine-png", test_engine_png_round_trip);
    return g_test_run();
}
