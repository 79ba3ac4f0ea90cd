/* LoRA (docs/LORA.md) on the tiny FLUX transformer against diffusers with hand-merged weights
 * (tests/data/flux/lora-*.safetensors and tiny-a.lora.8x8.safetensors, written by
 * tools/reference/make_lora_goldens.py): every format on both layouts, bf16 and fp8 weights, two
 * LoRAs at once, strength 0, new strengths without reopening, the refusals and bad files, and the
 * CLIP-L (te1) part on the tiny CLIP. */
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "flux_model.h"
#include "lora.h"
#include "safetensors.h"
#include "test-util.h"
#include "clip_model.h"

#define GOLDEN "tiny-a.lora.8x8.safetensors"

static RdBackend *be;
static char *tmpdir;

static char *flux_data(const char *name)
{
    g_autofree char *rel = g_build_filename("flux", name, NULL);
    return tu_data_path(rel);
}

static FluxModel *load(const char *file)
{
    g_autofree char *path = flux_data(file);
    g_autofree char *config = flux_data("tiny-a/transformer/config.json");
    g_autoptr(GError) error = NULL;
    FluxModel *m = flux_model_load_with_config(path, config, be, &error);
    g_assert_no_error(error);
    return m;
}

static float *tensor_f32(const char *path, const char *tensor, int64_t *numel)
{
    g_autoptr(GError) error = NULL;
    RdSafetensors *st = rd_safetensors_open(path, &error);
    g_assert_no_error(error);
    const RdTensorInfo *t = rd_safetensors_find(st, tensor);
    if (!t)
        g_error("%s has no tensor %s", path, tensor);
    *numel = rd_tensor_info_numel(t);
    float *data = g_new(float, *numel);
    rd_convert_to_f32(t->dtype, t->data, data, (size_t)*numel);
    rd_safetensors_close(st);
    return data;
}

static float *golden(const char *file, const char *tensor, int64_t *numel)
{
    g_autofree char *path = flux_data(file);
    return tensor_f32(path, tensor, numel);
}

typedef struct {
    float *img, *txt, *vec, *t, *g;
    FluxInputs in;
} Inputs;

static Inputs x;

static void inputs_load(void)
{
    int64_t n, txt_n;
    const char *f = "tiny-a.inputs.8x8.safetensors";
    x.img = golden(f, "img", &n);
    x.txt = golden(f, "txt", &txt_n);
    x.vec = golden(f, "vec", &n);
    x.t = golden(f, "timestep", &n);
    x.g = golden(f, "guidance", &n);
    x.in = (FluxInputs){x.img, x.txt, x.vec, (int)(txt_n / 24), 8, 8, x.t[0], x.g[0]};
}

static float *run(FluxModel *m)
{
    FluxAttentionPlan plan = {RESDIT_MODE_DIRECT};
    resdit_method_params_init(&plan.method);
    plan.method.base_area = 64;
    plan.method.patch = 8;
    float *v = g_new(float, 64 * 16);
    g_autoptr(GError) error = NULL;
    g_assert_true(flux_model_forward(m, &x.in, &plan, v, NULL, &error));
    g_assert_no_error(error);
    return v;
}

static double model_bound(FluxModel *m)
{
    const FluxConfig *c = flux_model_config(m);
    int depth = tu_flux_depth(c->double_blocks, c->single_blocks);
    int64_t K =
        tu_flux_reduction(c->hidden, c->mlp_hidden, x.in.txt_len + 64, c->txt_dim, c->vec_dim);
    return tu_network_bound(depth, K, TU_U_F32);
}

/* The reference runs in float64 with the merged weights unrounded (f32 layouts) or rounded to
 * bf16 / fp8 exactly as the engine rounds them (the engine merges in double and rounds to f32,
 * then to the dtype, as PyTorch converts): two f32 evaluations plus one f32 rounding of every
 * weight. */
static double merged_bound(FluxModel *m)
{
    const FluxConfig *c = flux_model_config(m);
    return tu_weight_rounding_bound(tu_flux_depth(c->double_blocks, c->single_blocks), TU_U_F32) +
           model_bound(m);
}

static double expect(const char *what, const float *got, const char *tensor, double bound)
{
    int64_t n;
    g_autofree float *ref = golden(GOLDEN, tensor, &n);
    g_assert_cmpint(n, ==, 64 * 16);
    double err = tu_assert_network_close(what, got, ref, (size_t)n, bound);
    if (!(err <= 1e-4))
        g_error("%s: relative L2 %.3g against %s exceeds 1e-4", what, err, tensor);
    g_test_message("%s: relative L2 %.2e", what, err);
    return err;
}

static RdLoraFile *lora(const char *file)
{
    g_autofree char *path = flux_data(file);
    g_autoptr(GError) error = NULL;
    RdLoraFile *f = rd_lora_open(path, &error);
    g_assert_no_error(error);
    return f;
}

static void apply(FluxModel *m, RdLoraFile **files, const double *s, int n)
{
    g_autoptr(GError) error = NULL;
    g_assert_true(flux_model_set_loras(m, files, s, n, &error));
    g_assert_no_error(error);
}

typedef struct {
    const char *name, *file;
    double strength;
} Case;

static const Case cases[] = {
    {"kohya", "lora-kohya.safetensors", 0.8},
    {"peft", "lora-peft.safetensors", 1.0},
    {"comfy", "lora-comfy.safetensors", -0.6},
    {"comfyd", "lora-comfyd.safetensors", 1.3},
    {"te1", "lora-te1.safetensors", 0.9}, /* its transformer part (CLIP-L parts: below) */
};

/* Every format on the diffusers folder and the BFL file, f32 weights. */
static void test_formats(void)
{
    const char *layouts[] = {"tiny-a", "tiny-a.bfl.f32.safetensors"};
    for (size_t l = 0; l < G_N_ELEMENTS(layouts); l++) {
        FluxModel *m = load(layouts[l]);
        for (size_t c = 0; c < G_N_ELEMENTS(cases); c++) {
            RdLoraFile *f = lora(cases[c].file);
            apply(m, &f, &cases[c].strength, 1);
            g_autofree float *v = run(m);
            g_autofree char *what = g_strdup_printf("%s on %s", cases[c].name, layouts[l]);
            g_autofree char *tensor = g_strdup_printf("%s.f32", cases[c].name);
            expect(what, v, tensor, merged_bound(m));
            rd_lora_close(f);
        }
        flux_model_free(m);
    }
}

/* Two at once, in both layouts; the same pair in the other order gives the same sum. */
static void test_two_at_once(void)
{
    const char *layouts[] = {"tiny-a", "tiny-a.bfl.f32.safetensors"};
    for (size_t l = 0; l < G_N_ELEMENTS(layouts); l++) {
        FluxModel *m = load(layouts[l]);
        RdLoraFile *f[2] = {lora("lora-kohya.safetensors"), lora("lora-peft.safetensors")};
        double s[2] = {0.8, 0.5};
        apply(m, f, s, 2);
        g_autofree float *v = run(m);
        expect(layouts[l], v, "kohya+peft.f32", merged_bound(m));
        RdLoraFile *r[2] = {f[1], f[0]};
        double rs[2] = {0.5, 0.8};
        apply(m, r, rs, 2);
        g_autofree float *w = run(m);
        expect("reversed order", w, "kohya+peft.f32", merged_bound(m));
        rd_lora_close(f[0]);
        rd_lora_close(f[1]);
        flux_model_free(m);
    }
}

/* bf16 weights (BFL file, ComfyUI file) merged and rounded to bf16; fp8 weights merged in f32
 * and requantised with a fresh scale. */
static void test_rounded_weights(void)
{
    const char *bf16[] = {"tiny-a.bfl.bf16.safetensors", "tiny-a.comfy.bf16.safetensors"};
    for (size_t l = 0; l < G_N_ELEMENTS(bf16); l++) {
        FluxModel *m = load(bf16[l]);
        RdLoraFile *f[2] = {lora("lora-kohya.safetensors"), lora("lora-peft.safetensors")};
        double s[2] = {0.8, 0.5};
        apply(m, f, s, 1);
        g_autofree float *v = run(m);
        expect(bf16[l], v, "kohya.bf16w", merged_bound(m));
        apply(m, f, s, 2);
        g_autofree float *w = run(m);
        expect(bf16[l], w, "kohya+peft.bf16w", merged_bound(m));
        rd_lora_close(f[0]);
        rd_lora_close(f[1]);
        flux_model_free(m);
    }
    FluxModel *m = load("tiny-a.comfy.fp8.safetensors");
    RdLoraFile *f = lora("lora-kohya.safetensors");
    apply(m, &f, &(double){0.8}, 1);
    g_autofree float *v = run(m);
    expect("fp8 weights, requantised", v, "kohya.fp8w", merged_bound(m));
    rd_lora_close(f);
    flux_model_free(m);
}

/* Strength 0 touches nothing, and removing LoRAs restores the original weights: both give the
 * base model's output bit for bit (the same weights, the same code, the same environment). */
static void test_strength_zero(void)
{
    FluxModel *m = load("tiny-a.bfl.bf16.safetensors");
    g_autofree float *base = run(m);
    RdLoraFile *f = lora("lora-kohya.safetensors");
    apply(m, &f, &(double){0.0}, 1);
    g_assert_cmpuint(flux_model_lora_merged(m), ==, 0);
    g_autofree float *zero = run(m);
    g_assert_cmpmem(zero, 64 * 16 * sizeof(float), base, 64 * 16 * sizeof(float));
    apply(m, &f, &(double){1.0}, 1);
    g_assert_cmpuint(flux_model_lora_merged(m), >, 0);
    g_autofree float *merged = run(m);
    g_assert_true(memcmp(merged, base, 64 * 16 * sizeof(float)) != 0);
    apply(m, NULL, NULL, 0);
    g_assert_cmpuint(flux_model_lora_merged(m), ==, 0);
    g_autofree float *back = run(m);
    g_assert_cmpmem(back, 64 * 16 * sizeof(float), base, 64 * 16 * sizeof(float));
    rd_lora_close(f);
    flux_model_free(m);
}

/* New strengths and a new list on the same model: each forward matches its golden (the merge
 * starts from the original weights every time, never from the last merge). */
static void test_restrength(void)
{
    FluxModel *m = load("tiny-a");
    RdLoraFile *f[2] = {lora("lora-kohya.safetensors"), lora("lora-peft.safetensors")};
    double s[2] = {3.0, 0.5};
    apply(m, f, s, 1);
    s[0] = 0.8;
    apply(m, f, s, 1);
    g_autofree float *a = run(m);
    expect("kohya 3.0 then 0.8", a, "kohya.f32", merged_bound(m));
    apply(m, f, s, 2);
    g_autofree float *b = run(m);
    expect("then kohya + peft", b, "kohya+peft.f32", merged_bound(m));
    apply(m, &f[1], &(double){1.0}, 1);
    g_autofree float *c = run(m);
    expect("then peft alone", c, "peft.f32", merged_bound(m));
    rd_lora_close(f[0]);
    rd_lora_close(f[1]);
    flux_model_free(m);
}

/* ---- refusals ---------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    RdDType dtype;
    int ndim;
    int64_t shape[2];
    float fill; /* NAN: a NaN in the middle */
} FakeTensor;

static char *write_lora(const char *file, const FakeTensor *t, int n)
{
    RdSafetensorsWriter *w = rd_safetensors_writer_new();
    GPtrArray *bufs = g_ptr_array_new_with_free_func(g_free);
    for (int i = 0; i < n; i++) {
        int64_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++)
            numel *= t[i].shape[d];
        float *data = g_new(float, numel);
        tu_fill_uniform(data, (size_t)numel, -0.1f, 0.1f, (guint32)(i + 1));
        if (isnan(t[i].fill))
            data[numel / 2] = NAN;
        g_ptr_array_add(bufs, data);
        rd_safetensors_writer_add(w, t[i].name, RD_F32, t[i].ndim, t[i].shape, data);
    }
    char *path = g_build_filename(tmpdir, file, NULL);
    g_autoptr(GError) error = NULL;
    g_assert_true(rd_safetensors_writer_save(w, path, &error));
    rd_safetensors_writer_free(w);
    g_ptr_array_unref(bufs);
    return path;
}

/* A file that opens, then is refused by the model, leaving the merged kohya LoRA as it was. */
static void expect_refused(FluxModel *m, const float *before, const char *path,
                           const char *message_part)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(RdLoraFile) f = rd_lora_open(path, &error);
    g_assert_no_error(error);
    RdLoraFile *both[2] = {lora("lora-peft.safetensors"), f};
    double s[2] = {1.0, 1.0};
    g_assert_false(flux_model_set_loras(m, both, s, 2, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL);
    if (!strstr(error->message, message_part))
        g_error("'%s' does not name '%s'", error->message, message_part);
    g_test_message("refused: %s", error->message);
    g_autofree float *after = run(m);
    g_assert_cmpmem(after, 64 * 16 * sizeof(float), before, 64 * 16 * sizeof(float));
    rd_lora_close(both[0]);
}

static void test_refusals(void)
{
    FluxModel *m = load("tiny-a.bfl.f32.safetensors");
    RdLoraFile *k = lora("lora-kohya.safetensors");
    apply(m, &k, &(double){0.8}, 1);
    g_autofree float *before = run(m);
    const FakeTensor sd3[] = {
        {"lora_unet_double_blocks_0_img_attn_proj.lora_down.weight", RD_F32, 2, {2, 32}, 0},
        {"lora_unet_double_blocks_0_img_attn_proj.lora_up.weight", RD_F32, 2, {32, 2}, 0},
        {"lora_unet_joint_blocks_0_x_block_attn_qkv.lora_down.weight", RD_F32, 2, {2, 32}, 0},
        {"lora_unet_joint_blocks_0_x_block_attn_qkv.lora_up.weight", RD_F32, 2, {96, 2}, 0},
        {"lora_unet_joint_blocks_1_x_block_attn_qkv.lora_down.weight", RD_F32, 2, {2, 32}, 0},
        {"lora_unet_joint_blocks_1_x_block_attn_qkv.lora_up.weight", RD_F32, 2, {96, 2}, 0},
    };
    g_autofree char *p_sd3 = write_lora("sd3.safetensors", sd3, G_N_ELEMENTS(sd3));
    expect_refused(m, before, p_sd3, "joint_blocks_0_x_block_attn_qkv");
    const FakeTensor wide[] = {
        {"transformer.transformer_blocks.0.attn.to_q.lora_A.weight", RD_F32, 2, {2, 48}, 0},
        {"transformer.transformer_blocks.0.attn.to_q.lora_B.weight", RD_F32, 2, {48, 2}, 0},
    };
    g_autofree char *p_wide = write_lora("wide.safetensors", wide, G_N_ELEMENTS(wide));
    expect_refused(m, before, p_wide, "transformer_blocks.0.attn.to_q");
    const FakeTensor t5[] = {
        {"lora_te2_encoder_block_0_layer_0_SelfAttention_q.lora_down.weight", RD_F32, 2, {2, 8}, 0},
        {"lora_te2_encoder_block_0_layer_0_SelfAttention_q.lora_up.weight", RD_F32, 2, {8, 2}, 0},
    };
    g_autofree char *p_t5 = write_lora("t5.safetensors", t5, G_N_ELEMENTS(t5));
    expect_refused(m, before, p_t5, "encoder_block_0_layer_0_SelfAttention_q");
    rd_lora_close(k);
    flux_model_free(m);
}

/* Files that are not LoRAs or are damaged fail to open, with the cause. */
static void expect_bad_file(const char *path, const char *message_part)
{
    g_autoptr(GError) error = NULL;
    RdLoraFile *f = rd_lora_open(path, &error);
    g_assert_null(f);
    g_assert_nonnull(error);
    if (!strstr(error->message, message_part))
        g_error("'%s' does not name '%s'", error->message, message_part);
    g_test_message("bad file: %s", error->message);
}

static void test_bad_files(void)
{
    const FakeTensor nan[] = {
        {"lora_unet_img_in.lora_down.weight", RD_F32, 2, {2, 16}, NAN},
        {"lora_unet_img_in.lora_up.weight", RD_F32, 2, {32, 2}, 0},
    };
    g_autofree char *p = write_lora("nan.safetensors", nan, 2);
    expect_bad_file(p, "NaN");
    const FakeTensor ranks[] = {
        {"lora_unet_img_in.lora_down.weight", RD_F32, 2, {2, 16}, 0},
        {"lora_unet_img_in.lora_up.weight", RD_F32, 2, {32, 3}, 0},
    };
    g_autofree char *p2 = write_lora("ranks.safetensors", ranks, 2);
    expect_bad_file(p2, "ranks do not match");
    const FakeTensor half[] = {{"lora_unet_img_in.lora_down.weight", RD_F32, 2, {2, 16}, 0}};
    g_autofree char *p3 = write_lora("half.safetensors", half, 1);
    expect_bad_file(p3, "no up");
    const FakeTensor dora[] = {
        {"lora_unet_img_in.lora_down.weight", RD_F32, 2, {2, 16}, 0},
        {"lora_unet_img_in.lora_up.weight", RD_F32, 2, {32, 2}, 0},
        {"lora_unet_img_in.dora_scale", RD_F32, 2, {1, 16}, 0},
    };
    g_autofree char *p4 = write_lora("dora.safetensors", dora, 3);
    expect_bad_file(p4, "dora_scale");
    /* the base model is not a LoRA */
    g_autofree char *base = flux_data("tiny-a.bfl.f32.safetensors");
    expect_bad_file(base, "not part of a plain LoRA");
    /* truncated: the header promises more data than the file holds */
    g_autofree char *good = flux_data("lora-kohya.safetensors");
    g_autofree char *bytes = NULL;
    gsize len;
    g_assert_true(g_file_get_contents(good, &bytes, &len, NULL));
    g_autofree char *cut = g_build_filename(tmpdir, "cut.safetensors", NULL);
    g_assert_true(g_file_set_contents(cut, bytes, (gssize)(len - 100), NULL));
    expect_bad_file(cut, "cut.safetensors");
}

/* ---- CLIP-L (te1) ------------------------------------------------------------------------- */

/* A kohya file with transformer and te1 parts: its te1 parts on the tiny CLIP against
 * transformers' CLIPTextModel with the same parts merged by hand in float64
 * (lora-te1.clip.safetensors); removing them gives the base CLIP back bit for bit. Its
 * transformer part is one of the formats above. */
static void test_clip_te1(void)
{
    g_autofree char *clip_dir = tu_data_path("text/tiny/text_encoder");
    g_autoptr(GError) error = NULL;
    RdClipModel *clip = rd_clip_model_load(clip_dir, be, &error);
    g_assert_no_error(error);
    const RdClipConfig *cfg = rd_clip_model_config(clip);
    RdLoraFile *f = lora("lora-te1.safetensors");
    g_assert_cmpuint(rd_lora_count_part(f, RD_LORA_CLIP_L), ==, 4);
    g_assert_cmpuint(rd_lora_count_part(f, RD_LORA_TRANSFORMER), ==, 2);
    g_autofree char *golden_path = flux_data("lora-te1.clip.safetensors");
    int64_t n, nh, np;
    g_autofree float *ids_f = tensor_f32(golden_path, "ids", &n);
    g_autofree float *ref_h = tensor_f32(golden_path, "hidden", &nh);
    g_autofree float *ref_p = tensor_f32(golden_path, "pooled", &np);
    g_assert_cmpint(nh, ==, n * cfg->hidden);
    int32_t ids[16];
    g_assert_cmpint(n, <=, 16);
    for (int64_t i = 0; i < n; i++)
        ids[i] = (int32_t)ids_f[i];
    const int eos = ids[n - 1];
    g_autofree float *h0 = g_new(float, nh), *h = g_new(float, nh), *p = g_new(float, np);
    g_autofree float *h1 = g_new(float, nh);
    g_assert_true(rd_clip_model_forward(clip, ids, (int)n, eos, h0, NULL, NULL, &error));
    const double strength = 0.9;
    g_assert_true(rd_clip_model_set_loras(clip, &f, &strength, 1, FALSE, &error));
    g_assert_no_error(error);
    g_assert_true(rd_clip_model_forward(clip, ids, (int)n, eos, h, p, NULL, &error));
    g_assert_no_error(error);
    /* two f32 evaluations of 2 layers (6 reductions each) plus one rounding of every weight */
    double bound = tu_network_bound(6 * cfg->layers + 2, MAX(cfg->intermediate, n), TU_U_F32) +
                   tu_weight_rounding_bound(6 * cfg->layers + 2, TU_U_F32);
    double eh = tu_assert_network_close("CLIP te1 hidden", h, ref_h, (size_t)nh, bound);
    double ep = tu_assert_network_close("CLIP te1 pooled", p, ref_p, (size_t)np, bound);
    g_test_message("CLIP te1 against transformers: relative L2 hidden %.2e, pooled %.2e", eh, ep);
    g_assert_cmpfloat(eh, <=, 1e-4);
    g_assert_cmpfloat(ep, <=, 1e-4);
    g_assert_true(rd_clip_model_set_loras(clip, NULL, NULL, 0, FALSE, &error));
    g_assert_true(rd_clip_model_forward(clip, ids, (int)n, eos, h1, NULL, NULL, &error));
    g_assert_cmpmem(h1, nh * sizeof(float), h0, nh * sizeof(float));
    rd_lora_close(f);
    rd_clip_model_free(clip);
}

static void remove_tree(const char *path)
{
    if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
        g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
        const char *name;
        while (d && (name = g_dir_read_name(d))) {
            g_autofree char *child = g_build_filename(path, name, NULL);
            remove_tree(child);
        }
    }
    g_remove(path);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    be = rd_backend_cpu_new();
    tmpdir = g_dir_make_tmp("test-lora-XXXXXX", NULL);
    inputs_load();
    g_test_add_func("/lora/formats", test_formats);
    g_test_add_func("/lora/two-at-once", test_two_at_once);
    g_test_add_func("/lora/rounded-weights", test_rounded_weights);
    g_test_add_func("/lora/strength-zero", test_strength_zero);
    g_test_add_func("/lora/restrength", test_restrength);
    g_test_add_func("/lora/refusals", test_refusals);
    g_test_add_func("/lora/bad-files", test_bad_files);
    g_test_add_func("/lora/clip-te1", test_clip_te1);
    int rc = g_test_run();
    rd_backend_free(be);
    remove_tree(tmpdir);
    g_free(tmpdir);
    return rc;
}
