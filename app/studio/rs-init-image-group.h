/* RsInitImageGroup: the image-to-image group of the parameters panel. It shows the job's source
 * image ("init-image", loaded on a worker thread), its file, a Clear button and the strength
 * slider (the job's "strength"), and hides itself while the job has no source. */
#pragma once

#include <adwaita.h>

#include "rs-job-settings.h"

G_BEGIN_DECLS

#define RS_TYPE_INIT_IMAGE_GROUP (rs_init_image_group_get_type())
G_DECLARE_FINAL_TYPE(RsInitImageGroup, rs_init_image_group, RS, INIT_IMAGE_GROUP,
                     AdwPreferencesGroup)

void rs_init_image_group_set_job(RsInitImageGroup *self, RsJobSettings *job);
/* The source image once loaded ("texture" notifies), or NULL. */
GdkTexture *rs_init_image_group_get_texture(RsInitImageGroup *self);

G_END_DECLS
