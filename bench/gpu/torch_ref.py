#!/usr/bin/env python3
"""PyTorch reference timings for bench/gpu.sh, on the same shapes as bench-gpu-ops.

Prints the same line format:
  attention TOKENS HEADS HEAD_DIM MS TFLOPS PEAK_MIB BACKEND
  gemm NAME M N K MS TFLOPS PEAK_MIB
  step SIDE_PX diffusers MS PEAK_MIB   (`step DOUBLE SINGLE`: diffusers' FluxTransformer2DModel
                                      with FLUX.1-dev widths, random weights, that many blocks)
  fluxdev-torch BACKEND MODE MS PEAK_MIB
      (`fluxdev [--patches ROWS COLS PATCH] [--budget SECONDS]`: FLUX.1-dev's true depth and
      widths at 4096^2 in plain PyTorch, random bf16 weights made on the device, one global,
      fused and local step per SDPA backend (flash, cudnn); see bench_fluxdev)
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


def time_once_ms(fn):
    torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1000.0


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


# ---------------------------------------------------------------------------------------------
# FLUX.1-dev at 4096^2 in plain PyTorch: the peer of `bench-gpu-step --dev`. Same layers, widths
# and depth (19 double + 38 single blocks, hidden 3072, 24 heads x 128, MLP 12288, 512 text
# tokens of 4096, vec 768, guidance), F.linear / torch.matmul for every projection, SDPA for
# attention. The ResDiT modes as ResDiT runs them: global = attention over all tokens; local =
# text queries over every key, then every MOP patch's queries over [text keys; patch keys] as one
# batch (the patch count and side from our output), spliced back; fused = both plus the PSF
# (rfft2 / irfft2 of each patch's global and local outputs). RoPE, norms and modulation are
# included (elementwise); the GWS weights are a plain copy back (overlaps overwritten), which
# costs no more.

C, HEADS, HEAD_DIM, MLP, TXT, TXT_DIM, VEC = 3072, 24, 128, 12288, 512, 4096, 768


def _lin(out_f, in_f):
    a = (3.0 / in_f) ** 0.5
    w = (torch.rand(out_f, in_f, device="cuda", dtype=torch.bfloat16) * 2 - 1) * a
    b = (torch.rand(out_f, device="cuda", dtype=torch.bfloat16) * 2 - 1) * 0.1
    return w, b


def _norm_w():
    return 1 + (torch.rand(HEAD_DIM, device="cuda", dtype=torch.bfloat16) * 2 - 1) * 0.1


def make_fluxdev_weights():
    torch.manual_seed(0)
    double = []
    for _ in range(19):
        blk = {}
        for s in ("img", "txt"):
            blk[s] = {"mod": _lin(6 * C, C), "qkv": _lin(3 * C, C), "qn": _norm_w(),
                      "kn": _norm_w(), "proj": _lin(C, C), "mlp0": _lin(MLP, C),
                      "mlp2": _lin(C, MLP)}
        double.append(blk)
    single = [{"lin1": _lin(3 * C + MLP, C), "lin2": _lin(C, C + MLP), "mod": _lin(3 * C, C),
               "qn": _norm_w(), "kn": _norm_w()} for _ in range(38)]
    embed = {"img_in": _lin(C, 64), "txt_in": _lin(C, TXT_DIM), "vec_in": _lin(C, VEC),
             "vec_out": _lin(C, C), "final_mod": _lin(2 * C, C), "final": _lin(64, C)}
    return double, single, embed


def _rms(x, w):
    x32 = x.float()
    return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + 1e-6)).to(x.dtype) * w


def _rope(x, cos, sin):
    """x [tokens, H, D]; cos, sin [tokens, 1, D/2] f32; rotates adjacent pairs."""
    x2 = x.float().unflatten(-1, (-1, 2))
    x0, x1 = x2[..., 0], x2[..., 1]
    return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), -1).flatten(-2).to(x.dtype)


def _ln_mod(x, shift, scale):
    return F.layer_norm(x, (C,), eps=1e-6) * (1 + scale) + shift


class FluxDevPeer:
    def __init__(self, patches_rows, patches_cols, patch, side=256):
        self.double, self.single, self.embed = make_fluxdev_weights()
        self.side, self.n_img = side, side * side
        pos = torch.arange(TXT + self.n_img, device="cuda", dtype=torch.float32)
        freqs = 1.0 / (10000 ** (torch.arange(HEAD_DIM // 2, device="cuda") / (HEAD_DIM // 2)))
        ang = pos[:, None] * freqs[None, :]
        self.cos, self.sin = ang.cos()[:, None, :], ang.sin()[:, None, :]
        # MOP-like starts: `count` patches of `patch` spread evenly over the axis
        def starts(count):
            if count <= 1:
                return [0]
            return [round(i * (side - patch) / (count - 1)) for i in range(count)]
        idx = []
        for r0 in starts(patches_rows):
            for c0 in starts(patches_cols):
                rows = torch.arange(r0, r0 + patch, device="cuda")
                cols = torch.arange(c0, c0 + patch, device="cuda")
                idx.append((rows[:, None] * side + cols[None, :]).flatten())
        self.patch_idx = torch.stack(idx) + TXT  # [P, patch * patch] token rows
        self.patch = patch
        g = torch.fft.rfftfreq(patch, device="cuda")
        f = torch.fft.fftfreq(patch, device="cuda")
        self.low = ((f[:, None] ** 2 + g[None, :] ** 2).sqrt() < 0.25).float()[None, :, :, None]

    def attention(self, q, k, v, mode):
        """q, k, v [tokens, H, D] (rotated) -> [tokens, H * D]."""
        def sdpa(qq, kk, vv):  # [B, tokens, H, D] each
            o = F.scaled_dot_product_attention(qq.transpose(1, 2), kk.transpose(1, 2),
                                               vv.transpose(1, 2))
            return o.transpose(1, 2)
        if mode == "global":
            return sdpa(q[None], k[None], v[None])[0].flatten(-2)
        out = torch.empty_like(q)
        glob = sdpa(q[None], k[None], v[None])[0] if mode == "fused" else None
        if mode == "fused":
            out[:TXT] = glob[:TXT]
        else:
            out[:TXT] = sdpa(q[None, :TXT], k[None], v[None])[0]
        P, n = self.patch_idx.shape
        qp = q[self.patch_idx]                                   # [P, n, H, D]
        kp = torch.cat((k[:TXT].expand(P, TXT, HEADS, HEAD_DIM), k[self.patch_idx]), 1)
        vp = torch.cat((v[:TXT].expand(P, TXT, HEADS, HEAD_DIM), v[self.patch_idx]), 1)
        op = sdpa(qp, kp, vp)                                    # [P, n, H, D]
        if mode == "fused":
            side = self.patch
            gl = glob[self.patch_idx].float().reshape(P, side, side, C)
            lo = op.float().reshape(P, side, side, C)
            fg = torch.fft.rfft2(gl, dim=(1, 2))
            fl = torch.fft.rfft2(lo, dim=(1, 2))
            op = torch.fft.irfft2(self.low * fg + (1 - self.low) * fl, s=(side, side),
                                  dim=(1, 2)).to(q.dtype).reshape(P, n, HEADS, HEAD_DIM)
        out[self.patch_idx.flatten()] = op.reshape(P * n, HEADS, HEAD_DIM)
        return out.flatten(-2)

    def qk(self, x, qkv, qn, kn, rows):
        q, k, v = F.linear(x, *qkv).unflatten(-1, (3, HEADS, HEAD_DIM)).unbind(-3)
        q = _rope(_rms(q, qn), self.cos[rows], self.sin[rows])
        k = _rope(_rms(k, kn), self.cos[rows], self.sin[rows])
        return q, k, v

    def double_block(self, blk, img, txt, vec, mode):
        mi = F.linear(vec, *blk["img"]["mod"]).chunk(6, -1)
        mt = F.linear(vec, *blk["txt"]["mod"]).chunk(6, -1)
        n = img.shape[0]
        qi, ki, vi = self.qk(_ln_mod(img, mi[0], mi[1]), blk["img"]["qkv"], blk["img"]["qn"],
                             blk["img"]["kn"], slice(TXT, TXT + n))
        qt, kt, vt = self.qk(_ln_mod(txt, mt[0], mt[1]), blk["txt"]["qkv"], blk["txt"]["qn"],
                             blk["txt"]["kn"], slice(0, TXT))
        a = self.attention(torch.cat((qt, qi)), torch.cat((kt, ki)), torch.cat((vt, vi)), mode)
        at, ai = a[:TXT], a[TXT:]
        img = img + mi[2] * F.linear(ai, *blk["img"]["proj"])
        h = F.gelu(F.linear(_ln_mod(img, mi[3], mi[4]), *blk["img"]["mlp0"]), approximate="tanh")
        img = img + mi[5] * F.linear(h, *blk["img"]["mlp2"])
        txt = txt + mt[2] * F.linear(at, *blk["txt"]["proj"])
        h = F.gelu(F.linear(_ln_mod(txt, mt[3], mt[4]), *blk["txt"]["mlp0"]), approximate="tanh")
        txt = txt + mt[5] * F.linear(h, *blk["txt"]["mlp2"])
        return img, txt

    def single_block(self, blk, x, vec, mode):
        m = F.linear(vec, *blk["mod"]).chunk(3, -1)
        h = F.linear(_ln_mod(x, m[0], m[1]), *blk["lin1"])
        qkv, mlp = h.split((3 * C, MLP), -1)
        q, k, v = qkv.unflatten(-1, (3, HEADS, HEAD_DIM)).unbind(-3)
        q = _rope(_rms(q, blk["qn"]), self.cos, self.sin)
        k = _rope(_rms(k, blk["kn"]), self.cos, self.sin)
        a = self.attention(q, k, v, mode)
        return x + m[2] * F.linear(torch.cat((a, F.gelu(mlp, approximate="tanh")), -1),
                                   *blk["lin2"])

    def step(self, img, txt, vec, mode, blocks=None):
        with torch.no_grad():
            e = self.embed
            img = F.linear(img, *e["img_in"])
            txt = F.linear(txt, *e["txt_in"])
            vec = F.linear(F.silu(F.linear(vec, *e["vec_in"])), *e["vec_out"])
            svec = F.silu(vec)
            n_double, n_single = blocks or (19, 38)
            for blk in self.double[:n_double]:
                img, txt = self.double_block(blk, img, txt, svec, mode)
            x = torch.cat((txt, img))
            for blk in self.single[:n_single]:
                x = self.single_block(blk, x, svec, mode)
            shift, scale = F.linear(svec, *e["final_mod"]).chunk(2, -1)
            return F.linear(_ln_mod(x[TXT:], shift, scale), *e["final"])


def bench_fluxdev(patches, budget_s):
    start = time.perf_counter()
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:
        print("torch_ref: torch.nn.attention missing (torch < 2.3): no fluxdev peer",
              file=sys.stderr)
        return
    peer = FluxDevPeer(*patches)
    torch.cuda.synchronize()
    print(f"# fluxdev-torch weights made in {time.perf_counter() - start:.1f} s, "
          f"{torch.cuda.memory_allocated() / 2**30:.1f} GiB", flush=True)
    img = torch.rand(peer.n_img, 64, device="cuda", dtype=torch.bfloat16) * 2 - 1
    txt = torch.rand(TXT, TXT_DIM, device="cuda", dtype=torch.bfloat16) * 2 - 1
    vec = torch.rand(VEC, device="cuda", dtype=torch.bfloat16) * 2 - 1
    for name in ("flash", "cudnn"):
        backend = getattr(SDPBackend, "FLASH_ATTENTION" if name == "flash" else "CUDNN_ATTENTION",
                          None)
        if backend is None:
            print(f"# fluxdev-torch {name}: this torch has no such SDPA backend", flush=True)
            continue
        for mode in ("global", "fused", "local"):
            if budget_s > 0 and time.perf_counter() - start > budget_s:
                print(f"# fluxdev-torch {name} {mode} skipped: "
                      f"{time.perf_counter() - start:.0f} s of the {budget_s:.0f} s budget gone",
                      flush=True)
                continue
            try:
                with sdpa_kernel([backend]):
                    peer.step(img, txt, vec, mode, blocks=(1, 1))  # warm-up: kernels, plans
                    torch.cuda.synchronize()
                    torch.cuda.reset_peak_memory_stats()
                    ms = time_once_ms(lambda: peer.step(img, txt, vec, mode))
            except (RuntimeError, torch.cuda.OutOfMemoryError) as e:
                print(f"# fluxdev-torch {name} {mode}: {str(e).splitlines()[0]}", flush=True)
                torch.cuda.empty_cache()
                continue
            peak = torch.cuda.max_memory_allocated() / 2**20
            print(f"fluxdev-torch {name} {mode} {ms:.1f} {peak:.0f}", flush=True)


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
    if what == "fluxdev":
        args = sys.argv[2:]
        patches, budget = (5, 5, 64), 0.0  # resdit_mop_count(256, 64) = 5 per axis
        if "--patches" in args:
            i = args.index("--patches")
            patches = tuple(int(a) for a in args[i + 1:i + 4])
        if "--budget" in args:
            budget = float(args[args.index("--budget") + 1])
        bench_fluxdev(patches, budget)
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
