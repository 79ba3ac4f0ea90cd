/* RsJobSettings: the parameters of one generation job; sizes derive from aspect and size preset,
 * and the branch schedule always satisfies global-steps + local-steps <= steps. */
#include "rs-job-settings.h"

#include "rs-size.h"

struct _RsJobSettings {
    GObject parent_instance;

    char *prompt;
    char *negative_prompt; /* models with classifier-free guidance (SD3) */
    char *aspect;
    char *size_preset;
    int custom_width, custom_height;
    int width, height;
    int steps;
    double guidance;
    gboolean random_seed;
    guint seed;
    int batch_count;
    int global_steps, local_steps;
    double cutoff;
    double sigma;
    int patch;
    int base_size;
    char *shift_mode;
    double shift_mu;
    double lowfreq_noise; /* experimental: the initial noise's low frequencies (0 = off) */
    gboolean no_pes, no_pipe, no_psf, no_overlap, uniform_weights;
    gboolean inspect_branches;
    GVariant *loras;  /* a(sdb): path, strength, enabled */
    char *init_image; /* image to image: the source file; "" = text to image (not persisted) */
    double strength;  /* with an init image: 0 keeps it, 1 ignores it */
};

G_DEFINE_FINAL_TYPE(RsJobSettings, rs_job_settings, G_TYPE_OBJECT)

enum {
    PROP_0,
    PROP_PROMPT,
    PROP_NEGATIVE_PROMPT,
    PROP_ASPECT,
    PROP_SIZE_PRESET,
    PROP_CUSTOM_WIDTH,
    PROP_CUSTOM_HEIGHT,
    PROP_WIDTH,
    PROP_HEIGHT,
    PROP_STEPS,
    PROP_GUIDANCE,
    PROP_RANDOM_SEED,
    PROP_SEED,
    PROP_BATCH_COUNT,
    PROP_GLOBAL_STEPS,
    PROP_LOCAL_STEPS,
    PROP_CUTOFF,
    PROP_SIGMA,
    PROP_PATCH,
    PROP_BASE_SIZE,
    PROP_SHIFT_MODE,
    PROP_SHIFT_MU,
    PROP_LOWFREQ_NOISE,
    PROP_NO_PES,
    PROP_NO_PIPE,
    PROP_NO_PSF,
    PROP_NO_OVERLAP,
    PROP_UNIFORM_WEIGHTS,
    PROP_INSPECT_BRANCHES,
    PROP_LORAS,
    PROP_INIT_IMAGE,
    PROP_STRENGTH,
    N_PROPS
};

static GParamSpec *props[N_PROPS];

/* Properties persisted in GSettings under their own name (width and height are derived). */
static const char *const persisted[] = {
    "prompt",   "aspect",      "size-preset", "custom-width",    "custom-height", "steps",
    "guidance", "random-seed", "seed",        "global-steps",    "local-steps",   "cutoff",
    "sigma",    "patch",       "base-size",   "shift-mode",      "shift-mu",      "no-pes",
    "no-pipe",  "no-psf",      "no-overlap",  "uniform-weights", "batch-count",   "strength",
    "negative-prompt", "lowfreq-noise",
};

static void update_size(RsJobSettings *self)
{
    const RsAspectPreset *aspect = rs_aspect_preset_find(self->aspect);
    const RsSizePreset *size = rs_size_preset_find(self->size_preset);
    int width = self->custom_width, height = self->custom_height;
    if (aspect != NULL)
        rs_size_for_aspect(aspect->w, aspect->h, size != NULL ? size->long_side : 4096, &width,
                           &height);
    if (width != self->width) {
        self->width = width;
        g_object_notify_by_pspec(G_OBJECT(self), props[PROP_WIDTH]);
    }
    if (height != self->height) {
        self->height = height;
        g_object_notify_by_pspec(G_OBJECT(self), props[PROP_HEIGHT]);
    }
}

static void set_int(RsJobSettings *self, int *field, int value, int prop)
{
    if (*field == value)
        return;
    *field = value;
    g_object_notify_by_pspec(G_OBJECT(self), props[prop]);
}

/* Keeps global + local <= steps, giving way on the side that did not just change. */
static void set_schedule(RsJobSettings *self, int steps, int global, int local, int changed)
{
    steps = MAX(steps, 1);
    global = CLAMP(global, 0, steps);
    local = CLAMP(local, 0, steps);
    if (global + local > steps) {
        if (changed == PROP_LOCAL_STEPS)
            global = steps - local;
        else
            local = steps - global;
    }
    g_object_freeze_notify(G_OBJECT(self));
    set_int(self, &self->steps, steps, PROP_STEPS);
    set_int(self, &self->global_steps, global, PROP_GLOBAL_STEPS);
    set_int(self, &self->local_steps, local, PROP_LOCAL_STEPS);
    g_object_thaw_notify(G_OBJECT(self));
}

static void set_string(char **field, const GValue *value)
{
    g_free(*field);
    *field = g_value_dup_string(value);
}

/* Notifies only on a change: the LoRA list widget rebuilds its rows on each notification. */
static void set_loras(RsJobSettings *self, GVariant *loras)
{
    g_autoptr(GVariant) empty =
        g_variant_ref_sink(g_variant_new_array(G_VARIANT_TYPE("(sdb)"), NULL, 0));
    GVariant *value = loras != NULL ? loras : empty;
    if (self->loras != NULL && g_variant_equal(self->loras, value))
        return;
    g_clear_pointer(&self->loras, g_variant_unref);
    self->loras = g_variant_ref_sink(value);
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_LORAS]);
}

static void rs_job_settings_set_property(GObject *object, guint id, const GValue *value,
                                         GParamSpec *pspec)
{
    RsJobSettings *self = RS_JOB_SETTINGS(object);
    switch (id) {
    case PROP_PROMPT:
        set_string(&self->prompt, value);
        break;
    case PROP_NEGATIVE_PROMPT:
        set_string(&self->negative_prompt, value);
        break;
    case PROP_ASPECT:
        /* Custom starts from the size on show, not from the last custom one. */
        if (g_strcmp0(g_value_get_string(value), "custom") == 0 &&
            g_strcmp0(self->aspect, "custom") != 0 && self->width > 0 && self->height > 0) {
            set_int(self, &self->custom_width, self->width, PROP_CUSTOM_WIDTH);
            set_int(self, &self->custom_height, self->height, PROP_CUSTOM_HEIGHT);
        }
        set_string(&self->aspect, value);
        update_size(self);
        break;
    case PROP_SIZE_PRESET:
        set_string(&self->size_preset, value);
        update_size(self);
        break;
    case PROP_CUSTOM_WIDTH:
        self->custom_width = rs_size_snap(g_value_get_int(value));
        update_size(self);
        break;
    case PROP_CUSTOM_HEIGHT:
        self->custom_height = rs_size_snap(g_value_get_int(value));
        update_size(self);
        break;
    case PROP_STEPS:
        set_schedule(self, g_value_get_int(value), self->global_steps, self->local_steps, id);
        return;
    case PROP_GLOBAL_STEPS:
        set_schedule(self, self->steps, g_value_get_int(value), self->local_steps, id);
        return;
    case PROP_LOCAL_STEPS:
        set_schedule(self, self->steps, self->global_steps, g_value_get_int(value), id);
        return;
    case PROP_GUIDANCE:
        self->guidance = g_value_get_double(value);
        break;
    case PROP_RANDOM_SEED:
        self->random_seed = g_value_get_boolean(value);
        break;
    case PROP_SEED:
        self->seed = g_value_get_uint(value);
        break;
    case PROP_BATCH_COUNT:
        self->batch_count = g_value_get_int(value);
        break;
    case PROP_CUTOFF:
        self->cutoff = g_value_get_double(value);
        break;
    case PROP_SIGMA:
        self->sigma = g_value_get_double(value);
        break;
    case PROP_PATCH:
        self->patch = g_value_get_int(value);
        break;
    case PROP_BASE_SIZE:
        self->base_size = g_value_get_int(value);
        break;
    case PROP_SHIFT_MODE:
        set_string(&self->shift_mode, value);
        break;
    case PROP_SHIFT_MU:
        self->shift_mu = g_value_get_double(value);
        break;
    case PROP_LOWFREQ_NOISE:
        self->lowfreq_noise = g_value_get_double(value);
        break;
    case PROP_NO_PES:
        self->no_pes = g_value_get_boolean(value);
        break;
    case PROP_NO_PIPE:
        self->no_pipe = g_value_get_boolean(value);
        break;
    case PROP_NO_PSF:
        self->no_psf = g_value_get_boolean(value);
        break;
    case PROP_NO_OVERLAP:
        self->no_overlap = g_value_get_boolean(value);
        break;
    case PROP_UNIFORM_WEIGHTS:
        self->uniform_weights = g_value_get_boolean(value);
        break;
    case PROP_INSPECT_BRANCHES:
        self->inspect_branches = g_value_get_boolean(value);
        break;
    case PROP_LORAS:
        set_loras(self, g_value_get_variant(value));
        return;
    case PROP_INIT_IMAGE:
        set_string(&self->init_image, value);
        if (self->init_image == NULL)
            self->init_image = g_strdup("");
        break;
    case PROP_STRENGTH:
        self->strength = g_value_get_double(value);
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
        return;
    }
}

static void rs_job_settings_get_property(GObject *object, guint id, GValue *value,
                                         GParamSpec *pspec)
{
    RsJobSettings *self = RS_JOB_SETTINGS(object);
    switch (id) {
    case PROP_PROMPT:
        g_value_set_string(value, self->prompt);
        break;
    case PROP_NEGATIVE_PROMPT:
        g_value_set_string(value, self->negative_prompt);
        break;
    case PROP_ASPECT:
        g_value_set_string(value, self->aspect);
        break;
    case PROP_SIZE_PRESET:
        g_value_set_string(value, self->size_preset);
        break;
    case PROP_CUSTOM_WIDTH:
        g_value_set_int(value, self->custom_width);
        break;
    case PROP_CUSTOM_HEIGHT:
        g_value_set_int(value, self->custom_height);
        break;
    case PROP_WIDTH:
        g_value_set_int(value, self->width);
        break;
    case PROP_HEIGHT:
        g_value_set_int(value, self->height);
        break;
    case PROP_STEPS:
        g_value_set_int(value, self->steps);
        break;
    case PROP_GUIDANCE:
        g_value_set_double(value, self->guidance);
        break;
    case PROP_RANDOM_SEED:
        g_value_set_boolean(value, self->random_seed);
        break;
    case PROP_SEED:
        g_value_set_uint(value, self->seed);
        break;
    case PROP_BATCH_COUNT:
        g_value_set_int(value, self->batch_count);
        break;
    case PROP_GLOBAL_STEPS:
        g_value_set_int(value, self->global_steps);
        break;
    case PROP_LOCAL_STEPS:
        g_value_set_int(value, self->local_steps);
        break;
    case PROP_CUTOFF:
        g_value_set_double(value, self->cutoff);
        break;
    case PROP_SIGMA:
        g_value_set_double(value, self->sigma);
        break;
    case PROP_PATCH:
        g_value_set_int(value, self->patch);
        break;
    case PROP_BASE_SIZE:
        g_value_set_int(value, self->base_size);
        break;
    case PROP_SHIFT_MODE:
        g_value_set_string(value, self->shift_mode);
        break;
    case PROP_SHIFT_MU:
        g_value_set_double(value, self->shift_mu);
        break;
    case PROP_LOWFREQ_NOISE:
        g_value_set_double(value, self->lowfreq_noise);
        break;
    case PROP_NO_PES:
        g_value_set_boolean(value, self->no_pes);
        break;
    case PROP_NO_PIPE:
        g_value_set_boolean(value, self->no_pipe);
        break;
    case PROP_NO_PSF:
        g_value_set_boolean(value, self->no_psf);
        break;
    case PROP_NO_OVERLAP:
        g_value_set_boolean(value, self->no_overlap);
        break;
    case PROP_UNIFORM_WEIGHTS:
        g_value_set_boolean(value, self->uniform_weights);
        break;
    case PROP_INSPECT_BRANCHES:
        g_value_set_boolean(value, self->inspect_branches);
        break;
    case PROP_LORAS:
        g_value_set_variant(value, self->loras);
        break;
    case PROP_INIT_IMAGE:
        g_value_set_string(value, self->init_image);
        break;
    case PROP_STRENGTH:
        g_value_set_double(value, self->strength);
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
        break;
    }
}

static void rs_job_settings_finalize(GObject *object)
{
    g_clear_pointer(&RS_JOB_SETTINGS(object)->loras, g_variant_unref);
    RsJobSettings *self = RS_JOB_SETTINGS(object);
    g_free(self->prompt);
    g_free(self->negative_prompt);
    g_free(self->aspect);
    g_free(self->size_preset);
    g_free(self->shift_mode);
    g_free(self->init_image);
    G_OBJECT_CLASS(rs_job_settings_parent_class)->finalize(object);
}

#define RW (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)

static GParamSpec *int_prop(const char *name, int min, int max, int def)
{
    return g_param_spec_int(name, NULL, NULL, min, max, def, RW);
}

static GParamSpec *double_prop(const char *name, double min, double max, double def)
{
    return g_param_spec_double(name, NULL, NULL, min, max, def, RW);
}

static GParamSpec *bool_prop(const char *name, gboolean def)
{
    return g_param_spec_boolean(name, NULL, NULL, def, RW);
}

static void rs_job_settings_class_init(RsJobSettingsClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);
    object_class->set_property = rs_job_settings_set_property;
    object_class->get_property = rs_job_settings_get_property;
    object_class->finalize = rs_job_settings_finalize;

    props[PROP_PROMPT] = g_param_spec_string("prompt", NULL, NULL, "", RW);
    props[PROP_NEGATIVE_PROMPT] = g_param_spec_string("negative-prompt", NULL, NULL, "", RW);
    props[PROP_ASPECT] = g_param_spec_string("aspect", NULL, NULL, "1:1", RW);
    props[PROP_SIZE_PRESET] = g_param_spec_string("size-preset", NULL, NULL, "4K", RW);
    props[PROP_CUSTOM_WIDTH] = int_prop("custom-width", 256, 8192, 4096);
    props[PROP_CUSTOM_HEIGHT] = int_prop("custom-height", 256, 8192, 4096);
    props[PROP_WIDTH] = g_param_spec_int("width", NULL, NULL, 16, 8192, 4096,
                                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
    props[PROP_HEIGHT] = g_param_spec_int("height", NULL, NULL, 16, 8192, 4096,
                                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
    props[PROP_STEPS] = int_prop("steps", 1, 200, 35);
    props[PROP_GUIDANCE] = double_prop("guidance", 0, 20, 3.5);
    props[PROP_RANDOM_SEED] = bool_prop("random-seed", TRUE);
    props[PROP_SEED] = g_param_spec_uint("seed", NULL, NULL, 0, G_MAXUINT32, 42, RW);
    /* How many jobs one Generate queues: seed, seed + 1, ... (or a drawn seed each). */
    props[PROP_BATCH_COUNT] = int_prop("batch-count", 1, RS_MAX_BATCH_COUNT, 1);
    props[PROP_GLOBAL_STEPS] = int_prop("global-steps", 0, 200, 10);
    props[PROP_LOCAL_STEPS] = int_prop("local-steps", 0, 200, 15);
    props[PROP_CUTOFF] = double_prop("cutoff", 0, 1, 0.2);
    props[PROP_SIGMA] = double_prop("sigma", 0, 256, 0);
    props[PROP_PATCH] = int_prop("patch", 16, 256, 64);
    props[PROP_BASE_SIZE] = int_prop("base-size", 256, 2048, 1024);
    props[PROP_SHIFT_MODE] = g_param_spec_string("shift-mode", NULL, NULL, "base", RW);
    props[PROP_SHIFT_MU] = double_prop("shift-mu", 0, 4, 1.15);
    props[PROP_LOWFREQ_NOISE] = double_prop("lowfreq-noise", 0, 1, 0);
    props[PROP_NO_PES] = bool_prop("no-pes", FALSE);
    props[PROP_NO_PIPE] = bool_prop("no-pipe", FALSE);
    props[PROP_NO_PSF] = bool_prop("no-psf", FALSE);
    props[PROP_NO_OVERLAP] = bool_prop("no-overlap", FALSE);
    props[PROP_UNIFORM_WEIGHTS] = bool_prop("uniform-weights", FALSE);
    props[PROP_INSPECT_BRANCHES] = bool_prop("inspect-branches", FALSE);
    /* The LoRA list, in the order they apply: (path, strength, enabled). */
    props[PROP_LORAS] = g_param_spec_variant("loras", NULL, NULL, G_VARIANT_TYPE("a(sdb)"), NULL,
                                            RW | G_PARAM_EXPLICIT_NOTIFY);
    /* Image to image: the file the job starts from ("" = none) and how much of it is redrawn. */
    props[PROP_INIT_IMAGE] = g_param_spec_string("init-image", NULL, NULL, "", RW);
    props[PROP_STRENGTH] = double_prop("strength", 0, 1, RS_DEFAULT_STRENGTH);
    g_object_class_install_properties(object_class, N_PROPS, props);
}

static void rs_job_settings_init(RsJobSettings *self)
{
    self->prompt = g_strdup("");
    self->negative_prompt = g_strdup("");
    self->aspect = g_strdup("1:1");
    self->size_preset = g_strdup("4K");
    self->custom_width = self->custom_height = 4096;
    self->steps = 35;
    self->guidance = 3.5;
    self->random_seed = TRUE;
    self->seed = 42;
    self->batch_count = 1;
    self->global_steps = 10;
    self->local_steps = 15;
    self->cutoff = 0.2;
    self->patch = 64;
    self->base_size = 1024;
    self->shift_mode = g_strdup("base");
    self->shift_mu = 1.15;
    self->loras = g_variant_ref_sink(g_variant_new_array(G_VARIANT_TYPE("(sdb)"), NULL, 0));
    self->init_image = g_strdup("");
    self->strength = RS_DEFAULT_STRENGTH;
    update_size(self);
}

RsJobSettings *rs_job_settings_new(void)
{
    return g_object_new(RS_TYPE_JOB_SETTINGS, NULL);
}

/* GSettings maps no GVariant property by itself: the LoRA list goes through as it is. */
static gboolean variant_from_settings(GValue *value, GVariant *variant, gpointer data)
{
    g_value_set_variant(value, variant);
    return TRUE;
}

static GVariant *variant_to_settings(const GValue *value, const GVariantType *type, gpointer data)
{
    GVariant *variant = g_value_get_variant(value);
    return variant != NULL && g_variant_is_of_type(variant, type) ? g_variant_ref(variant) : NULL;
}

void rs_job_settings_bind(RsJobSettings *self, GSettings *settings)
{
    /* Steps first, so the stored schedule is checked against the stored step count. */
    g_settings_bind(settings, "steps", self, "steps", G_SETTINGS_BIND_DEFAULT);
    for (gsize i = 0; i < G_N_ELEMENTS(persisted); i++)
        g_settings_bind(settings, persisted[i], self, persisted[i], G_SETTINGS_BIND_DEFAULT);
    g_settings_bind_with_mapping(settings, "loras", self, "loras", G_SETTINGS_BIND_DEFAULT,
                                 variant_from_settings, variant_to_settings, NULL, NULL);
    g_object_set(self, "inspect-branches",
                 g_settings_get_boolean(settings, "inspect-branches-default"), NULL);
}

int rs_job_settings_get_width(RsJobSettings *self)
{
    return self->width;
}

int rs_job_settings_get_height(RsJobSettings *self)
{
    return self->height;
}

int rs_job_settings_get_steps(RsJobSettings *self)
{
    return self->steps;
}

int rs_job_settings_get_global_steps(RsJobSettings *self)
{
    return self->global_steps;
}

int rs_job_settings_get_local_steps(RsJobSettings *self)
{
    return self->local_steps;
}

guint rs_job_settings_get_seed(RsJobSettings *self)
{
    return self->seed;
}

int rs_job_settings_get_batch_count(RsJobSettings *self)
{
    return self->batch_count;
}

const char *rs_job_settings_get_init_image(RsJobSettings *self)
{
    return self->init_image[0] != '\0' ? self->init_image : NULL;
}

guint rs_job_settings_roll_seed(RsJobSettings *self)
{
    guint seed = g_random_int();
    g_object_set(self, "seed", seed, "random-seed", FALSE, NULL);
    return seed;
}
