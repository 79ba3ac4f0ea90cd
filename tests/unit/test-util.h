/* Helpers shared by the unit tests: deterministic random data and tolerant comparisons. */
#pragma once

#include <glib.h>
#include <stdint.h>

G_BEGIN_DECLS

/* Fills with uniform values in [lo, hi) from a fixed-seed generator (never all zeros). */
void tu_fill_uniform(float *x, size_t n, float lo, float hi, guint32 seed);
/* Asserts |got - ref| <= tol + |ref| * eps for every element, naming the first that fails. */
void tu_assert_close(const char *what, const float *got, const float *ref, size_t n, float tol,
                     float eps);
/* ||got - ref|| / ||ref|| */
double tu_relative_l2(const float *got, const float *ref, size_t n);
/* Path of a file under tests/data in the source tree (G_TEST_SRCDIR is tests/). */
char *tu_data_path(const char *name);
/* Deletes a folder and everything below it (temporary folders of tests). */
void tu_remove_tree(const char *dir);

/* Numeric tolerances, from the arithmetic (HACKING.md, "Numeric tolerances"). A bound depends on
 * the unit roundoff of the narrowest type the computation passes through, on the length of each
 * reduction and on the magnitudes summed, never on the machine the test was written on: any BLAS
 * kernel, summation order, FMA use or thread count stays within it. */
#define TU_U_F64 0x1p-53 /* unit roundoff: half the distance from 1.0 to the next value */
#define TU_U_F32 0x1p-24
#define TU_U_F16 0x1p-11
#define TU_U_BF16 0x1p-8

/* gamma_n = n u / (1 - n u): the worst relative error of n roundings in a row (Higham, Accuracy and
 * Stability of Numerical Algorithms, Lemma 3.1). */
double tu_gamma(double n, double u);
/* The DFT coefficient of bin (ky, kx) of channel ch of x [h, w, C] (token-major: element (y, x, c)
 * at (y * w + x) * C + c), in double by the definition: sum x e^{-2 pi i (ky y / h + kx x / w)}. */
void tu_dft_bin(const float *x, int h, int w, int C, int ch, int ky, int kx, double *re,
                double *im);
/* Worst error of a sum of K products computed in any order and blocking: gamma_K * sum |x_k y_k|
 * (Higham, eq. 3.5). */
double tu_dot_bound(int64_t K, double abs_sum, double u);
/* Asserts |got_i - ref_i| <= bound_i + u_f32 |ref_i| for every element (the bound of the code under
 * test, plus the one rounding of a reference computed in double and stored as f32), naming the
 * first that fails. */
void tu_assert_within(const char *what, const float *got, const float *ref, const double *bound,
                      size_t n);
/* The difference two evaluations of a network may show when they differ only in summation order
 * (another BLAS kernel, blocking, thread count or implementation): `depth` reductions in a row,
 * each of length at most K, each adding at most gamma_K relative error in each evaluation, passed
 * on unamplified by the layers between (norms and gates keep magnitudes). Relative to the largest
 * output magnitude. */
double tu_network_bound(int depth, int64_t K, double u);
/* The same network with its weights rounded to a type of unit roundoff u_w against the exact
 * weights: each reduction moves by at most u_w relative. */
double tu_weight_rounding_bound(int depth, double u_w);
/* FLUX's longest chain of reductions from its inputs to the velocity: the embedders (two linears
 * each), per double block the modulation, qkv, scores, weighted values, projection and two MLP
 * linears, per single block the modulation, linear1, scores, values and linear2, and the final
 * modulation and linear. */
int tu_flux_depth(int double_blocks, int single_blocks);
/* FLUX's longest reduction: the timestep embedding's 256 frequencies, linear2 over attention and
 * MLP together, the values over every token, the text and pooled embedders. */
int64_t tu_flux_reduction(int hidden, int mlp_hidden, int tokens, int txt_dim, int vec_dim);
/* The network bound of FLUX's transformer as described by a diffusers config.json. */
double tu_flux_config_bound(const char *config_json, int tokens, int passes, double u);
/* Asserts |got_i - ref_i| <= bound * max_j |ref_j| for every element and reports the relative
 * L2 difference; returns it. */
double tu_assert_network_close(const char *what, const float *got, const float *ref, size_t n,
                               double bound);

G_END_DECLS

/* The resdit command ($RESDIT_CLI) run to its end with args (NULL-terminated) in this process's
 * environment: its exit status (128 + signal when killed) and what it printed. */
typedef struct {
    int status;
    char *out, *err;
} TuRun;

TuRun tu_run_cli(const char *const *args);
void tu_run_clear(TuRun *r);
