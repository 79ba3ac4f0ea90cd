/* ResDiT engine: the public API used by the app and the command line. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define RESDIT_ERROR (resdit_error_quark())
GQuark resdit_error_quark(void);

typedef enum {
    RESDIT_ERROR_IO,               /* a file could not be read or written */
    RESDIT_ERROR_FORMAT,           /* a file is corrupt, truncated or not of the expected format */
    RESDIT_ERROR_MODEL,            /* wrong model, missing tensor, wrong shape */
    RESDIT_ERROR_TOKENIZER,        /* tokenizer data missing or invalid, bad UTF-8 */
    RESDIT_ERROR_INVALID_ARGUMENT, /* a parameter is out of range */
    RESDIT_ERROR_OUT_OF_MEMORY,    /* not enough host or GPU memory */
    RESDIT_ERROR_BACKEND,          /* no usable device, driver problem */
    RESDIT_ERROR_CANCELLED,
} ResditErrorCode;

const char *resdit_version(void);

/* Attention mode of one step (METHOD.md). */
typedef enum {
    RESDIT_MODE_DIRECT, /* original positions, full attention: the baseline */
    RESDIT_MODE_GLOBAL, /* PES: positions scaled onto the base grid */
    RESDIT_MODE_LOCAL,  /* PIPE inside MOP patches, spliced with GWS */
    RESDIT_MODE_FUSED,  /* global and local combined with PSF */
} ResditMode;

const char *resdit_mode_name(ResditMode mode);
gboolean resdit_mode_from_name(const char *name, ResditMode *mode);

/* Every ResDiT parameter that shapes one attention layer; see docs/METHOD.md. */
typedef struct {
    int base_rows, base_cols; /* base grid PES maps onto; 0 = derived from base_area and aspect */
    int base_area;            /* tokens of the base grid when derived (FLUX: 4096 = 64 x 64) */
    int patch;                /* local patch side in tokens (FLUX: 64) */
    double sigma;             /* GWS sigma in tokens; <= 0 means patch / 4 */
    double cutoff;            /* PSF normalised cutoff, 1.0 = Nyquist per axis */
    gboolean no_pes;          /* ablation: global branch keeps extrapolated positions */
    gboolean no_pipe;         /* ablation: patches keep their global positions */
    gboolean no_psf;          /* ablation: plain average of the branches */
    gboolean no_overlap;      /* ablation: ceil(H/h) tiles, no splicing */
    gboolean uniform_weights; /* ablation: uniform instead of Gaussian splice weights */
} ResditMethodParams;

void resdit_method_params_init(ResditMethodParams *params);

G_END_DECLS
