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
#include "vae-private.h"

static void add_conv(RdMemoryCheckpoint *ck, const char *name, int64_t out, int64_t in, int k)
{
    g_autofree char *w = g_strconcat(name, ".weight", NULL);
    g_autofree char *b = g_strconcat(name, ".bias", NULL);
    rd_memory_checkpoint_add_random(ck, w, 4, (int64_t[]){out, in, k, k},
                                    1.0f / sqrtf((float)(in * k * k)), 0);
    rd_memory_checkpoint_add_random(ck, b, 1, (int64_t[]){out}, 0.02f, 0);
}

static void add_pair(RdMemoryCheckpoint *ck, const char *name, int64_t rows, int64_t cols,
                     float scale, float offset)
{
    g_autofree char *w = g_strconcat(name, ".weight", NULL);
    g_autofree char *b = g_strconcat(name, ".bias", NULL);
    if (cols > 0)
        rd_memory_checkpoint_add_random(ck, w, 2, (int64_t[]){rows, cols}, scale, offset);
    else
        rd_memory_checkpoint_add_random(ck, w, 1, (int64_t[]){rows}, scale, offset);
    rd_memory_checkpoint_add_random(ck, b, 1, (int64_t[]){rows}, 0.02f, 0);
}

static void add_resnet(RdMemoryCheckpoint *ck, const char *p, int cin, int cout)
{
    g_autofree char *n1 = g_strconcat(p, ".norm1", NULL), *n2 = g_strconcat(p, ".norm2", NULL);
    g_autofree char *c1 = g_strconcat(p, ".conv1", NULL), *c2 = g_strconcat(p, ".conv2", NULL);
    g_autofree char *sc = g_strconcat(p, ".conv_shortcut", NULL);
    add_pair(ck, n1, cin, 0, 0.1f, 1.0f);
    add_conv(ck, c1, cout, cin, 3);
    add_pair(ck, n2, cout, 0, 0.1f, 1.0f);
    add_conv(ck, c2, cout, cout, 3);
    if (cin != cout)
        add_conv(ck, sc, cout, cin, 1);
}

static void add_mid(RdMemoryCheckpoint *ck, const char *part, int c)
{
    g_autofree char *r0 = g_strdup_printf("%s.mid_block.resnets.0", part);
    g_autofree char *r1 = g_strdup_printf("%s.mid_block.resnets.1", part);
    g_autofree char *gn = g_strdup_printf("%s.mid_block.attentions.0.group_norm", part);
    add_resnet(ck, r0, c, c);
    add_pair(ck, gn, c, 0, 0.1f, 1.0f);
    const char *proj[] = {"to_q", "to_k", "to_v", "to_out.0"};
    for (int i = 0; i < 4; i++) {
        g_autofree char *n = g_strdup_printf("%s.mid_block.attentions.0.%s", part, proj[i]);
        add_pair(ck, n, c, c, 1.0f / sqrtf((float)c), 0);
    }
    add_resnet(ck, r1, c, c);
}

/* The encoder in the chosen layout and a minimal decoder (the loader wants one; not run). */
static int vae_file(const int ch[4], GError **error)
{
    RdMemoryCheckpoint *ck = rd_memory_checkpoint_new();
    add_conv(ck, "encoder.conv_in", ch[0], 3, 3);
    int cin = ch[0];
    for (int l = 0; l < 4; l++) {
        for (int j = 0; j < 2; j++) {
            g_autofree char *n = g_strdup_printf("encoder.down_blocks.%d.resnets.%d", l, j);
            add_resnet(ck, n, j == 0 ? cin : ch[l], ch[l]);
        }
        cin = ch[l];
        if (l < 3) {
            g_autofree char *n = g_strdup_printf("encoder.down_blocks.%d.downsamplers.0.conv", l);
            add_conv(ck, n, cin, cin, 3);
        }
    }
    add_mid(ck, "encoder", cin);
    add_pair(ck, "encoder.conv_norm_out", cin, 0, 0.1f, 1.0f);
    add_conv(ck, "encoder.conv_out", 32, cin, 3);
    const int dc = 32;
    add_conv(ck, "decoder.conv_in", dc, 16, 3);
    add_mid(ck, "decoder", dc);
    for (int l = 0; l < 4; l++) {
        g_autofree char *n = g_strdup_printf("decoder.up_blocks.%d.resnets.0", l);
        add_resnet(ck, n, dc, dc);
        if (l < 3) {
            g_autofree char *u = g_strdup_printf("decoder.up_blocks.%d.upsamplers.0.conv", l);
            add_conv(ck, u, dc, dc, 3);
        }
    }
    add_pair(ck, "decoder.conv_norm_out", dc, 0, 0.1f, 1.0f);
    add_conv(ck, "decoder.conv_out", 3, dc, 3);
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
