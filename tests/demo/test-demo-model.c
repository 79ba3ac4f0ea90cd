/* The demo model (data/models/resdit-demo, docs/DEMO_MODEL.md): found by discovery, opened
 * through the ordinary path quickly, its base size taken from its resdit.json, and its pictures
 * at the base size hold one sun for fixed seeds. Counts, not pixels, so the checks hold across
 * BLAS kernels and thread counts. The sun detector is checked first on drawn pictures. At 4x the
 * base size these weights keep one sun in no variant (bench/RESULTS.md), so nothing is claimed
 * there. */
#include <stdlib.h>
#include <string.h>

#include "resdit.h"
#include "demo-prompts.h"
#include "sun-detector.h"


/* ---- the detector on drawn pictures --------------------------------------------------------- */

static guint8 *sky(int w, int h)
{
    guint8 *rgb = g_new(guint8, (size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            guint8 *p = rgb + ((size_t)y * w + x) * 3;
            p[0] = (guint8)(40 + 110 * y / h); /* the scenes' blue sky */
            p[1] = (guint8)(90 + 110 * y / h);
            p[2] = (guint8)(190 + 50 * y / h);
        }
    return rgb;
}

static void disc(guint8 *rgb, int w, int h, int cx, int cy, int r, guint8 cr, guint8 cg, guint8 cb)
{
    for (int y = MAX(0, cy - r); y < MIN(h, cy + r + 1); y++)
        for (int x = MAX(0, cx - r); x < MIN(w, cx + r + 1); x++)
            if ((x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r) {
                guint8 *p = rgb + ((size_t)y * w + x) * 3;
                p[0] = cr, p[1] = cg, p[2] = cb;
            }
}

static void test_detector(void)
{
    const int w = 256, h = 256;
    g_autofree guint8 *empty = sky(w, h);
    g_assert_cmpint(sun_count(empty, w, h, SUN_MIN_AREA).count, ==, 0);

    g_autofree guint8 *one = sky(w, h);
    disc(one, w, h, 80, 60, 16, 255, 225, 40); /* yellow sun */
    disc(one, w, h, 200, 100, 3, 255, 150, 30); /* a speck below the minimum area */
    disc(one, w, h, 128, 200, 16, 255, 150, 30); /* a blob in the lower half */
    SunCount c = sun_count(one, w, h, SUN_MIN_AREA);
    g_assert_cmpint(c.count, ==, 1);
    g_assert_cmpint(c.largest, >, 700);

    g_autofree guint8 *two = sky(w, h);
    disc(two, w, h, 60, 50, 14, 235, 60, 40);   /* red sun */
    disc(two, w, h, 190, 70, 14, 245, 245, 205); /* moon */
    g_assert_cmpint(sun_count(two, w, h, SUN_MIN_AREA).count, ==, 2);

    /* Two touching discs are one blob. */
    g_autofree guint8 *touching = sky(w, h);
    disc(touching, w, h, 100, 60, 14, 255, 150, 30);
    disc(touching, w, h, 126, 60, 14, 255, 150, 30);
    g_assert_cmpint(sun_count(touching, w, h, SUN_MIN_AREA).count, ==, 1);
}

/* ---- the model ------------------------------------------------------------------------------ */

static ResditModelPaths *find_demo(void)
{
    g_autoptr(GPtrArray) found = resdit_models_discover(NULL);
    g_autofree char *bundled = resdit_bundled_models_dir();
    g_autofree char *root = g_build_filename(bundled, "resdit-demo", NULL);
    for (guint i = 0; i < found->len; i++) {
        ResditModelPaths *p = g_ptr_array_index(found, i);
        if (g_strcmp0(p->root, root) == 0) {
            g_assert_cmpstr(p->name, ==, "resdit-demo (built in)");
            g_assert_null(resdit_model_paths_missing(p));
            g_assert_true(i == found->len - 1); /* bundled models come last */
            return resdit_model_paths_copy(p);
        }
    }
    g_test_fail_printf("the demo model is not discovered in %s", bundled);
    return NULL;
}

static ResditModel *open_demo(double *seconds)
{
    ResditModelPaths *p = find_demo();
    if (!p)
        return NULL;
    g_autoptr(GError) error = NULL;
    gint64 t0 = g_get_monotonic_time();
    ResditModel *m = resdit_model_open(p, RESDIT_BACKEND_CPU, &error);
    if (seconds)
        *seconds = (g_get_monotonic_time() - t0) / 1e6;
    resdit_model_paths_free(p);
    g_assert_no_error(error);
    return m;
}

static void test_open(void)
{
    double seconds = 0;
    ResditModel *m = open_demo(&seconds);
    if (!m)
        return;
    g_test_message("opened in %.3f s", seconds);
    g_assert_cmpfloat(seconds, <, 1.0); /* a few MB memory-mapped; about 10 ms when idle */
    g_assert_false(resdit_model_is_selftest(m));
    g_assert_cmpint(resdit_model_base_size(m), ==, 256);
    g_assert_nonnull(resdit_model_default_prompt(m));
    ResditJobParams p;
    resdit_job_params_init(&p);
    resdit_model_job_defaults(m, &p);
    g_assert_cmpint(p.width, ==, 256);
    g_assert_cmpint(p.height, ==, 256);
    g_assert_cmpint(p.method.base_area, ==, 16 * 16);
    g_assert_cmpint(p.method.patch, ==, 16);
    g_assert_cmpint(resdit_model_default_t5_len(m), ==, 32);
    g_assert_cmpint(p.steps, ==, 16);
    g_assert_true(resdit_model_uses_cfg(m)); /* trained with dropped captions: it guides itself */
    g_assert_cmpfloat(p.guidance, ==, 4.0);
    resdit_job_params_clear(&p);
    resdit_model_free(m);
}

/* The model's defaults with the test prompt and a fixed seed. */
static void seeded_params(ResditModel *m, guint64 seed, ResditJobParams *p)
{
    resdit_job_params_init(p);
    resdit_model_job_defaults(m, p);
    g_free(p->prompt);
    p->prompt = g_strdup(demo_prompt(seed));
    p->random_seed = FALSE;
    p->seed = seed;
}

static SunCount generate(ResditModel *m, int size, guint64 seed, gboolean schedule)
{
    ResditJobParams p;
    seeded_params(m, seed, &p);
    p.width = p.height = size;
    p.schedule = schedule;
    p.fixed_mode = RESDIT_MODE_DIRECT;
    g_autoptr(GError) error = NULL;
    ResditImage *img = resdit_generate(m, &p, NULL, NULL, &error);
    g_assert_no_error(error);
    SunCount c = sun_count(img->rgb, img->width, img->height, SUN_MIN_AREA);
    g_test_message("%d px, seed %" G_GUINT64_FORMAT ", %s: %d sun(s), largest %d px, %.1f s",
                   size, seed, schedule ? "ResDiT" : "direct", c.count, c.largest,
                   img->seconds_total);
    if (g_getenv("RESDIT_DEMO_TEST_SAVE")) {
        g_autofree char *path = g_strdup_printf("%s/demo-%d-%" G_GUINT64_FORMAT "-%s.png",
                                                g_getenv("RESDIT_DEMO_TEST_SAVE"), size, seed,
                                                schedule ? "resdit" : "direct");
        resdit_image_save_png(img, path, NULL);
    }
    resdit_image_free(img);
    resdit_job_params_clear(&p);
    return c;
}

static void test_base_size_one_sun(void)
{
    ResditModel *m = open_demo(NULL);
    if (!m)
        return;
    /* Fixed seeds that draw one sun (seed 4: the moon). Not every seed does: the model is small
     * and briefly trained, and 18 of seeds 1-32 (56 %) give exactly one sun at 256 px with its
     * defaults, 16 steps and CFG scale 4 (bench/RESULTS.md). */
    static const guint64 seeds[] = {4, 7, 8, 15};
    for (size_t i = 0; i < G_N_ELEMENTS(seeds); i++) {
        SunCount c = generate(m, 256, seeds[i], TRUE);
        g_assert_cmpint(c.count, ==, 1);
    }
    resdit_model_free(m);
}

static ResditImage *generate_guided(ResditModel *m, double guidance, const char *negative)
{
    ResditJobParams p;
    seeded_params(m, 2, &p);
    p.steps = 8; /* the check holds at any step count; half the time */
    g_free(p.negative_prompt);
    p.negative_prompt = g_strdup(negative);
    p.guidance = guidance;
    g_autoptr(GError) error = NULL;
    ResditImage *img = resdit_generate(m, &p, NULL, NULL, &error);
    g_assert_no_error(error);
    resdit_job_params_clear(&p);
    return img;
}

/* Classifier-free guidance on the FLUX path ("guidance": "cfg" in the demo's resdit.json): with
 * the prompt itself as the negative prompt, v_neg + g (v_pos - v_neg) is v_pos exactly, so the
 * picture at g = 3 is the unguided one (g = 1) to the byte; with the empty negative prompt it is
 * not. */
static void test_cfg(void)
{
    ResditModel *m = open_demo(NULL);
    if (!m)
        return;
    g_assert_true(resdit_model_uses_cfg(m));
    ResditImage *plain = generate_guided(m, 1.0, NULL);
    ResditImage *same = generate_guided(m, 3.0, demo_prompt(2));
    ResditImage *guided = generate_guided(m, 3.0, "");
    const size_t n = (size_t)plain->width * plain->height * 3;
    g_assert_cmpmem(plain->rgb, n, same->rgb, n);
    double diff = 0;
    for (size_t i = 0; i < n; i++)
        diff += abs((int)plain->rgb[i] - (int)guided->rgb[i]);
    g_test_message("mean difference guided / unguided: %.1f levels", diff / n);
    g_assert_cmpfloat(diff / n, >, 2.0); /* measured 18-33 levels */
    resdit_image_free(plain);
    resdit_image_free(same);
    resdit_image_free(guided);
    resdit_model_free(m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/demo/detector", test_detector);
    g_test_add_func("/demo/open", test_open);
    g_test_add_func("/demo/base-size-one-sun", test_base_size_one_sun);
    g_test_add_func("/demo/classifier-free-guidance", test_cfg);
    return g_test_run();
}
