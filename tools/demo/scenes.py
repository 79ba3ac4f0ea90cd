"""Procedural landscapes with captions, for the ResDiT demo model (tools/demo).

Every scene is drawn from its seed alone (numpy's PCG64 through default_rng(seed)): the same
seed gives the same picture and caption on every machine. A scene has a sky gradient, exactly
one sun or moon, hills or mountains, maybe water, trees and houses; colours and counts are
drawn at random and the caption states them, e.g.
"a yellow sun in a blue sky over green hills by a lake, two houses, three trees".

Colours are chosen so that a simple detector can count suns (engine test and benchmark,
tests/demo/sun_detector.c): only the sun is bright and warm (red >= 200 and red - blue >= 80),
only the moon is bright and pale (red, green >= 215, blue >= 160); sky, land, water, trees and
houses never are. The sun or moon sits wholly in the upper 45 % of the picture.

Usage: python scenes.py --seed 7 --out scene.png   (prints the caption)
"""

import argparse
import math

import numpy as np
from PIL import Image, ImageDraw

NUMBERS = ["no", "one", "two", "three", "four"]

# name -> (top colour, horizon colour); every channel of every sky stays <= 200 in red.
SKIES = {
    "blue": ((40, 90, 190), (150, 200, 240)),
    "pale": ((110, 160, 210), (195, 220, 235)),
    "purple": ((60, 40, 110), (170, 110, 170)),
    "night": ((8, 12, 40), (40, 60, 110)),
}
SUNS = {  # warm, bright: red >= 200 and red - blue >= 80
    "yellow": (255, 225, 40),
    "orange": (255, 150, 30),
    "red": (235, 60, 40),
}
MOON = (245, 245, 205)
LANDS = {
    "green": (60, 150, 60),
    "dark green": (30, 95, 45),
    "olive": (120, 130, 50),
    "brown": (130, 95, 60),
}
MOUNTAINS = {
    "grey": (110, 110, 120),
    "blue": (70, 90, 140),
    "purple": (100, 70, 120),
    "brown": (115, 85, 60),
}
WATERS = {"lake": (40, 90, 170), "sea": (20, 70, 120)}
TREES = {"green": (40, 120, 40), "dark": (20, 70, 40)}
WALLS = [(190, 180, 160), (150, 110, 80), (170, 170, 175)]
ROOFS = {"red": (170, 40, 35), "grey": (70, 70, 80), "blue": (50, 60, 130)}


def sun_pixels(r, g, b):
    """tests/demo/sun-detector.c's sun_pixel on red, green and blue arrays (numpy or torch, in
    0-255 levels): bright and warm (the suns) or bright and pale (the moon)."""
    return ((r >= 190) & (r - b >= 70)) | ((r >= 205) & (g >= 205) & (b >= 150))


def lerp(a, b, t):
    return tuple(int(round(a[i] + (b[i] - a[i]) * t)) for i in range(3))


def jitter(rng, colour, amount=12, top=None):
    """A colour moved by a few levels per channel (clamped; top caps every channel)."""
    out = []
    for c in colour:
        v = int(c + rng.integers(-amount, amount + 1))
        out.append(max(0, min(top if top is not None else 255, v)))
    return tuple(out)


def ridge(rng, width, base_y, amplitude, bumps):
    """Heights of a smooth ridge line, one per column: a sum of a few random sines."""
    x = np.arange(width, dtype=np.float64) / width
    y = np.full(width, base_y, dtype=np.float64)
    for _ in range(bumps):
        freq = rng.uniform(0.6, 2.5)
        phase = rng.uniform(0, 2 * math.pi)
        y -= amplitude * rng.uniform(0.3, 1.0) * (0.5 + 0.5 * np.sin(2 * math.pi * freq * x + phase))
    return y


def mountain_line(rng, width, base_y, peak_min_y, count):
    """A ridge of straight-sided peaks, none above peak_min_y."""
    y = np.full(width, base_y, dtype=np.float64)
    xs = np.arange(width, dtype=np.float64)
    for _ in range(count):
        cx = rng.uniform(0, width)
        top = rng.uniform(peak_min_y, base_y - 0.08 * width)
        half = rng.uniform(0.18, 0.35) * width
        peak = top + (base_y - top) * np.abs(xs - cx) / half
        y = np.minimum(y, np.where(np.abs(xs - cx) < half, peak, base_y))
    return y


def fill_below(draw, heights, colour, bottom):
    pts = [(0, bottom)] + [(i, float(h)) for i, h in enumerate(heights)] + [(len(heights) - 1, bottom)]
    draw.polygon(pts, fill=colour)


def scene(seed, size=256, width=None):
    """(PIL RGB image of width x size (width defaults to size), caption, facts) for one seed.
    Objects scale with the square root of the area, so a square scene does not depend on width."""
    rng = np.random.default_rng(seed)
    H = size
    W = size if width is None else width
    s = size / 256.0 if width is None else math.sqrt(W * H) / 256.0
    img = Image.new("RGB", (W, H))
    px = np.zeros((H, W, 3), dtype=np.uint8)

    night = rng.random() < 0.25
    sky_name = "night" if night else str(rng.choice(["blue", "pale", "purple"]))
    top, horizon = SKIES[sky_name]
    top, horizon = jitter(rng, top, 10, 200), jitter(rng, horizon, 10, 200)
    for yy in range(H):
        px[yy, :, :] = lerp(top, horizon, min(1.0, yy / (0.6 * H)))
    img = Image.fromarray(px)
    draw = ImageDraw.Draw(img)

    # The one sun or moon, wholly in the upper 45 %.
    r = rng.uniform(13, 22) * s
    cx = rng.uniform(r + 6 * s, W - r - 6 * s)
    cy = rng.uniform(r + 6 * s, 0.45 * H - r)
    if night:
        body, body_name = "moon", "white"
        colour = MOON
    else:
        body = "sun"
        body_name = str(rng.choice(list(SUNS)))
        colour = SUNS[body_name]
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)

    # Land: hills (smooth) or mountains (peaks) behind, then a near hill line.
    mountains = rng.random() < 0.4
    if mountains:
        m_name = str(rng.choice(list(MOUNTAINS)))
        heights = mountain_line(rng, W, 0.62 * H, 0.47 * H, int(rng.integers(2, 5)))
        fill_below(draw, heights, jitter(rng, MOUNTAINS[m_name], 8), H)
    land_name = str(rng.choice(list(LANDS)))
    land = jitter(rng, LANDS[land_name], 8)
    near = ridge(rng, W, 0.75 * H, 0.14 * H, int(rng.integers(2, 4)))
    fill_below(draw, near, land, H)
    if not mountains:  # a second, lighter hill line behind gives hills their shape
        far = ridge(rng, W, 0.64 * H, 0.12 * H, 2)
        fill_below(draw, np.minimum(far, near), lerp(land, horizon, 0.35), H)
        fill_below(draw, near, land, H)

    # Water: a band at the bottom.
    water = None
    if rng.random() < 0.5:
        water = str(rng.choice(list(WATERS)))
        wy = rng.uniform(0.82, 0.9) * H
        draw.rectangle([0, wy, W, H], fill=jitter(rng, WATERS[water], 8))
        for k in range(int(rng.integers(2, 5))):  # a few ripples
            y = rng.uniform(wy + 3 * s, H - 2 * s)
            x0 = rng.uniform(0, W - 40 * s)
            draw.line([x0, y, x0 + rng.uniform(15, 40) * s, y], fill=lerp(WATERS[water], (200, 200, 200), 0.3), width=max(1, int(s)))
    ground_bottom = (wy if water else H) - 4 * s

    def ground_y(x):
        return float(near[int(min(W - 1, max(0, x)))])

    # Houses and trees stand on the near hill line.
    n_houses = int(rng.integers(0, 4))
    n_trees = int(rng.integers(0, 5))
    roof_name = str(rng.choice(list(ROOFS)))
    for _ in range(n_houses):
        hw = rng.uniform(16, 26) * s
        hx = rng.uniform(4 * s, W - hw - 4 * s)
        base = min(ground_bottom, max(ground_y(hx), ground_y(hx + hw)) + rng.uniform(4, 14) * s)
        hh = hw * rng.uniform(0.6, 0.9)
        wall = WALLS[int(rng.integers(0, len(WALLS)))]
        draw.rectangle([hx, base - hh, hx + hw, base], fill=wall)
        draw.polygon([(hx - 2 * s, base - hh), (hx + hw / 2, base - hh - hw * 0.5), (hx + hw + 2 * s, base - hh)], fill=ROOFS[roof_name])
        dw = hw * 0.22
        draw.rectangle([hx + hw / 2 - dw / 2, base - hh * 0.55, hx + hw / 2 + dw / 2, base], fill=(60, 40, 30))
    tree_name = str(rng.choice(list(TREES)))
    for _ in range(n_trees):
        tx = rng.uniform(6 * s, W - 6 * s)
        base = min(ground_bottom, ground_y(tx) + rng.uniform(2, 16) * s)
        th = rng.uniform(22, 38) * s
        tw = th * rng.uniform(0.35, 0.5)
        draw.rectangle([tx - 1.5 * s, base - th * 0.25, tx + 1.5 * s, base], fill=(80, 55, 35))
        draw.polygon([(tx - tw / 2, base - th * 0.2), (tx, base - th), (tx + tw / 2, base - th * 0.2)], fill=jitter(rng, TREES[tree_name], 6))

    where = f"{land_name} hills" if not mountains else f"{m_name} mountains"
    article = "an" if body_name[0] in "aeiou" else "a"
    cap = f"{article} {body_name} {body} in a {sky_name} sky over {where}"
    if water:
        cap += f" by a {water}"
    parts = []
    if n_houses:
        parts.append(f"{NUMBERS[n_houses]} house{'s' if n_houses > 1 else ''} with {roof_name} roofs" if n_houses > 1 else f"one house with a {roof_name} roof")
    if n_trees:
        parts.append(f"{NUMBERS[n_trees]} tree{'s' if n_trees > 1 else ''}")
    if parts:
        cap += ", " + ", ".join(parts)
    facts = dict(body=body, body_colour=body_name, sky=sky_name, mountains=mountains, water=water,
                 houses=n_houses, trees=n_trees, sun_xyr=(cx, cy, r))
    return img, cap, facts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--count", type=int, default=1, help="scenes seed .. seed + count - 1")
    ap.add_argument("--out", default="scene.png", help="file, or a pattern with {seed}")
    args = ap.parse_args()
    for seed in range(args.seed, args.seed + args.count):
        img, cap, _ = scene(seed, args.size)
        path = args.out.format(seed=seed) if "{seed}" in args.out else args.out
        img.save(path)
        print(f"{seed}\t{cap}")


if __name__ == "__main__":
    main()
