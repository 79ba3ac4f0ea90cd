#include "resdit.h"

G_DEFINE_QUARK(resdit-error-quark, resdit_error)

const char *resdit_version(void)
{
    return "0.1.0";
}
