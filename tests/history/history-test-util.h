/* Helpers shared by the history tests: temporary folders, deterministic parameters, PNG data. */
#pragma once

#include <sqlite3.h>

#include "history-store.h"

/* A fresh temporary folder; ht_remove_tree() deletes it again. */
char *ht_make_tmpdir(void);
void ht_remove_tree(const char *path);

/* Access errors that hold for root too: tests run as root, who reads a mode 000 file. When the
 * process runs as root, ht_give_away() makes path (and all inside it) belong to an unprivileged
 * user (nobody) and ht_drop_privileges() becomes that user for good (call it in a child process);
 * for any other user both do nothing, and chmod alone denies access. */
void ht_give_away(const char *path);
void ht_drop_privileges(void);

/* Parameters that differ in every field for every (writer, index), never the defaults. */
void ht_params_for(HistoryParams *params, int writer, int index);
/* A real PNG image (8 x 8 RGB) whose pixels depend on seed. */
GBytes *ht_png(guint seed);

/* Opens the database file directly (no store) and fails the test on error. */
sqlite3 *ht_sqlite_open(const char *path);
gint64 ht_sqlite_int(sqlite3 *db, const char *sql);
/* First row of PRAGMA integrity_check ("ok" when the file is sound). */
char *ht_integrity_check(const char *path);

HistoryStore *ht_open_store(const char *path);
/* Writes one full job (begin, then finish as done with timings, memory and thumbnail). */
gint64 ht_write_done_job(HistoryStore *store, int writer, int index);
/* Asserts the row is the job ht_write_done_job(writer, index) wrote, every field of it. */
void ht_assert_done_job(const HistoryGeneration *gen, int writer, int index);
