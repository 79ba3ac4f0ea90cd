/* LoRA files (docs/LORA.md): read in the formats people share, recognised by content, and
 * merged into private copies of the weights they touch.
 *
 * A file is parsed without a model (rd_lora_open): every tensor must be a LoRA down, up or alpha
 * of some module, and every value finite. A model part (the FLUX transformer, CLIP-L) lists the
 * linears a LoRA may name (RdLoraTargets), under every name they go by; rd_lora_plan resolves
 * the files' modules of one part against them, refusing the first unknown module or wrong shape,
 * and rd_lora_commit merges W + strength * alpha / rank * up @ down into a private copy of each
 * touched weight in its own dtype, always from the untouched original, so that a new list or new
 * strengths re-merge without reopening the model. */
#pragma once

#include "backend.h"
#include "safetensors.h"

typedef enum {
    RD_LORA_TRANSFORMER,
    RD_LORA_CLIP_L,
    RD_LORA_T5, /* named by some files; never applied */
} RdLoraPart;

typedef struct {
    RdLoraPart part;
    char *name;               /* the module as the file names it, prefix and suffix removed */
    gboolean underscored;     /* kohya: dots written as underscores */
    const RdTensorInfo *down; /* [rank, in] */
    const RdTensorInfo *up;   /* [out, rank] */
    int rank;
    double scale; /* alpha / rank; 1 without alpha */
} RdLoraModule;

typedef struct {
    RdSafetensors *st;
    char *path;
    const char *format; /* "kohya", "peft", "comfyui" (for messages) */
    GPtrArray *modules; /* RdLoraModule, in the file's order */
} RdLoraFile;

/* Whether every tensor name is a LoRA tensor's (the header only: for listing files). */
gboolean rd_lora_tensors_look_like_lora(const RdSafetensors *st);
RdLoraFile *rd_lora_open(const char *path, GError **error);
void rd_lora_close(RdLoraFile *file);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RdLoraFile, rd_lora_close)
/* Lower-case hex SHA-256 of the whole file (g_free). */
char *rd_lora_file_sha256(const char *path, GError **error);
/* How many modules of the file belong to a part. */
guint rd_lora_count_part(const RdLoraFile *file, RdLoraPart part);

/* The linears of one model part under their names. One name may cover several weights whose
 * rows follow each other (BFL's fused qkv over the q, k and v views). */
typedef struct RdLoraTargets RdLoraTargets;
RdLoraTargets *rd_lora_targets_new(void);
void rd_lora_targets_free(RdLoraTargets *targets);
/* weights: n weights with the same cols, whose rows stack in this order. */
void rd_lora_targets_add(RdLoraTargets *targets, const char *name, RdWeight *const *weights, int n);

/* The merged copies of one model part. */
typedef struct RdLoraState RdLoraState;
RdLoraState *rd_lora_state_new(RdBackend *be);
/* Frees the private copies; call after the model released its weights' device copies. */
void rd_lora_state_free(RdLoraState *state);

typedef struct RdLoraPlan RdLoraPlan;
/* Resolves the modules of `part` in n files (strength 0 included: they are checked too). */
RdLoraPlan *rd_lora_plan(const RdLoraTargets *targets, RdLoraPart part, RdLoraFile *const *files,
                         const double *strengths, int n, GError **error);
void rd_lora_plan_free(RdLoraPlan *plan);
/* Restores every weight the state merged before and merges the plan's (a NULL plan: restore
 * only). On failure (out of memory) every weight is back to its original. */
gboolean rd_lora_commit(RdLoraState *state, const RdLoraPlan *plan, GError **error);
/* How many weights hold merged copies now. */
guint rd_lora_state_merged(const RdLoraState *state);
