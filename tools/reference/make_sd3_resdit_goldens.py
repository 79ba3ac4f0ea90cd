#!/usr/bin/env python3
"""ResDiT on SD3 (docs/METHOD.md, "SD3"): goldens of the global, local and fused velocities of the
tiny SD3 model (tests/data/sd3/sd3-tiny, written by make_sd3_goldens.py) with diffusers' own sin-cos
position table in place of its random one, on a 10 x 12 grid (base grid 7 x 8, patch 8).

Written from the definitions, not from the engine: each branch is a whole diffusers forward pass
(SD3Transformer2DModel, float64) whose positions are replaced -
  global: the table's formula at the PES points, token (r, c) at (top + r * 7 / 10,
          left + c * 8 / 12) of the table, the 7 x 8 base grid centred as diffusers centres a crop;
  local:  each MOP patch as a plain 8 x 8 image (PIPE: the centre crop of the table), spliced with
          GWS;
  fused:  per patch, PSF of the global velocity's patch and the local one, then GWS.
MOP, GWS and PSF come from resdit_reference.py (the FLUX reference).

Writes tests/data/sd3/sd3-tiny.sincos-table.safetensors (the table, pos_embed.pos_embed),
sd3-tiny.inputs.10x12.resdit.safetensors and sd3-tiny.resdit.10x12.safetensors (global, local,
fused). Deterministic; run with the reference venv's python after make_sd3_goldens.py.
"""

import os
import sys

import torch
from diffusers import SD3Transformer2DModel
from diffusers.models.embeddings import get_1d_sincos_pos_embed_from_grid, get_2d_sincos_pos_embed
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import resdit_reference as rr  # noqa: E402
from flux_tiny import exact_timestep_projection  # noqa: E402
from make_sd3_goldens import BASE, DATA_DIR, pack, unpack  # noqa: E402

ROWS, COLS = 10, 12
PARAMS = rr.ResDiTParams(mode="fused", base_area=64, patch=8, sigma=2.0, cutoff=0.2)
F64 = torch.float64


def sincos_table():
    """The table a fresh SD3Transformer2DModel registers (get_2d_sincos_pos_embed)."""
    base = BASE["sample_size"] // BASE["patch_size"]
    dim = BASE["num_attention_heads"] * BASE["attention_head_dim"]
    table = get_2d_sincos_pos_embed(dim, BASE["pos_embed_max_size"], base_size=base,
                                    output_type="pt")
    fresh = SD3Transformer2DModel(**BASE).pos_embed.pos_embed
    assert torch.equal(fresh[0], table.float()), "diffusers' model does not use this table"
    return table.float()


def embed_at(rows_idx, cols_idx, dim):
    """The formula at table index points (float64): column half first, as diffusers' meshgrid."""
    size, base = BASE["pos_embed_max_size"], BASE["sample_size"] // BASE["patch_size"]
    scale = base / size
    col = get_1d_sincos_pos_embed_from_grid(dim // 2, cols_idx * scale, output_type="pt")
    row = get_1d_sincos_pos_embed_from_grid(dim // 2, rows_idx * scale, output_type="pt")
    return torch.cat([col, row], dim=1)


def run(model, img, rows, cols, inputs, positions=None):
    """One forward pass over a rows x cols token image; positions [rows * cols, dim] or the
    model's own centre crop."""
    saved = model.pos_embed.cropped_pos_embed
    if positions is not None:
        model.pos_embed.cropped_pos_embed = lambda h, w: positions[None]
    with torch.no_grad():
        out = model(
            hidden_states=unpack(img, rows, cols).to(F64),
            encoder_hidden_states=inputs["txt"].to(F64),
            pooled_projections=inputs["vec"].to(F64),
            timestep=(inputs["timestep"] * 1000).to(F64),
            return_dict=False,
        )[0]
    model.pos_embed.cropped_pos_embed = saved
    return pack(out)[0]  # [rows * cols, 64]


def global_branch(model, inputs, dim):
    b_r, b_c = rr.resolved_base_grid(ROWS, COLS, PARAMS)
    size = BASE["pos_embed_max_size"]
    fr, fc = (b_r if ROWS > b_r else ROWS), (b_c if COLS > b_c else COLS)
    rs, cs = (b_r / ROWS if ROWS > b_r else 1.0), (b_c / COLS if COLS > b_c else 1.0)
    top, left = (size - fr) // 2, (size - fc) // 2
    r = torch.arange(ROWS, dtype=F64)[:, None].expand(ROWS, COLS).reshape(-1)
    c = torch.arange(COLS, dtype=F64)[None, :].expand(ROWS, COLS).reshape(-1)
    positions = embed_at(top + r * rs, left + c * cs, dim)
    return run(model, inputs["img"], ROWS, COLS, inputs, positions)


def splice(model, inputs, glob, fused):
    """GWS of every MOP patch's local (or, fused, PSF-mixed) velocity."""
    rows_p = rr.axis_partition(ROWS, PARAMS.patch, False)
    cols_p = rr.axis_partition(COLS, PARAMS.patch, False)
    rw = torch.from_numpy(rr.axis_weight_table(ROWS, rows_p, PARAMS.sigma_value(), False))
    cw = torch.from_numpy(rr.axis_weight_table(COLS, cols_p, PARAMS.sigma_value(), False))
    img = inputs["img"][0].reshape(ROWS, COLS, 64)
    g = glob.reshape(ROWS, COLS, 64)
    out = torch.zeros(ROWS, COLS, 64, dtype=F64)
    for i, (r0, h) in enumerate(rows_p):
        for j, (c0, w) in enumerate(cols_p):
            patch = img[r0:r0 + h, c0:c0 + w].reshape(1, h * w, 64)
            v = run(model, patch, h, w, inputs).reshape(h, w, 64)
            if fused:
                mask = rr.lowpass_mask(h, w, PARAMS.cutoff)
                v = rr.spectral_fuse(g[r0:r0 + h, c0:c0 + w][None], v[None], mask)[0]
            weight = rw[i, r0:r0 + h][:, None, None] * cw[j, c0:c0 + w][None, :, None]
            out[r0:r0 + h, c0:c0 + w] += weight * v
    return out.reshape(ROWS * COLS, 64)


def main():
    torch.set_num_threads(1)
    model = SD3Transformer2DModel.from_pretrained(os.path.join(DATA_DIR, "sd3-tiny", "transformer"))
    table = sincos_table()
    with torch.no_grad():
        model.pos_embed.pos_embed.copy_(table[None])
    model = model.to(F64).eval()
    model.time_text_embed.time_proj.forward = exact_timestep_projection
    save_file({"pos_embed.pos_embed": table[None].contiguous()},
              os.path.join(DATA_DIR, "sd3-tiny.sincos-table.safetensors"))

    given = load_file(os.path.join(DATA_DIR, "sd3-tiny.inputs.8x12.safetensors"))
    g = torch.Generator().manual_seed(2024)
    latent = torch.randn(1, 16, ROWS * 2, COLS * 2, generator=g, dtype=torch.float32)
    inputs = {"img": pack(latent), "txt": given["txt"], "vec": given["vec"],
              "timestep": given["timestep"]}
    save_file({k: v.contiguous() for k, v in inputs.items()},
              os.path.join(DATA_DIR, f"sd3-tiny.inputs.{ROWS}x{COLS}.resdit.safetensors"))

    dim = table.shape[1]
    glob = global_branch(model, inputs, dim)
    local = splice(model, inputs, glob, fused=False)
    fused = splice(model, inputs, glob, fused=True)
    out = {"global": glob, "local": local, "fused": fused}
    save_file({k: v[None].to(torch.float32).contiguous() for k, v in out.items()},
              os.path.join(DATA_DIR, f"sd3-tiny.resdit.{ROWS}x{COLS}.safetensors"))
    for k, v in out.items():
        print(f"sd3-tiny {k} {ROWS}x{COLS}: |velocity| = {float(v.norm()):.4f}")
    print(f"global vs local: {float((glob - local).norm() / local.norm()):.4f}, "
          f"fused vs local: {float((fused - local).norm() / local.norm()):.4f}")


if __name__ == "__main__":
    main()
