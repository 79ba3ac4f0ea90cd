#!/usr/bin/env python3
"""Tiny FLUX transformers, their checkpoints in every layout the engine reads, inputs and
direct (plain FLUX) outputs, written under tests/data/flux/.

Deterministic and idempotent: fixed seeds, single-threaded, every output rewritten in full.
Run with the reference venv's python (see tools/reference/README.md).
"""

import json
import os
import shutil
import sys

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flux_tiny as ft  # noqa: E402

SHARD_SIZE = {"tiny-a": None, "tiny-b": "1MB"}


def rel_l2(a, b):
    return float((a.double() - b.double()).norm() / b.double().norm())


def save_diffusers_folder(model, cfg_name):
    folder = os.path.join(ft.DATA_DIR, cfg_name, "transformer")
    shutil.rmtree(os.path.join(ft.DATA_DIR, cfg_name), ignore_errors=True)
    kwargs = {"safe_serialization": True}
    if SHARD_SIZE[cfg_name]:
        kwargs["max_shard_size"] = SHARD_SIZE[cfg_name]
    model.save_pretrained(folder, **kwargs)
    return folder


def save_tensors(tensors, name, metadata=None):
    """Write one safetensors file; metadata goes in as one JSON string under "reference"
    (safetensors stores metadata in a hash map, so several keys come out in a random order)."""
    path = os.path.join(ft.DATA_DIR, name)
    meta = {"reference": json.dumps(metadata, sort_keys=True)} if metadata else None
    save_file({k: v.contiguous() for k, v in tensors.items()}, path, metadata=meta)
    return path


def model_with_weights(cfg_name, diffusers_sd):
    """A float64 model holding exactly the given (possibly rounded) weight values."""
    model = ft.build_model(cfg_name)
    model.load_state_dict({k: v.to(torch.float32) for k, v in diffusers_sd.items()}, strict=True)
    return ft.use_exact_timestep_projection(model.to(torch.float64))


def write_checkpoints(cfg_name, model):
    """Diffusers folder and BFL single files; returns the weight sets the direct outputs use."""
    cfg = ft.CONFIGS[cfg_name]
    folder = save_diffusers_folder(model, cfg_name)
    sd = {k: v.detach().to(torch.float32) for k, v in model.state_dict().items()}
    bfl = ft.diffusers_to_bfl(sd, cfg)
    # BFL files carry no config; the rope axes of the tiny models cannot be inferred from shapes.
    meta = {"config": {**cfg, "axes_dims_rope": list(cfg["axes_dims_rope"])}}

    back = ft.bfl_to_diffusers(dict(bfl), cfg)
    if set(back) != set(sd) or any(not torch.equal(back[k], sd[k]) for k in sd):
        raise RuntimeError(f"{cfg_name}: diffusers' converter does not invert our BFL mapping")
    print(f"{cfg_name}: BFL mapping checked against diffusers' converter ({len(bfl)} BFL tensors)")

    save_tensors(bfl, f"{cfg_name}.bfl.f32.safetensors", meta)
    bf16 = {k: v.to(torch.bfloat16) for k, v in bfl.items()}
    save_tensors(bf16, f"{cfg_name}.bfl.bf16.safetensors", meta)
    weight_sets = {"velocity": sd}
    if cfg_name == "tiny-a":
        save_tensors({ft.COMFY_PREFIX + k: v for k, v in bf16.items()}, f"{cfg_name}.comfy.bf16.safetensors", meta)
        fp8 = ft.to_fp8_file_dtypes(bfl)
        save_tensors({ft.COMFY_PREFIX + k: v for k, v in fp8.items()}, f"{cfg_name}.comfy.fp8.safetensors", meta)
        weight_sets["velocity_bf16w"] = read_back_bfl(f"{cfg_name}.comfy.bf16.safetensors", cfg)
        weight_sets["velocity_fp8w"] = read_back_bfl(f"{cfg_name}.comfy.fp8.safetensors", cfg)
        zeros = sum(int((v.to(torch.float32) == 0).sum()) for v in fp8.values())
        print(f"{cfg_name}: fp8 file has {zeros} weights that round to 0 (of {sum(v.numel() for v in fp8.values())})")
    reloaded = ft.load_diffusers_folder(folder, torch.float32)
    for k, v in reloaded.state_dict().items():
        if not torch.equal(v, sd[k]):
            raise RuntimeError(f"{cfg_name}: diffusers folder round trip changed {k}")
    return weight_sets


def read_back_bfl(name, cfg):
    """Load a written BFL/ComfyUI file and convert it to diffusers names with diffusers' converter."""
    tensors = load_file(os.path.join(ft.DATA_DIR, name))
    stripped = {k[len(ft.COMFY_PREFIX):] if k.startswith(ft.COMFY_PREFIX) else k: v for k, v in tensors.items()}
    return {k: v.to(torch.float32) for k, v in ft.bfl_to_diffusers(stripped, cfg).items()}


def write_direct_outputs(cfg_name, weight_sets):
    models = {name: model_with_weights(cfg_name, sd) for name, sd in weight_sets.items()}
    stock_f32 = ft.use_exact_timestep_projection(model_with_weights(cfg_name, weight_sets["velocity"]).float())
    for rows, cols in ft.GRIDS[cfg_name]:
        grid = ft.grid_name(rows, cols)
        inputs = ft.make_inputs(cfg_name, rows, cols)
        save_tensors(inputs, f"{cfg_name}.inputs.{grid}.safetensors")
        outputs = {name: ft.forward(m, inputs, rows, cols).to(torch.float32) for name, m in models.items()}
        save_tensors(outputs, f"{cfg_name}.direct.{grid}.safetensors", metadata={"mode": "direct", "grid": grid})
        v = outputs["velocity"]
        f32_err = rel_l2(ft.forward(stock_f32, inputs, rows, cols), v)
        line = f"{cfg_name} {grid}: velocity {tuple(v.shape)} std {float(v.std()):.3f}, f32 run vs golden {f32_err:.1e}"
        for name in outputs:
            if name != "velocity":
                line += f", {name} vs f32 weights {rel_l2(outputs[name], v):.2e}"
        print(line)


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.makedirs(ft.DATA_DIR, exist_ok=True)
    for cfg_name in ft.CONFIGS:
        model = ft.build_model(cfg_name)
        weight_sets = write_checkpoints(cfg_name, model)
        write_direct_outputs(cfg_name, weight_sets)
    with open(os.path.join(ft.DATA_DIR, "tiny-configs.json"), "w") as f:
        json.dump({k: {**v, "axes_dims_rope": list(v["axes_dims_rope"]), "txt_len": ft.TXT_LEN[k]}
                   for k, v in ft.CONFIGS.items()}, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
