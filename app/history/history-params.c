/* HistoryParams: defaults, copies, comparison and the JSON blob. */
#include "history-params.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "history-error.h"
#include "json_load.h"

static const char *const shift_mode_names[] = {"base", "resolution", "fixed"};

const char *history_shift_mode_name(HistoryShiftMode mode)
{
    g_return_val_if_fail((guint)mode < G_N_ELEMENTS(shift_mode_names), "base");
    return shift_mode_names[mode];
}

gboolean history_shift_mode_from_name(const char *name, HistoryShiftMode *mode)
{
    for (guint i = 0; i < G_N_ELEMENTS(shift_mode_names); i++) {
        if (g_strcmp0(name, shift_mode_names[i]) == 0) {
            *mode = (HistoryShiftMode)i;
            return TRUE;
        }
    }
    return FALSE;
}

void history_params_init(HistoryParams *params)
{
    *params = (HistoryParams){
        .prompt = g_strdup(""),
        .width = 4096,
        .height = 4096,
        .steps = 35,
        .guidance = 3.5,
        .global_steps = 10,
        .local_steps = 15,
        .base_area = 4096,
        .patch = 64,
        .sigma = 0.0,
        .cutoff = 0.2,
        .shift_mode = HISTORY_SHIFT_BASE,
        .backend = g_strdup("cpu"),
        .model_name = g_strdup(""),
        .model_fingerprint = g_strdup(""),
        .loras = g_strdup(""),
        .init_image = g_strdup(""),
        .init_sha256 = g_strdup(""),
        .strength = 1.0,
    };
}

void history_params_clear(HistoryParams *params)
{
    g_clear_pointer(&params->prompt, g_free);
    g_clear_pointer(&params->backend, g_free);
    g_clear_pointer(&params->model_name, g_free);
    g_clear_pointer(&params->model_fingerprint, g_free);
    g_clear_pointer(&params->loras, g_free);
    g_clear_pointer(&params->init_image, g_free);
    g_clear_pointer(&params->init_sha256, g_free);
}

void history_params_copy(HistoryParams *dest, const HistoryParams *src)
{
    *dest = *src;
    dest->prompt = g_strdup(src->prompt);
    dest->backend = g_strdup(src->backend);
    dest->model_name = g_strdup(src->model_name);
    dest->model_fingerprint = g_strdup(src->model_fingerprint);
    dest->loras = g_strdup(src->loras);
    dest->init_image = g_strdup(src->init_image);
    dest->init_sha256 = g_strdup(src->init_sha256);
}

gboolean history_params_equal(const HistoryParams *a, const HistoryParams *b)
{
    return g_strcmp0(a->prompt, b->prompt) == 0 && a->width == b->width && a->height == b->height &&
           a->steps == b->steps && a->guidance == b->guidance && a->seed == b->seed &&
           !a->direct == !b->direct && a->global_steps == b->global_steps &&
           a->local_steps == b->local_steps && a->base_rows == b->base_rows &&
           a->base_cols == b->base_cols && a->base_area == b->base_area && a->patch == b->patch &&
           a->sigma == b->sigma && a->cutoff == b->cutoff && !a->no_pes == !b->no_pes &&
           !a->no_pipe == !b->no_pipe && !a->no_psf == !b->no_psf &&
           !a->no_overlap == !b->no_overlap && !a->uniform_weights == !b->uniform_weights &&
           a->shift_mode == b->shift_mode && a->shift_mu == b->shift_mu &&
           a->lowfreq_noise == b->lowfreq_noise &&
           g_strcmp0(a->backend, b->backend) == 0 && g_strcmp0(a->model_name, b->model_name) == 0 &&
           g_strcmp0(a->model_fingerprint, b->model_fingerprint) == 0 &&
           g_strcmp0(a->loras ? a->loras : "", b->loras ? b->loras : "") == 0 &&
           g_strcmp0(a->init_image ? a->init_image : "", b->init_image ? b->init_image : "") ==
               0 &&
           g_strcmp0(a->init_sha256 ? a->init_sha256 : "",
                     b->init_sha256 ? b->init_sha256 : "") == 0 &&
           a->strength == b->strength;
}

/* One table drives both directions so a new field cannot be written but not read. */
typedef enum { FIELD_STRING, FIELD_INT, FIELD_UINT64, FIELD_DOUBLE, FIELD_BOOL } FieldKind;

typedef struct {
    const char *key;
    FieldKind kind;
    size_t offset;
} Field;

/* clang-format off */
#define FIELD(name, kind) {#name, kind, offsetof(HistoryParams, name)}

static const Field fields[] = {
    FIELD(prompt, FIELD_STRING),
    FIELD(width, FIELD_INT),
    FIELD(height, FIELD_INT),
    FIELD(steps, FIELD_INT),
    FIELD(guidance, FIELD_DOUBLE),
    FIELD(seed, FIELD_UINT64),
    FIELD(direct, FIELD_BOOL),
    FIELD(global_steps, FIELD_INT),
    FIELD(local_steps, FIELD_INT),
    FIELD(base_rows, FIELD_INT),
    FIELD(base_cols, FIELD_INT),
    FIELD(base_area, FIELD_INT),
    FIELD(patch, FIELD_INT),
    FIELD(sigma, FIELD_DOUBLE),
    FIELD(cutoff, FIELD_DOUBLE),
    FIELD(no_pes, FIELD_BOOL),
    FIELD(no_pipe, FIELD_BOOL),
    FIELD(no_psf, FIELD_BOOL),
    FIELD(no_overlap, FIELD_BOOL),
    FIELD(uniform_weights, FIELD_BOOL),
    FIELD(shift_mu, FIELD_DOUBLE),
    FIELD(lowfreq_noise, FIELD_DOUBLE),
    FIELD(backend, FIELD_STRING),
    FIELD(model_name, FIELD_STRING),
    FIELD(model_fingerprint, FIELD_STRING),
    FIELD(loras, FIELD_STRING),
    FIELD(init_image, FIELD_STRING),
    FIELD(init_sha256, FIELD_STRING),
    FIELD(strength, FIELD_DOUBLE),
};
/* clang-format on */

static void write_field(JsonBuilder *b, const HistoryParams *p, const Field *f)
{
    const char *base = (const char *)p + f->offset;
    json_builder_set_member_name(b, f->key);
    switch (f->kind) {
    case FIELD_STRING:
        json_builder_add_string_value(b, *(char *const *)base ? *(char *const *)base : "");
        break;
    case FIELD_INT:
        json_builder_add_int_value(b, *(const int *)base);
        break;
    case FIELD_UINT64: /* two's complement: JSON integers are signed 64-bit in json-glib */
        json_builder_add_int_value(b, (gint64) * (const guint64 *)base);
        break;
    case FIELD_DOUBLE:
        json_builder_add_double_value(b, *(const double *)base);
        break;
    case FIELD_BOOL:
        json_builder_add_boolean_value(b, *(const gboolean *)base);
        break;
    }
}

char *history_params_to_json(const HistoryParams *params)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "format");
    json_builder_add_int_value(b, 1);
    for (guint i = 0; i < G_N_ELEMENTS(fields); i++)
        write_field(b, params, &fields[i]);
    json_builder_set_member_name(b, "shift_mode");
    json_builder_add_string_value(b, history_shift_mode_name(params->shift_mode));
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    return json_to_string(root, FALSE);
}

static gboolean read_field(JsonObject *obj, HistoryParams *p, const Field *f, GError **error)
{
    JsonNode *node = json_object_get_member(obj, f->key);
    if (node == NULL)
        return TRUE;
    char *base = (char *)p + f->offset;
    GType want = f->kind == FIELD_STRING   ? G_TYPE_STRING
                 : f->kind == FIELD_DOUBLE ? G_TYPE_DOUBLE
                 : f->kind == FIELD_BOOL   ? G_TYPE_BOOLEAN
                                           : G_TYPE_INT64;
    GType have = JSON_NODE_HOLDS_VALUE(node) ? json_node_get_value_type(node) : G_TYPE_INVALID;
    gboolean number_ok = want == G_TYPE_DOUBLE && have == G_TYPE_INT64;
    if (have != want && !number_ok) {
        g_set_error(error, HISTORY_ERROR, HISTORY_ERROR_INVALID,
                    "Generation parameters: \"%s\" has the wrong type", f->key);
        return FALSE;
    }
    switch (f->kind) {
    case FIELD_STRING:
        g_free(*(char **)base);
        *(char **)base = g_strdup(json_node_get_string(node));
        break;
    case FIELD_INT: {
        gint64 v = json_node_get_int(node);
        if (v < G_MININT || v > G_MAXINT) {
            g_set_error(error, HISTORY_ERROR, HISTORY_ERROR_INVALID,
                        "Generation parameters: \"%s\" is out of range", f->key);
            return FALSE;
        }
        *(int *)base = (int)v;
        break;
    }
    case FIELD_UINT64:
        *(guint64 *)base = (guint64)json_node_get_int(node);
        break;
    case FIELD_DOUBLE:
        *(double *)base = json_node_get_double(node);
        break;
    case FIELD_BOOL:
        *(gboolean *)base = json_node_get_boolean(node);
        break;
    }
    return TRUE;
}

gboolean history_params_from_json(HistoryParams *params, const char *json, GError **error)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) parse_error = NULL;
    if (!rd_json_load_data(parser, json, -1, &parse_error)) {
        g_set_error(error, HISTORY_ERROR, HISTORY_ERROR_INVALID,
                    "Generation parameters are not valid JSON: %s", parse_error->message);
        return FALSE;
    }
    JsonNode *root = json_parser_get_root(parser);
    if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error_literal(error, HISTORY_ERROR, HISTORY_ERROR_INVALID,
                            "Generation parameters are not a JSON object");
        return FALSE;
    }
    JsonObject *obj = json_node_get_object(root);
    history_params_init(params);
    for (guint i = 0; i < G_N_ELEMENTS(fields); i++) {
        if (!read_field(obj, params, &fields[i], error)) {
            history_params_clear(params);
            return FALSE;
        }
    }
    /* A shift mode that is not a string (an object, a number) is as wrong as an unknown name. */
    const char *shift =
        json_object_has_member(obj, "shift_mode") ? rd_json_get_string(obj, "shift_mode") : "base";
    if (!shift || !history_shift_mode_from_name(shift, &params->shift_mode)) {
        g_set_error(error, HISTORY_ERROR, HISTORY_ERROR_INVALID,
                    "Generation parameters: unknown shift mode \"%s\"",
                    shift ? shift : "(not a string)");
        history_params_clear(params);
        return FALSE;
    }
    return TRUE;
}
