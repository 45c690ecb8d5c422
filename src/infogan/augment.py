"""Random small affine warps of image batches, differentiable with respect to the images.

Used by the categorical-invariance term (``train.cat_invariance``): Q must still recover a
generated image's categorical codes after a small rotation, scaling and shift, so G cannot spend a
category on a property that such a warp changes (slant, size, position) and has to spend it on
what stays (the shape). This is the transformation-consistency idea of Elastic-InfoGAN (Ojha et al.,
NeurIPS 2019) in its simplest form; continuous codes are left out, since a rotation code must not
become rotation-invariant.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


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
