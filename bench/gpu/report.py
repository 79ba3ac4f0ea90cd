#!/usr/bin/env python3
"""Joins bench-gpu-ops and torch_ref.py outputs into one markdown table.

Usage: report.py OURS.txt TORCH.txt [TORCH_NOTE]
"""
import sys


def parse(path):
    device, rows = "?", {}
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return device, rows
    for line in lines:
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "device":
            device = " ".join(parts[1:])
        elif parts[0] == "attention" and len(parts) >= 7:
            rows[("attention", parts[1])] = {"ms": float(parts[4]), "tflops": float(parts[5]),
                                             "peak": float(parts[6]),
                                             "note": parts[7] if len(parts) > 7 else ""}
        elif parts[0] == "step" and len(parts) >= 5:
            rows[("step", parts[1], parts[2])] = {"ms": float(parts[3]), "peak": float(parts[4])}
        elif parts[0] == "gemm" and len(parts) >= 8:
            rows[("gemm", parts[1])] = {"shape": f"{parts[2]}x{parts[3]}x{parts[4]}",
                                        "ms": float(parts[5]), "tflops": float(parts[6]),
                                        "peak": float(parts[7])}
    return device, rows


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
    keys = sorted((k for k in set(ours) | set(ref) if k[0] != "step"),
                  key=lambda k: (k[0], int(k[1]) if k[1].isdigit() else 0))
    for key in keys:
        o, t = ours.get(key), ref.get(key)
        if key[0] == "attention":
            name = f"attention {key[1]} tokens, 24x128" + (f" (torch: {t['note']})" if t else "")
        else:
            name = f"{key[1]} {(o or t)['shape']}"
        ratio = f"{o['tflops'] / t['tflops']:.2f}x" if o and t and t["tflops"] > 0 else "-"
        print(f"| {name} | {cell(o, 'ms', '{:.2f}')} | {cell(o, 'tflops', '{:.0f}')} | "
              f"{cell(t, 'ms', '{:.2f}')} | {cell(t, 'tflops', '{:.0f}')} | {ratio} | "
              f"{cell(o, 'peak', '{:.0f}')} | {cell(t, 'peak', '{:.0f}')} |")
    step_table(ours, ref)


if __name__ == "__main__":
    main()
