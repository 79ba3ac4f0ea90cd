/* Cheap previews: a 16 -> 3 affine map from latent to RGB, fitted to the model's own VAE.
 *
 * The fit decodes a 16 x 16 latent of seeded Philox noise once, averages each 8 x 8 pixel block
 * of the result, and solves the least-squares problem RGB ~ A [z; 1] over the 256 positions
 * (normal equations with a small ridge). This needs no table per VAE and works for the self-test
 * model as for FLUX; it is a rough colour map, not a decoder. */
#include <math.h>
#include <string.h>

#include "noise.h"
#include "pipeline-private.h"

#define FIT_SIDE 16
#define FIT_SEED 0x5eedf17ULL

/* Solves the symmetric positive system m x = b (n x n) by Cholesky; FALSE if not positive. */
static gboolean cholesky_solve(double *m, double *b, int n)
{
    for (int j = 0; j < n; j++) {
        double d = m[j * n + j];
        for (int k = 0; k < j; k++)
            d -= m[j * n + k] * m[j * n + k];
        if (d <= 0)
            return FALSE;
        m[j * n + j] = sqrt(d);
        for (int i = j + 1; i < n; i++) {
            double s = m[i * n + j];
            for (int k = 0; k < j; k++)
                s -= m[i * n + k] * m[j * n + k];
            m[i * n + j] = s / m[j * n + j];
        }
    }
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < i; k++)
            b[i] -= m[i * n + k] * b[k];
        b[i] /= m[i * n + i];
    }
    for (int i = n - 1; i >= 0; i--) {
        for (int k = i + 1; k < n; k++)
            b[i] -= m[k * n + i] * b[k];
        b[i] /= m[i * n + i];
    }
    return TRUE;
}

gboolean rd_preview_fit_projection(ResditModel *model, GError **error)
{
    g_mutex_lock(&model->preview_lock);
    gboolean ok = model->have_projection;
    if (ok) {
        g_mutex_unlock(&model->preview_lock);
        return TRUE;
    }
    const int C = rd_vae_config(model->vae)->latent_channels, n = FIT_SIDE * FIT_SIDE;
    const int D = C + 1, side = FIT_SIDE * 8;
    float *z = g_new(float, (size_t)C *n), *rgb = g_new(float, (size_t)side *side * 3);
    rd_noise_normal(FIT_SEED, z, (size_t)C * n);
    ok = C == 16 && rd_vae_decode(model->vae, z, FIT_SIDE, FIT_SIDE, 0, rgb, NULL, error);
    if (C != 16)
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_MODEL, "Previews need 16 latent channels");
    double *ata = g_new0(double, D *D), *atb = g_new0(double, D * 3), *col = g_new(double, D);
    for (int p = 0; ok && p < n; p++) {
        int py = p / FIT_SIDE, px = p % FIT_SIDE;
        double target[3] = {0, 0, 0};
        for (int dy = 0; dy < 8; dy++)
            for (int dx = 0; dx < 8; dx++)
                for (int c = 0; c < 3; c++)
                    target[c] += rgb[((size_t)(py * 8 + dy) * side + px * 8 + dx) * 3 + c] / 64.0;
        for (int i = 0; i < C; i++)
            col[i] = z[(size_t)i * n + p];
        col[C] = 1.0;
        for (int i = 0; i < D; i++) {
            for (int j = 0; j < D; j++)
                ata[i * D + j] += col[i] * col[j];
            for (int c = 0; c < 3; c++)
                atb[c * D + i] += col[i] * target[c];
        }
    }
    for (int i = 0; ok && i < D; i++)
        ata[i * D + i] += 1e-3 * n;
    for (int c = 0; ok && c < 3; c++) {
        double *m = g_memdup2(ata, sizeof(double) * D * D);
        ok = cholesky_solve(m, atb + c * D, D);
        g_free(m);
        for (int i = 0; ok && i < D; i++)
            model->projection[c][i] = (float)atb[c * D + i];
    }
    model->have_projection = ok;
    g_free(ata);
    g_free(atb);
    g_free(col);
    g_free(z);
    g_free(rgb);
    g_mutex_unlock(&model->preview_lock);
    return ok;
}

static guint8 to_byte(float v)
{
    float x = (v + 1.0f) * 127.5f;
    return (guint8)CLAMP(lrintf(x), 0, 255);
}

guint8 *rd_preview_render(ResditModel *model, const float *latent, int height, int width,
                          int max_side, int *out_w, int *out_h)
{
    /* One preview pixel per latent pixel at most, box-averaged down to max_side. */
    int longer = MAX(height, width), factor = 1;
    if (max_side > 0)
        while (longer / factor > max_side)
            factor++;
    const int w = MAX(1, width / factor), h = MAX(1, height / factor);
    const size_t plane = (size_t)height * width;
    guint8 *rgb = g_new(guint8, (size_t)w * h * 3);
#pragma omp parallel for schedule(static) if ((size_t)w * h > 4096)
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            float acc[3] = {0, 0, 0};
            for (int dy = 0; dy < factor; dy++) {
                for (int dx = 0; dx < factor; dx++) {
                    size_t p = (size_t)(y * factor + dy) * width + x * factor + dx;
                    for (int c = 0; c < 3; c++) {
                        float v = model->projection[c][16];
                        for (int i = 0; i < 16; i++)
                            v += model->projection[c][i] * latent[i * plane + p];
                        acc[c] += v;
                    }
                }
            }
            for (int c = 0; c < 3; c++)
                rgb[((size_t)y * w + x) * 3 + c] = to_byte(acc[c] / (factor * factor));
        }
    }
    *out_w = w;
    *out_h = h;
    return rgb;
}
