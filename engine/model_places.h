/* Where people keep their weights: ComfyUI installs (~/ComfyUI, ~/comfy/ComfyUI, the folders of
 * their extra_model_paths.yaml), Forge and AUTOMATIC1111 installs, the Hugging Face hub cache,
 * and folders the user adds. Each place lists the folders that hold weights and the folders that
 * may hold tokenizer data. */
#pragma once

#include <glib.h>

typedef enum {
    RD_PLACE_FOLDER,   /* a folder the user added: files and diffusers folders inside it */
    RD_PLACE_COMFYUI,  /* an install: models/<kind>/ folders and comfy/<tokenizers>/ */
    RD_PLACE_FORGE,    /* Forge / AUTOMATIC1111: models/Stable-diffusion, VAE, text_encoder */
    RD_PLACE_HF_CACHE, /* a hub cache: models--ORG--NAME/snapshots/HASH */
    RD_PLACE_BUILT_IN, /* the models that come with the app (resdit_bundled_models_dir) */
} RdPlaceKind;

typedef struct {
    RdPlaceKind kind;
    char *root;           /* the install, cache or folder */
    GPtrArray *weights;   /* char *: folders whose files (and diffusers folders) are weights */
    GPtrArray *snapshots; /* char *: HF cache snapshot folders, each with its display name */
    GPtrArray *snapshot_names;
    GPtrArray *tokenizers; /* char *: folders that may hold a tokenizer (t5 or clip) */
    GPtrArray *loras;      /* char *: folders of LoRA files (ComfyUI models/loras and its yaml's
                            * "loras", Forge models/Lora, a user folder and its loras/, Lora/) */
} RdPlace;

/* Every place on this machine: the extra folders first, then the usual ones, the app's own models
 * last (so that a real FLUX model, when there is one, is the first complete one). Folders that do
 * not exist are left out; a place found twice is listed once. */
GPtrArray *rd_places_find(const char *const *extra_dirs);
const char *rd_place_kind_name(RdPlaceKind kind);
void rd_place_free(RdPlace *place);

/* The T5 (spiece.model / tokenizer.json) or CLIP (vocab.json + merges.txt) tokenizer folder or
 * file to use when none sits beside the weights: the places' own copies (ComfyUI's
 * comfy/text_encoders/t5_tokenizer and comfy/sd1_tokenizer, Forge's backend/huggingface
 * folders), tokenizer folders of Hugging Face snapshots (tokenizer_2/, google/t5-v1_1-xxl),
 * then (T5) the app's data folder; NULL when there is none (for CLIP: use the bundled
 * vocabulary). Adds every folder it looked in to searched (char *) when given. */
char *rd_places_find_t5_tokenizer(GPtrArray *places, GPtrArray *searched);
char *rd_places_find_clip_tokenizer(GPtrArray *places, GPtrArray *searched);
