/* RsJobSettings: every parameter of one generation job, as properties the panel binds to and
 * GSettings persists. The engine glue reads a job from here and from nowhere else. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define RS_MAX_BATCH_COUNT 32
/* Image to image from an opened or dropped image (as `resdit generate --init-image`); an upscale
 * uses the upscale-strength setting (0.35, as `resdit upscale`). */
#define RS_DEFAULT_STRENGTH 0.75

#define RS_TYPE_JOB_SETTINGS (rs_job_settings_get_type())
G_DECLARE_FINAL_TYPE(RsJobSettings, rs_job_settings, RS, JOB_SETTINGS, GObject)

RsJobSettings *rs_job_settings_new(void);

/* Two-way binding of every job property to the key of the same name in settings. */
void rs_job_settings_bind(RsJobSettings *self, GSettings *settings);

int rs_job_settings_get_width(RsJobSettings *self);
int rs_job_settings_get_height(RsJobSettings *self);
int rs_job_settings_get_steps(RsJobSettings *self);
int rs_job_settings_get_global_steps(RsJobSettings *self);
int rs_job_settings_get_local_steps(RsJobSettings *self);
guint rs_job_settings_get_seed(RsJobSettings *self);
/* How many images one Generate queues (1 to RS_MAX_BATCH_COUNT). */
int rs_job_settings_get_batch_count(RsJobSettings *self);

/* The image-to-image source ("init-image"), or NULL for text to image. */
const char *rs_job_settings_get_init_image(RsJobSettings *self);

/* Draws a new seed, switches to a fixed seed and returns it. */
guint rs_job_settings_roll_seed(RsJobSettings *self);

G_END_DECLS
