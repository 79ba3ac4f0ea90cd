#!/usr/bin/env python3
"""Golden files for the VAE encoder (tests/pipeline/test-vae-encoder.c, issue 22).

Writes, with fixed seeds and random (not trained) weights, into tests/data/vae-encoder/:
  diffusers/        a tiny diffusers AutoencoderKL (encoder and decoder, 2 resnets per encoder
                    level, GroupNorm(4), 16 latent channels, 8x): config.json +
                    diffusion_pytorch_model.safetensors
  ae.safetensors    the same weights under BFL names (encoder.down.N.block.M..., attention
                    weights as 1x1 convolutions), metadata norm_num_groups = 4
  golden.safetensors
                    image [48, 32, 3] in [-1, 1] (non-square, pixel-major) and
                    latent [16, 6, 4] = (mean - shift_factor) * scaling_factor, the mean of
                    diffusers' AutoencoderKL.encode(image).latent_dist; decoded [48, 32, 3]: the
                    decoder applied to that latent (latent / scaling_factor + shift_factor), for
                    the encode-decode round trip of `resdit vae decode`.

Usage: ~/.cache/resdit-ref/bin/python tools/reference/make_vae_encoder_goldens.py [REPO_ROOT]
"""
import json
import os
import sys

import torch
from diffusers import AutoencoderKL
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(__file__))
from make_pipeline_goldens import bfl_name, randomise  # noqa: E402

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
OUT = os.path.join(ROOT, "tests", "data", "vae-encoder")


def tiny_vae():
    torch.manual_seed(20)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=16,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 16, 16), layers_per_block=2, norm_num_groups=4,
        use_quant_conv=False, use_post_quant_conv=False,
        scaling_factor=0.3611, shift_factor=0.1159, sample_size=64)
    randomise(vae, torch.Generator().manual_seed(21))
    return vae.eval()


def bfl_encoder_name(name):
    """diffusers encoder name -> BFL ae.safetensors name."""
    parts = name.split(".")
    if parts[1] == "mid_block":
        if parts[2] == "resnets":
            rest = ".".join(parts[4:]).replace("conv_shortcut", "nin_shortcut")
            return f"encoder.mid.block_{int(parts[3]) + 1}.{rest}"
        attn = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out": "proj_out"}
        return f"encoder.mid.attn_1.{attn[parts[4]]}.{parts[-1]}"
    if parts[1] == "down_blocks":
        if parts[3] == "resnets":
            rest = ".".join(parts[5:]).replace("conv_shortcut", "nin_shortcut")
            return f"encoder.down.{parts[2]}.block.{parts[4]}.{rest}"
        return f"encoder.down.{parts[2]}.downsample.conv.{parts[-1]}"
    if parts[1] == "conv_norm_out":
        return f"encoder.norm_out.{parts[-1]}"
    return name


def main():
    vae = tiny_vae()
    os.makedirs(os.path.join(OUT, "diffusers"), exist_ok=True)
    state = {k: v.contiguous() for k, v in vae.state_dict().items()}
    save_file(state, os.path.join(OUT, "diffusers", "diffusion_pytorch_model.safetensors"))
    config = {k: v for k, v in dict(vae.config).items() if not k.startswith("_")}
    config["_class_name"] = "AutoencoderKL"
    with open(os.path.join(OUT, "diffusers", "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    bfl = {}
    for k, v in state.items():
        name = bfl_encoder_name(k) if k.startswith("encoder.") else bfl_name(k)
        if ".attn_1." in name and name.endswith("weight") and v.ndim == 2:
            v = v[:, :, None, None]
        bfl[name] = v.contiguous()
    save_file(bfl, os.path.join(OUT, "ae.safetensors"), metadata={"norm_num_groups": "4"})

    gen = torch.Generator().manual_seed(22)
    image = torch.rand((1, 3, 48, 32), generator=gen) * 2 - 1
    with torch.no_grad():
        mean = vae.encode(image).latent_dist.mean
        latent = (mean - vae.config.shift_factor) * vae.config.scaling_factor
        decoded = vae.decode(latent / vae.config.scaling_factor + vae.config.shift_factor).sample
    save_file({"image": image[0].permute(1, 2, 0).contiguous(),
               "latent": latent[0].contiguous(),
               "decoded": decoded[0].permute(1, 2, 0).contiguous()},
              os.path.join(OUT, "golden.safetensors"))
    print("vae-encoder:", tuple(image.shape), "->", tuple(latent.shape))


if __name__ == "__main__":
    main()
