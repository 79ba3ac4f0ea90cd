/* Export As: an image the engine wrote (a PNG with its "parameters" and "resdit" records) saved
 * again as PNG, JPEG or WebP, with or without its generation parameters.
 *
 * PNG keeps them as the engine writes them (text chunks, so this app and A1111-style tools read
 * them back). JPEG and WebP carry them in an XMP packet (a JPEG APP1 segment, a WebP "XMP "
 * chunk): the A1111 text as exif:UserComment and the engine's JSON record as
 * resdit:parameters. Every write is atomic (a temporary file in the target folder, then a rename):
 * a failed or interrupted export never leaves a partial file. No GTK: GLib, gdk-pixbuf (JPEG) and
 * libwebp. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum {
    RS_EXPORT_PNG,
    RS_EXPORT_JPEG,
    RS_EXPORT_WEBP,
    RS_EXPORT_N_FORMATS
} RsExportFormat;

#define RS_EXPORT_JPEG_QUALITY 92
#define RS_EXPORT_WEBP_QUALITY 90

/* "png", "jpeg", "webp". */
const char *rs_export_format_id(RsExportFormat format);
gboolean rs_export_format_from_id(const char *id, RsExportFormat *format);
/* The usual extension, without the dot ("png", "jpg", "webp"). */
const char *rs_export_format_extension(RsExportFormat format);
/* The format a file name's extension names (.png, .jpg/.jpeg, .webp, any case); FALSE if none. */
gboolean rs_export_format_from_path(const char *path, RsExportFormat *format);

/* The XMP packet that carries the parameters (either may be NULL). */
char *rs_export_xmp_packet(const char *a1111, const char *json);

/* Reads source_png (an engine PNG) and writes dest in format. */
gboolean rs_export_image(const char *source_png, const char *dest, RsExportFormat format,
                         gboolean include_parameters, GError **error);

/* The same on a worker thread. */
void rs_export_image_async(const char *source_png, const char *dest, RsExportFormat format,
                           gboolean include_parameters, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data);
gboolean rs_export_image_finish(GAsyncResult *result, GError **error);

G_END_DECLS
