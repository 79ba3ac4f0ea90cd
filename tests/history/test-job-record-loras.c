/* A job's LoRA list (and its low-frequency noise) through its history row: to HistoryParams,
 * through params_json, and back into job parameters ("reuse parameters"); damaged lines are
 * skipped. */
#include <glib/gstdio.h>

#include "history-params.h"
#include "job-record.h"

static void test_round_trip(void)
{
    ResditJobParams p;
    resdit_job_params_init(&p);
    resdit_job_params_add_lora(&p, "/loras/style one.safetensors", 0.75, TRUE);
    resdit_job_params_add_lora(&p, "/loras/detail.safetensors", -1.25, FALSE);
    p.lowfreq_noise = 0.75;
    HistoryParams h;
    job_record_params_to_history(&p, "FLUX.1-dev", "fp", "cpu", &h);
    g_autofree char *json = history_params_to_json(&h);
    HistoryParams back;
    g_autoptr(GError) error = NULL;
    g_assert_true(history_params_from_json(&back, json, &error));
    g_assert_no_error(error);
    g_assert_true(history_params_equal(&h, &back));
    ResditJobParams q;
    resdit_job_params_init(&q);
    job_record_params_from_history(&back, &q);
    g_assert_cmpint(q.n_loras, ==, 2);
    g_assert_cmpstr(q.loras[0].path, ==, "/loras/style one.safetensors");
    g_assert_cmpfloat(q.loras[0].strength, ==, 0.75);
    g_assert_true(q.loras[0].enabled);
    g_assert_cmpstr(q.loras[1].path, ==, "/loras/detail.safetensors");
    g_assert_cmpfloat(q.loras[1].strength, ==, -1.25);
    g_assert_false(q.loras[1].enabled);
    g_assert_cmpfloat(q.lowfreq_noise, ==, 0.75);
    /* another list differs; a record without LoRAs (older rows) gives none */
    HistoryParams other;
    history_params_copy(&other, &h);
    g_free(other.loras);
    other.loras = g_strdup("0.75 1 /loras/style one.safetensors\n");
    g_assert_false(history_params_equal(&h, &other));
    g_free(other.loras);
    other.loras = g_strdup("nonsense\n2 7 /x\n0.5 1 /ok.safetensors\n");
    job_record_params_from_history(&other, &q);
    g_assert_cmpint(q.n_loras, ==, 1);
    g_assert_cmpstr(q.loras[0].path, ==, "/ok.safetensors");
    HistoryParams old;
    g_assert_true(history_params_from_json(&old, "{\"format\": 1, \"prompt\": \"x\"}", &error));
    job_record_params_from_history(&old, &q);
    g_assert_cmpint(q.n_loras, ==, 0);
    g_assert_cmpfloat(q.lowfreq_noise, ==, 0);
    history_params_clear(&old);
    history_params_clear(&other);
    history_params_clear(&back);
    history_params_clear(&h);
    resdit_job_params_clear(&p);
    resdit_job_params_clear(&q);
}

/* The source of an image-to-image job: path, the file's SHA-256 at the start, the strength;
 * reuse starts from the same file; older rows are text to image. */
static void test_init_image(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = g_dir_make_tmp("resdit-record-XXXXXX", &error);
    g_assert_no_error(error);
    g_autofree char *src = g_build_filename(dir, "source.png", NULL);
    g_assert_true(g_file_set_contents(src, "pixels", -1, NULL));
    ResditJobParams p;
    resdit_job_params_init(&p);
    resdit_job_params_set_init_image(&p, src, 0.35);
    HistoryParams h;
    job_record_params_to_history(&p, "FLUX.1-dev", "fp", "cpu", &h);
    g_autofree char *sha = g_compute_checksum_for_string(G_CHECKSUM_SHA256, "pixels", -1);
    g_assert_cmpstr(h.init_image, ==, src);
    g_assert_cmpstr(h.init_sha256, ==, sha);
    g_assert_cmpfloat(h.strength, ==, 0.35);
    g_autofree char *json = history_params_to_json(&h);
    HistoryParams back;
    g_assert_true(history_params_from_json(&back, json, &error));
    g_assert_true(history_params_equal(&h, &back));
    ResditJobParams q;
    resdit_job_params_init(&q);
    job_record_params_from_history(&back, &q);
    g_assert_cmpstr(q.init_image, ==, src);
    g_assert_cmpfloat(q.strength, ==, 0.35);
    HistoryParams old;
    g_assert_true(history_params_from_json(&old, "{\"format\": 1, \"prompt\": \"x\"}", &error));
    job_record_params_from_history(&old, &q);
    g_assert_null(q.init_image);
    g_assert_cmpfloat(q.strength, ==, 1.0);
    history_params_clear(&old);
    history_params_clear(&back);
    history_params_clear(&h);
    resdit_job_params_clear(&p);
    resdit_job_params_clear(&q);
    g_unlink(src);
    g_rmdir(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/job-record/loras", test_round_trip);
    g_test_add_func("/job-record/init-image", test_init_image);
    return g_test_run();
}
