"""Invariance families: the random transformations a data kind's categorical codes must survive.

Two terms beyond the paper use them (both label-free): ``train.real_consistency`` (IIC, Ji et al.
2019: Q's categories must agree between a real image and a transformed copy) and
``train.cat_invariance`` (Elastic-InfoGAN, Ojha et al. NeurIPS 2020: Q must still recover a
generated image's categorical codes after the transformation). A category can then only be spent on
what the transformations leave alone (a digit's shape, not its slant), so each data kind needs its
own family: what is a nuisance for digits (a slant) can be a wanted factor elsewhere (a face's
pose). Continuous codes are left out of both terms, since a rotation code must not become
rotation-invariant. docs/invariances.md explains each family's choices.

Every family draws all its randomness from the CPU ``torch.Generator`` it is given (so a run stays
exactly repeatable and resumable), is differentiable with respect to the images, keeps the batch's
shape and keeps images in G's output range ([0, 1] for sigmoid, [-1, 1] for tanh).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["AUGMENT_MODES", "AUGMENT_OPS", "FAMILIES", "AdaptiveAugment", "Invariance", "affine", "diff_augment",
           "family", "invariance_for", "random_affine"]


def affine(x: torch.Tensor, angle: torch.Tensor, zoom: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Warp each image of ``x`` (B, C, H, W): rotate by ``angle`` (B,) radians (counter-clockwise as
    displayed), zoom by ``zoom`` (B,) (> 1 enlarges) and shift by ``shift`` (B, 2) (x, y) in fractions
    of the image side. Bilinear sampling, border padding (the background of both sigmoid and tanh
    images is their edge value). Gradients flow to ``x``.
    """
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    # affine_grid maps output coords to input coords in [-1, 1] (y down): a shift of s·side is 2s there
    theta = torch.stack([torch.stack([cos, -sin, -2 * shift[:, 0]], 1),
                         torch.stack([sin, cos, -2 * shift[:, 1]], 1)], 1)  # (B, 2, 3)
    theta = theta.to(device=x.device, dtype=x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_affine(
    x: torch.Tensor, gen: torch.Generator, rotate_deg: float, scale: float, shift: float
) -> torch.Tensor:
    """``affine`` with per-image random parameters drawn from ``gen`` (a CPU generator, so runs stay
    reproducible and resumable): rotation ~ U(-rotate_deg, rotate_deg) degrees, zoom ~
    U(1 - scale, 1 + scale), shift ~ U(-shift, shift) of the image side per axis.
    """
    u = torch.rand(x.shape[0], 4, generator=gen) * 2 - 1  # (B, 4) in [-1, 1)
    return affine(x, u[:, 0] * math.radians(rotate_deg), 1 + u[:, 1] * scale, u[:, 2:] * shift)


# ITU-R BT.601 luma, and the YIQ transform whose I/Q plane a hue change rotates.
_LUMA = (0.299, 0.587, 0.114)
_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=torch.float64)
_YIQ_INV = torch.linalg.inv(_YIQ)


@dataclass(frozen=True)
class Invariance:
    """One family: the distribution of random transformations, each parameter drawn per image,
    uniformly in ±its value.

    rotate: max rotation in degrees; scale: max relative zoom; shift: max shift per axis as a
    fraction of the side (``train.aug_rotate``, ``aug_scale``, ``aug_shift`` override these three);
    flip: probability of a left-right mirror image; brightness: max added brightness (fraction of
    the value range); contrast, saturation: max relative change; hue: max hue turn as a fraction of
    a full turn (0.5 = any hue). The colour changes act on 3-channel images only.
    """

    name: str
    rotate: float = 0.0
    scale: float = 0.0
    shift: float = 0.0
    flip: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    hue: float = 0.0

    @property
    def identity(self) -> bool:
        """True for ``none``: nothing to be invariant to (the two terms are then not built)."""
        return self.name == "none"

    @property
    def colour(self) -> bool:
        return any((self.brightness, self.contrast, self.saturation, self.hue))

    def apply(self, x: torch.Tensor, gen: torch.Generator, output: str = "sigmoid") -> torch.Tensor:
        """A randomly transformed copy of each image of ``x`` (B, C, H, W), in G's ``output`` range
        ("sigmoid": [0, 1], "tanh": [-1, 1]); the same shape, differentiable with respect to ``x``.

        Draws from ``gen``, always in this order: the affine warp (exactly ``random_affine``'s
        draws, so the ``digits`` family is ``random_affine(x, gen, 30, 0.1, 0.1)`` bit for bit),
        then the flips (families that flip), then the colour changes (families with colour, on
        3-channel images).
        """
        if self.identity:
            return x
        x = random_affine(x, gen, self.rotate, self.scale, self.shift)
        if self.flip > 0:
            mirror = (torch.rand(x.shape[0], generator=gen) < self.flip).to(x.device)
            x = torch.where(mirror[:, None, None, None], x.flip(3), x)
        if self.colour and x.shape[1] == 3:
            x = self._recolour(x, gen, output)
        return x

    def _recolour(self, x: torch.Tensor, gen: torch.Generator, output: str) -> torch.Tensor:
        lo, hi = (-1.0, 1.0) if output == "tanh" else (0.0, 1.0)
        r = torch.rand(x.shape[0], 4, generator=gen) * 2 - 1  # brightness, contrast, saturation, hue
        u = r.to(device=x.device, dtype=x.dtype)
        col = lambda v: v[:, None, None, None]  # (B,) -> (B, 1, 1, 1)
        y = (x - lo) / (hi - lo)  # [0, 1]
        if self.hue:
            turn = r[:, 3].double() * self.hue * 2 * math.pi
            c, s = torch.cos(turn), torch.sin(turn)
            rot = torch.zeros(x.shape[0], 3, 3, dtype=torch.float64)
            rot[:, 0, 0], rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = 1, c, -s, s, c
            m = (_YIQ_INV @ rot @ _YIQ).to(device=x.device, dtype=x.dtype)  # (B, 3, 3)
            y = torch.einsum("bij,bjhw->bihw", m, y)
        y = y + col(u[:, 0] * self.brightness)
        luma = torch.tensor(_LUMA, device=x.device, dtype=x.dtype)[None, :, None, None]
        mean = (y * luma).sum(1, keepdim=True).mean((2, 3), keepdim=True)
        y = mean + (y - mean) * col(1 + u[:, 1] * self.contrast)
        grey = (y * luma).sum(1, keepdim=True)
        y = grey + (y - grey) * col(1 + u[:, 2] * self.saturation)
        return y.clamp(0, 1) * (hi - lo) + lo

    def with_params(self, rotate: float, scale: float, shift: float) -> Invariance:
        return replace(self, rotate=rotate, scale=scale, shift=shift)


# The registry. Each family's reasons, and what it leaves alone: docs/invariances.md.
FAMILIES: dict[str, Invariance] = {f.name: f for f in (
    # handwritten digits: the mnist preset's warp, measured (docs/experiments.md); a slant is a nuisance
    Invariance("digits", rotate=30.0, scale=0.1, shift=0.1),
    # house numbers: the digits' warp, and any colour (plates and lighting come in every colour)
    Invariance("street-digits", rotate=30.0, scale=0.1, shift=0.1,
               brightness=0.2, contrast=0.3, saturation=0.5, hue=0.5),
    # natural images whose left/right and exact colour are no wanted factor
    Invariance("photos", rotate=5.0, scale=0.1, shift=0.08, flip=0.5,
               brightness=0.1, contrast=0.1, saturation=0.1),
    # aligned faces: no flip (pose/yaw is a wanted factor), no colour (hair colour, skin tone)
    Invariance("faces", rotate=5.0, scale=0.05, shift=0.05),
    # rendered objects (3D chairs): shift and zoom only (pose is a wanted factor)
    Invariance("objects", scale=0.1, shift=0.1),
    # images of unknown kind (the folder preset): the digits' warp, no flip, mild colour
    Invariance("generic", rotate=30.0, scale=0.1, shift=0.1, brightness=0.1, contrast=0.1, saturation=0.1),
    # nothing: the two label-free terms are not built (the paper's recipe)
    Invariance("none"),
)}


def family(name: str) -> Invariance:
    """The registered family ``name`` (KeyError for another name)."""
    return FAMILIES[name]


def invariance_for(train: Any) -> Invariance:
    """The family a ``TrainConfig`` names (``train.invariance``) with its ``train.aug_rotate``,
    ``aug_scale`` and ``aug_shift``."""
    return family(train.invariance).with_params(train.aug_rotate, train.aug_scale, train.aug_shift)


# ---- differentiable augmentation before D (small data sets) ------------------------------------
#
# DiffAugment (Zhao et al., NeurIPS 2020): D judges real and generated images only through the same
# random, differentiable transformations, so it cannot memorise a small training set and G still
# gets gradients through them. ADA (Karras et al., NeurIPS 2020): each image is augmented with a
# probability p that follows D's overfitting, measured by r_t = E[sign(D(real))] (0 when D cannot
# tell training images from fakes, 1 when it is sure of every one), pushed towards a target of 0.6.
# Q must read the codes of what G made, not of a transformed copy (a cutout can erase the stroke
# that makes a 7 a 7): for every augmented row Q reads an un-augmented copy (``Trainer.views``).

AUGMENT_OPS = ("color", "translation", "cutout")
AUGMENT_MODES = ("auto", "adaptive", "fixed", "off")
# train.augment="auto": adaptive below this many training images, off from it on. DiffAugment's
# largest gains are at 10-20 % of CIFAR-10 (5,000-10,000 images) and ADA's at <= 10,000 images;
# MNIST's 60,000 train the mnist preset to 97 % without it (docs/augmentation.md).
AUTO_MAX_IMAGES = 20_000
ADA_INTERVAL = 4  # steps between updates of p (ADA's)


def parse_ops(ops: str) -> tuple[str, ...]:
    """``"color,translation,cutout"`` -> its ops (ValueError naming an unknown one)."""
    names = tuple(o.strip() for o in ops.split(",") if o.strip())
    for o in names:
        if o not in AUGMENT_OPS:
            raise ValueError(f"unknown augmentation op {o!r}; choose from {', '.join(AUGMENT_OPS)}")
    return names


def diff_augment(x: torch.Tensor, gen: torch.Generator, ops: tuple[str, ...] = AUGMENT_OPS,
                 output: str = "tanh") -> torch.Tensor:
    """DiffAugment's transformations of every image of ``x`` (B, C, H, W), differentiable with
    respect to ``x``, parameters drawn from ``gen`` per image (in this order: colour, translation,
    cutout). color: brightness ±1/4 of the value range, saturation ×U(0, 2) (3 channels), contrast
    ×U(0.5, 1.5); translation: up to 1/8 of the side per axis, zero filled; cutout: a square of half
    the side set to 0. Not clamped (as the reference): D sees the values as they come.
    """
    B, C, H, W = x.shape
    dev, dt = x.device, x.dtype
    span = 2.0 if output == "tanh" else 1.0
    if "color" in ops:
        u = torch.rand(B, 3, generator=gen).to(device=dev, dtype=dt)[:, :, None, None, None]
        x = x + (u[:, 0] - 0.5) * (span / 2)
        if C == 3:
            m = x.mean(1, keepdim=True)
            x = (x - m) * (u[:, 1] * 2) + m
        m = x.mean((1, 2, 3), keepdim=True)
        x = (x - m) * (u[:, 2] + 0.5) + m
    if "translation" in ops:
        sy, sx = int(H * 0.125 + 0.5), int(W * 0.125 + 0.5)
        ty = torch.randint(-sy, sy + 1, (B,), generator=gen).to(dev)
        tx = torch.randint(-sx, sx + 1, (B,), generator=gen).to(dev)
        xp = F.pad(x, [sx, sx, sy, sy])
        iy = torch.arange(H, device=dev)[None] + sy - ty[:, None]  # (B, H) rows of the padded image
        ix = torch.arange(W, device=dev)[None] + sx - tx[:, None]  # (B, W)
        b = torch.arange(B, device=dev)[:, None, None]
        x = xp.permute(0, 2, 3, 1)[b, iy[:, :, None], ix[:, None, :]].permute(0, 3, 1, 2)  # (B, C, H, W)
    if "cutout" in ops:
        hy, hx = int(H * 0.5 + 0.5), int(W * 0.5 + 0.5)
        cy = torch.randint(0, H + (1 - hy % 2), (B,), generator=gen).to(dev) - hy // 2
        cx = torch.randint(0, W + (1 - hx % 2), (B,), generator=gen).to(dev) - hx // 2
        ys, xs = torch.arange(H, device=dev)[None], torch.arange(W, device=dev)[None]
        in_y = (ys >= cy[:, None]) & (ys < cy[:, None] + hy)  # (B, H)
        in_x = (xs >= cx[:, None]) & (xs < cx[:, None] + hx)  # (B, W)
        keep = ~(in_y[:, :, None] & in_x[:, None, :])  # (B, H, W)
        x = x * keep[:, None].to(dt)
    return x.contiguous()


class AdaptiveAugment:
    """The augmentation probability p of a run and its update (``train.augment``).

    mode "adaptive": p starts at ``train.augment_p`` and moves every ``ADA_INTERVAL`` steps by
    sign(r_t - target) · (images seen in those steps) / (``augment_kimg`` · 1000), clipped to
    [0, 1], where r_t = E[sign(D(augmented real))] over those steps; "fixed": p stays; "off": p = 0.
    ``state()``/``load()`` carry p and the running sums in checkpoints (exact resume).
    """

    def __init__(self, mode: str, p: float, target: float, kimg: float, ops: str, batch: int) -> None:
        self.mode, self.target, self.kimg, self.batch = mode, target, kimg, batch
        self.ops = parse_ops(ops)
        self.p = 0.0 if mode == "off" else float(p)
        self.sign_sum, self.n_steps = 0.0, 0
        self.last_rt: float | None = None  # r_t of the latest update of p
        # the mean of a number over the processes of a distributed run (the trainer sets it)
        self.reduce: Callable[[float], float] = lambda v: v
        self._pending: list[torch.Tensor] = []

    @staticmethod
    def resolve(mode: str, n_images: int) -> str:
        """``"auto"`` -> "adaptive" below ``AUTO_MAX_IMAGES`` images, "off" otherwise."""
        if mode != "auto":
            return mode
        return "adaptive" if n_images < AUTO_MAX_IMAGES else "off"

    @property
    def active(self) -> bool:
        return self.mode != "off" and self.p > 0

    def rows(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """Indices (CPU) of the rows of an n-image batch to augment, each with probability p."""
        if self.p >= 1:
            return torch.arange(n)
        return (torch.rand(n, generator=gen) < self.p).nonzero().flatten()

    def observe(self, d_real: torch.Tensor) -> None:
        """Record D's logits on (augmented) real images of one D step; every ADA_INTERVAL steps, p moves."""
        if self.mode != "adaptive":
            return
        self._pending.append(torch.sign(d_real.detach().float()).mean())
        if len(self._pending) < ADA_INTERVAL:
            return
        total = self.reduce(float(torch.stack(self._pending).sum()))
        steps, self._pending = len(self._pending), []
        self.sign_sum += total
        self.n_steps += steps
        r_t = total / steps
        move = math.copysign(1.0, r_t - self.target) * steps * self.batch / (self.kimg * 1000)
        self.p = min(max(self.p + move, 0.0), 1.0)
        self.last_rt = r_t

    def state(self) -> dict[str, Any]:
        return {"p": self.p, "sign_sum": self.sign_sum, "n_steps": self.n_steps,
                "pending": [float(s) for s in self._pending]}

    def load(self, s: dict[str, Any]) -> None:
        self.p, self.sign_sum, self.n_steps = float(s["p"]), float(s["sign_sum"]), int(s["n_steps"])
        self._pending = [torch.tensor(float(v)) for v in s.get("pending", [])]
