"""Shared pieces of the FLUX reference: the tiny configs, seeded weights, inputs,
the diffusers -> BFL key mapping and the dtype rounding used for the golden files.

Everything here is deterministic: the same call gives the same bytes.
"""

import math
import os
import zlib

import torch
from diffusers import FluxTransformer2DModel

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA_DIR = os.path.join(REPO_ROOT, "tests", "data", "flux")

CONFIGS = {
    "tiny-a": dict(
        patch_size=1,
        in_channels=16,
        num_layers=2,
        num_single_layers=2,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=24,
        pooled_projection_dim=20,
        guidance_embeds=True,
        axes_dims_rope=(4, 6, 6),
    ),
    "tiny-b": dict(
        patch_size=1,
        in_channels=8,
        num_layers=1,
        num_single_layers=3,
        attention_head_dim=32,
        num_attention_heads=3,
        joint_attention_dim=16,
        pooled_projection_dim=12,
        guidance_embeds=False,
        axes_dims_rope=(8, 12, 12),
    ),
}

WEIGHT_SEEDS = {"tiny-a": 20261101, "tiny-b": 20261102}
TXT_LEN = {"tiny-a": 7, "tiny-b": 5}
GRIDS = {
    "tiny-a": [(8, 8), (16, 16), (24, 24), (16, 24), (12, 20)],
    "tiny-b": [(8, 8), (16, 16), (12, 20)],
}
TIMESTEP = 0.7
GUIDANCE = 3.5
COMFY_PREFIX = "model.diffusion_model."


def grid_name(rows, cols):
    return f"{rows}x{cols}"


def seed_for(*parts):
    """A stable 31-bit seed derived from a name (crc32 is fixed, unlike hash())."""
    return zlib.crc32("/".join(str(p) for p in parts).encode()) & 0x7FFFFFFF


def is_qk_norm_scale(name):
    return any(f".{n}.weight" in name for n in ("norm_q", "norm_k", "norm_added_q", "norm_added_k"))


def build_model(cfg_name):
    """A diffusers FluxTransformer2DModel with every parameter redrawn from a seeded normal.

    Linear weights: N(0, 1/fan_in) so each layer keeps activations O(1); biases N(0, 0.1^2);
    q/k RMSNorm scales 1 + 0.1 N(0, 1). Nothing is zero.
    """
    model = FluxTransformer2DModel(**CONFIGS[cfg_name])
    gen = torch.Generator().manual_seed(WEIGHT_SEEDS[cfg_name])
    with torch.no_grad():
        for name, param in sorted(model.named_parameters()):
            noise = torch.randn(param.shape, generator=gen, dtype=torch.float32)
            if param.ndim == 2:
                param.copy_(noise / param.shape[1] ** 0.5)
            elif is_qk_norm_scale(name):
                param.copy_(1.0 + 0.1 * noise)
            elif name.endswith(".bias"):
                param.copy_(0.1 * noise)
            else:
                raise RuntimeError(f"unexpected parameter {name} {tuple(param.shape)}")
    return model.eval()


def make_inputs(cfg_name, rows, cols):
    """Random f32 inputs for one grid, named as the engine's `resdit forward --inputs` expects."""
    cfg = CONFIGS[cfg_name]
    gen = torch.Generator().manual_seed(seed_for(cfg_name, "inputs", rows, cols))
    inputs = {
        "img": torch.randn(1, rows * cols, cfg["in_channels"], generator=gen),
        "txt": torch.randn(1, TXT_LEN[cfg_name], cfg["joint_attention_dim"], generator=gen),
        "vec": torch.randn(1, cfg["pooled_projection_dim"], generator=gen),
        "timestep": torch.tensor([TIMESTEP], dtype=torch.float32),
    }
    if cfg["guidance_embeds"]:
        inputs["guidance"] = torch.tensor([GUIDANCE], dtype=torch.float32)
    return inputs


def image_ids(rows, cols, dtype=torch.float64):
    """(0, row, col) for each image token, row-major, as diffusers' FluxPipeline builds them."""
    ids = torch.zeros(rows, cols, 3, dtype=dtype)
    ids[..., 1] = torch.arange(rows, dtype=dtype)[:, None]
    ids[..., 2] = torch.arange(cols, dtype=dtype)[None, :]
    return ids.reshape(rows * cols, 3)


def text_ids(txt_len, dtype=torch.float64):
    return torch.zeros(txt_len, 3, dtype=dtype)


def exact_timestep_projection(timesteps):
    """FLUX's sinusoidal embedding [cos, sin] of t (already x1000), computed in float64.

    diffusers (and BFL) compute it in float32; at t*1000 = 700 and g*1000 = 3500 the f32 angles are
    off by up to 4e-5 rad, which moves tiny-a's output by 2.4e-5 relative L2 - a quarter of the
    engine's 1e-4 budget, and not reproducible across libm implementations. The goldens use the
    exact values; the engine computes this embedding in double.
    """
    half = 128
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64) / half)
    angles = timesteps.to(torch.float64)[:, None] * freqs[None, :]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


def use_exact_timestep_projection(model):
    proj = model.time_text_embed.time_proj
    if proj.num_channels != 256 or not proj.flip_sin_to_cos or proj.downscale_freq_shift != 0:
        raise RuntimeError("unexpected FLUX timestep projection settings")
    proj.forward = exact_timestep_projection
    return model


def forward(model, inputs, rows, cols, joint_attention_kwargs=None):
    """One transformer forward pass in the model's dtype; returns the velocity [1, N, in_ch]."""
    dtype = next(model.parameters()).dtype
    with torch.no_grad():
        out = model(
            hidden_states=inputs["img"].to(dtype),
            encoder_hidden_states=inputs["txt"].to(dtype),
            pooled_projections=inputs["vec"].to(dtype),
            timestep=inputs["timestep"].to(dtype),
            guidance=inputs["guidance"].to(dtype) if "guidance" in inputs else None,
            img_ids=image_ids(rows, cols, dtype),
            txt_ids=text_ids(inputs["txt"].shape[1], dtype),
            joint_attention_kwargs=joint_attention_kwargs,
            return_dict=False,
        )[0]
    return out


def load_diffusers_folder(path, dtype=torch.float64):
    model = FluxTransformer2DModel.from_pretrained(path, torch_dtype=torch.float32)
    return model.to(dtype).eval()


# --- diffusers -> BFL key names -------------------------------------------------------------

def _linear(dst, src, sd, out):
    out[f"{dst}.weight"] = sd[f"{src}.weight"]
    out[f"{dst}.bias"] = sd[f"{src}.bias"]


def _joined(dst, srcs, sd, out):
    """BFL fuses several diffusers linears by concatenating their output rows."""
    out[f"{dst}.weight"] = torch.cat([sd[f"{s}.weight"] for s in srcs], dim=0)
    out[f"{dst}.bias"] = torch.cat([sd[f"{s}.bias"] for s in srcs], dim=0)


def _swap_halves(t):
    first, second = t.chunk(2, dim=0)
    return torch.cat([second, first], dim=0)


def diffusers_to_bfl(sd, cfg):
    """Map a diffusers FLUX state dict onto the key names of black-forest-labs/flux's Flux model."""
    out = {}
    _linear("img_in", "x_embedder", sd, out)
    _linear("txt_in", "context_embedder", sd, out)
    _linear("time_in.in_layer", "time_text_embed.timestep_embedder.linear_1", sd, out)
    _linear("time_in.out_layer", "time_text_embed.timestep_embedder.linear_2", sd, out)
    _linear("vector_in.in_layer", "time_text_embed.text_embedder.linear_1", sd, out)
    _linear("vector_in.out_layer", "time_text_embed.text_embedder.linear_2", sd, out)
    if cfg["guidance_embeds"]:
        _linear("guidance_in.in_layer", "time_text_embed.guidance_embedder.linear_1", sd, out)
        _linear("guidance_in.out_layer", "time_text_embed.guidance_embedder.linear_2", sd, out)
    for i in range(cfg["num_layers"]):
        d, s = f"double_blocks.{i}", f"transformer_blocks.{i}"
        _linear(f"{d}.img_mod.lin", f"{s}.norm1.linear", sd, out)
        _linear(f"{d}.txt_mod.lin", f"{s}.norm1_context.linear", sd, out)
        _joined(f"{d}.img_attn.qkv", [f"{s}.attn.to_{x}" for x in "qkv"], sd, out)
        _joined(f"{d}.txt_attn.qkv", [f"{s}.attn.add_{x}_proj" for x in "qkv"], sd, out)
        out[f"{d}.img_attn.norm.query_norm.scale"] = sd[f"{s}.attn.norm_q.weight"]
        out[f"{d}.img_attn.norm.key_norm.scale"] = sd[f"{s}.attn.norm_k.weight"]
        out[f"{d}.txt_attn.norm.query_norm.scale"] = sd[f"{s}.attn.norm_added_q.weight"]
        out[f"{d}.txt_attn.norm.key_norm.scale"] = sd[f"{s}.attn.norm_added_k.weight"]
        _linear(f"{d}.img_attn.proj", f"{s}.attn.to_out.0", sd, out)
        _linear(f"{d}.txt_attn.proj", f"{s}.attn.to_add_out", sd, out)
        _linear(f"{d}.img_mlp.0", f"{s}.ff.net.0.proj", sd, out)
        _linear(f"{d}.img_mlp.2", f"{s}.ff.net.2", sd, out)
        _linear(f"{d}.txt_mlp.0", f"{s}.ff_context.net.0.proj", sd, out)
        _linear(f"{d}.txt_mlp.2", f"{s}.ff_context.net.2", sd, out)
    for i in range(cfg["num_single_layers"]):
        d, s = f"single_blocks.{i}", f"single_transformer_blocks.{i}"
        _joined(f"{d}.linear1", [f"{s}.attn.to_q", f"{s}.attn.to_k", f"{s}.attn.to_v", f"{s}.proj_mlp"], sd, out)
        _linear(f"{d}.linear2", f"{s}.proj_out", sd, out)
        out[f"{d}.norm.query_norm.scale"] = sd[f"{s}.attn.norm_q.weight"]
        out[f"{d}.norm.key_norm.scale"] = sd[f"{s}.attn.norm_k.weight"]
        _linear(f"{d}.modulation.lin", f"{s}.norm.linear", sd, out)
    # diffusers' AdaLayerNormContinuous splits (scale, shift); BFL's LastLayer splits (shift, scale).
    out["final_layer.adaLN_modulation.1.weight"] = _swap_halves(sd["norm_out.linear.weight"])
    out["final_layer.adaLN_modulation.1.bias"] = _swap_halves(sd["norm_out.linear.bias"])
    _linear("final_layer.linear", "proj_out", sd, out)
    if len(out) != len(sd) - _fused_count(cfg):
        raise RuntimeError(f"BFL mapping lost tensors: {len(out)} BFL keys for {len(sd)} diffusers keys")
    return {k: v.contiguous() for k, v in out.items()}


def _fused_count(cfg):
    """How many diffusers tensors disappear by fusing: q/k/v (+mlp) weight and bias pairs."""
    return cfg["num_layers"] * 2 * 2 * 2 + cfg["num_single_layers"] * 3 * 2


def to_fp8_file_dtypes(bfl):
    """ComfyUI-style fp8 file: 2-D weights as float8_e4m3fn, 1-D biases and norm scales as bf16."""
    out = {}
    for k, v in bfl.items():
        if v.ndim == 2:
            if v.abs().max() >= 448:
                raise RuntimeError(f"{k} overflows float8_e4m3fn")
            out[k] = v.to(torch.float8_e4m3fn)
        else:
            out[k] = v.to(torch.bfloat16)
    return out


def bfl_to_diffusers(bfl, cfg):
    """diffusers' own BFL -> diffusers converter, run on a tiny model.

    diffusers hard-codes FLUX-dev's width (inner_dim = 3072) to split single_blocks.N.linear1;
    the function's source is taken from the installed diffusers and run with the tiny width.
    Used to check our mapping and to load the rounded (bf16 / fp8) BFL files.
    """
    import inspect

    from diffusers.loaders import single_file_utils

    fn = single_file_utils.convert_flux_transformer_checkpoint_to_diffusers
    source = inspect.getsource(fn)
    inner = cfg["num_attention_heads"] * cfg["attention_head_dim"]
    if "inner_dim = 3072" not in source:
        raise RuntimeError("diffusers' FLUX converter changed; update bfl_to_diffusers")
    namespace = dict(vars(single_file_utils))
    exec(source.replace("inner_dim = 3072", f"inner_dim = {inner}"), namespace)
    state = {k: v for k, v in bfl.items()}
    return namespace[fn.__name__](state)
