"""Diagnostic for docs/DEMO_MODEL.md: the global branch alone (PES positions, full attention,
every step) at FACTOR x the base size from noise, once per strength k of the initial noise's
low frequencies, to see whether the layout's objects (the sun) form.

At FACTOR x, one base position holds FACTOR x FACTOR tokens, and the mean of their iid noise has
the standard deviation 1 / FACTOR: seen on the base grid, the noise that decides where objects go
is FACTOR times weaker than at the base size. Here the block means are scaled by k (k = 1: the
sampler's own noise; k = FACTOR: the base size's strength, the residual then vanishes) and the
residual so that every token keeps variance 1. Writes a grid: rows k, columns seeds 1..4.

  RESDIT_DEMO_WORK=<work folder with tokenizer/, tokenizer_2/> \\
  python tools/demo/pes_noise.py --model data/models/resdit-demo --factor 4 --k 1,2,4 --out g.png
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_demo as td  # noqa: E402

PROMPTS = ["a yellow sun in a blue sky over green hills by a lake, one house with a red roof, two trees",
           "an orange sun in a pale sky over grey mountains, three trees",
           "a red sun in a purple sky over olive hills by a sea, two houses with grey roofs",
           "a white moon in a night sky over dark green hills, one house with a blue roof, one tree"]


def initial_noise(seed, side, factor, k):
    """Packed noise [1, side^2, 64] whose FACTOR x FACTOR block means are scaled by k."""
    lat = torch.randn(1, 16, 2 * side, 2 * side, generator=torch.Generator().manual_seed(seed))
    t = td.pack(lat).view(1, side // factor, factor, side // factor, factor, 64)
    mean = t.mean(dim=(2, 4), keepdim=True).expand_as(t)
    var_mean = (k / factor) ** 2
    r = ((1 - var_mean) / (1 - 1 / factor ** 2)) ** 0.5 if var_mean < 1 else 0.0
    return (k * mean + r * (t - mean)).reshape(1, side * side, 64)


@torch.no_grad()
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="an exported demo model folder")
    ap.add_argument("--factor", type=int, default=4)
    ap.add_argument("--k", default="1,2,4", help="comma-separated strengths")
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from PIL import Image
    clip_tok, t5_tok = td.load_tokenizers()
    flux, clip, t5, vae, scale = td.load_exported(args.model)
    side = td.BASE // 16 * args.factor
    ids = td.img_ids(side, side, 1.0 / args.factor)  # PES: the grid spaced onto the base grid
    ks = [float(k) for k in args.k.split(",")]
    tile = 256
    grid = Image.new("RGB", (tile * len(PROMPTS), tile * len(ks)))
    uncond = td.encode_text(clip_tok, t5_tok, clip, t5, [""])
    for col, prompt in enumerate(PROMPTS):
        cond = td.encode_text(clip_tok, t5_tok, clip, t5, [prompt])
        for row, k in enumerate(ks):
            x = td.sample_euler(flux, initial_noise(col + 1, side, args.factor, k), ids, cond,
                                uncond, scale)
            img = td.decode(vae, x, 2 * side, 2 * side)[0]
            grid.paste(Image.fromarray(img.numpy()).resize((tile, tile)), (col * tile, row * tile))
            td.log(f"seed {col + 1} k {k}")
    grid.save(args.out)
    td.log(f"grid -> {args.out}")


if __name__ == "__main__":
    main()
