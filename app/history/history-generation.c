/* HistoryGeneration: status names, freeing, and reading one from a result row. */
#include "history-store-private.h"

static const char *const status_names[HISTORY_N_STATUSES] = {
    "queued", "running", "done", "cancelled", "failed", "interrupted",
};

const char *history_status_name(HistoryStatus status)
{
    g_return_val_if_fail((guint)status < HISTORY_N_STATUSES, "failed");
    return status_names[status];
}

gboolean history_status_from_name(const char *name, HistoryStatus *status)
{
    for (guint i = 0; i < HISTORY_N_STATUSES; i++) {
        if (g_strcmp0(name, status_names[i]) == 0) {
            *status = (HistoryStatus)i;
            return TRUE;
        }
    }
    return FALSE;
}

static void timing_clear(gpointer data)
{
    HistoryTiming *t = data;
    g_free(t->phase);
}

void history_generation_free(HistoryGeneration *gen)
{
    if (gen == NULL)
        return;
    history_params_clear(&gen->params);
    g_free(gen->params_json);
    g_free(gen->image_path);
    g_free(gen->error_message);
    if (gen->timings)
        g_array_unref(gen->timings);
    g_free(gen);
}

static char *column_text(sqlite3_stmt *stmt, int col)
{
    const unsigned char *text = sqlite3_column_text(stmt, col);
    return text ? g_strdup((const char *)text) : NULL;
}

HistoryGeneration *history_generation_from_row(sqlite3_stmt *stmt, GError **error)
{
    g_autoptr(HistoryGeneration) gen = g_new0(HistoryGeneration, 1);
    gen->timings = g_array_new(FALSE, TRUE, sizeof(HistoryTiming));
    g_array_set_clear_func(gen->timings, timing_clear);
    gen->id = sqlite3_column_int64(stmt, 0);
    const char *status = (const char *)sqlite3_column_text(stmt, 1);
    if (!history_status_from_name(status, &gen->status)) {
        g_set_error(error, HISTORY_ERROR, HISTORY_ERROR_CORRUPT,
                    "Generation %" G_GINT64_FORMAT " has an unknown status \"%s\"", gen->id,
                    status ? status : "");
        return NULL;
    }
    gen->created_at = sqlite3_column_int64(stmt, 2);
    gen->started_at = sqlite3_column_int64(stmt, 3);
    gen->finished_at = sqlite3_column_int64(stmt, 4);
    gen->params_json = column_text(stmt, 5);
    gen->image_path = column_text(stmt, 6);
    gen->error_message = column_text(stmt, 7);
    gen->peak_host_bytes = sqlite3_column_int64(stmt, 8);
    gen->peak_device_bytes = sqlite3_column_int64(stmt, 9);
    gen->owner_pid = sqlite3_column_int64(stmt, 10);
    gen->has_thumbnail = sqlite3_column_int(stmt, 11) != 0;
    if (!history_params_from_json(&gen->params, gen->params_json ? gen->params_json : "", error)) {
        g_prefix_error(error, "Generation %" G_GINT64_FORMAT ": ", gen->id);
        return NULL;
    }
    return g_steal_pointer(&gen);
}
