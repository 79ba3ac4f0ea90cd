/* Fuzz target for reading parameters back from a PNG: the engine's reader (libpng, every text
 * chunk, then the "resdit" JSON record) and the app's chunk scanner (rd_png_read_text, used to
 * import parameters without decoding the image). */
#include "fuzz-util.h"

#include "resdit.h"
#include "png_text.h"

static void parse_record(const char *json)
{
    ResditJobParams p;
    resdit_job_params_init(&p);
    GError *error = NULL;
    gboolean ok = resdit_job_params_from_json(&p, json, &error);
    g_assert(ok == (error == NULL));
    g_clear_error(&error);
    resdit_job_params_clear(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *path = fuzz_write("image.png", data, size);
    GError *error = NULL;
    char *json = resdit_png_read_parameters(path, &error);
    g_assert((json == NULL) == (error != NULL));
    g_clear_error(&error);
    if (json)
        parse_record(json);
    g_free(json);
    const char *keywords[] = {"resdit", "parameters"};
    for (size_t i = 0; i < G_N_ELEMENTS(keywords); i++) {
        char *text = rd_png_read_text(path, keywords[i], &error);
        g_assert((text == NULL) == (error != NULL));
        g_assert(text == NULL || g_utf8_validate(text, -1, NULL));
        g_clear_error(&error);
        if (text && i == 0)
            parse_record(text);
        g_free(text);
    }
    return 0;
}
