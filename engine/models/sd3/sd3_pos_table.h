/* SD3's absolute position table read at any (fractional) position, for ResDiT's PES and PIPE
 * (docs/METHOD.md, "SD3"). The table is size x size rows of dim features; a point is (row, col)
 * in table index units.
 *
 * Every released SD3 checkpoint's table is diffusers' get_2d_sincos_pos_embed: row (i, j) holds
 * [sin(x w_k), cos(x w_k)] of x = j * s (the column) then of x = i * s (the row), k < dim / 4,
 * w_k = 10000^(-k / (dim / 4)), s = base / size (base = sample_size / patch_size, 64 for SD3).
 * Opening the table checks it against that formula within the file dtype's rounding; when it
 * matches, points between entries are evaluated by the formula (exact), otherwise (a learned
 * table) they are read bilinearly between the four entries around them. Points on entries are
 * always the file's own numbers. */
#pragma once

#include <glib.h>

#include "dtype.h"

typedef struct {
    const void *data; /* [size * size, dim] in dtype */
    RdDType dtype;
    int size, dim;
    gboolean sincos; /* the table is the sin-cos formula */
    double scale;    /* s: the formula's coordinate per table index (sincos only) */
} Sd3PosTable;

/* Fills t and checks whether the table is the sin-cos formula (and of which scale). */
void sd3_pos_table_open(Sd3PosTable *t, const void *data, RdDType dtype, int size, int dim);

/* out: [n, dim], the table at each point (points: [n, 2], row then column). A sin-cos table is
 * read by its formula outside its entries too; for a learned one a point outside is an error
 * naming it. */
gboolean sd3_pos_table_read(const Sd3PosTable *t, const float *points, int64_t n, float *out,
                            GError **error);

/* The formula at coordinates (row x, column x) already scaled: out [dim], in double, rounded. */
void sd3_sincos_embed(int dim, double row_x, double col_x, float *out);
