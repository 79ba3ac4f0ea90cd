/* Every engine parameter of one generation, and its JSON form (the exact blob kept in the history).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* How the flow-matching timestep shift mu is chosen (METHOD.md, item 7). */
typedef enum {
    HISTORY_SHIFT_BASE,       /* mu at the base grid's token count (default) */
    HISTORY_SHIFT_RESOLUTION, /* FLUX's own formula at the output resolution */
    HISTORY_SHIFT_FIXED,      /* shift_mu as given */
} HistoryShiftMode;

const char *history_shift_mode_name(HistoryShiftMode mode);
gboolean history_shift_mode_from_name(const char *name, HistoryShiftMode *mode);

typedef struct {
    char *prompt;
    int width, height; /* pixels */
    int steps;
    double guidance;
    guint64 seed;     /* the seed actually used (kept bit-exact, also above 2^63) */
    gboolean direct;  /* baseline: plain full attention, no ResDiT */
    int global_steps; /* schedule: first G steps global only */
    int local_steps;  /* schedule: last L steps local only, the rest fused */
    /* ResDiT method parameters, named as in ResditMethodParams (engine/resdit.h) */
    int base_rows, base_cols;
    int base_area;
    int patch;
    double sigma;
    double cutoff;
    gboolean no_pes, no_pipe, no_psf, no_overlap, uniform_weights;
    HistoryShiftMode shift_mode;
    double shift_mu; /* used when shift_mode is HISTORY_SHIFT_FIXED */
    double lowfreq_noise; /* the initial noise's low frequencies (0: plain noise) */
    char *backend;   /* "cpu", "cuda" */
    char *model_name;
    char *model_fingerprint; /* cheap fingerprint of the weight files */
    char *loras; /* the job's LoRAs, one line each: "STRENGTH ENABLED(0/1) PATH\n"; "" = none */
    char *init_image;  /* image to image / upscale: the source PNG; "" = text to image */
    char *init_sha256; /* the source file's SHA-256 (hex) when the job began; "" = none */
    double strength;   /* with init_image: 0 keeps the image, 1 ignores it */
} HistoryParams;

/* Defaults of the paper's setting (35 steps, G = 10, L = 15, cutoff 0.2, 64-token patches). */
void history_params_init(HistoryParams *params);
void history_params_clear(HistoryParams *params);
void history_params_copy(HistoryParams *dest, const HistoryParams *src);
gboolean history_params_equal(const HistoryParams *a, const HistoryParams *b);

/* The JSON object kept as the row's params_json; every field above, keys named as the fields. */
char *history_params_to_json(const HistoryParams *params);
/* Missing keys keep their defaults, unknown keys are ignored (blobs written by other versions). */
gboolean history_params_from_json(HistoryParams *params, const char *json, GError **error);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(HistoryParams, history_params_clear)

G_END_DECLS
