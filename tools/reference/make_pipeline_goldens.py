#!/usr/bin/env python3
"""Golden files for the VAE decoder and the end-to-end pipeline (tests/pipeline).

Writes, with fixed seeds and random (not trained) weights:
  tests/data/vae/            tiny diffusers AutoencoderKL decoder (diffusers/: config.json +
                             diffusion_pytorch_model.safetensors), the same weights under BFL
                             names (ae.safetensors), and golden.safetensors (latent -> image).
  tests/data/pipeline-schnell/  the same without guidance input and without timestep shift.
  tests/data/pipeline/       tiny FluxTransformer2DModel (transformer/), and golden.safetensors:
                             text embeddings, the initial noise, the shifted timesteps, the final
                             latent of diffusers' FluxPipeline and the decoded RGB8 image.

Usage: /work/venv-ref/bin/python tools/reference/make_pipeline_goldens.py [REPO_ROOT]
"""
import json
import os
import sys

import numpy as np
import torch
from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
from safetensors.torch import save_file

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
VAE_DIR = os.path.join(ROOT, "tests", "data", "vae")
PIPE_DIR = os.path.join(ROOT, "tests", "data", "pipeline")


def randomise(module, gen, scale=0.2):
    """Every parameter random (norm weights around 1), so no tensor is left at its init value."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            noise = torch.randn(p.shape, generator=gen) * scale
            if "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + noise)
            elif p.ndim >= 2:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=gen) / np.sqrt(fan_in))
            else:
                p.copy_(noise)


def tiny_vae():
    torch.manual_seed(0)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=16,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 16, 16, 32), layers_per_block=1, norm_num_groups=4,
        use_quant_conv=False, use_post_quant_conv=False,
        scaling_factor=0.3611, shift_factor=0.1159, sample_size=64)
    randomise(vae, torch.Generator().manual_seed(1))
    return vae.eval()


def bfl_name(name):
    """diffusers decoder name -> BFL ae.safetensors name."""
    n_levels = 4
    parts = name.split(".")
    if parts[1] == "mid_block":
        if parts[2] == "resnets":
            rest = ".".join(parts[4:])
            return f"decoder.mid.block_{int(parts[3]) + 1}.{rest}"
        attn = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out": "proj_out"}
        sub = attn[parts[4]]
        return f"decoder.mid.attn_1.{sub}.{parts[-1]}"
    if parts[1] == "up_blocks":
        level = n_levels - 1 - int(parts[2])
        if parts[3] == "resnets":
            rest = ".".join(parts[5:]).replace("conv_shortcut", "nin_shortcut")
            return f"decoder.up.{level}.block.{parts[4]}.{rest}"
        return f"decoder.up.{level}.upsample.conv.{parts[-1]}"
    if parts[1] == "conv_norm_out":
        return f"decoder.norm_out.{parts[-1]}"
    return name


def write_vae(vae):
    os.makedirs(VAE_DIR, exist_ok=True)
    decoder = {k: v.contiguous() for k, v in vae.state_dict().items() if k.startswith("decoder.")}
    folder = os.path.join(VAE_DIR, "diffusers")
    os.makedirs(folder, exist_ok=True)
    save_file(decoder, os.path.join(folder, "diffusion_pytorch_model.safetensors"))
    config = dict(vae.config)
    config = {k: v for k, v in config.items() if not k.startswith("_")}
    config["_class_name"] = "AutoencoderKL"
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    bfl = {}
    for k, v in decoder.items():
        name = bfl_name(k)
        if ".attn_1." in name and name.endswith("weight") and v.ndim == 2:
            v = v[:, :, None, None]
        bfl[name] = v.contiguous()
    save_file(bfl, os.path.join(VAE_DIR, "ae.safetensors"))

    gen = torch.Generator().manual_seed(2)
    latent = torch.randn((1, 16, 12, 10), generator=gen)
    with torch.no_grad():
        image = vae.decode(latent / vae.config.scaling_factor + vae.config.shift_factor).sample
    save_file({"latent": latent[0].contiguous(), "image": image[0].permute(1, 2, 0).contiguous()},
              os.path.join(VAE_DIR, "golden.safetensors"))
    print("vae:", tuple(latent.shape), "->", tuple(image.shape))


def tiny_transformer(guidance=True):
    torch.manual_seed(3)
    model = FluxTransformer2DModel(
        patch_size=1, in_channels=64, num_layers=1, num_single_layers=2, attention_head_dim=16,
        num_attention_heads=4, joint_attention_dim=32, pooled_projection_dim=32,
        guidance_embeds=guidance, axes_dims_rope=(4, 6, 6))
    randomise(model, torch.Generator().manual_seed(4 if guidance else 6))
    with torch.no_grad():  # velocities of about unit size, like a trained model's
        model.proj_out.weight.mul_(0.1)
        model.proj_out.bias.mul_(0.1)
    return model.eval()


def write_pipeline(vae, schnell=False):
    """dev: guidance input, dynamic shift (mu from the token count). schnell: no guidance input,
    no shift (the FLUX.1-schnell scheduler config)."""
    out_dir = PIPE_DIR + ("-schnell" if schnell else "")
    os.makedirs(out_dir, exist_ok=True)
    transformer = tiny_transformer(guidance=not schnell)
    transformer.save_pretrained(os.path.join(out_dir, "transformer"), safe_serialization=True)
    if schnell:
        scheduler = FlowMatchEulerDiscreteScheduler(
            num_train_timesteps=1000, shift=1.0, use_dynamic_shifting=False)
    else:
        scheduler = FlowMatchEulerDiscreteScheduler(
            num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True, base_shift=0.5,
            max_shift=1.15, base_image_seq_len=256, max_image_seq_len=4096)
    pipe = FluxPipeline(scheduler=scheduler, vae=vae, text_encoder=None, tokenizer=None,
                        text_encoder_2=None, tokenizer_2=None, transformer=transformer)
    pipe.set_progress_bar_config(disable=True)

    height = width = 128  # 16 x 16 latent, 8 x 8 tokens = the tiny base grid (64 tokens)
    steps, guidance, txt_len = 4, 3.5, 7
    gen = torch.Generator().manual_seed(5)
    txt = torch.randn((1, txt_len, 32), generator=gen)
    vec = torch.randn((1, 32), generator=gen)
    noise = torch.randn((1, 16, height // 8, width // 8), generator=gen)
    packed = FluxPipeline._pack_latents(noise, 1, 16, height // 8, width // 8)

    timesteps = []
    def record(p, i, t, kwargs):
        timesteps.append(float(t) / 1000.0)
        return kwargs
    with torch.no_grad():
        out = pipe(prompt_embeds=txt, pooled_prompt_embeds=vec, height=height, width=width,
                   num_inference_steps=steps, guidance_scale=guidance, latents=packed,
                   output_type="latent", callback_on_step_end=record).images
        latent = FluxPipeline._unpack_latents(out, height, width, pipe.vae_scale_factor)
        decoded = vae.decode(latent / vae.config.scaling_factor + vae.config.shift_factor).sample
        image = pipe.image_processor.postprocess(decoded, output_type="np")[0]
    rgb8 = np.round(image * 255.0).astype(np.float32)
    save_file({
        "txt": txt[0].contiguous(), "vec": vec[0].contiguous(), "noise": noise[0].contiguous(),
        "timesteps": torch.tensor(timesteps + [0.0], dtype=torch.float32),
        "sigmas": pipe.scheduler.sigmas.to(torch.float32).contiguous(),
        "latent": latent[0].contiguous(), "rgb8": torch.from_numpy(rgb8).contiguous(),
        "params": torch.tensor([height, width, steps, guidance], dtype=torch.float32),
    }, os.path.join(out_dir, "golden.safetensors"))
    print("pipeline: latent", tuple(latent.shape), "image", image.shape,
          "sigmas", pipe.scheduler.sigmas.tolist())


def main():
    vae = tiny_vae()
    write_vae(vae)
    write_pipeline(vae)
    write_pipeline(vae, schnell=True)


if __name__ == "__main__":
    main()
