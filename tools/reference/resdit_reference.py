#!/usr/bin/env python3
"""Independent PyTorch reference of ResDiT (PES, PIPE, MOP, GWS, PSF and the ablations),
written from the project's definitions (/work/briefs/resdit-decisions.md, docs/METHOD.md).

It is a custom attention processor for diffusers' FluxTransformer2DModel: diffusers runs every
block (modulation, projections, q/k RMSNorm, MLPs, output projections); the processor replaces
only RoPE + attention, per branch, on the attention output before the output projection.
Everything is computed in float64 and stored as float32.

Run after make_flux_goldens.py (it reads the tiny models and inputs from tests/data/flux/):
writes the ResDiT golden outputs, tests/data/flux/resdit-partition.json, and prints the
invariants it checks on the way.
"""

import json
import math
import os
import sys
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
from diffusers.models.attention_processor import FluxAttnProcessor2_0
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flux_tiny as ft  # noqa: E402

F64 = torch.float64
ROPE_THETA = 10000.0
MODES = ("direct", "global", "local", "fused")


@dataclass(frozen=True)
class ResDiTParams:
    mode: str = "direct"
    base_area: int = 64  # FLUX: 4096 (64 x 64 tokens); the tiny models use 64 (8 x 8)
    base_rows: int = 0  # 0: from base_area and the grid's aspect ratio
    base_cols: int = 0
    patch: int = 8
    sigma: float = 0.0  # 0: patch / 4
    cutoff: float = 0.2
    no_pes: bool = False
    no_pipe: bool = False
    no_psf: bool = False
    no_overlap: bool = False
    uniform_weights: bool = False

    def sigma_value(self):
        return self.sigma if self.sigma > 0 else self.patch / 4.0


# --- the geometry: base grid, partition, splice weights ---------------------------------------

def round_half_up_ratio(num, den):
    """floor(num / den + 1/2) for integers num >= 0, den > 0, exactly."""
    return (2 * num + den) // (2 * den)


def round_half_up_sqrt(num, den):
    """floor(sqrt(num / den) + 1/2) exactly: the largest n with (2n - 1)^2 * den <= 4 * num."""
    n = math.isqrt(4 * num // den) // 2 + 2
    while n > 0 and (2 * n - 1) ** 2 * den > 4 * num:
        n -= 1
    return n


def base_grid(rows, cols, area):
    """The PES target grid: the grid's aspect ratio, about `area` tokens, round half up."""
    short, long_ = min(rows, cols), max(rows, cols)
    base_short = round_half_up_sqrt(area * short, long_)
    assert base_short == math.floor(math.sqrt(area * short / long_) + 0.5)
    base_long = round_half_up_ratio(base_short * long_, short)
    return (base_short, base_long) if rows <= cols else (base_long, base_short)


def resolved_base_grid(rows, cols, params):
    if params.base_rows and params.base_cols:
        return params.base_rows, params.base_cols
    return base_grid(rows, cols, params.base_area)


def mop_starts(length, patch):
    """Minimum-overlap partition of one axis: (starts, patch length)."""
    size = min(patch, length)
    if length <= patch:
        return [0], size
    count = length // patch + 1
    return [round_half_up_ratio(k * (length - size), count - 1) for k in range(count)], size


def axis_partition(length, patch, no_overlap):
    """[(start, size)] along one axis: MOP, or plain tiles (last one truncated) for no_overlap."""
    if no_overlap:
        count = -(-length // patch)
        return [(k * patch, min(patch, length - k * patch)) for k in range(count)]
    starts, size = mop_starts(length, patch)
    return [(s, size) for s in starts]


def axis_weight_table(length, parts, sigma, uniform):
    """[len(parts), length]: per-axis Gaussian (or uniform) weights normalised over covering parts."""
    table = np.zeros((len(parts), length))
    for i, (start, size) in enumerate(parts):
        pos = np.arange(start, start + size, dtype=np.float64)
        centre = start + (size - 1) / 2.0
        table[i, start:start + size] = 1.0 if uniform else np.exp(-((pos - centre) ** 2) / (2 * sigma * sigma))
    return table / table.sum(axis=0, keepdims=True)


def frequency_axis(n):
    """Integer frequencies in numpy fftfreq order, normalised so that 1.0 is Nyquist."""
    if n == 1:
        return np.zeros(1)
    return np.rint(np.fft.fftfreq(n) * n) / (n / 2.0)


def lowpass_mask(h, w, cutoff):
    fy, fx = frequency_axis(h), frequency_axis(w)
    radius = np.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)
    return torch.from_numpy((radius < cutoff).astype(np.float64))


# --- RoPE and attention -----------------------------------------------------------------------

def rope_tables(ids, axes_dims):
    """cos, sin [T, D/2] for positions ids [T, 3] (float64); pair j of axis a turns by
    pos * theta^(-2j/d_a)."""
    angles = []
    for axis, dim in enumerate(axes_dims):
        freqs = ROPE_THETA ** (-torch.arange(0, dim, 2, dtype=F64) / dim)
        angles.append(ids[:, axis:axis + 1].to(F64) * freqs[None, :])
    angles = torch.cat(angles, dim=1)
    return angles.cos(), angles.sin()


def rotate(x, tables):
    """Apply RoPE to x [B, H, T, D]: adjacent pairs (2j, 2j+1) rotate by the table's angle."""
    cos, sin = tables
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1).flatten(-2)


def attention(q, k, v):
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    return torch.softmax(scores, dim=-1) @ v


def merge_heads(x):
    """[B, H, T, D] -> [B, T, H * D] (per head concatenated, as the output projection reads it)."""
    b, h, t, d = x.shape
    return x.transpose(1, 2).reshape(b, t, h * d)


def spectral_fuse(glob, local, mask):
    """Per channel 2-D FFT over the patch grid: global where mask = 1, local elsewhere.
    glob, local [B, h, w, C]; mask [h, w]."""
    m = mask[None, :, :, None]
    spectrum = m * torch.fft.fft2(glob, dim=(1, 2)) + (1 - m) * torch.fft.fft2(local, dim=(1, 2))
    return torch.fft.ifft2(spectrum, dim=(1, 2)).real


# --- the plan of one forward pass: positions, patches, weights --------------------------------

def image_positions(rows, cols, row_scale, col_scale):
    ids = torch.zeros(rows, cols, 3, dtype=F64)
    ids[..., 1] = torch.arange(rows, dtype=F64)[:, None] * row_scale
    ids[..., 2] = torch.arange(cols, dtype=F64)[None, :] * col_scale
    return ids.reshape(rows * cols, 3)


@dataclass
class Patch:
    row0: int
    col0: int
    rows: int
    cols: int
    tokens: torch.Tensor  # image token indices, row-major inside the patch
    rope: tuple  # tables for [text; patch image tokens]
    weight: torch.Tensor  # [rows * cols] normalised splice weight
    mask: torch.Tensor  # [rows, cols] PSF low-pass mask


class ResDiTPlan:
    """Everything one forward pass needs, computed once per grid."""

    def __init__(self, rows, cols, txt_len, axes_dims, params):
        if params.mode not in MODES:
            raise ValueError(f"unknown mode {params.mode}")
        self.rows, self.cols, self.txt_len, self.params = rows, cols, txt_len, params
        self.base = resolved_base_grid(rows, cols, params)
        text = torch.zeros(txt_len, 3, dtype=F64)
        self.original = rope_tables(torch.cat([text, image_positions(rows, cols, 1.0, 1.0)]), axes_dims)
        b_r, b_c = self.base
        row_scale = b_r / rows if rows > b_r and not params.no_pes else 1.0
        col_scale = b_c / cols if cols > b_c and not params.no_pes else 1.0
        self.glob = rope_tables(torch.cat([text, image_positions(rows, cols, row_scale, col_scale)]), axes_dims)
        self.patches = self._patches(axes_dims, text) if params.mode in ("local", "fused") else []

    def _patches(self, axes_dims, text):
        p = self.params
        row_parts = axis_partition(self.rows, p.patch, p.no_overlap)
        col_parts = axis_partition(self.cols, p.patch, p.no_overlap)
        sigma = p.sigma_value()
        grid_r = torch.arange(self.rows, dtype=F64)[:, None].expand(self.rows, self.cols)
        grid_c = torch.arange(self.cols, dtype=F64)[None, :].expand(self.rows, self.cols)
        patches, raw = [], []
        for r0, h in row_parts:
            for c0, w in col_parts:
                tokens = (torch.arange(r0, r0 + h)[:, None] * self.cols + torch.arange(c0, c0 + w)[None, :]).reshape(-1)
                if p.no_pipe:
                    local = image_positions(self.rows, self.cols, 1.0, 1.0)[tokens]
                else:
                    local = image_positions(h, w, 1.0, 1.0)
                rope = rope_tables(torch.cat([text, local]), axes_dims)
                rr, cc = grid_r[r0:r0 + h, c0:c0 + w], grid_c[r0:r0 + h, c0:c0 + w]
                d2 = (rr - (r0 + (h - 1) / 2)) ** 2 + (cc - (c0 + (w - 1) / 2)) ** 2
                raw.append(torch.ones_like(d2) if p.uniform_weights else torch.exp(-d2 / (2 * sigma * sigma)))
                patches.append(Patch(r0, c0, h, w, tokens, rope, None, lowpass_mask(h, w, p.cutoff)))
        total = torch.zeros(self.rows * self.cols, dtype=F64)
        for patch, w in zip(patches, raw):
            total[patch.tokens] += w.reshape(-1)
        if bool((total <= 0).any()):
            raise AssertionError("the partition leaves a token uncovered")
        for patch, w in zip(patches, raw):
            patch.weight = w.reshape(-1) / total[patch.tokens]
        self._check_weights(patches, row_parts, col_parts, sigma)
        return patches

    def _check_weights(self, patches, row_parts, col_parts, sigma):
        """Splice weights sum to 1 per token and equal the product of the per-axis tables."""
        total = torch.zeros(self.rows * self.cols, dtype=F64)
        for patch in patches:
            total[patch.tokens] += patch.weight
        assert float((total - 1).abs().max()) < 1e-12, "splice weights do not sum to 1"
        uniform = self.params.uniform_weights
        wr = axis_weight_table(self.rows, row_parts, sigma, uniform)
        wc = axis_weight_table(self.cols, col_parts, sigma, uniform)
        for i, patch in enumerate(patches):
            ir, ic = divmod(i, len(col_parts))
            sep = np.outer(wr[ir, patch.row0:patch.row0 + patch.rows], wc[ic, patch.col0:patch.col0 + patch.cols])
            assert np.abs(sep.reshape(-1) - patch.weight.numpy()).max() < 1e-12, "weights are not separable"

    def attention(self, q, k, v):
        """q, k, v [B, H, L + N, D] (after the q/k RMSNorm, before RoPE) -> [B, L + N, H * D]."""
        mode, L = self.params.mode, self.txt_len
        if mode == "direct":
            return merge_heads(attention(rotate(q, self.original), rotate(k, self.original), v))
        qg, kg = rotate(q, self.glob), rotate(k, self.glob)
        if mode == "global":
            return merge_heads(attention(qg, kg, v))
        text_out = merge_heads(attention(qg[:, :, :L], kg, v))
        glob_img = merge_heads(attention(qg[:, :, L:], kg, v)) if mode == "fused" else None
        b, heads, _, d = q.shape
        image_out = torch.zeros(b, self.rows * self.cols, heads * d, dtype=q.dtype)
        for patch in self.patches:
            keys = torch.cat([torch.arange(L), L + patch.tokens])
            qp = rotate(q[:, :, L + patch.tokens], tuple(t[L:] for t in patch.rope))
            kp = rotate(k[:, :, keys], patch.rope)
            part = merge_heads(attention(qp, kp, v[:, :, keys]))
            if mode == "fused":
                g = glob_img[:, patch.tokens]
                if self.params.no_psf:
                    part = (g + part) / 2
                else:
                    shape = (b, patch.rows, patch.cols, heads * d)
                    part = spectral_fuse(g.reshape(shape), part.reshape(shape), patch.mask).reshape(b, -1, heads * d)
            image_out[:, patch.tokens] += patch.weight[None, :, None] * part
        return torch.cat([text_out, image_out], dim=1)


class ResDiTAttnProcessor:
    """Drop-in for FluxAttnProcessor2_0 (double and single blocks) running a ResDiTPlan."""

    def __init__(self, plan):
        self.plan = plan

    @staticmethod
    def _heads(attn, x, proj_q, proj_k, proj_v, norm_q, norm_k):
        b = x.shape[0]
        q, k, v = (p(x).view(b, -1, attn.heads, p.out_features // attn.heads).transpose(1, 2)
                   for p in (proj_q, proj_k, proj_v))
        return norm_q(q), norm_k(k), v

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, image_rotary_emb=None):
        if attention_mask is not None:
            raise ValueError("FLUX attention has no mask")
        q, k, v = self._heads(attn, hidden_states, attn.to_q, attn.to_k, attn.to_v, attn.norm_q, attn.norm_k)
        if encoder_hidden_states is not None:
            tq, tk, tv = self._heads(attn, encoder_hidden_states, attn.add_q_proj, attn.add_k_proj,
                                     attn.add_v_proj, attn.norm_added_q, attn.norm_added_k)
            q, k, v = torch.cat([tq, q], 2), torch.cat([tk, k], 2), torch.cat([tv, v], 2)
        plan = self.plan
        if q.shape[2] != plan.txt_len + plan.rows * plan.cols:
            raise ValueError(f"joint sequence {q.shape[2]} != {plan.txt_len} + {plan.rows}x{plan.cols}")
        out = plan.attention(q, k, v)
        if encoder_hidden_states is None:
            return out
        L = plan.txt_len
        return attn.to_out[1](attn.to_out[0](out[:, L:])), attn.to_add_out(out[:, :L])


def run(model, inputs, rows, cols, params):
    """One forward pass of a diffusers FLUX model with every attention layer in ResDiT mode."""
    cfg = model.config
    plan = ResDiTPlan(rows, cols, inputs["txt"].shape[1], tuple(cfg.axes_dims_rope), params)
    model.set_attn_processor(ResDiTAttnProcessor(plan))
    try:
        return ft.forward(model, inputs, rows, cols)
    finally:
        model.set_attn_processor(FluxAttnProcessor2_0())


# --- golden files -----------------------------------------------------------------------------

TINY = ResDiTParams(base_area=64, patch=8, sigma=2.0, cutoff=0.2)
VARIANTS = {
    "global": replace(TINY, mode="global"),
    "local": replace(TINY, mode="local"),
    "fused": replace(TINY, mode="fused"),
    "fused-c0.5": replace(TINY, mode="fused", cutoff=0.5),
    "fused-nopes": replace(TINY, mode="fused", no_pes=True),
    "fused-nopipe": replace(TINY, mode="fused", no_pipe=True),
    "fused-nopsf": replace(TINY, mode="fused", no_psf=True),
    "fused-nooverlap": replace(TINY, mode="fused", no_overlap=True),
    "fused-uniform": replace(TINY, mode="fused", uniform_weights=True),
    "local-nooverlap": replace(TINY, mode="local", no_overlap=True),
    "local-uniform": replace(TINY, mode="local", uniform_weights=True),
}
ABLATIONS = [v for v in VARIANTS if v not in ("global", "local", "fused")]
GOLDENS = {
    "tiny-a": [(v, g) for g in ft.GRIDS["tiny-a"] for v in ("global", "local", "fused")]
    + [(v, g) for g in [(16, 24), (24, 24)] for v in ABLATIONS],
    "tiny-b": [(v, g) for g in [(16, 16), (12, 20)] for v in ("fused", "local")],
}


def rel_l2(a, b):
    return float((a.to(F64) - b.to(F64)).norm() / b.to(F64).norm())


def load_model(cfg_name):
    model = ft.load_diffusers_folder(os.path.join(ft.DATA_DIR, cfg_name, "transformer"), F64)
    return ft.use_exact_timestep_projection(model)


def load_inputs(cfg_name, rows, cols):
    return load_file(os.path.join(ft.DATA_DIR, f"{cfg_name}.inputs.{ft.grid_name(rows, cols)}.safetensors"))


def golden_metadata(params, rows, cols):
    meta = asdict(params)
    b_r, b_c = resolved_base_grid(rows, cols, params)
    meta.update(grid=ft.grid_name(rows, cols), base_grid=ft.grid_name(b_r, b_c), sigma=params.sigma_value())
    return {"reference": json.dumps(meta, sort_keys=True)}


def write_goldens(cfg_name, model, report):
    for variant, (rows, cols) in GOLDENS[cfg_name]:
        params = VARIANTS[variant]
        inputs = load_inputs(cfg_name, rows, cols)
        velocity = run(model, inputs, rows, cols, params)
        name = f"{cfg_name}.{variant}.{ft.grid_name(rows, cols)}.safetensors"
        save_file({"velocity": velocity.to(torch.float32).contiguous()}, os.path.join(ft.DATA_DIR, name),
                  metadata=golden_metadata(params, rows, cols))
        direct = load_file(os.path.join(ft.DATA_DIR, f"{cfg_name}.direct.{ft.grid_name(rows, cols)}.safetensors"))
        report.append((cfg_name, variant, ft.grid_name(rows, cols), rel_l2(velocity, direct["velocity"])))


# --- invariants -------------------------------------------------------------------------------

def check(label, value, limit):
    status = "ok" if value <= limit else "FAILED"
    print(f"  {label}: {value:.2e} (limit {limit:.0e}) {status}")
    if value > limit:
        raise AssertionError(label)


def check_invariants(cfg_name, model):
    print(f"{cfg_name}: invariants (relative L2, float64)")
    rows, cols = 8, 8
    inputs = load_inputs(cfg_name, rows, cols)
    stock = ft.forward(model, inputs, rows, cols)
    direct = run(model, inputs, rows, cols, replace(TINY, mode="direct"))
    check("direct processor vs diffusers' own processor at 8x8", rel_l2(direct, stock), 1e-6)
    for grid in ft.GRIDS[cfg_name][1:]:
        inp = load_inputs(cfg_name, *grid)
        check(f"direct processor vs diffusers' own processor at {ft.grid_name(*grid)}",
              rel_l2(run(model, inp, *grid, replace(TINY, mode="direct")), ft.forward(model, inp, *grid)), 1e-6)
    worst = max(rel_l2(run(model, inputs, rows, cols, p), direct) for p in VARIANTS.values())
    check(f"every mode and ablation ({len(VARIANTS)}) equals direct at the base grid 8x8", worst, 1e-6)
    for grid in ([(16, 24), (24, 24)] if cfg_name == "tiny-a" else [(12, 20)]):
        inp = load_inputs(cfg_name, *grid)
        local = run(model, inp, *grid, VARIANTS["local"])
        glob = run(model, inp, *grid, VARIANTS["global"])
        g = ft.grid_name(*grid)
        check(f"fused cutoff 0 vs local at {g}", rel_l2(run(model, inp, *grid, replace(TINY, mode="fused", cutoff=0.0)), local), 1e-12)
        check(f"fused cutoff 1.5 vs global at {g}", rel_l2(run(model, inp, *grid, replace(TINY, mode="fused", cutoff=1.5)), glob), 1e-12)
        big = replace(TINY, mode="local", patch=max(grid), base_rows=grid[0], base_cols=grid[1])
        check(f"local with one patch = whole grid (base grid = grid) vs direct at {g}",
              rel_l2(run(model, inp, *grid, big), ft.forward(model, inp, *grid)), 1e-6)


def check_unit_invariants():
    print("geometry and fusion invariants")
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(2, 8, 6, 5, generator=gen, dtype=F64)
    worst = max(float((spectral_fuse(x, x, lowpass_mask(8, 6, c)) - x).abs().max()) for c in (0.0, 0.2, 0.5, 1.5))
    check("fusing a tensor with itself (max abs)", worst, 1e-12)
    for length in range(1, 300):
        for patch in (8, 64):
            for no_overlap in (False, True):
                parts = axis_partition(length, patch, no_overlap)
                covered = np.zeros(length, dtype=int)
                for s, n in parts:
                    covered[s:s + n] += 1
                assert covered.min() >= 1 and parts[-1][0] + parts[-1][1] == length
                assert not no_overlap or covered.max() == 1
                table = axis_weight_table(length, parts, patch / 4, False)
                assert np.abs(table.sum(axis=0) - 1).max() < 1e-12
    print("  partitions of lengths 1..299 (patch 8, 64, with and without overlap) cover every token once or more,"
          " end at the axis end, weights sum to 1: ok")
    assert mop_starts(192, 64)[0] == [0, 43, 85, 128], mop_starts(192, 64)
    assert base_grid(128, 256, 4096) == (45, 90)
    print("  METHOD.md examples (3072 px starts 0, 43, 85, 128; 128x256 -> 45x90): ok")


# --- partition tables for the C unit tests ----------------------------------------------------

def partition_json():
    axes = []
    for length, patch in [(128, 64), (192, 64), (256, 64), (16, 8), (24, 8), (20, 8)]:
        sigma = patch / 4.0
        starts, size = mop_starts(length, patch)
        parts = axis_partition(length, patch, False)
        tiles = axis_partition(length, patch, True)
        axes.append({
            "length": length,
            "patch": patch,
            "sigma": sigma,
            "mop_starts": starts,
            "mop_size": size,
            "gws_weights": axis_weight_table(length, parts, sigma, False).tolist(),
            "uniform_weights": axis_weight_table(length, parts, sigma, True).tolist(),
            "no_overlap_starts": [s for s, _ in tiles],
            "no_overlap_sizes": [n for _, n in tiles],
        })
    grids = []
    for area in (4096, 64):
        for rows, cols in [(128, 256), (256, 128), (192, 108), (16, 24), (12, 20), (16, 16), (24, 24)]:
            grids.append({"grid": [rows, cols], "area": area, "base": list(base_grid(rows, cols, area))})
    return {
        "about": "ResDiT partition tables from tools/reference/resdit_reference.py. gws_weights[i][p] is the "
                 "normalised Gaussian weight of patch i (along this axis) at token p, 0 where the patch does not "
                 "cover p; the 2-D splice weight is the product of the row and column tables.",
        "axes": axes,
        "base_grids": grids,
    }


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    check_unit_invariants()
    with open(os.path.join(ft.DATA_DIR, "resdit-partition.json"), "w") as f:
        json.dump(partition_json(), f, indent=1)
        f.write("\n")
    report = []
    for cfg_name in ft.CONFIGS:
        model = load_model(cfg_name)
        check_invariants(cfg_name, model)
        write_goldens(cfg_name, model, report)
    print("golden outputs (relative L2 distance from direct at the same grid)")
    for cfg_name, variant, grid, dist in report:
        print(f"  {cfg_name}.{variant}.{grid}: {dist:.3e}")


if __name__ == "__main__":
    main()
