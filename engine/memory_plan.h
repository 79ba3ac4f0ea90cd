/* The memory planner: from a model's tensor inventory (read from the safetensors headers only),
 * the job's size and the memory of the card, which weight format the transformer uses (bf16
 * resident, fp8 E4M3 resident, fp8 with some blocks streamed from pinned host memory), how the
 * VAE decodes (band height), and the predicted peak of each phase of the job.
 *
 * rd_memory_plan() is a pure function of its inputs: no file, no device. Its terms mirror what the
 * engine allocates (flux_model.c forward_alloc, resdit_attention.c, rope_table.c, the T5
 * encoder's scratch, vae_decode.c); tests/unit/test-memory-plan.c checks the transformer's terms
 * against a counting allocator on the CPU backend. */
#pragma once

#include <glib.h>

#include "dtype.h"
#include "resdit.h"

typedef struct RdSafetensors RdSafetensors;
typedef struct RdVae RdVae;

/* The weights of one part as the headers give them. */
typedef struct {
    gboolean present;
    guint64 tensors;
    guint64 elements;        /* every tensor */
    guint64 matrix_elements; /* 2-D tensors (the ones an fp8 format stores in one byte) */
    guint64 file_bytes;      /* bytes in the file, in its dtypes */
    RdDType matrix_dtype;    /* dtype of most matrix elements */
} RdPartInventory;

#define RD_PLAN_MAX_BLOCKS 256

/* The transformer: dimensions read from the shapes, and its blocks (double then single), the
 * unit that streaming moves. */
typedef struct {
    RdPartInventory all;
    int hidden, mlp_hidden, in_channels, txt_dim, vec_dim, head_dim, heads;
    gboolean guidance;
    gboolean sd3;                     /* an SD3 MMDiT, planned as FLUX double blocks */
    gboolean qk_norm, dual_attention; /* SD3: SD3.5's q/k norm, SD3.5 Medium's MMDiT-X */
    int n_blocks;
    guint64 block_elements[RD_PLAN_MAX_BLOCKS];
    guint64 block_matrix_elements[RD_PLAN_MAX_BLOCKS];
    guint64 block_tensors[RD_PLAN_MAX_BLOCKS];
} RdTransformerInventory;

typedef struct {
    RdPartInventory all;
    int d_model, d_ff, heads, inner;
} RdT5Inventory;

typedef struct {
    RdTransformerInventory transformer;
    RdT5Inventory t5;
    RdPartInventory clip;
    RdPartInventory vae;
    const RdVae *vae_model; /* the decoder, for its band costs; NULL: the VAE's activations are
                             * not planned */
    struct RdBackend *vae_backend; /* owned by rd_model_inventory_from_paths, with vae_model */
} RdModelInventory;

/* Reads the inventory of a model's parts from their headers (dry runs): the files' data are never
 * read, so files whose data region is a hole work. The VAE is opened on the CPU backend for its
 * band costs (its weights stay in the mapped file). */
gboolean rd_model_inventory_from_paths(const ResditModelPaths *paths, RdModelInventory *mi,
                                       GError **error);
/* Frees what rd_model_inventory_from_paths opened. */
void rd_model_inventory_clear(RdModelInventory *mi);

/* Reads the inventory of a FLUX transformer from its (possibly sharded) checkpoint. FALSE with
 * RESDIT_ERROR_MODEL when the tensors are not a FLUX transformer. */
gboolean rd_transformer_inventory(const RdSafetensors *st, RdTransformerInventory *inv,
                                  GError **error);
/* The inventory of an opened transformer of either family (SD3: see model.c). */
typedef struct RdDenoiser RdDenoiser;
gboolean rd_denoiser_inventory(const RdDenoiser *denoiser, RdTransformerInventory *inv,
                               GError **error);
gboolean rd_t5_inventory(const RdSafetensors *st, RdT5Inventory *inv, GError **error);
/* Every tensor whose name starts with one of prefixes (NULL: every tensor). */
void rd_part_inventory(const RdSafetensors *st, const char *const *prefixes, RdPartInventory *inv);

typedef enum {
    RD_WEIGHTS_BF16,         /* bf16 copies of every weight (f16, f32 and fp8 files converted) */
    RD_WEIGHTS_FP8_FILE,     /* the file's fp8 E4M3 matrices as they are, per-tensor scales */
    RD_WEIGHTS_FP8_QUANTISED /* bf16 matrices quantised to fp8 E4M3 at load, per-tensor scales */
} RdWeightFormat;

const char *rd_weight_format_name(RdWeightFormat format);

/* What the engine can run, and where. */
typedef struct {
    guint64 card_bytes;         /* memory of the device (host memory for the CPU backend) */
    guint64 reserve_bytes;      /* not for the job: CUDA context and library code, pool slack */
    int act_bytes;              /* bytes per activation element: 2 (bf16 on CUDA), 4 (f32 on CPU) */
    gboolean weights_mapped;    /* CPU: weights are read from the mapped file in its dtype */
    gboolean fp8_gemm;          /* cuBLASLt fp8 GEMMs (sm_89+, rd_backend_fp8_gemm); else fp8
                                 * weights are dequantised per GEMM */
    guint64 gemm_workspace;     /* cuBLASLt workspace */
    guint64 conv_scratch;       /* the VAE convolution's im2col band */
    gboolean fft_on_device;     /* PSF buffers and cuFFT work areas count against the card */
    guint64 decode_budget;      /* the most the VAE decode may use before it takes bands */
    gboolean bands_from_budget; /* the job's rule (pipeline.c): bands from decode_budget alone;
                                 * FALSE: also no taller than what is left on the card */
    /* Execution paths: a plan that needs one the engine lacks is only reported. */
    gboolean can_fp8, can_stream, can_t5_first;
} RdPlanTarget;

/* The CUDA target for a card of card_bytes and the paths this build executes: bf16 or fp8 E4M3
 * weights, resident or with blocks streamed from pinned host memory, and T5 run and freed before
 * the transformer's weights go to the device. fp8_gemm starts FALSE (fp8 dequantised before each
 * GEMM, as before sm_89); a caller with the device sets it from rd_backend_fp8_gemm. */
void rd_plan_target_cuda(RdPlanTarget *target, guint64 card_bytes);
/* The CPU backend's target with host memory of available bytes. */
void rd_plan_target_cpu(RdPlanTarget *target, guint64 available);

typedef struct {
    int width, height; /* pixels */
    int t5_len;
    ResditMode worst_mode; /* the most demanding mode of the job's steps */
    ResditMethodParams method;
    int base_rows, base_cols; /* unused by the planner: recorded */
} RdPlanJob;

/* The job's steps: fused when the schedule runs fused steps, else the fixed mode. */
void rd_plan_job_from_params(RdPlanJob *job, const ResditJobParams *params, int default_t5_len);

typedef struct {
    /* transformer forward (bytes) */
    guint64 forward;      /* the residual stream, norms, q k v, MLP, projection, output */
    guint64 attention;    /* the attention's rotated q and k, patch buffers, fused output */
    guint64 tables;       /* RoPE tables (direct, global), splice weights (f32) */
    guint64 patch_tables; /* PIPE tables of each patch shape, built in the first local layer */
    guint64 embed_temp;   /* the input embeddings' temporaries (freed before the blocks) */
    guint64 psf;          /* PSF buffers and cuFFT work areas of each patch shape */
} RdForwardTerms;

typedef struct {
    gboolean fits;
    gboolean executable;  /* every path the plan takes is implemented in this build */
    char *reason;         /* why nothing fits, or NULL */
    char *not_executable; /* the paths the plan needs that this build lacks, or NULL */
    RdWeightFormat format;
    gboolean t5_first;           /* T5 runs and is freed before the transformer loads */
    int streamed_blocks;         /* blocks kept in pinned host memory, copied in per step */
    guint64 streamed_bytes;      /* pinned host memory they take */
    guint64 stream_buffers;      /* device slots they are copied into (two, double-buffered) */
    guint64 fp8_scratch;         /* fp8 weights: a block's bf16 copy (dequantised per GEMM), or
                                  * with fp8 GEMMs the widest activation's E4M3 codes */
    guint64 transformer_weights; /* resident on the device */
    guint64 t5_weights, clip_weights, vae_weights;
    guint64 t5_activations;
    RdForwardTerms fwd;
    guint64 activations; /* forward + attention + tables + patch tables + embed temp */
    guint64 workspace;   /* library work areas: cuBLASLt, cuFFT (psf) */
    int vae_band_rows;   /* latent rows per band (the latent height: untiled) */
    guint64 vae_decode;  /* the decode's activations with that band */
    guint64 peak_encode, peak_sample, peak_decode;
    guint64 peak;   /* the largest of the three */
    guint64 usable; /* card - reserve */
} RdMemoryPlan;

/* Plans the job. With only_executable, candidates that need a path the engine lacks are skipped
 * (real runs); otherwise the best plan is chosen and flagged (dry runs). FALSE only for
 * inconsistent inputs (error set); a job that does not fit returns TRUE with fits FALSE and a
 * reason. */
gboolean rd_memory_plan(const RdModelInventory *model, const RdPlanJob *job,
                        const RdPlanTarget *target, gboolean only_executable, RdMemoryPlan *plan,
                        GError **error);
void rd_memory_plan_clear(RdMemoryPlan *plan);
/* A few lines for people: format, streaming, phases, peak. */
char *rd_memory_plan_describe(const RdMemoryPlan *plan, const RdPlanTarget *target);
