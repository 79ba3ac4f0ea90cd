/* RsModelHandle: an open engine model shared by the window and the jobs running on it, with the
 * identity the history records (name, fingerprint, backend). Opened on a worker thread. */
#pragma once

#include <gio/gio.h>

#include "resdit.h"

G_BEGIN_DECLS

#define RS_MODEL_KEY_SELFTEST "self-test"

typedef struct {
    ResditModel *model;
    char *key;         /* "self-test", or the folder/file the model was found at */
    char *fingerprint; /* history_model_fingerprint of its weight files, or "selftest" */
} RsModelHandle;

RsModelHandle *rs_model_handle_ref(RsModelHandle *handle);
void rs_model_handle_unref(RsModelHandle *handle);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RsModelHandle, rs_model_handle_unref)

/* The key the picker uses for a discovered model. */
const char *rs_model_paths_key(const ResditModelPaths *paths);

/* Opens the model (paths NULL: the self-test model) on a worker thread. A model with missing
 * parts fails with RESDIT_ERROR_MODEL naming them. */
void rs_model_handle_open_async(const char *key, const ResditModelPaths *paths,
                                ResditBackendChoice backend, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data);
RsModelHandle *rs_model_handle_open_finish(GAsyncResult *result, GError **error);

/* resdit_models_discover(extra_dirs) on a worker thread; the result is a GPtrArray of
 * ResditModelPaths. */
void rs_models_discover_async(const char *const *extra_dirs, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data);
GPtrArray *rs_models_discover_finish(GAsyncResult *result, GError **error);

/* Appends path to the "model-folders" setting unless it is there already. */
void rs_model_folders_add(GSettings *settings, const char *path);

G_END_DECLS
