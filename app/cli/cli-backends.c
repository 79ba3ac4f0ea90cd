/* resdit backends: which compute backends this build has and whether each can run here. */
#include <stdio.h>

#include "resdit.h"
#include "cli.h"

int cli_backends(int argc, char **argv)
{
    g_autofree char *reason = NULL;
    gboolean cuda = resdit_cuda_available(&reason);
    printf("cpu   usable (reference backend)\n");
    printf("cuda  %s%s%s\n", cuda ? "usable" : "not usable", cuda ? "" : ": ",
           cuda ? "" : reason);
    return 0;
}
