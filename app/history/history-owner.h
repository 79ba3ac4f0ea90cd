/* Which process owns a queued or running row. Internal to app/history.
 *
 * Each open store holds an exclusive flock() on its own lock file, owners/<token>.lock next to
 * the database, and writes <token> into the rows it starts. The kernel drops the lock when the
 * process ends, however it ends (kill -9 included) and across reboots, so a lock that can be
 * taken means the owner is gone. Unlike a pid this cannot be fooled by a recycled pid, and it
 * works across pid namespaces (a Flatpak sandbox and the host see different pids). */
#pragma once

#include <glib.h>

typedef struct HistoryOwner HistoryOwner;

HistoryOwner *history_owner_acquire(const char *lock_dir, GError **error);
const char *history_owner_get_token(const HistoryOwner *owner);
/* Removes the lock file and drops the lock. */
void history_owner_release(HistoryOwner *owner);

/* FALSE when no live process holds the lock of token (a stale lock file is removed). */
gboolean history_owner_is_alive(const char *lock_dir, const char *token);
