"""How faithfully a demo VAE round-trips scenes at the base size and at larger sizes.

The sampler can only draw what the VAE can encode and decode: at 4x the base size a scene's
flat regions (sky, the inside of a sun) are wider than the encoder's receptive field, and a VAE
trained on base-size scenes alone may not keep their colours (bench/RESULTS.md, 2026-12-04: the
committed VAE turns a 1024 px sun into a band across the picture). For each size this prints,
over --count scenes (seeds from 900 000, apart from every training seed):
  l1       mean absolute error in 0-255 levels
  sun IoU  intersection over union of the sun-coloured pixels (tests/demo/sun-detector.c's
           rule) before and after; 1 is a perfect sun, a band or a lost sun is far below
  worst    the lowest sun IoU of any scene

Usage: python tools/demo/eval_vae.py [--vae DIR] [--sizes 256,1024] [--count 16] [--save DIR]
"""

import argparse
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import scenes  # noqa: E402


def sun_mask(rgb):
    """The sun-coloured pixels of an H x W x 3 uint8 array."""
    return scenes.sun_pixels(*(rgb[..., i].astype(np.int32) for i in range(3)))


@torch.no_grad()
def round_trip(vae, img):
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]
    y = vae.decode(vae.encode(x).latent_dist.mean).sample[0]
    return ((y.permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vae", default=os.path.join(ROOT, "data", "models", "resdit-demo", "vae"))
    ap.add_argument("--sizes", default="256,1024")
    ap.add_argument("--count", type=int, default=16)
    ap.add_argument("--save", help="folder for side-by-side pictures of the first scenes")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from diffusers import AutoencoderKL
    vae = AutoencoderKL.from_pretrained(args.vae).float().eval()
    print(f"VAE {args.vae}")
    print(f"{'size':>6} {'l1':>6} {'sun IoU':>8} {'worst':>6}")
    for size in (int(s) for s in args.sizes.split(",")):
        l1s, ious = [], []
        for k in range(args.count):
            img = np.asarray(scenes.scene(900_000 + k, size)[0].convert("RGB"))
            out = round_trip(vae, img)
            l1s.append(np.abs(out.astype(np.int32) - img).mean())
            a, b = sun_mask(img), sun_mask(out)
            ious.append((a & b).sum() / max(1, (a | b).sum()))
            if args.save and k < 4:
                from PIL import Image
                os.makedirs(args.save, exist_ok=True)
                Image.fromarray(np.concatenate([img, out], axis=1)).save(
                    os.path.join(args.save, f"rt-{size}-{k}.png"))
        print(f"{size:>6} {np.mean(l1s):6.2f} {np.mean(ious):8.3f} {np.min(ious):6.3f}",
              flush=True)


if __name__ == "__main__":
    main()
