/* ui suite: the LoRA list of the parameters panel. A LoRA in a model folder is listed, off; its
 * switch and strength go into the job, the finished PNG records it; reusing parameters brings a
 * job's LoRA list back onto the rows. */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "flux_model.h"
#include "pipeline-private.h"
#include "resdit.h"
#include "rs-engine-params.h"
#include "rs-lora-list.h"
#include "rs-params-panel.h"
#include "rs-window.h"
#include "safetensors.h"
#include "ui-test-util.h"

typedef struct {
    UiStudio studio;
    char *lora_dir;
    char *lora_path;
} Fixture;

/* A kohya LoRA for the self-test model (img_in and the first image qkv), rank 2. */
static char *write_selftest_lora(const char *dir)
{
    g_autoptr(GError) error = NULL;
    ResditModel *m = resdit_model_open_selftest(RESDIT_BACKEND_CPU, &error);
    g_assert_no_error(error);
    const FluxConfig *c = flux_model_config(rd_denoiser_flux(m->denoiser));
    const int64_t r = 2, hidden = c->hidden;
    const struct {
        const char *name;
        int64_t rows, cols;
    } t[] = {{"lora_unet_img_in.lora_down.weight", r, c->in_channels},
             {"lora_unet_img_in.lora_up.weight", hidden, r},
             {"lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight", r, hidden},
             {"lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight", 3 * hidden, r}};
    RdSafetensorsWriter *w = rd_safetensors_writer_new();
    g_autoptr(GPtrArray) keep = g_ptr_array_new_with_free_func(g_free);
    GRand *rand = g_rand_new_with_seed(5);
    for (gsize i = 0; i < G_N_ELEMENTS(t); i++) {
        gsize n = (gsize)(t[i].rows * t[i].cols);
        float *v = g_new(float, n);
        for (gsize k = 0; k < n; k++)
            v[k] = (float)g_rand_double_range(rand, -0.4, 0.4);
        g_ptr_array_add(keep, v);
        rd_safetensors_writer_add(w, t[i].name, RD_F32, 2, (int64_t[]){t[i].rows, t[i].cols}, v);
    }
    g_rand_free(rand);
    char *path = g_build_filename(dir, "sel-style.safetensors", NULL);
    g_assert_true(rd_safetensors_writer_save(w, path, &error));
    rd_safetensors_writer_free(w);
    resdit_model_free(m);
    return path;
}

static void fixture_set_up(Fixture *f, gconstpointer data)
{
    f->lora_dir = g_dir_make_tmp("rs-loras-XXXXXX", NULL);
    f->lora_path = write_selftest_lora(f->lora_dir);
    GSettings *settings = g_settings_new("io.github.resdit.Studio");
    g_settings_set_strv(settings, "model-folders", (const char *const[]){f->lora_dir, NULL});
    g_settings_reset(settings, "loras");
    g_object_unref(settings);
    ui_studio_set_up(&f->studio, data);
}

static void fixture_tear_down(Fixture *f, gconstpointer data)
{
    ui_studio_tear_down(&f->studio, data);
    GSettings *settings = g_settings_new("io.github.resdit.Studio");
    g_settings_reset(settings, "model-folders");
    g_settings_reset(settings, "loras");
    g_object_unref(settings);
    ui_test_remove_tree(f->lora_dir);
    g_free(f->lora_dir);
    g_free(f->lora_path);
}

static RsLoraList *lora_list_of(Fixture *f)
{
    RsParamsPanel *panel = ui_test_child(f->studio.window, RS_TYPE_WINDOW, "params_panel");
    return ui_test_child(panel, RS_TYPE_PARAMS_PANEL, "lora_list");
}

/* The row titled name, found by walking the list's widgets. */
static AdwActionRow *find_row(GtkWidget *widget, const char *name)
{
    if (ADW_IS_ACTION_ROW(widget) &&
        g_strcmp0(adw_preferences_row_get_title(ADW_PREFERENCES_ROW(widget)), name) == 0)
        return ADW_ACTION_ROW(widget);
    for (GtkWidget *c = gtk_widget_get_first_child(widget); c; c = gtk_widget_get_next_sibling(c)) {
        AdwActionRow *found = find_row(c, name);
        if (found)
            return found;
    }
    return NULL;
}

static gpointer find_descendant(GtkWidget *widget, GType type)
{
    for (GtkWidget *c = gtk_widget_get_first_child(widget); c; c = gtk_widget_get_next_sibling(c)) {
        if (G_TYPE_CHECK_INSTANCE_TYPE(c, type))
            return c;
        gpointer found = find_descendant(c, type);
        if (found)
            return found;
    }
    return NULL;
}

typedef struct {
    Fixture *f;
    const char *name;
} RowWait;

static gboolean row_shown(gpointer data)
{
    RowWait *w = data;
    return find_row(GTK_WIDGET(lora_list_of(w->f)), w->name) != NULL;
}

static AdwActionRow *wait_for_row(Fixture *f, const char *name)
{
    RowWait w = {f, name};
    g_assert_true(ui_test_wait_until(row_shown, &w, 20000));
    return find_row(GTK_WIDGET(lora_list_of(f)), name);
}

static ResditJobParams params_of(Fixture *f)
{
    ResditJobParams p;
    resdit_job_params_init(&p);
    rs_engine_params_from_settings(f->studio.job, NULL, &p);
    return p;
}

static gboolean file_in(gpointer data)
{
    g_autoptr(GDir) dir = g_dir_open(data, 0, NULL);
    const char *name;
    while (dir && (name = g_dir_read_name(dir)))
        if (g_str_has_suffix(name, ".png") && name[0] != '.')
            return TRUE;
    return FALSE;
}

static char *first_png(const char *folder)
{
    g_autoptr(GDir) dir = g_dir_open(folder, 0, NULL);
    const char *name;
    while (dir && (name = g_dir_read_name(dir)))
        if (g_str_has_suffix(name, ".png") && name[0] != '.')
            return g_build_filename(folder, name, NULL);
    return NULL;
}

static void test_listed_switched_recorded(Fixture *f, gconstpointer data)
{
    AdwActionRow *row = wait_for_row(f, "sel-style");
    g_assert_cmpstr(adw_action_row_get_subtitle(row), ==, f->lora_path);
    GtkSwitch *toggle = find_descendant(GTK_WIDGET(row), GTK_TYPE_SWITCH);
    GtkRange *scale = find_descendant(GTK_WIDGET(row), GTK_TYPE_RANGE);
    g_assert_nonnull(toggle);
    g_assert_nonnull(scale);
    /* Found in a folder: listed, off, and not part of the job. */
    g_assert_false(gtk_switch_get_active(toggle));
    g_assert_false(gtk_widget_get_sensitive(GTK_WIDGET(scale)));
    ResditJobParams p = params_of(f);
    g_assert_cmpint(p.n_loras, ==, 0);
    resdit_job_params_clear(&p);

    gtk_switch_set_active(toggle, TRUE);
    gtk_range_set_value(scale, 0.6);
    g_assert_true(gtk_widget_get_sensitive(GTK_WIDGET(scale)));
    g_free(ui_test_screenshot(GTK_WIDGET(lora_list_of(f)), "loras-on"));
    p = params_of(f);
    g_assert_cmpint(p.n_loras, ==, 1);
    g_assert_cmpstr(p.loras[0].path, ==, f->lora_path);
    g_assert_cmpfloat_with_epsilon(p.loras[0].strength, 0.6, 1e-12);
    g_assert_true(p.loras[0].enabled);
    resdit_job_params_clear(&p);

    /* A real job with it: the PNG's record names the LoRA and its strength. */
    g_object_set(f->studio.job, "prompt", "a boat", "aspect", "custom", NULL);
    g_object_set(f->studio.job, "custom-width", 256, "custom-height", 256, "steps", 2,
                 "global-steps", 0, "local-steps", 0, "random-seed", FALSE, "seed", 3, NULL);
    f->studio.finished = FALSE;
    g_assert_true(gtk_widget_activate_action(GTK_WIDGET(f->studio.window), "win.generate", NULL));
    g_assert_true(ui_test_wait_until(ui_studio_job_finished, &f->studio, 60000));
    g_assert_true(ui_test_wait_until(file_in, f->studio.output, 10000));
    g_autofree char *png = first_png(f->studio.output);
    g_autoptr(GError) error = NULL;
    g_autofree char *json = resdit_png_read_parameters(png, &error);
    g_assert_no_error(error);
    ResditJobParams recorded;
    resdit_job_params_init(&recorded);
    g_assert_true(resdit_job_params_from_json(&recorded, json, &error));
    g_assert_no_error(error);
    g_assert_cmpint(recorded.n_loras, ==, 1);
    g_assert_cmpstr(recorded.loras[0].path, ==, f->lora_path);
    g_assert_cmpfloat_with_epsilon(recorded.loras[0].strength, 0.6, 1e-12);
    resdit_job_params_clear(&recorded);
}

/* "Reuse parameters" of a job with two LoRAs (one off, one from a folder nobody lists) shows
 * exactly that list; switching the second off keeps it in the list (it would be lost). */
static void test_reuse_brings_list_back(Fixture *f, gconstpointer data)
{
    wait_for_row(f, "sel-style");
    g_autofree char *elsewhere = g_build_filename(f->lora_dir, "sub", "other-style.safetensors",
                                                  NULL);
    ResditJobParams p;
    resdit_job_params_init(&p);
    rs_engine_params_from_settings(f->studio.job, NULL, &p);
    resdit_job_params_add_lora(&p, f->lora_path, 0.3, FALSE);
    resdit_job_params_add_lora(&p, elsewhere, -0.5, TRUE);
    rs_engine_params_apply(f->studio.job, &p);
    resdit_job_params_clear(&p);

    AdwActionRow *row = wait_for_row(f, "sel-style");
    GtkRange *scale = find_descendant(GTK_WIDGET(row), GTK_TYPE_RANGE);
    g_assert_false(gtk_switch_get_active(find_descendant(GTK_WIDGET(row), GTK_TYPE_SWITCH)));
    g_assert_cmpfloat_with_epsilon(gtk_range_get_value(scale), 0.3, 1e-9);
    AdwActionRow *other = wait_for_row(f, "other-style");
    GtkSwitch *other_toggle = find_descendant(GTK_WIDGET(other), GTK_TYPE_SWITCH);
    g_assert_true(gtk_switch_get_active(other_toggle));
    g_assert_cmpfloat_with_epsilon(
        gtk_range_get_value(find_descendant(GTK_WIDGET(other), GTK_TYPE_RANGE)), -0.5, 1e-9);
    g_free(ui_test_screenshot(GTK_WIDGET(lora_list_of(f)), "loras-reused"));

    gtk_switch_set_active(other_toggle, FALSE);
    ResditJobParams now = params_of(f);
    g_assert_cmpint(now.n_loras, ==, 1);
    g_assert_cmpstr(now.loras[0].path, ==, elsewhere);
    g_assert_false(now.loras[0].enabled);
    resdit_job_params_clear(&now);
}

int main(int argc, char **argv)
{
    ui_test_init(&argc, &argv);
    g_test_add("/loras/listed-switched-recorded", Fixture, NULL, fixture_set_up,
               test_listed_switched_recorded, fixture_tear_down);
    g_test_add("/loras/reuse-brings-list-back", Fixture, NULL, fixture_set_up,
               test_reuse_brings_list_back, fixture_tear_down);
    return g_test_run();
}
