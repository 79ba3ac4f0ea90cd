/* The memory planner (engine/memory_plan.c):
 * - FLUX-dev's real tensor names and shapes (transformer, T5-XXL, CLIP-L, the VAE) in sparse
 *   safetensors files: real headers, the data region a hole (ftruncate), so 30 GB of "weights"
 *   take a few kilobytes of disk; plans for 24, 16 and 12 GiB cards at 4096 x 4096;
 * - `resdit generate --dry-run --vram` on those files (the binary from $RESDIT_CLI): exit 0 when
 *   the job fits, 1 with the reason when nothing does, 2 for a bad size;
 * - a counting allocator on the CPU backend: the bytes a job on the self-test model allocates
 *   through the backend, phase by phase, against the plan's terms. */
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "flux_model.h"
#include "flux_private.h"
#include "memory_plan.h"
#include "pipeline-private.h"
#include "safetensors.h"
#include "test-util.h"

#define GIB (G_GUINT64_CONSTANT(1) << 30)

/* ---- sparse files -------------------------------------------------------------------------- */

typedef struct {
    GString *json;
    guint64 offset;
} Header;

static void header_init(Header *h)
{
    h->json = g_string_new("{");
    h->offset = 0;
}

static void add(Header *h, const char *dtype, int esize, const char *name, int ndim,
                const gint64 *shape)
{
    guint64 n = 1;
    g_string_append_printf(h->json, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[",
                           h->json->len > 1 ? "," : "", name, dtype);
    for (int i = 0; i < ndim; i++) {
        g_string_append_printf(h->json, "%s%" G_GINT64_FORMAT, i ? "," : "", shape[i]);
        n *= (guint64)shape[i];
    }
    g_string_append_printf(h->json,
                           "],\"data_offsets\":[%" G_GUINT64_FORMAT ",%" G_GUINT64_FORMAT "]}",
                           h->offset, h->offset + n * (guint64)esize);
    h->offset += n * (guint64)esize;
}

#define ADD(h, dt, es, ...)                                                                        \
    do {                                                                                           \
        const gint64 shape_[] = {__VA_ARGS__};                                                     \
        add(h, dt, es, name, G_N_ELEMENTS(shape_), shape_);                                        \
    } while (0)

/* Writes the header and makes the data region a hole of the right size. */
static void header_write(Header *h, const char *path)
{
    g_string_append_c(h->json, '}');
    while ((h->json->len + 8) % 8)
        g_string_append_c(h->json, ' ');
    int fd = g_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    g_assert_cmpint(fd, >=, 0);
    guint8 len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (guint8)((guint64)h->json->len >> (8 * i));
    g_assert_cmpint(write(fd, len, 8), ==, 8);
    g_assert_cmpint(write(fd, h->json->str, h->json->len), ==, (gssize)h->json->len);
    g_assert_cmpint(ftruncate(fd, (off_t)(8 + h->json->len + h->offset)), ==, 0);
    close(fd);
    g_string_free(h->json, TRUE);
}

/* FLUX.1-dev as Black Forest Labs ship it (flux1-dev.safetensors, bf16; or fp8 E4M3 matrices as
 * in ComfyUI's fp8 files, with its prefix). */
static void write_flux_dev(const char *path, gboolean fp8)
{
    Header h;
    header_init(&h);
    const char *pre = fp8 ? "model.diffusion_model." : "";
    const char *mdt = fp8 ? "F8_E4M3" : "BF16";
    const int mes = fp8 ? 1 : 2;
    char name[256];
#define LIN(fmt, out, in)                                                                          \
    do {                                                                                           \
        g_snprintf(name, sizeof name, "%s" fmt ".weight", pre);                                    \
        ADD(&h, mdt, mes, out, in);                                                                \
        g_snprintf(name, sizeof name, "%s" fmt ".bias", pre);                                      \
        ADD(&h, "BF16", 2, out);                                                                   \
    } while (0)
#define LINB(fmt, b, out, in)                                                                      \
    do {                                                                                           \
        g_snprintf(name, sizeof name, "%s" fmt ".weight", pre, b);                                 \
        ADD(&h, mdt, mes, out, in);                                                                \
        g_snprintf(name, sizeof name, "%s" fmt ".bias", pre, b);                                   \
        ADD(&h, "BF16", 2, out);                                                                   \
    } while (0)
#define VECB(fmt, b, len)                                                                          \
    do {                                                                                           \
        g_snprintf(name, sizeof name, "%s" fmt, pre, b);                                           \
        ADD(&h, "BF16", 2, len);                                                                   \
    } while (0)
    LIN("img_in", 3072, 64);
    LIN("txt_in", 3072, 4096);
    LIN("time_in.in_layer", 3072, 256);
    LIN("time_in.out_layer", 3072, 3072);
    LIN("vector_in.in_layer", 3072, 768);
    LIN("vector_in.out_layer", 3072, 3072);
    LIN("guidance_in.in_layer", 3072, 256);
    LIN("guidance_in.out_layer", 3072, 3072);
    for (int b = 0; b < 19; b++) {
        LINB("double_blocks.%d.img_mod.lin", b, 18432, 3072);
        LINB("double_blocks.%d.img_attn.qkv", b, 9216, 3072);
        VECB("double_blocks.%d.img_attn.norm.query_norm.scale", b, 128);
        VECB("double_blocks.%d.img_attn.norm.key_norm.scale", b, 128);
        LINB("double_blocks.%d.img_attn.proj", b, 3072, 3072);
        LINB("double_blocks.%d.img_mlp.0", b, 12288, 3072);
        LINB("double_blocks.%d.img_mlp.2", b, 3072, 12288);
        LINB("double_blocks.%d.txt_mod.lin", b, 18432, 3072);
        LINB("double_blocks.%d.txt_attn.qkv", b, 9216, 3072);
        VECB("double_blocks.%d.txt_attn.norm.query_norm.scale", b, 128);
        VECB("double_blocks.%d.txt_attn.norm.key_norm.scale", b, 128);
        LINB("double_blocks.%d.txt_attn.proj", b, 3072, 3072);
        LINB("double_blocks.%d.txt_mlp.0", b, 12288, 3072);
        LINB("double_blocks.%d.txt_mlp.2", b, 3072, 12288);
    }
    for (int b = 0; b < 38; b++) {
        LINB("single_blocks.%d.linear1", b, 21504, 3072);
        LINB("single_blocks.%d.linear2", b, 3072, 15360);
        VECB("single_blocks.%d.norm.query_norm.scale", b, 128);
        VECB("single_blocks.%d.norm.key_norm.scale", b, 128);
        LINB("single_blocks.%d.modulation.lin", b, 9216, 3072);
    }
    LIN("final_layer.linear", 64, 3072);
    LIN("final_layer.adaLN_modulation.1", 6144, 3072);
    header_write(&h, path);
}

/* T5-XXL v1.1 encoder as t5xxl_fp16.safetensors. */
static void write_t5(const char *path)
{
    Header h;
    header_init(&h);
    char name[256];
    g_strlcpy(name, "shared.weight", sizeof name);
    ADD(&h, "F16", 2, 32128, 4096);
    for (int b = 0; b < 24; b++) {
        static const char *const qkvo[] = {"q", "k", "v", "o"};
        for (int i = 0; i < 4; i++) {
            g_snprintf(name, sizeof name, "encoder.block.%d.layer.0.SelfAttention.%s.weight", b,
                       qkvo[i]);
            ADD(&h, "F16", 2, 4096, 4096);
        }
        if (b == 0) {
            g_strlcpy(name, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                      sizeof name);
            ADD(&h, "F16", 2, 32, 64);
        }
        g_snprintf(name, sizeof name, "encoder.block.%d.layer.0.layer_norm.weight", b);
        ADD(&h, "F16", 2, 4096);
        g_snprintf(name, sizeof name, "encoder.block.%d.layer.1.DenseReluDense.wi_0.weight", b);
        ADD(&h, "F16", 2, 10240, 4096);
        g_snprintf(name, sizeof name, "encoder.block.%d.layer.1.DenseReluDense.wi_1.weight", b);
        ADD(&h, "F16", 2, 10240, 4096);
        g_snprintf(name, sizeof name, "encoder.block.%d.layer.1.DenseReluDense.wo.weight", b);
        ADD(&h, "F16", 2, 4096, 10240);
        g_snprintf(name, sizeof name, "encoder.block.%d.layer.1.layer_norm.weight", b);
        ADD(&h, "F16", 2, 4096);
    }
    g_strlcpy(name, "encoder.final_layer_norm.weight", sizeof name);
    ADD(&h, "F16", 2, 4096);
    header_write(&h, path);
}

/* CLIP-L text model as clip_l.safetensors. */
static void write_clip(const char *path)
{
    Header h;
    header_init(&h);
    char name[256];
    g_strlcpy(name, "text_model.embeddings.token_embedding.weight", sizeof name);
    ADD(&h, "F16", 2, 49408, 768);
    g_strlcpy(name, "text_model.embeddings.position_embedding.weight", sizeof name);
    ADD(&h, "F16", 2, 77, 768);
    for (int l = 0; l < 12; l++) {
        static const char *const proj[] = {"q_proj", "k_proj", "v_proj", "out_proj"};
        for (int i = 0; i < 4; i++) {
            g_snprintf(name, sizeof name, "text_model.encoder.layers.%d.self_attn.%s.weight", l,
                       proj[i]);
            ADD(&h, "F16", 2, 768, 768);
            g_snprintf(name, sizeof name, "text_model.encoder.layers.%d.self_attn.%s.bias", l,
                       proj[i]);
            ADD(&h, "F16", 2, 768);
        }
        static const char *const norms[] = {"layer_norm1", "layer_norm2"};
        for (int i = 0; i < 2; i++) {
            g_snprintf(name, sizeof name, "text_model.encoder.layers.%d.%s.weight", l, norms[i]);
            ADD(&h, "F16", 2, 768);
            g_snprintf(name, sizeof name, "text_model.encoder.layers.%d.%s.bias", l, norms[i]);
            ADD(&h, "F16", 2, 768);
        }
        g_snprintf(name, sizeof name, "text_model.encoder.layers.%d.mlp.fc1.weight", l);
        ADD(&h, "F16", 2, 3072, 768);
        g_snprintf(name, sizeof name, "text_model.encoder.layers.%d.mlp.fc1.bias", l);
        ADD(&h, "F16", 2, 3072);
        g_snprintf(name, sizeof name, "text_model.encoder.layers.%d.mlp.fc2.weight", l);
        ADD(&h, "F16", 2, 768, 3072);
        g_snprintf(name, sizeof name, "text_model.encoder.layers.%d.mlp.fc2.bias", l);
        ADD(&h, "F16", 2, 768);
    }
    g_strlcpy(name, "text_model.final_layer_norm.weight", sizeof name);
    ADD(&h, "F16", 2, 768);
    g_strlcpy(name, "text_model.final_layer_norm.bias", sizeof name);
    ADD(&h, "F16", 2, 768);
    header_write(&h, path);
}

static void resnet(Header *h, const char *p, int in, int out)
{
    char name[256];
    g_snprintf(name, sizeof name, "%s.norm1.weight", p);
    ADD(h, "F32", 4, in);
    g_snprintf(name, sizeof name, "%s.norm1.bias", p);
    ADD(h, "F32", 4, in);
    g_snprintf(name, sizeof name, "%s.conv1.weight", p);
    ADD(h, "F32", 4, out, in, 3, 3);
    g_snprintf(name, sizeof name, "%s.conv1.bias", p);
    ADD(h, "F32", 4, out);
    g_snprintf(name, sizeof name, "%s.norm2.weight", p);
    ADD(h, "F32", 4, out);
    g_snprintf(name, sizeof name, "%s.norm2.bias", p);
    ADD(h, "F32", 4, out);
    g_snprintf(name, sizeof name, "%s.conv2.weight", p);
    ADD(h, "F32", 4, out, out, 3, 3);
    g_snprintf(name, sizeof name, "%s.conv2.bias", p);
    ADD(h, "F32", 4, out);
    if (in != out) {
        g_snprintf(name, sizeof name, "%s.nin_shortcut.weight", p);
        ADD(h, "F32", 4, out, in, 1, 1);
        g_snprintf(name, sizeof name, "%s.nin_shortcut.bias", p);
        ADD(h, "F32", 4, out);
    }
}

/* The FLUX VAE's decoder as in BFL's ae.safetensors (f32). */
static void write_vae(const char *path)
{
    Header h;
    header_init(&h);
    char name[256];
    g_strlcpy(name, "decoder.conv_in.weight", sizeof name);
    ADD(&h, "F32", 4, 512, 16, 3, 3);
    g_strlcpy(name, "decoder.conv_in.bias", sizeof name);
    ADD(&h, "F32", 4, 512);
    resnet(&h, "decoder.mid.block_1", 512, 512);
    static const char *const attn[] = {"q", "k", "v", "proj_out"};
    g_strlcpy(name, "decoder.mid.attn_1.norm.weight", sizeof name);
    ADD(&h, "F32", 4, 512);
    g_strlcpy(name, "decoder.mid.attn_1.norm.bias", sizeof name);
    ADD(&h, "F32", 4, 512);
    for (int i = 0; i < 4; i++) {
        g_snprintf(name, sizeof name, "decoder.mid.attn_1.%s.weight", attn[i]);
        ADD(&h, "F32", 4, 512, 512, 1, 1);
        g_snprintf(name, sizeof name, "decoder.mid.attn_1.%s.bias", attn[i]);
        ADD(&h, "F32", 4, 512);
    }
    resnet(&h, "decoder.mid.block_2", 512, 512);
    static const int channels[4] = {128, 256, 512, 512}; /* up.i: 128 * (1, 2, 4, 4)[i] */
    int in = 512;
    for (int level = 3; level >= 0; level--) {
        for (int j = 0; j < 3; j++) {
            char p[64];
            g_snprintf(p, sizeof p, "decoder.up.%d.block.%d", level, j);
            resnet(&h, p, in, channels[level]);
            in = channels[level];
        }
        if (level > 0) {
            g_snprintf(name, sizeof name, "decoder.up.%d.upsample.conv.weight", level);
            ADD(&h, "F32", 4, in, in, 3, 3);
            g_snprintf(name, sizeof name, "decoder.up.%d.upsample.conv.bias", level);
            ADD(&h, "F32", 4, in);
        }
    }
    g_strlcpy(name, "decoder.norm_out.weight", sizeof name);
    ADD(&h, "F32", 4, 128);
    g_strlcpy(name, "decoder.norm_out.bias", sizeof name);
    ADD(&h, "F32", 4, 128);
    g_strlcpy(name, "decoder.conv_out.weight", sizeof name);
    ADD(&h, "F32", 4, 3, 128, 3, 3);
    g_strlcpy(name, "decoder.conv_out.bias", sizeof name);
    ADD(&h, "F32", 4, 3);
    header_write(&h, path);
}

typedef struct {
    char *dir, *transformer, *transformer_fp8, *t5, *clip, *vae;
} Files;

static void files_make(Files *f)
{
    g_autoptr(GError) error = NULL;
    f->dir = g_dir_make_tmp("resdit-plan-XXXXXX", &error);
    g_assert_no_error(error);
    f->transformer = g_build_filename(f->dir, "flux1-dev.safetensors", NULL);
    f->transformer_fp8 = g_build_filename(f->dir, "flux1-dev-fp8.safetensors", NULL);
    f->t5 = g_build_filename(f->dir, "t5xxl_fp16.safetensors", NULL);
    f->clip = g_build_filename(f->dir, "clip_l.safetensors", NULL);
    f->vae = g_build_filename(f->dir, "ae.safetensors", NULL);
    write_flux_dev(f->transformer, FALSE);
    write_flux_dev(f->transformer_fp8, TRUE);
    write_t5(f->t5);
    write_clip(f->clip);
    write_vae(f->vae);
}

static void files_clear(Files *f)
{
    char *paths[] = {f->transformer, f->transformer_fp8, f->t5, f->clip, f->vae};
    for (size_t i = 0; i < G_N_ELEMENTS(paths); i++) {
        g_unlink(paths[i]);
        g_free(paths[i]);
    }
    g_rmdir(f->dir);
    g_free(f->dir);
}

static gboolean plan_fp8_gemm; /* the target multiplies fp8 weights in fp8 (sm_89+) */

static void plan_for_paths(const Files *f, const char *transformer, int side, guint64 card,
                           gboolean only_executable, RdMemoryPlan *plan)
{
    ResditModelPaths paths = {.name = "FLUX.1-dev",
                              .transformer = (char *)transformer,
                              .vae = f->vae,
                              .clip_l = f->clip,
                              .t5 = f->t5};
    RdModelInventory mi;
    g_autoptr(GError) error = NULL;
    g_assert_true(rd_model_inventory_from_paths(&paths, &mi, &error));
    g_assert_no_error(error);
    ResditJobParams p;
    resdit_job_params_init(&p);
    p.width = p.height = side;
    RdPlanJob job;
    rd_plan_job_from_params(&job, &p, mi.transformer.guidance ? 512 : 256);
    RdPlanTarget target;
    rd_plan_target_cuda(&target, card);
    target.fp8_gemm = plan_fp8_gemm;
    g_assert_true(rd_memory_plan(&mi, &job, &target, only_executable, plan, &error));
    g_assert_no_error(error);
    g_autofree char *text = rd_memory_plan_describe(plan, &target);
    g_test_message("%d px on %.0f GiB:\n%s%s%s", side, card / (double)GIB, text,
                   plan->reason ? plan->reason : "", plan->reason ? "\n" : "");
    rd_model_inventory_clear(&mi);
    resdit_job_params_clear(&p);
}

/* The inventory reads the real shapes: FLUX-dev has about 11.9 B parameters in 57 blocks. */
static void test_inventory(void)
{
    Files f;
    files_make(&f);
    ResditModelPaths paths = {
        .transformer = f.transformer, .vae = f.vae, .clip_l = f.clip, .t5 = f.t5};
    RdModelInventory mi;
    g_autoptr(GError) error = NULL;
    g_assert_true(rd_model_inventory_from_paths(&paths, &mi, &error));
    const RdTransformerInventory *tf = &mi.transformer;
    g_assert_cmpint(tf->hidden, ==, 3072);
    g_assert_cmpint(tf->mlp_hidden, ==, 12288);
    g_assert_cmpint(tf->heads, ==, 24);
    g_assert_cmpint(tf->head_dim, ==, 128);
    g_assert_cmpint(tf->n_blocks, ==, 19 + 38);
    g_assert_true(tf->guidance);
    g_assert_cmpuint(tf->all.elements, >, G_GUINT64_CONSTANT(11800000000));
    g_assert_cmpuint(tf->all.elements, <, G_GUINT64_CONSTANT(12000000000));
    g_assert_cmpuint(tf->all.file_bytes, ==, 2 * tf->all.elements);
    guint64 in_blocks = 0;
    for (int b = 0; b < tf->n_blocks; b++)
        in_blocks += tf->block_elements[b];
    g_assert_cmpuint(in_blocks, <, tf->all.elements);
    g_assert_cmpint(mi.t5.d_model, ==, 4096);
    g_assert_cmpint(mi.t5.d_ff, ==, 10240);
    g_assert_cmpint(mi.t5.heads, ==, 64);
    g_assert_true(mi.vae.present && mi.clip.present && mi.vae_model);
    /* the data regions are holes: the files take next to nothing on disk */
    GStatBuf st;
    g_assert_cmpint(g_stat(f.transformer, &st), ==, 0);
    g_assert_cmpuint((guint64)st.st_size, >, G_GUINT64_CONSTANT(23000000000)); /* 23.8 GB */
    g_assert_cmpuint((guint64)st.st_blocks * 512, <, G_GUINT64_CONSTANT(1) << 20);
    rd_model_inventory_clear(&mi);
    files_clear(&f);
}

static void plan_for(const Files *f, const char *transformer, int side, guint64 card,
                     RdMemoryPlan *plan)
{
    plan_for_paths(f, transformer, side, card, FALSE, plan);
}

/* T5 first: on a 32 GiB card FLUX-dev's bf16 weights (23.8 GB) fit for sampling at 4K but not
 * beside T5 (9.5 GB): the plan keeps bf16 and runs T5 before they go to the device, and its
 * encode phase holds no transformer weight at all. Real runs (only what this build executes)
 * stream blocks on 16 GiB, and never plan a path the target lacks. */
static void test_t5_first(void)
{
    Files f;
    files_make(&f);
    RdMemoryPlan p, q;
    plan_for_paths(&f, f.transformer, 4096, 32 * GIB, TRUE, &p);
    g_assert_true(p.fits && p.executable);
    g_assert_cmpint(p.format, ==, RD_WEIGHTS_BF16);
    g_assert_true(p.t5_first);
    g_assert_cmpuint(p.peak_encode, ==,
                     p.clip_weights + p.vae_weights + p.t5_weights + p.t5_activations);
    /* with the transformer resident while T5 runs, the encode phase would not fit */
    g_assert_cmpuint(p.peak_encode + p.transformer_weights, >, p.usable);
    g_assert_cmpuint(p.peak, <=, p.usable);

    plan_for_paths(&f, f.transformer, 4096, 16 * GIB, TRUE, &q);
    g_assert_true(q.fits && q.executable);
    g_assert_cmpint(q.streamed_blocks, >, 0);
    g_assert_true(q.t5_first);
    g_assert_cmpint(q.format, ==, RD_WEIGHTS_FP8_QUANTISED);
    rd_memory_plan_clear(&q);
    /* a target without streaming: the plan never takes it, and 16 GiB does not fit */
    ResditModelPaths paths = {.name = "FLUX.1-dev",
                              .transformer = f.transformer,
                              .vae = f.vae,
                              .clip_l = f.clip,
                              .t5 = f.t5};
    RdModelInventory mi;
    g_autoptr(GError) error = NULL;
    g_assert_true(rd_model_inventory_from_paths(&paths, &mi, &error));
    ResditJobParams jp;
    resdit_job_params_init(&jp);
    jp.width = jp.height = 4096;
    RdPlanJob job;
    rd_plan_job_from_params(&job, &jp, 512);
    RdPlanTarget target;
    rd_plan_target_cuda(&target, 16 * GIB);
    target.can_stream = FALSE;
    g_assert_true(rd_memory_plan(&mi, &job, &target, TRUE, &q, &error));
    g_assert_false(q.fits);
    g_assert_cmpint(q.streamed_blocks, ==, 0);
    g_assert_true(q.executable);
    g_assert_nonnull(q.reason);
    rd_model_inventory_clear(&mi);
    resdit_job_params_clear(&jp);
    rd_memory_plan_clear(&p);
    rd_memory_plan_clear(&q);
    files_clear(&f);
}

/* FLUX-dev at 4096 x 4096: 24 GiB fits without streaming, with fp8 weights (bf16 weights alone
 * are 23.8 GB); 16 and 12 GiB need streaming; 6 GiB does not fit (T5 alone is 9.5 GB). */
static void test_flux_dev_4k(void)
{
    Files f;
    files_make(&f);
    RdMemoryPlan p24, p16, p12, p6, p80;
    plan_for(&f, f.transformer, 4096, 24 * GIB, &p24);
    g_assert_true(p24.fits);
    g_assert_cmpint(p24.format, ==, RD_WEIGHTS_FP8_QUANTISED);
    g_assert_cmpint(p24.streamed_blocks, ==, 0);
    g_assert_false(p24.t5_first); /* T5 fits beside fp8 weights: they stay on the device */
    g_assert_cmpuint(p24.peak, <=, p24.usable);
    g_assert_cmpuint(p24.peak, ==, MAX(p24.peak_encode, MAX(p24.peak_sample, p24.peak_decode)));
    /* the peak is made of its terms */
    g_assert_cmpuint(p24.peak_sample, ==,
                     p24.transformer_weights + p24.stream_buffers + p24.fp8_scratch +
                         p24.clip_weights + p24.vae_weights + p24.activations + p24.workspace);
    /* the VAE decodes in bands at 4K */
    g_assert_cmpint(p24.vae_band_rows, <, 4096 / 8);
    g_assert_true(p24.executable); /* fp8 resident runs on CUDA */
    g_assert_null(p24.not_executable);
    /* a card without fp8 GEMMs dequantises fp8 before each GEMM: one bf16 block of scratch */
    g_assert_cmpuint(p24.fp8_scratch, >, 0);

    plan_for(&f, f.transformer, 4096, 16 * GIB, &p16);
    g_assert_true(p16.fits);
    g_assert_cmpint(p16.streamed_blocks, >, 0);
    g_assert_true(p16.executable); /* streaming runs on CUDA */
    g_assert_true(p16.t5_first);
    g_assert_cmpuint(p16.stream_buffers, >, 0);

    plan_for(&f, f.transformer, 4096, 12 * GIB, &p12);
    g_assert_true(p12.fits);
    g_assert_cmpint(p12.streamed_blocks, >, p16.streamed_blocks);
    g_assert_cmpuint(p12.peak, <=, p12.usable);

    plan_for(&f, f.transformer, 4096, 6 * GIB, &p6);
    g_assert_false(p6.fits);
    g_assert_nonnull(p6.reason);

    /* a large card keeps bf16 weights and T5 beside them; the fp8 file keeps its own fp8 */
    plan_for(&f, f.transformer, 4096, 80 * GIB, &p80);
    g_assert_true(p80.fits);
    g_assert_cmpint(p80.format, ==, RD_WEIGHTS_BF16);
    g_assert_false(p80.t5_first);
    g_assert_true(p80.executable);
    RdMemoryPlan q;
    plan_for(&f, f.transformer_fp8, 4096, 24 * GIB, &q);
    g_assert_true(q.fits);
    g_assert_cmpint(q.format, ==, RD_WEIGHTS_FP8_FILE);
    /* a card with fp8 GEMMs: the scratch is the widest activation's E4M3 codes, one byte each
     * of [65536 + 512 tokens, 3072 + 12288] (a single block's second linear), not a bf16 block */
    RdMemoryPlan g24;
    plan_fp8_gemm = TRUE;
    plan_for(&f, f.transformer, 4096, 24 * GIB, &g24);
    plan_fp8_gemm = FALSE;
    g_assert_true(g24.fits);
    g_assert_cmpint(g24.format, ==, RD_WEIGHTS_FP8_QUANTISED);
    g_assert_cmpuint(g24.fp8_scratch, ==, (guint64)(65536 + 512) * (3072 + 12288));
    g_assert_cmpuint(g24.peak_sample - g24.fp8_scratch, ==, p24.peak_sample - p24.fp8_scratch);
    RdMemoryPlan *all[] = {&p24, &p16, &p12, &p6, &p80, &q, &g24};
    for (size_t i = 0; i < G_N_ELEMENTS(all); i++)
        rd_memory_plan_clear(all[i]);
    files_clear(&f);
}

/* ---- the command line ---------------------------------------------------------------------- */

static int run_cli(const char *const *args, char **out, char **err)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_ptr_array_add(argv, (gpointer)g_getenv("RESDIT_CLI"));
    for (int i = 0; args[i]; i++)
        g_ptr_array_add(argv, (gpointer)args[i]);
    g_ptr_array_add(argv, NULL);
    int wait_status = 0;
    g_autoptr(GError) error = NULL;
    g_assert_true(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, out,
                               err, &wait_status, &error));
    g_assert_no_error(error);
    return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
}

static void test_cli_dry_run(void)
{
    if (!g_getenv("RESDIT_CLI")) {
        g_test_skip("RESDIT_CLI is not set");
        return;
    }
    Files f;
    files_make(&f);
    struct {
        const char *vram;
        int status;
        const char *needle;
    } cases[] = {{"24G", 0, "predicted peak"},
                 {"12GiB", 0, "streaming: "},
                 {"6G", 1, "needs at least"},
                 {"lots", 2, "--vram 'lots'"}};
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        const char *args[] = {"generate", "--dry-run", "--vram",        cases[i].vram,
                              "--size",   "4k",        "--transformer", f.transformer,
                              "--vae",    f.vae,       "--clip-l",      f.clip,
                              "--t5",     f.t5,        "--no-history",  NULL};
        g_autofree char *out = NULL, *err = NULL;
        int status = run_cli(args, &out, &err);
        g_test_message("--vram %s: exit %d\n%s%s", cases[i].vram, status, out, err);
        g_assert_cmpint(status, ==, cases[i].status);
        g_autofree char *both = g_strconcat(out, err, NULL);
        g_assert_nonnull(strstr(both, cases[i].needle));
        if (cases[i].status == 0)
            g_assert_nonnull(strstr(out, "fits: yes"));
        if (i == 1)
            g_assert_null(strstr(out, "streaming: none"));
    }
    /* without --vram on the CPU backend: host memory; a model folder found by discovery (the
     * demo model: real files) */
    g_autofree char *demo =
        g_test_build_filename(G_TEST_DIST, "..", "data", "models", "resdit-demo", NULL);
    const char *cpu[] = {"generate", "--dry-run", "--backend",    "cpu",
                         "--model",  demo,        "--no-history", NULL};
    g_autofree char *cpu_out = NULL, *cpu_err = NULL;
    int status = run_cli(cpu, &cpu_out, &cpu_err);
    g_test_message("--backend cpu: exit %d\n%s%s", status, cpu_out, cpu_err);
    g_assert_cmpint(status, ==, 0); /* a few hundred MB */
    g_assert_nonnull(strstr(cpu_out, "on the CPU backend"));
    g_assert_nonnull(strstr(cpu_out, "as in the file (memory-mapped)"));
    g_assert_nonnull(strstr(cpu_out, "this build runs it: yes"));
    /* --vram alone is a usage error; nothing is generated */
    const char *alone[] = {"generate", "--vram", "24G", "--selftest", NULL};
    g_autofree char *out = NULL, *err = NULL;
    g_assert_cmpint(run_cli(alone, &out, &err), ==, 2);
    files_clear(&f);
}

/* ---- a counting allocator on the CPU backend ----------------------------------------------- */

typedef struct {
    gboolean (*alloc)(RdBackend *, RdTensor *, int64_t, int64_t);
    gboolean (*table)(RdBackend *, RdTensor *, int64_t, int64_t);
    void (*free)(RdBackend *, RdTensor *);
    GHashTable *sizes; /* data -> bytes */
    guint64 live, peak;
} Counter;

static Counter counter;

static gboolean count(gboolean ok, RdTensor *t, int64_t rows, int64_t cols)
{
    if (ok) {
        const guint64 bytes = (guint64)(rows * cols) * rd_dtype_size(t->dtype);
        g_hash_table_insert(counter.sizes, t->data, GSIZE_TO_POINTER((gsize)bytes));
        counter.live += bytes;
        counter.peak = MAX(counter.peak, counter.live);
    }
    return ok;
}

static gboolean counting_alloc(RdBackend *be, RdTensor *t, int64_t rows, int64_t cols)
{
    return count(counter.alloc(be, t, rows, cols), t, rows, cols);
}

static gboolean counting_table(RdBackend *be, RdTensor *t, int64_t rows, int64_t cols)
{
    return count(counter.table(be, t, rows, cols), t, rows, cols);
}

static void counting_free(RdBackend *be, RdTensor *t)
{
    gpointer bytes;
    g_assert_true(g_hash_table_lookup_extended(counter.sizes, t->data, NULL, &bytes));
    g_hash_table_remove(counter.sizes, t->data);
    counter.live -= GPOINTER_TO_SIZE(bytes);
    counter.free(be, t);
}

typedef struct {
    ResditPhase phase;
    guint64 peak_sampling, peak_other;
} PhaseWatch;

/* Progress comes between phases: the peak so far belongs to the phase that ended. */
static void on_progress(const ResditProgress *p, gpointer data)
{
    PhaseWatch *w = data;
    if (p->phase == w->phase)
        return;
    if (w->phase == RESDIT_PHASE_ENCODING || w->phase == RESDIT_PHASE_DECODING)
        w->peak_other = MAX(w->peak_other, counter.peak);
    else
        w->peak_sampling = MAX(w->peak_sampling, counter.peak);
    w->phase = p->phase;
    counter.peak = counter.live;
}

/* The self-test model at 3x its base grid with the ResDiT schedule (global, fused and local
 * steps): the peak of what the sampling phase allocates is the plan's activations less the
 * smaller of two terms that never live together (the input embeddings' temporaries are freed
 * before the first block builds its PIPE tables); the plan adds both. */
static void test_counting_allocator(void)
{
    g_autoptr(GError) error = NULL;
    ResditModel *m = resdit_model_open_selftest(RESDIT_BACKEND_CPU, &error);
    g_assert_no_error(error);
    ResditJobParams p;
    resdit_job_params_init(&p);
    resdit_model_job_defaults(m, &p);
    p.width = p.height = 3 * resdit_model_base_size(m);
    p.steps = 4;
    p.random_seed = FALSE;
    p.seed = 7;
    RdPlanTarget target;
    RdMemoryPlan plan;
    g_assert_true(rd_model_memory_plan(m, &p, rd_host_available(), &target, &plan, &error));
    g_assert_no_error(error);
    g_assert_true(plan.executable);

    counter = (Counter){m->be->tensor_alloc,
                        m->be->table_alloc,
                        m->be->tensor_free,
                        g_hash_table_new(NULL, NULL),
                        0,
                        0};
    m->be->tensor_alloc = counting_alloc;
    m->be->table_alloc = counting_table;
    m->be->tensor_free = counting_free;
    PhaseWatch watch = {RESDIT_PHASE_ENCODING, 0, 0};
    ResditCallbacks cb = {on_progress, NULL, &watch};
    ResditImage *image = resdit_generate(m, &p, &cb, NULL, &error);
    g_assert_no_error(error);
    g_assert_nonnull(image);
    const guint64 decode_peak = counter.peak; /* the decode ends the job */
    m->be->tensor_alloc = counter.alloc;
    m->be->table_alloc = counter.table;
    m->be->tensor_free = counter.free;

    const RdForwardTerms *t = &plan.fwd;
    const guint64 margin = MIN(t->embed_temp, t->patch_tables);
    g_test_message("sampling: allocated %" G_GUINT64_FORMAT " bytes, planned %" G_GUINT64_FORMAT
                   " (forward %" G_GUINT64_FORMAT ", attention %" G_GUINT64_FORMAT
                   ", tables %" G_GUINT64_FORMAT ", patch tables %" G_GUINT64_FORMAT
                   ", embeddings %" G_GUINT64_FORMAT "), margin %" G_GUINT64_FORMAT,
                   watch.peak_sampling, plan.activations, t->forward, t->attention, t->tables,
                   t->patch_tables, t->embed_temp, margin);
    g_test_message("decode: allocated %" G_GUINT64_FORMAT " bytes, planned %" G_GUINT64_FORMAT
                   " (bands of %d rows)",
                   decode_peak, plan.vae_decode, plan.vae_band_rows);
    g_assert_cmpuint(t->patch_tables, >, 0); /* the schedule has local steps */
    g_assert_cmpuint(watch.peak_sampling, <=, plan.activations);
    g_assert_cmpuint(plan.activations - watch.peak_sampling, <=, margin);
    /* the VAE term (vae_decode.c's own bound) holds what the decode allocates */
    g_assert_cmpuint(decode_peak, <=, plan.vae_decode);
    g_assert_cmpuint(counter.live, ==, 0);
    g_hash_table_unref(counter.sizes);
    rd_memory_plan_clear(&plan);
    resdit_image_free(image);
    resdit_job_params_clear(&p);
    resdit_model_free(m);
}

/* ---- the weights' term, counted as a device backend would hold them ---------------------- */

/* Weight copies counted at the sizes the CUDA backend gives them (bf16: 2 bytes an element; fp8:
 * 1 byte a matrix element, vectors bf16). The CPU ops never read w->device: a marker will do. */
static guint64 weight_live;

static gboolean counting_weight_prepare(RdBackend *be, RdWeight *w, GError **error)
{
    g_assert_null(w->device);
    w->device = (void *)w->host;
    w->device_fp8 = FALSE;
    weight_live += 2 * (guint64)(w->rows * w->cols);
    return TRUE;
}

static gboolean counting_weight_prepare_fp8(RdBackend *be, RdWeight *w, GError **error)
{
    if (w->cols <= 1)
        return counting_weight_prepare(be, w, error);
    g_assert_null(w->device);
    w->device = (void *)w->host;
    w->device_fp8 = TRUE;
    weight_live += (guint64)(w->rows * w->cols);
    return TRUE;
}

static void counting_weight_release(RdBackend *be, RdWeight *w)
{
    const guint64 n = (guint64)(w->rows * w->cols);
    weight_live -= w->device_fp8 ? n : 2 * n;
    w->device = NULL;
    w->device_fp8 = FALSE;
}

/* Streaming as a device backend would do it (kernels/weight_stream.cu): parked weights leave
 * the device count for the host's; use and done are logged, and each checks that a group's
 * weights have a copy exactly while it is in use. */
typedef struct {
    RdWeight **ws;
    int n;
} FakeGroup;

static struct {
    GPtrArray *groups;
    guint64 host;
    GString *log;
} fake;

static RdWeightStream *fake_stream_new(RdBackend *be, GError **error)
{
    fake.groups = g_ptr_array_new();
    fake.host = 0;
    return (RdWeightStream *)&fake;
}

static int fake_stream_park(RdBackend *be, RdWeightStream *s, RdWeight *const *ws, int n,
                            gboolean fp8, GError **error)
{
    FakeGroup *g = g_new0(FakeGroup, 1);
    g->ws = g_new(RdWeight *, n);
    g->n = n;
    for (int i = 0; i < n; i++) {
        RdWeight *w = g->ws[i] = ws[i];
        if (w->device)
            be->weight_release(be, w);
        const guint64 before = weight_live;
        g_assert_true(fp8 ? be->weight_prepare_fp8(be, w, error) : be->weight_prepare(be, w, error));
        fake.host += weight_live - before;
        weight_live = before; /* moved to pinned host memory */
        w->device = NULL;
    }
    g_ptr_array_add(fake.groups, g);
    return (int)fake.groups->len - 1;
}

static void fake_stream_use(RdBackend *be, RdWeightStream *s, int g, int next)
{
    g_string_append_printf(fake.log, "u%d,%d ", g, next);
    if (g < 0)
        return;
    FakeGroup *gr = g_ptr_array_index(fake.groups, g);
    for (int i = 0; i < gr->n; i++) {
        g_assert_null(gr->ws[i]->device);
        gr->ws[i]->device = (void *)gr->ws[i]->host;
    }
}

static void fake_stream_done(RdBackend *be, RdWeightStream *s, int g)
{
    g_string_append_printf(fake.log, "d%d ", g);
    FakeGroup *gr = g_ptr_array_index(fake.groups, g);
    for (int i = 0; i < gr->n; i++) {
        g_assert_nonnull(gr->ws[i]->device);
        gr->ws[i]->device = NULL;
    }
}

static void fake_stream_free(RdBackend *be, RdWeightStream *s)
{
    for (guint i = 0; i < fake.groups->len; i++) {
        FakeGroup *g = g_ptr_array_index(fake.groups, i);
        for (int j = 0; j < g->n; j++) {
            g->ws[j]->device = NULL;
            g->ws[j]->device_fp8 = FALSE;
        }
        g_free(g->ws);
        g_free(g);
    }
    g_ptr_array_unref(fake.groups);
    fake.host = 0;
}

/* One fused forward of the self-test model (inputs of any value: only the weights' movements
 * are looked at). */
static void selftest_forward(FluxModel *flux)
{
    const FluxConfig *c = flux_model_config(flux);
    const int rows = 4, cols = 4, txt_len = 3;
    g_autofree float *img = g_new0(float, rows * cols * c->in_channels);
    g_autofree float *txt = g_new0(float, txt_len * c->txt_dim);
    g_autofree float *vec = g_new0(float, c->vec_dim);
    g_autofree float *v = g_new(float, rows * cols * c->in_channels);
    tu_fill_uniform(img, (size_t)(rows * cols * c->in_channels), -1.0f, 1.0f, 3);
    tu_fill_uniform(txt, (size_t)(txt_len * c->txt_dim), -1.0f, 1.0f, 4);
    tu_fill_uniform(vec, (size_t)c->vec_dim, -1.0f, 1.0f, 5);
    FluxInputs in = {img, txt, vec, txt_len, rows, cols, 0.5f, 3.5f};
    FluxAttentionPlan plan = {RESDIT_MODE_GLOBAL};
    resdit_method_params_init(&plan.method);
    g_autoptr(GError) error = NULL;
    g_assert_true(flux_model_forward(flux, &in, &plan, v, NULL, &error));
    g_assert_no_error(error);
}

/* The transformer's weights as a job places them on a device (flux_model_place_weights): bf16,
 * fp8 (what the plan's weight term holds, less the per-tensor scales it budgets on the device
 * that the backend keeps in RdWeight), and released for T5 first: nothing left. */
static void test_weight_placement(void)
{
    g_autoptr(GError) error = NULL;
    ResditModel *m = resdit_model_open_selftest(RESDIT_BACKEND_CPU, &error);
    g_assert_no_error(error);
    FluxModel *flux = rd_denoiser_flux(m->denoiser);
    g_assert_nonnull(flux);
    RdModelInventory mi = {0};
    g_assert_true(
        rd_transformer_inventory(rd_denoiser_weights(m->denoiser), &mi.transformer, &error));
    RdPlanJob job = {.width = 256, .height = 256, .t5_len = 16, .worst_mode = RESDIT_MODE_GLOBAL};
    RdPlanTarget target;
    rd_plan_target_cuda(&target, G_GUINT64_CONSTANT(1) << 40);
    RdMemoryPlan plan;
    /* the CPU's weights were never copied: the counting backend starts from nothing */
    RdBackend *be = m->be;
    const RdBackend saved = *be;
    be->weight_prepare = counting_weight_prepare;
    be->weight_prepare_fp8 = counting_weight_prepare_fp8;
    be->weight_release = counting_weight_release;
    weight_live = 0;

    g_assert_true(flux_model_place_weights(flux, FLUX_WEIGHTS_BF16, 0, &error));
    g_assert_true(rd_memory_plan(&mi, &job, &target, TRUE, &plan, &error));
    g_assert_cmpint(plan.format, ==, RD_WEIGHTS_BF16);
    g_test_message("bf16: %" G_GUINT64_FORMAT " bytes placed, %" G_GUINT64_FORMAT " planned",
                   weight_live, plan.transformer_weights);
    g_assert_cmpuint(weight_live, ==, plan.transformer_weights);
    const guint64 bf16_bytes = weight_live;
    rd_memory_plan_clear(&plan);

    g_assert_true(flux_model_place_weights(flux, FLUX_WEIGHTS_FP8, 0, &error));
    target.card_bytes = 0; /* the least demanding plan without streaming: fp8 resident */
    target.can_stream = FALSE;
    g_assert_true(rd_memory_plan(&mi, &job, &target, TRUE, &plan, &error));
    g_assert_cmpint(plan.format, ==, RD_WEIGHTS_FP8_QUANTISED);
    g_assert_true(plan.t5_first);
    g_test_message("fp8: %" G_GUINT64_FORMAT " bytes placed, %" G_GUINT64_FORMAT " planned",
                   weight_live, plan.transformer_weights);
    g_assert_cmpuint(weight_live + 4 * mi.transformer.all.tensors, ==, plan.transformer_weights);
    g_assert_cmpuint(weight_live, <, bf16_bytes * 3 / 5); /* matrices in one byte */

    /* T5 first: while the text encoders run, no transformer weight is on the device */
    g_assert_true(flux_model_place_weights(flux, FLUX_WEIGHTS_RELEASED, 0, &error));
    g_assert_cmpuint(weight_live, ==, 0);
    g_assert_cmpuint(plan.peak_encode, ==,
                     plan.clip_weights + plan.vae_weights + plan.t5_weights + plan.t5_activations);
    rd_memory_plan_clear(&plan);

    /* streaming: on a card of nothing, the least demanding plan streams every block; the
     * resident and streamed bytes are the plan's (less its per-tensor scales) */
    be->stream_new = fake_stream_new;
    be->stream_park = fake_stream_park;
    be->stream_use = fake_stream_use;
    be->stream_done = fake_stream_done;
    be->stream_free = fake_stream_free;
    fake.log = g_string_new(NULL);
    target.can_stream = TRUE;
    const RdTransformerInventory *tf = &mi.transformer;
    guint64 block_tensors = 0;
    for (int b = 0; b < tf->n_blocks; b++)
        block_tensors += tf->block_tensors[b];
    g_assert_true(rd_memory_plan(&mi, &job, &target, TRUE, &plan, &error));
    g_assert_true(plan.executable);
    g_assert_cmpint(plan.streamed_blocks, ==, tf->n_blocks);
    g_assert_true(flux_model_place_weights(flux, FLUX_WEIGHTS_FP8, plan.streamed_blocks, &error));
    g_assert_no_error(error);
    g_test_message("every block streamed: %" G_GUINT64_FORMAT " bytes resident (%" G_GUINT64_FORMAT
                   " planned), %" G_GUINT64_FORMAT " on the host (%" G_GUINT64_FORMAT " planned)",
                   weight_live, plan.transformer_weights, fake.host, plan.streamed_bytes);
    g_assert_cmpuint(weight_live + 4 * (tf->all.tensors - block_tensors), ==,
                     plan.transformer_weights);
    g_assert_cmpuint(fake.host + 4 * block_tensors, ==, plan.streamed_bytes);
    /* a forward takes each block in before it and gives it back after, the next one's copy
     * started while it runs */
    selftest_forward(flux);
    GString *want = g_string_new(NULL);
    for (int b = 0; b < tf->n_blocks; b++)
        g_string_append_printf(want, "u%d,%d d%d ", b, b + 1 < tf->n_blocks ? b + 1 : -1, b);
    g_assert_cmpstr(fake.log->str, ==, want->str);
    /* one block (the first double one, the largest): the resident ones after it copy nothing */
    g_string_truncate(fake.log, 0);
    g_assert_true(flux_model_place_weights(flux, FLUX_WEIGHTS_FP8, 1, &error));
    g_assert_cmpint(flux_model_streamed_blocks(flux), ==, 1);
    selftest_forward(flux);
    g_assert_cmpstr(fake.log->str, ==, "u0,-1 d0 ");
    g_assert_true(flux_model_place_weights(flux, FLUX_WEIGHTS_RELEASED, 0, &error));
    g_assert_cmpuint(weight_live, ==, 0);
    g_assert_cmpuint(fake.host, ==, 0);
    g_string_free(want, TRUE);
    g_string_free(fake.log, TRUE);
    rd_memory_plan_clear(&plan);
    *be = saved;
    resdit_model_free(m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/memory-plan/inventory", test_inventory);
    g_test_add_func("/memory-plan/flux-dev-4k", test_flux_dev_4k);
    g_test_add_func("/memory-plan/t5-first", test_t5_first);
    g_test_add_func("/memory-plan/cli-dry-run", test_cli_dry_run);
    g_test_add_func("/memory-plan/counting-allocator", test_counting_allocator);
    g_test_add_func("/memory-plan/weight-placement", test_weight_placement);
    return g_test_run();
}
