/* RsJobQueue: the waiting jobs, as described in the header. */
#include "rs-job-queue.h"

struct _RsQueuedJob {
    GObject parent_instance;

    guint id;
    ResditJobParams params;
    char *output_folder;
};

G_DEFINE_FINAL_TYPE(RsQueuedJob, rs_queued_job, G_TYPE_OBJECT)

static void rs_queued_job_finalize(GObject *object)
{
    RsQueuedJob *self = RS_QUEUED_JOB(object);
    resdit_job_params_clear(&self->params);
    g_free(self->output_folder);
    G_OBJECT_CLASS(rs_queued_job_parent_class)->finalize(object);
}

static void rs_queued_job_class_init(RsQueuedJobClass *klass)
{
    G_OBJECT_CLASS(klass)->finalize = rs_queued_job_finalize;
}

static void rs_queued_job_init(RsQueuedJob *self)
{
    resdit_job_params_init(&self->params);
}

guint rs_queued_job_get_id(RsQueuedJob *self)
{
    return self->id;
}

const ResditJobParams *rs_queued_job_get_params(RsQueuedJob *self)
{
    return &self->params;
}

const char *rs_queued_job_get_output_folder(RsQueuedJob *self)
{
    return self->output_folder;
}

struct _RsJobQueue {
    GObject parent_instance;

    GPtrArray *jobs; /* RsQueuedJob, first to run first */
};

static void rs_job_queue_list_model_init(GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE(RsJobQueue, rs_job_queue, G_TYPE_OBJECT,
                              G_IMPLEMENT_INTERFACE(G_TYPE_LIST_MODEL,
                                                    rs_job_queue_list_model_init))

enum { PROP_0, PROP_N_JOBS, N_PROPS };
static GParamSpec *props[N_PROPS];

static GType rs_job_queue_get_item_type(GListModel *model)
{
    return RS_TYPE_QUEUED_JOB;
}

static guint rs_job_queue_get_n_items(GListModel *model)
{
    return RS_JOB_QUEUE(model)->jobs->len;
}

static gpointer rs_job_queue_get_item(GListModel *model, guint position)
{
    RsJobQueue *self = RS_JOB_QUEUE(model);
    if (position >= self->jobs->len)
        return NULL;
    return g_object_ref(g_ptr_array_index(self->jobs, position));
}

static void rs_job_queue_list_model_init(GListModelInterface *iface)
{
    iface->get_item_type = rs_job_queue_get_item_type;
    iface->get_n_items = rs_job_queue_get_n_items;
    iface->get_item = rs_job_queue_get_item;
}

static void items_changed(RsJobQueue *self, guint position, guint removed, guint added)
{
    g_list_model_items_changed(G_LIST_MODEL(self), position, removed, added);
    if (removed != added)
        g_object_notify_by_pspec(G_OBJECT(self), props[PROP_N_JOBS]);
}

static void rs_job_queue_get_property(GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
    if (id == PROP_N_JOBS)
        g_value_set_uint(value, RS_JOB_QUEUE(object)->jobs->len);
    else
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
}

static void rs_job_queue_finalize(GObject *object)
{
    g_ptr_array_unref(RS_JOB_QUEUE(object)->jobs);
    G_OBJECT_CLASS(rs_job_queue_parent_class)->finalize(object);
}

static void rs_job_queue_class_init(RsJobQueueClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    object_class->finalize = rs_job_queue_finalize;
    object_class->get_property = rs_job_queue_get_property;
    /* How many jobs wait (for a badge: the model's own count has no notification). */
    props[PROP_N_JOBS] = g_param_spec_uint("n-jobs", NULL, NULL, 0, G_MAXUINT, 0,
                                           G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
    g_object_class_install_properties(object_class, N_PROPS, props);
}

static void rs_job_queue_init(RsJobQueue *self)
{
    self->jobs = g_ptr_array_new_with_free_func(g_object_unref);
}

RsJobQueue *rs_job_queue_new(void)
{
    return g_object_new(RS_TYPE_JOB_QUEUE, NULL);
}

guint rs_job_queue_push(RsJobQueue *self, const ResditJobParams *params, const char *output_folder)
{
    static guint last_id;
    g_return_val_if_fail(RS_IS_JOB_QUEUE(self) && params != NULL, 0);
    g_return_val_if_fail(!params->random_seed, 0);
    RsQueuedJob *job = g_object_new(RS_TYPE_QUEUED_JOB, NULL);
    job->id = ++last_id; /* main thread only */
    resdit_job_params_copy(&job->params, params);
    job->output_folder = g_strdup(output_folder);
    g_ptr_array_add(self->jobs, job);
    items_changed(self, self->jobs->len - 1, 0, 1);
    return job->id;
}

RsQueuedJob *rs_job_queue_pop(RsJobQueue *self)
{
    g_return_val_if_fail(RS_IS_JOB_QUEUE(self), NULL);
    if (self->jobs->len == 0)
        return NULL;
    RsQueuedJob *job = g_ptr_array_steal_index(self->jobs, 0);
    items_changed(self, 0, 1, 0);
    return job;
}

int rs_job_queue_find(RsJobQueue *self, guint id)
{
    g_return_val_if_fail(RS_IS_JOB_QUEUE(self), -1);
    for (guint i = 0; i < self->jobs->len; i++)
        if (((RsQueuedJob *)g_ptr_array_index(self->jobs, i))->id == id)
            return (int)i;
    return -1;
}

gboolean rs_job_queue_move(RsJobQueue *self, guint id, int delta)
{
    int from = rs_job_queue_find(self, id);
    if (from < 0 || delta == 0)
        return FALSE;
    int to = from + delta;
    if (to < 0 || to >= (int)self->jobs->len)
        return FALSE;
    RsQueuedJob *job = g_ptr_array_steal_index(self->jobs, from);
    g_ptr_array_insert(self->jobs, to, job);
    guint first = MIN(from, to), n = ABS(delta) + 1;
    items_changed(self, first, n, n);
    return TRUE;
}

gboolean rs_job_queue_remove(RsJobQueue *self, guint id)
{
    int position = rs_job_queue_find(self, id);
    if (position < 0)
        return FALSE;
    g_ptr_array_remove_index(self->jobs, position);
    items_changed(self, position, 1, 0);
    return TRUE;
}

void rs_job_queue_clear(RsJobQueue *self)
{
    g_return_if_fail(RS_IS_JOB_QUEUE(self));
    guint n = self->jobs->len;
    if (n == 0)
        return;
    g_ptr_array_set_size(self->jobs, 0);
    items_changed(self, 0, n, 0);
}

guint rs_job_queue_get_n_jobs(RsJobQueue *self)
{
    g_return_val_if_fail(RS_IS_JOB_QUEUE(self), 0);
    return self->jobs->len;
}
