#!/usr/bin/env python3
"""Tiny SD3 / SD3.5 transformers (diffusers' SD3Transformer2DModel, random weights), their
diffusers folders and Stability single files, inputs and outputs, written under tests/data/sd3/.

Inputs and outputs use the engine's token layout, the one FLUX uses: the 16-channel latent packed
2x2, token (i, j) holding feature c*4 + a*2 + b = latent[c, 2i+a, 2j+b]; `timestep` is sigma in
[0, 1] (the model sees 1000 * sigma). The reference runs in float64 on the float32 weights.

Deterministic and idempotent: fixed seeds, every output rewritten in full. Run with the reference
venv's python (see tools/reference/README.md).
"""

import os
import shutil
import sys

import torch
from diffusers import SD3Transformer2DModel
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flux_tiny import REPO_ROOT, exact_timestep_projection  # noqa: E402

DATA_DIR = os.path.join(REPO_ROOT, "tests", "data", "sd3")

BASE = dict(
    sample_size=16,
    patch_size=2,
    in_channels=16,
    num_layers=3,
    attention_head_dim=16,
    num_attention_heads=2,
    joint_attention_dim=24,
    caption_projection_dim=32,
    pooled_projection_dim=20,
    out_channels=16,
    pos_embed_max_size=24,
)

CONFIGS = {
    # SD3 Medium's structure: no q/k norm, the last block context_pre_only.
    "sd3-tiny": dict(BASE),
    # SD3.5 Large: q/k RMSNorm.
    "sd35-tiny": dict(BASE, qk_norm="rms_norm"),
    # SD3.5 Medium: MMDiT-X, a second image-only attention in the first blocks.
    "sd35m-tiny": dict(BASE, qk_norm="rms_norm", dual_attention_layers=(0, 1)),
}

GRIDS = [(8, 12), (10, 10)]  # token rows x cols (latent 2x that), within pos_embed_max_size
TEXT_TOKENS = 7
SIGMA = 0.63


def build(name):
    torch.manual_seed(1000 + sorted(CONFIGS).index(name))
    model = SD3Transformer2DModel(**CONFIGS[name])
    with torch.no_grad():
        for p in model.parameters():  # random everywhere, zero-initialised layers included
            p.copy_(torch.randn_like(p) * 0.15)
        model.pos_embed.pos_embed.copy_(torch.randn_like(model.pos_embed.pos_embed) * 0.5)
    return model.eval()


def pack(latent):
    """[1, 16, 2R, 2C] -> [1, R*C, 64], feature c*4 + a*2 + b."""
    _, ch, h, w = latent.shape
    x = latent.reshape(1, ch, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(1, (h // 2) * (w // 2), ch * 4)


def unpack(tokens, rows, cols):
    x = tokens.reshape(1, rows, cols, 16, 2, 2).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(1, 16, rows * 2, cols * 2)


def inputs_for(name, rows, cols):
    g = torch.Generator().manual_seed(77 + rows * 100 + cols)
    cfg = CONFIGS[name]
    latent = torch.randn(1, 16, rows * 2, cols * 2, generator=g, dtype=torch.float32)
    return {
        "img": pack(latent),
        "txt": torch.randn(1, TEXT_TOKENS, cfg["joint_attention_dim"], generator=g),
        "vec": torch.randn(1, cfg["pooled_projection_dim"], generator=g),
        "timestep": torch.tensor([SIGMA], dtype=torch.float32),
    }


def forward(model, inputs, rows, cols):
    with torch.no_grad():
        out = model(
            hidden_states=unpack(inputs["img"], rows, cols).to(torch.float64),
            encoder_hidden_states=inputs["txt"].to(torch.float64),
            pooled_projections=inputs["vec"].to(torch.float64),
            timestep=(inputs["timestep"] * 1000).to(torch.float64),
            return_dict=False,
        )[0]
    return pack(out)


BLOCK_RULES = [  # diffusers module -> Stability module (or fused qkv and its third)
    ("norm1.linear", "x_block.adaLN_modulation.1"),
    ("norm1_context.linear", "context_block.adaLN_modulation.1"),
    ("attn.to_out.0", "x_block.attn.proj"),
    ("attn.to_add_out", "context_block.attn.proj"),
    ("attn.norm_q", "x_block.attn.ln_q"),
    ("attn.norm_k", "x_block.attn.ln_k"),
    ("attn.norm_added_q", "context_block.attn.ln_q"),
    ("attn.norm_added_k", "context_block.attn.ln_k"),
    ("attn2.to_out.0", "x_block.attn2.proj"),
    ("attn2.norm_q", "x_block.attn2.ln_q"),
    ("attn2.norm_k", "x_block.attn2.ln_k"),
    ("ff.net.0.proj", "x_block.mlp.fc1"),
    ("ff.net.2", "x_block.mlp.fc2"),
    ("ff_context.net.0.proj", "context_block.mlp.fc1"),
    ("ff_context.net.2", "context_block.mlp.fc2"),
]
FUSED = [("attn.to_", "x_block.attn.qkv"), ("attn.add_", "context_block.attn.qkv"),
         ("attn2.to_", "x_block.attn2.qkv")]
TOP_RULES = [
    ("pos_embed.proj", "x_embedder.proj"),
    ("time_text_embed.timestep_embedder.linear_1", "t_embedder.mlp.0"),
    ("time_text_embed.timestep_embedder.linear_2", "t_embedder.mlp.2"),
    ("time_text_embed.text_embedder.linear_1", "y_embedder.mlp.0"),
    ("time_text_embed.text_embedder.linear_2", "y_embedder.mlp.2"),
    ("context_embedder", "context_embedder"),
    ("norm_out.linear", "final_layer.adaLN_modulation.1"),
    ("proj_out", "final_layer.linear"),
]


def swap_halves(t):
    a, b = t.chunk(2, dim=0)
    return torch.cat([b, a], dim=0)


def to_stability(sd, num_layers):
    """diffusers names -> Stability's single-file names (fused qkv; (shift, scale) order in the
    final and the last block's context modulation)."""
    out = {"pos_embed": sd["pos_embed.pos_embed"]}
    for d, st in TOP_RULES:
        for p in ("weight", "bias"):
            t = sd[f"{d}.{p}"]
            out[f"{st}.{p}"] = swap_halves(t) if d == "norm_out.linear" else t
    for i in range(num_layers):
        pre = f"transformer_blocks.{i}."
        for d, st in BLOCK_RULES:
            for p in ("weight", "bias"):
                if pre + d + "." + p in sd:
                    t = sd[pre + d + "." + p]
                    if d == "norm1_context.linear" and i == num_layers - 1:
                        t = swap_halves(t)
                    out[f"joint_blocks.{i}.{st}.{p}"] = t
        for d, st in FUSED:
            names = ["q", "k", "v"] if d != "attn.add_" else ["q_proj", "k_proj", "v_proj"]
            for p in ("weight", "bias"):
                parts = [sd.get(f"{pre}{d}{n}.{p}") for n in names]
                if parts[0] is not None:
                    out[f"joint_blocks.{i}.{st}.{p}"] = torch.cat(parts, dim=0)
    return out


def write_single_file(name, model):
    """Stability's layout (with ComfyUI's prefix for the MMDiT-X model), checked against
    diffusers' own converter, which must give the state dict back exactly."""
    from diffusers.loaders.single_file_utils import convert_sd3_transformer_checkpoint_to_diffusers

    sd = {k: v.detach().to(torch.float32).contiguous() for k, v in model.state_dict().items()}
    single = to_stability(sd, CONFIGS[name]["num_layers"])
    back = convert_sd3_transformer_checkpoint_to_diffusers(dict(single))
    if set(back) != set(sd) or any(not torch.equal(back[k], sd[k]) for k in sd):
        raise RuntimeError(f"{name}: diffusers' converter does not invert our Stability mapping")
    prefix = "model.diffusion_model." if name == "sd35m-tiny" else ""
    meta = {"attention_head_dim": str(CONFIGS[name]["attention_head_dim"])}
    save_file({prefix + k: v.contiguous() for k, v in single.items()},
              os.path.join(DATA_DIR, f"{name}.stability.safetensors"), metadata=meta)
    print(f"{name}: Stability layout checked against diffusers' converter ({len(single)} tensors)")


def main():
    torch.set_num_threads(1)
    shutil.rmtree(DATA_DIR, ignore_errors=True)
    os.makedirs(DATA_DIR)
    for name in sorted(CONFIGS):
        model = build(name)
        model.save_pretrained(os.path.join(DATA_DIR, name, "transformer"), safe_serialization=True)
        write_single_file(name, model)
        ref = model.to(torch.float64)
        ref.time_text_embed.time_proj.forward = exact_timestep_projection
        for rows, cols in GRIDS:
            inputs = inputs_for(name, rows, cols)
            tag = f"{rows}x{cols}"
            save_file({k: v.contiguous() for k, v in inputs.items()},
                      os.path.join(DATA_DIR, f"{name}.inputs.{tag}.safetensors"))
            velocity = forward(ref, inputs, rows, cols).to(torch.float32)
            save_file({"velocity": velocity.contiguous()},
                      os.path.join(DATA_DIR, f"{name}.direct.{tag}.safetensors"))
            print(f"{name} {tag}: |velocity| = {float(velocity.norm()):.4f}")


if __name__ == "__main__":
    main()
