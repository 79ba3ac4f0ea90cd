/* Image sizes: aspect-ratio and size presets, snapped to the 16 px grid FLUX needs. */
#include "rs-size.h"

#include <math.h>
#include <string.h>

static const RsAspectPreset aspect_presets[] = {
    {"1:1", 1, 1},   {"4:3", 4, 3},   {"3:4", 3, 4}, {"3:2", 3, 2}, {"2:3", 2, 3},
    {"16:9", 16, 9}, {"9:16", 9, 16}, {"2:1", 2, 1}, {"1:2", 1, 2},
};

static const RsSizePreset size_presets[] = {
    {"512", 512}, /* drafts, and the self-test model */
    {"2K", 2048},
    {"3K", 3072},
    {"4K", 4096},
};

const RsAspectPreset *rs_aspect_presets(int *count)
{
    *count = (int)(sizeof aspect_presets / sizeof aspect_presets[0]);
    return aspect_presets;
}

const RsSizePreset *rs_size_presets(int *count)
{
    *count = (int)(sizeof size_presets / sizeof size_presets[0]);
    return size_presets;
}

const RsAspectPreset *rs_aspect_preset_find(const char *id)
{
    int count;
    const RsAspectPreset *presets = rs_aspect_presets(&count);
    for (int i = 0; id != NULL && i < count; i++)
        if (strcmp(presets[i].id, id) == 0)
            return &presets[i];
    return NULL;
}

const RsSizePreset *rs_size_preset_find(const char *id)
{
    int count;
    const RsSizePreset *presets = rs_size_presets(&count);
    for (int i = 0; id != NULL && i < count; i++)
        if (strcmp(presets[i].id, id) == 0)
            return &presets[i];
    return NULL;
}

int rs_size_snap(double pixels)
{
    int snapped = (int)floor(pixels / RS_SIZE_GRID + 0.5) * RS_SIZE_GRID;
    return snapped < RS_SIZE_GRID ? RS_SIZE_GRID : snapped;
}

void rs_size_for_aspect(int ratio_w, int ratio_h, int long_side, int *width, int *height)
{
    if (ratio_w >= ratio_h) {
        *width = rs_size_snap(long_side);
        *height = rs_size_snap((double)long_side * ratio_h / ratio_w);
    } else {
        *height = rs_size_snap(long_side);
        *width = rs_size_snap((double)long_side * ratio_w / ratio_h);
    }
}
