#include "sd3_pos_table.h"

#include <math.h>

#include "resdit.h"

/* [sin(x w_k)..., cos(x w_k)...] for k < quarter. */
static void sincos_1d(int quarter, double x, float *out)
{
    for (int k = 0; k < quarter; k++) {
        double w = 1.0 / pow(10000.0, (double)k / quarter);
        out[k] = (float)sin(x * w);
        out[quarter + k] = (float)cos(x * w);
    }
}

void sd3_sincos_embed(int dim, double row_x, double col_x, float *out)
{
    const int quarter = dim / 4;
    sincos_1d(quarter, col_x, out); /* diffusers' meshgrid puts the column first */
    sincos_1d(quarter, row_x, out + 2 * quarter);
}

static void entry(const Sd3PosTable *t, int64_t index, float *out)
{
    const size_t elem = rd_dtype_size(t->dtype);
    rd_convert_to_f32(t->dtype, (const guint8 *)t->data + (size_t)index * t->dim * elem, out,
                      (size_t)t->dim);
}

/* Half a unit in the last place of a value below 1 in magnitude, doubled for safety. */
static double rounding_of(RdDType dtype)
{
    switch (dtype) {
    case RD_BF16:
        return 0x1p-8;
    case RD_F16:
        return 0x1p-10;
    case RD_F8_E4M3:
        return 0x1p-3;
    case RD_F8_E5M2:
        return 0x1p-2;
    default:
        return 1e-6; /* f32: sin and cos rounded once, coordinates as diffusers computes them */
    }
}

/* Compares every entry with the formula as diffusers computes it: coordinates float32(index)
 * divided by float32(size / base) in float32, the sines in double. The formula is separable, so
 * the one-axis embeddings are computed once. */
static gboolean matches_formula(const Sd3PosTable *t, double base)
{
    const double tol = rounding_of(t->dtype);
    const int half = t->dim / 2;
    const float div = (float)(t->size / base);
    g_autofree float *axis = g_new(float, (size_t)t->size *half);
    for (int i = 0; i < t->size; i++)
        sincos_1d(t->dim / 4, (double)((float)i / div), axis + (size_t)i * half);
    g_autofree float *file = g_new(float, t->dim);
    for (int i = 0; i < t->size; i++)
        for (int j = 0; j < t->size; j++) {
            entry(t, (int64_t)i * t->size + j, file);
            const float *col = axis + (size_t)j * half, *row = axis + (size_t)i * half;
            for (int c = 0; c < half; c++)
                if (!(fabs(file[c] - col[c]) <= tol && fabs(file[half + c] - row[c]) <= tol))
                    return FALSE;
        }
    return TRUE;
}

void sd3_pos_table_open(Sd3PosTable *t, const void *data, RdDType dtype, int size, int dim)
{
    *t = (Sd3PosTable){data, dtype, size, dim, FALSE, 0.0};
    if (size < 2 || dim < 4 || dim % 4)
        return;
    /* Entry (0, 1) starts with sin(s): s, and with it the base, comes from the table. */
    g_autofree float *e = g_new(float, dim);
    entry(t, 1, e);
    if (!(fabs(e[0]) < 1.0))
        return;
    double base = round(asin(e[0]) * size);
    if (base < 1 || base > size || !matches_formula(t, base))
        return;
    t->sincos = TRUE;
    t->scale = base / size;
}

/* Bilinear between the entries around (r, c); on an entry's row or column the other weight is 0
 * and the entry comes back exactly. */
static void bilinear(const Sd3PosTable *t, double r, double c, float *out, float *tmp)
{
    const int r0 = (int)floor(r), c0 = (int)floor(c);
    const int r1 = MIN(r0 + 1, t->size - 1), c1 = MIN(c0 + 1, t->size - 1);
    const double fr = r - r0, fc = c - c0;
    const int rows[2] = {r0, r1}, cols[2] = {c0, c1};
    const double wr[2] = {1.0 - fr, fr}, wc[2] = {1.0 - fc, fc};
    g_autofree double *acc = g_new0(double, t->dim);
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) {
            double w = wr[a] * wc[b];
            if (w == 0.0)
                continue;
            entry(t, (int64_t)rows[a] * t->size + cols[b], tmp);
            for (int k = 0; k < t->dim; k++)
                acc[k] += w * tmp[k];
        }
    for (int k = 0; k < t->dim; k++)
        out[k] = (float)acc[k];
}

gboolean sd3_pos_table_read(const Sd3PosTable *t, const float *points, int64_t n, float *out,
                            GError **error)
{
    g_autofree float *tmp = g_new(float, t->dim);
    for (int64_t p = 0; p < n; p++) {
        const double r = points[2 * p], c = points[2 * p + 1];
        float *o = out + p * t->dim;
        const gboolean inside = r >= 0 && c >= 0 && r <= t->size - 1 && c <= t->size - 1;
        if (!inside && !t->sincos) {
            g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_INVALID_ARGUMENT,
                        "position (%g, %g) lies outside this SD3 model's %d x %d learned position "
                        "table",
                        r, c, t->size, t->size);
            return FALSE;
        }
        if (!inside) /* a sin-cos table continues beyond its entries by its formula */
            sd3_sincos_embed(t->dim, r * t->scale, c * t->scale, o);
        else if (r == floor(r) && c == floor(c))
            entry(t, (int64_t)r * t->size + (int64_t)c, o);
        else if (t->sincos)
            sd3_sincos_embed(t->dim, r * t->scale, c * t->scale, o);
        else
            bilinear(t, r, c, o, tmp);
    }
    return TRUE;
}
