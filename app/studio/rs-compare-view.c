/* RsCompareView: see rs-compare-view.h. */
#include "config.h"

#include <glib/gi18n.h>

#include "rs-compare-view.h"

struct _RsCompareView {
    GtkWidget parent_instance;
    GdkTexture *sources[RS_COMPARE_N_SOURCES];
    GtkWidget *box;
    GtkDropDown *start_dropdown, *end_dropdown;
    GtkToggleButton *side_by_side;
    RsSplitView *split;
    GtkLabel *start_label, *end_label;
};

G_DEFINE_FINAL_TYPE(RsCompareView, rs_compare_view, GTK_TYPE_WIDGET)

const char *rs_compare_source_label(RsCompareSource source)
{
    switch (source) {
    case RS_COMPARE_GLOBAL:
        return _("Global");
    case RS_COMPARE_LOCAL:
        return _("Local");
    case RS_COMPARE_FUSED:
        return _("Fused");
    case RS_COMPARE_FINAL:
        return _("Final");
    case RS_COMPARE_SOURCE:
        /* Translators: the image an image-to-image job started from */
        return _("Source");
    default:
        return _("Without ResDiT");
    }
}

static void update(RsCompareView *self)
{
    guint start = gtk_drop_down_get_selected(self->start_dropdown);
    guint end = gtk_drop_down_get_selected(self->end_dropdown);
    if (start >= RS_COMPARE_N_SOURCES || end >= RS_COMPARE_N_SOURCES)
        return;
    rs_split_view_set_textures(self->split, self->sources[start], self->sources[end]);
    /* Translators: a compared image that is not there yet, e.g. "Local (none yet)" */
    char *start_text = self->sources[start] != NULL
                           ? g_strdup(rs_compare_source_label(start))
                           : g_strdup_printf(_("%s (none yet)"), rs_compare_source_label(start));
    char *end_text = self->sources[end] != NULL
                         ? g_strdup(rs_compare_source_label(end))
                         : g_strdup_printf(_("%s (none yet)"), rs_compare_source_label(end));
    gtk_label_set_label(self->start_label, start_text);
    gtk_label_set_label(self->end_label, end_text);
    g_free(start_text);
    g_free(end_text);
}

void rs_compare_view_set_source(RsCompareView *self, RsCompareSource source, GdkTexture *texture)
{
    g_return_if_fail(RS_IS_COMPARE_VIEW(self) && source < RS_COMPARE_N_SOURCES);
    g_set_object(&self->sources[source], texture);
    update(self);
}

GdkTexture *rs_compare_view_get_source(RsCompareView *self, RsCompareSource source)
{
    g_return_val_if_fail(RS_IS_COMPARE_VIEW(self) && source < RS_COMPARE_N_SOURCES, NULL);
    return self->sources[source];
}

void rs_compare_view_clear(RsCompareView *self)
{
    for (int s = 0; s < RS_COMPARE_N_SOURCES; s++)
        g_clear_object(&self->sources[s]);
    update(self);
}

void rs_compare_view_set_pair(RsCompareView *self, RsCompareSource start, RsCompareSource end)
{
    g_return_if_fail(start < RS_COMPARE_N_SOURCES && end < RS_COMPARE_N_SOURCES);
    gtk_drop_down_set_selected(self->start_dropdown, start);
    gtk_drop_down_set_selected(self->end_dropdown, end);
    update(self);
}

void rs_compare_view_get_pair(RsCompareView *self, RsCompareSource *start, RsCompareSource *end)
{
    *start = gtk_drop_down_get_selected(self->start_dropdown);
    *end = gtk_drop_down_get_selected(self->end_dropdown);
}

RsSplitView *rs_compare_view_get_split_view(RsCompareView *self)
{
    return self->split;
}

static GtkDropDown *source_dropdown(RsCompareView *self, const char *tooltip)
{
    const char *labels[RS_COMPARE_N_SOURCES + 1];
    for (int s = 0; s < RS_COMPARE_N_SOURCES; s++)
        labels[s] = rs_compare_source_label(s);
    labels[RS_COMPARE_N_SOURCES] = NULL;
    GtkDropDown *dropdown = GTK_DROP_DOWN(gtk_drop_down_new_from_strings(labels));
    gtk_widget_set_tooltip_text(GTK_WIDGET(dropdown), tooltip);
    g_signal_connect_swapped(dropdown, "notify::selected", G_CALLBACK(update), self);
    return dropdown;
}

static GtkLabel *overlay_label(GtkAlign halign)
{
    GtkLabel *label = GTK_LABEL(gtk_label_new(""));
    gtk_widget_set_halign(GTK_WIDGET(label), halign);
    gtk_widget_set_valign(GTK_WIDGET(label), GTK_ALIGN_START);
    gtk_widget_set_margin_start(GTK_WIDGET(label), 12);
    gtk_widget_set_margin_end(GTK_WIDGET(label), 12);
    gtk_widget_set_margin_top(GTK_WIDGET(label), 12);
    gtk_widget_set_can_target(GTK_WIDGET(label), FALSE);
    gtk_widget_add_css_class(GTK_WIDGET(label), "frame-label");
    gtk_widget_add_css_class(GTK_WIDGET(label), "caption");
    return label;
}

static void rs_compare_view_init(RsCompareView *self)
{
    self->box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
    gtk_widget_set_parent(self->box, GTK_WIDGET(self));

    GtkWidget *bar = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
    gtk_widget_set_margin_top(bar, 6);
    gtk_widget_set_margin_bottom(bar, 6);
    gtk_widget_set_margin_start(bar, 6);
    gtk_widget_set_margin_end(bar, 6);
    gtk_widget_set_halign(bar, GTK_ALIGN_CENTER);
    self->start_dropdown = source_dropdown(self, _("Left of the Divider"));
    self->end_dropdown = source_dropdown(self, _("Right of the Divider"));
    gtk_box_append(GTK_BOX(bar), GTK_WIDGET(self->start_dropdown));
    /* Translators: between the two images compared, "Global versus Local" */
    gtk_box_append(GTK_BOX(bar), gtk_label_new(_("versus")));
    gtk_box_append(GTK_BOX(bar), GTK_WIDGET(self->end_dropdown));
    self->side_by_side =
        GTK_TOGGLE_BUTTON(gtk_toggle_button_new_with_mnemonic(_("_Side by Side")));
    gtk_widget_set_tooltip_text(GTK_WIDGET(self->side_by_side),
                                _("Show the two images next to each other instead of split"));
    gtk_box_append(GTK_BOX(bar), GTK_WIDGET(self->side_by_side));
    gtk_box_append(GTK_BOX(self->box), bar);

    GtkWidget *overlay = gtk_overlay_new();
    self->split = RS_SPLIT_VIEW(rs_split_view_new());
    gtk_widget_add_css_class(GTK_WIDGET(self->split), "view");
    gtk_overlay_set_child(GTK_OVERLAY(overlay), GTK_WIDGET(self->split));
    self->start_label = overlay_label(GTK_ALIGN_START);
    self->end_label = overlay_label(GTK_ALIGN_END);
    gtk_overlay_add_overlay(GTK_OVERLAY(overlay), GTK_WIDGET(self->start_label));
    gtk_overlay_add_overlay(GTK_OVERLAY(overlay), GTK_WIDGET(self->end_label));
    gtk_widget_set_vexpand(overlay, TRUE);
    gtk_box_append(GTK_BOX(self->box), overlay);

    g_object_bind_property(self->side_by_side, "active", self->split, "side-by-side",
                           G_BINDING_BIDIRECTIONAL | G_BINDING_SYNC_CREATE);
    rs_compare_view_set_pair(self, RS_COMPARE_GLOBAL, RS_COMPARE_LOCAL);
}

static void rs_compare_view_dispose(GObject *object)
{
    RsCompareView *self = RS_COMPARE_VIEW(object);
    for (int s = 0; s < RS_COMPARE_N_SOURCES; s++)
        g_clear_object(&self->sources[s]);
    g_clear_pointer(&self->box, gtk_widget_unparent);
    G_OBJECT_CLASS(rs_compare_view_parent_class)->dispose(object);
}

static void rs_compare_view_class_init(RsCompareViewClass *klass)
{
    G_OBJECT_CLASS(klass)->dispose = rs_compare_view_dispose;
    gtk_widget_class_set_layout_manager_type(GTK_WIDGET_CLASS(klass), GTK_TYPE_BIN_LAYOUT);
    gtk_widget_class_set_css_name(GTK_WIDGET_CLASS(klass), "rs-compare-view");
}

GtkWidget *rs_compare_view_new(void)
{
    return g_object_new(RS_TYPE_COMPARE_VIEW, NULL);
}
