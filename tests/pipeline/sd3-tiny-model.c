#include "sd3-tiny-model.h"

static void copy_file(const char *from, const char *to)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    g_autoptr(GError) error = NULL;
    g_assert_true(g_file_get_contents(from, &data, &len, &error));
    g_autofree char *dir = g_path_get_dirname(to);
    g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
    g_assert_true(g_file_set_contents(to, data, (gssize)len, &error));
}

static void copy_dir(const char *from, const char *to)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GDir) d = g_dir_open(from, 0, &error);
    g_assert_no_error(error);
    const char *name;
    while ((name = g_dir_read_name(d))) {
        g_autofree char *src = g_build_filename(from, name, NULL);
        g_autofree char *dst = g_build_filename(to, name, NULL);
        if (g_file_test(src, G_FILE_TEST_IS_DIR))
            copy_dir(src, dst);
        else
            copy_file(src, dst);
    }
}

static void copy_part(const char *data_dir, const char *rel, const char *root, const char *name)
{
    g_autofree char *from = g_build_filename(data_dir, rel, NULL);
    g_autofree char *to = g_build_filename(root, name, NULL);
    copy_dir(from, to);
}

static void write_text(const char *path, const char *text)
{
    g_autoptr(GError) error = NULL;
    g_assert_true(g_file_set_contents(path, text, -1, &error));
}

/* text with its one occurrence of old replaced */
static char *replace_once(const char *text, const char *old, const char *new_text)
{
    g_auto(GStrv) parts = g_strsplit(text, old, -1);
    g_assert_cmpuint(g_strv_length(parts), ==, 2);
    return g_strjoinv(new_text, parts);
}

/* The FLUX test VAE's constants become SD3's. */
static void use_sd3_constants(const char *root)
{
    g_autofree char *path = g_build_filename(root, "vae", "config.json", NULL);
    g_autofree char *config = NULL;
    g_assert_true(g_file_get_contents(path, &config, NULL, NULL));
    g_autofree char *scaled =
        replace_once(config, "\"scaling_factor\": 0.3611", "\"scaling_factor\": 1.5305");
    g_autofree char *shifted =
        replace_once(scaled, "\"shift_factor\": 0.1159", "\"shift_factor\": 0.0609");
    write_text(path, shifted);
}

char *sd3_tiny_model_assemble(const char *data_dir, const char *top, int base_size)
{
    char *root = g_build_filename(top, "sd3-tiny", NULL);
    copy_part(data_dir, "sd3-text/tiny", root, ".");
    copy_part(data_dir, "text/tiny/tokenizer_2", root, "tokenizer_3");
    copy_part(data_dir, "sd3-generate/transformer", root, "transformer");
    copy_part(data_dir, "vae/diffusers", root, "vae");
    use_sd3_constants(root);
    g_autofree char *index = g_build_filename(root, "model_index.json", NULL);
    write_text(index, "{\"_class_name\": \"StableDiffusion3Pipeline\", \"_diffusers_version\": "
                      "\"0.32.2\", \"transformer\": [\"diffusers\", \"SD3Transformer2DModel\"], "
                      "\"vae\": [\"diffusers\", \"AutoencoderKL\"], "
                      "\"text_encoder\": [\"transformers\", \"CLIPTextModelWithProjection\"], "
                      "\"text_encoder_2\": [\"transformers\", \"CLIPTextModelWithProjection\"], "
                      "\"text_encoder_3\": [\"transformers\", \"T5EncoderModel\"], "
                      "\"tokenizer\": [\"transformers\", \"CLIPTokenizer\"], "
                      "\"tokenizer_2\": [\"transformers\", \"CLIPTokenizer\"], "
                      "\"tokenizer_3\": [\"transformers\", \"T5TokenizerFast\"]}");
    g_autofree char *settings = g_build_filename(root, "resdit.json", NULL);
    g_autofree char *text = g_strdup_printf("{\"base_size\": %d}", base_size);
    write_text(settings, text);
    return root;
}
