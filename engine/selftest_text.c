/* The self-test model's text encoders: a tiny CLIP text model (with the bundled CLIP vocabulary)
 * and a tiny T5 encoder with a small character-level SentencePiece vocabulary, all generated in
 * memory files. The text loader finds a T5 tokenizer next to the weights only, so both are
 * linked for a moment from a private temporary folder (symbolic links into memory; the folder
 * is removed as soon as the encoders are loaded). */
#include <errno.h>
#include <glib/gstdio.h>
#include <math.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "selftest_model.h"
#include "text_encoders.h"

#define CLIP_VOCAB 49408
#define CLIP_POSITIONS 77
#define CLIP_LAYERS 1
#define T5_LAYERS 1
#define T5_HEADS 2
#define T5_D_KV 16
#define T5_FF 64

static void add_matrix(RdMemoryCheckpoint *ck, const char *name, int64_t out, int64_t in)
{
    rd_memory_checkpoint_add_random(ck, name, 2, (int64_t[]){out, in}, 1.0f / sqrtf((float)in), 0);
}

static void add_vec(RdMemoryCheckpoint *ck, const char *name, int64_t n, float scale, float offset)
{
    rd_memory_checkpoint_add_random(ck, name, 1, (int64_t[]){n}, scale, offset);
}

static void add_clip_linear(RdMemoryCheckpoint *ck, const char *prefix, int64_t out, int64_t in)
{
    g_autofree char *w = g_strconcat(prefix, ".weight", NULL);
    g_autofree char *b = g_strconcat(prefix, ".bias", NULL);
    add_matrix(ck, w, out, in);
    add_vec(ck, b, out, 0.02f, 0);
}

static void add_layer_norm(RdMemoryCheckpoint *ck, const char *prefix, int64_t n)
{
    g_autofree char *w = g_strconcat(prefix, ".weight", NULL);
    g_autofree char *b = g_strconcat(prefix, ".bias", NULL);
    add_vec(ck, w, n, 0.1f, 1.0f);
    add_vec(ck, b, n, 0.1f, 0);
}

static int clip_file(GError **error)
{
    const int D = RD_SELFTEST_VEC_DIM;
    RdMemoryCheckpoint *ck = rd_memory_checkpoint_new();
    rd_memory_checkpoint_add_random(ck, "text_model.embeddings.token_embedding.weight", 2,
                                    (int64_t[]){CLIP_VOCAB, D}, 0.5f, 0);
    rd_memory_checkpoint_add_random(ck, "text_model.embeddings.position_embedding.weight", 2,
                                    (int64_t[]){CLIP_POSITIONS, D}, 0.1f, 0);
    for (int l = 0; l < CLIP_LAYERS; l++) {
        const char *parts[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                               "self_attn.out_proj"};
        for (size_t i = 0; i < G_N_ELEMENTS(parts); i++) {
            g_autofree char *n = g_strdup_printf("text_model.encoder.layers.%d.%s", l, parts[i]);
            add_clip_linear(ck, n, D, D);
        }
        g_autofree char *fc1 = g_strdup_printf("text_model.encoder.layers.%d.mlp.fc1", l);
        g_autofree char *fc2 = g_strdup_printf("text_model.encoder.layers.%d.mlp.fc2", l);
        g_autofree char *ln1 = g_strdup_printf("text_model.encoder.layers.%d.layer_norm1", l);
        g_autofree char *ln2 = g_strdup_printf("text_model.encoder.layers.%d.layer_norm2", l);
        add_clip_linear(ck, fc1, 4 * D, D);
        add_clip_linear(ck, fc2, D, 4 * D);
        add_layer_norm(ck, ln1, D);
        add_layer_norm(ck, ln2, D);
    }
    add_layer_norm(ck, "text_model.final_layer_norm", D);
    return rd_memory_checkpoint_finish(ck, "resdit-selftest-clip", error);
}

/* The pieces of the tiny T5 vocabulary: specials, the word marker, and single characters. */
static const char *const T5_SPECIALS[] = {"<pad>", "</s>", "<unk>"};
static const char T5_CHARS[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?'\"-()";

static int t5_vocab_size(void)
{
    return (int)G_N_ELEMENTS(T5_SPECIALS) + 1 + 2 * (int)strlen(T5_CHARS);
}

static int t5_file(GError **error)
{
    const int D = RD_SELFTEST_TXT_DIM, inner = T5_HEADS * T5_D_KV;
    RdMemoryCheckpoint *ck = rd_memory_checkpoint_new();
    rd_memory_checkpoint_add_random(ck, "shared.weight", 2, (int64_t[]){t5_vocab_size(), D}, 1.0f,
                                    0);
    rd_memory_checkpoint_add_random(
        ck, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", 2,
        (int64_t[]){32, T5_HEADS}, 0.5f, 0);
    for (int l = 0; l < T5_LAYERS; l++) {
        const char *qkv[] = {"q", "k", "v"};
        for (int i = 0; i < 3; i++) {
            g_autofree char *n =
                g_strdup_printf("encoder.block.%d.layer.0.SelfAttention.%s.weight", l, qkv[i]);
            add_matrix(ck, n, inner, D);
        }
        g_autofree char *o = g_strdup_printf("encoder.block.%d.layer.0.SelfAttention.o.weight", l);
        g_autofree char *ln0 = g_strdup_printf("encoder.block.%d.layer.0.layer_norm.weight", l);
        g_autofree char *wi0 =
            g_strdup_printf("encoder.block.%d.layer.1.DenseReluDense.wi_0.weight", l);
        g_autofree char *wi1 =
            g_strdup_printf("encoder.block.%d.layer.1.DenseReluDense.wi_1.weight", l);
        g_autofree char *wo =
            g_strdup_printf("encoder.block.%d.layer.1.DenseReluDense.wo.weight", l);
        g_autofree char *ln1 = g_strdup_printf("encoder.block.%d.layer.1.layer_norm.weight", l);
        add_matrix(ck, o, D, inner);
        add_vec(ck, ln0, D, 0.1f, 1.0f);
        add_matrix(ck, wi0, T5_FF, D);
        add_matrix(ck, wi1, T5_FF, D);
        add_matrix(ck, wo, D, T5_FF);
        add_vec(ck, ln1, D, 0.1f, 1.0f);
    }
    add_vec(ck, "encoder.final_layer_norm.weight", D, 0.1f, 1.0f);
    return rd_memory_checkpoint_finish(ck, "resdit-selftest-t5", error);
}

/* A SentencePiece Unigram tokenizer.json: specials, "▁", every character alone and with the
 * word marker, Metaspace pre-tokenizer. */
static char *t5_tokenizer_json(void)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "added_tokens");
    json_builder_begin_array(b);
    for (int i = 0; i < (int)G_N_ELEMENTS(T5_SPECIALS); i++) {
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "id");
        json_builder_add_int_value(b, i);
        json_builder_set_member_name(b, "content");
        json_builder_add_string_value(b, T5_SPECIALS[i]);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_set_member_name(b, "pre_tokenizer");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "Metaspace");
    json_builder_set_member_name(b, "replacement");
    json_builder_add_string_value(b, "\xe2\x96\x81");
    json_builder_set_member_name(b, "prepend_scheme");
    json_builder_add_string_value(b, "always");
    json_builder_end_object(b);
    json_builder_set_member_name(b, "model");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "Unigram");
    json_builder_set_member_name(b, "unk_id");
    json_builder_add_int_value(b, 2);
    json_builder_set_member_name(b, "vocab");
    json_builder_begin_array(b);
    for (int i = 0; i < (int)G_N_ELEMENTS(T5_SPECIALS) + 1; i++) {
        json_builder_begin_array(b);
        json_builder_add_string_value(b, i < 3 ? T5_SPECIALS[i] : "\xe2\x96\x81");
        json_builder_add_double_value(b, i < 3 ? 0.0 : -2.0);
        json_builder_end_array(b);
    }
    for (int marked = 0; marked < 2; marked++)
        for (const char *c = T5_CHARS; *c; c++) {
            char piece[8];
            g_snprintf(piece, sizeof piece, "%s%c", marked ? "\xe2\x96\x81" : "", *c);
            json_builder_begin_array(b);
            json_builder_add_string_value(b, piece);
            json_builder_add_double_value(b, marked ? -3.0 : -4.0);
            json_builder_end_array(b);
        }
    json_builder_end_array(b);
    json_builder_end_object(b);
    json_builder_end_object(b);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    return json_generator_to_data(gen, NULL);
}

static int memory_text_file(const char *label, const char *text, GError **error)
{
    int fd = memfd_create(label, MFD_CLOEXEC);
    size_t n = strlen(text);
    if (fd < 0 || write(fd, text, n) != (ssize_t)n) {
        if (fd >= 0)
            close(fd);
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_IO, "Cannot build %s in memory", label);
        return -1;
    }
    return fd;
}

static gboolean link_into(const char *dir, const char *name, int fd, GError **error)
{
    g_autofree char *target = rd_memory_file_path(fd);
    g_autofree char *link = g_build_filename(dir, name, NULL);
    if (symlink(target, link) == 0)
        return TRUE;
    g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_IO, "Cannot link %s: %s", link,
                g_strerror(errno));
    return FALSE;
}

RdTextEncoders *rd_selftest_text_encoders(ResditModel *m, GError **error)
{
    g_autofree char *json = t5_tokenizer_json();
    int fds[3] = {clip_file(error), -1, -1};
    if (fds[0] >= 0)
        fds[1] = t5_file(error);
    if (fds[1] >= 0)
        fds[2] = memory_text_file("resdit-selftest-t5-tokenizer", json, error);
    RdTextEncoders *enc = NULL;
    g_autofree char *dir = fds[2] >= 0 ? g_dir_make_tmp("resdit-selftest-XXXXXX", error) : NULL;
    if (dir && link_into(dir, "model.safetensors", fds[1], error) &&
        link_into(dir, "tokenizer.json", fds[2], error)) {
        g_autofree char *clip = rd_memory_file_path(fds[0]);
        g_autofree char *t5 = g_build_filename(dir, "model.safetensors", NULL);
        enc = rd_text_encoders_load(clip, t5, NULL, NULL, m->be, error);
    }
    if (dir) {
        const char *names[] = {"model.safetensors", "tokenizer.json"};
        for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
            g_autofree char *link = g_build_filename(dir, names[i], NULL);
            g_unlink(link);
        }
        g_rmdir(dir);
    }
    for (int i = 0; i < 3; i++)
        if (fds[i] >= 0) {
            if (!m->memory_files)
                m->memory_files = g_ptr_array_new();
            g_ptr_array_add(m->memory_files, GINT_TO_POINTER(fds[i]));
        }
    return enc;
}
