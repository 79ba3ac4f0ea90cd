/* RsApplication: the ResDiT Studio application object (app actions, about window). */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define RS_TYPE_APPLICATION (rs_application_get_type())
G_DECLARE_FINAL_TYPE(RsApplication, rs_application, RS, APPLICATION, AdwApplication)

RsApplication *rs_application_new(GApplicationFlags flags);

G_END_DECLS
