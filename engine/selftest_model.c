#include "selftest_model.h"

#include <errno.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "flux_model.h"
#include "noise.h"
#include "resdit.h"

typedef struct {
    char *name;
    int ndim;
    int64_t shape[4];
    float *data;
    size_t numel;
} MemTensor;

struct RdMemoryCheckpoint {
    GPtrArray *tensors;
};

static void mem_tensor_free(gpointer p)
{
    MemTensor *t = p;
    g_free(t->name);
    g_free(t->data);
    g_free(t);
}

RdMemoryCheckpoint *rd_memory_checkpoint_new(void)
{
    RdMemoryCheckpoint *ck = g_new0(RdMemoryCheckpoint, 1);
    ck->tensors = g_ptr_array_new_with_free_func(mem_tensor_free);
    return ck;
}

/* FNV-1a: a stable seed per tensor name, so adding a tensor never changes the others. */
static guint64 name_seed(const char *name)
{
    guint64 h = G_GUINT64_CONSTANT(0xcbf29ce484222325);
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * G_GUINT64_CONSTANT(0x100000001b3);
    return h;
}

void rd_memory_checkpoint_add_random(RdMemoryCheckpoint *ck, const char *name, int ndim,
                                     const int64_t *shape, float scale, float offset)
{
    MemTensor *t = g_new0(MemTensor, 1);
    t->name = g_strdup(name);
    t->ndim = ndim;
    t->numel = 1;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        t->numel *= (size_t)shape[i];
    }
    t->data = g_new(float, t->numel);
    rd_noise_normal(name_seed(name), t->data, t->numel);
    for (size_t i = 0; i < t->numel; i++)
        t->data[i] = t->data[i] * scale + offset;
    g_ptr_array_add(ck->tensors, t);
}

static char *header_json(RdMemoryCheckpoint *ck, size_t *data_size)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    size_t offset = 0;
    for (guint i = 0; i < ck->tensors->len; i++) {
        MemTensor *t = g_ptr_array_index(ck->tensors, i);
        json_builder_set_member_name(b, t->name);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "dtype");
        json_builder_add_string_value(b, "F32");
        json_builder_set_member_name(b, "shape");
        json_builder_begin_array(b);
        for (int d = 0; d < t->ndim; d++)
            json_builder_add_int_value(b, t->shape[d]);
        json_builder_end_array(b);
        json_builder_set_member_name(b, "data_offsets");
        json_builder_begin_array(b);
        json_builder_add_int_value(b, (gint64)offset);
        offset += t->numel * sizeof(float);
        json_builder_add_int_value(b, (gint64)offset);
        json_builder_end_array(b);
        json_builder_end_object(b);
    }
    json_builder_end_object(b);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    *data_size = offset;
    return json_generator_to_data(gen, NULL);
}

static gboolean write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return FALSE;
        p += w;
        n -= (size_t)w;
    }
    return TRUE;
}

int rd_memory_checkpoint_finish(RdMemoryCheckpoint *ck, const char *label, GError **error)
{
    size_t data_size;
    g_autofree char *json = header_json(ck, &data_size);
    /* The header is padded with spaces to a multiple of 8 so the data stays aligned. */
    size_t json_len = strlen(json), padded = (json_len + 7) / 8 * 8;
    g_autofree char *header = g_malloc(padded);
    memcpy(header, json, json_len);
    memset(header + json_len, ' ', padded - json_len);
    guint64 len_le = GUINT64_TO_LE((guint64)padded);
    int fd = memfd_create(label, MFD_CLOEXEC);
    gboolean ok = fd >= 0 && write_all(fd, &len_le, 8) && write_all(fd, header, padded);
    for (guint i = 0; ok && i < ck->tensors->len; i++) {
        MemTensor *t = g_ptr_array_index(ck->tensors, i);
        ok = write_all(fd, t->data, t->numel * sizeof(float));
    }
    int err = errno;
    g_ptr_array_unref(ck->tensors);
    g_free(ck);
    if (!ok) {
        if (fd >= 0)
            close(fd);
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_IO,
                    "Cannot build the self-test model in memory (%s): %s", label, g_strerror(err));
        return -1;
    }
    return fd;
}

char *rd_memory_file_path(int fd)
{
    return g_strdup_printf("/proc/self/fd/%d", fd);
}

/* ---- the tiny transformer (BFL names) ---------------------------------------------------- */

enum { HIDDEN = 256, HEAD_DIM = 128, MLP = 512, IN = 64, DOUBLE_BLOCKS = 1, SINGLE_BLOCKS = 1 };

static void add_linear(RdMemoryCheckpoint *ck, const char *name, int64_t out, int64_t in,
                       float gain)
{
    g_autofree char *w = g_strconcat(name, ".weight", NULL);
    g_autofree char *b = g_strconcat(name, ".bias", NULL);
    rd_memory_checkpoint_add_random(ck, w, 2, (int64_t[]){out, in}, gain / sqrtf((float)in), 0);
    rd_memory_checkpoint_add_random(ck, b, 1, (int64_t[]){out}, 0.02f, 0);
}

static void add_vector(RdMemoryCheckpoint *ck, const char *name, int64_t n, float scale,
                       float offset)
{
    rd_memory_checkpoint_add_random(ck, name, 1, (int64_t[]){n}, scale, offset);
}

static void add_stream(RdMemoryCheckpoint *ck, int block, const char *s)
{
    char n[128];
#define NAME(fmt) (g_snprintf(n, sizeof n, "double_blocks.%d.%s" fmt, block, s), n)
    add_linear(ck, NAME("_mod.lin"), 6 * HIDDEN, HIDDEN, 0.5f);
    add_linear(ck, NAME("_attn.qkv"), 3 * HIDDEN, HIDDEN, 1.0f);
    add_vector(ck, NAME("_attn.norm.query_norm.scale"), HEAD_DIM, 0.1f, 1.0f);
    add_vector(ck, NAME("_attn.norm.key_norm.scale"), HEAD_DIM, 0.1f, 1.0f);
    add_linear(ck, NAME("_attn.proj"), HIDDEN, HIDDEN, 1.0f);
    add_linear(ck, NAME("_mlp.0"), MLP, HIDDEN, 1.0f);
    add_linear(ck, NAME("_mlp.2"), HIDDEN, MLP, 1.0f);
#undef NAME
}

int rd_selftest_transformer(GError **error)
{
    RdMemoryCheckpoint *ck = rd_memory_checkpoint_new();
    add_linear(ck, "img_in", HIDDEN, IN, 1.0f);
    add_linear(ck, "txt_in", HIDDEN, RD_SELFTEST_TXT_DIM, 1.0f);
    add_linear(ck, "time_in.in_layer", HIDDEN, 256, 1.0f);
    add_linear(ck, "time_in.out_layer", HIDDEN, HIDDEN, 1.0f);
    add_linear(ck, "vector_in.in_layer", HIDDEN, RD_SELFTEST_VEC_DIM, 1.0f);
    add_linear(ck, "vector_in.out_layer", HIDDEN, HIDDEN, 1.0f);
    add_linear(ck, "guidance_in.in_layer", HIDDEN, 256, 1.0f);
    add_linear(ck, "guidance_in.out_layer", HIDDEN, HIDDEN, 1.0f);
    for (int b = 0; b < DOUBLE_BLOCKS; b++) {
        add_stream(ck, b, "img");
        add_stream(ck, b, "txt");
    }
    for (int b = 0; b < SINGLE_BLOCKS; b++) {
        char n[128];
#define NAME(fmt) (g_snprintf(n, sizeof n, "single_blocks.%d." fmt, b), n)
        add_linear(ck, NAME("modulation.lin"), 3 * HIDDEN, HIDDEN, 0.5f);
        add_linear(ck, NAME("linear1"), 3 * HIDDEN + MLP, HIDDEN, 1.0f);
        add_vector(ck, NAME("norm.query_norm.scale"), HEAD_DIM, 0.1f, 1.0f);
        add_vector(ck, NAME("norm.key_norm.scale"), HEAD_DIM, 0.1f, 1.0f);
        add_linear(ck, NAME("linear2"), HIDDEN, HIDDEN + MLP, 1.0f);
#undef NAME
    }
    add_linear(ck, "final_layer.adaLN_modulation.1", 2 * HIDDEN, HIDDEN, 0.5f);
    add_linear(ck, "final_layer.linear", IN, HIDDEN, 1.0f);
    return rd_memory_checkpoint_finish(ck, "resdit-selftest-transformer", error);
}

/* ---- the tiny VAE decoder (diffusers names, 4 levels: 8x upscaling) ---------------------- */

static const int vae_channels[4] = {32, 32, 16, 16}; /* up level 0 (first) .. 3 */

static void add_conv(RdMemoryCheckpoint *ck, const char *name, int64_t out, int64_t in, int k)
{
    g_autofree char *w = g_strconcat(name, ".weight", NULL);
    g_autofree char *b = g_strconcat(name, ".bias", NULL);
    rd_memory_checkpoint_add_random(ck, w, 4, (int64_t[]){out, in, k, k},
                                    1.0f / sqrtf((float)(in * k * k)), 0);
    rd_memory_checkpoint_add_random(ck, b, 1, (int64_t[]){out}, 0.02f, 0);
}

static void add_norm(RdMemoryCheckpoint *ck, const char *name, int64_t c)
{
    g_autofree char *w = g_strconcat(name, ".weight", NULL);
    g_autofree char *b = g_strconcat(name, ".bias", NULL);
    add_vector(ck, w, c, 0.1f, 1.0f);
    add_vector(ck, b, c, 0.1f, 0.0f);
}

static void add_resnet(RdMemoryCheckpoint *ck, const char *prefix, int cin, int cout)
{
    g_autofree char *n1 = g_strconcat(prefix, ".norm1", NULL);
    g_autofree char *c1 = g_strconcat(prefix, ".conv1", NULL);
    g_autofree char *n2 = g_strconcat(prefix, ".norm2", NULL);
    g_autofree char *c2 = g_strconcat(prefix, ".conv2", NULL);
    g_autofree char *sc = g_strconcat(prefix, ".conv_shortcut", NULL);
    add_norm(ck, n1, cin);
    add_conv(ck, c1, cout, cin, 3);
    add_norm(ck, n2, cout);
    add_conv(ck, c2, cout, cout, 3);
    if (cin != cout)
        add_conv(ck, sc, cout, cin, 1);
}

/* The encoder, the decoder's mirror (diffusers names): image-to-image and upscale tests. The
 * tensors are seeded by name, so the decoder's weights do not depend on it. */
static void add_encoder(RdMemoryCheckpoint *ck)
{
    const int top = vae_channels[0];
    add_conv(ck, "encoder.conv_in", vae_channels[3], 3, 3);
    int cin = vae_channels[3];
    for (int l = 0; l < 4; l++) {
        const int c = vae_channels[3 - l];
        for (int j = 0; j < 2; j++) {
            g_autofree char *name = g_strdup_printf("encoder.down_blocks.%d.resnets.%d", l, j);
            add_resnet(ck, name, j == 0 ? cin : c, c);
        }
        cin = c;
        if (l < 3) {
            g_autofree char *name =
                g_strdup_printf("encoder.down_blocks.%d.downsamplers.0.conv", l);
            add_conv(ck, name, c, c, 3);
        }
    }
    add_resnet(ck, "encoder.mid_block.resnets.0", top, top);
    add_norm(ck, "encoder.mid_block.attentions.0.group_norm", top);
    const char *proj[] = {"to_q", "to_k", "to_v", "to_out.0"};
    for (size_t i = 0; i < G_N_ELEMENTS(proj); i++) {
        g_autofree char *name = g_strdup_printf("encoder.mid_block.attentions.0.%s", proj[i]);
        add_linear(ck, name, top, top, 1.0f);
    }
    add_resnet(ck, "encoder.mid_block.resnets.1", top, top);
    add_norm(ck, "encoder.conv_norm_out", top);
    add_conv(ck, "encoder.conv_out", 32, top, 3); /* mean and log variance of 16 channels */
}

int rd_selftest_vae(GError **error)
{
    RdMemoryCheckpoint *ck = rd_memory_checkpoint_new();
    const int top = vae_channels[0];
    add_conv(ck, "decoder.conv_in", top, 16, 3);
    add_resnet(ck, "decoder.mid_block.resnets.0", top, top);
    add_norm(ck, "decoder.mid_block.attentions.0.group_norm", top);
    const char *proj[] = {"to_q", "to_k", "to_v", "to_out.0"};
    for (size_t i = 0; i < G_N_ELEMENTS(proj); i++) {
        g_autofree char *name = g_strdup_printf("decoder.mid_block.attentions.0.%s", proj[i]);
        add_linear(ck, name, top, top, 1.0f);
    }
    add_resnet(ck, "decoder.mid_block.resnets.1", top, top);
    int cin = top;
    for (int l = 0; l < 4; l++) {
        for (int j = 0; j < 2; j++) {
            g_autofree char *name = g_strdup_printf("decoder.up_blocks.%d.resnets.%d", l, j);
            add_resnet(ck, name, j == 0 ? cin : vae_channels[l], vae_channels[l]);
        }
        cin = vae_channels[l];
        if (l < 3) {
            g_autofree char *name = g_strdup_printf("decoder.up_blocks.%d.upsamplers.0.conv", l);
            add_conv(ck, name, cin, cin, 3);
        }
    }
    add_norm(ck, "decoder.conv_norm_out", cin);
    add_conv(ck, "decoder.conv_out", 3, cin, 3);
    add_encoder(ck);
    return rd_memory_checkpoint_finish(ck, "resdit-selftest-vae", error);
}

/* ---- the model --------------------------------------------------------------------------- */

static void remember_fd(ResditModel *m, int fd)
{
    if (!m->memory_files)
        m->memory_files = g_ptr_array_new();
    g_ptr_array_add(m->memory_files, GINT_TO_POINTER(fd));
}

ResditModel *rd_selftest_model_new(RdBackend *be, GError **error)
{
    int tfd = rd_selftest_transformer(error);
    int vfd = tfd >= 0 ? rd_selftest_vae(error) : -1;
    if (vfd < 0) {
        if (tfd >= 0)
            close(tfd);
        rd_backend_free(be);
        return NULL;
    }
    g_autofree char *tpath = rd_memory_file_path(tfd);
    g_autofree char *vpath = rd_memory_file_path(vfd);
    RdBackend *vae_be_extra = NULL;
    RdBackend *vae_be = rd_vae_backend_for(be, &vae_be_extra);
    FluxModel *flux = flux_model_load(tpath, be, error);
    RdSafetensors *vst = flux ? rd_safetensors_open(vpath, error) : NULL;
    const RdVaeConfig defaults = {16, 0, 0, 8, 0.3611, 0.1159};
    RdVae *vae = vst ? rd_vae_load_safetensors(vst, &defaults, vae_be, error) : NULL;
    if (!vae) {
        flux_model_free(flux);
        if (vae_be_extra)
            rd_backend_free(vae_be_extra);
        close(tfd);
        close(vfd);
        rd_backend_free(be);
        return NULL;
    }
    ResditModel *m = rd_model_new(RD_SELFTEST_NAME, be, rd_flux_denoiser_new(flux), vae, NULL, NULL);
    m->vae_be = vae_be_extra;
    m->selftest = TRUE;
    remember_fd(m, tfd);
    remember_fd(m, vfd);
    m->default_width = m->default_height = 256; /* 2x the tiny base grid: ResDiT at work */
    m->default_steps = 8;
    m->default_t5_len = 16;
    m->base_area = 64;
    m->patch = 8;
    m->base_size = 128; /* 8 x 8 tokens */
    return m;
}
