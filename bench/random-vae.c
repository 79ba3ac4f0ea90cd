#include "random-vae.h"

#include <math.h>

#include "selftest_model.h"

static void add_conv(RdMemoryCheckpoint *ck, const char *name, int64_t out, int64_t in, int k)
{
    g_autofree char *w = g_strconcat(name, ".weight", NULL);
    g_autofree char *b = g_strconcat(name, ".bias", NULL);
    rd_memory_checkpoint_add_random(ck, w, 4, (int64_t[]){out, in, k, k},
                                    1.0f / sqrtf((float)(in * k * k)), 0);
    rd_memory_checkpoint_add_random(ck, b, 1, (int64_t[]){out}, 0.02f, 0);
}

/* A norm (cols 0: weight ~ 1) or a linear layer, with its bias. */
static void add_pair(RdMemoryCheckpoint *ck, const char *name, int64_t rows, int64_t cols)
{
    g_autofree char *w = g_strconcat(name, ".weight", NULL);
    g_autofree char *b = g_strconcat(name, ".bias", NULL);
    if (cols > 0)
        rd_memory_checkpoint_add_random(ck, w, 2, (int64_t[]){rows, cols},
                                        1.0f / sqrtf((float)cols), 0);
    else
        rd_memory_checkpoint_add_random(ck, w, 1, (int64_t[]){rows}, 0.1f, 1.0f);
    rd_memory_checkpoint_add_random(ck, b, 1, (int64_t[]){rows}, 0.02f, 0);
}

static void add_resnet(RdMemoryCheckpoint *ck, const char *p, int cin, int cout)
{
    g_autofree char *n1 = g_strconcat(p, ".norm1", NULL), *n2 = g_strconcat(p, ".norm2", NULL);
    g_autofree char *c1 = g_strconcat(p, ".conv1", NULL), *c2 = g_strconcat(p, ".conv2", NULL);
    g_autofree char *sc = g_strconcat(p, ".conv_shortcut", NULL);
    add_pair(ck, n1, cin, 0);
    add_conv(ck, c1, cout, cin, 3);
    add_pair(ck, n2, cout, 0);
    add_conv(ck, c2, cout, cout, 3);
    if (cin != cout)
        add_conv(ck, sc, cout, cin, 1);
}

int random_flux_vae_fd(RdVaeConfig *defaults, GError **error)
{
    static const int ch[4] = {512, 512, 256, 128}; /* diffusers up_blocks order */
    RdMemoryCheckpoint *ck = rd_memory_checkpoint_new();
    add_conv(ck, "decoder.conv_in", ch[0], 16, 3);
    add_resnet(ck, "decoder.mid_block.resnets.0", ch[0], ch[0]);
    add_pair(ck, "decoder.mid_block.attentions.0.group_norm", ch[0], 0);
    const char *proj[] = {"to_q", "to_k", "to_v", "to_out.0"};
    for (int i = 0; i < 4; i++) {
        g_autofree char *n = g_strdup_printf("decoder.mid_block.attentions.0.%s", proj[i]);
        add_pair(ck, n, ch[0], ch[0]);
    }
    add_resnet(ck, "decoder.mid_block.resnets.1", ch[0], ch[0]);
    int cin = ch[0];
    for (int l = 0; l < 4; l++) {
        for (int j = 0; j < 3; j++) {
            g_autofree char *n = g_strdup_printf("decoder.up_blocks.%d.resnets.%d", l, j);
            add_resnet(ck, n, j == 0 ? cin : ch[l], ch[l]);
        }
        cin = ch[l];
        if (l < 3) {
            g_autofree char *u = g_strdup_printf("decoder.up_blocks.%d.upsamplers.0.conv", l);
            add_conv(ck, u, cin, cin, 3);
        }
    }
    add_pair(ck, "decoder.conv_norm_out", cin, 0);
    add_conv(ck, "decoder.conv_out", 3, cin, 3);
    const RdVaeConfig flux = {16, 0, 0, 32, 0.3611, 0.1159};
    *defaults = flux;
    return rd_memory_checkpoint_finish(ck, "resdit-bench-flux-vae", error);
}
