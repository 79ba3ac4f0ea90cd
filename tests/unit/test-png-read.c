/* Reading parameters back from PNG files that lie about themselves: an error, never an abort. */
#include <glib/gstdio.h>
#include <string.h>

#include "png_writer.h"
#include "resdit.h"
#include "test-util.h"

static guint32 crc32_of(const guint8 *p, gsize n)
{
    guint32 crc = 0xffffffffu;
    for (gsize i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = crc & 1 ? (crc >> 1) ^ 0xedb88320u : crc >> 1;
    }
    return crc ^ 0xffffffffu;
}

static void append_chunk(GString *png, const char *type, const void *data, guint32 len)
{
    guint32 be = GUINT32_TO_BE(len);
    g_string_append_len(png, (const char *)&be, 4);
    gsize start = png->len;
    g_string_append_len(png, type, 4);
    g_string_append_len(png, data, len);
    guint32 crc = GUINT32_TO_BE(crc32_of((const guint8 *)png->str + start, len + 4));
    g_string_append_len(png, (const char *)&crc, 4);
}

/* A PNG of side x side pixels with a record and one tiny (wrong-sized) IDAT, in a new folder. */
static char *forged_png(guint32 side)
{
    GString *png = g_string_new_len("\x89PNG\r\n\x1a\n", 8);
    guint8 ihdr[13] = {0};
    guint32 be_side = GUINT32_TO_BE(side);
    memcpy(ihdr, &be_side, 4);
    memcpy(ihdr + 4, &be_side, 4);
    ihdr[8] = 8; /* bit depth */
    ihdr[9] = 2; /* RGB */
    append_chunk(png, "IHDR", ihdr, 13);
    static const char text[] = "resdit\0{\"generator\": \"resdit\"}";
    append_chunk(png, "tEXt", text, sizeof text - 1);
    static const guint8 idat[] = {0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01};
    append_chunk(png, "IDAT", idat, sizeof idat);
    append_chunk(png, "IEND", "", 0);
    char *dir = g_dir_make_tmp("resdit-png-XXXXXX", NULL);
    char *path = g_build_filename(dir, "forged.png", NULL);
    g_assert_true(g_file_set_contents(path, png->str, (gssize)png->len, NULL));
    g_string_free(png, TRUE);
    g_free(dir);
    return path;
}

static void remove_png(const char *path)
{
    g_autofree char *dir = g_path_get_dirname(path);
    g_unlink(path);
    g_rmdir(dir);
}

/* 1 000 000 x 1 000 000 pixels (libpng's own limit): the reader used to ask g_malloc for 3 TB
 * and abort. Decoding refuses the header before anything is allocated. */
static void test_forged_size_decode(void)
{
    g_autofree char *path = forged_png(1000000);
    g_autoptr(GError) error = NULL;
    int w = 0, h = 0;
    guint8 *rgb = rd_png_read_rgb8(path, &w, &h, NULL, &error);
    g_assert_null(rgb);
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_FORMAT);
    g_assert_nonnull(strstr(error->message, path));
    remove_png(path);
}

/* The record is read from the chunks before the image data: the pixels a header claims are
 * never allocated (the fuzzer ran out of memory on such files when the record was read by
 * decoding the image). */
static void test_record_without_pixels(void)
{
    const guint32 sides[] = {16384, 1000000};
    for (gsize i = 0; i < G_N_ELEMENTS(sides); i++) {
        g_autofree char *path = forged_png(sides[i]);
        g_autoptr(GError) error = NULL;
        g_autofree char *json = resdit_png_read_parameters(path, &error);
        g_assert_no_error(error);
        g_assert_cmpstr(json, ==, "{\"generator\": \"resdit\"}");
        remove_png(path);
    }
}

/* A text chunk whose length field claims 2 GB: skipped, not allocated; the file has no record. */
static void test_huge_text_chunk(void)
{
    GString *png = g_string_new_len("\x89PNG\r\n\x1a\n", 8);
    guint8 ihdr[13] = {0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0};
    append_chunk(png, "IHDR", ihdr, 13);
    guint32 claimed = GUINT32_TO_BE(0x7ffffff0u);
    g_string_append_len(png, (const char *)&claimed, 4);
    g_string_append(png, "tEXtresdit");
    g_autofree char *dir = g_dir_make_tmp("resdit-png-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "huge.png", NULL);
    g_assert_true(g_file_set_contents(path, png->str, (gssize)png->len, NULL));
    g_string_free(png, TRUE);
    g_autoptr(GError) error = NULL;
    char *json = resdit_png_read_parameters(path, &error);
    g_assert_null(json);
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_FORMAT);
    g_assert_nonnull(strstr(error->message, "no resdit parameter record"));
    remove_png(path);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/png-read/forged-size-decode", test_forged_size_decode);
    g_test_add_func("/png-read/huge-text-chunk", test_huge_text_chunk);
    g_test_add_func("/png-read/record-without-pixels", test_record_without_pixels);
    return g_test_run();
}
