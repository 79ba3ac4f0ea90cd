#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json_load.h"
#include "resdit.h"

#define MAX_HEADER_BYTES (100u * 1024 * 1024)

typedef struct {
    char *path;
    void *map;
    size_t size;
} MappedFile;

struct RdSafetensors {
    char *path;
    GPtrArray *files;   /* MappedFile */
    GPtrArray *tensors; /* RdTensorInfo */
    GHashTable *by_name;
};

static void tensor_info_free(gpointer p)
{
    RdTensorInfo *t = p;
    g_free(t->name);
    g_free(t);
}

static void mapped_file_free(gpointer p)
{
    MappedFile *f = p;
    if (f->map && f->map != MAP_FAILED)
        munmap(f->map, f->size);
    g_free(f->path);
    g_free(f);
}

int64_t rd_tensor_info_numel(const RdTensorInfo *info)
{
    int64_t n = 1;
    for (int i = 0; i < info->ndim; i++)
        n *= info->shape[i];
    return n;
}

static gboolean fail(GError **error, int code, const char *file, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);

static gboolean fail(GError **error, int code, const char *file, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(error, RESDIT_ERROR, code, "%s: %s", file, msg);
    g_free(msg);
    return FALSE;
}

static gboolean parse_int(JsonNode *node, int64_t *out)
{
    if (!node || !JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_INT64)
        return FALSE;
    *out = json_node_get_int(node);
    return *out >= 0;
}

static int compare_offsets(gconstpointer a, gconstpointer b)
{
    const RdTensorInfo *x = *(RdTensorInfo *const *)a, *y = *(RdTensorInfo *const *)b;
    uintptr_t ox = (uintptr_t)x->data, oy = (uintptr_t)y->data;
    return ox < oy ? -1 : ox > oy;
}

static gboolean parse_entry(const char *name, JsonNode *node, size_t data_size, const char *file,
                            RdTensorInfo *t, GError **error)
{
    if (!JSON_NODE_HOLDS_OBJECT(node))
        return fail(error, RESDIT_ERROR_FORMAT, file, "tensor %s: entry is not an object", name);
    JsonObject *o = json_node_get_object(node);
    JsonNode *dtype = json_object_get_member(o, "dtype");
    JsonNode *shape = json_object_get_member(o, "shape");
    JsonNode *offsets = json_object_get_member(o, "data_offsets");
    if (!dtype || !JSON_NODE_HOLDS_VALUE(dtype) ||
        json_node_get_value_type(dtype) != G_TYPE_STRING)
        return fail(error, RESDIT_ERROR_FORMAT, file, "tensor %s: missing dtype", name);
    int dt = rd_dtype_from_name(json_node_get_string(dtype));
    if (dt < 0)
        return fail(error, RESDIT_ERROR_FORMAT, file, "tensor %s: unknown dtype %s", name,
                    json_node_get_string(dtype));
    t->dtype = dt;
    if (!shape || !JSON_NODE_HOLDS_ARRAY(shape))
        return fail(error, RESDIT_ERROR_FORMAT, file, "tensor %s: missing shape", name);
    JsonArray *sa = json_node_get_array(shape);
    guint ndim = json_array_get_length(sa);
    if (ndim > RD_MAX_DIMS)
        return fail(error, RESDIT_ERROR_FORMAT, file, "tensor %s: %u dimensions", name, ndim);
    t->ndim = (int)ndim;
    int64_t numel = 1;
    for (guint i = 0; i < ndim; i++) {
        if (!parse_int(json_array_get_element(sa, i), &t->shape[i]) ||
            t->shape[i] > ((int64_t)1 << 40))
            return fail(error, RESDIT_ERROR_FORMAT, file, "tensor %s: bad shape", name);
        if (t->shape[i] && numel > INT64_MAX / 8 / t->shape[i])
            return fail(error, RESDIT_ERROR_FORMAT, file, "tensor %s: shape too large", name);
        numel *= t->shape[i];
    }
    int64_t begin, end;
    if (!offsets || !JSON_NODE_HOLDS_ARRAY(offsets) ||
        json_array_get_length(json_node_get_array(offsets)) != 2 ||
        !parse_int(json_array_get_element(json_node_get_array(offsets), 0), &begin) ||
        !parse_int(json_array_get_element(json_node_get_array(offsets), 1), &end) || end < begin)
        return fail(error, RESDIT_ERROR_FORMAT, file, "tensor %s: bad data_offsets", name);
    if ((uint64_t)end > data_size)
        return fail(error, RESDIT_ERROR_FORMAT, file,
                    "tensor %s ends at byte %" G_GINT64_FORMAT " but the data section has %zu "
                    "bytes: the file is truncated",
                    name, end, data_size);
    if ((uint64_t)(end - begin) != (uint64_t)numel * rd_dtype_size(t->dtype))
        return fail(error, RESDIT_ERROR_FORMAT, file,
                    "tensor %s: %" G_GINT64_FORMAT " bytes do not match its shape and dtype %s",
                    name, end - begin, rd_dtype_name(t->dtype));
    t->data = (const void *)(uintptr_t)begin;
    t->nbytes = (size_t)(end - begin);
    return TRUE;
}

gboolean rd_safetensors_parse_header(const char *json, size_t json_len, size_t data_size,
                                     const char *file_name, GPtrArray *tensors, GError **error)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) json_error = NULL;
    if (!rd_json_load_data(parser, json, (gssize)json_len, &json_error))
        return fail(error, RESDIT_ERROR_FORMAT, file_name, "the header is not valid JSON (%s)",
                    json_error->message);
    JsonNode *root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root))
        return fail(error, RESDIT_ERROR_FORMAT, file_name, "the header is not a JSON object");
    JsonObject *obj = json_node_get_object(root);
    g_autoptr(GList) members = json_object_get_members(obj);
    guint first = tensors->len;
    for (GList *m = members; m; m = m->next) {
        const char *name = m->data;
        if (strcmp(name, "__metadata__") == 0)
            continue;
        RdTensorInfo *t = g_new0(RdTensorInfo, 1);
        t->name = g_strdup(name);
        g_ptr_array_add(tensors, t);
        if (!parse_entry(name, json_object_get_member(obj, name), data_size, file_name, t, error))
            return FALSE;
    }
    /* Tensors of this file must not overlap. */
    g_autoptr(GPtrArray) sorted = g_ptr_array_new();
    for (guint i = first; i < tensors->len; i++)
        g_ptr_array_add(sorted, tensors->pdata[i]);
    g_ptr_array_sort(sorted, compare_offsets);
    for (guint i = 1; i < sorted->len; i++) {
        RdTensorInfo *a = sorted->pdata[i - 1], *b = sorted->pdata[i];
        if ((uintptr_t)a->data + a->nbytes > (uintptr_t)b->data)
            return fail(error, RESDIT_ERROR_FORMAT, file_name, "tensors %s and %s overlap",
                        a->name, b->name);
    }
    return TRUE;
}

static gboolean map_file(RdSafetensors *st, const char *path, GError **error)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(error, RESDIT_ERROR_IO, path, "cannot open (%s)", g_strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return fail(error, RESDIT_ERROR_IO, path, "not a regular file");
    }
    MappedFile *f = g_new0(MappedFile, 1);
    f->path = g_strdup(path);
    f->size = (size_t)sb.st_size;
    g_ptr_array_add(st->files, f);
    if (f->size < 8) {
        close(fd);
        return fail(error, RESDIT_ERROR_FORMAT, path,
                    "only %zu bytes: not a safetensors file (truncated?)", f->size);
    }
    f->map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        return fail(error, RESDIT_ERROR_IO, path, "cannot map (%s)", g_strerror(errno));
    }
    uint64_t header_len;
    memcpy(&header_len, f->map, 8);
    header_len = GUINT64_FROM_LE(header_len);
    if (header_len > f->size - 8 || header_len > MAX_HEADER_BYTES)
        return fail(error, RESDIT_ERROR_FORMAT, path,
                    "header length %" G_GUINT64_FORMAT " does not fit the file (%zu bytes): "
                    "not a safetensors file, or truncated",
                    header_len, f->size);
    guint first = st->tensors->len;
    const char *json = (const char *)f->map + 8;
    size_t data_size = f->size - 8 - header_len;
    if (!rd_safetensors_parse_header(json, header_len, data_size, path, st->tensors, error))
        return FALSE;
    const char *data = json + header_len;
    for (guint i = first; i < st->tensors->len; i++) {
        RdTensorInfo *t = st->tensors->pdata[i];
        t->data = data + (uintptr_t)t->data;
        t->file = f->path;
        if (g_hash_table_contains(st->by_name, t->name))
            return fail(error, RESDIT_ERROR_FORMAT, path, "tensor %s appears twice", t->name);
        g_hash_table_insert(st->by_name, t->name, t);
    }
    return TRUE;
}

static gboolean open_index(RdSafetensors *st, const char *index_path, GError **error)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) json_error = NULL;
    if (!rd_json_load_file(parser, index_path, &json_error))
        return fail(error, RESDIT_ERROR_FORMAT, index_path, "cannot read the index (%s)",
                    json_error->message);
    JsonNode *root = json_parser_get_root(parser);
    JsonObject *map = NULL;
    if (root && JSON_NODE_HOLDS_OBJECT(root))
        map = rd_json_get_object(json_node_get_object(root), "weight_map");
    if (!map)
        return fail(error, RESDIT_ERROR_FORMAT, index_path, "the index has no weight_map");
    g_autofree char *dir = g_path_get_dirname(index_path);
    g_autoptr(GHashTable) shards = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GList) names = json_object_get_members(map);
    for (GList *n = names; n; n = n->next) {
        const char *shard = rd_json_get_string(map, n->data);
        if (!shard || strchr(shard, '/'))
            return fail(error, RESDIT_ERROR_FORMAT, index_path, "bad shard name for %s",
                        (const char *)n->data);
        if (g_hash_table_add(shards, (gpointer)shard)) {
            g_autofree char *shard_path = g_build_filename(dir, shard, NULL);
            if (!map_file(st, shard_path, error))
                return FALSE;
        }
    }
    for (GList *n = names; n; n = n->next)
        if (!g_hash_table_contains(st->by_name, n->data))
            return fail(error, RESDIT_ERROR_MODEL, index_path,
                        "the index lists %s but no shard holds it", (const char *)n->data);
    return TRUE;
}

/* A folder: the one *.safetensors.index.json in it, else its one *.safetensors file. */
static char *resolve_folder(const char *dir, GError **error)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    if (!d) {
        fail(error, RESDIT_ERROR_IO, dir, "cannot read the folder");
        return NULL;
    }
    char *index = NULL, *single = NULL;
    int n_index = 0, n_single = 0;
    const char *name;
    while ((name = g_dir_read_name(d))) {
        if (g_str_has_suffix(name, ".safetensors.index.json")) {
            n_index++;
            g_free(index);
            index = g_build_filename(dir, name, NULL);
        } else if (g_str_has_suffix(name, ".safetensors")) {
            n_single++;
            g_free(single);
            single = g_build_filename(dir, name, NULL);
        }
    }
    if (n_index == 1) {
        g_free(single);
        return index;
    }
    g_free(index);
    if (n_index == 0 && n_single == 1)
        return single;
    g_free(single);
    fail(error, RESDIT_ERROR_MODEL, dir,
         n_index + n_single == 0 ? "the folder holds no .safetensors file"
                                 : "the folder holds several checkpoints; name one file");
    return NULL;
}

RdSafetensors *rd_safetensors_open(const char *path, GError **error)
{
    RdSafetensors *st = g_new0(RdSafetensors, 1);
    st->files = g_ptr_array_new_with_free_func(mapped_file_free);
    st->tensors = g_ptr_array_new_with_free_func(tensor_info_free);
    st->by_name = g_hash_table_new(g_str_hash, g_str_equal);
    g_autofree char *target = NULL;
    if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
        target = resolve_folder(path, error);
        if (!target) {
            rd_safetensors_close(st);
            return NULL;
        }
    } else {
        target = g_strdup(path);
    }
    st->path = g_strdup(target);
    gboolean ok = g_str_has_suffix(target, ".index.json") ? open_index(st, target, error)
                                                          : map_file(st, target, error);
    if (!ok) {
        rd_safetensors_close(st);
        return NULL;
    }
    return st;
}

void rd_safetensors_close(RdSafetensors *st)
{
    if (!st)
        return;
    g_hash_table_destroy(st->by_name);
    g_ptr_array_free(st->tensors, TRUE);
    g_ptr_array_free(st->files, TRUE);
    g_free(st->path);
    g_free(st);
}

const char *rd_safetensors_path(const RdSafetensors *st)
{
    return st->path;
}

guint rd_safetensors_count(const RdSafetensors *st)
{
    return st->tensors->len;
}

const RdTensorInfo *rd_safetensors_get(const RdSafetensors *st, guint index)
{
    return index < st->tensors->len ? st->tensors->pdata[index] : NULL;
}

const RdTensorInfo *rd_safetensors_find(const RdSafetensors *st, const char *name)
{
    return g_hash_table_lookup(st->by_name, name);
}

/* ---- writer ---- */

typedef struct {
    char *name;
    RdDType dtype;
    int ndim;
    int64_t shape[RD_MAX_DIMS];
    const void *data;
    size_t nbytes;
} PendingTensor;

struct RdSafetensorsWriter {
    GArray *tensors;
    GPtrArray *metadata; /* key, value, key, value ... */
};

RdSafetensorsWriter *rd_safetensors_writer_new(void)
{
    RdSafetensorsWriter *w = g_new0(RdSafetensorsWriter, 1);
    w->tensors = g_array_new(FALSE, TRUE, sizeof(PendingTensor));
    w->metadata = g_ptr_array_new_with_free_func(g_free);
    return w;
}

void rd_safetensors_writer_set_metadata(RdSafetensorsWriter *w, const char *key, const char *value)
{
    g_ptr_array_add(w->metadata, g_strdup(key));
    g_ptr_array_add(w->metadata, g_strdup(value));
}

void rd_safetensors_writer_add(RdSafetensorsWriter *w, const char *name, RdDType dtype, int ndim,
                               const int64_t *shape, const void *data)
{
    g_assert(ndim <= RD_MAX_DIMS);
    PendingTensor t = {g_strdup(name), dtype, ndim, {0}, data, rd_dtype_size(dtype)};
    for (int i = 0; i < ndim; i++) {
        t.shape[i] = shape[i];
        t.nbytes *= (size_t)shape[i];
    }
    g_array_append_val(w->tensors, t);
}

static char *writer_header(RdSafetensorsWriter *w)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    if (w->metadata->len) {
        json_builder_set_member_name(b, "__metadata__");
        json_builder_begin_object(b);
        for (guint i = 0; i + 1 < w->metadata->len; i += 2) {
            json_builder_set_member_name(b, g_ptr_array_index(w->metadata, i));
            json_builder_add_string_value(b, g_ptr_array_index(w->metadata, i + 1));
        }
        json_builder_end_object(b);
    }
    size_t offset = 0;
    for (guint i = 0; i < w->tensors->len; i++) {
        PendingTensor *t = &g_array_index(w->tensors, PendingTensor, i);
        json_builder_set_member_name(b, t->name);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "dtype");
        json_builder_add_string_value(b, rd_dtype_name(t->dtype));
        json_builder_set_member_name(b, "shape");
        json_builder_begin_array(b);
        for (int d = 0; d < t->ndim; d++)
            json_builder_add_int_value(b, t->shape[d]);
        json_builder_end_array(b);
        json_builder_set_member_name(b, "data_offsets");
        json_builder_begin_array(b);
        json_builder_add_int_value(b, (gint64)offset);
        json_builder_add_int_value(b, (gint64)(offset + t->nbytes));
        json_builder_end_array(b);
        json_builder_end_object(b);
        offset += t->nbytes;
    }
    json_builder_end_object(b);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    return json_generator_to_data(gen, NULL);
}

gboolean rd_safetensors_writer_save(RdSafetensorsWriter *w, const char *path, GError **error)
{
    g_autofree char *json = writer_header(w);
    size_t len = strlen(json);
    size_t padded = (len + 7) & ~(size_t)7;
    GString *header = g_string_new_len(json, (gssize)len);
    while (header->len < padded)
        g_string_append_c(header, ' ');
    guint64 len_le = GUINT64_TO_LE((guint64)padded);

    g_autoptr(GFile) file = g_file_new_for_path(path);
    g_autoptr(GFileOutputStream) out =
        g_file_replace(file, NULL, FALSE, G_FILE_CREATE_REPLACE_DESTINATION, NULL, error);
    gboolean ok = out != NULL;
    GOutputStream *s = G_OUTPUT_STREAM(out);
    if (ok)
        ok = g_output_stream_write_all(s, &len_le, 8, NULL, NULL, error) &&
             g_output_stream_write_all(s, header->str, header->len, NULL, NULL, error);
    for (guint i = 0; ok && i < w->tensors->len; i++) {
        PendingTensor *t = &g_array_index(w->tensors, PendingTensor, i);
        ok = g_output_stream_write_all(s, t->data, t->nbytes, NULL, NULL, error);
    }
    /* g_file_replace writes to a temporary file and renames it on a successful close. */
    if (ok)
        ok = g_output_stream_close(s, NULL, error);
    else if (out) {
        /* Closing with a cancelled cancellable drops the temporary file: no half-written file. */
        g_autoptr(GCancellable) abort_write = g_cancellable_new();
        g_cancellable_cancel(abort_write);
        g_output_stream_close(s, abort_write, NULL);
    }
    g_string_free(header, TRUE);
    if (!ok && error && *error && (*error)->domain != RESDIT_ERROR) {
        GError *e = *error;
        *error = NULL;
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_IO, "%s: cannot write (%s)", path,
                    e->message);
        g_error_free(e);
    }
    return ok;
}

void rd_safetensors_writer_free(RdSafetensorsWriter *w)
{
    if (!w)
        return;
    for (guint i = 0; i < w->tensors->len; i++)
        g_free(g_array_index(w->tensors, PendingTensor, i).name);
    g_array_free(w->tensors, TRUE);
    g_ptr_array_unref(w->metadata);
    g_free(w);
}

char *rd_safetensors_metadata(const RdSafetensors *st, const char *key)
{
    if (!st->files->len)
        return NULL;
    const MappedFile *f = g_ptr_array_index(st->files, 0);
    guint64 header_len;
    memcpy(&header_len, f->map, 8);
    header_len = GUINT64_FROM_LE(header_len); /* checked when the file was opened */
    g_autoptr(JsonParser) parser = json_parser_new();
    if (!rd_json_load_data(parser, (const char *)f->map + 8, (gssize)header_len, NULL))
        return NULL;
    JsonNode *root = json_parser_get_root(parser);
    JsonObject *obj = root && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
    return g_strdup(rd_json_get_string(rd_json_get_object(obj, "__metadata__"), key));
}
