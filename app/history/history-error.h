/* Errors of the history store, in one GError domain whose messages can be shown to the user. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define HISTORY_ERROR (history_error_quark())
GQuark history_error_quark(void);

typedef enum {
    HISTORY_ERROR_IO,           /* the database or an image file could not be read or written */
    HISTORY_ERROR_CORRUPT,      /* the database is damaged (at open it is moved aside instead) */
    HISTORY_ERROR_BUSY,         /* another program kept the history busy for too long */
    HISTORY_ERROR_NEWER_SCHEMA, /* written by a newer ResDiT Studio; left untouched */
    HISTORY_ERROR_NOT_FOUND,    /* no generation with that id */
    HISTORY_ERROR_INVALID,      /* a bad argument or a malformed parameter blob */
    HISTORY_ERROR_INTERNAL,     /* an unexpected SQLite failure */
} HistoryErrorCode;

G_END_DECLS
