/* Helpers of the text tests: golden files under tests/data/text. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdint.h>

#include "backend.h"

/* Path of tests/data/text/<name> (free with g_free). */
char *tt_path(const char *name);
/* Parses tests/data/text/<name>; aborts the test when it is missing. */
JsonParser *tt_load_json(const char *name);
/* Asserts that got[0..n) equals the JSON array of integers want, naming the prompt. */
void tt_assert_ids(const char *what, int index, const char *prompt, const int32_t *got, int n,
                   JsonArray *want);
/* The backend named by $RESDIT_TEST_BACKEND ("cuda"; default the CPU reference). NULL after
 * g_test_skip() when that backend cannot run here. */
RdBackend *tt_backend_new(void);
/* The arithmetic bound (test-util.h) for two f32 evaluations of the tiny text encoders under
 * tests/data/text/tiny: 2 layers of six reductions each (q, k, v, scores, values, output, and two
 * MLP linears counted as the longest path: qkv, scores, values, output, fc1, fc2), the embedding
 * and the final norm's projection, the longest reduction over the 512 T5 tokens. */
double tt_encoder_bound(void);
