/* resdit encode-text / resdit tokenize: the text encoders and tokenizers from the command line. */
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "cli-number.h"
#include "cli.h"
#include "clip_tokenizer.h"
#include "resdit.h"
#include "safetensors.h"
#include "t5_tokenizer.h"
#include "text_encoders.h"
#include "text_paths.h"

static gboolean parse_backend(const char *name, RdBackendChoice *choice)
{
    if (!name || strcmp(name, "auto") == 0)
        *choice = RD_BACKEND_AUTO;
    else if (strcmp(name, "cpu") == 0)
        *choice = RD_BACKEND_CPU;
    else if (strcmp(name, "cuda") == 0)
        *choice = RD_BACKEND_CUDA;
    else
        return FALSE;
    return TRUE;
}

/* 0, or 2 (bad usage) with GOption's message. */
static int parse_options(GOptionContext *ctx, int *argc, char ***argv)
{
    GError *error = NULL;
    if (!g_option_context_parse(ctx, argc, argv, &error)) {
        int rc = cli_fail("%s", error->message) + 1;
        g_error_free(error);
        return rc;
    }
    return 0;
}

/* 0, or 2 (bad usage) with the parser's message. */
static int parse_number(const char *text, const char *option, int min, int max, int *out)
{
    GError *error = NULL;
    if (cli_number_int(text, option, min, max, out, &error))
        return 0;
    cli_fail("%s", error->message);
    g_error_free(error);
    return 2;
}

static void add_ids(RdSafetensorsWriter *w, const char *name, const int32_t *ids, int n,
                    GPtrArray *keep)
{
    int64_t *wide = g_new(int64_t, n);
    for (int i = 0; i < n; i++)
        wide[i] = ids[i];
    g_ptr_array_add(keep, wide);
    const int64_t shape[2] = {1, n};
    rd_safetensors_writer_add(w, name, RD_I64, 2, shape, wide);
}

static gboolean write_output(const char *path, RdTextEncoders *enc, const float *txt,
                             const float *vec, const int32_t *clip_ids, const int32_t *t5_ids,
                             int t5_len, GError **error)
{
    RdSafetensorsWriter *w = rd_safetensors_writer_new();
    GPtrArray *keep = g_ptr_array_new_with_free_func(g_free);
    const int64_t txt_shape[3] = {1, t5_len, rd_text_encoders_txt_dim(enc)};
    const int64_t vec_shape[2] = {1, rd_text_encoders_vec_dim(enc)};
    rd_safetensors_writer_add(w, "txt", RD_F32, 3, txt_shape, txt);
    rd_safetensors_writer_add(w, "vec", RD_F32, 2, vec_shape, vec);
    add_ids(w, "clip_ids", clip_ids, rd_text_encoders_clip_length(enc), keep);
    add_ids(w, "t5_ids", t5_ids, t5_len, keep);
    gboolean ok = rd_safetensors_writer_save(w, path, error);
    rd_safetensors_writer_free(w);
    g_ptr_array_free(keep, TRUE);
    return ok;
}

int cli_encode_text(int argc, char **argv)
{
    char *clip = NULL, *t5 = NULL, *prompt = NULL, *output = NULL, *backend_name = NULL;
    char *t5_len_text = NULL;
    int t5_len = 512;
    GOptionEntry entries[] = {
        {"clip", 0, 0, G_OPTION_ARG_FILENAME, &clip, "CLIP-L: model folder, component or file",
         "PATH"},
        {"t5", 0, 0, G_OPTION_ARG_FILENAME, &t5, "T5-XXL: model folder, component or file", "PATH"},
        /* raw bytes: the tokenizers check UTF-8 themselves, whatever the locale */
        {"prompt", 0, 0, G_OPTION_ARG_FILENAME, &prompt, "the prompt (UTF-8)", "TEXT"},
        {"output", 'o', 0, G_OPTION_ARG_FILENAME, &output, "safetensors file to write", "OUT"},
        {"t5-length", 0, 0, G_OPTION_ARG_STRING, &t5_len_text,
         "T5 tokens, 1 to 4096: 512 (dev, default) or 256 (schnell)", "N"},
        {"backend", 0, 0, G_OPTION_ARG_STRING, &backend_name, "auto (default), cpu or cuda",
         "NAME"},
        {NULL}};
    GOptionContext *ctx = g_option_context_new("- encode a prompt with CLIP-L and T5-XXL");
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_description(ctx, "Writes txt [1, L, C], vec [1, C_vec], clip_ids and "
                                          "t5_ids to OUT.");
    int rc = parse_options(ctx, &argc, &argv);
    if (!rc && t5_len_text)
        rc = parse_number(t5_len_text, "--t5-length", 1, 4096, &t5_len);
    RdBackendChoice choice = RD_BACKEND_AUTO;
    if (!rc && (!clip || !t5 || !prompt || !output))
        rc = cli_fail("encode-text needs --clip, --t5, --prompt and --output (see --help)") + 1;
    if (!rc && !parse_backend(backend_name, &choice))
        rc = cli_fail("--backend '%s': expected auto, cpu or cuda", backend_name) + 1;
    GError *error = NULL;
    RdBackend *be = rc ? NULL : rd_backend_new(choice, &error);
    RdTextEncoders *enc = be ? rd_text_encoders_load(clip, t5, NULL, NULL, be, &error) : NULL;
    if (enc) {
        float *txt = NULL, *vec = NULL;
        RdTextEncodeInfo info;
        int32_t *clip_ids = g_new(int32_t, rd_text_encoders_clip_length(enc));
        int32_t *t5_ids = g_new(int32_t, MAX(t5_len, 1));
        gint64 start = g_get_monotonic_time();
        if (rd_text_encoders_tokenize(enc, prompt, t5_len, clip_ids, t5_ids, NULL, &error) &&
            rd_text_encode(enc, prompt, t5_len, TRUE, &txt, &vec, &info, NULL, &error) &&
            write_output(output, enc, txt, vec, clip_ids, t5_ids, t5_len, &error)) {
            fprintf(stderr,
                    "resdit: encoded on %s in %.2f s, peak %.1f MiB; tokens dropped: CLIP %d, "
                    "T5 %d\n",
                    be->name, (g_get_monotonic_time() - start) / 1e6, info.peak_bytes / 1048576.0,
                    info.clip_dropped, info.t5_dropped);
        }
        g_free(txt);
        g_free(vec);
        g_free(clip_ids);
        g_free(t5_ids);
        rd_text_encoders_free(enc);
    }
    if (error)
        rc = cli_fail("%s", error->message);
    g_clear_error(&error);
    rd_backend_free(be);
    g_option_context_free(ctx);
    g_free(clip);
    g_free(t5);
    g_free(prompt);
    g_free(output);
    g_free(backend_name);
    g_free(t5_len_text);
    return rc;
}

static GArray *tokenize_with(const char *clip, const char *t5, const char *text, int max_length,
                             gboolean pad, int *dropped, GError **error)
{
    RdTextPaths paths;
    if (!rd_text_paths_resolve(clip ? clip : t5, clip ? RD_TEXT_CLIP : RD_TEXT_T5, &paths, error))
        return NULL;
    GArray *out = NULL;
    int32_t *ids = g_new(int32_t, max_length);
    gboolean ok = FALSE;
    int len = 0;
    if (clip) {
        RdClipTokenizer *tok = rd_clip_tokenizer_load(paths.tokenizer, error);
        ok = tok && rd_clip_tokenizer_encode(tok, text, max_length, ids, dropped, error);
        for (len = max_length;
             ok && !pad && len > 1 && ids[len - 1] == rd_clip_tokenizer_pad(tok) &&
             ids[len - 2] != rd_clip_tokenizer_bos(tok) &&
             (ids[len - 2] == rd_clip_tokenizer_pad(tok) ||
              ids[len - 2] == rd_clip_tokenizer_eos(tok));
             len--)
            ;
        rd_clip_tokenizer_free(tok);
    } else if (!paths.tokenizer) {
        rd_text_paths_t5_tokenizer_missing(t5, NULL, error);
    } else {
        RdT5Tokenizer *tok = rd_t5_tokenizer_load(paths.tokenizer, error);
        ok = tok && rd_t5_tokenizer_encode(tok, text, max_length, ids, dropped, error);
        for (len = max_length; ok && !pad && len > 1 && ids[len - 1] == rd_t5_tokenizer_pad(tok);
             len--)
            ;
        rd_t5_tokenizer_free(tok);
    }
    if (ok) {
        out = g_array_new(FALSE, FALSE, sizeof(int32_t));
        g_array_append_vals(out, ids, (guint)len);
    }
    g_free(ids);
    rd_text_paths_clear(&paths);
    return out;
}

int cli_tokenize(int argc, char **argv)
{
    char *clip = NULL, *t5 = NULL, *max_length_text = NULL;
    int max_length = 0;
    gboolean pad = FALSE;
    GOptionEntry entries[] = {
        {"clip", 0, 0, G_OPTION_ARG_FILENAME, &clip,
         "CLIP tokenizer: model folder, component or file", "PATH"},
        {"t5", 0, 0, G_OPTION_ARG_FILENAME, &t5, "T5 tokenizer: model folder, component or file",
         "PATH"},
        {"max-length", 0, 0, G_OPTION_ARG_STRING, &max_length_text,
         "tokens, 2 to 4096 (default: CLIP 77, T5 512)", "N"},
        {"pad", 0, 0, G_OPTION_ARG_NONE, &pad, "print the padding too", NULL},
        {NULL}};
    GOptionContext *ctx = g_option_context_new("TEXT - print the token ids as a JSON array");
    g_option_context_add_main_entries(ctx, entries, NULL);
    int rc = parse_options(ctx, &argc, &argv);
    if (!rc && (!clip == !t5 || argc != 2))
        rc = cli_fail("tokenize needs one of --clip PATH or --t5 PATH, and one TEXT") + 1;
    if (!rc && max_length_text)
        rc = parse_number(max_length_text, "--max-length", 2, 4096, &max_length);
    else if (!rc)
        max_length = clip ? 77 : 512;
    GError *error = NULL;
    int dropped = 0;
    GArray *ids =
        rc ? NULL : tokenize_with(clip, t5, argv[1], max_length, pad, &dropped, &error);
    if (ids) {
        putchar('[');
        for (guint i = 0; i < ids->len; i++)
            printf(i ? ", %d" : "%d", g_array_index(ids, int32_t, i));
        printf("]\n");
        if (dropped)
            fprintf(stderr, "resdit: %d tokens past the limit of %d were dropped\n", dropped,
                    max_length);
        g_array_unref(ids);
    }
    if (error)
        rc = cli_fail("%s", error->message);
    g_clear_error(&error);
    g_option_context_free(ctx);
    g_free(clip);
    g_free(t5);
    g_free(max_length_text);
    return rc;
}
