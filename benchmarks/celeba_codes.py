"""What does each code of a CelebA run act on? Label-free numbers beside the traversals.

    python benchmarks/celeba_codes.py runs/celeba --out benchmarks/results/celeba_codes_<date>.json \
        --figure docs/img/celeba_codes_<date>.png

CelebA's aligned images put the eyes, the mouth and the top of the head at nearly the same place in
every image (the mean of the 4,800 training crops at 32x32 shows them sharply), so an effect map can
be read against named regions of the crop. For each code (``infogan.explain.code_effects``: mean
absolute pixel change over the code's values, 64 noise draws):

- ``region_lift``: the share of the code's effect mass inside each region divided by the region's
  share of the image (1 = no preference; 2 = twice as concentrated there as if spread evenly).
  Regions, as fractions of the side of the centred 178x178 crop: hair (the top of the head), eyes
  (glasses, eye shape), mouth (smile, open mouth), background (the sides above the shoulders),
  bottom (chin, neck, clothes).
- ``mirror_share``: of the code's changes (each value's image minus the mean over the values), the
  share of energy in the part that flips sign under a left-right mirror. Symmetric changes (a smile,
  hair colour, glasses) give about 0; a turn of the head or a shift sideways gives much more.
  Random, unstructured changes give about 0.5.
- ``colour_share``: the share of the change in the chroma channels (YIQ's I and Q) rather than in
  brightness (Y): a hair-colour or skin-tone code is high, a shape or pose code low.
- ``strength`` and ``ratio`` (to the noise's effect) from ``infogan explain``.

The figure shows, per code, its effect map and its ten categories for four noise draws (rows), so
each code's description in the README can be checked against the images. Nothing here uses labels.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

# (y0, y1, x0, x1) as fractions of the side; see the module docstring
REGIONS = {
    "hair": (0.03, 0.28, 0.22, 0.78),
    "eyes": (0.41, 0.56, 0.25, 0.75),
    "mouth": (0.66, 0.84, 0.34, 0.66),
    "bottom": (0.86, 1.0, 0.0, 1.0),
}
BACKGROUND = (0.0, 0.66, 0.19, 0.81)  # the sides: x < 0.19 or x > 0.81, y < 0.66
YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def region_masks(h: int, w: int) -> dict[str, np.ndarray]:
    ys, xs = (np.arange(h) + 0.5) / h, (np.arange(w) + 0.5) / w
    out = {}
    for name, (y0, y1, x0, x1) in REGIONS.items():
        out[name] = ((ys[:, None] >= y0) & (ys[:, None] < y1)) & ((xs[None] >= x0) & (xs[None] < x1))
    y0, y1, x0, x1 = BACKGROUND
    out["background"] = ((ys[:, None] >= y0) & (ys[:, None] < y1)) & ((xs[None] < x0) | (xs[None] >= x1))
    return out


def region_lift(effect_map: np.ndarray) -> dict[str, float]:
    total = float(effect_map.sum())
    masks = region_masks(*effect_map.shape)
    if total <= 0:
        return {k: 0.0 for k in masks}
    return {k: float(effect_map[m].sum() / total / m.mean()) for k, m in masks.items()}


@torch.no_grad()
def sweep_images(G, spec, code_index: int, n_noise: int, gen: torch.Generator) -> torch.Tensor:
    """(n_noise, k, C, H, W) images in [0, 1]: each noise draw with the code at each of its values."""
    from infogan.latent import Latents

    code = spec.codes[code_index]
    vals = torch.arange(code.k) if not code.continuous else torch.linspace(*code.traversal_range, 10)
    k = len(vals)
    base = spec.sample(n_noise, gen)
    codes = [c.repeat_interleave(k, 0) for c in base.codes]
    codes[code_index] = vals.repeat(n_noise).to(codes[code_index].dtype)
    lat = Latents(base.noise.repeat_interleave(k, 0), codes)
    x = G(spec.to_input(lat)).float()
    if getattr(G, "output", "sigmoid") == "tanh":
        x = (x + 1) / 2
    return x.clamp(0, 1).reshape(n_noise, k, *x.shape[1:])


def change_stats(imgs: torch.Tensor) -> dict[str, float]:
    """mirror_share and colour_share of the changes a code makes (imgs: (N, k, C, H, W))."""
    delta = imgs - imgs.mean(1, keepdim=True)  # each value's image minus the mean over the values
    anti = (delta - delta.flip(-1)) / 2
    mirror = float(anti.square().sum() / delta.square().sum().clamp_min(1e-12))
    if imgs.shape[2] == 3:
        yiq = torch.einsum("ij,nkjhw->nkihw", YIQ, delta)
        colour = float(yiq[:, :, 1:].square().sum() / yiq.square().sum().clamp_min(1e-12))
    else:
        colour = 0.0
    return {"mirror_share": mirror, "colour_share": colour}


def figure(effects, sweeps: dict[str, torch.Tensor], stats: dict[str, dict], title: str, scale: int = 2) -> np.ndarray:
    """Per code, --show rows: its effect map (first row), then its values for one noise draw each."""
    from PIL import Image, ImageDraw

    from infogan.explain import heat_colours
    from infogan.viz import grid

    rows = []
    vmax = max(float(e.effect_map.max()) for e in effects) or 1.0
    for e in effects:
        imgs = sweeps[e.name]  # (n, k, C, H, W) in [0, 1]
        n, _, _, h, w = imgs.shape
        heat = torch.from_numpy(heat_colours(e.effect_map, vmax)).permute(2, 0, 1)  # uint8 (3, H, W)
        cells = (imgs.expand(-1, -1, 3, -1, -1) * 255).round().to(torch.uint8)
        for r in range(n):
            first = heat if r == 0 else torch.full((3, h, w), 255, dtype=torch.uint8)
            rows.append(torch.cat([first[None], cells[r]]))
    k1 = rows[0].shape[0]
    g = grid(torch.cat(rows), len(rows), k1)
    img = Image.fromarray(g).resize((g.shape[1] * scale, g.shape[0] * scale), Image.NEAREST)
    margin, head = 175, 24
    canvas = Image.new("RGB", (img.width + margin, img.height + head), "white")
    canvas.paste(img, (margin, head))
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 4), title, fill="black")
    n = len(rows) // len(effects)
    row_h = img.height / len(rows)
    for i, e in enumerate(effects):
        st = stats[e.name]
        lf = st["region_lift"]
        y = head + i * n * row_h + 4
        draw.text((4, y), f"{e.rank}. {e.name}  ratio {e.ratio:.2f}", fill="black")
        draw.text((4, y + 14), f"top: {st['top_region']} x{lf[st['top_region']]:.2f}", fill="black")
        draw.text((4, y + 28), f"mirror {st['mirror_share']:.2f} colour {st['colour_share']:.2f}", fill="black")
    return np.asarray(canvas)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run")
    p.add_argument("--step", type=int)
    p.add_argument("--noise", type=int, default=64, help="noise draws for the effect maps and statistics")
    p.add_argument("--show", type=int, default=4, help="noise draws shown per code in the figure")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="JSON file")
    p.add_argument("--figure", help="PNG file: per code its effect map and its values for --show draws")
    a = p.parse_args(argv)

    from infogan.explain import code_effects
    from infogan.run import load_model

    t0 = time.perf_counter()
    m = load_model(Path(a.run), "cpu", step=a.step)
    spec, G = m.config.latent, m.G.eval()
    effects = code_effects(G, spec, n_noise=a.noise, seed=a.seed)
    names = [c.name for c in spec.codes]
    out = {"what": "label-free statistics of each code's effect on CelebA-aligned images", "run": a.run,
           "step": m.step, "checkpoint": m.checkpoint.name, "noise": a.noise, "seed": a.seed,
           "regions": {**{k: list(v) for k, v in REGIONS.items()}, "background": "x < 0.19 or x > 0.81, y < 0.66"},
           "reference_strength": effects.reference.strength, "codes": []}
    sweeps = {}
    for e in effects:
        gen = torch.Generator().manual_seed(a.seed + 1)
        imgs = sweep_images(G, spec, names.index(e.name), a.noise, gen)
        sweeps[e.name] = imgs[: a.show]
        lift = region_lift(e.effect_map)
        top = max(lift, key=lift.get)
        out["codes"].append({"name": e.name, "rank": e.rank, "strength": e.strength, "ratio": e.ratio,
                             "where": e.where, "inactive": e.inactive, "region_lift": lift, "top_region": top,
                             **change_stats(imgs)})
    out["seconds"] = time.perf_counter() - t0
    print(f"{a.run} at step {m.step}: code  ratio  top region (lift)  hair eyes mouth bkgd bottom  mirror colour")
    for c in out["codes"]:
        lf = c["region_lift"]
        print(f"  {c['name']:>4}  {c['ratio']:5.2f}  {c['top_region']:>10} ({lf[c['top_region']]:.2f})   "
              + " ".join(f"{lf[r]:4.2f}" for r in ("hair", "eyes", "mouth", "background", "bottom"))
              + f"   {c['mirror_share']:.2f}   {c['colour_share']:.2f}")
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(out, indent=1) + "\n")
    if a.figure:
        from PIL import Image

        stats = {c["name"]: c for c in out["codes"]}
        arr = figure(effects, sweeps, stats, f"{Path(a.run).name} at step {m.step}: per code its effect map, "
                     f"then its values (columns) for {a.show} noise draws (rows)")
        Path(a.figure).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr).save(a.figure)
    return 0


if __name__ == "__main__":
    sys.exit(main())
