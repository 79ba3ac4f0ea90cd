/* ui suite: the Models window lists what discovery found, with where every part comes from or
 * what a model lacks and where it was looked for, a button per model folder, and the "Where to
 * Get FLUX" page, also reached from the model notice. */
#include "config.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <string.h>

#include "rs-models-window.h"
#include "rs-window.h"
#include "ui-test-util.h"

static char *data_path(const char *rel)
{
    return g_test_build_filename(G_TEST_DIST, "..", "data", rel, NULL);
}

static void copy_folder(const char *src_rel, const char *dst)
{
    g_autofree char *src = data_path(src_rel);
    g_assert_cmpint(g_mkdir_with_parents(dst, 0755), ==, 0);
    g_autoptr(GDir) d = g_dir_open(src, 0, NULL);
    g_assert_nonnull(d);
    const char *name;
    while ((name = g_dir_read_name(d))) {
        g_autofree char *from = g_build_filename(src, name, NULL);
        g_autofree char *to = g_build_filename(dst, name, NULL);
        g_autofree char *bytes = NULL;
        gsize len;
        g_assert_true(g_file_get_contents(from, &bytes, &len, NULL));
        g_assert_true(g_file_set_contents(to, bytes, (gssize)len, NULL));
    }
}

static void write_index(const char *root)
{
    g_autofree char *index = g_build_filename(root, "model_index.json", NULL);
    g_assert_cmpint(g_mkdir_with_parents(root, 0755), ==, 0);
    g_assert_true(g_file_set_contents(index, "{\"_class_name\": \"FluxPipeline\"}", -1, NULL));
}

/* A complete tiny model and one whose VAE and text encoders are still downloading. */
static void lay_out_models(const char *dir, char **complete, char **partial)
{
    *complete = g_build_filename(dir, "flux-tiny", NULL);
    write_index(*complete);
    const struct {
        const char *src, *sub;
    } parts[] = {{"pipeline/transformer", "transformer"}, {"vae/diffusers", "vae"},
                 {"text/tiny/text_encoder", "text_encoder"},
                 {"text/tiny/text_encoder_2", "text_encoder_2"},
                 {"text/tiny/tokenizer", "tokenizer"},
                 {"text/tiny/tokenizer_2", "tokenizer_2"}};
    for (size_t i = 0; i < G_N_ELEMENTS(parts); i++) {
        g_autofree char *dst = g_build_filename(*complete, parts[i].sub, NULL);
        copy_folder(parts[i].src, dst);
    }
    *partial = g_build_filename(dir, "flux-downloading", NULL);
    write_index(*partial);
    g_autofree char *transformer = g_build_filename(*partial, "transformer", NULL);
    copy_folder("pipeline/transformer", transformer);
}

static gboolean menu_has_items(gpointer data)
{
    return g_menu_model_get_n_items(G_MENU_MODEL(data)) >= 2;
}

/* Every expander row under widget, depth first. */
static void collect_expanders(GtkWidget *widget, GPtrArray *out)
{
    if (ADW_IS_EXPANDER_ROW(widget))
        g_ptr_array_add(out, widget);
    for (GtkWidget *c = gtk_widget_get_first_child(widget); c; c = gtk_widget_get_next_sibling(c))
        collect_expanders(c, out);
}

static AdwExpanderRow *row_titled(GPtrArray *rows, const char *needle)
{
    for (guint i = 0; i < rows->len; i++) {
        const char *title = adw_preferences_row_get_title(g_ptr_array_index(rows, i));
        if (strstr(title, needle))
            return g_ptr_array_index(rows, i);
    }
    g_error("no model row titled like %s", needle);
}

/* The labels of widget's descendants, joined, to find a path or a word in a row. */
static void collect_text(GtkWidget *widget, GString *out)
{
    if (GTK_IS_LABEL(widget))
        g_string_append_printf(out, "%s\n", gtk_label_get_label(GTK_LABEL(widget)));
    for (GtkWidget *c = gtk_widget_get_first_child(widget); c; c = gtk_widget_get_next_sibling(c))
        collect_text(c, out);
}

static gboolean has_folder_button(GtkWidget *widget)
{
    if (GTK_IS_BUTTON(widget) &&
        g_strcmp0(gtk_button_get_icon_name(GTK_BUTTON(widget)), "folder-open-symbolic") == 0)
        return TRUE;
    for (GtkWidget *c = gtk_widget_get_first_child(widget); c; c = gtk_widget_get_next_sibling(c))
        if (has_folder_button(c))
            return TRUE;
    return FALSE;
}

static void test_models_window(void)
{
    g_autofree char *dir = g_dir_make_tmp("rs-models-window-XXXXXX", NULL);
    g_autofree char *complete = NULL, *partial = NULL;
    lay_out_models(dir, &complete, &partial);
    GSettings *settings = g_settings_new("io.github.resdit.Studio");
    const char *folders[] = {complete, partial, NULL};
    g_settings_set_strv(settings, "model-folders", folders);

    RsApplication *app = ui_test_application();
    RsWindow *window = rs_window_new(app);
    g_object_ref(window);
    ui_test_present(GTK_WINDOW(window));
    GMenuModel *section = ui_test_child(window, RS_TYPE_WINDOW, "model_folders_section");
    g_assert_true(ui_test_wait_until(menu_has_items, section, 20000));

    gtk_widget_activate_action(GTK_WIDGET(window), "win.show-models", NULL);
    GtkWindow *models = ui_test_wait_for_toplevel(RS_TYPE_MODELS_WINDOW, 5000);
    g_assert_nonnull(models);
    g_object_ref(models);
    g_assert_true(gtk_window_get_transient_for(models) == GTK_WINDOW(window));
    g_autoptr(GPtrArray) rows = g_ptr_array_new();
    collect_expanders(GTK_WIDGET(models), rows);
    g_assert_cmpuint(rows->len, >=, 2);

    AdwExpanderRow *ok = row_titled(rows, "flux-tiny");
    g_assert_cmpstr(adw_expander_row_get_subtitle(ok), ==, _("Complete"));
    g_assert_true(has_folder_button(GTK_WIDGET(ok)));
    g_autoptr(GString) ok_text = g_string_new(NULL);
    collect_text(GTK_WIDGET(ok), ok_text);
    g_assert_nonnull(strstr(ok_text->str, "flux-tiny/vae"));
    g_assert_nonnull(strstr(ok_text->str, "flux-tiny/text_encoder_2"));

    AdwExpanderRow *lacking = row_titled(rows, "flux-downloading");
    g_assert_true(g_str_has_prefix(adw_expander_row_get_subtitle(lacking), "Missing: vae"));
    adw_expander_row_set_expanded(lacking, TRUE);
    g_autoptr(GString) lacking_text = g_string_new(NULL);
    collect_text(GTK_WIDGET(lacking), lacking_text);
    g_assert_nonnull(strstr(lacking_text->str, _("Missing")));
    g_assert_nonnull(strstr(lacking_text->str, _("Looked for the Missing Parts In")));
    g_assert_nonnull(strstr(lacking_text->str, partial));
    gtk_test_widget_wait_for_draw(GTK_WIDGET(models));
    g_free(ui_test_screenshot(GTK_WIDGET(models), "models-window"));
    gtk_window_destroy(models);
    g_object_unref(models);

    /* The notice's button opens the same window on the help page. */
    gtk_widget_activate_action(GTK_WIDGET(window), "win.show-models-help", NULL);
    GtkWindow *help_window = ui_test_wait_for_toplevel(RS_TYPE_MODELS_WINDOW, 5000);
    g_assert_nonnull(help_window);
    AdwPreferencesPage *page =
        adw_preferences_window_get_visible_page(ADW_PREFERENCES_WINDOW(help_window));
    g_assert_cmpstr(adw_preferences_page_get_title(page), ==, _("Where to Get FLUX"));
    g_autoptr(GString) help = g_string_new(NULL);
    collect_text(GTK_WIDGET(page), help);
    g_assert_nonnull(strstr(help->str, "flux1-dev.safetensors"));
    g_assert_nonnull(strstr(help->str, "t5_tokenizer"));
    gtk_test_widget_wait_for_draw(GTK_WIDGET(help_window));
    g_free(ui_test_screenshot(GTK_WIDGET(help_window), "models-window-help"));
    gtk_window_destroy(help_window);

    g_settings_reset(settings, "model-folders");
    g_settings_reset(settings, "model");
    g_object_unref(settings);
    gtk_window_destroy(GTK_WINDOW(window));
    ui_test_spin(50);
    g_object_unref(window);
}

int main(int argc, char **argv)
{
    ui_test_init(&argc, &argv);
    g_test_add_func("/models-window/found-and-help", test_models_window);
    return g_test_run();
}
