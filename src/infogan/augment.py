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
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["FAMILIES", "Invariance", "affine", "family", "invariance_for", "random_affine"]


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
