#!/usr/bin/env python3
"""Joins bench-gpu-ops / bench-gpu-step and torch_ref.py outputs into markdown tables.

Usage: report.py OURS.txt TORCH.txt [TORCH_NOTE]
OURS.txt may also hold `attention-mma ...` and `attention-mma-VARIANT ...` lines (bench-gpu-ops
under RESDIT_ATTENTION=ours, the second also under RESDIT_MMA_VARIANT=VARIANT, renamed by
bench/gpu.sh) and `fluxdev ...` lines (bench-gpu-step --dev); TORCH.txt
`fluxdev-torch BACKEND MODE MS PEAK` lines (torch_ref.py fluxdev).
"""
import sys


def parse(path):
    device, rows = "?", {}
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return device, rows
    for line in lines:
        try:
            parse_line(line.split(), rows)
        except (ValueError, IndexError):
            pass  # a comment or a line cut short by a timeout
        if line.startswith("device "):
            device = line[len("device "):]
    return device, rows


def parse_line(parts, rows):
    """One output line into rows (ValueError / IndexError on a malformed one)."""
    if not parts or parts[0] == "device":
        return
    if parts[0] == "fluxdev" and len(parts) >= 4 and parts[1] in ("global", "fused", "local",
                                                                  "vae"):
        rows[("fluxdev", parts[1])] = {"ms": float(parts[2]), "peak": float(parts[3])}
    elif parts[0] == "fluxdev-fp8" and len(parts) >= 4 and parts[1] in ("global", "fused",
                                                                      "local"):
        rows[("fluxdev-fp8", parts[1])] = {"ms": float(parts[2]), "peak": float(parts[3])}
    elif parts[0] == "fluxdev-fp8" and len(parts) >= 3 and parts[1] == "projection":
        rows[("fluxdev-fp8", "projection")] = {"ms": float(parts[2])} if parts[2] != "-" else None
    elif parts[0] == "fluxdev" and len(parts) >= 3 and parts[1] == "projection":
        rows[("fluxdev", "projection")] = {"ms": float(parts[2])} if parts[2] != "-" else None
    elif parts[0] == "fluxdev-torch" and len(parts) >= 5:
        rows[("fluxdev-torch", parts[1], parts[2])] = {"ms": float(parts[3]),
                                                       "peak": float(parts[4])}
    elif (parts[0] in ("attention", "attention-mma") or parts[0].startswith("attention-mma-")) \
            and len(parts) >= 7:
        rows[(parts[0], parts[1])] = {"ms": float(parts[4]), "tflops": float(parts[5]),
                                      "peak": float(parts[6]),
                                      "note": parts[7] if len(parts) > 7 else ""}
    elif parts[0] == "step" and len(parts) >= 5:
        rows[("step", parts[1], parts[2])] = {"ms": float(parts[3]), "peak": float(parts[4])}
    elif parts[0] == "gemm" and len(parts) >= 8:
        rows[("gemm", parts[1])] = {"shape": f"{parts[2]}x{parts[3]}x{parts[4]}",
                                    "ms": float(parts[5]), "tflops": float(parts[6]),
                                    "peak": float(parts[7])}


def cell(row, key, fmt):
    return fmt.format(row[key]) if row else "-"


def step_table(ours, ref):
    """Transformer step per image size: our modes and diffusers (plain attention)."""
    sizes = sorted({k[1] for k in list(ours) + list(ref) if k[0] == "step"}, key=int)
    if not sizes:
        return
    print()
    print("| step (reduced depth) | ours direct ms | global | local | fused | diffusers ms | "
          "direct / diffusers | fused / global | local / global | ours peak MiB | "
          "diffusers peak MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in sizes:
        o = {m: ours.get(("step", size, m)) for m in ("direct", "global", "local", "fused")}
        d = ref.get(("step", size, "diffusers"))

        def ms(r):
            return f"{r['ms']:.0f}" if r else "-"

        def ratio(a, b):
            return f"{a['ms'] / b['ms']:.2f}" if a and b else "-"

        peak = max((r["peak"] for r in o.values() if r), default=None)
        ours_peak = f"{peak:.0f}" if peak is not None else "-"
        diffusers_peak = f"{d['peak']:.0f}" if d else "-"
        print(f"| {size}^2 | {ms(o['direct'])} | {ms(o['global'])} | {ms(o['local'])} | "
              f"{ms(o['fused'])} | {ms(d)} | {ratio(o['direct'], d)} | "
              f"{ratio(o['fused'], o['global'])} | {ratio(o['local'], o['global'])} | "
              f"{ours_peak} | {diffusers_peak} |")


def fluxdev_table(ours, ref):
    """The true FLUX.1-dev transformer at 4096^2: steps per mode, decode, 35-step projection."""
    if not any(k[0] in ("fluxdev", "fluxdev-fp8", "fluxdev-torch") for k in list(ours) + list(ref)):
        return
    print()
    print("FLUX.1-dev (19 double + 38 single blocks, random bf16 weights made on the device) at "
          "4096 x 4096 (256 x 256 + 512 text tokens); torch: the same layers in plain PyTorch "
          "(F.linear, SDPA with one backend forced).")
    print()
    print("| 4096^2 | ours ms | ours peak MiB | torch flash ms | torch cuDNN ms | "
          "ours time / best torch |")
    print("|---|---:|---:|---:|---:|---:|")
    steps = {"global": 10, "fused": 10, "local": 15}
    totals = {"flash": 0.0, "cudnn": 0.0}
    complete = {"flash": True, "cudnn": True}
    for mode in ("global", "fused", "local", "vae"):
        o = ours.get(("fluxdev", mode))
        t = {b: ref.get(("fluxdev-torch", b, mode)) for b in ("flash", "cudnn")}
        for b in totals:
            if mode in steps:
                if t[b]:
                    totals[b] += steps[mode] * t[b]["ms"]
                else:
                    complete[b] = False
        best = min((r["ms"] for r in t.values() if r), default=None)
        ratio = f"{o['ms'] / best:.2f}" if o and best else "-"
        label = f"{mode} step" if mode != "vae" else "VAE decode (ours only)"
        print(f"| {label} | {cell(o, 'ms', '{:.0f}')} | {cell(o, 'peak', '{:.0f}')} | "
              f"{cell(t['flash'], 'ms', '{:.0f}')} | {cell(t['cudnn'], 'ms', '{:.0f}')} | "
              f"{ratio} |")
    for mode in ("global", "fused", "local"):
        o = ours.get(("fluxdev-fp8", mode))
        if not o:
            continue
        t = {b: ref.get(("fluxdev-torch", b, mode)) for b in ("flash", "cudnn")}
        best = min((r["ms"] for r in t.values() if r), default=None)
        ratio = f"{o['ms'] / best:.2f}" if best else "-"
        print(f"| {mode} step, fp8 weights (torch: bf16) | {o['ms']:.0f} | {o['peak']:.0f} | "
              f"{cell(t['flash'], 'ms', '{:.0f}')} | {cell(t['cudnn'], 'ms', '{:.0f}')} | "
              f"{ratio} |")
    proj8, vae = ours.get(("fluxdev-fp8", "projection")), ours.get(("fluxdev", "vae"))
    if proj8:
        plus = f" + {vae['ms'] / 1000:.1f} s decode" if vae else " (transformer only)"
        print(f"| 35-step image with fp8 weights | {proj8['ms'] / 1000:.1f} s{plus} |  | | | |")
    proj = ours.get(("fluxdev", "projection"))
    torch_cells = [f"{totals[b] / 1000:.1f} s (transformer only)" if complete[b] else "-"
                   for b in ("flash", "cudnn")]
    print(f"| 35-step image: 10 global + 10 fused + 15 local (+ decode) | "
          f"{proj['ms'] / 1000:.1f} s |  | {torch_cells[0]} | {torch_cells[1]} | |"
          if proj else
          f"| 35-step image: 10 global + 10 fused + 15 local (+ decode) | - |  | "
          f"{torch_cells[0]} | {torch_cells[1]} | |")


def main():
    ours_dev, ours = parse(sys.argv[1])
    torch_dev, ref = parse(sys.argv[2])
    note = sys.argv[3] if len(sys.argv) > 3 else ""
    print(f"GPU (ours): {ours_dev}")
    print(f"GPU (torch): {torch_dev}")
    if note:
        print(f"Note: {note}")
    print()
    print("| case | ours ms | ours TFLOP/s | torch ms | torch TFLOP/s | ours / torch | "
          "ours peak MiB | torch peak MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    keys = sorted((k for k in set(ours) | set(ref)
                   if k[0] not in ("step", "fluxdev", "fluxdev-fp8", "fluxdev-torch")),
                  key=lambda k: (k[0], int(k[1]) if k[1].isdigit() else 0))
    for key in keys:
        o, t = ours.get(key), ref.get(key)
        if key[0] == "attention-mma":
            t = ref.get(("attention", key[1]))
            name = f"attention {key[1]} tokens, our mma.sync kernel (RESDIT_ATTENTION=ours)"
        elif key[0].startswith("attention-mma-"):
            t = ref.get(("attention", key[1]))
            name = (f"attention {key[1]} tokens, our mma.sync kernel "
                    f"(RESDIT_MMA_VARIANT={key[0][len('attention-mma-'):]})")
        elif key[0] == "attention":
            name = f"attention {key[1]} tokens, 24x128" + (f" (torch: {t['note']})" if t else "")
        elif key[0] == "gemm" and "." in key[1] and key[1].rsplit(".", 1)[1].startswith("fp8"):
            base, kind = key[1].rsplit(".", 1)
            t = ref.get(("gemm", base))
            how = {"fp8": "fp8 weights and activations",
                   "fp8-dequant": "fp8 weights widened to bf16 per GEMM"}.get(kind, kind)
            name = f"{base} {(o or t)['shape']}, {how} (torch: bf16)"
        else:
            name = f"{key[1]} {(o or t)['shape']}"
        ratio = f"{o['tflops'] / t['tflops']:.2f}x" if o and t and t["tflops"] > 0 else "-"
        print(f"| {name} | {cell(o, 'ms', '{:.2f}')} | {cell(o, 'tflops', '{:.0f}')} | "
              f"{cell(t, 'ms', '{:.2f}')} | {cell(t, 'tflops', '{:.0f}')} | {ratio} | "
              f"{cell(o, 'peak', '{:.0f}')} | {cell(t, 'peak', '{:.0f}')} |")
    step_table(ours, ref)
    fluxdev_table(ours, ref)


if __name__ == "__main__":
    main()
