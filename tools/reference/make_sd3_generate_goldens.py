#!/usr/bin/env python3
"""Golden of a whole SD3 generation (tests/pipeline/test-sd3-generate.c): diffusers 0.32.2's
StableDiffusion3Pipeline WITH its text encoders, on a prompt and a negative prompt, as
`resdit generate` runs it on a diffusers folder.

The model, assembled from parts already under tests/data (the test assembles the same folder):
  text_encoder{,_2,_3}/, tokenizer{,_2}/   tests/data/sd3-text/tiny (make_sd3_text_goldens.py:
                                           CLIP-L 16 wide, CLIP-G 24 wide, T5 48 wide)
  tokenizer_3/                             tests/data/text/tiny/tokenizer_2 (the tiny T5 one)
  vae/                                     tests/data/vae/diffusers with SD3's constants
                                           (scaling 1.5305, shift 0.0609) in its config.json
  transformer/                             written here: a tiny SD3 transformer whose
                                           joint_attention_dim (48) and pooled_projection_dim
                                           (40) are those encoders', its sin-cos position table
                                           as diffusers makes it, weights rounded to float16
                                           (stored so) -> tests/data/sd3-generate/transformer/

The initial noise is the engine's (engine/sampler/noise.h: Philox4x32-10 keyed by the seed,
Box-Muller in double), computed here in numpy, so the job started from the seed alone must
match. 64 x 64 px, 4 steps, CFG scale 4.5, the default max_sequence_length 256.

Writes tests/data/sd3-generate/golden.safetensors: noise, the final latent, the RGB8 image
(float32) and params (height, width, steps, guidance), and golden.json (prompt, negative
prompt, seed and the same params). Deterministic. Run with the reference venv's python after make_sd3_text_goldens.py
and make_pipeline_goldens.py.
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
from transformers import (CLIPTextModelWithProjection, CLIPTokenizer, T5EncoderModel,
                          T5TokenizerFast)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
DATA = os.path.join(ROOT, "tests", "data")
TEXT = os.path.join(DATA, "sd3-text", "tiny")
T5_TOKENIZER = os.path.join(DATA, "text", "tiny", "tokenizer_2")
OUT = os.path.join(DATA, "sd3-generate")
SCALING, SHIFT = 1.5305, 0.0609

PROMPT = "a photo of a cat wearing a tiny astronaut helmet, soft light"
NEGATIVE = "blurry, low quality"
SEED = 20260412
HEIGHT = WIDTH = 64
STEPS, GUIDANCE = 4, 4.5

M0, M1, W0, W1 = (np.uint64(v) for v in (0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85))
MASK, S32 = np.uint64(0xFFFFFFFF), np.uint64(32)


def philox(c, k):
    """Philox4x32-10 on arrays of counters c (4 x n, uint64 holding 32 bits) and key k."""
    c0, c1, c2, c3 = c
    k0, k1 = k
    for _ in range(10):
        p0, p1 = M0 * c0, M1 * c2
        c0, c1, c2, c3 = ((p1 >> S32) ^ c1 ^ k0) & MASK, p1 & MASK, ((p0 >> S32) ^ c3 ^ k1) & MASK, \
            p0 & MASK
        k0, k1 = (k0 + W0) & MASK, (k1 + W1) & MASK
    return c0, c1, c2, c3


def engine_noise(seed, n):
    q = np.arange((n + 3) // 4, dtype=np.uint64)
    zero = np.zeros_like(q)
    x = philox((q & MASK, q >> S32, zero, zero),
               (np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32)))
    u = [(xi.astype(np.float64) + 0.5) / 4294967296.0 for xi in x]
    z = []
    for a, b in ((0, 1), (2, 3)):
        r = np.sqrt(-2.0 * np.log(u[a]))
        z += [r * np.cos(2.0 * np.pi * u[b]), r * np.sin(2.0 * np.pi * u[b])]
    return np.stack(z, axis=1).reshape(-1)[:n].astype(np.float32)


def tiny_transformer():
    torch.manual_seed(2026)
    model = SD3Transformer2DModel(sample_size=16, patch_size=2, in_channels=16, num_layers=2,
                                  attention_head_dim=16, num_attention_heads=2,
                                  joint_attention_dim=48, caption_projection_dim=32,
                                  pooled_projection_dim=40, out_channels=16,
                                  pos_embed_max_size=24)
    with torch.no_grad():  # random everywhere (the position table stays diffusers' sin-cos)
        for p in model.parameters():
            p.copy_((torch.randn_like(p) * 0.15).half().float())
    return model.eval()


def main():
    torch.set_num_threads(1)
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    transformer = tiny_transformer()
    transformer.half().save_pretrained(os.path.join(OUT, "transformer"), safe_serialization=True)
    transformer.float()
    f32 = dict(torch_dtype=torch.float32)
    pipe = StableDiffusion3Pipeline(
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0),
        vae=AutoencoderKL.from_pretrained(os.path.join(DATA, "vae", "diffusers"),
                                          scaling_factor=SCALING, shift_factor=SHIFT,
                                          low_cpu_mem_usage=False).eval(),
        text_encoder=CLIPTextModelWithProjection.from_pretrained(
            os.path.join(TEXT, "text_encoder"), **f32).eval(),
        tokenizer=CLIPTokenizer.from_pretrained(os.path.join(TEXT, "tokenizer")),
        text_encoder_2=CLIPTextModelWithProjection.from_pretrained(
            os.path.join(TEXT, "text_encoder_2"), **f32).eval(),
        tokenizer_2=CLIPTokenizer.from_pretrained(os.path.join(TEXT, "tokenizer_2")),
        text_encoder_3=T5EncoderModel.from_pretrained(
            os.path.join(TEXT, "text_encoder_3"), **f32).eval(),
        tokenizer_3=T5TokenizerFast.from_pretrained(T5_TOKENIZER))
    pipe.set_progress_bar_config(disable=True)
    shape = (1, 16, HEIGHT // 8, WIDTH // 8)
    noise = torch.from_numpy(engine_noise(SEED, int(np.prod(shape))).reshape(shape))
    args = dict(prompt=PROMPT, negative_prompt=NEGATIVE, height=HEIGHT, width=WIDTH,
                num_inference_steps=STEPS, guidance_scale=GUIDANCE)
    with torch.no_grad():
        latent = pipe(**args, latents=noise.clone(), output_type="latent").images
        image = pipe(**args, latents=noise.clone(), output_type="np").images[0]
    rgb8 = np.round(image * 255.0).astype(np.float32)
    save_file({
        "noise": noise[0].contiguous(), "latent": latent[0].contiguous(),
        "rgb8": torch.from_numpy(rgb8).contiguous(),
        "params": torch.tensor([HEIGHT, WIDTH, STEPS, GUIDANCE], dtype=torch.float32),
    }, os.path.join(OUT, "golden.safetensors"))
    with open(os.path.join(OUT, "golden.json"), "w") as f:
        json.dump({"prompt": PROMPT, "negative_prompt": NEGATIVE, "seed": SEED,
                   "height": HEIGHT, "width": WIDTH, "steps": STEPS, "guidance": GUIDANCE},
                  f, indent=1)
    print("sd3 generate: |latent|", float(latent.norm()), "rgb8 mean", float(rgb8.mean()))


if __name__ == "__main__":
    sys.exit(main())
