/* Image sizes: aspect-ratio and size presets, snapped to the 16 px grid FLUX needs. Pure C. */
#pragma once

#include <stdbool.h>

#define RS_SIZE_GRID 16

typedef struct {
    const char *id; /* "16:9", also the GSettings value */
    int w, h;       /* ratio terms */
} RsAspectPreset;

typedef struct {
    const char *id; /* "4K" */
    int long_side;  /* pixels */
} RsSizePreset;

/* The presets in the order the UI lists them; the aspect table ends before "custom". */
const RsAspectPreset *rs_aspect_presets(int *count);
const RsSizePreset *rs_size_presets(int *count);
const RsAspectPreset *rs_aspect_preset_find(const char *id);
const RsSizePreset *rs_size_preset_find(const char *id);

/* Nearest multiple of 16, at least 16. */
int rs_size_snap(double pixels);

/* The size with the given ratio whose longer side is long_side, the other side snapped. */
void rs_size_for_aspect(int ratio_w, int ratio_h, int long_side, int *width, int *height);
