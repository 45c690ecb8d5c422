"""In-memory uint8 image store: decoded once, sampled by index, never decoded in the loop."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class ImageStore:
    """A whole data set as one uint8 tensor.

    Attributes:
        images: (N, C, H, W) uint8.
        labels: (N,) int64 class labels, or None (labels are never used in training).
        factors: (N, F) ground-truth factor values, or None (for disentanglement metrics).
        factor_names: names of the F factors.
        name: short description for logs.
    """

    images: torch.Tensor
    labels: torch.Tensor | None = None
    factors: np.ndarray | None = None
    factor_names: tuple[str, ...] = ()
    name: str = ""

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be a (N, C, H, W) uint8 tensor, got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels is not None and len(self.labels) != len(self.images):
            raise ValueError(f"{len(self.labels)} labels for {len(self.images)} images")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def to(self, device: torch.device | str) -> ImageStore:
        return ImageStore(self.images.to(device), None if self.labels is None else self.labels.to(device),
                          self.factors, self.factor_names, self.name)

    def subset(self, n: int) -> ImageStore:
        n = min(n, len(self))
        return ImageStore(self.images[:n], None if self.labels is None else self.labels[:n],
                          None if self.factors is None else self.factors[:n], self.factor_names, self.name)


def to_float(images: torch.Tensor, output: str) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float in G's output range: [0, 1] for sigmoid, [-1, 1] for tanh."""
    x = images.float() / 255.0
    return x * 2 - 1 if output == "tanh" else x


def to_uint8(images: torch.Tensor, output: str) -> torch.Tensor:
    """Inverse of :func:`to_float`, clamped."""
    x = (images.detach().float() + 1) / 2 if output == "tanh" else images.detach().float()
    return (x.clamp(0, 1) * 255 + 0.5).to(torch.uint8)
