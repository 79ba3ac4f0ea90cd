/* resdit-studio: the GNOME application. */
#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>

#include "rs-application.h"

int main(int argc, char **argv)
{
    setlocale(LC_ALL, "");
    bindtextdomain(GETTEXT_PACKAGE, LOCALEDIR);
    bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
    textdomain(GETTEXT_PACKAGE);
    g_set_application_name(_("ResDiT Studio"));

    g_autoptr(RsApplication) app = rs_application_new(G_APPLICATION_DEFAULT_FLAGS);
    return g_application_run(G_APPLICATION(app), argc, argv);
}
