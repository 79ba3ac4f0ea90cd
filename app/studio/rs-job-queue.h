/* RsJobQueue: the jobs waiting for the running one to end, in the order they will run. A GListModel
 * of RsQueuedJob, each a full copy of the job's parameters (a fixed seed) and output folder as
 * they were when the job was queued: changing the panel afterwards does not change a waiting job.
 * The window starts the first one when a job ends (done, failed or cancelled); the user moves and
 * removes waiting jobs by their id, which stays the same while the job waits. GLib only. */
#pragma once

#include <gio/gio.h>

#include "resdit.h"

G_BEGIN_DECLS

#define RS_TYPE_QUEUED_JOB (rs_queued_job_get_type())
G_DECLARE_FINAL_TYPE(RsQueuedJob, rs_queued_job, RS, QUEUED_JOB, GObject)

/* Unique in the process, never 0. */
guint rs_queued_job_get_id(RsQueuedJob *self);
const ResditJobParams *rs_queued_job_get_params(RsQueuedJob *self);
const char *rs_queued_job_get_output_folder(RsQueuedJob *self);

#define RS_TYPE_JOB_QUEUE (rs_job_queue_get_type())
G_DECLARE_FINAL_TYPE(RsJobQueue, rs_job_queue, RS, JOB_QUEUE, GObject)

RsJobQueue *rs_job_queue_new(void);
/* Appends a copy of params (its seed must be fixed) and returns the new job's id. */
guint rs_job_queue_push(RsJobQueue *self, const ResditJobParams *params, const char *output_folder);
/* Takes the first job out of the queue (transfer full), or NULL when none waits. */
RsQueuedJob *rs_job_queue_pop(RsJobQueue *self);
/* Moves the job by delta places (-1 up, towards the front; +1 down), within the queue. Returns
 * FALSE when there is no such job or it cannot move that way. */
gboolean rs_job_queue_move(RsJobQueue *self, guint id, int delta);
/* Takes the job out of the queue; FALSE when there is no such job. */
gboolean rs_job_queue_remove(RsJobQueue *self, guint id);
void rs_job_queue_clear(RsJobQueue *self);
/* The job's place in the queue, or -1. */
int rs_job_queue_find(RsJobQueue *self, guint id);
guint rs_job_queue_get_n_jobs(RsJobQueue *self);

G_END_DECLS
