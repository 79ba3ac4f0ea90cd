/* A job's row in the history, shared by the app and the command line (GLib only). */
#pragma once

#include "history-params.h"
#include "history-store.h"
#include "resdit.h"

G_BEGIN_DECLS

/* The history's record of a job about to run (seed already fixed). */
void job_record_params_to_history(const ResditJobParams *params, const char *model_name,
                                  const char *fingerprint, const char *backend,
                                  HistoryParams *out);
/* The engine parameters of a history record (params initialised by the caller). */
void job_record_params_from_history(const HistoryParams *record, ResditJobParams *params);

/* The history's identity of the model's weight files ("" when none can be read). */
char *job_record_fingerprint(const ResditModelPaths *paths);

/* Writes the row of a job that starts now (running); its id, or 0 with error set. */
gint64 job_record_begin(HistoryStore *store, const ResditJobParams *params,
                        const ResditModel *model, const char *fingerprint, GError **error);
/* Finishes the row: done (image saved at image_path, with a thumbnail), cancelled, or failed
 * with job_error's message; timings and peak memory from image when there is one. */
gboolean job_record_finish(HistoryStore *store, gint64 id, const ResditImage *image,
                           const char *image_path, const GError *job_error, GError **error);

G_END_DECLS
