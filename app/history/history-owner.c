/* Owner locks: one flock()ed file per open store. */
#include "history-owner.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sys/file.h>
#include <unistd.h>

#include "history-error.h"

struct HistoryOwner {
    char *token;
    char *path;
    int fd;
};

static char *lock_path(const char *lock_dir, const char *token)
{
    g_autofree char *name = g_strconcat(token, ".lock", NULL);
    return g_build_filename(lock_dir, name, NULL);
}

HistoryOwner *history_owner_acquire(const char *lock_dir, GError **error)
{
    if (g_mkdir_with_parents(lock_dir, 0700) != 0) {
        int err = errno;
        g_set_error(error, HISTORY_ERROR, HISTORY_ERROR_IO, "Could not create the folder %s: %s",
                    lock_dir, g_strerror(err));
        return NULL;
    }
    HistoryOwner *owner = g_new0(HistoryOwner, 1);
    owner->token = g_uuid_string_random();
    owner->path = lock_path(lock_dir, owner->token);
    owner->fd = open(owner->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (owner->fd < 0 || flock(owner->fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        g_set_error(error, HISTORY_ERROR, HISTORY_ERROR_IO, "Could not lock %s: %s", owner->path,
                    g_strerror(err));
        if (owner->fd >= 0)
            close(owner->fd);
        owner->fd = -1;
        history_owner_release(owner);
        return NULL;
    }
    return owner;
}

const char *history_owner_get_token(const HistoryOwner *owner)
{
    return owner->token;
}

void history_owner_release(HistoryOwner *owner)
{
    if (owner == NULL)
        return;
    if (owner->fd >= 0) {
        g_unlink(owner->path); /* while still locked: nobody can take a lock of a live owner */
        close(owner->fd);
    }
    g_free(owner->token);
    g_free(owner->path);
    g_free(owner);
}

gboolean history_owner_is_alive(const char *lock_dir, const char *token)
{
    if (token == NULL || !g_uuid_string_is_valid(token))
        return FALSE;
    g_autofree char *path = lock_path(lock_dir, token);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return FALSE;
    gboolean alive = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    if (!alive)
        g_unlink(path);
    close(fd);
    return alive;
}
