/* Fuzz target for the CLIP tokenizer's files: the input is vocab.json, merges.txt and
 * special_tokens_map.json separated by "\n--8<--\n". A tokenizer that loads must encode a few
 * prompts with ids inside its vocabulary. */
#include "fuzz-util.h"

#include "clip_tokenizer.h"
#include "resdit.h"

static const char *prompts[] = {"a lighthouse at dusk, oil painting", "", "caf\xc3\xa9 \xe6\x97\xa5",
                                "the the the </w> <|endoftext|>"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *parts[3];
    size_t sizes[3];
    fuzz_split(data, size, 3, parts, sizes);
    static const char *names[] = {"clip/vocab.json", "clip/merges.txt",
                                  "clip/special_tokens_map.json"};
    for (int i = 0; i < 3; i++)
        g_free(fuzz_write(names[i], parts[i], sizes[i]));
    g_autofree char *folder = g_build_filename(fuzz_dir(), "clip", NULL);
    GError *error = NULL;
    RdClipTokenizer *tok = rd_clip_tokenizer_load(folder, &error);
    g_assert((tok == NULL) == (error != NULL));
    g_clear_error(&error);
    if (!tok)
        return 0;
    int32_t ids[16];
    for (size_t i = 0; i < G_N_ELEMENTS(prompts); i++) {
        int dropped;
        if (rd_clip_tokenizer_encode(tok, prompts[i], 16, ids, &dropped, &error))
            for (int k = 0; k < 16; k++)
                g_assert(ids[k] >= 0 && ids[k] < rd_clip_tokenizer_vocab_size(tok));
        g_clear_error(&error);
    }
    rd_clip_tokenizer_free(tok);
    return 0;
}
