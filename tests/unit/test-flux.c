/* The FLUX transformer and every ResDiT mode against the PyTorch reference (tests/data/flux,
 * written by tools/reference/), plus METHOD.md's invariants and the bad-model errors. */
#include <glib/gstdio.h>
#include <string.h>

#include "flux_model.h"
#include "safetensors.h"
#include "test-util.h"

static RdBackend *be;
static char *tmpdir;

typedef struct {
    const char *name;
    int grids[5][2];
    int n_grids;
} TinyConfig;

static const TinyConfig tiny_a = {"tiny-a", {{8, 8}, {16, 16}, {24, 24}, {16, 24}, {12, 20}}, 5};
static const TinyConfig tiny_b = {"tiny-b", {{8, 8}, {16, 16}, {12, 20}}, 3};

static char *flux_data(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static char *flux_data(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *name = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_autofree char *rel = g_build_filename("flux", name, NULL);
    return tu_data_path(rel);
}

static FluxModel *load(const char *file, const char *config_of)
{
    g_autofree char *path = flux_data("%s", file);
    g_autofree char *config = config_of ? flux_data("%s/transformer/config.json", config_of) : NULL;
    g_autoptr(GError) error = NULL;
    FluxModel *m = flux_model_load_with_config(path, config, be, &error);
    g_assert_no_error(error);
    return m;
}

/* A tensor of a golden file as f32 (caller frees). */
static float *golden(const char *file, const char *tensor, int64_t *numel)
{
    g_autofree char *path = flux_data("%s", file);
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

typedef struct {
    float *img, *txt, *vec, *timestep, *guidance;
    int64_t txt_numel;
    FluxInputs in;
} Inputs;

static void inputs_load(Inputs *x, const char *cfg, int rows, int cols, gboolean guidance)
{
    g_autofree char *file = g_strdup_printf("%s.inputs.%dx%d.safetensors", cfg, rows, cols);
    int64_t n;
    x->img = golden(file, "img", &n);
    x->txt = golden(file, "txt", &x->txt_numel);
    x->vec = golden(file, "vec", &n);
    x->timestep = golden(file, "timestep", &n);
    x->guidance = guidance ? golden(file, "guidance", &n) : NULL;
    x->in = (FluxInputs){x->img, x->txt, x->vec, 0, rows, cols, x->timestep[0],
                         guidance ? x->guidance[0] : 0.0f};
}

static void inputs_clear(Inputs *x)
{
    g_free(x->img);
    g_free(x->txt);
    g_free(x->vec);
    g_free(x->timestep);
    g_free(x->guidance);
}

static float *run(FluxModel *m, Inputs *x, const FluxAttentionPlan *plan)
{
    const FluxConfig *c = flux_model_config(m);
    x->in.txt_len = (int)(x->txt_numel / c->txt_dim);
    float *v = g_new(float, (int64_t)x->in.grid_rows * x->in.grid_cols * c->in_channels);
    g_autoptr(GError) error = NULL;
    g_assert_true(flux_model_forward(m, &x->in, plan, v, NULL, &error));
    g_assert_no_error(error);
    return v;
}

/* The tiny models' method parameters: base area 64 (8 x 8), patch 8, sigma 2, cutoff 0.2. */
static FluxAttentionPlan tiny_plan(ResditMode mode)
{
    FluxAttentionPlan plan = {mode};
    resdit_method_params_init(&plan.method);
    plan.method.base_area = 64;
    plan.method.patch = 8;
    plan.method.sigma = 2.0;
    plan.method.cutoff = 0.2;
    return plan;
}

static int forward_depth(const FluxConfig *c)
{
    return tu_flux_depth(c->double_blocks, c->single_blocks);
}

static int64_t forward_reduction(const FluxConfig *c, int tokens)
{
    return tu_flux_reduction(c->hidden, c->mlp_hidden, tokens, c->txt_dim, c->vec_dim);
}

/* A golden: relative L2 within `limit` (the parity figure, 1e-4 in f32) and every element
 * within the arithmetic bound for two f32 evaluations in different orders. */
static void expect_golden(const char *what, const float *got, const char *file, const char *tensor,
                          double limit, double bound)
{
    int64_t n;
    g_autofree float *ref = golden(file, tensor, &n);
    double err = tu_assert_network_close(what, got, ref, (size_t)n, bound);
    if (!(err <= limit))
        g_error("%s: relative L2 %.3g against %s/%s exceeds %.0e", what, err, file, tensor, limit);
}

/* Two f32 evaluations of the model on these inputs. */
static double model_bound(FluxModel *m, const Inputs *x)
{
    const FluxConfig *c = flux_model_config(m);
    int tokens = x->in.txt_len + x->in.grid_rows * x->in.grid_cols;
    return tu_network_bound(forward_depth(c), forward_reduction(c, tokens), TU_U_F32);
}

/* The model with its weights rounded to bf16 against the f32 model. */
static double bf16_weights_bound(FluxModel *m, const Inputs *x)
{
    return tu_weight_rounding_bound(forward_depth(flux_model_config(m)), TU_U_BF16) +
           model_bound(m, x);
}

/* Direct mode, every layout of both configs, every grid. */
static void check_direct(const TinyConfig *cfg, gboolean guidance)
{
    g_autofree char *folder = g_strdup(cfg->name);
    g_autofree char *bfl32 = g_strdup_printf("%s.bfl.f32.safetensors", cfg->name);
    g_autofree char *bfl16 = g_strdup_printf("%s.bfl.bf16.safetensors", cfg->name);
    FluxModel *models[3] = {load(folder, NULL), load(bfl32, cfg->name), load(bfl16, cfg->name)};
    FluxAttentionPlan plan = tiny_plan(RESDIT_MODE_DIRECT);
    for (int g = 0; g < cfg->n_grids; g++) {
        int r = cfg->grids[g][0], c = cfg->grids[g][1];
        Inputs x;
        inputs_load(&x, cfg->name, r, c, guidance);
        g_autofree char *file = g_strdup_printf("%s.direct.%dx%d.safetensors", cfg->name, r, c);
        g_autofree float *v_folder = run(models[0], &x, &plan);
        g_autofree float *v_bfl = run(models[1], &x, &plan);
        g_autofree float *v_bf16 = run(models[2], &x, &plan);
        double b32 = model_bound(models[0], &x);
        expect_golden("diffusers folder f32", v_folder, file, "velocity", 1e-4, b32);
        expect_golden("BFL file f32", v_bfl, file, "velocity", 1e-4, b32);
        expect_golden("BFL file bf16", v_bf16, file, "velocity", 1e-2,
                      bf16_weights_bound(models[2], &x));
        if (guidance) /* tiny-a carries the output of the rounded weights too */
            expect_golden("BFL file bf16, exact weights", v_bf16, file, "velocity_bf16w", 1e-4,
                          b32);
        inputs_clear(&x);
    }
    for (int i = 0; i < 3; i++)
        flux_model_free(models[i]);
}

static void test_direct_tiny_a(void)
{
    check_direct(&tiny_a, TRUE);
}

static void test_direct_tiny_b(void)
{
    check_direct(&tiny_b, FALSE);
}

/* ComfyUI copies: "model.diffusion_model." prefix, bf16 and fp8 weights. */
static void test_comfy_layouts(void)
{
    FluxModel *bf16 = load("tiny-a.comfy.bf16.safetensors", "tiny-a");
    FluxModel *fp8 = load("tiny-a.comfy.fp8.safetensors", "tiny-a");
    FluxAttentionPlan plan = tiny_plan(RESDIT_MODE_DIRECT);
    Inputs x;
    inputs_load(&x, "tiny-a", 16, 24, TRUE);
    g_autofree float *v16 = run(bf16, &x, &plan);
    g_autofree float *v8 = run(fp8, &x, &plan);
    double b32 = model_bound(bf16, &x);
    expect_golden("comfy bf16", v16, "tiny-a.direct.16x24.safetensors", "velocity_bf16w", 1e-4,
                  b32);
    expect_golden("comfy fp8", v8, "tiny-a.direct.16x24.safetensors", "velocity_fp8w", 1e-4, b32);
    inputs_clear(&x);
    flux_model_free(bf16);
    flux_model_free(fp8);
}

typedef struct {
    const char *variant;
    ResditMode mode;
    double cutoff;
    gboolean no_pes, no_pipe, no_psf, no_overlap, uniform;
} Variant;

static const Variant variants[] = {
    {"global", RESDIT_MODE_GLOBAL, 0.2},
    {"local", RESDIT_MODE_LOCAL, 0.2},
    {"fused", RESDIT_MODE_FUSED, 0.2},
    {"fused-c0.5", RESDIT_MODE_FUSED, 0.5},
    {"fused-nopes", RESDIT_MODE_FUSED, 0.2, .no_pes = TRUE},
    {"fused-nopipe", RESDIT_MODE_FUSED, 0.2, .no_pipe = TRUE},
    {"fused-nopsf", RESDIT_MODE_FUSED, 0.2, .no_psf = TRUE},
    {"fused-nooverlap", RESDIT_MODE_FUSED, 0.2, .no_overlap = TRUE},
    {"fused-uniform", RESDIT_MODE_FUSED, 0.2, .uniform = TRUE},
    {"local-nooverlap", RESDIT_MODE_LOCAL, 0.2, .no_overlap = TRUE},
    {"local-uniform", RESDIT_MODE_LOCAL, 0.2, .uniform = TRUE},
};

static FluxAttentionPlan variant_plan(const Variant *v)
{
    FluxAttentionPlan plan = tiny_plan(v->mode);
    plan.method.cutoff = v->cutoff;
    plan.method.no_pes = v->no_pes;
    plan.method.no_pipe = v->no_pipe;
    plan.method.no_psf = v->no_psf;
    plan.method.no_overlap = v->no_overlap;
    plan.method.uniform_weights = v->uniform;
    return plan;
}

/* Every variant golden that exists for this config and grid. */
static void check_variants(const TinyConfig *cfg, gboolean guidance, int expected)
{
    FluxModel *m = load(cfg->name, NULL);
    int checked = 0;
    for (int g = 0; g < cfg->n_grids; g++) {
        int r = cfg->grids[g][0], c = cfg->grids[g][1];
        Inputs x;
        inputs_load(&x, cfg->name, r, c, guidance);
        for (size_t i = 0; i < G_N_ELEMENTS(variants); i++) {
            g_autofree char *file =
                g_strdup_printf("%s.%s.%dx%d.safetensors", cfg->name, variants[i].variant, r, c);
            g_autofree char *path = flux_data("%s", file);
            if (!g_file_test(path, G_FILE_TEST_EXISTS))
                continue;
            FluxAttentionPlan plan = variant_plan(&variants[i]);
            g_autofree float *v = run(m, &x, &plan);
            expect_golden(file, v, file, "velocity", 1e-4, model_bound(m, &x));
            checked++;
        }
        inputs_clear(&x);
    }
    g_test_message("%s: %d ResDiT goldens matched", cfg->name, checked);
    g_assert_cmpint(checked, ==, expected); /* every golden the reference wrote */
    flux_model_free(m);
}

static void test_variants_tiny_a(void)
{
    check_variants(&tiny_a, TRUE, 31);
}

static void test_variants_tiny_b(void)
{
    check_variants(&tiny_b, FALSE, 4);
}

/* Bit for bit: both runs make the same backend calls on the same shapes in the same order. */
static void assert_same(const char *what, const float *a, const float *b, size_t n)
{
    tu_assert_close(what, a, b, n, 0.0f, 0.0f);
}

/* METHOD.md: at the base grid every mode is the plain forward pass; cutoff 0 is local and 1.5
 * global; a patch as large as the grid is plain attention. The first and the last compare
 * different code paths (patch gathers, other attention shapes, so other BLAS kernels and
 * summation orders): within the arithmetic bound. The cutoffs only pick which branch the fused
 * step keeps, on the same calls: exactly. */
static void test_invariants(void)
{
    FluxModel *m = load("tiny-a", NULL);
    const size_t n_base = 8 * 8 * 16, n_big = 16 * 24 * 16;
    Inputs base, big;
    inputs_load(&base, "tiny-a", 8, 8, TRUE);
    inputs_load(&big, "tiny-a", 16, 24, TRUE);
    FluxAttentionPlan direct = tiny_plan(RESDIT_MODE_DIRECT);
    g_autofree float *v_direct = run(m, &base, &direct);
    for (size_t i = 0; i < G_N_ELEMENTS(variants); i++) {
        FluxAttentionPlan plan = variant_plan(&variants[i]);
        if (plan.method.no_pes)
            continue; /* at the base grid PES is the identity anyway */
        g_autofree float *v = run(m, &base, &plan);
        tu_assert_network_close(variants[i].variant, v, v_direct, n_base,
                                model_bound(m, &base));
    }
    FluxAttentionPlan fused0 = tiny_plan(RESDIT_MODE_FUSED), local = tiny_plan(RESDIT_MODE_LOCAL);
    FluxAttentionPlan fused15 = tiny_plan(RESDIT_MODE_FUSED), global = tiny_plan(RESDIT_MODE_GLOBAL);
    fused0.method.cutoff = 0.0;
    fused15.method.cutoff = 1.5;
    g_autofree float *a = run(m, &big, &fused0), *b = run(m, &big, &local);
    g_autofree float *c = run(m, &big, &fused15), *d = run(m, &big, &global);
    assert_same("cutoff 0 = local", a, b, n_big);
    assert_same("cutoff 1.5 = global", c, d, n_big);

    FluxAttentionPlan whole = tiny_plan(RESDIT_MODE_LOCAL);
    whole.method.patch = 24;
    whole.method.base_area = 16 * 24;
    FluxAttentionPlan plain = tiny_plan(RESDIT_MODE_DIRECT);
    g_autofree float *e = run(m, &big, &whole), *f = run(m, &big, &plain);
    tu_assert_network_close("one patch = plain attention", e, f, n_big,
                            model_bound(m, &big));
    inputs_clear(&base);
    inputs_clear(&big);
    flux_model_free(m);
}

/* A copy of tiny-a's BFL file with `drop` removed and `rename_to` added, or truncated. */
static char *broken_copy(const char *name, const char *drop, const char *extra_name,
                         const int64_t *extra_shape, int extra_ndim)
{
    g_autofree char *src = flux_data("tiny-a.bfl.f32.safetensors");
    RdSafetensors *st = rd_safetensors_open(src, NULL);
    RdSafetensorsWriter *w = rd_safetensors_writer_new();
    for (guint i = 0; i < rd_safetensors_count(st); i++) {
        const RdTensorInfo *t = rd_safetensors_get(st, i);
        if (drop && g_str_equal(t->name, drop))
            continue;
        rd_safetensors_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data);
    }
    static float extra[4096];
    if (extra_name)
        rd_safetensors_writer_add(w, extra_name, RD_F32, extra_ndim, extra_shape, extra);
    char *path = g_build_filename(tmpdir, name, NULL);
    g_assert_true(rd_safetensors_writer_save(w, path, NULL));
    rd_safetensors_writer_free(w);
    rd_safetensors_close(st);
    return path;
}

static void expect_load_error(const char *path, int code, const char *needle)
{
    g_autofree char *config = flux_data("tiny-a/transformer/config.json");
    g_autoptr(GError) error = NULL;
    FluxModel *m = flux_model_load_with_config(path, config, be, &error);
    g_assert_null(m);
    g_assert_error(error, RESDIT_ERROR, code);
    if (!strstr(error->message, needle))
        g_error("message '%s' does not mention '%s'", error->message, needle);
}

static void test_bad_models(void)
{
    g_autofree char *missing = broken_copy("missing.safetensors", "double_blocks.1.txt_mlp.2.weight",
                                           NULL, NULL, 0);
    expect_load_error(missing, RESDIT_ERROR_MODEL, "double_blocks.1.txt_mlp.2.weight is missing");

    int64_t wrong[2] = {32, 31};
    g_autofree char *shape = broken_copy("shape.safetensors", "single_blocks.0.linear2.weight",
                                         "single_blocks.0.linear2.weight", wrong, 2);
    expect_load_error(shape, RESDIT_ERROR_MODEL, "single_blocks.0.linear2.weight has shape [32, 31]");

    int64_t vae_shape[1] = {4};
    g_autofree char *vae_src = g_build_filename(tmpdir, "vae.safetensors", NULL);
    RdSafetensorsWriter *w = rd_safetensors_writer_new();
    static float four[4] = {1, 2, 3, 4};
    rd_safetensors_writer_add(w, "decoder.conv_in.weight", RD_F32, 1, vae_shape, four);
    g_assert_true(rd_safetensors_writer_save(w, vae_src, NULL));
    rd_safetensors_writer_free(w);
    expect_load_error(vae_src, RESDIT_ERROR_MODEL, "is a VAE (autoencoder), not a FLUX transformer");

    g_autofree char *src = flux_data("tiny-a.bfl.f32.safetensors");
    g_autofree char *contents = NULL;
    gsize len;
    g_assert_true(g_file_get_contents(src, &contents, &len, NULL));
    g_autofree char *truncated = g_build_filename(tmpdir, "truncated.safetensors", NULL);
    g_assert_true(g_file_set_contents(truncated, contents, (gssize)(len * 2 / 3), NULL));
    expect_load_error(truncated, RESDIT_ERROR_FORMAT, "truncated");

    g_autofree char *nothing = g_build_filename(tmpdir, "absent.safetensors", NULL);
    expect_load_error(nothing, RESDIT_ERROR_IO, "absent.safetensors");

    /* A single file of non-standard head size without its config cannot be guessed. */
    g_autoptr(GError) error = NULL;
    g_assert_null(flux_model_load(src, be, &error));
    g_assert_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL);
    g_assert_nonnull(strstr(error->message, "config.json"));
}

/* A diffusers config.json with bad values must be refused with a message that names the file
 * and the key (negative RoPE axes used to write past the RoPE table). */
static void expect_config_error(const char *config_text, const char *needle)
{
    g_autofree char *src = flux_data("tiny-a.bfl.f32.safetensors");
    g_autofree char *config = g_build_filename(tmpdir, "config.json", NULL);
    g_assert_true(g_file_set_contents(config, config_text, -1, NULL));
    g_autoptr(GError) error = NULL;
    FluxModel *m = flux_model_load_with_config(src, config, be, &error);
    if (m) {
        flux_model_free(m);
        g_error("config %s was accepted", config_text);
    }
    g_assert_nonnull(error);
    if (!strstr(error->message, needle) || !strstr(error->message, "config.json"))
        g_error("message '%s' does not mention '%s' and the file", error->message, needle);
}

static void test_bad_config(void)
{
    expect_config_error("{\"attention_head_dim\": 16, \"axes_dims_rope\": [-2, 10, 8]}",
                        "axes_dims_rope");
    expect_config_error("{\"attention_head_dim\": 16, \"axes_dims_rope\": [-4, -6, 26]}",
                        "axes_dims_rope");
    expect_config_error("{\"attention_head_dim\": 16, \"axes_dims_rope\": [0, 8, 8]}",
                        "axes_dims_rope");
    expect_config_error("{\"attention_head_dim\": 16, \"axes_dims_rope\": [4, 6]}",
                        "axes_dims_rope");
    expect_config_error("{\"attention_head_dim\": 16, \"axes_dims_rope\": [4, \"6\", 6]}",
                        "axes_dims_rope");
    expect_config_error("{\"attention_head_dim\": -16, \"axes_dims_rope\": [4, 6, 6]}",
                        "attention_head_dim");
    expect_config_error("{\"attention_head_dim\": 4294967312, \"axes_dims_rope\": [4, 6, 6]}",
                        "attention_head_dim");
    expect_config_error("{\"attention_head_dim\": 16, \"axes_dims_rope\": [4, 6, 8]}",
                        "axes_dims_rope");
    GString *deep = g_string_new("{\"a\": ");
    for (int i = 0; i < 100000; i++)
        g_string_append_c(deep, '[');
    expect_config_error(deep->str, "nest deeper");
    g_string_free(deep, TRUE);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    be = rd_backend_cpu_new();
    tmpdir = g_dir_make_tmp("resdit-flux-XXXXXX", NULL);
    g_test_add_func("/flux/direct/tiny-a", test_direct_tiny_a);
    g_test_add_func("/flux/direct/tiny-b", test_direct_tiny_b);
    g_test_add_func("/flux/direct/comfy-layouts", test_comfy_layouts);
    g_test_add_func("/flux/resdit/tiny-a", test_variants_tiny_a);
    g_test_add_func("/flux/resdit/tiny-b", test_variants_tiny_b);
    g_test_add_func("/flux/resdit/invariants", test_invariants);
    g_test_add_func("/flux/bad-models", test_bad_models);
    g_test_add_func("/flux/bad-config", test_bad_config);
    int status = g_test_run();
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        g_warning("could not remove %s", tmpdir);
    rd_backend_free(be);
    return status;
}
