/* ResditModel: the opened parts of one model, its paths, and the memory estimate of a job. */
#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

#include "flux_model.h"
#include "json_load.h"
#include "memory_plan.h"
#include "pipeline-private.h"
#include "schedule.h"
#include "sd3_model.h"
#include "sd3_text.h"

void rd_model_defaults_init(ResditModel *m, gboolean has_guidance)
{
    m->default_t5_len = has_guidance ? 512 : 256;
    m->default_steps = has_guidance ? 35 : 4;
    m->default_width = m->default_height = 1024;
    m->base_area = 4096;
    m->patch = 64;
    m->base_size = 1024;
    m->default_guidance = 3.5;
}

void rd_model_defaults_init_sd3(ResditModel *m, gboolean qk_norm, gboolean dual_attention)
{
    rd_model_defaults_init(m, FALSE);
    m->default_t5_len = 256; /* diffusers' max_sequence_length */
    m->default_steps = dual_attention ? 40 : 28;
    m->default_guidance = dual_attention ? 4.5 : qk_norm ? 3.5 : 7.0;
}

static gboolean sd3_has_dual(const Sd3Config *c)
{
    for (int i = 0; i < c->layers; i++)
        if (c->dual && c->dual[i])
            return TRUE;
    return FALSE;
}

ResditModel *rd_model_new(const char *name, RdBackend *be, RdDenoiser *denoiser, RdVae *vae,
                          RdTextEncoders *text, GDestroyNotify text_free)
{
    ResditModel *m = g_new0(ResditModel, 1);
    m->name = g_strdup(name);
    m->be = be;
    m->denoiser = denoiser;
    m->vae = vae;
    m->text = text;
    m->text_free = text_free;
    if (rd_denoiser_info(denoiser)->family == RD_DENOISER_SD3) {
        const Sd3Config *c = sd3_model_config(denoiser->impl);
        rd_model_defaults_init_sd3(m, c->qk_norm, sd3_has_dual(c));
    } else {
        rd_model_defaults_init(m, rd_denoiser_info(denoiser)->guidance == RD_GUIDANCE_EMBEDDED);
    }
    g_mutex_init(&m->preview_lock);
    g_mutex_init(&m->text_lock);
    return m;
}

void resdit_model_free(ResditModel *m)
{
    if (!m)
        return;
    if (m->text && m->text_free)
        m->text_free(m->text);
    if (m->sd3_text)
        rd_sd3_text_free(m->sd3_text);
    rd_vae_free(m->vae);
    if (m->vae_be)
        rd_backend_free(m->vae_be);
    rd_denoiser_free(m->denoiser);
    resdit_model_paths_free(m->paths);
    if (m->be)
        rd_backend_free(m->be);
    if (m->memory_files) {
        for (guint i = 0; i < m->memory_files->len; i++)
            close(GPOINTER_TO_INT(g_ptr_array_index(m->memory_files, i)));
        g_ptr_array_unref(m->memory_files);
    }
    g_mutex_clear(&m->preview_lock);
    g_mutex_clear(&m->text_lock);
    if (m->loras)
        g_ptr_array_unref(m->loras);
    g_free(m->default_prompt);
    g_free(m->name);
    g_free(m);
}

const char *resdit_model_name(const ResditModel *m)
{
    return m->name;
}

gboolean resdit_model_is_selftest(const ResditModel *m)
{
    return m->selftest;
}

const char *resdit_model_backend_name(const ResditModel *m)
{
    return m->be->name;
}

int resdit_model_default_t5_len(const ResditModel *m)
{
    return m->default_t5_len;
}

gboolean resdit_model_has_guidance(const ResditModel *m)
{
    return rd_denoiser_info(m->denoiser)->guidance == RD_GUIDANCE_EMBEDDED;
}

ResditModelFamily resdit_model_family(const ResditModel *m)
{
    return rd_denoiser_info(m->denoiser)->family == RD_DENOISER_SD3 ? RESDIT_FAMILY_SD3
                                                                    : RESDIT_FAMILY_FLUX;
}

gboolean resdit_model_uses_cfg(const ResditModel *m)
{
    return rd_denoiser_info(m->denoiser)->guidance == RD_GUIDANCE_CFG;
}

double resdit_model_default_guidance(const ResditModel *m)
{
    return m->default_guidance;
}

int resdit_model_base_size(const ResditModel *m)
{
    return m->base_size;
}

const char *resdit_model_default_prompt(const ResditModel *m)
{
    return m->default_prompt;
}

static gboolean bad_settings(GError **error, const char *path, const char *what)
{
    g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_FORMAT, "%s: %s", path, what);
    return FALSE;
}

/* An integer member in [lo, hi], or fallback when absent. */
static gboolean settings_int(JsonObject *o, const char *name, int lo, int hi, int *value,
                             const char *path, GError **error)
{
    JsonNode *n = json_object_get_member(o, name);
    if (!n)
        return TRUE;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64 ||
        json_node_get_int(n) < lo || json_node_get_int(n) > hi) {
        g_autofree char *what = g_strdup_printf("\"%s\" must be an integer from %d to %d", name,
                                                lo, hi);
        return bad_settings(error, path, what);
    }
    *value = (int)json_node_get_int(n);
    return TRUE;
}

gboolean rd_model_read_settings(ResditModel *m, const char *root, GError **error)
{
    if (!root)
        return TRUE;
    g_autofree char *path = g_build_filename(root, "resdit.json", NULL);
    if (!g_file_test(path, G_FILE_TEST_IS_REGULAR))
        return TRUE;
    g_autoptr(JsonParser) parser = json_parser_new();
    GError *local = NULL;
    if (!rd_json_load_file(parser, path, &local)) {
        g_autofree char *what = g_strdup_printf("not valid JSON: %s", local->message);
        g_error_free(local);
        return bad_settings(error, path, what);
    }
    JsonNode *top = json_parser_get_root(parser);
    if (!top || !JSON_NODE_HOLDS_OBJECT(top))
        return bad_settings(error, path, "not a JSON object");
    JsonObject *o = json_node_get_object(top);
    int base = m->base_size, steps = m->default_steps, t5 = m->default_t5_len;
    if (!settings_int(o, "base_size", 16, 16384, &base, path, error) ||
        !settings_int(o, "default_steps", 1, 1000, &steps, path, error) ||
        !settings_int(o, "t5_length", 1, 4096, &t5, path, error))
        return FALSE;
    double guidance = m->default_guidance;
    JsonNode *g = json_object_get_member(o, "default_guidance");
    if (g) {
        GType t = JSON_NODE_HOLDS_VALUE(g) ? json_node_get_value_type(g) : G_TYPE_INVALID;
        guidance = t == G_TYPE_INT64 || t == G_TYPE_DOUBLE ? json_node_get_double(g) : -1;
        if (!(guidance >= 0 && guidance <= 100))
            return bad_settings(error, path, "\"default_guidance\" must be a number from 0 to 100");
    }
    if (base % 16)
        return bad_settings(error, path, "\"base_size\" must be a multiple of 16 pixels");
    JsonNode *prompt = json_object_get_member(o, "default_prompt");
    if (prompt && (!JSON_NODE_HOLDS_VALUE(prompt) ||
                   json_node_get_value_type(prompt) != G_TYPE_STRING))
        return bad_settings(error, path, "\"default_prompt\" must be a string");
    if (json_object_has_member(o, "guidance")) {
        if (g_strcmp0(rd_json_get_string(o, "guidance"), "cfg") != 0)
            return bad_settings(error, path, "\"guidance\" must be \"cfg\" (classifier-free)");
        g_autoptr(GError) why = NULL;
        /* a dry run's defaults have no transformer: the plan does not depend on it */
        if (m->denoiser != NULL && !rd_denoiser_guide_with_cfg(m->denoiser, &why))
            return bad_settings(error, path, why->message);
    }
    const int side = base / 16; /* tokens: 8x VAE, 2x2 patches */
    m->base_size = base;
    m->base_area = side * side;
    m->patch = side;
    m->default_width = m->default_height = base;
    m->default_steps = steps;
    m->default_t5_len = t5;
    m->default_guidance = guidance;
    g_free(m->default_prompt);
    m->default_prompt = prompt ? g_strdup(json_node_get_string(prompt)) : NULL;
    return TRUE;
}

void resdit_model_job_defaults(const ResditModel *m, ResditJobParams *p)
{
    p->steps = m->default_steps;
    p->guidance = m->default_guidance;
    p->width = m->default_width;
    p->height = m->default_height;
    p->method.base_area = m->base_area;
    p->method.patch = m->patch;
    p->t5_len = 0;
}

RdBackend *rd_vae_backend_for(RdBackend *be, RdBackend **extra)
{
    *extra = NULL;
    if (rd_vae_backend_supported(be))
        return be;
    g_info("The %s backend has no VAE ops yet: the VAE decodes on the CPU", be->name);
    return *extra = rd_backend_cpu_new();
}

RdBackend *rd_backend_for_choice(ResditBackendChoice choice, GError **error)
{
    RdBackendChoice c = choice == RESDIT_BACKEND_CUDA  ? RD_BACKEND_CUDA
                        : choice == RESDIT_BACKEND_CPU ? RD_BACKEND_CPU
                                                       : RD_BACKEND_AUTO;
    return rd_backend_new(c, error);
}

/* ---- paths ------------------------------------------------------------------------------- */

const char *resdit_model_family_name(ResditModelFamily family)
{
    return family == RESDIT_FAMILY_SD3 ? "SD3" : "FLUX";
}

void resdit_model_paths_clear(ResditModelPaths *p)
{
    g_clear_pointer(&p->name, g_free);
    g_clear_pointer(&p->root, g_free);
    g_clear_pointer(&p->transformer, g_free);
    g_clear_pointer(&p->vae, g_free);
    g_clear_pointer(&p->clip_l, g_free);
    g_clear_pointer(&p->clip_g, g_free);
    g_clear_pointer(&p->t5, g_free);
    g_clear_pointer(&p->clip_tokenizer, g_free);
    g_clear_pointer(&p->t5_tokenizer, g_free);
    g_clear_pointer(&p->searched, g_strfreev);
    g_clear_pointer(&p->t5_tokenizer_searched, g_strfreev);
}

ResditModelPaths *resdit_model_paths_copy(const ResditModelPaths *p)
{
    ResditModelPaths *c = g_new0(ResditModelPaths, 1);
    c->name = g_strdup(p->name);
    c->root = g_strdup(p->root);
    c->transformer = g_strdup(p->transformer);
    c->vae = g_strdup(p->vae);
    c->family = p->family;
    c->clip_l = g_strdup(p->clip_l);
    c->clip_g = g_strdup(p->clip_g);
    c->t5 = g_strdup(p->t5);
    c->clip_tokenizer = g_strdup(p->clip_tokenizer);
    c->t5_tokenizer = g_strdup(p->t5_tokenizer);
    c->searched = g_strdupv(p->searched);
    c->t5_tokenizer_searched = g_strdupv(p->t5_tokenizer_searched);
    return c;
}

void resdit_model_paths_free(ResditModelPaths *p)
{
    if (!p)
        return;
    resdit_model_paths_clear(p);
    g_free(p);
}

char *resdit_model_paths_missing(const ResditModelPaths *p)
{
    GString *s = g_string_new(NULL);
    const gboolean sd3 = p->family == RESDIT_FAMILY_SD3;
    const struct {
        const char *path, *name;
        gboolean needed;
    } parts[] = {{p->transformer, "transformer", TRUE},
                 {p->vae, "vae", TRUE},
                 {p->clip_l, "clip-l", TRUE},
                 {p->clip_g, "clip-g", sd3},
                 {p->t5, "t5", !sd3}};
    for (size_t i = 0; i < G_N_ELEMENTS(parts); i++)
        if (parts[i].needed && !parts[i].path)
            g_string_append_printf(s, "%s%s", s->len ? ", " : "", parts[i].name);
    if (p->t5 && !p->t5_tokenizer && p->t5_tokenizer_searched)
        g_string_append_printf(s, "%st5-tokenizer", s->len ? ", " : "");
    return g_string_free(s, s->len == 0);
}

/* ---- memory ------------------------------------------------------------------------------ */

guint64 rd_host_available(void)
{
    g_autofree char *text = NULL;
    if (!g_file_get_contents("/proc/meminfo", &text, NULL, NULL))
        return 0;
    const char *line = strstr(text, "MemAvailable:");
    return line ? g_ascii_strtoull(line + 13, NULL, 10) * 1024 : 0;
}

guint64 rd_model_weight_bytes(const ResditModel *m)
{
    guint64 bytes = rd_vae_weight_bytes(m->vae) + m->text_weight_bytes;
    const RdSafetensors *st = rd_denoiser_weights(m->denoiser);
    for (guint i = 0; i < rd_safetensors_count(st); i++)
        bytes += rd_safetensors_get(st, i)->nbytes;
    return bytes;
}

/* The memory a job on m plans with: host memory available for the CPU backend; the device's
 * total for CUDA (the planner takes its reserve off, as a dry run with --vram does: the
 * model's own weights are on the device already, so its free memory would count them twice);
 * 0 when unknown. */
static guint64 plan_memory(const ResditModel *m)
{
    if (strcmp(m->be->name, "cpu") == 0)
        return rd_host_available();
    guint64 free_bytes = 0, total = 0;
    return rd_cuda_memory(&free_bytes, &total) ? total : 0;
}

gboolean resdit_estimate_memory(const ResditModel *m, const ResditJobParams *p,
                                ResditMemoryEstimate *e, GError **error)
{
    return rd_estimate_memory_within(m, p, plan_memory(m), e, error);
}

gboolean rd_model_place_weights(ResditModel *m, const ResditJobParams *p, gboolean encoding,
                                GError **error)
{
    FluxModel *flux = rd_denoiser_flux(m->denoiser);
    const guint64 card = plan_memory(m);
    if (strcmp(m->be->name, "cpu") == 0 || !flux || card == 0)
        return TRUE; /* mapped weights; or a model or card the planner does not know */
    RdPlanTarget target;
    RdMemoryPlan plan;
    if (!rd_model_memory_plan(m, p, card, &target, &plan, error))
        return FALSE;
    FluxWeightPlace place = plan.format == RD_WEIGHTS_BF16 ? FLUX_WEIGHTS_BF16 : FLUX_WEIGHTS_FP8;
    if (encoding && plan.t5_first)
        place = FLUX_WEIGHTS_RELEASED;
    const int streamed = plan.streamed_blocks;
    rd_memory_plan_clear(&plan);
    /* already as planned (a second job of the same plan): nothing moves */
    if (flux_model_weights_placed_as(flux, place, streamed))
        return TRUE;
    gboolean ok = flux_model_place_weights(flux, place, streamed, error);
    rd_backend_trim(m->be); /* what the released copies held goes back to the device */
    return ok;
}

/* SD3 for the planner, which knows FLUX's shapes: its joint blocks as FLUX's double blocks of
 * the same width, each weighing an equal share of the file's tensors (a Stability checkpoint's
 * bundled text encoders and VAE count with it: they are mapped with it). What this ignores: the
 * second (unconditional) pass of classifier-free guidance (run after the first, in the same
 * buffers, plus its velocity), the 77 CLIP rows beside T5's in the text stream, and in local
 * steps the text stream that each patch's pass carries. */
static void sd3_inventory(const RdDenoiser *d, RdTransformerInventory *inv)
{
    const Sd3Config *c = sd3_model_config(d->impl);
    const RdSafetensors *st = rd_denoiser_weights(d);
    memset(inv, 0, sizeof *inv);
    rd_part_inventory(st, NULL, &inv->all);
    inv->hidden = c->hidden;
    inv->mlp_hidden = c->mlp_hidden;
    inv->in_channels = c->in_channels;
    inv->txt_dim = c->txt_dim;
    inv->vec_dim = c->vec_dim;
    inv->head_dim = c->head_dim;
    inv->heads = c->heads;
    inv->sd3 = TRUE;
    inv->qk_norm = c->qk_norm;
    inv->dual_attention = sd3_has_dual(c);
    inv->n_blocks = MIN(c->layers, RD_PLAN_MAX_BLOCKS);
    for (int i = 0; i < inv->n_blocks; i++) {
        inv->block_elements[i] = inv->all.elements / (guint64)inv->n_blocks;
        inv->block_matrix_elements[i] = inv->all.matrix_elements / (guint64)inv->n_blocks;
        inv->block_tensors[i] = inv->all.tensors / (guint64)inv->n_blocks;
    }
}

gboolean rd_denoiser_inventory(const RdDenoiser *d, RdTransformerInventory *inv, GError **error)
{
    if (rd_denoiser_info(d)->family == RD_DENOISER_SD3) {
        sd3_inventory(d, inv);
        return TRUE;
    }
    return rd_transformer_inventory(rd_denoiser_weights(d), inv, error);
}

/* The model's inventory for the planner: the transformer from its headers, the VAE as opened, the
 * text encoders by their bytes (as bf16-equivalent elements). */
static gboolean model_inventory(const ResditModel *m, RdModelInventory *mi, GError **error)
{
    memset(mi, 0, sizeof *mi);
    if (!rd_denoiser_inventory(m->denoiser, &mi->transformer, error))
        return FALSE;
    const guint64 vae = rd_vae_weight_bytes(m->vae);
    mi->vae = (RdPartInventory){.present = TRUE, .elements = vae / 2, .file_bytes = vae};
    mi->clip = (RdPartInventory){.present = m->text_weight_bytes > 0,
                                 .elements = m->text_weight_bytes / 2,
                                 .file_bytes = m->text_weight_bytes};
    mi->vae_model = m->vae;
    return TRUE;
}

gboolean rd_model_memory_plan(const ResditModel *m, const ResditJobParams *p, guint64 available,
                              RdPlanTarget *target, RdMemoryPlan *plan, GError **error)
{
    RdModelInventory mi;
    if (!model_inventory(m, &mi, error))
        return FALSE;
    if (strcmp(m->be->name, "cpu") == 0) {
        rd_plan_target_cpu(target, available);
    } else {
        rd_plan_target_cuda(target, available); /* the card's total, less the reserve */
        target->fp8_gemm = rd_backend_fp8_gemm(m->be);
    }
    /* the job's own decode budget, so that the bands planned are the bands decoded */
    target->decode_budget = rd_decode_budget(m);
    target->bands_from_budget = TRUE;
    RdPlanJob job;
    rd_plan_job_from_params(&job, p, m->default_t5_len);
    return rd_memory_plan(&mi, &job, target, TRUE, plan, error);
}

gboolean rd_estimate_memory_within(const ResditModel *m, const ResditJobParams *p,
                                   guint64 available, ResditMemoryEstimate *e, GError **error)
{
    memset(e, 0, sizeof *e);
    if (!rd_job_params_check(m, p, error))
        return FALSE;
    RdPlanTarget target;
    RdMemoryPlan plan;
    if (!rd_model_memory_plan(m, p, available, &target, &plan, error))
        return FALSE;
    e->weights = plan.transformer_weights + plan.clip_weights + plan.vae_weights + plan.t5_weights;
    e->activations = MAX(plan.activations + plan.workspace, plan.vae_decode);
    e->total = plan.peak;
    if (p->init_image && p->strength < 1) { /* the init image: read, fitted, encoded */
        const int lh = p->height / 8, lw = p->width / 8;
        int enc_band = rd_vae_encode_band_rows_for_budget(m->vae, lh, lw, rd_decode_budget(m));
        guint64 enc = rd_vae_encode_bytes(m->vae, lh, lw, enc_band) +
                      (guint64)p->width * p->height * 3 * sizeof(float) * 2;
        e->activations = MAX(e->activations, enc);
        e->total = MAX(e->total, e->weights + enc);
    }
    e->available = target.weights_mapped || available == 0 ? available : plan.usable;
    e->weight_format = target.weights_mapped ? "file" : rd_weight_format_name(plan.format);
    e->streamed_blocks = plan.streamed_blocks;
    rd_memory_plan_clear(&plan);
    if (e->available && e->total > e->available) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_OUT_OF_MEMORY,
                    "A %dx%d image needs about %.1f GB (weights %.1f GB, activations %.1f GB) but "
                    "only %.1f GB are available; choose a smaller size",
                    p->width, p->height, e->total / 1e9, e->weights / 1e9, e->activations / 1e9,
                    e->available / 1e9);
        return FALSE;
    }
    return TRUE;
}

const ResditModelPaths *resdit_model_get_paths(const ResditModel *m)
{
    return m->paths;
}
