/* RsInitImageGroup: see the header. */
#include "config.h"

#include <glib/gi18n.h>

#include "rs-init-image-group.h"
#include "rs-texture-load.h"

struct _RsInitImageGroup {
    AdwPreferencesGroup parent_instance;

    RsJobSettings *job;
    GdkTexture *texture;
    GCancellable *loading;
    GtkButton *clear_button;
    GtkPicture *picture;
    GtkLabel *file_label;
    GtkScale *strength_scale;
};

G_DEFINE_FINAL_TYPE(RsInitImageGroup, rs_init_image_group, ADW_TYPE_PREFERENCES_GROUP)

enum { PROP_0, PROP_TEXTURE, N_PROPS };
static GParamSpec *props[N_PROPS];

static void set_texture(RsInitImageGroup *self, GdkTexture *texture)
{
    if (!g_set_object(&self->texture, texture))
        return;
    gtk_picture_set_paintable(self->picture, GDK_PAINTABLE(texture));
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_TEXTURE]);
}

static void on_loaded(GObject *source, GAsyncResult *result, gpointer data)
{
    GError *error = NULL;
    GdkTexture *texture = rs_texture_load_finish(result, &error);
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
        g_error_free(error);
        return; /* another source was set, or the panel went away */
    }
    RsInitImageGroup *self = RS_INIT_IMAGE_GROUP(data);
    if (texture == NULL) {
        /* The job keeps the path: Generate reports what is wrong with the file. */
        char *text = g_strdup_printf(_("The image could not be shown: %s"), error->message);
        gtk_label_set_label(self->file_label, text);
        g_free(text);
        g_error_free(error);
        return;
    }
    set_texture(self, texture);
    char *name = g_path_get_basename(rs_texture_load_path(result));
    /* Translators: file name, width and height of the image-to-image source */
    char *text = g_strdup_printf(_("%s · %d × %d"), name, gdk_texture_get_width(texture),
                                 gdk_texture_get_height(texture));
    gtk_label_set_label(self->file_label, text);
    g_free(text);
    g_free(name);
    g_object_unref(texture);
}

static void on_init_image_changed(RsInitImageGroup *self)
{
    if (self->loading != NULL)
        g_cancellable_cancel(self->loading);
    g_clear_object(&self->loading);
    set_texture(self, NULL);
    const char *path = rs_job_settings_get_init_image(self->job);
    gtk_widget_set_visible(GTK_WIDGET(self), path != NULL);
    char *name = path != NULL ? g_path_get_basename(path) : g_strdup("");
    gtk_label_set_label(self->file_label, name);
    g_free(name);
    if (path == NULL)
        return;
    self->loading = g_cancellable_new();
    rs_texture_load_async(path, self->loading, on_loaded, self);
}

static void on_clear(RsInitImageGroup *self)
{
    g_object_set(self->job, "init-image", "", NULL);
}

void rs_init_image_group_set_job(RsInitImageGroup *self, RsJobSettings *job)
{
    g_return_if_fail(self->job == NULL);
    self->job = g_object_ref(job);
    g_object_bind_property(job, "strength",
                           gtk_range_get_adjustment(GTK_RANGE(self->strength_scale)), "value",
                           G_BINDING_BIDIRECTIONAL | G_BINDING_SYNC_CREATE);
    g_signal_connect_object(job, "notify::init-image", G_CALLBACK(on_init_image_changed), self,
                            G_CONNECT_SWAPPED);
    on_init_image_changed(self);
}

GdkTexture *rs_init_image_group_get_texture(RsInitImageGroup *self)
{
    return self->texture;
}

static void rs_init_image_group_get_property(GObject *object, guint id, GValue *value,
                                             GParamSpec *pspec)
{
    if (id == PROP_TEXTURE)
        g_value_set_object(value, RS_INIT_IMAGE_GROUP(object)->texture);
    else
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
}

static void rs_init_image_group_dispose(GObject *object)
{
    RsInitImageGroup *self = RS_INIT_IMAGE_GROUP(object);
    if (self->loading != NULL)
        g_cancellable_cancel(self->loading);
    g_clear_object(&self->loading);
    g_clear_object(&self->texture);
    g_clear_object(&self->job);
    gtk_widget_dispose_template(GTK_WIDGET(self), RS_TYPE_INIT_IMAGE_GROUP);
    G_OBJECT_CLASS(rs_init_image_group_parent_class)->dispose(object);
}

static void rs_init_image_group_class_init(RsInitImageGroupClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
    object_class->dispose = rs_init_image_group_dispose;
    object_class->get_property = rs_init_image_group_get_property;
    props[PROP_TEXTURE] = g_param_spec_object("texture", NULL, NULL, GDK_TYPE_TEXTURE,
                                              G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
    g_object_class_install_properties(object_class, N_PROPS, props);
    gtk_widget_class_set_template_from_resource(widget_class,
                                                "/io/github/resdit/Studio/rs-init-image-group.ui");
    gtk_widget_class_bind_template_child(widget_class, RsInitImageGroup, clear_button);
    gtk_widget_class_bind_template_child(widget_class, RsInitImageGroup, picture);
    gtk_widget_class_bind_template_child(widget_class, RsInitImageGroup, file_label);
    gtk_widget_class_bind_template_child(widget_class, RsInitImageGroup, strength_scale);
}

static void rs_init_image_group_init(RsInitImageGroup *self)
{
    gtk_widget_init_template(GTK_WIDGET(self));
    gtk_widget_set_visible(GTK_WIDGET(self), FALSE);
    g_signal_connect_swapped(self->clear_button, "clicked", G_CALLBACK(on_clear), self);
}
