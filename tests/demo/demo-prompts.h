/* Prompts of the demo model's tests and benchmark (bench/bench-demo.c): seed s uses
 * demo_prompt(s), so a test seed and a benchmark seed draw the same picture. */
#pragma once

#include <glib.h>

/* Captions in the form tools/demo/scenes.py writes them, over its colours and counts; seed s
 * uses caption (s - 1) mod 8. */
static const char *const demo_prompts[] = {
    "a yellow sun in a blue sky over green hills by a lake, one house with a red roof, two trees",
    "an orange sun in a pale sky over grey mountains, three trees",
    "a red sun in a purple sky over olive hills by a sea, two houses with grey roofs",
    "a white moon in a night sky over dark green hills, one house with a blue roof, one tree",
    "a yellow sun in a purple sky over blue mountains by a lake, four trees",
    "an orange sun in a blue sky over brown hills, two houses with red roofs, one tree",
    "a red sun in a pale sky over green hills by a lake, three houses with blue roofs",
    /* one literal: clang warns about concatenated literals in an array */
    "a yellow sun in a pale sky over purple mountains by a sea, one house with a grey roof, two trees",
};

static inline const char *demo_prompt(guint64 seed)
{
    return demo_prompts[(seed + G_N_ELEMENTS(demo_prompts) - 1) % G_N_ELEMENTS(demo_prompts)];
}
