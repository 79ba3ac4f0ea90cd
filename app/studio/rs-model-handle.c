/* RsModelHandle: open models, shared by reference count; opening and discovery on worker threads.
 */
#include "rs-model-handle.h"

#include <glib/gi18n.h>

#include "job-record.h"

RsModelHandle *rs_model_handle_ref(RsModelHandle *handle)
{
    return g_atomic_rc_box_acquire(handle);
}

static void handle_clear(gpointer data)
{
    RsModelHandle *handle = data;
    resdit_model_free(handle->model);
    g_free(handle->key);
    g_free(handle->fingerprint);
}

void rs_model_handle_unref(RsModelHandle *handle)
{
    g_atomic_rc_box_release_full(handle, handle_clear);
}

const char *rs_model_paths_key(const ResditModelPaths *paths)
{
    return paths->root != NULL ? paths->root : paths->transformer;
}

typedef struct {
    char *key;
    ResditModelPaths *paths;
    ResditBackendChoice backend;
} OpenRequest;

static void open_request_free(gpointer data)
{
    OpenRequest *request = data;
    g_free(request->key);
    if (request->paths != NULL)
        resdit_model_paths_free(request->paths);
    g_free(request);
}

static void open_in_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    OpenRequest *request = data;
    GError *error = NULL;
    ResditModel *model = NULL;
    if (request->paths == NULL) {
        model = resdit_model_open_selftest(request->backend, &error);
    } else {
        char *missing = resdit_model_paths_missing(request->paths);
        if (missing != NULL)
            g_set_error(&error, RESDIT_ERROR, RESDIT_ERROR_MODEL,
                        _("The model “%s” is missing parts: %s. Put them next to it or choose "
                          "another model."),
                        request->paths->name, missing);
        else
            model = resdit_model_open(request->paths, request->backend, &error);
        g_free(missing);
    }
    if (model == NULL) {
        g_task_return_error(task, error);
        return;
    }
    RsModelHandle *handle = g_atomic_rc_box_new0(RsModelHandle);
    handle->model = model;
    handle->key = g_strdup(request->key);
    handle->fingerprint =
        request->paths != NULL ? job_record_fingerprint(request->paths) : g_strdup("selftest");
    g_task_return_pointer(task, handle, (GDestroyNotify)rs_model_handle_unref);
}

void rs_model_handle_open_async(const char *key, const ResditModelPaths *paths,
                                ResditBackendChoice backend, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data)
{
    OpenRequest *request = g_new0(OpenRequest, 1);
    request->key = g_strdup(key);
    request->paths = paths != NULL ? resdit_model_paths_copy(paths) : NULL;
    request->backend = backend;
    GTask *task = g_task_new(NULL, cancellable, callback, user_data);
    g_task_set_source_tag(task, rs_model_handle_open_async);
    g_task_set_task_data(task, request, open_request_free);
    g_task_run_in_thread(task, open_in_thread);
    g_object_unref(task);
}

RsModelHandle *rs_model_handle_open_finish(GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}

static void discover_in_thread(GTask *task, gpointer source, gpointer data,
                               GCancellable *cancellable)
{
    GPtrArray *models = resdit_models_discover((const char *const *)data);
    g_task_return_pointer(task, models, (GDestroyNotify)g_ptr_array_unref);
}

void rs_models_discover_async(const char *const *extra_dirs, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *task = g_task_new(NULL, cancellable, callback, user_data);
    g_task_set_task_data(task, g_strdupv((char **)extra_dirs), (GDestroyNotify)g_strfreev);
    g_task_run_in_thread(task, discover_in_thread);
    g_object_unref(task);
}

GPtrArray *rs_models_discover_finish(GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}

void rs_model_folders_add(GSettings *settings, const char *path)
{
    char **folders = g_settings_get_strv(settings, "model-folders");
    if (!g_strv_contains((const char *const *)folders, path)) {
        GStrvBuilder *builder = g_strv_builder_new();
        g_strv_builder_addv(builder, (const char **)folders);
        g_strv_builder_add(builder, path);
        char **updated = g_strv_builder_end(builder);
        g_settings_set_strv(settings, "model-folders", (const char *const *)updated);
        g_strfreev(updated);
        g_strv_builder_unref(builder);
    }
    g_strfreev(folders);
}
