/* Export As: see rs-export.h. */
#include "config.h"

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <glib/gi18n.h>
#include <string.h>
#include <webp/encode.h>
#include <webp/mux.h>

#include "png_writer.h"
#include "rs-export.h"

static const struct {
    const char *id, *extension;
} formats[RS_EXPORT_N_FORMATS] = {
    [RS_EXPORT_PNG] = {"png", "png"},
    [RS_EXPORT_JPEG] = {"jpeg", "jpg"},
    [RS_EXPORT_WEBP] = {"webp", "webp"},
};

const char *rs_export_format_id(RsExportFormat format)
{
    g_return_val_if_fail(format < RS_EXPORT_N_FORMATS, NULL);
    return formats[format].id;
}

const char *rs_export_format_extension(RsExportFormat format)
{
    g_return_val_if_fail(format < RS_EXPORT_N_FORMATS, NULL);
    return formats[format].extension;
}

gboolean rs_export_format_from_id(const char *id, RsExportFormat *format)
{
    for (int i = 0; i < RS_EXPORT_N_FORMATS; i++) {
        if (g_strcmp0(id, formats[i].id) == 0) {
            *format = i;
            return TRUE;
        }
    }
    return FALSE;
}

gboolean rs_export_format_from_path(const char *path, RsExportFormat *format)
{
    const char *dot = strrchr(path, '.');
    if (dot == NULL || strchr(dot, G_DIR_SEPARATOR) != NULL)
        return FALSE;
    char *ext = g_ascii_strdown(dot + 1, -1);
    gboolean found = TRUE;
    if (g_str_equal(ext, "png"))
        *format = RS_EXPORT_PNG;
    else if (g_str_equal(ext, "jpg") || g_str_equal(ext, "jpeg"))
        *format = RS_EXPORT_JPEG;
    else if (g_str_equal(ext, "webp"))
        *format = RS_EXPORT_WEBP;
    else
        found = FALSE;
    g_free(ext);
    return found;
}

char *rs_export_xmp_packet(const char *a1111, const char *json)
{
    GString *xmp = g_string_new("<?xpacket begin=\"\xef\xbb\xbf\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n"
                                "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\n"
                                " <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n"
                                "  <rdf:Description rdf:about=\"\"\n"
                                "    xmlns:exif=\"http://ns.adobe.com/exif/1.0/\"\n"
                                "    xmlns:resdit=\"https://github.com/resdit/resdit-studio/ns/1.0/\">\n");
    if (a1111 != NULL) {
        char *text = g_markup_escape_text(a1111, -1);
        g_string_append_printf(xmp,
                               "   <exif:UserComment><rdf:Alt><rdf:li xml:lang=\"x-default\">%s"
                               "</rdf:li></rdf:Alt></exif:UserComment>\n",
                               text);
        g_free(text);
    }
    if (json != NULL) {
        char *text = g_markup_escape_text(json, -1);
        g_string_append_printf(xmp, "   <resdit:parameters>%s</resdit:parameters>\n", text);
        g_free(text);
    }
    g_string_append(xmp, "  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n"
                         "<?xpacket end=\"w\"?>");
    return g_string_free(xmp, FALSE);
}

#define XMP_JPEG_NAMESPACE "http://ns.adobe.com/xap/1.0/" /* and its NUL: 29 bytes */

/* The JPEG with an APP1 XMP segment after SOI (and after the JFIF APP0 segment, which must come
 * first). */
static GBytes *jpeg_with_xmp(const guint8 *jpeg, gsize size, const char *xmp, GError **error)
{
    gsize xmp_len = strlen(xmp), ns_len = sizeof XMP_JPEG_NAMESPACE;
    gsize segment = 2 + ns_len + xmp_len;
    if (segment > 0xffff) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    _("The generation parameters are too long for a JPEG file; export as PNG to "
                      "keep them"));
        return NULL;
    }
    if (size < 4 || jpeg[0] != 0xff || jpeg[1] != 0xd8) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "the JPEG encoder wrote no JPEG");
        return NULL;
    }
    gsize at = 2;
    if (jpeg[2] == 0xff && jpeg[3] == 0xe0 && size >= 6)
        at = 4 + ((gsize)jpeg[4] << 8 | jpeg[5]);
    if (at > size) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "the JPEG encoder wrote no JPEG");
        return NULL;
    }
    GByteArray *out = g_byte_array_sized_new(size + segment + 2);
    g_byte_array_append(out, jpeg, at);
    guint8 marker[4] = {0xff, 0xe1, segment >> 8, segment & 0xff};
    g_byte_array_append(out, marker, 4);
    g_byte_array_append(out, (const guint8 *)XMP_JPEG_NAMESPACE, ns_len);
    g_byte_array_append(out, (const guint8 *)xmp, xmp_len);
    g_byte_array_append(out, jpeg + at, size - at);
    return g_byte_array_free_to_bytes(out);
}

static GBytes *encode_jpeg(int width, int height, const guint8 *rgb, const char *xmp,
                           GError **error)
{
    GdkPixbuf *pixbuf = gdk_pixbuf_new_from_data(rgb, GDK_COLORSPACE_RGB, FALSE, 8, width, height,
                                                 width * 3, NULL, NULL);
    char *buffer = NULL;
    gsize size = 0;
    char quality[8];
    g_snprintf(quality, sizeof quality, "%d", RS_EXPORT_JPEG_QUALITY);
    gboolean ok =
        gdk_pixbuf_save_to_buffer(pixbuf, &buffer, &size, "jpeg", error, "quality", quality, NULL);
    g_object_unref(pixbuf);
    if (!ok)
        return NULL;
    GBytes *bytes = xmp != NULL ? jpeg_with_xmp((const guint8 *)buffer, size, xmp, error)
                                : g_bytes_new(buffer, size);
    g_free(buffer);
    return bytes;
}

static GBytes *encode_webp(int width, int height, const guint8 *rgb, const char *xmp,
                           GError **error)
{
    if (width > WEBP_MAX_DIMENSION || height > WEBP_MAX_DIMENSION) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    _("WebP images are at most %d pixels wide and high"), WEBP_MAX_DIMENSION);
        return NULL;
    }
    uint8_t *encoded = NULL;
    size_t size = WebPEncodeRGB(rgb, width, height, width * 3, RS_EXPORT_WEBP_QUALITY, &encoded);
    if (size == 0) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "the WebP encoder failed");
        return NULL;
    }
    if (xmp == NULL) {
        GBytes *bytes = g_bytes_new(encoded, size);
        WebPFree(encoded);
        return bytes;
    }
    WebPMux *mux = WebPMuxNew();
    WebPData image = {encoded, size}, packet = {(const uint8_t *)xmp, strlen(xmp)}, assembled;
    WebPDataInit(&assembled);
    gboolean ok = mux != NULL && WebPMuxSetImage(mux, &image, 1) == WEBP_MUX_OK &&
                  WebPMuxSetChunk(mux, "XMP ", &packet, 1) == WEBP_MUX_OK &&
                  WebPMuxAssemble(mux, &assembled) == WEBP_MUX_OK;
    WebPMuxDelete(mux);
    WebPFree(encoded);
    if (!ok) {
        WebPDataClear(&assembled);
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "the WebP muxer failed");
        return NULL;
    }
    GBytes *bytes = g_bytes_new(assembled.bytes, assembled.size);
    WebPDataClear(&assembled);
    return bytes;
}

gboolean rs_export_image(const char *source_png, const char *dest, RsExportFormat format,
                         gboolean include_parameters, GError **error)
{
    g_return_val_if_fail(format < RS_EXPORT_N_FORMATS, FALSE);
    int width = 0, height = 0;
    GHashTable *texts = NULL;
    guint8 *rgb = rd_png_read_rgb8(source_png, &width, &height, &texts, error);
    if (rgb == NULL)
        return FALSE;
    const char *a1111 = include_parameters ? g_hash_table_lookup(texts, "parameters") : NULL;
    const char *json = include_parameters ? g_hash_table_lookup(texts, "resdit") : NULL;
    gboolean ok = FALSE;
    if (format == RS_EXPORT_PNG) {
        RdPngText records[2];
        int n = 0;
        if (a1111 != NULL)
            records[n++] = (RdPngText){"parameters", a1111, !g_str_is_ascii(a1111)};
        if (json != NULL)
            records[n++] = (RdPngText){"resdit", json, TRUE};
        ok = rd_png_write_rgb8(dest, width, height, rgb, records, n, error); /* atomic */
    } else {
        char *xmp = a1111 != NULL || json != NULL ? rs_export_xmp_packet(a1111, json) : NULL;
        GBytes *bytes = format == RS_EXPORT_JPEG ? encode_jpeg(width, height, rgb, xmp, error)
                                                 : encode_webp(width, height, rgb, xmp, error);
        g_free(xmp);
        if (bytes != NULL) {
            gsize size;
            const char *data = g_bytes_get_data(bytes, &size);
            /* a temporary file in the same folder, then a rename */
            ok = g_file_set_contents_full(dest, data, size, G_FILE_SET_CONTENTS_CONSISTENT, 0666,
                                          error);
            g_bytes_unref(bytes);
        }
    }
    g_free(rgb);
    g_hash_table_unref(texts);
    return ok;
}

typedef struct {
    char *source, *dest;
    RsExportFormat format;
    gboolean include_parameters;
} ExportData;

static void export_data_free(gpointer data)
{
    ExportData *d = data;
    g_free(d->source);
    g_free(d->dest);
    g_free(d);
}

static void export_in_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    ExportData *d = data;
    GError *error = NULL;
    if (rs_export_image(d->source, d->dest, d->format, d->include_parameters, &error))
        g_task_return_boolean(task, TRUE);
    else
        g_task_return_error(task, error);
}

void rs_export_image_async(const char *source_png, const char *dest, RsExportFormat format,
                           gboolean include_parameters, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
    ExportData *d = g_new0(ExportData, 1);
    d->source = g_strdup(source_png);
    d->dest = g_strdup(dest);
    d->format = format;
    d->include_parameters = include_parameters;
    GTask *task = g_task_new(NULL, cancellable, callback, user_data);
    g_task_set_task_data(task, d, export_data_free);
    g_task_run_in_thread(task, export_in_thread);
    g_object_unref(task);
}

gboolean rs_export_image_finish(GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}
