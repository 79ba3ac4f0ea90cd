/* RsHistoryGallery: see rs-history-gallery.h. */
#include "config.h"

#include <glib/gi18n.h>

#include "rs-history-gallery.h"
#include "rs-history-sidebar.h"

#define CELL_SIZE 160

struct _RsHistoryGallery {
    GtkWidget parent_instance;
    GtkWidget *box;
    GtkMultiSelection *selection;
    RsHistoryModel *model;
    GtkDropDown *filter_dropdown;
    GtkDropDown *period_dropdown;
    GtkWidget *menu;             /* the context menu (GtkPopoverMenu) */
    RsHistoryItem *menu_item;    /* the image it was opened on */
    GtkGridView *grid;
    GtkLabel *count_label;
    GtkButton *delete_button;
};

G_DEFINE_FINAL_TYPE(RsHistoryGallery, rs_history_gallery, GTK_TYPE_WIDGET)

enum {
    SIGNAL_ACTIVATED,
    SIGNAL_DELETE,
    SIGNAL_REUSE,
    SIGNAL_SHOW_IN_FOLDER,
    SIGNAL_UPSCALE,
    N_SIGNALS
};
static guint signals[N_SIGNALS];

static void on_secondary_click(GtkGestureClick *gesture, int n_press, double x, double y,
                               GtkListItem *list_item)
{
    GtkWidget *cell = gtk_event_controller_get_widget(GTK_EVENT_CONTROLLER(gesture));
    RsHistoryGallery *self =
        RS_HISTORY_GALLERY(gtk_widget_get_ancestor(cell, RS_TYPE_HISTORY_GALLERY));
    graphene_point_t p;
    if (self == NULL ||
        !gtk_widget_compute_point(cell, GTK_WIDGET(self), &GRAPHENE_POINT_INIT(x, y), &p))
        return;
    gtk_gesture_set_state(GTK_GESTURE(gesture), GTK_EVENT_SEQUENCE_CLAIMED);
    rs_history_gallery_popup_menu(self, gtk_list_item_get_position(list_item), p.x, p.y);
}

static void on_long_press(GtkListItem *list_item, double x, double y, GtkGestureLongPress *press)
{
    GtkWidget *cell = gtk_event_controller_get_widget(GTK_EVENT_CONTROLLER(press));
    RsHistoryGallery *self =
        RS_HISTORY_GALLERY(gtk_widget_get_ancestor(cell, RS_TYPE_HISTORY_GALLERY));
    graphene_point_t p;
    if (self != NULL &&
        gtk_widget_compute_point(cell, GTK_WIDGET(self), &GRAPHENE_POINT_INIT(x, y), &p))
        rs_history_gallery_popup_menu(self, gtk_list_item_get_position(list_item), p.x, p.y);
}

static void setup_cell(GtkSignalListItemFactory *factory, GtkListItem *list_item, gpointer data)
{
    GtkWidget *overlay = gtk_overlay_new();
    /* right click (or a long press) opens the context menu */
    GtkGesture *click = gtk_gesture_click_new();
    gtk_gesture_single_set_button(GTK_GESTURE_SINGLE(click), GDK_BUTTON_SECONDARY);
    g_signal_connect(click, "pressed", G_CALLBACK(on_secondary_click), list_item);
    gtk_widget_add_controller(overlay, GTK_EVENT_CONTROLLER(click));
    GtkGesture *press = gtk_gesture_long_press_new();
    gtk_gesture_single_set_touch_only(GTK_GESTURE_SINGLE(press), TRUE);
    g_signal_connect_swapped(press, "pressed", G_CALLBACK(on_long_press), list_item);
    gtk_widget_add_controller(overlay, GTK_EVENT_CONTROLLER(press));
    GtkWidget *picture = gtk_picture_new();
    gtk_picture_set_content_fit(GTK_PICTURE(picture), GTK_CONTENT_FIT_CONTAIN);
    gtk_widget_set_size_request(picture, CELL_SIZE, CELL_SIZE);
    gtk_widget_add_css_class(picture, "history-thumbnail");
    gtk_overlay_set_child(GTK_OVERLAY(overlay), picture);
    GtkWidget *badge = gtk_label_new(NULL);
    gtk_widget_set_halign(badge, GTK_ALIGN_START);
    gtk_widget_set_valign(badge, GTK_ALIGN_END);
    gtk_widget_set_margin_start(badge, 4);
    gtk_widget_set_margin_bottom(badge, 4);
    gtk_widget_add_css_class(badge, "history-badge");
    gtk_widget_add_css_class(badge, "caption");
    gtk_overlay_add_overlay(GTK_OVERLAY(overlay), badge);
    gtk_list_item_set_child(list_item, overlay);
}

static const char *const badge_classes[] = {"queued",    "running", "success",
                                            "cancelled", "error",   "warning"};

static void bind_cell(GtkSignalListItemFactory *factory, GtkListItem *list_item, gpointer data)
{
    RsHistoryItem *item = gtk_list_item_get_item(list_item);
    const HistoryGeneration *gen = rs_history_item_get_generation(item);
    GtkWidget *overlay = gtk_list_item_get_child(list_item);
    GtkWidget *picture = gtk_overlay_get_child(GTK_OVERLAY(overlay));
    GtkWidget *badge = gtk_widget_get_next_sibling(picture);
    GdkTexture *thumbnail = rs_history_item_get_thumbnail(item);
    gtk_picture_set_paintable(GTK_PICTURE(picture),
                              thumbnail != NULL ? GDK_PAINTABLE(thumbnail) : NULL);
    gtk_widget_set_tooltip_text(overlay, gen->params.prompt != NULL && gen->params.prompt[0]
                                             ? gen->params.prompt
                                             : _("(no prompt)"));
    /* Done images need no badge; the others say what happened. */
    gtk_widget_set_visible(badge, gen->status != HISTORY_STATUS_DONE);
    gtk_label_set_label(GTK_LABEL(badge), rs_history_status_label(gen->status));
    for (gsize i = 0; i < G_N_ELEMENTS(badge_classes); i++)
        gtk_widget_remove_css_class(badge, badge_classes[i]);
    gtk_widget_add_css_class(
        badge, badge_classes[MIN((gsize)gen->status, G_N_ELEMENTS(badge_classes) - 1)]);
}

static void unbind_cell(GtkSignalListItemFactory *factory, GtkListItem *list_item, gpointer data)
{
    GtkWidget *overlay = gtk_list_item_get_child(list_item);
    gtk_picture_set_paintable(GTK_PICTURE(gtk_overlay_get_child(GTK_OVERLAY(overlay))), NULL);
}

GPtrArray *rs_history_gallery_get_selected(RsHistoryGallery *self)
{
    GPtrArray *items = g_ptr_array_new_with_free_func(g_object_unref);
    GtkBitset *selected = gtk_selection_model_get_selection(GTK_SELECTION_MODEL(self->selection));
    GtkBitsetIter iter;
    guint position;
    for (gboolean ok = gtk_bitset_iter_init_first(&iter, selected, &position); ok;
         ok = gtk_bitset_iter_next(&iter, &position))
        g_ptr_array_add(items, g_list_model_get_item(G_LIST_MODEL(self->selection), position));
    gtk_bitset_unref(selected);
    return items;
}

static void update_count(RsHistoryGallery *self)
{
    GtkBitset *selected = gtk_selection_model_get_selection(GTK_SELECTION_MODEL(self->selection));
    guint64 n = gtk_bitset_get_size(selected);
    gtk_bitset_unref(selected);
    guint total = g_list_model_get_n_items(G_LIST_MODEL(self->selection));
    char *text = n > 0 ? g_strdup_printf(g_dngettext(GETTEXT_PACKAGE, "%u of %u image selected",
                                                     "%u of %u images selected", total),
                                         (guint)n, total)
                       : g_strdup_printf(g_dngettext(GETTEXT_PACKAGE, "%u image", "%u images",
                                                     total),
                                         total);
    gtk_label_set_label(self->count_label, text);
    g_free(text);
    gtk_widget_set_sensitive(GTK_WIDGET(self->delete_button), n > 0);
}

static void on_delete_clicked(RsHistoryGallery *self)
{
    GPtrArray *items = rs_history_gallery_get_selected(self);
    if (items->len > 0) {
        gtk_selection_model_unselect_all(GTK_SELECTION_MODEL(self->selection));
        g_signal_emit(self, signals[SIGNAL_DELETE], 0, items);
    }
    g_ptr_array_unref(items);
}

static void on_select_all(RsHistoryGallery *self)
{
    gtk_selection_model_select_all(GTK_SELECTION_MODEL(self->selection));
}

static void on_activate(GtkGridView *grid, guint position, RsHistoryGallery *self)
{
    RsHistoryItem *item = g_list_model_get_item(G_LIST_MODEL(self->selection), position);
    if (item != NULL)
        g_signal_emit(self, signals[SIGNAL_ACTIVATED], 0, item);
    g_clear_object(&item);
}

static const struct {
    const char *id;
    guint mask;
} filters[] = {
    {"all", 0},
    {"done", 1u << HISTORY_STATUS_DONE},
    {"cancelled", 1u << HISTORY_STATUS_CANCELLED},
    {"failed", (1u << HISTORY_STATUS_FAILED) | (1u << HISTORY_STATUS_INTERRUPTED)},
};

static void apply_filter(RsHistoryGallery *self)
{
    guint i = gtk_drop_down_get_selected(self->filter_dropdown);
    if (self->model != NULL && i < G_N_ELEMENTS(filters))
        rs_history_model_set_status_mask(self->model, filters[i].mask);
    update_count(self);
}

static const char *const periods[] = {"any", "today", "week", "month"};

/* The start of the chosen period in g_get_real_time() units: local midnight today, 7 or 30
 * days before it; 0 for any time. */
static gint64 period_start(guint period)
{
    if (period == 0 || period >= G_N_ELEMENTS(periods))
        return 0;
    GDateTime *now = g_date_time_new_now_local();
    GDateTime *midnight = g_date_time_new_local(g_date_time_get_year(now),
                                                g_date_time_get_month(now),
                                                g_date_time_get_day_of_month(now), 0, 0, 0);
    int days_back[] = {0, 0, 7, 30};
    GDateTime *start = g_date_time_add_days(midnight, -days_back[period]);
    gint64 us = g_date_time_to_unix(start) * G_USEC_PER_SEC;
    g_date_time_unref(start);
    g_date_time_unref(midnight);
    g_date_time_unref(now);
    return us;
}

static void apply_period(RsHistoryGallery *self)
{
    if (self->model != NULL)
        rs_history_model_set_created_after(
            self->model, period_start(gtk_drop_down_get_selected(self->period_dropdown)));
    update_count(self);
}

void rs_history_gallery_set_period(RsHistoryGallery *self, const char *period)
{
    for (guint i = 0; i < G_N_ELEMENTS(periods); i++)
        if (g_strcmp0(period, periods[i]) == 0)
            gtk_drop_down_set_selected(self->period_dropdown, i);
}

void rs_history_gallery_set_filter(RsHistoryGallery *self, const char *filter)
{
    for (guint i = 0; i < G_N_ELEMENTS(filters); i++)
        if (g_strcmp0(filter, filters[i].id) == 0)
            gtk_drop_down_set_selected(self->filter_dropdown, i);
}

/* ---- the context menu ---------------------------------------------------------------------- */

void rs_history_gallery_popup_menu(RsHistoryGallery *self, guint position, double x, double y)
{
    RsHistoryItem *item = g_list_model_get_item(G_LIST_MODEL(self->selection), position);
    if (item == NULL)
        return;
    /* The menu acts on the image it was opened on; an image outside the selection becomes it. */
    if (!gtk_selection_model_is_selected(GTK_SELECTION_MODEL(self->selection), position))
        gtk_selection_model_select_item(GTK_SELECTION_MODEL(self->selection), position, TRUE);
    g_set_object(&self->menu_item, item);
    g_object_unref(item);
    const HistoryGeneration *gen = rs_history_item_get_generation(self->menu_item);
    gtk_widget_action_set_enabled(GTK_WIDGET(self), "gallery.open", gen->image_path != NULL);
    gtk_widget_action_set_enabled(GTK_WIDGET(self), "gallery.show-in-folder",
                                  gen->image_path != NULL);
    gtk_widget_action_set_enabled(GTK_WIDGET(self), "gallery.upscale", gen->image_path != NULL);
    gtk_popover_set_pointing_to(GTK_POPOVER(self->menu), &(GdkRectangle){(int)x, (int)y, 1, 1});
    gtk_popover_popup(GTK_POPOVER(self->menu));
}

GtkPopover *rs_history_gallery_get_menu(RsHistoryGallery *self)
{
    return GTK_POPOVER(self->menu);
}

static void menu_action(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
    RsHistoryGallery *self = RS_HISTORY_GALLERY(widget);
    if (self->menu_item == NULL)
        return;
    RsHistoryItem *item = g_object_ref(self->menu_item);
    if (g_str_equal(action_name, "gallery.open"))
        g_signal_emit(self, signals[SIGNAL_ACTIVATED], 0, item);
    else if (g_str_equal(action_name, "gallery.reuse"))
        g_signal_emit(self, signals[SIGNAL_REUSE], 0, item);
    else if (g_str_equal(action_name, "gallery.show-in-folder"))
        g_signal_emit(self, signals[SIGNAL_SHOW_IN_FOLDER], 0, item);
    else if (g_str_equal(action_name, "gallery.upscale"))
        g_signal_emit(self, signals[SIGNAL_UPSCALE], 0, item);
    else /* delete: the selection, which holds the item */
        on_delete_clicked(self);
    g_object_unref(item);
}

static GtkWidget *build_menu(RsHistoryGallery *self)
{
    GMenu *menu = g_menu_new();
    g_menu_append(menu, _("_Open"), "gallery.open");
    g_menu_append(menu, _("_Reuse Parameters"), "gallery.reuse");
    g_menu_append(menu, _("Show in _Folder"), "gallery.show-in-folder");
    g_menu_append(menu, _("_Upscale"), "gallery.upscale");
    GMenu *danger = g_menu_new();
    g_menu_append(danger, _("_Delete"), "gallery.delete");
    g_menu_append_section(menu, NULL, G_MENU_MODEL(danger));
    g_object_unref(danger);
    GtkWidget *popover = gtk_popover_menu_new_from_model(G_MENU_MODEL(menu));
    g_object_unref(menu);
    gtk_popover_set_has_arrow(GTK_POPOVER(popover), FALSE);
    gtk_widget_set_halign(popover, GTK_ALIGN_START);
    gtk_widget_set_parent(popover, GTK_WIDGET(self));
    return popover;
}

void rs_history_gallery_set_store(RsHistoryGallery *self, HistoryStore *store)
{
    gtk_multi_selection_set_model(self->selection, NULL);
    g_clear_object(&self->model);
    if (store != NULL) {
        self->model = rs_history_model_new(store);
        gtk_multi_selection_set_model(self->selection, G_LIST_MODEL(self->model));
        apply_filter(self);
        apply_period(self);
    }
    update_count(self);
}

GtkSelectionModel *rs_history_gallery_get_selection(RsHistoryGallery *self)
{
    return GTK_SELECTION_MODEL(self->selection);
}

static void rs_history_gallery_init(RsHistoryGallery *self)
{
    self->box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
    gtk_widget_set_parent(self->box, GTK_WIDGET(self));

    GtkWidget *bar = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
    gtk_widget_set_margin_top(bar, 6);
    gtk_widget_set_margin_bottom(bar, 6);
    gtk_widget_set_margin_start(bar, 12);
    gtk_widget_set_margin_end(bar, 6);
    self->count_label = GTK_LABEL(gtk_label_new(NULL));
    gtk_widget_set_hexpand(GTK_WIDGET(self->count_label), TRUE);
    gtk_label_set_xalign(self->count_label, 0);
    gtk_widget_add_css_class(GTK_WIDGET(self->count_label), "dim-label");
    gtk_box_append(GTK_BOX(bar), GTK_WIDGET(self->count_label));
    const char *filter_labels[] = {_("All"), _("Done"), _("Cancelled"), _("Failed"), NULL};
    self->filter_dropdown = GTK_DROP_DOWN(gtk_drop_down_new_from_strings(filter_labels));
    gtk_widget_set_tooltip_text(GTK_WIDGET(self->filter_dropdown), _("Show Images by Status"));
    g_signal_connect_swapped(self->filter_dropdown, "notify::selected", G_CALLBACK(apply_filter),
                             self);
    gtk_box_append(GTK_BOX(bar), GTK_WIDGET(self->filter_dropdown));
    const char *period_labels[] = {_("Any Time"), _("Today"), _("Last 7 Days"), _("Last 30 Days"),
                                   NULL};
    self->period_dropdown = GTK_DROP_DOWN(gtk_drop_down_new_from_strings(period_labels));
    gtk_widget_set_tooltip_text(GTK_WIDGET(self->period_dropdown), _("Show Images by Date"));
    g_signal_connect_swapped(self->period_dropdown, "notify::selected", G_CALLBACK(apply_period),
                             self);
    gtk_box_append(GTK_BOX(bar), GTK_WIDGET(self->period_dropdown));
    GtkWidget *select_all = gtk_button_new_with_mnemonic(_("Select _All"));
    g_signal_connect_swapped(select_all, "clicked", G_CALLBACK(on_select_all), self);
    gtk_box_append(GTK_BOX(bar), select_all);
    self->delete_button = GTK_BUTTON(gtk_button_new_with_mnemonic(_("_Delete")));
    gtk_widget_add_css_class(GTK_WIDGET(self->delete_button), "destructive-action");
    gtk_widget_set_tooltip_text(GTK_WIDGET(self->delete_button),
                                _("Delete the Selected Images (can be undone)"));
    g_signal_connect_swapped(self->delete_button, "clicked", G_CALLBACK(on_delete_clicked), self);
    gtk_box_append(GTK_BOX(bar), GTK_WIDGET(self->delete_button));
    gtk_box_append(GTK_BOX(self->box), bar);

    GtkListItemFactory *factory = gtk_signal_list_item_factory_new();
    g_signal_connect(factory, "setup", G_CALLBACK(setup_cell), self);
    g_signal_connect(factory, "bind", G_CALLBACK(bind_cell), self);
    g_signal_connect(factory, "unbind", G_CALLBACK(unbind_cell), self);
    self->selection = gtk_multi_selection_new(NULL);
    g_signal_connect_swapped(self->selection, "selection-changed", G_CALLBACK(update_count), self);
    g_signal_connect_swapped(self->selection, "items-changed", G_CALLBACK(update_count), self);
    self->grid = GTK_GRID_VIEW(
        gtk_grid_view_new(GTK_SELECTION_MODEL(g_object_ref(self->selection)), factory));
    gtk_grid_view_set_max_columns(self->grid, 12);
    gtk_grid_view_set_enable_rubberband(self->grid, TRUE);
    g_signal_connect(self->grid, "activate", G_CALLBACK(on_activate), self);
    GtkWidget *scrolled = gtk_scrolled_window_new();
    gtk_scrolled_window_set_policy(GTK_SCROLLED_WINDOW(scrolled), GTK_POLICY_NEVER,
                                   GTK_POLICY_AUTOMATIC);
    gtk_scrolled_window_set_child(GTK_SCROLLED_WINDOW(scrolled), GTK_WIDGET(self->grid));
    gtk_widget_set_vexpand(scrolled, TRUE);
    gtk_box_append(GTK_BOX(self->box), scrolled);
    self->menu = build_menu(self);
    update_count(self);
}

static void rs_history_gallery_dispose(GObject *object)
{
    RsHistoryGallery *self = RS_HISTORY_GALLERY(object);
    if (self->selection != NULL)
        g_signal_handlers_disconnect_by_data(self->selection, self);
    g_clear_pointer(&self->menu, gtk_widget_unparent);
    g_clear_object(&self->menu_item);
    g_clear_pointer(&self->box, gtk_widget_unparent);
    g_clear_object(&self->selection);
    g_clear_object(&self->model);
    G_OBJECT_CLASS(rs_history_gallery_parent_class)->dispose(object);
}

static void rs_history_gallery_class_init(RsHistoryGalleryClass *klass)
{
    G_OBJECT_CLASS(klass)->dispose = rs_history_gallery_dispose;
    gtk_widget_class_set_layout_manager_type(GTK_WIDGET_CLASS(klass), GTK_TYPE_BIN_LAYOUT);
    gtk_widget_class_set_css_name(GTK_WIDGET_CLASS(klass), "history-gallery");
    signals[SIGNAL_ACTIVATED] =
        g_signal_new("activated", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                     NULL, G_TYPE_NONE, 1, RS_TYPE_HISTORY_ITEM);
    signals[SIGNAL_REUSE] =
        g_signal_new("reuse", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                     G_TYPE_NONE, 1, RS_TYPE_HISTORY_ITEM);
    signals[SIGNAL_SHOW_IN_FOLDER] =
        g_signal_new("show-in-folder", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                     NULL, G_TYPE_NONE, 1, RS_TYPE_HISTORY_ITEM);
    signals[SIGNAL_UPSCALE] =
        g_signal_new("upscale", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                     G_TYPE_NONE, 1, RS_TYPE_HISTORY_ITEM);
    const char *actions[] = {"gallery.open", "gallery.reuse", "gallery.show-in-folder",
                             "gallery.upscale", "gallery.delete"};
    for (gsize i = 0; i < G_N_ELEMENTS(actions); i++)
        gtk_widget_class_install_action(GTK_WIDGET_CLASS(klass), actions[i], NULL, menu_action);
    signals[SIGNAL_DELETE] = g_signal_new("delete", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                          NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_PTR_ARRAY);
}

GtkWidget *rs_history_gallery_new(void)
{
    return g_object_new(RS_TYPE_HISTORY_GALLERY, NULL);
}
