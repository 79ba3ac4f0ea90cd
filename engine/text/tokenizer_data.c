#include "tokenizer_data.h"

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "config.h"
#include "resdit.h"

char *rd_tokenizer_data_dir(void)
{
    const char *env = g_getenv("RESDIT_DATA_DIR");
    if (env && *env)
        return g_build_filename(env, "tokenizers", NULL);
    if (g_file_test(SOURCE_DATADIR "/tokenizers", G_FILE_TEST_IS_DIR))
        return g_strdup(SOURCE_DATADIR "/tokenizers");
    return g_strdup(PKGDATADIR "/tokenizers");
}

/* Far above any tokenizer file (CLIP's merges.txt: 525 KB, T5's tokenizer.json: 2.4 MB): a
 * gzip bomb or a wrong file stops here instead of filling the memory. */
#define MAX_TOKENIZER_FILE_BYTES (64u << 20)

static gboolean too_large(const char *path, GError **error)
{
    g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_TOKENIZER,
                "more than %u MB%s, far more than any tokenizer file: it is damaged or not a "
                "tokenizer file",
                MAX_TOKENIZER_FILE_BYTES >> 20,
                g_str_has_suffix(path, ".gz") ? " once decompressed" : "");
    return FALSE;
}

static gboolean read_gzip(const char *path, char **contents, gsize *length, GError **error)
{
    GFile *file = g_file_new_for_path(path);
    GFileInputStream *raw = g_file_read(file, NULL, error);
    g_object_unref(file);
    if (!raw)
        return FALSE;
    GZlibDecompressor *gz = g_zlib_decompressor_new(G_ZLIB_COMPRESSOR_FORMAT_GZIP);
    GInputStream *in = g_converter_input_stream_new(G_INPUT_STREAM(raw), G_CONVERTER(gz));
    GByteArray *bytes = g_byte_array_new();
    guint8 buffer[65536];
    gssize n;
    while ((n = g_input_stream_read(in, buffer, sizeof buffer, NULL, error)) > 0) {
        if (bytes->len + (gsize)n > MAX_TOKENIZER_FILE_BYTES) {
            n = -1;
            too_large(path, error);
            break;
        }
        g_byte_array_append(bytes, buffer, (guint)n);
    }
    g_object_unref(in);
    g_object_unref(gz);
    g_object_unref(raw);
    if (n < 0) {
        g_byte_array_free(bytes, TRUE);
        return FALSE;
    }
    *length = bytes->len;
    g_byte_array_append(bytes, (const guint8 *)"", 1);
    *contents = (char *)g_byte_array_free(bytes, FALSE);
    return TRUE;
}

gboolean rd_tokenizer_read_file(const char *path, char **contents, gsize *length, GError **error)
{
    GError *local = NULL;
    GStatBuf st;
    gboolean ok;
    if (g_stat(path, &st) == 0 && st.st_size > (goffset)MAX_TOKENIZER_FILE_BYTES)
        ok = too_large(path, &local);
    else if (g_str_has_suffix(path, ".gz"))
        ok = read_gzip(path, contents, length, &local);
    else
        ok = g_file_get_contents(path, contents, length, &local);
    if (!ok) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_TOKENIZER,
                    "Cannot read tokenizer file %s: %s", path, local->message);
        g_error_free(local);
    }
    return ok;
}

char *rd_tokenizer_find_file(const char *folder, const char *const *names)
{
    for (int i = 0; names[i]; i++) {
        char *path = g_build_filename(folder, names[i], NULL);
        if (g_file_test(path, G_FILE_TEST_IS_REGULAR))
            return path;
        g_free(path);
    }
    return NULL;
}
