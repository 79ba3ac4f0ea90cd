/* RsHistorySidebar: a GtkListView over RsHistoryModel, built in code; see the header. */
#include "rs-history-sidebar.h"

#include <glib/gi18n.h>

#define THUMBNAIL_SIZE 64

struct _RsHistorySidebar {
    GtkBox parent_instance;
    RsHistoryModel *model;
    GtkSingleSelection *selection;
    GtkSearchEntry *search_entry;
    GtkListView *list_view;
    GtkStack *stack;
    AdwStatusPage *empty_page;
};

G_DEFINE_FINAL_TYPE(RsHistorySidebar, rs_history_sidebar, GTK_TYPE_BOX)

enum {
    SIGNAL_SELECTED,
    SIGNAL_SHOW_IN_FOLDER,
    SIGNAL_REUSE,
    SIGNAL_RERUN,
    SIGNAL_VARY_SEED,
    SIGNAL_DELETE,
    SIGNAL_UPSCALE,
    N_SIGNALS
};
static guint signals[N_SIGNALS];

const char *rs_history_status_label(HistoryStatus status)
{
    switch (status) {
    case HISTORY_STATUS_QUEUED:
        return _("Queued");
    case HISTORY_STATUS_RUNNING:
        return _("Running");
    case HISTORY_STATUS_DONE:
        return _("Done");
    case HISTORY_STATUS_CANCELLED:
        return _("Cancelled");
    case HISTORY_STATUS_FAILED:
        return _("Failed");
    default:
        return _("Interrupted");
    }
}

/* ---- rows --------------------------------------------------------------------------------- */

static void setup_row(GtkSignalListItemFactory *factory, GtkListItem *list_item, gpointer data)
{
    GtkWidget *row = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 10);
    gtk_widget_set_margin_top(row, 6);
    gtk_widget_set_margin_bottom(row, 6);
    gtk_widget_set_margin_start(row, 6);
    gtk_widget_set_margin_end(row, 6);
    GtkWidget *picture = gtk_image_new();
    gtk_image_set_pixel_size(GTK_IMAGE(picture), THUMBNAIL_SIZE);
    gtk_widget_add_css_class(picture, "history-thumbnail");
    GtkWidget *text = gtk_box_new(GTK_ORIENTATION_VERTICAL, 2);
    gtk_widget_set_hexpand(text, TRUE);
    gtk_widget_set_valign(text, GTK_ALIGN_CENTER);
    GtkWidget *prompt = gtk_label_new(NULL);
    gtk_label_set_xalign(GTK_LABEL(prompt), 0);
    gtk_label_set_ellipsize(GTK_LABEL(prompt), PANGO_ELLIPSIZE_END);
    gtk_label_set_lines(GTK_LABEL(prompt), 2);
    gtk_label_set_wrap(GTK_LABEL(prompt), TRUE);
    gtk_label_set_max_width_chars(GTK_LABEL(prompt), 16);
    GtkWidget *meta = gtk_label_new(NULL);
    gtk_label_set_xalign(GTK_LABEL(meta), 0);
    gtk_widget_add_css_class(meta, "dim-label");
    gtk_widget_add_css_class(meta, "caption");
    gtk_label_set_ellipsize(GTK_LABEL(meta), PANGO_ELLIPSIZE_END);
    GtkWidget *badge = gtk_label_new(NULL);
    gtk_widget_set_halign(badge, GTK_ALIGN_START);
    gtk_widget_add_css_class(badge, "history-badge");
    gtk_widget_add_css_class(badge, "caption");
    gtk_box_append(GTK_BOX(text), prompt);
    gtk_box_append(GTK_BOX(text), meta);
    gtk_box_append(GTK_BOX(text), badge);
    gtk_box_append(GTK_BOX(row), picture);
    gtk_box_append(GTK_BOX(row), text);
    gtk_list_item_set_child(list_item, row);
}

static char *meta_text(const HistoryGeneration *gen)
{
    gint64 when = gen->created_at != 0 ? gen->created_at : gen->started_at;
    GDateTime *utc = g_date_time_new_from_unix_utc(when / G_USEC_PER_SEC);
    GDateTime *local = utc != NULL ? g_date_time_to_local(utc) : NULL;
    /* Translators: a date and time in the history, see g_date_time_format */
    char *date = local != NULL ? g_date_time_format(local, _("%-d %b %Y, %H:%M")) : g_strdup("");
    /* Translators: "<width> × <height>" on one line, the date on the next */
    char *text = g_strdup_printf(_("%d × %d px\n%s"), gen->params.width, gen->params.height,
                                 g_strstrip(date));
    g_free(date);
    g_clear_pointer(&local, g_date_time_unref);
    g_clear_pointer(&utc, g_date_time_unref);
    return text;
}

static const char *const badge_classes[] = {"queued",    "running", "success",
                                            "cancelled", "error",   "warning"};

static void bind_row(GtkSignalListItemFactory *factory, GtkListItem *list_item, gpointer data)
{
    RsHistoryItem *item = gtk_list_item_get_item(list_item);
    const HistoryGeneration *gen = rs_history_item_get_generation(item);
    GtkWidget *row = gtk_list_item_get_child(list_item);
    GtkWidget *picture = gtk_widget_get_first_child(row);
    GtkWidget *text = gtk_widget_get_next_sibling(picture);
    GtkWidget *prompt = gtk_widget_get_first_child(text);
    GtkWidget *meta = gtk_widget_get_next_sibling(prompt);
    GtkWidget *badge = gtk_widget_get_next_sibling(meta);

    /* The thumbnail is read from the database only now, when the row is on screen. */
    GdkTexture *thumbnail = rs_history_item_get_thumbnail(item);
    if (thumbnail != NULL)
        gtk_image_set_from_paintable(GTK_IMAGE(picture), GDK_PAINTABLE(thumbnail));
    else
        gtk_image_set_from_icon_name(GTK_IMAGE(picture), "image-missing-symbolic");
    const char *words = gen->params.prompt != NULL && gen->params.prompt[0] != '\0'
                            ? gen->params.prompt
                            : _("(no prompt)");
    gtk_label_set_label(GTK_LABEL(prompt), words);
    char *tooltip = g_strdup(words);
    if (gen->params.init_image != NULL && gen->params.init_image[0] != '\0') {
        char *source = g_path_get_basename(gen->params.init_image);
        g_free(tooltip);
        /* Translators: the prompt, then the source file and strength of an image-to-image job */
        tooltip = g_strdup_printf(_("%s\nImage to image from “%s”, strength %.2f"), words, source,
                                  gen->params.strength);
        g_free(source);
    }
    gtk_widget_set_tooltip_text(row, tooltip);
    g_free(tooltip);
    char *meta_label = meta_text(gen);
    gtk_label_set_label(GTK_LABEL(meta), meta_label);
    g_free(meta_label);
    gtk_label_set_label(GTK_LABEL(badge), rs_history_status_label(gen->status));
    for (gsize i = 0; i < G_N_ELEMENTS(badge_classes); i++)
        gtk_widget_remove_css_class(badge, badge_classes[i]);
    gtk_widget_add_css_class(
        badge, badge_classes[MIN((gsize)gen->status, G_N_ELEMENTS(badge_classes) - 1)]);
}

static void unbind_row(GtkSignalListItemFactory *factory, GtkListItem *list_item, gpointer data)
{
    GtkWidget *row = gtk_list_item_get_child(list_item);
    gtk_image_clear(GTK_IMAGE(gtk_widget_get_first_child(row)));
}

/* ---- selection and actions ---------------------------------------------------------------- */

RsHistoryItem *rs_history_sidebar_get_selected(RsHistorySidebar *self)
{
    return self->selection != NULL ? gtk_single_selection_get_selected_item(self->selection) : NULL;
}

void rs_history_sidebar_select(RsHistorySidebar *self, guint position)
{
    gtk_single_selection_set_selected(self->selection, position);
}

void rs_history_sidebar_focus_search(RsHistorySidebar *self)
{
    gtk_widget_grab_focus(GTK_WIDGET(self->search_entry));
}

static void update_actions(RsHistorySidebar *self)
{
    RsHistoryItem *item = rs_history_sidebar_get_selected(self);
    const HistoryGeneration *gen = item != NULL ? rs_history_item_get_generation(item) : NULL;
    gboolean has_image = gen != NULL && gen->image_path != NULL;
    GtkWidget *widget = GTK_WIDGET(self);
    gtk_widget_action_set_enabled(widget, "history.reuse", gen != NULL);
    gtk_widget_action_set_enabled(widget, "history.rerun", gen != NULL);
    gtk_widget_action_set_enabled(widget, "history.vary-seed", gen != NULL);
    gtk_widget_action_set_enabled(widget, "history.show-in-folder", has_image);
    gtk_widget_action_set_enabled(widget, "history.upscale", has_image);
    gtk_widget_action_set_enabled(widget, "history.delete", gen != NULL);
}

static void on_selection_changed(RsHistorySidebar *self)
{
    update_actions(self);
    g_signal_emit(self, signals[SIGNAL_SELECTED], 0, rs_history_sidebar_get_selected(self));
}

static void update_empty(RsHistorySidebar *self)
{
    gboolean empty =
        self->model == NULL || g_list_model_get_n_items(G_LIST_MODEL(self->model)) == 0;
    /* A search without a match is not an empty history. */
    gboolean searching = gtk_editable_get_text(GTK_EDITABLE(self->search_entry))[0] != '\0';
    adw_status_page_set_icon_name(self->empty_page, searching ? "edit-find-symbolic"
                                                              : "document-open-recent-symbolic");
    adw_status_page_set_title(self->empty_page, searching ? _("No Results") : _("No History"));
    adw_status_page_set_description(self->empty_page,
                                    searching ? _("No prompt contains these words")
                                              : _("Every image you generate is kept here"));
    gtk_stack_set_visible_child_name(self->stack, empty ? "empty" : "list");
}

static void row_action(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
    RsHistorySidebar *self = RS_HISTORY_SIDEBAR(widget);
    RsHistoryItem *item = rs_history_sidebar_get_selected(self);
    if (item == NULL)
        return;
    static const struct {
        const char *action;
        int signal;
    } map[] = {
        {"history.reuse", SIGNAL_REUSE},         {"history.rerun", SIGNAL_RERUN},
        {"history.vary-seed", SIGNAL_VARY_SEED}, {"history.show-in-folder", SIGNAL_SHOW_IN_FOLDER},
        {"history.delete", SIGNAL_DELETE},       {"history.upscale", SIGNAL_UPSCALE},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(map); i++)
        if (g_str_equal(action_name, map[i].action))
            g_signal_emit(self, signals[map[i].signal], 0, item);
}

static void on_search_changed(GtkSearchEntry *entry, RsHistorySidebar *self)
{
    if (self->model != NULL)
        rs_history_model_set_search(self->model, gtk_editable_get_text(GTK_EDITABLE(entry)));
    update_empty(self);
}

void rs_history_sidebar_set_store(RsHistorySidebar *self, HistoryStore *store)
{
    if (self->model != NULL)
        g_signal_handlers_disconnect_by_data(self->model, self);
    g_clear_object(&self->model);
    if (store != NULL) {
        self->model = rs_history_model_new(store);
        g_signal_connect_swapped(self->model, "items-changed", G_CALLBACK(update_empty), self);
    }
    gtk_single_selection_set_model(self->selection, G_LIST_MODEL(self->model));
    update_empty(self);
    update_actions(self);
}

RsHistoryModel *rs_history_sidebar_get_model(RsHistorySidebar *self)
{
    return self->model;
}

/* ---- construction ------------------------------------------------------------------------- */

static GtkWidget *action_button(const char *icon, const char *action, const char *tooltip)
{
    GtkWidget *button = gtk_button_new_from_icon_name(icon);
    gtk_actionable_set_action_name(GTK_ACTIONABLE(button), action);
    gtk_widget_set_tooltip_text(button, tooltip);
    gtk_widget_add_css_class(button, "flat");
    return button;
}

static GtkWidget *build_action_bar(void)
{
    GtkWidget *bar = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 2);
    gtk_widget_set_margin_top(bar, 6);
    gtk_widget_set_margin_bottom(bar, 6);
    gtk_widget_set_margin_start(bar, 6);
    gtk_widget_set_margin_end(bar, 6);
    gtk_box_append(GTK_BOX(bar),
                   action_button("edit-undo-symbolic", "history.reuse", _("Reuse Parameters")));
    gtk_box_append(GTK_BOX(bar), action_button("view-refresh-symbolic", "history.rerun",
                                               _("Re-run with the Same Seed")));
    gtk_box_append(GTK_BOX(bar), action_button("media-playlist-shuffle-symbolic",
                                               "history.vary-seed", _("Vary Seed")));
    gtk_box_append(GTK_BOX(bar),
                   action_button("zoom-in-symbolic", "history.upscale", _("Upscale")));
    gtk_box_append(GTK_BOX(bar), action_button("folder-open-symbolic", "history.show-in-folder",
                                               _("Show in Folder")));
    GtkWidget *spacer = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 0);
    gtk_widget_set_hexpand(spacer, TRUE);
    gtk_box_append(GTK_BOX(bar), spacer);
    GtkWidget *delete = action_button("user-trash-symbolic", "history.delete", _("Delete"));
    gtk_widget_add_css_class(delete, "error");
    gtk_box_append(GTK_BOX(bar), delete);
    return bar;
}

static GtkWidget *build_list(RsHistorySidebar *self)
{
    GtkListItemFactory *factory = gtk_signal_list_item_factory_new();
    g_signal_connect(factory, "setup", G_CALLBACK(setup_row), self);
    g_signal_connect(factory, "bind", G_CALLBACK(bind_row), self);
    g_signal_connect(factory, "unbind", G_CALLBACK(unbind_row), self);
    self->selection = gtk_single_selection_new(NULL);
    gtk_single_selection_set_autoselect(self->selection, FALSE);
    gtk_single_selection_set_can_unselect(self->selection, TRUE);
    g_signal_connect_swapped(self->selection, "notify::selected", G_CALLBACK(on_selection_changed),
                             self);
    self->list_view = GTK_LIST_VIEW(
        gtk_list_view_new(GTK_SELECTION_MODEL(g_object_ref(self->selection)), factory));
    gtk_widget_add_css_class(GTK_WIDGET(self->list_view), "navigation-sidebar");
    GtkWidget *scrolled = gtk_scrolled_window_new();
    gtk_scrolled_window_set_policy(GTK_SCROLLED_WINDOW(scrolled), GTK_POLICY_NEVER,
                                   GTK_POLICY_AUTOMATIC);
    gtk_scrolled_window_set_child(GTK_SCROLLED_WINDOW(scrolled), GTK_WIDGET(self->list_view));
    gtk_widget_set_vexpand(scrolled, TRUE);
    return scrolled;
}

static void rs_history_sidebar_dispose(GObject *object)
{
    RsHistorySidebar *self = RS_HISTORY_SIDEBAR(object);
    if (self->model != NULL)
        g_signal_handlers_disconnect_by_data(self->model, self);
    if (self->selection != NULL)
        g_signal_handlers_disconnect_by_data(self->selection, self);
    GtkWidget *child;
    while ((child = gtk_widget_get_first_child(GTK_WIDGET(self))) != NULL)
        gtk_box_remove(GTK_BOX(self), child);
    g_clear_object(&self->selection);
    g_clear_object(&self->model);
    G_OBJECT_CLASS(rs_history_sidebar_parent_class)->dispose(object);
}

static void rs_history_sidebar_class_init(RsHistorySidebarClass *klass)
{
    GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
    G_OBJECT_CLASS(klass)->dispose = rs_history_sidebar_dispose;
    const char *names[N_SIGNALS] = {"selected",  "show-in-folder", "reuse",  "rerun",
                                    "vary-seed", "delete",         "upscale"};
    for (int i = 0; i < N_SIGNALS; i++)
        signals[i] = g_signal_new(names[i], G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                  NULL, NULL, G_TYPE_NONE, 1, RS_TYPE_HISTORY_ITEM);
    const char *actions[] = {"history.reuse", "history.rerun", "history.vary-seed",
                             "history.show-in-folder", "history.delete", "history.upscale"};
    for (gsize i = 0; i < G_N_ELEMENTS(actions); i++)
        gtk_widget_class_install_action(widget_class, actions[i], NULL, row_action);
    gtk_widget_class_set_css_name(widget_class, "history-sidebar");
}

static void rs_history_sidebar_init(RsHistorySidebar *self)
{
    gtk_orientable_set_orientation(GTK_ORIENTABLE(self), GTK_ORIENTATION_VERTICAL);
    self->search_entry = GTK_SEARCH_ENTRY(gtk_search_entry_new());
    g_object_set(self->search_entry, "placeholder-text", _("Search Prompts"), NULL);
    gtk_widget_set_margin_top(GTK_WIDGET(self->search_entry), 6);
    gtk_widget_set_margin_start(GTK_WIDGET(self->search_entry), 6);
    gtk_widget_set_margin_end(GTK_WIDGET(self->search_entry), 6);
    g_signal_connect(self->search_entry, "search-changed", G_CALLBACK(on_search_changed), self);
    gtk_box_append(GTK_BOX(self), GTK_WIDGET(self->search_entry));

    self->stack = GTK_STACK(gtk_stack_new());
    gtk_widget_set_vexpand(GTK_WIDGET(self->stack), TRUE);
    gtk_stack_add_named(self->stack, build_list(self), "list");
    GtkWidget *empty = adw_status_page_new();
    self->empty_page = ADW_STATUS_PAGE(empty);
    gtk_widget_add_css_class(empty, "compact");
    gtk_stack_add_named(self->stack, empty, "empty");
    gtk_box_append(GTK_BOX(self), GTK_WIDGET(self->stack));
    gtk_box_append(GTK_BOX(self), gtk_separator_new(GTK_ORIENTATION_HORIZONTAL));
    gtk_box_append(GTK_BOX(self), build_action_bar());
    update_empty(self);
    update_actions(self);
}
