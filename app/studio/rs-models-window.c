#include "config.h"

#include <glib/gi18n.h>

#include "resdit.h"
#include "rs-models-window.h"

struct _RsModelsWindow {
    AdwPreferencesWindow parent_instance;

    AdwPreferencesGroup *models_group;
    AdwActionRow *no_models_row;
    AdwPreferencesPage *help_page;
};

G_DEFINE_FINAL_TYPE(RsModelsWindow, rs_models_window, ADW_TYPE_PREFERENCES_WINDOW)

static void open_folder(GtkButton *button, RsModelsWindow *self)
{
    const char *folder = g_object_get_data(G_OBJECT(button), "folder");
    g_autoptr(GFile) file = g_file_new_for_path(folder);
    g_autofree char *uri = g_file_get_uri(file);
    gtk_show_uri(GTK_WINDOW(self), uri, GDK_CURRENT_TIME);
}

/* The folder a model lives in: its root, else its transformer's folder. */
static char *model_folder(const ResditModelPaths *p)
{
    if (p->root != NULL)
        return g_strdup(p->root);
    return p->transformer != NULL ? g_path_get_dirname(p->transformer) : NULL;
}

static void add_part_row(AdwExpanderRow *expander, const char *title, const char *path)
{
    AdwActionRow *row = ADW_ACTION_ROW(adw_action_row_new());
    adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), title);
    adw_action_row_set_subtitle(row, path != NULL ? path : _("Missing"));
    if (path == NULL)
        gtk_widget_add_css_class(GTK_WIDGET(row), "error");
    adw_expander_row_add_row(expander, GTK_WIDGET(row));
}

static void add_searched_row(AdwExpanderRow *expander, const char *title, char **dirs)
{
    if (dirs == NULL || dirs[0] == NULL)
        return;
    g_autofree char *list = g_strjoinv("\n", dirs);
    add_part_row(expander, title, list);
}

static GtkWidget *model_row(RsModelsWindow *self, const ResditModelPaths *p)
{
    AdwExpanderRow *expander = ADW_EXPANDER_ROW(adw_expander_row_new());
    adw_preferences_row_set_title(ADW_PREFERENCES_ROW(expander), p->name);
    g_autofree char *missing = resdit_model_paths_missing(p);
    /* Translators: the parts a model lacks ("vae, t5-tokenizer") */
    g_autofree char *lacks = missing != NULL ? g_strdup_printf(_("Missing: %s"), missing) : NULL;
    adw_expander_row_set_subtitle(expander, missing != NULL ? lacks : _("Complete"));
    g_autofree char *folder = model_folder(p);
    if (folder != NULL) {
        GtkWidget *button = gtk_button_new_from_icon_name("folder-open-symbolic");
        gtk_widget_set_tooltip_text(button, _("Open the Model’s Folder"));
        gtk_widget_set_valign(button, GTK_ALIGN_CENTER);
        gtk_widget_add_css_class(button, "flat");
        g_object_set_data_full(G_OBJECT(button), "folder", g_steal_pointer(&folder), g_free);
        g_signal_connect(button, "clicked", G_CALLBACK(open_folder), self);
        adw_expander_row_add_action(expander, button);
    }
    add_part_row(expander, _("Transformer"), p->transformer);
    add_part_row(expander, _("VAE"), p->vae);
    add_part_row(expander, _("CLIP-L Text Encoder"), p->clip_l);
    add_part_row(expander, _("T5-XXL Text Encoder"), p->t5);
    if (p->t5 != NULL && (p->t5_tokenizer != NULL || p->t5_tokenizer_searched != NULL))
        add_part_row(expander, _("T5 Tokenizer"), p->t5_tokenizer);
    add_searched_row(expander, _("Looked for the Missing Parts In"), p->searched);
    add_searched_row(expander, _("Looked for a T5 Tokenizer In"), p->t5_tokenizer_searched);
    return GTK_WIDGET(expander);
}

static void rs_models_window_class_init(RsModelsWindowClass *klass)
{
    GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
    gtk_widget_class_set_template_from_resource(widget_class,
                                                "/io/github/resdit/Studio/rs-models-window.ui");
    gtk_widget_class_bind_template_child(widget_class, RsModelsWindow, models_group);
    gtk_widget_class_bind_template_child(widget_class, RsModelsWindow, no_models_row);
    gtk_widget_class_bind_template_child(widget_class, RsModelsWindow, help_page);
}

static void rs_models_window_init(RsModelsWindow *self)
{
    gtk_widget_init_template(GTK_WIDGET(self));
}

GtkWidget *rs_models_window_new(GtkWindow *parent, GPtrArray *discovered)
{
    RsModelsWindow *self = g_object_new(RS_TYPE_MODELS_WINDOW, "transient-for", parent, NULL);
    guint n = discovered != NULL ? discovered->len : 0;
    gtk_widget_set_visible(GTK_WIDGET(self->no_models_row), n == 0);
    for (guint i = 0; i < n; i++)
        adw_preferences_group_add(self->models_group,
                                  model_row(self, g_ptr_array_index(discovered, i)));
    return GTK_WIDGET(self);
}

void rs_models_window_show_help(RsModelsWindow *self)
{
    adw_preferences_window_set_visible_page(ADW_PREFERENCES_WINDOW(self),
                                            ADW_PREFERENCES_PAGE(self->help_page));
}
