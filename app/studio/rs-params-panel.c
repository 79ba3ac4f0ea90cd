/* RsParamsPanel: binds the template's controls to the job's properties; derived text (image size,
 * memory estimate, schedule legend) follows the job's notifications. */
#include "config.h"

#include <glib/gi18n.h>

#include "rs-engine-params.h"
#include "rs-memory-estimate.h"
#include "rs-params-panel.h"
#include "rs-init-image-group.h"
#include "rs-lora-list.h"
#include "rs-schedule-bar.h"
#include "rs-size.h"

struct _RsParamsPanel {
    AdwBin parent_instance;

    RsJobSettings *job;
    RsModelHandle *model;

    RsLoraList *lora_list;
    RsInitImageGroup *init_image_group;
    GtkTextView *prompt_view;
    GtkLabel *prompt_hint;
    GtkLabel *token_label;
    GtkWidget *negative_group; /* shown for models with classifier-free guidance */
    GtkTextView *negative_view;
    AdwActionRow *guidance_row;
    guint token_retry; /* a job was encoding: count again shortly */
    AdwComboRow *aspect_row;
    AdwComboRow *size_row;
    AdwActionRow *custom_width_row;
    AdwActionRow *custom_height_row;
    GtkSpinButton *custom_width_spin;
    GtkSpinButton *custom_height_spin;
    AdwActionRow *dimensions_row;
    GtkLabel *dimensions_label;
    GtkSpinButton *steps_spin;
    GtkSpinButton *guidance_spin;
    GtkSwitch *random_seed_switch;
    GtkSpinButton *seed_spin;
    GtkButton *dice_button;
    GtkButton *copy_seed_button;
    GtkSpinButton *batch_count_spin;
    GtkSpinButton *global_steps_spin;
    GtkSpinButton *local_steps_spin;
    GtkAdjustment *global_steps_adjustment;
    GtkAdjustment *local_steps_adjustment;
    RsScheduleBar *schedule_bar;
    GtkLabel *schedule_legend;
    GtkScale *cutoff_scale;
    AdwExpanderRow *advanced_row;
    GtkSpinButton *sigma_spin;
    GtkSpinButton *patch_spin;
    GtkSpinButton *base_size_spin;
    AdwComboRow *shift_mode_row;
    AdwActionRow *shift_mu_row;
    GtkSpinButton *shift_mu_spin;
    GtkSpinButton *lowfreq_spin;
    GtkSwitch *no_pes_switch;
    GtkSwitch *no_pipe_switch;
    GtkSwitch *no_psf_switch;
    GtkSwitch *no_overlap_switch;
    GtkSwitch *uniform_weights_switch;
    GtkSwitch *inspect_branches_switch;
};

G_DEFINE_FINAL_TYPE(RsParamsPanel, rs_params_panel, ADW_TYPE_BIN)

static const char *const shift_modes[] = {"base", "resolution", "fixed"};
static const char *const size_ids[] = {"512", "2K", "3K", "4K"};

/* Combo rows list ids by position; the job stores the id. */
static guint index_of(const char *const *ids, guint n, const char *id)
{
    for (guint i = 0; i < n; i++)
        if (g_strcmp0(ids[i], id) == 0)
            return i;
    return 0;
}

static gboolean aspect_to_selected(GBinding *b, const GValue *from, GValue *to, gpointer data)
{
    const char *id = g_value_get_string(from);
    int count;
    const RsAspectPreset *presets = rs_aspect_presets(&count);
    guint selected = count; /* "Custom" is the row after the presets */
    for (int i = 0; i < count; i++)
        if (g_strcmp0(presets[i].id, id) == 0)
            selected = i;
    g_value_set_uint(to, selected);
    return TRUE;
}

static gboolean selected_to_aspect(GBinding *b, const GValue *from, GValue *to, gpointer data)
{
    int count;
    const RsAspectPreset *presets = rs_aspect_presets(&count);
    guint selected = g_value_get_uint(from);
    if (selected == GTK_INVALID_LIST_POSITION)
        return FALSE;
    g_value_set_string(to, selected < (guint)count ? presets[selected].id : "custom");
    return TRUE;
}

static gboolean id_to_selected(GBinding *b, const GValue *from, GValue *to, gpointer ids)
{
    const char *const *table = ids;
    guint n = table == shift_modes ? G_N_ELEMENTS(shift_modes) : G_N_ELEMENTS(size_ids);
    g_value_set_uint(to, index_of(table, n, g_value_get_string(from)));
    return TRUE;
}

static gboolean selected_to_id(GBinding *b, const GValue *from, GValue *to, gpointer ids)
{
    const char *const *table = ids;
    guint n = table == shift_modes ? G_N_ELEMENTS(shift_modes) : G_N_ELEMENTS(size_ids);
    guint selected = g_value_get_uint(from);
    if (selected >= n)
        return FALSE;
    g_value_set_string(to, table[selected]);
    return TRUE;
}

static gboolean is_custom(GBinding *b, const GValue *from, GValue *to, gpointer data)
{
    g_value_set_boolean(to, g_strcmp0(g_value_get_string(from), "custom") == 0);
    return TRUE;
}

static gboolean is_not_custom(GBinding *b, const GValue *from, GValue *to, gpointer data)
{
    g_value_set_boolean(to, g_strcmp0(g_value_get_string(from), "custom") != 0);
    return TRUE;
}

static gboolean is_fixed(GBinding *b, const GValue *from, GValue *to, gpointer data)
{
    g_value_set_boolean(to, g_strcmp0(g_value_get_string(from), "fixed") == 0);
    return TRUE;
}

/* FLUX.1-dev's figure, before a model is open. */
static char *flux_estimate_text(int width, int height)
{
    RsMemoryEstimate estimate;
    rs_memory_estimate(width, height, &estimate);
    char *bytes = g_format_size(estimate.total);
    /* Translators: %s is a size such as "30.3 GB" */
    char *text = g_strdup_printf(_("Needs about %s of memory"), bytes);
    g_free(bytes);
    return text;
}

/* The open model's own estimate (resdit_estimate_memory), with what the backend has free. */
static char *model_estimate_text(RsParamsPanel *self)
{
    ResditJobParams params;
    resdit_job_params_init(&params);
    rs_engine_params_from_settings(self->job, self->model->model, &params);
    ResditMemoryEstimate estimate;
    GError *error = NULL;
    gboolean fits = resdit_estimate_memory(self->model->model, &params, &estimate, &error);
    resdit_job_params_clear(&params);
    char *text;
    if (!fits && !g_error_matches(error, RESDIT_ERROR, RESDIT_ERROR_OUT_OF_MEMORY)) {
        text = g_strdup(error->message);
    } else {
        char *total = g_format_size(estimate.total);
        char *available = g_format_size(estimate.available);
        if (!fits)
            /* Translators: memory figures such as "30.3 GB" */
            text = g_strdup_printf(_("Needs about %s of memory, only %s is free: choose a smaller "
                                     "size"),
                                   total, available);
        else
            text = g_strdup_printf(_("Needs about %s of memory"), total);
        g_free(total);
        g_free(available);
    }
    g_clear_error(&error);
    return text;
}

static void update_dimensions(RsParamsPanel *self)
{
    int width = rs_job_settings_get_width(self->job);
    int height = rs_job_settings_get_height(self->job);
    /* Translators: image width × height in pixels */
    char *size = g_strdup_printf(_("%d × %d px"), width, height);
    gtk_label_set_label(self->dimensions_label, size);

    char *memory =
        self->model != NULL ? model_estimate_text(self) : flux_estimate_text(width, height);
    adw_action_row_set_subtitle(self->dimensions_row, memory);
    g_free(memory);
    g_free(size);
}

static gboolean retry_token_count(gpointer data);

/* "CLIP 12/77 · T5 14/512" under the prompt; tokens past a limit are cut, which is marked. */
static void update_token_count(RsParamsPanel *self)
{
    g_clear_handle_id(&self->token_retry, g_source_remove);
    char *prompt = NULL;
    if (self->job != NULL)
        g_object_get(self->job, "prompt", &prompt, NULL);
    ResditTokenCount count;
    GError *error = NULL;
    gboolean counted = self->model != NULL && prompt != NULL &&
                       resdit_model_count_tokens(self->model->model, prompt, &count, &error);
    g_free(prompt);
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_BUSY))
        self->token_retry = g_timeout_add(500, retry_token_count, self);
    g_clear_error(&error); /* invalid UTF-8 cannot come from the text view; no model: no count */
    if (!counted) {
        if (self->token_retry == 0)
            gtk_widget_set_visible(GTK_WIDGET(self->token_label), FALSE);
        return;
    }
    gboolean over = count.clip > count.clip_limit || count.t5 > count.t5_limit;
    char *clip = g_strdup_printf("CLIP %d/%d", count.clip, count.clip_limit);
    char *t5 = g_strdup_printf("T5 %d/%d", count.t5, count.t5_limit);
    char *text =
        over
            /* Translators: the token counts, then a note that tokens past a limit are cut */
            ? g_strdup_printf(_("%s · %s · the end of the prompt is cut"), clip, t5)
            /* Translators: the token counts per text encoder, "CLIP 12/77 · T5 14/512" */
            : g_strdup_printf(_("%s · %s"), clip, t5);
    gtk_label_set_label(self->token_label, text);
    gtk_widget_set_tooltip_text(
        GTK_WIDGET(self->token_label),
        _("Prompt tokens for the two text encoders, and how many each one reads"));
    if (over)
        gtk_widget_add_css_class(GTK_WIDGET(self->token_label), "error");
    else
        gtk_widget_remove_css_class(GTK_WIDGET(self->token_label), "error");
    gtk_widget_set_visible(GTK_WIDGET(self->token_label), TRUE);
    g_free(text);
    g_free(t5);
    g_free(clip);
}

static gboolean retry_token_count(gpointer data)
{
    RsParamsPanel *self = data;
    self->token_retry = 0;
    update_token_count(self);
    return G_SOURCE_REMOVE;
}

/* The negative prompt and the CFG scale belong to models with classifier-free guidance (SD3);
 * FLUX's guidance is distilled (dev) and takes no negative prompt. */
static void update_guidance_controls(RsParamsPanel *self)
{
    const ResditModel *m = self->model != NULL ? self->model->model : NULL;
    gboolean cfg = m != NULL && resdit_model_uses_cfg(m);
    gtk_widget_set_visible(self->negative_group, cfg);
    adw_preferences_row_set_title(ADW_PREFERENCES_ROW(self->guidance_row),
                                  cfg ? _("CFG Scale") : _("Guidance"));
    g_autofree char *subtitle = NULL;
    if (cfg) {
        char number[G_ASCII_DTOSTR_BUF_SIZE];
        g_ascii_formatd(number, sizeof number, "%g", resdit_model_default_guidance(m));
        /* TRANSLATORS: %s is a number such as 4.5 */
        subtitle = g_strdup_printf(_("Classifier-free guidance; 1 turns it off (model default %s)"),
                                   number);
    }
    adw_action_row_set_subtitle(self->guidance_row, subtitle != NULL ? subtitle : "");
}

void rs_params_panel_set_model(RsParamsPanel *self, RsModelHandle *model)
{
    if (model != NULL)
        rs_model_handle_ref(model);
    g_clear_pointer(&self->model, rs_model_handle_unref);
    self->model = model;
    update_guidance_controls(self);
    if (self->job != NULL)
        update_dimensions(self);
    update_token_count(self);
}

static char *colored(guint32 rgb, const char *text)
{
    return g_markup_printf_escaped("<span foreground=\"#%06x\">■</span> %s", rgb, text);
}

static void update_schedule_legend(RsParamsPanel *self)
{
    int steps = rs_job_settings_get_steps(self->job);
    int global = rs_job_settings_get_global_steps(self->job);
    int local = rs_job_settings_get_local_steps(self->job);
    char *g = g_strdup_printf(_("Global %d"), global);
    char *f = g_strdup_printf(_("Fused %d"), steps - global - local);
    char *l = g_strdup_printf(_("Local %d"), local);
    char *gm = colored(RS_SCHEDULE_GLOBAL_RGB, g);
    char *fm = colored(RS_SCHEDULE_FUSED_RGB, f);
    char *lm = colored(RS_SCHEDULE_LOCAL_RGB, l);
    char *markup = g_strjoin("   ", gm, fm, lm, NULL);
    gtk_label_set_markup(self->schedule_legend, markup);
    g_free(markup);
    g_free(gm);
    g_free(fm);
    g_free(lm);
    g_free(g);
    g_free(f);
    g_free(l);
}

static void on_dice(RsParamsPanel *self)
{
    rs_job_settings_roll_seed(self->job);
}

static void on_copy_seed(RsParamsPanel *self)
{
    char *text = g_strdup_printf("%u", rs_job_settings_get_seed(self->job));
    gdk_clipboard_set_text(gtk_widget_get_clipboard(GTK_WIDGET(self)), text);
    g_free(text);
}

static void bind(gpointer source, const char *source_prop, gpointer target, const char *target_prop)
{
    g_object_bind_property(source, source_prop, target, target_prop,
                           G_BINDING_BIDIRECTIONAL | G_BINDING_SYNC_CREATE);
}

static void bind_spin(RsJobSettings *job, const char *prop, GtkSpinButton *spin)
{
    bind(job, prop, gtk_spin_button_get_adjustment(spin), "value");
}

static void bind_switch(RsJobSettings *job, const char *prop, GtkSwitch *sw)
{
    bind(job, prop, sw, "active");
}

static void bind_size(RsParamsPanel *self, RsJobSettings *job)
{
    g_object_bind_property_full(job, "aspect", self->aspect_row, "selected",
                                G_BINDING_BIDIRECTIONAL | G_BINDING_SYNC_CREATE, aspect_to_selected,
                                selected_to_aspect, NULL, NULL);
    g_object_bind_property_full(job, "size-preset", self->size_row, "selected",
                                G_BINDING_BIDIRECTIONAL | G_BINDING_SYNC_CREATE, id_to_selected,
                                selected_to_id, (gpointer)size_ids, NULL);
    g_object_bind_property_full(job, "aspect", self->custom_width_row, "visible",
                                G_BINDING_SYNC_CREATE, is_custom, NULL, NULL, NULL);
    g_object_bind_property_full(job, "aspect", self->custom_height_row, "visible",
                                G_BINDING_SYNC_CREATE, is_custom, NULL, NULL, NULL);
    g_object_bind_property_full(job, "aspect", self->size_row, "sensitive", G_BINDING_SYNC_CREATE,
                                is_not_custom, NULL, NULL, NULL);
    bind_spin(job, "custom-width", self->custom_width_spin);
    bind_spin(job, "custom-height", self->custom_height_spin);
    g_signal_connect_object(job, "notify::width", G_CALLBACK(update_dimensions), self,
                            G_CONNECT_SWAPPED);
    g_signal_connect_object(job, "notify::height", G_CALLBACK(update_dimensions), self,
                            G_CONNECT_SWAPPED);
    update_dimensions(self);
}

static void bind_schedule(RsParamsPanel *self, RsJobSettings *job)
{
    bind_spin(job, "global-steps", self->global_steps_spin);
    bind_spin(job, "local-steps", self->local_steps_spin);
    g_object_bind_property(job, "steps", self->global_steps_adjustment, "upper",
                           G_BINDING_SYNC_CREATE);
    g_object_bind_property(job, "steps", self->local_steps_adjustment, "upper",
                           G_BINDING_SYNC_CREATE);
    const char *props[] = {"steps", "global-steps", "local-steps"};
    for (gsize i = 0; i < G_N_ELEMENTS(props); i++) {
        g_object_bind_property(job, props[i], self->schedule_bar, props[i], G_BINDING_SYNC_CREATE);
        char *signal = g_strconcat("notify::", props[i], NULL);
        g_signal_connect_object(job, signal, G_CALLBACK(update_schedule_legend), self,
                                G_CONNECT_SWAPPED);
        g_free(signal);
    }
    update_schedule_legend(self);
    bind(job, "cutoff", gtk_range_get_adjustment(GTK_RANGE(self->cutoff_scale)), "value");
}

static void bind_advanced(RsParamsPanel *self, RsJobSettings *job)
{
    bind_spin(job, "sigma", self->sigma_spin);
    bind_spin(job, "patch", self->patch_spin);
    bind_spin(job, "base-size", self->base_size_spin);
    g_object_bind_property_full(job, "shift-mode", self->shift_mode_row, "selected",
                                G_BINDING_BIDIRECTIONAL | G_BINDING_SYNC_CREATE, id_to_selected,
                                selected_to_id, (gpointer)shift_modes, NULL);
    g_object_bind_property_full(job, "shift-mode", self->shift_mu_row, "sensitive",
                                G_BINDING_SYNC_CREATE, is_fixed, NULL, NULL, NULL);
    bind_spin(job, "shift-mu", self->shift_mu_spin);
    bind_spin(job, "lowfreq-noise", self->lowfreq_spin);
    bind_switch(job, "no-pes", self->no_pes_switch);
    bind_switch(job, "no-pipe", self->no_pipe_switch);
    bind_switch(job, "no-psf", self->no_psf_switch);
    bind_switch(job, "no-overlap", self->no_overlap_switch);
    bind_switch(job, "uniform-weights", self->uniform_weights_switch);
    bind_switch(job, "inspect-branches", self->inspect_branches_switch);
}

gboolean rs_params_panel_check_prompt(RsParamsPanel *self)
{
    char *prompt = NULL;
    g_object_get(self->job, "prompt", &prompt, NULL);
    gboolean empty = prompt == NULL || g_strstrip(prompt)[0] == '\0';
    g_free(prompt);
    gtk_widget_set_visible(GTK_WIDGET(self->prompt_hint), empty);
    if (empty)
        gtk_widget_grab_focus(GTK_WIDGET(self->prompt_view));
    return !empty;
}

/* The hint goes as soon as there is something to describe the image. */
static void on_prompt_changed(RsParamsPanel *self)
{
    update_token_count(self);
    if (gtk_widget_get_visible(GTK_WIDGET(self->prompt_hint)))
        rs_params_panel_check_prompt(self);
}

void rs_params_panel_set_job(RsParamsPanel *self, RsJobSettings *job)
{
    g_return_if_fail(self->job == NULL);
    self->job = g_object_ref(job);
    bind(job, "prompt", gtk_text_view_get_buffer(self->prompt_view), "text");
    bind(job, "negative-prompt", gtk_text_view_get_buffer(self->negative_view), "text");
    g_signal_connect_object(job, "notify::prompt", G_CALLBACK(on_prompt_changed), self,
                            G_CONNECT_SWAPPED);
    bind_size(self, job);
    bind_spin(job, "steps", self->steps_spin);
    bind_spin(job, "guidance", self->guidance_spin);
    bind_switch(job, "random-seed", self->random_seed_switch);
    bind_spin(job, "seed", self->seed_spin);
    /* Under Random Seed the seed is drawn for each job: no field, dice or copy to use. */
    GtkWidget *seed_controls[] = {GTK_WIDGET(self->seed_spin), GTK_WIDGET(self->dice_button),
                                  GTK_WIDGET(self->copy_seed_button)};
    for (gsize i = 0; i < G_N_ELEMENTS(seed_controls); i++)
        g_object_bind_property(job, "random-seed", seed_controls[i], "sensitive",
                               G_BINDING_SYNC_CREATE | G_BINDING_INVERT_BOOLEAN);
    bind_spin(job, "batch-count", self->batch_count_spin);
    bind_schedule(self, job);
    bind_advanced(self, job);
    rs_lora_list_set_job(self->lora_list, job);
    rs_init_image_group_set_job(self->init_image_group, job);
}

RsInitImageGroup *rs_params_panel_get_init_image_group(RsParamsPanel *self)
{
    return self->init_image_group;
}

void rs_params_panel_discover_loras(RsParamsPanel *self, const char *const *extra_dirs)
{
    rs_lora_list_discover(self->lora_list, extra_dirs);
}

static void rs_params_panel_dispose(GObject *object)
{
    RsParamsPanel *self = RS_PARAMS_PANEL(object);
    gtk_widget_dispose_template(GTK_WIDGET(self), RS_TYPE_PARAMS_PANEL);
    g_clear_handle_id(&self->token_retry, g_source_remove);
    g_clear_object(&self->job);
    g_clear_pointer(&self->model, rs_model_handle_unref);
    G_OBJECT_CLASS(rs_params_panel_parent_class)->dispose(object);
}

#define CHILD(name) gtk_widget_class_bind_template_child(widget_class, RsParamsPanel, name)

static void rs_params_panel_class_init(RsParamsPanelClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
    object_class->dispose = rs_params_panel_dispose;

    g_type_ensure(RS_TYPE_SCHEDULE_BAR);
    g_type_ensure(RS_TYPE_LORA_LIST);
    g_type_ensure(RS_TYPE_INIT_IMAGE_GROUP);
    gtk_widget_class_set_template_from_resource(widget_class,
                                                "/io/github/resdit/Studio/rs-params-panel.ui");
    CHILD(lora_list);
    CHILD(init_image_group);
    CHILD(prompt_view);
    CHILD(prompt_hint);
    CHILD(token_label);
    CHILD(negative_group);
    CHILD(negative_view);
    CHILD(guidance_row);
    CHILD(aspect_row);
    CHILD(size_row);
    CHILD(custom_width_row);
    CHILD(custom_height_row);
    CHILD(custom_width_spin);
    CHILD(custom_height_spin);
    CHILD(dimensions_row);
    CHILD(dimensions_label);
    CHILD(steps_spin);
    CHILD(guidance_spin);
    CHILD(random_seed_switch);
    CHILD(seed_spin);
    CHILD(dice_button);
    CHILD(copy_seed_button);
    CHILD(batch_count_spin);
    CHILD(global_steps_spin);
    CHILD(local_steps_spin);
    CHILD(global_steps_adjustment);
    CHILD(local_steps_adjustment);
    CHILD(schedule_bar);
    CHILD(schedule_legend);
    CHILD(cutoff_scale);
    CHILD(advanced_row);
    CHILD(sigma_spin);
    CHILD(patch_spin);
    CHILD(base_size_spin);
    CHILD(shift_mode_row);
    CHILD(shift_mu_row);
    CHILD(shift_mu_spin);
    CHILD(lowfreq_spin);
    CHILD(no_pes_switch);
    CHILD(no_pipe_switch);
    CHILD(no_psf_switch);
    CHILD(no_overlap_switch);
    CHILD(uniform_weights_switch);
    CHILD(inspect_branches_switch);
}

static void rs_params_panel_init(RsParamsPanel *self)
{
    gtk_widget_init_template(GTK_WIDGET(self));
    g_signal_connect_swapped(self->dice_button, "clicked", G_CALLBACK(on_dice), self);
    g_signal_connect_swapped(self->copy_seed_button, "clicked", G_CALLBACK(on_copy_seed), self);
}
