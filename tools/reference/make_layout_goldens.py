"""The tiny pipeline transformer (tests/data/pipeline/transformer, a diffusers folder) as BFL's
single file, flux1-dev.safetensors' key names (its RoPE axes, which a head size other than
FLUX's 128 cannot tell, in the metadata), for the model-layout tests (tests/pipeline/
test-layouts.c). Those tests lay the same weights out as ComfyUI, Forge, the Hugging Face cache
and all-in-one checkpoints and check that every layout gives the diffusers folder's pixels; the
other parts (VAE ae.safetensors, CLIP and T5 single files) are renamed copies they make
themselves. Deterministic: the same input gives the same bytes.
"""

import json
import os

from safetensors.torch import load_file, save_file

from flux_tiny import REPO_ROOT, diffusers_to_bfl

SRC = os.path.join(REPO_ROOT, "tests", "data", "pipeline", "transformer")
OUT = os.path.join(REPO_ROOT, "tests", "data", "pipeline", "flux-tiny-dev.bfl.safetensors")
VAE_SRC = os.path.join(REPO_ROOT, "tests", "data", "vae")
VAE_OUT = os.path.join(REPO_ROOT, "tests", "data", "pipeline", "ae-tiny.bfl.safetensors")


def main():
    with open(os.path.join(SRC, "config.json")) as f:
        cfg = json.load(f)
    sd = load_file(os.path.join(SRC, "diffusion_pytorch_model.safetensors"))
    axes = ",".join(str(a) for a in cfg["axes_dims_rope"])  # BFL files carry no config
    save_file(diffusers_to_bfl(sd, cfg), OUT, metadata={"axes_dims_rope": axes})
    print(OUT)
    # The tiny VAE's ae.safetensors with its GroupNorm group count, which FLUX's 32 would not fit.
    with open(os.path.join(VAE_SRC, "diffusers", "config.json")) as f:
        groups = json.load(f)["norm_num_groups"]
    ae = load_file(os.path.join(VAE_SRC, "ae.safetensors"))
    save_file(ae, VAE_OUT, metadata={"norm_num_groups": str(groups)})
    print(VAE_OUT)


if __name__ == "__main__":
    main()
