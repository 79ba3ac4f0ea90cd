#include "random-vae.h"

#include <math.h>

void random_vae_add_conv(RdMemoryCheckpoint *ck, const char *name, int64_t out, int64_t in, int k)
{
    g_autofree char *w = g_strconcat(name, ".weight", NULL);
    g_autofree char *b = g_strconcat(name, ".bias", NULL);
    rd_memory_checkpoint_add_random(ck, w, 4, (int64_t[]){out, in, k, k},
                                    1.0f / sqrtf((float)(in * k * k)), 0);
    rd_memory_checkpoint_add_random(ck, b, 1, (int64_t[]){out}, 0.02f, 0);
}

void random_vae_add_norm(RdMemoryCheckpoint *ck, const char *name, int64_t channels)
{
    g_autofree char *w = g_strconcat(name, ".weight", NULL);
    g_autofree char *b = g_strconcat(name, ".bias", NULL);
    rd_memory_checkpoint_add_random(ck, w, 1, (int64_t[]){channels}, 0.1f, 1.0f);
    rd_memory_checkpoint_add_random(ck, b, 1, (int64_t[]){channels}, 0.02f, 0);
}

void random_vae_add_linear(RdMemoryCheckpoint *ck, const char *name, int64_t rows, int64_t cols)
{
    g_autofree char *w = g_strconcat(name, ".weight", NULL);
    g_autofree char *b = g_strconcat(name, ".bias", NULL);
    rd_memory_checkpoint_add_random(ck, w, 2, (int64_t[]){rows, cols},
                                    1.0f / sqrtf((float)cols), 0);
    rd_memory_checkpoint_add_random(ck, b, 1, (int64_t[]){rows}, 0.02f, 0);
}

void random_vae_add_resnet(RdMemoryCheckpoint *ck, const char *p, int cin, int cout)
{
    g_autofree char *n1 = g_strconcat(p, ".norm1", NULL), *n2 = g_strconcat(p, ".norm2", NULL);
    g_autofree char *c1 = g_strconcat(p, ".conv1", NULL), *c2 = g_strconcat(p, ".conv2", NULL);
    g_autofree char *sc = g_strconcat(p, ".conv_shortcut", NULL);
    random_vae_add_norm(ck, n1, cin);
    random_vae_add_conv(ck, c1, cout, cin, 3);
    random_vae_add_norm(ck, n2, cout);
    random_vae_add_conv(ck, c2, cout, cout, 3);
    if (cin != cout)
        random_vae_add_conv(ck, sc, cout, cin, 1);
}

void random_vae_add_mid(RdMemoryCheckpoint *ck, const char *part, int c)
{
    g_autofree char *r0 = g_strdup_printf("%s.mid_block.resnets.0", part);
    g_autofree char *r1 = g_strdup_printf("%s.mid_block.resnets.1", part);
    g_autofree char *gn = g_strdup_printf("%s.mid_block.attentions.0.group_norm", part);
    random_vae_add_resnet(ck, r0, c, c);
    random_vae_add_norm(ck, gn, c);
    const char *proj[] = {"to_q", "to_k", "to_v", "to_out.0"};
    for (int i = 0; i < 4; i++) {
        g_autofree char *n = g_strdup_printf("%s.mid_block.attentions.0.%s", part, proj[i]);
        random_vae_add_linear(ck, n, c, c);
    }
    random_vae_add_resnet(ck, r1, c, c);
}

int random_flux_vae_fd(RdVaeConfig *defaults, GError **error)
{
    static const int ch[4] = {512, 512, 256, 128}; /* diffusers up_blocks order */
    RdMemoryCheckpoint *ck = rd_memory_checkpoint_new();
    random_vae_add_conv(ck, "decoder.conv_in", ch[0], 16, 3);
    random_vae_add_mid(ck, "decoder", ch[0]);
    int cin = ch[0];
    for (int l = 0; l < 4; l++) {
        for (int j = 0; j < 3; j++) {
            g_autofree char *n = g_strdup_printf("decoder.up_blocks.%d.resnets.%d", l, j);
            random_vae_add_resnet(ck, n, j == 0 ? cin : ch[l], ch[l]);
        }
        cin = ch[l];
        if (l < 3) {
            g_autofree char *u = g_strdup_printf("decoder.up_blocks.%d.upsamplers.0.conv", l);
            random_vae_add_conv(ck, u, cin, cin, 3);
        }
    }
    random_vae_add_norm(ck, "decoder.conv_norm_out", cin);
    random_vae_add_conv(ck, "decoder.conv_out", 3, cin, 3);
    const RdVaeConfig flux = {16, 0, 0, 32, 0.3611, 0.1159};
    *defaults = flux;
    return rd_memory_checkpoint_finish(ck, "resdit-bench-flux-vae", error);
}
