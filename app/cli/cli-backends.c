/* resdit backends: which compute backends this build has, whether each can run here, and which
 * attention path the CUDA backend takes (cuDNN's fused SDPA or our kernel, and why). */
#include <stdio.h>

#include "backend.h"
#include "resdit.h"
#include "cli.h"

int cli_backends(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    g_autofree char *reason = NULL;
    gboolean cuda = resdit_cuda_available(&reason);
    printf("cpu   usable (reference backend)\n");
    printf("cuda  %s%s%s\n", cuda ? "usable" : "not usable", cuda ? "" : ": ",
           cuda ? "" : reason);
    if (!cuda)
        return 0;
    g_autoptr(GError) error = NULL;
    g_autoptr(RdBackend) be = rd_backend_cuda_new(&error);
    if (!be) {
        printf("      attention: unknown (the backend did not start: %s)\n", error->message);
        return 0;
    }
    g_autofree char *attention = rd_backend_cuda_attention(be);
    printf("      attention (bf16, head dim 128): %s\n", attention);
    g_autofree char *fp8 = rd_backend_cuda_fp8(be);
    printf("      fp8 weights: %s\n", fp8);
    return 0;
}
