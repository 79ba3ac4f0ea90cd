/* Reading an image file into a GdkTexture on a worker thread, so that large images do not stall
 * the window. */
#pragma once

#include <gtk/gtk.h>

/* Starts reading path; callback runs on the main thread (unless cancelled first, then it gets
 * G_IO_ERROR_CANCELLED from rs_texture_load_finish). */
void rs_texture_load_async(const char *path, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data);
/* The texture (unref it), or NULL with error set. */
GdkTexture *rs_texture_load_finish(GAsyncResult *result, GError **error);
/* The path the load was started for. */
const char *rs_texture_load_path(GAsyncResult *result);
