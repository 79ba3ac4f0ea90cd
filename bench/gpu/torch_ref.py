#!/usr/bin/env python3
"""PyTorch reference timings for bench/gpu.sh, on the same shapes as bench-gpu-ops.

Prints the same line format:
  attention TOKENS HEADS HEAD_DIM MS TFLOPS PEAK_MIB BACKEND
  gemm NAME M N K MS TFLOPS PEAK_MIB
  step SIDE_PX diffusers MS PEAK_MIB   (`step DOUBLE SINGLE`: diffusers' FluxTransformer2DModel
                                      with FLUX.1-dev widths, random weights, that many blocks)
Attention: torch.nn.functional.scaled_dot_product_attention, every SDPA backend that runs on
these inputs is timed and the fastest is reported (with its name). GEMM: F.linear (x @ w.T + b),
bf16, as torch.matmul plus the bias.
"""
import sys
import time

import torch
import torch.nn.functional as F


def time_ms(fn, repeats):
    fn()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1000.0 / repeats


def sdpa_backends():
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:
        return [("default", None)]
    names = ["CUDNN_ATTENTION", "FLASH_ATTENTION", "EFFICIENT_ATTENTION"]
    found = [(n.lower(), getattr(SDPBackend, n)) for n in names if hasattr(SDPBackend, n)]
    return [(name, (lambda b=b: sdpa_kernel([b]))) for name, b in found] + [("default", None)]


def bench_attention(tokens, quick):
    heads, head_dim = 24, 128
    q, k, v = (torch.randn(1, heads, tokens, head_dim, device="cuda", dtype=torch.bfloat16)
               for _ in range(3))
    repeats = 1 if quick else (3 if tokens > 30000 else 10)
    best = None
    for name, context in sdpa_backends():
        torch.cuda.reset_peak_memory_stats()
        try:
            if context is None:
                ms = time_ms(lambda: F.scaled_dot_product_attention(q, k, v), repeats)
            else:
                with context():
                    ms = time_ms(lambda: F.scaled_dot_product_attention(q, k, v), repeats)
        except RuntimeError as e:  # backend unavailable for these inputs
            print(f"# sdpa {name} at {tokens}: {str(e).splitlines()[0]}", file=sys.stderr)
            continue
        peak = torch.cuda.max_memory_allocated() / 2**20
        if best is None or ms < best[0]:
            best = (ms, peak, name)
    flops = 4.0 * tokens * tokens * head_dim * heads
    ms, peak, name = best
    print(f"attention {tokens} {heads} {head_dim} {ms:.3f} {flops / (ms * 1e-3) / 1e12:.1f} "
          f"{peak:.0f} {name}", flush=True)
    del q, k, v
    torch.cuda.empty_cache()


def bench_gemm(name, m, n, k, quick):
    torch.cuda.reset_peak_memory_stats()
    x = torch.rand(m, k, device="cuda", dtype=torch.bfloat16) * 2 - 1
    w = (torch.rand(n, k, device="cuda", dtype=torch.bfloat16) * 2 - 1) * 0.02
    b = (torch.rand(n, device="cuda", dtype=torch.bfloat16) * 2 - 1) * 0.1
    ms = time_ms(lambda: F.linear(x, w, b), 1 if quick else 5)
    peak = torch.cuda.max_memory_allocated() / 2**20
    print(f"gemm {name} {m} {n} {k} {ms:.3f} {2.0 * m * n * k / (ms * 1e-3) / 1e12:.1f} "
          f"{peak:.0f}", flush=True)
    del x, w, b
    torch.cuda.empty_cache()


def bench_step(double, single, quick):
    try:
        from diffusers import FluxTransformer2DModel
    except ImportError:
        print("torch_ref: diffusers not installed, no transformer-step figures", file=sys.stderr)
        return
    torch.manual_seed(0)
    model = FluxTransformer2DModel(patch_size=1, in_channels=64, num_layers=double,
                                   num_single_layers=single, attention_head_dim=128,
                                   num_attention_heads=24, joint_attention_dim=4096,
                                   pooled_projection_dim=768, guidance_embeds=True,
                                   axes_dims_rope=(16, 56, 56))
    model = model.to("cuda", torch.bfloat16).eval()
    txt_len = 512
    for side_px in (1024, 2048, 4096):
        side = side_px // 16
        n = side * side
        img = torch.rand(1, n, 64, device="cuda", dtype=torch.bfloat16) * 2 - 1
        txt = torch.rand(1, txt_len, 4096, device="cuda", dtype=torch.bfloat16) * 2 - 1
        pooled = torch.rand(1, 768, device="cuda", dtype=torch.bfloat16) * 2 - 1
        rows = torch.arange(side, device="cuda").repeat_interleave(side)
        cols = torch.arange(side, device="cuda").repeat(side)
        img_ids = torch.stack([torch.zeros_like(rows), rows, cols], dim=1).float()
        txt_ids = torch.zeros(txt_len, 3, device="cuda")
        t = torch.tensor([0.7], device="cuda", dtype=torch.bfloat16)
        g = torch.tensor([3.5], device="cuda", dtype=torch.bfloat16)

        def step():
            with torch.no_grad():
                model(hidden_states=img, encoder_hidden_states=txt, pooled_projections=pooled,
                      timestep=t, img_ids=img_ids, txt_ids=txt_ids, guidance=g,
                      return_dict=False)

        torch.cuda.reset_peak_memory_stats()
        try:
            ms = time_ms(step, 1 if quick else 2)
        except torch.cuda.OutOfMemoryError:
            print(f"# diffusers step at {side_px}: out of memory", file=sys.stderr)
            torch.cuda.empty_cache()
            continue
        peak = torch.cuda.max_memory_allocated() / 2**20
        print(f"step {side_px} diffusers {ms:.1f} {peak:.0f}", flush=True)
        del img, txt, pooled, img_ids, txt_ids
        torch.cuda.empty_cache()


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    quick = "--quick" in sys.argv
    if not torch.cuda.is_available():
        print("torch_ref: torch sees no CUDA device", file=sys.stderr)
        return 77
    print(f"device {torch.cuda.get_device_name()} (torch {torch.__version__})", flush=True)
    if what in ("attention", "all"):
        for tokens in (4608, 16896, 37376, 66048):
            bench_attention(tokens, quick)
    if what == "step":
        double = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2].isdigit() else 1
        single = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[3].isdigit() else 2
        bench_step(double, single, quick)
    if what in ("gemm", "all"):
        img, joint = 65536, 65536 + 512
        bench_gemm("double.img_attn.qkv", img, 9216, 3072, quick)
        bench_gemm("double.img_attn.proj", img, 3072, 3072, quick)
        bench_gemm("double.img_mlp.0", img, 12288, 3072, quick)
        bench_gemm("double.img_mlp.2", img, 3072, 12288, quick)
        bench_gemm("single.linear1", joint, 21504, 3072, quick)
        bench_gemm("single.linear2", joint, 3072, 15360, quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
