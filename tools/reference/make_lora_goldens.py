#!/usr/bin/env python3
"""LoRA files in the formats people share, for tiny-a, and the forward outputs of tiny-a with the
LoRAs merged by hand, written under tests/data/flux/ (lora-*.safetensors, tiny-a.lora.8x8...).

Formats (docs/LORA.md):
  kohya   lora_unet_<BFL name, dots as underscores>.lora_down/.lora_up/.alpha (fused qkv, linear1)
  peft    transformer.<diffusers name>.lora_A/.lora_B, no alpha (scale 1)
  comfy   diffusion_model.<BFL name>.lora_A/.lora_B/.alpha, bf16 tensors
  comfyd  diffusion_model.<BFL name>.lora_down/.lora_up, no alpha

The merge, W + strength * alpha / rank * up @ down, is computed in float64 on the diffusers state
dict (a BFL-named LoRA's up rows are split the way BFL fuses q, k, v (, mlp)); the model then
runs in float64 as make_flux_goldens.py does. Weights stored in bf16 are merged from the bf16
values and rounded back to bf16 (what the engine does); fp8 weights are merged from their
dequantised values and requantised with a fresh per-tensor scale max|W| / 448.

Deterministic: fixed seeds, single-threaded. Run with the reference venv's python.
"""

import json
import os
import sys

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flux_tiny as ft  # noqa: E402

CFG = "tiny-a"
GRID = (8, 8)
E4M3_MAX = 448.0


def rel_l2(a, b):
    return float((a.double() - b.double()).norm() / b.double().norm())


def bfl_segments(cfg):
    """BFL linear name -> [(diffusers linear name, rows)] in row order (fused ones split)."""
    C = cfg["num_attention_heads"] * cfg["attention_head_dim"]
    M = 4 * C
    seg = {
        "img_in": [("x_embedder", C)],
        "txt_in": [("context_embedder", C)],
        "final_layer.linear": [("proj_out", cfg["in_channels"])],
    }
    for i in range(cfg["num_layers"]):
        d, s = f"double_blocks.{i}", f"transformer_blocks.{i}"
        seg[f"{d}.img_attn.qkv"] = [(f"{s}.attn.to_{x}", C) for x in "qkv"]
        seg[f"{d}.txt_attn.qkv"] = [(f"{s}.attn.add_{x}_proj", C) for x in "qkv"]
        seg[f"{d}.img_attn.proj"] = [(f"{s}.attn.to_out.0", C)]
        seg[f"{d}.txt_attn.proj"] = [(f"{s}.attn.to_add_out", C)]
        seg[f"{d}.img_mlp.0"] = [(f"{s}.ff.net.0.proj", M)]
        seg[f"{d}.img_mlp.2"] = [(f"{s}.ff.net.2", C)]
        seg[f"{d}.txt_mlp.0"] = [(f"{s}.ff_context.net.0.proj", M)]
        seg[f"{d}.txt_mlp.2"] = [(f"{s}.ff_context.net.2", C)]
        seg[f"{d}.img_mod.lin"] = [(f"{s}.norm1.linear", 6 * C)]
        seg[f"{d}.txt_mod.lin"] = [(f"{s}.norm1_context.linear", 6 * C)]
    for i in range(cfg["num_single_layers"]):
        d, s = f"single_blocks.{i}", f"single_transformer_blocks.{i}"
        seg[f"{d}.linear1"] = [(f"{s}.attn.to_q", C), (f"{s}.attn.to_k", C), (f"{s}.attn.to_v", C),
                               (f"{s}.proj_mlp", M)]
        seg[f"{d}.linear2"] = [(f"{s}.proj_out", C)]
        seg[f"{d}.modulation.lin"] = [(f"{s}.norm.linear", 3 * C)]
    return seg


# Each LoRA: format, rank, alpha (None: absent), dtype, targets (BFL names for kohya/comfy,
# diffusers names for peft).
LORAS = {
    "kohya": dict(rank=4, alpha=2.0, dtype=torch.float32, targets=[
        "double_blocks.0.img_attn.qkv", "double_blocks.1.txt_attn.qkv", "double_blocks.0.img_mlp.0",
        "double_blocks.1.txt_attn.proj", "double_blocks.0.img_mod.lin", "single_blocks.0.linear1",
        "single_blocks.1.linear2"]),
    "peft": dict(rank=2, alpha=None, dtype=torch.float32, targets=[
        "transformer_blocks.0.attn.to_q", "transformer_blocks.0.attn.to_k",
        "transformer_blocks.1.attn.add_v_proj", "transformer_blocks.1.ff.net.2",
        "single_transformer_blocks.1.proj_mlp", "single_transformer_blocks.0.attn.to_v",
        "x_embedder", "proj_out"]),
    "comfy": dict(rank=3, alpha=6.0, dtype=torch.bfloat16, targets=[
        "double_blocks.1.img_attn.qkv", "double_blocks.0.txt_mlp.2", "single_blocks.1.linear1",
        "txt_in", "final_layer.linear"]),
    "comfyd": dict(rank=8, alpha=None, dtype=torch.float32, targets=[
        "double_blocks.0.txt_attn.qkv", "double_blocks.1.img_mlp.2", "single_blocks.0.linear2",
        "single_blocks.1.modulation.lin"]),
}
# A kohya file with a transformer part and CLIP-L (te1) parts, applied to the tiny CLIP too.
TE1 = dict(rank=3, alpha=1.5, strength=0.9, unet=["img_in", "single_blocks.1.linear2"],
           clip=[("encoder.layers.0.self_attn.q_proj", "q"), ("encoder.layers.0.mlp.fc2", "fc2"),
                 ("encoder.layers.1.self_attn.out_proj", "o"), ("encoder.layers.1.mlp.fc1", "fc1")])
CLIP_DIR = os.path.join(ft.REPO_ROOT, "tests", "data", "text", "tiny", "text_encoder")
# (output name, [(lora, strength)])
CASES = [
    ("kohya", [("kohya", 0.8)]),
    ("peft", [("peft", 1.0)]),
    ("comfy", [("comfy", -0.6)]),
    ("comfyd", [("comfyd", 1.3)]),
    ("kohya+peft", [("kohya", 0.8), ("peft", 0.5)]),
]


def make_lora(name, spec, sd, cfg):
    """Returns (file tensors, {diffusers linear: (scale, up rows block [out, r], down [r, in])})."""
    gen = torch.Generator().manual_seed(ft.seed_for(CFG, "lora", name))
    seg = bfl_segments(cfg)
    r = spec["rank"]
    tensors, deltas = {}, {}
    for target in spec["targets"]:
        parts = seg[target] if name != "peft" else [(target, sd[f"{target}.weight"].shape[0])]
        out_f = sum(rows for _, rows in parts)
        in_f = sd[f"{parts[0][0]}.weight"].shape[1]
        down = torch.randn(r, in_f, generator=gen) / in_f ** 0.5
        up = 0.3 * torch.randn(out_f, r, generator=gen)
        down, up = down.to(spec["dtype"]), up.to(spec["dtype"])
        scale = (spec["alpha"] / r) if spec["alpha"] is not None else 1.0
        row = 0
        for diff_name, rows in parts:
            deltas[diff_name] = (scale, up[row:row + rows].double(), down.double())
            row += rows
        if name == "kohya":
            key = "lora_unet_" + target.replace(".", "_")
            tensors[f"{key}.lora_down.weight"] = down
            tensors[f"{key}.lora_up.weight"] = up
            tensors[f"{key}.alpha"] = torch.tensor(spec["alpha"], dtype=spec["dtype"])
        elif name == "peft":
            tensors[f"transformer.{target}.lora_A.weight"] = down
            tensors[f"transformer.{target}.lora_B.weight"] = up
        elif name == "comfy":
            tensors[f"diffusion_model.{target}.lora_A.weight"] = down
            tensors[f"diffusion_model.{target}.lora_B.weight"] = up
            tensors[f"diffusion_model.{target}.alpha"] = torch.tensor(spec["alpha"], dtype=spec["dtype"])
        else:
            tensors[f"diffusion_model.{target}.lora_down.weight"] = down
            tensors[f"diffusion_model.{target}.lora_up.weight"] = up
    return tensors, deltas


def make_te1(sd, cfg, clip_sd):
    """The te1 file's tensors, its transformer deltas and its CLIP deltas."""
    gen = torch.Generator().manual_seed(ft.seed_for(CFG, "lora", "te1"))
    seg = bfl_segments(cfg)
    r, scale = TE1["rank"], TE1["alpha"] / TE1["rank"]
    tensors, deltas, clip_deltas = {}, {}, {}

    def pair(in_f, out_f):
        down = torch.randn(r, in_f, generator=gen) / in_f ** 0.5
        up = 0.3 * torch.randn(out_f, r, generator=gen)
        return down, up

    for target in TE1["unet"]:
        parts = seg[target]
        out_f = sum(rows for _, rows in parts)
        down, up = pair(sd[f"{parts[0][0]}.weight"].shape[1], out_f)
        row = 0
        for diff_name, rows in parts:
            deltas[diff_name] = (scale, up[row:row + rows].double(), down.double())
            row += rows
        key = "lora_unet_" + target.replace(".", "_")
        tensors[f"{key}.lora_down.weight"] = down
        tensors[f"{key}.lora_up.weight"] = up
        tensors[f"{key}.alpha"] = torch.tensor(TE1["alpha"])
    for module, _ in TE1["clip"]:
        w = clip_sd[f"text_model.{module}.weight"]
        down, up = pair(w.shape[1], w.shape[0])
        clip_deltas[f"text_model.{module}"] = (scale, up.double(), down.double())
        key = "lora_te1_text_model_" + module.replace(".", "_")
        tensors[f"{key}.lora_down.weight"] = down
        tensors[f"{key}.lora_up.weight"] = up
        tensors[f"{key}.alpha"] = torch.tensor(TE1["alpha"])
    return tensors, deltas, clip_deltas


def clip_golden(clip_deltas):
    """The tiny CLIP with the te1 parts merged in float64, on fixed ids."""
    from transformers import CLIPTextModel

    clip = CLIPTextModel.from_pretrained(CLIP_DIR, torch_dtype=torch.float32).to(torch.float64).eval()
    sd = clip.state_dict()
    with torch.no_grad():
        for name, (scale, up, down) in clip_deltas.items():
            sd[f"{name}.weight"] += TE1["strength"] * scale * (up @ down)
    clip.load_state_dict(sd)
    cfg = clip.config
    ids = torch.tensor([[cfg.bos_token_id, 5, 17, 3, 9, 11, 2, cfg.eos_token_id]])
    # transformers builds CLIP's causal mask in the default dtype: float64 for a float64 model
    torch.set_default_dtype(torch.float64)
    try:
        with torch.no_grad():
            out = clip(ids)
    finally:
        torch.set_default_dtype(torch.float32)
    return {"ids": ids[0].to(torch.int64), "hidden": out.last_hidden_state[0].to(torch.float32),
            "pooled": out.pooler_output[0].to(torch.float32)}


def merged(sd, loras, case, rounding):
    out = {k: v.to(torch.float64).clone() for k, v in sd.items()}
    total = {}
    for lname, strength in case:
        for diff_name, (scale, up, down) in loras[lname].items():
            d = strength * scale * (up @ down)
            total[diff_name] = total.get(diff_name, 0) + d
    for diff_name, d in total.items():
        w = out[f"{diff_name}.weight"] + d
        if rounding == "bf16":
            w = w.to(torch.bfloat16).to(torch.float64)
        elif rounding == "fp8":
            w32 = w.to(torch.float32)
            s = (w32.abs().max() / E4M3_MAX).to(torch.float32)
            w = ((w32 / s).to(torch.float8_e4m3fn).to(torch.float32) * s).to(torch.float64)
        out[f"{diff_name}.weight"] = w
    return out


def model_with(sd):
    model = ft.build_model(CFG)
    model = model.to(torch.float64)
    model.load_state_dict(sd, strict=True)
    return ft.use_exact_timestep_projection(model.eval())


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    cfg = ft.CONFIGS[CFG]
    base = load_file(os.path.join(ft.DATA_DIR, CFG, "transformer", "diffusion_pytorch_model.safetensors"))
    base = {k: v.to(torch.float32) for k, v in base.items()}

    def read_bfl(name):
        t = load_file(os.path.join(ft.DATA_DIR, name))
        t = {k[len(ft.COMFY_PREFIX):] if k.startswith(ft.COMFY_PREFIX) else k: v for k, v in t.items()}
        return {k: v.to(torch.float32) for k, v in ft.bfl_to_diffusers(t, cfg).items()}

    weight_sets = {"f32": (base, None), "bf16w": (read_bfl(f"{CFG}.bfl.bf16.safetensors"), "bf16"),
                   "fp8w": (read_bfl(f"{CFG}.comfy.fp8.safetensors"), "fp8")}
    loras = {}
    for name, spec in LORAS.items():
        tensors, deltas = make_lora(name, spec, base, cfg)
        loras[name] = deltas
        meta = {"reference": json.dumps({"format": name, "rank": spec["rank"], "alpha": spec["alpha"]})}
        save_file({k: v.contiguous() for k, v in tensors.items()},
                  os.path.join(ft.DATA_DIR, f"lora-{name}.safetensors"), metadata=meta)
    clip_sd = load_file(os.path.join(CLIP_DIR, "model.safetensors"))
    clip_sd = {k if k.startswith("text_model.") else f"text_model.{k}": v for k, v in clip_sd.items()}
    te1_tensors, te1_deltas, clip_deltas = make_te1(base, cfg, clip_sd)
    save_file({k: v.contiguous() for k, v in te1_tensors.items()}, os.path.join(ft.DATA_DIR, "lora-te1.safetensors"),
              metadata={"reference": json.dumps({"format": "kohya", "rank": TE1["rank"], "alpha": TE1["alpha"]})})
    loras["te1"] = te1_deltas
    save_file(clip_golden(clip_deltas), os.path.join(ft.DATA_DIR, "lora-te1.clip.safetensors"),
              metadata={"reference": json.dumps({"strength": TE1["strength"]})})
    CASES.append(("te1", [("te1", TE1["strength"])]))
    rows, cols = GRID
    inputs = ft.make_inputs(CFG, rows, cols)
    base_out = ft.forward(model_with({k: v.double() for k, v in base.items()}), inputs, rows, cols)
    outputs = {}
    for case_name, case in CASES:
        for set_name, (sd, rounding) in weight_sets.items():
            if set_name == "fp8w" and case_name != "kohya":
                continue
            v = ft.forward(model_with(merged(sd, loras, case, rounding)), inputs, rows, cols)
            outputs[f"{case_name}.{set_name}"] = v.to(torch.float32)
        v = outputs[f"{case_name}.f32"]
        print(f"{case_name}: LoRA moves the output by {rel_l2(v, base_out):.3f} (relative L2); "
              f"bf16 weights vs f32 {rel_l2(outputs[f'{case_name}.bf16w'], v):.2e}")
    save_file(outputs, os.path.join(ft.DATA_DIR, f"{CFG}.lora.{rows}x{cols}.safetensors"),
              metadata={"reference": json.dumps({"cases": CASES}, sort_keys=True)})


if __name__ == "__main__":
    main()
