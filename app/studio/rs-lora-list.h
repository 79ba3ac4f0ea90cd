/* RsLoraList: the LoRA group of the parameters panel. One row per LoRA (those of the job, then
 * those found in the model folders), each with a strength slider and an on/off switch; the rows
 * write the job's "loras" list. */
#pragma once

#include <adwaita.h>

#include "rs-job-settings.h"

G_BEGIN_DECLS

#define RS_TYPE_LORA_LIST (rs_lora_list_get_type())
G_DECLARE_FINAL_TYPE(RsLoraList, rs_lora_list, RS, LORA_LIST, AdwPreferencesGroup)

void rs_lora_list_set_job(RsLoraList *self, RsJobSettings *job);
/* Looks for LoRA files in the usual model folders and in extra_dirs (on a worker thread). */
void rs_lora_list_discover(RsLoraList *self, const char *const *extra_dirs);
/* Adds a LoRA file to the job's list, switched on at strength 1. */
void rs_lora_list_add_file(RsLoraList *self, const char *path);

G_END_DECLS
