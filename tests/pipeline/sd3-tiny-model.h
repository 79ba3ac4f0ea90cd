/* The tiny SD3 model the SD3 generation tests share (tools/reference/make_sd3_generate_goldens.py
 * describes it): a diffusers SD3 root assembled in a temporary folder from tests/data: the tiny
 * SD3 text encoders and tokenizers, the tiny T5 tokenizer, the tiny SD3 transformer and the tiny
 * VAE with SD3's latent constants. Used by unit and ui tests (no GTK here). */
#pragma once

#include <glib.h>

/* data_dir: the tests/data folder; top: where to make it; base_size: its resdit.json base size.
 * Returns the model root (g_free). Aborts the test on any failure. */
char *sd3_tiny_model_assemble(const char *data_dir, const char *top, int base_size);
