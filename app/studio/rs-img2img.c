/* Image to image in the app: see rs-img2img.h. */
#include "rs-img2img.h"

#include <gdk/gdk.h>
#include <string.h>

#include "png_text.h"
#include "rs-size.h"

void rs_img2img_upscale_size(int source_width, int source_height, int long_side, int *width,
                             int *height)
{
    g_return_if_fail(source_width > 0 && source_height > 0);
    rs_size_for_aspect(source_width, source_height, long_side, width, height);
}

void rs_img2img_upscale_params(ResditJobParams *params, const char *source, int source_width,
                               int source_height, int long_side, double strength)
{
    rs_img2img_upscale_size(source_width, source_height, long_side, &params->width,
                            &params->height);
    params->random_seed = FALSE;
    resdit_job_params_set_init_image(params, source, CLAMP(strength, 0.0, 1.0));
}

gboolean rs_img2img_params_from_png(const char *path, ResditJobParams *params)
{
    /* the text chunk only: decoding would trust the header's claimed size */
    g_autofree char *json = rd_png_read_text(path, "resdit", NULL);
    return json != NULL && resdit_job_params_from_json(params, json, NULL);
}

gboolean rs_img2img_is_png(const char *path)
{
    static const guint8 signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    guint8 head[8];
    FILE *f = fopen(path, "rb");
    gboolean png = f != NULL && fread(head, 1, sizeof head, f) == sizeof head &&
                   memcmp(head, signature, sizeof head) == 0;
    if (f != NULL)
        fclose(f);
    return png;
}

char *rs_img2img_source_png(const char *path, const char *folder, GError **error)
{
    if (rs_img2img_is_png(path))
        return g_strdup(path);
    g_autoptr(GdkTexture) texture = gdk_texture_new_from_filename(path, error);
    if (texture == NULL)
        return NULL;
    /* One copy per source file: the name carries a hash of its path. */
    g_autofree char *base = g_path_get_basename(path);
    char *dot = strrchr(base, '.');
    if (dot != NULL && dot != base)
        *dot = '\0';
    g_autofree char *hash = g_compute_checksum_for_string(G_CHECKSUM_SHA256, path, -1);
    hash[12] = '\0';
    g_autofree char *name = g_strdup_printf("%s-%s.png", base, hash);
    char *png = g_build_filename(folder, name, NULL);
    if (g_mkdir_with_parents(folder, 0700) != 0 || !gdk_texture_save_to_png(texture, png)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                    "Could not write a PNG copy of the image to “%s”", png);
        g_free(png);
        return NULL;
    }
    return png;
}

char *rs_img2img_sources_folder(void)
{
    return g_build_filename(g_get_user_data_dir(), "resdit-studio", "sources", NULL);
}
