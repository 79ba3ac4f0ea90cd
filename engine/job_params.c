/* Job parameters: defaults, names, and the text/JSON records stored with every image. */
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "json_load.h"
#include "pipeline-private.h"

static const char *const shift_names[] = {
    [RESDIT_SHIFT_BASE] = "base",
    [RESDIT_SHIFT_RESOLUTION] = "resolution",
    [RESDIT_SHIFT_FIXED] = "fixed",
};

static const char *const phase_names[] = {
    [RESDIT_PHASE_ENCODING] = "encoding", [RESDIT_PHASE_GLOBAL] = "global",
    [RESDIT_PHASE_FUSED] = "fused",       [RESDIT_PHASE_LOCAL] = "local",
    [RESDIT_PHASE_DIRECT] = "direct",     [RESDIT_PHASE_DECODING] = "decoding",
};

static const char *const branch_names[] = {
    [RESDIT_BRANCH_GLOBAL] = "global", [RESDIT_BRANCH_LOCAL] = "local",
    [RESDIT_BRANCH_FUSED] = "fused",   [RESDIT_BRANCH_DIRECT] = "direct",
    [RESDIT_BRANCH_FINAL] = "final",
};

const char *resdit_shift_mode_name(ResditShiftMode mode)
{
    return (unsigned)mode < G_N_ELEMENTS(shift_names) ? shift_names[mode] : "unknown";
}

gboolean resdit_shift_mode_from_name(const char *name, ResditShiftMode *mode)
{
    for (unsigned i = 0; i < G_N_ELEMENTS(shift_names); i++)
        if (g_strcmp0(name, shift_names[i]) == 0) {
            *mode = (ResditShiftMode)i;
            return TRUE;
        }
    return FALSE;
}

const char *resdit_phase_name(ResditPhase phase)
{
    return (unsigned)phase < G_N_ELEMENTS(phase_names) ? phase_names[phase] : "unknown";
}

const char *resdit_branch_name(ResditBranch branch)
{
    return (unsigned)branch < G_N_ELEMENTS(branch_names) ? branch_names[branch] : "unknown";
}

void resdit_job_params_init(ResditJobParams *p)
{
    memset(p, 0, sizeof *p);
    p->prompt = g_strdup("");
    p->negative_prompt = g_strdup("");
    p->width = p->height = 1024;
    p->steps = 35;
    p->guidance = 3.5;
    p->random_seed = TRUE;
    p->global_steps = p->local_steps = -1;
    p->schedule = TRUE;
    p->fixed_mode = RESDIT_MODE_DIRECT;
    p->shift_mode = RESDIT_SHIFT_BASE;
    p->mu = 1.15;
    resdit_method_params_init(&p->method);
    p->preview_max_side = 512;
    p->backend = RESDIT_BACKEND_AUTO;
    p->strength = 1.0;
}

void resdit_job_params_set_init_image(ResditJobParams *p, const char *path, double strength)
{
    char *copy = g_strdup(path);
    g_free(p->init_image);
    p->init_image = copy;
    p->strength = path ? strength : 1.0;
}

void resdit_job_params_clear(ResditJobParams *p)
{
    g_clear_pointer(&p->prompt, g_free);
    g_clear_pointer(&p->negative_prompt, g_free);
    g_clear_pointer(&p->init_image, g_free);
    rd_job_params_clear_loras(p);
}

/* "Steps: 35, Sampler: ..., Seed: 1, Size: 4096x4096, ..." after the prompt (AUTOMATIC1111). */
char *rd_job_parameters_text(const ResditJobParams *p, const RdJobResolved *r)
{
    GString *s = g_string_new(p->prompt ? p->prompt : "");
    /* A1111 writes the LoRAs into the prompt line as <lora:NAME:STRENGTH> */
    for (guint i = 0; r->loras && i < r->loras->len; i++) {
        const RdAppliedLora *a = g_ptr_array_index(r->loras, i);
        g_autofree char *name = resdit_lora_name(a->path);
        char num[G_ASCII_DTOSTR_BUF_SIZE];
        g_string_append_printf(s, "%s<lora:%s:%s>", s->len ? " " : "", name,
                               g_ascii_formatd(num, sizeof num, "%g", a->strength));
    }
    /* A1111 writes a non-empty negative prompt on its own line after the prompt; only models
     * with classifier-free guidance use it */
    if (r->cfg && p->negative_prompt && *p->negative_prompt)
        g_string_append_printf(s, "\nNegative prompt: %s", p->negative_prompt);
    char cfg[G_ASCII_DTOSTR_BUF_SIZE];
    g_ascii_formatd(cfg, sizeof cfg, "%g", p->guidance);
    g_string_append_printf(s,
                           "\nSteps: %d, Sampler: Euler (flow matching), Schedule type: "
                           "shift %s (mu %.4g), CFG scale: %s%s%s, Seed: %" G_GUINT64_FORMAT
                           ", Size: %dx%d, Model: %s, Model family: %s",
                           p->steps, resdit_shift_mode_name(p->shift_mode), r->mu,
                           r->cfg ? cfg : "1",
                           r->cfg ? "" : ", Distilled CFG Scale: ", r->cfg ? "" : cfg, r->seed,
                           p->width, p->height, r->model_name, r->family ? r->family : "FLUX");
    if (p->schedule)
        g_string_append_printf(s, ", ResDiT: global %d fused %d local %d", r->global_steps,
                               p->steps - r->global_steps - r->local_steps, r->local_steps);
    else
        g_string_append_printf(s, ", ResDiT: %s every step", resdit_mode_name(p->fixed_mode));
    const ResditMethodParams *m = &p->method;
    g_string_append_printf(s,
                           ", ResDiT base grid: %dx%d, ResDiT patch: %d, ResDiT sigma: %g, "
                           "ResDiT cutoff: %g",
                           r->base_rows, r->base_cols, m->patch,
                           m->sigma > 0 ? m->sigma : m->patch / 4.0, m->cutoff);
    const struct {
        gboolean on;
        const char *name;
    } ablations[] = {{m->no_pes, "no_pes"},
                     {m->no_pipe, "no_pipe"},
                     {m->no_psf, "no_psf"},
                     {m->no_overlap, "no_overlap"},
                     {m->uniform_weights, "uniform_weights"}};
    for (size_t i = 0; i < G_N_ELEMENTS(ablations); i++)
        if (ablations[i].on)
            g_string_append_printf(s, ", ResDiT ablation: %s", ablations[i].name);
    if (r->loras && r->loras->len) { /* A1111: Lora hashes: "name: first 12 hex digits" */
        g_string_append(s, ", Lora hashes: \"");
        for (guint i = 0; i < r->loras->len; i++) {
            const RdAppliedLora *a = g_ptr_array_index(r->loras, i);
            g_autofree char *name = resdit_lora_name(a->path);
            g_string_append_printf(s, "%s%s: %.12s", i ? ", " : "", name, a->sha256);
        }
        g_string_append_c(s, '"');
    }
    if (p->lowfreq_noise > 0) {
        char num[G_ASCII_DTOSTR_BUF_SIZE];
        g_string_append_printf(s, ", Low-frequency noise: %s",
                               g_ascii_formatd(num, sizeof num, "%g", p->lowfreq_noise));
    }
    if (p->init_image) { /* A1111's img2img key, and the source image's hash */
        char num[G_ASCII_DTOSTR_BUF_SIZE];
        g_string_append_printf(s, ", Denoising strength: %s, Init image hash: %.12s",
                               g_ascii_formatd(num, sizeof num, "%g", p->strength),
                               r->init_sha256 ? r->init_sha256 : "");
    }
    g_string_append_printf(s, ", Noise: %s, Version: resdit %s", RD_NOISE_NAME, resdit_version());
    return g_string_free(s, FALSE);
}

static void add_method(JsonBuilder *b, const ResditMethodParams *m, const RdJobResolved *r)
{
    json_builder_set_member_name(b, "method");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "base_rows");
    json_builder_add_int_value(b, r->base_rows);
    json_builder_set_member_name(b, "base_cols");
    json_builder_add_int_value(b, r->base_cols);
    json_builder_set_member_name(b, "base_area");
    json_builder_add_int_value(b, m->base_area);
    json_builder_set_member_name(b, "patch");
    json_builder_add_int_value(b, m->patch);
    json_builder_set_member_name(b, "sigma");
    json_builder_add_double_value(b, m->sigma > 0 ? m->sigma : m->patch / 4.0);
    json_builder_set_member_name(b, "cutoff");
    json_builder_add_double_value(b, m->cutoff);
    const struct {
        const char *name;
        gboolean on;
    } flags[] = {{"no_pes", m->no_pes},
                 {"no_pipe", m->no_pipe},
                 {"no_psf", m->no_psf},
                 {"no_overlap", m->no_overlap},
                 {"uniform_weights", m->uniform_weights}};
    for (size_t i = 0; i < G_N_ELEMENTS(flags); i++) {
        json_builder_set_member_name(b, flags[i].name);
        json_builder_add_boolean_value(b, flags[i].on);
    }
    json_builder_end_object(b);
}

static void member_int(JsonBuilder *b, const char *name, gint64 v)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, v);
}

static void member_double(JsonBuilder *b, const char *name, double v)
{
    json_builder_set_member_name(b, name);
    json_builder_add_double_value(b, v);
}

static void member_string(JsonBuilder *b, const char *name, const char *v)
{
    json_builder_set_member_name(b, name);
    json_builder_add_string_value(b, v);
}

/* Every parameter, resolved (the seed used, G and L, mu, the base grid), so a job built from it
 * reproduces the image. */
char *rd_job_parameters_json(const ResditJobParams *p, const RdJobResolved *r)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    member_string(b, "generator", "resdit");
    member_string(b, "version", resdit_version());
    member_string(b, "model", r->model_name);
    member_string(b, "family", r->family ? r->family : "FLUX");
    member_string(b, "prompt", p->prompt ? p->prompt : "");
    /* what the job used: FLUX ignores the negative prompt, and so does SD3 at CFG scale <= 1 */
    member_string(b, "negative_prompt", p->negative_prompt ? p->negative_prompt : "");
    json_builder_set_member_name(b, "negative_prompt_used");
    json_builder_add_boolean_value(b, r->cfg);
    member_int(b, "width", p->width);
    member_int(b, "height", p->height);
    member_int(b, "steps", p->steps);
    member_double(b, "guidance", p->guidance);
    /* As a string too: JSON numbers lose integers above 2^53 in many readers. */
    member_int(b, "seed", (gint64)r->seed);
    g_autofree char *seed_text = g_strdup_printf("%" G_GUINT64_FORMAT, r->seed);
    member_string(b, "seed_string", seed_text);
    member_string(b, "noise", RD_NOISE_NAME);
    json_builder_set_member_name(b, "schedule");
    json_builder_add_boolean_value(b, p->schedule);
    member_string(b, "fixed_mode", resdit_mode_name(p->fixed_mode));
    member_int(b, "global_steps", r->global_steps);
    member_int(b, "local_steps", r->local_steps);
    member_string(b, "shift_mode", resdit_shift_mode_name(p->shift_mode));
    member_double(b, "mu", r->mu);
    member_double(b, "lowfreq_noise", p->lowfreq_noise);
    member_int(b, "t5_len", r->t5_len);
    add_method(b, &p->method, r);
    member_string(b, "backend", r->backend_name);
    /* the LoRAs applied: name, file, strength and the file's SHA-256 */
    json_builder_set_member_name(b, "loras");
    json_builder_begin_array(b);
    for (guint i = 0; r->loras && i < r->loras->len; i++) {
        const RdAppliedLora *a = g_ptr_array_index(r->loras, i);
        g_autofree char *name = resdit_lora_name(a->path);
        json_builder_begin_object(b);
        member_string(b, "name", name);
        member_string(b, "file", a->path);
        member_double(b, "strength", a->strength);
        member_string(b, "sha256", a->sha256);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    if (p->init_image) { /* image to image: the source, its SHA-256, the strength */
        json_builder_set_member_name(b, "init_image");
        json_builder_begin_object(b);
        member_string(b, "path", p->init_image);
        member_string(b, "sha256", r->init_sha256 ? r->init_sha256 : "");
        member_double(b, "strength", p->strength);
        member_int(b, "start_step", r->start_step);
        json_builder_end_object(b);
    }
    json_builder_end_object(b);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    return json_generator_to_data(gen, NULL);
}

/* ---- reading a record back --------------------------------------------------------------- */

static gboolean bad_record(GError **error, const char *what)
{
    g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_FORMAT, "The parameter record is invalid: %s",
                what);
    return FALSE;
}

/* The member's value node in *node (NULL when the member is absent); FALSE when it is there but
 * not a value of that type. */
static gboolean value_member(JsonObject *o, const char *name, GType type, JsonNode **node,
                             GError **error)
{
    *node = json_object_get_member(o, name);
    if (*node == NULL)
        return TRUE;
    GType have = JSON_NODE_HOLDS_VALUE(*node) ? json_node_get_value_type(*node) : G_TYPE_INVALID;
    if (have == type || (type == G_TYPE_DOUBLE && have == G_TYPE_INT64))
        return TRUE;
    g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_FORMAT,
                "The parameter record is invalid: \"%s\" is not a %s", name,
                type == G_TYPE_INT64    ? "whole number"
                : type == G_TYPE_DOUBLE ? "number"
                                        : "boolean");
    return FALSE;
}

/* JSON integers are 64-bit: a value outside int is refused, never truncated. */
static gboolean read_int(JsonObject *o, const char *name, int *out, GError **error)
{
    JsonNode *node;
    if (!value_member(o, name, G_TYPE_INT64, &node, error))
        return FALSE;
    if (node == NULL)
        return TRUE;
    gint64 v = json_node_get_int(node);
    if (v < G_MININT || v > G_MAXINT) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_FORMAT,
                    "The parameter record is invalid: \"%s\" is out of range (%" G_GINT64_FORMAT
                    ")",
                    name, v);
        return FALSE;
    }
    *out = (int)v;
    return TRUE;
}

static gboolean read_double(JsonObject *o, const char *name, double *out, GError **error)
{
    JsonNode *node;
    if (!value_member(o, name, G_TYPE_DOUBLE, &node, error))
        return FALSE;
    if (node != NULL)
        *out = json_node_get_double(node);
    return TRUE;
}

static gboolean read_bool(JsonObject *o, const char *name, gboolean *out, GError **error)
{
    JsonNode *node;
    if (!value_member(o, name, G_TYPE_BOOLEAN, &node, error))
        return FALSE;
    if (node != NULL)
        *out = json_node_get_boolean(node);
    return TRUE;
}

static gboolean read_method(JsonObject *m, ResditMethodParams *p, GError **error)
{
    return read_int(m, "base_rows", &p->base_rows, error) &&
           read_int(m, "base_cols", &p->base_cols, error) &&
           read_int(m, "base_area", &p->base_area, error) &&
           read_int(m, "patch", &p->patch, error) && read_double(m, "sigma", &p->sigma, error) &&
           read_double(m, "cutoff", &p->cutoff, error) &&
           read_bool(m, "no_pes", &p->no_pes, error) &&
           read_bool(m, "no_pipe", &p->no_pipe, error) &&
           read_bool(m, "no_psf", &p->no_psf, error) &&
           read_bool(m, "no_overlap", &p->no_overlap, error) &&
           read_bool(m, "uniform_weights", &p->uniform_weights, error);
}

/* "loras": [{name, file, strength, sha256}]: the file where it was, else a LoRA of that file name
 * in the model folders (the record may come from another machine). */
static gboolean read_loras(JsonObject *o, ResditJobParams *p, GError **error)
{
    JsonNode *node = json_object_get_member(o, "loras");
    if (!node)
        return TRUE;
    if (!JSON_NODE_HOLDS_ARRAY(node))
        return bad_record(error, "loras is not an array");
    JsonArray *a = json_node_get_array(node);
    ResditJobParams tmp = {0};
    g_autoptr(GPtrArray) found = NULL;
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        if (!JSON_NODE_HOLDS_OBJECT(e)) {
            rd_job_params_clear_loras(&tmp);
            return bad_record(error, "a LoRA entry is not an object");
        }
        JsonObject *l = json_node_get_object(e);
        const char *file = rd_json_get_string(l, "file");
        double strength = 1.0;
        if (!file || !read_double(l, "strength", &strength, error) || !isfinite(strength) ||
            fabs(strength) > RESDIT_LORA_STRENGTH_MAX) {
            rd_job_params_clear_loras(&tmp);
            return error && *error ? FALSE
                                   : bad_record(error, "a LoRA entry lacks its file or strength");
        }
        g_autofree char *path = g_strdup(file);
        if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
            g_autofree char *base = g_path_get_basename(file);
            if (!found)
                found = resdit_loras_discover(NULL);
            for (guint k = 0; k < found->len; k++) {
                const ResditLoraInfo *info = g_ptr_array_index(found, k);
                g_autofree char *b = g_path_get_basename(info->path);
                if (strcmp(b, base) == 0) {
                    g_free(path);
                    path = g_strdup(info->path);
                    break;
                }
            }
        }
        resdit_job_params_add_lora(&tmp, path, strength, TRUE);
    }
    rd_job_params_clear_loras(p);
    p->loras = tmp.loras;
    p->n_loras = tmp.n_loras;
    return TRUE;
}

/* "init_image": {path, sha256, strength}: the job starts from that file again. */
static gboolean read_init_image(JsonObject *o, ResditJobParams *p, GError **error)
{
    if (!json_object_has_member(o, "init_image"))
        return TRUE;
    JsonNode *node = json_object_get_member(o, "init_image");
    if (!JSON_NODE_HOLDS_OBJECT(node))
        return bad_record(error, "init_image is not an object");
    JsonObject *init = json_node_get_object(node);
    const char *path = rd_json_get_string(init, "path");
    double strength = 1.0;
    if (!path || !*path)
        return bad_record(error, "init_image has no path");
    if (!read_double(init, "strength", &strength, error))
        return FALSE;
    if (!isfinite(strength) || strength < 0 || strength > 1)
        return bad_record(error, "init_image strength is not between 0 and 1");
    resdit_job_params_set_init_image(p, path, strength);
    return TRUE;
}

gboolean resdit_job_params_from_json(ResditJobParams *p, const char *json, GError **error)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) json_error = NULL;
    if (!rd_json_load_data(parser, json, -1, &json_error))
        return bad_record(error, json_error->message);
    JsonNode *root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root))
        return bad_record(error, "not a JSON object");
    JsonObject *o = json_node_get_object(root);
    if (g_strcmp0(rd_json_get_string(o, "generator"), "resdit") != 0)
        return bad_record(error, "not written by resdit");
    if (json_object_has_member(o, "prompt")) {
        const char *prompt = rd_json_get_string(o, "prompt");
        if (!prompt)
            return bad_record(error, "prompt is not a string");
        g_free(p->prompt);
        p->prompt = g_strdup(prompt);
    }
    if (json_object_has_member(o, "negative_prompt")) {
        const char *negative = rd_json_get_string(o, "negative_prompt");
        if (!negative)
            return bad_record(error, "negative_prompt is not a string");
        g_free(p->negative_prompt);
        p->negative_prompt = g_strdup(negative);
    }
    if (!read_int(o, "width", &p->width, error) || !read_int(o, "height", &p->height, error) ||
        !read_int(o, "steps", &p->steps, error) || !read_double(o, "guidance", &p->guidance, error))
        return FALSE;
    /* seed_string: the exact unsigned 64-bit seed; seed: the same bits as a JSON integer */
    const char *seed = rd_json_get_string(o, "seed_string");
    JsonNode *seed_node;
    if (seed) {
        guint64 v;
        if (!g_ascii_string_to_unsigned(seed, 10, 0, G_MAXUINT64, &v, NULL))
            return bad_record(error, "seed_string is not a whole number from 0 to 2^64 - 1");
        p->seed = v;
        p->random_seed = FALSE;
    } else if (!value_member(o, "seed", G_TYPE_INT64, &seed_node, error)) {
        return FALSE;
    } else if (seed_node) {
        p->seed = (guint64)json_node_get_int(seed_node);
        p->random_seed = FALSE;
    }
    if (!read_bool(o, "schedule", &p->schedule, error))
        return FALSE;
    const char *mode = rd_json_get_string(o, "fixed_mode");
    if (mode && !resdit_mode_from_name(mode, &p->fixed_mode))
        return bad_record(error, "unknown fixed_mode");
    /* The resolved G and L reproduce the schedule whatever the defaults become. */
    if (!read_int(o, "global_steps", &p->global_steps, error) ||
        !read_int(o, "local_steps", &p->local_steps, error))
        return FALSE;
    const char *shift = rd_json_get_string(o, "shift_mode");
    if (shift && !resdit_shift_mode_from_name(shift, &p->shift_mode))
        return bad_record(error, "unknown shift_mode");
    if ((p->shift_mode == RESDIT_SHIFT_FIXED && !read_double(o, "mu", &p->mu, error)) ||
        !read_double(o, "lowfreq_noise", &p->lowfreq_noise, error) ||
        !read_int(o, "t5_len", &p->t5_len, error))
        return FALSE;
    if (!read_loras(o, p, error) || !read_init_image(o, p, error))
        return FALSE;
    if (json_object_has_member(o, "method")) {
        JsonNode *m = json_object_get_member(o, "method");
        if (!JSON_NODE_HOLDS_OBJECT(m))
            return bad_record(error, "method is not an object");
        return read_method(json_node_get_object(m), &p->method, error);
    }
    return TRUE;
}
