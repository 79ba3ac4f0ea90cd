/* The `resdit` command line: one function per subcommand. */
#pragma once

typedef struct {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
} CliCommand;

int cli_forward(int argc, char **argv);
int cli_backends(int argc, char **argv);
int cli_generate(int argc, char **argv);
int cli_upscale(int argc, char **argv);
int cli_vae(int argc, char **argv);
int cli_models(int argc, char **argv);
int cli_encode_text(int argc, char **argv);
int cli_tokenize(int argc, char **argv);
int cli_history(int argc, char **argv);

/* Prints "resdit: message" to stderr and returns the exit code for errors. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
