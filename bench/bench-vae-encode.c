/* CPU benchmark of the VAE encoder (issue 22): seconds and peak memory of an encode at the
 * given image sides, with random weights in FLUX's encoder layout (channels 128/256/512/512, 2
 * resnets per level, 32 groups: "flux") or a tiny one (16/16/32/32, 8 groups: "tiny"), banded
 * under the pipeline's budget (a quarter of the free memory, at least 2 GiB) or untiled.
 * Usage: bench-vae-encode [flux|tiny] [untiled] [estimate] SIDE...   (default: tiny 1024 4096;
 *        "estimate" prints the band plan and the memory estimate without encoding)
 * Prints figures only; record them in bench/RESULTS.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "noise.h"
#include "pipeline-private.h"
#include "selftest_model.h"
#include "random-vae.h"
#include "vae-private.h"

/* The encoder in the chosen layout and a minimal decoder (the loader wants one; not run). */
static int vae_file(const int ch[4], GError **error)
{
    RdMemoryCheckpoint *ck = rd_memory_checkpoint_new();
    random_vae_add_conv(ck, "encoder.conv_in", ch[0], 3, 3);
    int cin = ch[0];
    for (int l = 0; l < 4; l++) {
        for (int j = 0; j < 2; j++) {
            g_autofree char *n = g_strdup_printf("encoder.down_blocks.%d.resnets.%d", l, j);
            random_vae_add_resnet(ck, n, j == 0 ? cin : ch[l], ch[l]);
        }
        cin = ch[l];
        if (l < 3) {
            g_autofree char *n = g_strdup_printf("encoder.down_blocks.%d.downsamplers.0.conv", l);
            random_vae_add_conv(ck, n, cin, cin, 3);
        }
    }
    random_vae_add_mid(ck, "encoder", cin);
    random_vae_add_norm(ck, "encoder.conv_norm_out", cin);
    random_vae_add_conv(ck, "encoder.conv_out", 32, cin, 3);
    const int dc = 32;
    random_vae_add_conv(ck, "decoder.conv_in", dc, 16, 3);
    random_vae_add_mid(ck, "decoder", dc);
    for (int l = 0; l < 4; l++) {
        g_autofree char *n = g_strdup_printf("decoder.up_blocks.%d.resnets.0", l);
        random_vae_add_resnet(ck, n, dc, dc);
        if (l < 3) {
            g_autofree char *u = g_strdup_printf("decoder.up_blocks.%d.upsamplers.0.conv", l);
            random_vae_add_conv(ck, u, dc, dc, 3);
        }
    }
    random_vae_add_norm(ck, "decoder.conv_norm_out", dc);
    random_vae_add_conv(ck, "decoder.conv_out", 3, dc, 3);
    return rd_memory_checkpoint_finish(ck, "resdit-bench-vae-encoder", error);
}

static guint64 status_kb(const char *key)
{
    g_autofree char *text = NULL;
    if (!g_file_get_contents("/proc/self/status", &text, NULL, NULL))
        return 0;
    const char *line = strstr(text, key);
    return line ? g_ascii_strtoull(line + strlen(key), NULL, 10) : 0;
}

int main(int argc, char **argv)
{
    static const int flux[4] = {128, 256, 512, 512}, tiny[4] = {16, 16, 32, 32};
    const int *ch = tiny;
    int groups = 8, sides[16], n_sides = 0;
    gboolean untiled = FALSE, estimate_only = FALSE;
    for (int i = 1; i < argc; i++) {
        if (g_str_equal(argv[i], "flux"))
            ch = flux, groups = 32;
        else if (g_str_equal(argv[i], "tiny"))
            ch = tiny, groups = 8;
        else if (g_str_equal(argv[i], "untiled"))
            untiled = TRUE;
        else if (g_str_equal(argv[i], "estimate"))
            estimate_only = TRUE;
        else if (n_sides < 16 && atoi(argv[i]) >= 8 && atoi(argv[i]) % 8 == 0)
            sides[n_sides++] = atoi(argv[i]);
        else {
            fprintf(stderr, "usage: bench-vae-encode [flux|tiny] [untiled] SIDE... (multiples "
                            "of 8)\n");
            return 2;
        }
    }
    if (n_sides == 0) {
        sides[n_sides++] = 1024;
        sides[n_sides++] = 4096;
    }
    GError *error = NULL;
    int fd = vae_file(ch, &error);
    g_autofree char *path = fd >= 0 ? rd_memory_file_path(fd) : NULL;
    RdSafetensors *st = path ? rd_safetensors_open(path, &error) : NULL;
    RdBackend *be = rd_backend_cpu_new();
    const RdVaeConfig defaults = {16, 0, 0, groups, 0.3611, 0.1159};
    RdVae *vae = st ? rd_vae_load_safetensors(st, &defaults, be, &error) : NULL;
    if (!vae)
        g_error("%s", error->message);
    const guint64 budget = MAX(RD_HOST_DECODE_BUDGET, rd_host_available() / 4);
    printf("## VAE encode, %s encoder layout (%d/%d/%d/%d channels, random weights, f32), %d "
           "threads, budget %.2f GB\n\n",
           ch == flux ? "FLUX" : "tiny", ch[0], ch[1], ch[2], ch[3], g_get_num_processors(),
           budget / 1e9);
    printf("| image | band rows (latent) | seconds | peak RSS GB | estimate GB |\n|---|---|---|---|---|\n");
    for (int i = 0; i < n_sides; i++) {
        const int side = sides[i], lat = side / 8;
        if (estimate_only) {
            int band = untiled ? 0 : rd_vae_encode_band_rows_for_budget(vae, lat, lat, budget);
            printf("| %dx%d | %d of %d (+%d halo) | - | - | %.2f (untiled %.2f) |\n", side, side,
                   band ? band : lat, lat, vae->enc.halo,
                   rd_vae_encode_bytes(vae, lat, lat, band) / 1e9,
                   rd_vae_encode_bytes(vae, lat, lat, 0) / 1e9);
            continue;
        }
        g_file_set_contents("/proc/self/clear_refs", "5", 1, NULL);
        float *rgb = g_new(float, (size_t)side * side * 3);
        rd_noise_normal(7, rgb, (size_t)side * side * 3);
        for (size_t k = 0; k < (size_t)side * side * 3; k++)
            rgb[k] = tanhf(rgb[k]);
        float *latent = g_new(float, (size_t)16 * lat * lat);
        int band = untiled ? 0 : rd_vae_encode_band_rows_for_budget(vae, lat, lat, budget);
        gint64 t0 = g_get_monotonic_time();
        if (!rd_vae_encode(vae, rgb, lat, lat, band, latent, NULL, &error))
            g_error("%s", error->message);
        double secs = (g_get_monotonic_time() - t0) / 1e6;
        g_autofree char *bands = band == 0 || band >= lat
                                     ? g_strdup_printf("untiled %d", lat)
                                     : g_strdup_printf("bands of %d (+%d halo), %d passes", band,
                                                       vae->enc.halo, RD_VAE_STAT_PASSES);
        printf("| %dx%d | %s | %.1f | %.2f | %.2f |\n", side, side, bands, secs,
               status_kb("VmHWM:") * 1024 / 1e9,
               rd_vae_encode_bytes(vae, lat, lat, band) / 1e9);
        fflush(stdout);
        g_free(rgb);
        g_free(latent);
    }
    rd_vae_free(vae);
    be->destroy(be);
    close(fd);
    return 0;
}
