"""User images (PNG/JPEG files or folders of them) as a uint8 tensor of a model's image shape."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .idx import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}


def list_images(paths: list[str | os.PathLike]) -> list[Path]:
    """Expand files and folders (recursively, sorted) into image file paths."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
        elif p.is_file():
            out.append(p)
        else:
            raise DataError(f"{p}: no such file or folder")
    if not out:
        raise DataError(f"no images (.png, .jpg, ...) found in {', '.join(map(str, paths))}")
    return out


def load_image(path: Path, shape: tuple[int, int, int]) -> np.ndarray:
    """Decode one image to (C, H, W) uint8: centre crop to square, resize, gray or RGB."""
    c, h, w = shape
    try:
        with Image.open(path) as im:
            im = im.convert("L" if c == 1 else "RGB")
            side = min(im.size)
            left, top = (im.width - side) // 2, (im.height - side) // 2
            im = im.crop((left, top, left + side, top + side)).resize((w, h), Image.BICUBIC)
            arr = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as e:
        # Pillow reports broken files with several exception types (SyntaxError: "broken PNG file").
        raise DataError(f"{path}: not a readable image ({e})") from None
    return arr[None] if c == 1 else arr.transpose(2, 0, 1)


def load_images(paths: list[Path], shape: tuple[int, int, int]) -> torch.Tensor:
    """(N, C, H, W) uint8 for the given files."""
    return torch.from_numpy(np.stack([load_image(p, shape) for p in paths]))
