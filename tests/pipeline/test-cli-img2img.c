/* `resdit generate --init-image`, `resdit upscale` and `resdit vae encode|decode` as a user runs
 * them (the binary from $RESDIT_CLI), on the built-in self-test model and the tiny test VAE. */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "pipeline-private.h"
#include "png_writer.h"
#include "safetensors.h"
#include "selftest_model.h"
#include "test-util.h"
#include "vae.h"

static void expect(const char *const *args, int status, const char *needle)
{
    TuRun r = tu_run_cli(args);
    if (r.status != status || (needle && !strstr(r.err, needle)))
        g_printerr("resdit exited with %d; its stderr:\n%s\n", r.status, r.err);
    g_assert_cmpint(r.status, ==, status);
    if (needle)
        g_assert_nonnull(strstr(r.err, needle));
    tu_run_clear(&r);
}

static char *temp_dir(void)
{
    g_autoptr(GError) error = NULL;
    char *dir = g_dir_make_tmp("resdit-cli-i2i-XXXXXX", &error);
    g_assert_no_error(error);
    return dir;
}

static void remove_dir(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        g_unlink(path);
    }
    g_rmdir(dir);
}

static JsonObject *record(JsonParser *parser, const char *png)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *json = resdit_png_read_parameters(png, &error);
    g_assert_no_error(error);
    g_assert_true(json_parser_load_from_data(parser, json, -1, &error));
    return json_node_get_object(json_parser_get_root(parser));
}

static char *file_sha256(const char *path)
{
    g_autofree char *data = NULL;
    gsize len;
    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    return g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)data, len);
}

/* A PNG without a resdit record: random pixels. */
static void write_plain_png(const char *path, int w, int h, guint32 seed)
{
    guint8 *rgb = g_new(guint8, (size_t)w * h * 3);
    GRand *rand = g_rand_new_with_seed(seed);
    for (size_t i = 0; i < (size_t)w * h * 3; i++)
        rgb[i] = (guint8)g_rand_int_range(rand, 0, 256);
    g_rand_free(rand);
    g_autoptr(GError) error = NULL;
    g_assert_true(resdit_save_rgb_png(path, w, h, rgb, &error));
    g_free(rgb);
}

static void test_init_image_and_upscale(void)
{
    g_autofree char *dir = temp_dir();
    g_autofree char *src = g_build_filename(dir, "src.png", NULL);
    g_autofree char *i2i = g_build_filename(dir, "i2i.png", NULL);
    g_autofree char *up = g_build_filename(dir, "up.png", NULL);
    const char *gen[] = {"generate", "--selftest", "-p", "a red kite", "--seed", "77", "-W", "128",
                         "-H", "96", "--steps", "4", "-q", "-o", src, NULL};
    expect(gen, 0, NULL);
    const char *img[] = {"generate", "--selftest", "-p", "a red kite", "--seed", "78", "-W", "128",
                         "-H", "128", "--steps", "4", "-q", "--init-image", src, "--strength",
                         "0.6", "-o", i2i, NULL};
    expect(img, 0, NULL);
    g_autofree char *sha = file_sha256(src);
    g_autoptr(JsonParser) p1 = json_parser_new();
    JsonObject *o = record(p1, i2i);
    JsonObject *init = json_object_get_object_member(o, "init_image");
    g_assert_nonnull(init);
    g_assert_cmpstr(json_object_get_string_member(init, "path"), ==, src);
    g_assert_cmpstr(json_object_get_string_member(init, "sha256"), ==, sha);
    g_assert_cmpfloat(json_object_get_double_member(init, "strength"), ==, 0.6);

    /* Upscale a resdit PNG: prompt, model and seed from its record, the source's aspect. */
    const char *ups[] = {"upscale", src, "--size", "256", "--steps", "4", "-q", "-o", up, NULL};
    expect(ups, 0, NULL);
    g_autoptr(JsonParser) p2 = json_parser_new();
    o = record(p2, up);
    g_assert_cmpint(json_object_get_int_member(o, "width"), ==, 256);
    g_assert_cmpint(json_object_get_int_member(o, "height"), ==, 192);
    g_assert_cmpstr(json_object_get_string_member(o, "prompt"), ==, "a red kite");
    g_assert_cmpint(json_object_get_int_member(o, "seed"), ==, 77);
    g_assert_cmpstr(json_object_get_string_member(o, "model"), ==, RD_SELFTEST_NAME);
    init = json_object_get_object_member(o, "init_image");
    g_assert_cmpstr(json_object_get_string_member(init, "path"), ==, src);
    g_assert_cmpstr(json_object_get_string_member(init, "sha256"), ==, sha);
    g_assert_cmpfloat(json_object_get_double_member(init, "strength"), ==, 0.35);
    g_assert_true(json_object_has_member(o, "steps"));

    /* Any other PNG needs --prompt (and a model). */
    g_autofree char *plain = g_build_filename(dir, "plain.png", NULL);
    g_autofree char *up2 = g_build_filename(dir, "up2.png", NULL);
    write_plain_png(plain, 80, 48, 5);
    const char *noprompt[] = {"upscale", plain, "--selftest", "--size", "160", "-o", up2, NULL};
    expect(noprompt, 2, "give the prompt with --prompt");
    g_assert_false(g_file_test(up2, G_FILE_TEST_EXISTS));
    const char *withprompt[] = {"upscale", plain, "--selftest", "--size", "160", "-p", "sea",
                                "--steps", "4", "--strength", "0.5", "-q", "-o", up2, NULL};
    expect(withprompt, 0, NULL);
    g_autoptr(JsonParser) p3 = json_parser_new();
    o = record(p3, up2);
    g_assert_cmpint(json_object_get_int_member(o, "width"), ==, 160);
    g_assert_cmpint(json_object_get_int_member(o, "height"), ==, 96);
    init = json_object_get_object_member(o, "init_image");
    g_assert_cmpfloat(json_object_get_double_member(init, "strength"), ==, 0.5);
    remove_dir(dir);
}

static void test_bad_inputs(void)
{
    g_autofree char *dir = temp_dir();
    g_autofree char *out = g_build_filename(dir, "out.png", NULL);
    g_autofree char *plain = g_build_filename(dir, "plain.png", NULL);
    g_autofree char *junk = g_build_filename(dir, "junk.png", NULL);
    g_autofree char *missing = g_build_filename(dir, "missing.png", NULL);
    write_plain_png(plain, 64, 64, 9);
    g_assert_true(g_file_set_contents(junk, "\x89PNG\r\n\x1a\n garbage", -1, NULL));
    const char *strength_range[] = {"generate", "--selftest", "--init-image", plain,
                                    "--strength", "1.5", "-o", out, NULL};
    expect(strength_range, 2, "--strength");
    const char *strength_nan[] = {"generate", "--selftest", "--init-image", plain,
                                  "--strength", "nan", "-o", out, NULL};
    expect(strength_nan, 2, "--strength");
    const char *strength_alone[] = {"generate", "--selftest", "--strength", "0.5", "-o", out,
                                    NULL};
    expect(strength_alone, 2, "--init-image");
    const char *corrupt[] = {"generate", "--selftest", "-W", "64", "-H", "64", "--steps", "2",
                             "--init-image", junk, "--strength", "0.5", "-o", out, NULL};
    expect(corrupt, 1, junk);
    const char *gone[] = {"upscale", missing, "--selftest", "-p", "x", "-o", out, NULL};
    expect(gone, 1, "no such image file");
    const char *up_junk[] = {"upscale", junk, "--selftest", "-p", "x", "-o", out, NULL};
    expect(up_junk, 1, "not a PNG image");
    const char *up_none[] = {"upscale", "--selftest", "-p", "x", "-o", out, NULL};
    expect(up_none, 2, "which image?");
    const char *up_strength[] = {"upscale", plain,        "--selftest", "-p", "x",
                                 "--strength", "-0.1", "-o",         out,  NULL};
    expect(up_strength, 2, "--strength");
    const char *up_size[] = {"upscale", plain, "--selftest", "-p", "x", "--size", "99999",
                             "-o", out, NULL};
    expect(up_size, 2, "--size");
    g_assert_false(g_file_test(out, G_FILE_TEST_EXISTS));

    /* A record nested 200 000 deep would overflow json-glib's recursive parser: upscale names
     * the damage and exits, never crashes. */
    g_autofree char *deep = g_build_filename(dir, "deep.png", NULL);
    GString *nest = g_string_new(NULL);
    for (int i = 0; i < 200000; i++)
        g_string_append_c(nest, '[');
    guint8 rgb[16 * 16 * 3];
    for (size_t i = 0; i < sizeof rgb; i++)
        rgb[i] = (guint8)(i * 7);
    RdPngText text = {.key = "resdit", .text = nest->str, .utf8 = TRUE};
    g_assert_true(rd_png_write_rgb8(deep, 16, 16, rgb, &text, 1, NULL));
    g_string_free(nest, TRUE);
    const char *up_deep[] = {"upscale", deep, "--selftest", "-o", out, NULL};
    expect(up_deep, 1, "nest deeper than 64 levels");
    g_assert_false(g_file_test(out, G_FILE_TEST_EXISTS));
    remove_dir(dir);
}

/* vae encode against the encoder in this process (the same code and thread pool: the same
 * bits), the latent's layout, and decode back to a PNG of the image's size. */
static void test_vae_encode_decode(void)
{
    g_autofree char *dir = temp_dir();
    g_autofree char *png = g_build_filename(dir, "in.png", NULL);
    g_autofree char *lat = g_build_filename(dir, "latent.safetensors", NULL);
    g_autofree char *lat_bfl = g_build_filename(dir, "latent-bfl.safetensors", NULL);
    g_autofree char *back = g_build_filename(dir, "back.png", NULL);
    g_autofree char *vae_dir = tu_data_path("vae-encoder/diffusers");
    g_autofree char *vae_bfl = tu_data_path("vae-encoder/ae.safetensors");
    const int w = 56, h = 40;
    write_plain_png(png, w, h, 3);
    const char *enc[] = {"vae", "encode", "--vae", vae_dir, "--image", png, "--output", lat, NULL};
    expect(enc, 0, NULL);
    const char *enc_bfl[] = {"vae",   "encode", "--vae",    vae_bfl,
                             "--image", png,    "--output", lat_bfl, NULL};
    expect(enc_bfl, 0, NULL);
    g_autoptr(GError) error = NULL;
    RdSafetensors *st = rd_safetensors_open(lat, &error);
    g_assert_no_error(error);
    const RdTensorInfo *t = rd_safetensors_find(st, "latent");
    g_assert_nonnull(t);
    g_assert_cmpint(t->ndim, ==, 4);
    g_assert_cmpint(t->shape[0], ==, 1);
    g_assert_cmpint(t->shape[1], ==, 16);
    g_assert_cmpint(t->shape[2], ==, h / 8);
    g_assert_cmpint(t->shape[3], ==, w / 8);
    RdBackend *be = rd_backend_cpu_new();
    RdVae *vae = rd_vae_load(vae_dir, be, &error);
    g_assert_no_error(error);
    int pw, ph;
    g_autofree guint8 *rgb8 = resdit_png_load_rgb(png, &pw, &ph, &error);
    float *rgb = g_new(float, (size_t)w * h * 3), *ref = g_new(float, 16 * (size_t)(w / 8) * (h / 8));
    for (size_t i = 0; i < (size_t)w * h * 3; i++)
        rgb[i] = rgb8[i] / 127.5f - 1.0f;
    g_assert_true(rd_vae_encode(vae, rgb, h / 8, w / 8, 0, ref, NULL, &error));
    size_t n = 16 * (size_t)(w / 8) * (h / 8);
    float *got = g_new(float, n);
    memcpy(got, t->data, n * sizeof(float));
    tu_assert_close("vae encode (command vs library)", got, ref, n, 0, 0);
    rd_safetensors_close(st);
    /* BFL names: the same weights, so the same latent up to summation order */
    st = rd_safetensors_open(lat_bfl, &error);
    g_assert_no_error(error);
    memcpy(got, rd_safetensors_find(st, "latent")->data, n * sizeof(float));
    tu_assert_network_close("vae encode (BFL names)", got, ref, n,
                            tu_network_bound(60, (int64_t)w * h * 2, TU_U_F32));
    rd_safetensors_close(st);
    const char *dec[] = {"vae", "decode", "--vae", vae_dir, "--latent", lat, "--output", back, NULL};
    expect(dec, 0, NULL);
    int bw, bh;
    g_autofree guint8 *decoded = resdit_png_load_rgb(back, &bw, &bh, &error);
    g_assert_no_error(error);
    g_assert_nonnull(decoded);
    g_assert_cmpint(bw, ==, w);
    g_assert_cmpint(bh, ==, h);

    /* bad input: a decoder-only VAE, a size the VAE cannot take, a file without 'latent' */
    g_autofree char *dec_only = tu_data_path("vae/diffusers");
    g_autofree char *out = g_build_filename(dir, "x.safetensors", NULL);
    const char *no_enc[] = {"vae", "encode", "--vae", dec_only, "--image", png, "--output", out,
                            NULL};
    expect(no_enc, 1, "no VAE encoder");
    g_autofree char *odd = g_build_filename(dir, "odd.png", NULL);
    write_plain_png(odd, 60, 40, 4);
    const char *odd_size[] = {"vae", "encode", "--vae", vae_dir, "--image", odd, "--output", out,
                              NULL};
    expect(odd_size, 1, "multiples of 8");
    g_autofree char *x = g_build_filename(dir, "x.png", NULL);
    g_autofree char *wrong = tu_data_path("vae-encoder/ae.safetensors");
    const char *no_latent[] = {"vae", "decode", "--vae", vae_dir, "--latent", wrong, "--output",
                               x, NULL};
    expect(no_latent, 1, "no f32 tensor 'latent'");
    const char *usage[] = {"vae", "squash", "--vae", vae_dir, "--output", x, NULL};
    expect(usage, 2, "encode or");
    g_assert_false(g_file_test(out, G_FILE_TEST_EXISTS));
    g_assert_false(g_file_test(x, G_FILE_TEST_EXISTS));
    g_free(rgb);
    g_free(ref);
    g_free(got);
    rd_vae_free(vae);
    be->destroy(be);
    remove_dir(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_assert_nonnull(g_getenv("RESDIT_CLI"));
    g_test_add_func("/cli/img2img/init-image-and-upscale", test_init_image_and_upscale);
    g_test_add_func("/cli/img2img/bad-inputs", test_bad_inputs);
    g_test_add_func("/cli/vae/encode-decode", test_vae_encode_decode);
    return g_test_run();
}
