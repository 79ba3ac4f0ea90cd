#include "rs-texture-load.h"

static void load_in_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    GError *error = NULL;
    GdkTexture *texture = gdk_texture_new_from_filename(data, &error);
    if (texture != NULL)
        g_task_return_pointer(task, texture, g_object_unref);
    else
        g_task_return_error(task, error);
}

void rs_texture_load_async(const char *path, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *task = g_task_new(NULL, cancellable, callback, user_data);
    g_task_set_task_data(task, g_strdup(path), g_free);
    g_task_run_in_thread(task, load_in_thread);
    g_object_unref(task);
}

GdkTexture *rs_texture_load_finish(GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}

const char *rs_texture_load_path(GAsyncResult *result)
{
    return g_task_get_task_data(G_TASK(result));
}
