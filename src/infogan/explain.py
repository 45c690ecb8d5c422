"""What each latent code does to the generator's images, without labels.

For each code, :func:`code_effects` draws ``n_noise`` latents from the prior (noise and every code)
and, holding all of a draw's other inputs fixed, sweeps the code over its values: every category
of a categorical code, ``n_values`` evenly spaced values over a continuous code's
``traversal_range`` (-2..2 for Unif(-1, 1), as the traversal figures). From the images, in G's
output scaled to [0, 1]:

* **effect map** (H, W): for each draw, each pixel's mean absolute deviation from that draw's mean
  over the code's values, averaged over channels, then over the draws. It says where, and by how
  much (in units of the full pixel range), the code changes the image.
* **strength**: the map's mean. **ratio**: strength over the same statistic with the noise
  varied instead (``n_values`` noise draws per draw of the codes, the codes held fixed): how much the
  code changes the image compared with how much another ``z`` does, so it does not depend on the
  images' contrast or size. A spec without noise is compared with the whole prior varied.
* **peak ratio**: the map's 99th percentile over the reference map's 99th percentile, so that a
  code that changes a small region strongly is not taken for an idle one.
* **concentration**: the fraction of the map's mass in its top 10 % pixels (0.1 for a change spread
  evenly over the image, 0.4 for one spread evenly over a quarter of it, 1 for one within 10 % of
  the pixels); **centroid**: the map's centre of mass, (x, y) as fractions of the width and height
  from the top-left corner; **where**: the centroid's ninth of the image in words, or "everywhere"
  when the concentration is below 0.2 (the mass spreads over more than half the image).
* **inactive**: the code's effect is negligible. Two tests, either suffices:
  ``max(ratio, peak_ratio) < INACTIVE_RATIO`` (0.05): across its whole sweep the code moves pixels,
  on average and where it acts most, by less than a twentieth of what another draw of the noise
  does; beside the noise's variation such a change is not visible in a traversal, and InfoGAN's
  MI term, which rewards codes that Q can read off the image, has evidently not made the code
  matter. Or the map's 99th percentile is below ``QUANTUM`` (half an 8-bit grey level): no saved
  image changes at all, whatever the noise does (this decides when the generator also ignores its
  noise, where the ratios mean little). A code that G ignores has a map of exact zeros.

Codes are ranked by strength, active ones first. Every code is swept over the same ``n_noise``
draws (common random numbers), so their numbers compare with less sampling noise; the result is
a function of G, the spec, ``n_noise``, ``n_values`` and ``seed`` alone (G runs in eval mode, BN
running statistics, under ``torch.no_grad``; its train/eval mode is restored afterwards).
"""

from __future__ import annotations

import io
import json
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .data.store import to_uint8
from .fsutil import atomic_write, read_regular
from .latent import Latents, LatentSpec
from .viz import grid, save_png

__all__ = ["CodeEffect", "Effects", "code_effects", "effects_png", "images_needed", "read_effects",
           "render_effects", "write_effects"]

INACTIVE_RATIO = 0.05  # max(ratio, peak_ratio) below this: negligible beside the noise's variation
QUANTUM = 0.5 / 255  # half an 8-bit grey level: a change below it shows in no saved image
TOP_FRACTION = 0.10  # concentration: the share of the map's mass in this fraction of its pixels
PEAK_QUANTILE = 0.99
SPREAD = 0.2  # concentration below this: "everywhere" (mass over more than half the image)
DEFAULT_NOISE = 64
DEFAULT_VALUES = 10
MAX_NOISE = 4096
MAX_VALUES = 64
MAX_IMAGES = 1 << 22  # generated images of one call (about half an hour of the MNIST generator on 2 CPU cores)
BATCH = 256  # images per forward pass
MAX_SHOWN = 32  # columns of a code's sweep drawn in the picture (a Categorical(100) shows 32)

EXPLAIN_DIR = "explain"  # in a run directory: explain/effects.png and explain/effects.json
EFFECTS_PNG = "effects.png"
EFFECTS_JSON = "effects.json"
MAX_JSON_BYTES = 16 << 20


@dataclass(frozen=True)
class CodeEffect:
    """What one code (or, as the reference, the noise) does to the images; see the module docstring."""

    name: str
    kind: str  # categorical | uniform | gaussian; "noise" or "prior" for the reference
    prior: str  # e.g. Cat(10), Unif(-1, 1)
    values: tuple[float, ...]  # what was swept (categories, or the continuous grid)
    effect_map: np.ndarray = field(repr=False)  # (H, W) float64, mean |pixel change| in [0, 1] units
    strength: float
    ratio: float
    peak_ratio: float
    concentration: float | None  # None: the map is all zeros
    centroid: tuple[float, float] | None  # (x, y) fractions of width and height from the top-left
    where: str
    inactive: bool
    rank: int  # 1: strongest active code; 0 for the reference
    example: torch.Tensor = field(repr=False)  # uint8 (V, C, H, W): the sweep of the first draw

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "prior": self.prior, "rank": self.rank,
                "strength": self.strength, "ratio": self.ratio, "peak_ratio": self.peak_ratio,
                "concentration": self.concentration,
                "centroid": list(self.centroid) if self.centroid is not None else None,
                "where": self.where, "inactive": self.inactive, "values": list(self.values)}


@dataclass(frozen=True)
class Effects:
    """The result of :func:`code_effects`: the codes ranked (strongest active first) and the reference."""

    codes: tuple[CodeEffect, ...]
    reference: CodeEffect  # the noise varied, codes fixed (the whole prior when the spec has no noise)
    n_noise: int
    n_values: int
    seed: int
    image_shape: tuple[int, int, int]

    def __iter__(self):
        return iter(self.codes)

    def __len__(self) -> int:
        return len(self.codes)

    def code(self, name: str) -> CodeEffect:
        return next(c for c in self.codes if c.name == name)

    def to_dict(self) -> dict[str, Any]:
        ref = self.reference
        return {
            "n_noise": self.n_noise, "n_values": self.n_values, "seed": self.seed,
            "image_shape": list(self.image_shape),
            "reference": {"name": ref.name, "kind": ref.kind, "strength": ref.strength,
                          "peak": float(np.quantile(ref.effect_map, PEAK_QUANTILE)),
                          "concentration": ref.concentration,
                          "centroid": list(ref.centroid) if ref.centroid is not None else None, "where": ref.where},
            "thresholds": {"inactive_ratio": INACTIVE_RATIO, "quantum": QUANTUM, "top_fraction": TOP_FRACTION,
                           "peak_quantile": PEAK_QUANTILE},
            "codes": [c.to_dict() for c in self.codes],
        }


# ---- the statistics ------------------------------------------------------------------------------

def _to_unit(x: torch.Tensor, output: str) -> torch.Tensor:
    """G's output in [0, 1] (tanh: [-1, 1] mapped; sigmoid: as is)."""
    return (x.float() + 1) / 2 if output == "tanh" else x.float()


def _sweep(G, spec: LatentSpec, n: int, v: int, make, device) -> tuple[np.ndarray, torch.Tensor]:
    """Sum over the draws of the per-draw effect maps, and the uint8 images of draw 0.

    ``make(a, b)`` gives the latents of draws a..b-1, draw-major: draw i's ``v`` images together.
    """
    output = getattr(G, "output", "sigmoid")
    total = None
    first = None
    per = max(1, BATCH // v)
    for a in range(0, n, per):
        b = min(n, a + per)
        lat = make(a, b)
        x = G(spec.to_input(lat).to(device))
        if first is None:
            first = to_uint8(x[:v], output).cpu()
        # float64: a pixel that the sweep leaves unchanged deviates by exactly 0 from its mean
        x = _to_unit(x, output).double()
        x = x.reshape(b - a, v, *x.shape[1:])  # (draws, values, C, H, W)
        dev = (x - x.mean(1, keepdim=True)).abs().mean(1).mean(1)  # (draws, H, W)
        s = dev.sum(0).cpu().numpy()
        total = s if total is None else total + s
    return total, first


def _where(concentration: float | None, centroid: tuple[float, float] | None) -> str:
    if concentration is None or centroid is None:
        return "nowhere"
    if concentration < SPREAD:
        return "everywhere"
    x, y = centroid
    col = "left" if x < 1 / 3 else "right" if x > 2 / 3 else ""
    row = "top" if y < 1 / 3 else "bottom" if y > 2 / 3 else ""
    return f"{row} {col}".strip() or "centre"


def _shape_stats(m: np.ndarray) -> tuple[float | None, tuple[float, float] | None]:
    """(concentration, centroid) of an effect map; (None, None) when it is all zeros."""
    total = float(m.sum())
    if not total > 0:
        return None, None
    flat = np.sort(m.ravel())[::-1]
    top = max(1, math.ceil(TOP_FRACTION * flat.size))
    h, w = m.shape
    ys = (np.arange(h) + 0.5) / h
    xs = (np.arange(w) + 0.5) / w
    cy = float((m.sum(1) * ys).sum() / total)
    cx = float((m.sum(0) * xs).sum() / total)
    return float(flat[:top].sum() / total), (cx, cy)


def images_needed(spec: LatentSpec, n_noise: int, n_values: int) -> int:
    """Images :func:`code_effects` generates: ``n_noise`` sweeps per code (k or ``n_values`` images
    each) and as many for the reference."""
    return n_noise * (n_values + sum(c.k if not c.continuous else n_values for c in spec.codes))


@torch.no_grad()
def code_effects(G: torch.nn.Module, spec: LatentSpec, n_noise: int = DEFAULT_NOISE,
                 n_values: int = DEFAULT_VALUES, seed: int = 0) -> Effects:
    """What each code of ``spec`` does to G's images (see the module docstring for every number).

    Args:
        G: the generator (any device): G's input (B, spec.input_dim) -> images (B, C, H, W); run in
            eval mode, its mode restored afterwards. Its ``output`` attribute ("sigmoid" or "tanh",
            default sigmoid) says how its images map to [0, 1].
        spec: the latent spec G was built for.
        n_noise: draws of the noise and the other codes, each swept over the code's values.
        n_values: values of a continuous code's sweep over its traversal range (and noise draws per
            draw of the codes for the reference); a categorical code sweeps its k categories.
        seed: every draw comes from ``torch.Generator().manual_seed(seed)``.

    Returns:
        :class:`Effects`, the codes ranked: active before inactive, then by strength, then by order.
    """
    if not (isinstance(n_noise, int) and 1 <= n_noise <= MAX_NOISE):
        raise ValueError(f"n_noise must be an integer in 1..{MAX_NOISE}, got {n_noise!r}")
    if not (isinstance(n_values, int) and 2 <= n_values <= MAX_VALUES):
        raise ValueError(f"n_values must be an integer in 2..{MAX_VALUES}, got {n_values!r}")
    if (need := images_needed(spec, n_noise, n_values)) > MAX_IMAGES:
        raise ValueError(f"{n_noise} draws over these codes need {need} generated images; at most {MAX_IMAGES}")
    device = next((p.device for p in G.parameters()), torch.device("cpu"))
    gen = torch.Generator().manual_seed(seed)
    n, v = n_noise, n_values
    base = spec.sample(n, gen)  # each draw: noise and every code
    extra = spec.sample(n * v, gen)  # the reference's noise (and codes, when the spec has no noise)

    def rep(t: torch.Tensor, a: int, b: int, k: int) -> torch.Tensor:
        return t[a:b].repeat_interleave(k, 0)

    was = G.training
    G.eval()
    try:
        raw = []  # (code, values, summed map, example)
        for i, code in enumerate(spec.codes):
            if code.continuous:
                vals = torch.linspace(*code.traversal_range, v)
            else:
                vals = torch.arange(code.k)
            k = len(vals)

            def make(a, b, i=i, vals=vals, k=k):
                codes = [rep(c, a, b, k) for c in base.codes]
                codes[i] = vals.repeat(b - a)
                return Latents(rep(base.noise, a, b, k), codes)

            s, ex = _sweep(G, spec, n, k, make, device)
            raw.append((code, tuple(float(x) for x in vals.tolist()), s / n, ex))

        if spec.noise_dim > 0:
            def make_ref(a, b):
                return Latents(extra.noise[a * v : b * v], [rep(c, a, b, v) for c in base.codes])
            ref_name, ref_kind = "z", "noise"
            ref_prior = f"noise{spec.noise_dim} ({'U(-1, 1)' if spec.noise_prior == 'uniform' else 'N(0, 1)'})"
        else:
            def make_ref(a, b):
                return Latents(extra.noise[a * v : b * v], [c[a * v : b * v] for c in extra.codes])
            ref_name, ref_kind, ref_prior = "prior", "prior", "every code drawn afresh"
        s, ex = _sweep(G, spec, n, v, make_ref, device)
    finally:
        G.train(was)
    ref_map = s / n
    ref_strength = float(ref_map.mean())
    ref_peak = float(np.quantile(ref_map, PEAK_QUANTILE))
    conc, cen = _shape_stats(ref_map)
    reference = CodeEffect(ref_name, ref_kind, ref_prior, (), ref_map, ref_strength, 1.0, 1.0, conc, cen,
                           _where(conc, cen), False, 0, ex)

    effects = []
    for code, vals, m, ex in raw:
        strength = float(m.mean())
        peak = float(np.quantile(m, PEAK_QUANTILE))
        # a reference below half a grey level floors the denominators: large but finite ratios
        ratio = strength / max(ref_strength, QUANTUM)
        peak_ratio = peak / max(ref_peak, QUANTUM)
        inactive = max(ratio, peak_ratio) < INACTIVE_RATIO or peak < QUANTUM
        conc, cen = _shape_stats(m)
        effects.append(CodeEffect(code.name, code.kind, code.describe(), vals, m, strength, ratio, peak_ratio,
                                  conc, cen, _where(conc, cen), inactive, 0, ex))
    order = sorted(range(len(effects)), key=lambda j: (effects[j].inactive, -effects[j].strength, j))
    ranked = tuple(_with_rank(effects[j], r + 1) for r, j in enumerate(order))
    shape = tuple(int(x) for x in reference.example.shape[1:])
    return Effects(ranked, reference, n, v, seed, shape)


def _with_rank(e: CodeEffect, rank: int) -> CodeEffect:
    return replace(e, rank=rank)


# ---- the picture -------------------------------------------------------------------------------

# A dark-to-bright colour ramp (close to matplotlib's "inferno"): black = no change.
_RAMP = np.array([[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21],
                  [250, 193, 39], [252, 255, 164]], dtype=np.float64)


def heat_colours(m: np.ndarray, vmax: float) -> np.ndarray:
    """(H, W) float -> (H, W, 3) uint8 through the ramp, 0 -> black and ``vmax`` -> pale yellow."""
    t = np.clip(m / vmax, 0, 1) if vmax > 0 else np.zeros_like(m)
    pos = t * (len(_RAMP) - 1)
    stops = np.arange(len(_RAMP))
    rgb = np.stack([np.interp(pos, stops, _RAMP[:, c]) for c in range(3)], -1)
    return (rgb + 0.5).astype(np.uint8)


def _rgb(images: torch.Tensor) -> torch.Tensor:
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images[:, :3]


def render_effects(effects: Effects, title: str = "", scale: int | None = None) -> np.ndarray:
    """The effects picture, (H, W, 3) uint8: one row per code in rank order, then the reference.

    Each row: a label (rank, name, prior, ratio, where; "inactive" in red), the code's effect map
    (one colour scale for every row: black is no change, pale yellow the largest mean change of any
    map, noted in the header), and the sweep of the first noise draw (dimmed for an inactive code).
    """
    _, h, w = effects.image_shape
    scale = scale or (2 if max(h, w) <= 32 else 1)
    font = ImageFont.load_default()
    rows = [*effects.codes, effects.reference]
    vmax = max(float(r.effect_map.max()) for r in rows)

    def label(e: CodeEffect) -> list[tuple[str, tuple[int, int, int]]]:
        if e is effects.reference:
            return [(f"reference: {e.name}", (0, 0, 0)), (e.prior, (90, 90, 90)),
                    (f"strength {e.strength:.3f}", (90, 90, 90))]
        status = ("inactive", (200, 0, 0)) if e.inactive else (f"where: {e.where}", (90, 90, 90))
        return [(f"{e.rank}. {e.name} {e.prior}", (0, 0, 0)), (f"ratio {e.ratio:.2f}", (90, 90, 90)), status]

    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    line_h = int(probe.textbbox((0, 0), "Ag", font=font)[3]) + 3
    label_w = 12 + int(max(probe.textlength(t, font=font) for r in rows for t, _ in label(r)))
    cell = (h * scale, w * scale)
    gap = 8
    sweep_w = max(min(len(r.example), MAX_SHOWN) for r in rows)
    sweep_px = (sweep_w * (w + 2) + 2) * scale
    row_h = max(cell[0] + 4 * scale, 3 * line_h + 6)
    head_h = 2 * line_h + 8
    width = label_w + cell[1] + gap + sweep_px + 8
    height = head_h + len(rows) * row_h + gap
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    draw.text((6, 4), title or "What each code does", font=font, fill=(0, 0, 0))
    draw.text((6, 4 + line_h), f"mean |pixel change| over each code's values, {effects.n_noise} noise draws; "
              f"colour: black 0 .. yellow {vmax:.3f}", font=font, fill=(90, 90, 90))
    for j, e in enumerate(rows):
        y = head_h + j * row_h + (gap if e is effects.reference else 0)
        if e is effects.reference:
            draw.line([(4, y - gap // 2), (width - 4, y - gap // 2)], fill=(190, 190, 190))
        for i, (text, colour) in enumerate(label(e)):
            draw.text((6, y + 2 + i * line_h), text, font=font, fill=colour)
        top = y + max(0, (row_h - cell[0]) // 2 - scale)
        heat = Image.fromarray(heat_colours(e.effect_map, vmax)).resize((cell[1], cell[0]), Image.NEAREST)
        canvas.paste(heat, (label_w, top + 2 * scale))
        shown = _rgb(e.example[:MAX_SHOWN])
        strip = grid(shown, 1, len(shown))
        if e.inactive:
            strip = (strip.astype(np.uint16) + 255) // 2  # dimmed
        strip_img = Image.fromarray(strip.astype(np.uint8))
        strip_img = strip_img.resize((strip_img.width * scale, strip_img.height * scale), Image.NEAREST)
        canvas.paste(strip_img, (label_w + cell[1] + gap, top))
    return np.asarray(canvas)


def effects_png(effects: Effects, title: str = "") -> bytes:
    """The picture of :func:`render_effects` as PNG bytes."""
    buf = io.BytesIO()
    Image.fromarray(render_effects(effects, title)).save(buf, format="PNG")
    return buf.getvalue()


def write_effects(effects: Effects, out_dir: str | os.PathLike, meta: dict | None = None,
                  title: str = "") -> tuple[Path, Path]:
    """Write ``effects.png`` and ``effects.json`` (``meta`` first: run, step, ...) into ``out_dir``,
    each atomically (a reader sees the old file or the new one). Returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    png = save_png(render_effects(effects, title), out_dir / EFFECTS_PNG)
    js = out_dir / EFFECTS_JSON
    atomic_write(js, (json.dumps({**(meta or {}), **effects.to_dict()}, indent=1) + "\n").encode())
    return png, js


def read_effects(folder: str | os.PathLike) -> dict | None:
    """``effects.json`` in ``folder`` as written by :func:`write_effects`, or None when it is
    missing, unreadable or not of that form (a file edited by hand: the caller shows less)."""
    try:
        d = json.loads(read_regular(Path(folder) / EFFECTS_JSON, MAX_JSON_BYTES).decode())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(d, dict) or not isinstance(d.get("codes"), list):
        return None
    return d


def table(d: dict) -> list[str]:
    """The ranked codes of an effects dict (``Effects.to_dict`` or effects.json) as text lines."""
    ref = d.get("reference") or {}
    lines = [f"{'rank':>4}  {'code':<8}{'prior':<22}{'strength':>9}{'ratio':>8}{'peak':>7}{'top10%':>8}  where"]
    for c in d["codes"]:
        conc = c.get("concentration")
        status = "inactive" if c.get("inactive") else c.get("where", "")
        lines.append(f"{c.get('rank', ''):>4}  {c.get('name')!s:<8}{c.get('prior', '')!s:<22}"
                     f"{_num(c.get('strength'), 4):>9}{_num(c.get('ratio'), 2):>8}{_num(c.get('peak_ratio'), 2):>7}"
                     f"{'' if conc is None else f'{100 * conc:.0f}%':>8}  {status}")
    if ref:
        lines.append(f"reference ({ref.get('name')}, the {ref.get('kind')} varied): strength "
                     f"{_num(ref.get('strength'), 4)}; ratio = strength / reference strength")
    return lines


def _num(x: Any, digits: int) -> str:
    return f"{x:.{digits}f}" if isinstance(x, (int, float)) and not isinstance(x, bool) else "?"
