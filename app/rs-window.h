/* RsWindow: the main window (header bar, parameters panel, canvas). */
#pragma once

#include <adwaita.h>

#include "rs-application.h"

G_BEGIN_DECLS

#define RS_TYPE_WINDOW (rs_window_get_type())
G_DECLARE_FINAL_TYPE(RsWindow, rs_window, RS, WINDOW, AdwApplicationWindow)

RsWindow *rs_window_new(RsApplication *app);

G_END_DECLS
