"""Pictures: sample and traversal grids (PNG via Pillow) and training curves (matplotlib, Agg)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .fsutil import atomic_open


def grid(images: torch.Tensor, rows: int, cols: int, pad: int = 2, pad_value: int = 255) -> np.ndarray:
    """(rows*cols, C, H, W) uint8 -> (H', W', C) uint8 grid, row-major."""
    if images.dtype != torch.uint8:
        raise ValueError(f"grid expects uint8 images, got {images.dtype}")
    n, c, h, w = images.shape
    if n != rows * cols:
        raise ValueError(f"{n} images do not fill a {rows}x{cols} grid")
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), pad_value, dtype=np.uint8)
    arr = images.permute(0, 2, 3, 1).cpu().numpy()
    for i in range(n):
        r, col = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        out[y : y + h, x : x + w] = arr[i]
    return out


def save_png(array: np.ndarray, path: str | os.PathLike, scale: int = 1) -> Path:
    """Write an (H, W, C) uint8 array as PNG, atomically; ``scale`` enlarges with nearest neighbour."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    with atomic_open(path, "wb") as f:
        img.save(f, format="PNG")
    return path


def plot_curves(
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    path: str | os.PathLike,
    title: str,
    ylabel: str,
    hlines: dict[str, float] | None = None,
) -> Path:
    """Line plot of named (x, y) series with optional labelled horizontal lines (e.g. H(c))."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=110)
    for name, (x, y) in series.items():
        ax.plot(x, y, label=name, lw=1.6)
    for name, y in (hlines or {}).items():
        ax.axhline(y, ls="--", color="gray", lw=1)
        ax.annotate(name, (0.99, y), xycoords=("axes fraction", "data"), ha="right", va="bottom", color="gray")
    ax.set_xlabel("iteration")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_open(path, "wb") as f:
            fig.savefig(f, format=path.suffix.lstrip(".").lower() or "png")
    finally:
        plt.close(fig)
    return path
