#!/usr/bin/env python3
"""Golden files for SD3's sampling loop: diffusers' StableDiffusion3Pipeline on a tiny random
SD3 transformer and VAE, with given text embeddings (the text encoders have their own goldens),
real classifier-free guidance (a batch of two through the transformer), SD3's static flow shift
3.0 and SD3's VAE constants (scaling 1.5305, shift 0.0609).

Writes tests/data/pipeline-sd3/:
  transformer/   tiny SD3Transformer2DModel (diffusers folder)
  vae/           tiny AutoencoderKL decoder with SD3's scaling and shift (diffusers folder)
  golden.HxW.safetensors  per size: txt, vec, neg_txt, neg_vec, noise [16, H/8, W/8], the
                 sigmas the scheduler used, the final latent [16, H/8, W/8] and the decoded RGB8
                 image [H, W, 3], params (height, width, steps, guidance, shift)

Deterministic: fixed seeds, every file rewritten in full. Run with the reference venv's python
(see tools/reference/README.md).
"""
import json
import os
import shutil
import sys

import numpy as np
import torch
from diffusers import (AutoencoderKL, FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel,
                       StableDiffusion3Pipeline)
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flux_tiny import REPO_ROOT  # noqa: E402

OUT = os.path.join(REPO_ROOT, "tests", "data", "pipeline-sd3")
SD3_SCALING, SD3_SHIFT = 1.5305, 0.0609
STEPS, GUIDANCE, FLOW_SHIFT = 4, 4.5, 3.0
SIZES = [(128, 128), (96, 160)]  # pixels (height, width): 8x8 and 6x10 tokens
TXT_LEN = 9                        # joint text tokens (77 CLIP + 256 T5 in the real models)
TRANSFORMER = dict(sample_size=16, patch_size=2, in_channels=16, num_layers=2,
                   attention_head_dim=16, num_attention_heads=2, joint_attention_dim=24,
                   caption_projection_dim=32, pooled_projection_dim=20, out_channels=16,
                   pos_embed_max_size=16, qk_norm="rms_norm")


def randomise(module, gen):
    """Every parameter random (norm weights around 1), zero-initialised layers included."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            elif p.ndim >= 2:
                p.copy_(torch.randn(p.shape, generator=gen) / np.sqrt(p[0].numel()))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))


def tiny_transformer():
    torch.manual_seed(31)
    model = SD3Transformer2DModel(**TRANSFORMER)
    randomise(model, torch.Generator().manual_seed(32))
    with torch.no_grad():
        # the position table stays diffusers' sin-cos table, as in every released checkpoint
        model.proj_out.weight.mul_(0.3)  # velocities of about unit size, like a trained model's
        model.proj_out.bias.mul_(0.3)
    return model.eval()


def tiny_vae():
    torch.manual_seed(33)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=16,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 16, 16, 32), layers_per_block=1, norm_num_groups=4,
        use_quant_conv=False, use_post_quant_conv=False,
        scaling_factor=SD3_SCALING, shift_factor=SD3_SHIFT, sample_size=64)
    randomise(vae, torch.Generator().manual_seed(34))
    return vae.eval()


def write_vae(vae):
    folder = os.path.join(OUT, "vae")
    os.makedirs(folder)
    decoder = {k: v.contiguous() for k, v in vae.state_dict().items() if k.startswith("decoder.")}
    save_file(decoder, os.path.join(folder, "diffusion_pytorch_model.safetensors"))
    config = {k: v for k, v in dict(vae.config).items() if not k.startswith("_")}
    config["_class_name"] = "AutoencoderKL"
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)


def run(pipe, height, width, seed):
    gen = torch.Generator().manual_seed(seed)
    dims = TRANSFORMER["joint_attention_dim"], TRANSFORMER["pooled_projection_dim"]
    txt, neg_txt = (torch.randn((1, TXT_LEN, dims[0]), generator=gen) for _ in range(2))
    vec, neg_vec = (torch.randn((1, dims[1]), generator=gen) for _ in range(2))
    noise = torch.randn((1, 16, height // 8, width // 8), generator=gen)
    sigmas = []

    def record(p, i, t, kwargs):
        sigmas.append(float(t) / 1000.0)
        return kwargs

    with torch.no_grad():
        latent = pipe(prompt_embeds=txt, pooled_prompt_embeds=vec,
                      negative_prompt_embeds=neg_txt, negative_pooled_prompt_embeds=neg_vec,
                      height=height, width=width, num_inference_steps=STEPS,
                      guidance_scale=GUIDANCE, latents=noise.clone(), output_type="latent",
                      callback_on_step_end=record).images
        vae = pipe.vae
        decoded = vae.decode(latent / vae.config.scaling_factor + vae.config.shift_factor).sample
        image = pipe.image_processor.postprocess(decoded, output_type="np")[0]
    rgb8 = np.round(image * 255.0).astype(np.float32)
    tag = f"{height}x{width}"
    save_file({
        "txt": txt[0].contiguous(), "vec": vec[0].contiguous(),
        "neg_txt": neg_txt[0].contiguous(), "neg_vec": neg_vec[0].contiguous(),
        "noise": noise[0].contiguous(),
        "sigmas": torch.tensor(sigmas + [0.0], dtype=torch.float32),
        "latent": latent[0].contiguous(), "rgb8": torch.from_numpy(rgb8).contiguous(),
        "params": torch.tensor([height, width, STEPS, GUIDANCE, FLOW_SHIFT], dtype=torch.float32),
    }, os.path.join(OUT, f"golden.{tag}.safetensors"))
    print(f"sd3 pipeline {tag}: sigmas {[round(s, 6) for s in sigmas]}, "
          f"|latent| {float(latent.norm()):.4f}")


def main():
    torch.set_num_threads(1)
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    transformer = tiny_transformer()
    transformer.save_pretrained(os.path.join(OUT, "transformer"), safe_serialization=True)
    vae = tiny_vae()
    write_vae(vae)
    scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=FLOW_SHIFT)
    pipe = StableDiffusion3Pipeline(
        transformer=transformer, scheduler=scheduler, vae=vae, text_encoder=None, tokenizer=None,
        text_encoder_2=None, tokenizer_2=None, text_encoder_3=None, tokenizer_3=None)
    pipe.set_progress_bar_config(disable=True)
    for i, (height, width) in enumerate(SIZES):
        run(pipe, height, width, 40 + i)


if __name__ == "__main__":
    main()
