#include "text_scratch.h"

#include "resdit.h"

void rd_scratch_init(RdScratch *s, RdBackend *backend)
{
    *s = (RdScratch){.backend = backend};
}

gboolean rd_scratch_alloc(RdScratch *s, RdTensor *t, int64_t rows, int64_t cols, const char *what,
                          GError **error)
{
    g_assert(s->count < (int)G_N_ELEMENTS(s->tensors));
    if (!s->backend->tensor_alloc(s->backend, t, rows, cols)) {
        g_set_error(error, RESDIT_ERROR, RESDIT_ERROR_OUT_OF_MEMORY,
                    "Not enough %s memory for the %s activations (%" G_GINT64_FORMAT
                    " x %" G_GINT64_FORMAT ")",
                    s->backend->name, what, rows, cols);
        return FALSE;
    }
    s->tensors[s->count++] = t;
    s->bytes += (size_t)(rows * cols) * sizeof(float);
    return TRUE;
}

void rd_scratch_free(RdScratch *s)
{
    for (int i = 0; i < s->count; i++)
        s->backend->tensor_free(s->backend, s->tensors[i]);
    s->count = 0;
}
