/* Model fingerprints: size plus head and tail of every weight file, hashed. */
#include "history-fingerprint.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <unistd.h>

#include "history-error.h"

#define SAMPLE_BYTES (1u << 20)

static gboolean hash_range(GChecksum *sum, int fd, goffset offset, gsize length, guint8 *buffer,
                           const char *path, GError **error)
{
    gsize done = 0;
    while (done < length) {
        ssize_t n = pread(fd, buffer, length - done, offset + (goffset)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int err = n < 0 ? errno : EIO;
            g_set_error(error, HISTORY_ERROR, HISTORY_ERROR_IO, "Could not read %s: %s", path,
                        g_strerror(err));
            return FALSE;
        }
        g_checksum_update(sum, buffer, (gssize)n);
        done += (gsize)n;
    }
    return TRUE;
}

static gboolean hash_file(GChecksum *sum, const char *path, guint8 *buffer, GError **error)
{
    int fd = g_open(path, O_RDONLY | O_CLOEXEC, 0);
    GStatBuf st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int err = errno;
        g_set_error(error, HISTORY_ERROR, HISTORY_ERROR_IO, "Could not read the model file %s: %s",
                    path, g_strerror(err));
        if (fd >= 0)
            close(fd);
        return FALSE;
    }
    guint64 size = (guint64)st.st_size;
    guint64 size_le = GUINT64_TO_LE(size);
    g_checksum_update(sum, (const guchar *)&size_le, sizeof(size_le));
    gsize head = (gsize)MIN(size, SAMPLE_BYTES);
    gsize tail = (gsize)MIN(size - head, SAMPLE_BYTES);
    gboolean ok = hash_range(sum, fd, 0, head, buffer, path, error) &&
                  hash_range(sum, fd, (goffset)(size - tail), tail, buffer, path, error);
    close(fd);
    return ok;
}

char *history_model_fingerprint(const char *const *paths, GError **error)
{
    g_return_val_if_fail(paths != NULL && paths[0] != NULL, NULL);
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_autofree guint8 *buffer = g_malloc(SAMPLE_BYTES);
    for (const char *const *p = paths; *p; p++)
        if (!hash_file(sum, *p, buffer, error))
            return NULL;
    const char *hex = g_checksum_get_string(sum);
    return g_strdup_printf("v1:%.32s", hex);
}
