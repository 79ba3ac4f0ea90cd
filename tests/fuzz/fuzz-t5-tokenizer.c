/* Fuzz target for the T5 tokenizer's files: the first byte picks tokenizer.json or spiece.model,
 * the rest is the file. A tokenizer that loads must encode a few prompts. */
#include "fuzz-util.h"

#include "resdit.h"
#include "t5_tokenizer.h"

static const char *prompts[] = {"a lighthouse at dusk, oil painting", "", "  ab  <extra_id_0> ",
                                "caf\xc3\xa9 \xef\xbc\xa1\xe2\x85\xa0"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *name = data[0] % 2 ? "t5/spiece.model" : "t5/tokenizer.json";
    g_autofree char *path = fuzz_write(name, data + 1, size - 1);
    GError *error = NULL;
    RdT5Tokenizer *tok = rd_t5_tokenizer_load(path, &error);
    g_assert((tok == NULL) == (error != NULL));
    g_clear_error(&error);
    if (!tok)
        return 0;
    int32_t ids[16];
    for (size_t i = 0; i < G_N_ELEMENTS(prompts); i++) {
        if (rd_t5_tokenizer_encode(tok, prompts[i], 16, ids, NULL, &error))
            for (int k = 0; k < 16; k++)
                g_assert(ids[k] >= 0);
        g_clear_error(&error);
    }
    rd_t5_tokenizer_free(tok);
    return 0;
}
