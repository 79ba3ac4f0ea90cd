/* resdit: the command line over the engine, for scripts, benchmarks and headless machines. */
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "resdit.h"

static const CliCommand commands[] = {
    {"generate", "generate an image from a prompt (FLUX.1 or SD3 + ResDiT) and write a PNG",
     cli_generate},
    {"upscale", "make a larger image from an image (e.g. 4k), redrawn with the model + ResDiT",
     cli_upscale},
    {"vae", "encode a PNG into a latent or decode a latent into a PNG (vae encode|decode)", cli_vae},
    {"models", "list the FLUX and SD3 models found on this machine and what each is missing",
     cli_models},
    {"forward", "run one transformer forward pass on saved inputs (verification)", cli_forward},
    {"backends", "list the compute backends and whether each is usable", cli_backends},
    {"encode-text", "encode a prompt with CLIP-L and T5-XXL into a safetensors file", cli_encode_text},
    {"tokenize", "print a prompt's CLIP or T5 token ids as JSON", cli_tokenize},
    {"history", "list, search, show and delete past generations", cli_history},
};

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("resdit: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

static void print_help(FILE *out)
{
    fprintf(out, "Usage: resdit COMMAND [OPTIONS]\n\n"
                 "Generate 3K-4K images with FLUX.1 or SD3 and ResDiT, without a window.\n\n"
                 "Commands:\n");
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
        fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nOptions:\n"
                 "  -h, --help     show this help (resdit COMMAND --help for a command)\n"
                 "  --version      print the version\n");
}

int main(int argc, char **argv)
{
    setlocale(LC_ALL, "");
    if (argc < 2) {
        print_help(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("resdit %s (engine %s, CUDA backend %s)\n", PACKAGE_VERSION, resdit_version(),
               HAVE_CUDA ? "built" : "not built");
        return 0;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        print_help(stdout);
        return 0;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "resdit: unknown command '%s'\n\n", argv[1]);
    print_help(stderr);
    return 2;
}
