#!/usr/bin/env python3
"""Golden of the SD3 sampling job (tests/pipeline/test-sd3-pipeline.c): diffusers'
StableDiffusion3Pipeline on the tiny SD3 transformer (tests/data/sd3/sd3-tiny, from
make_sd3_goldens.py) and the tiny VAE (tests/data/vae/diffusers, from make_pipeline_goldens.py)
with SD3's VAE constants (scaling 1.5305, shift 0.0609), the SD3 scheduler (FlowMatchEuler, shift
3.0, its default spacing), given text embeddings and negative ones (classifier-free guidance,
scale 4), given initial noise; 4 steps at 64 x 64 px (4 x 4 tokens).

Writes tests/data/sd3-pipeline/golden.safetensors: txt, vec, neg_txt, neg_vec, noise, sigmas,
the final latent, the decoded RGB8 image and params (height, width, steps, guidance). Float32 as
the pipeline runs; deterministic. Run with the reference venv's python after
make_sd3_goldens.py and make_pipeline_goldens.py.
"""

import os
import sys

import numpy as np
import torch
from diffusers import (AutoencoderKL, FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel,
                       StableDiffusion3Pipeline)
from safetensors.torch import save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
DATA = os.path.join(ROOT, "tests", "data")
OUT_DIR = os.path.join(DATA, "sd3-pipeline")
SCALING, SHIFT = 1.5305, 0.0609


def main():
    torch.set_num_threads(1)
    transformer = SD3Transformer2DModel.from_pretrained(
        os.path.join(DATA, "sd3", "sd3-tiny", "transformer")).eval()
    # decoder-only weights: the encoder stays at its (unused) init
    vae = AutoencoderKL.from_pretrained(os.path.join(DATA, "vae", "diffusers"),
                                        low_cpu_mem_usage=False).eval()
    scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0)
    pipe = StableDiffusion3Pipeline(transformer=transformer, scheduler=scheduler, vae=vae,
                                    text_encoder=None, tokenizer=None, text_encoder_2=None,
                                    tokenizer_2=None, text_encoder_3=None, tokenizer_3=None)
    pipe.set_progress_bar_config(disable=True)

    height = width = 64
    steps, guidance, txt_len = 4, 4.0, 7
    cfg = transformer.config
    gen = torch.Generator().manual_seed(33)
    txt = torch.randn((1, txt_len, cfg.joint_attention_dim), generator=gen)
    vec = torch.randn((1, cfg.pooled_projection_dim), generator=gen)
    neg_txt = torch.randn((1, txt_len, cfg.joint_attention_dim), generator=gen)
    neg_vec = torch.randn((1, cfg.pooled_projection_dim), generator=gen)
    noise = torch.randn((1, 16, height // 8, width // 8), generator=gen)
    with torch.no_grad():
        latent = pipe(prompt_embeds=txt, pooled_prompt_embeds=vec, negative_prompt_embeds=neg_txt,
                      negative_pooled_prompt_embeds=neg_vec, height=height, width=width,
                      num_inference_steps=steps, guidance_scale=guidance, latents=noise,
                      output_type="latent").images
        decoded = vae.decode(latent / SCALING + SHIFT).sample
        image = pipe.image_processor.postprocess(decoded, output_type="np")[0]
    rgb8 = np.round(image * 255.0).astype(np.float32)
    os.makedirs(OUT_DIR, exist_ok=True)
    save_file({
        "txt": txt[0].contiguous(), "vec": vec[0].contiguous(),
        "neg_txt": neg_txt[0].contiguous(), "neg_vec": neg_vec[0].contiguous(),
        "noise": noise[0].contiguous(),
        "sigmas": pipe.scheduler.sigmas.to(torch.float32).contiguous(),
        "latent": latent[0].contiguous(), "rgb8": torch.from_numpy(rgb8).contiguous(),
        "params": torch.tensor([height, width, steps, guidance], dtype=torch.float32),
    }, os.path.join(OUT_DIR, "golden.safetensors"))
    print("sd3 pipeline: sigmas", pipe.scheduler.sigmas.tolist(), "|latent|",
          float(latent.norm()))


if __name__ == "__main__":
    sys.exit(main())
