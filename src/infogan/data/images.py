"""User images (PNG/JPEG files or folders of them) as a uint8 tensor of a model's image shape.

``infogan encode`` and ``infogan cluster`` read images here. Each file is decoded by
:func:`infogan.data.folder.decode_image`, the decoder of the training image folders (EXIF
orientation, alpha over white, 16-bit scaled to 8-bit, gray/RGB, centre crop, bicubic resize), so a
file gives exactly the pixels Q saw for it in training.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..fsutil import read_regular
from .common import DataError
from .folder import IMAGE_SUFFIXES, MAX_IMAGE_BYTES, decode_error, decode_image, is_hidden

__all__ = ["list_images", "load_image", "load_images"]


def list_images(paths: list[str | os.PathLike]) -> list[Path]:
    """Expand files and folders into image file paths.

    A folder gives its image files (suffixes of :data:`~infogan.data.folder.IMAGE_SUFFIXES`) at any
    depth, sorted, without hidden ones (``.name``, ``__MACOSX/``), as the training loader takes
    them: a name that is not a folder counts, so a dangling or looping link is reported (or, in
    ``cluster``, skipped and counted) when it is read, never dropped unseen. A file is taken as given.
    """
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(
                f
                for f in p.rglob("*")
                if f.suffix.lower() in IMAGE_SUFFIXES and not is_hidden(f.relative_to(p).as_posix()) and not f.is_dir()
            )
        elif os.path.lexists(p):  # a file, or a special file / broken link that load_image reports
            out.append(p)
        else:
            raise DataError(f"{p}: no such file or folder")
    if not out:
        raise DataError(f"no images (.png, .jpg, ...) found in {', '.join(map(str, paths))}")
    return out


def _side(shape: tuple[int, int, int]) -> tuple[int, int]:
    c, h, w = shape
    if h != w or c not in (1, 3):
        raise DataError(f"image shape must be (1 or 3, S, S), got {tuple(shape)}")
    return c, h


def load_image(path: str | os.PathLike, shape: tuple[int, int, int], crop: int | None = None) -> np.ndarray:
    """Decode one image file to (C, S, S) uint8, exactly as the training image-folder loader does.

    Args:
        path: a PNG/JPEG/... file.
        shape: (C, S, S) of the model: C is 1 (gray) or 3 (RGB).
        crop: side of the centred square kept before resizing (None: the largest one), as in training.
    Raises:
        DataError naming the file when it cannot be read or decoded.
    """
    c, side = _side(shape)
    try:
        data = read_regular(path, MAX_IMAGE_BYTES)  # a FIFO or a link to /dev/zero is refused unread
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        return decode_image(data, side, c, crop)
    except Exception as e:  # noqa: BLE001 -- as in training, any decoder failure makes the file a bad one
        raise DataError(f"{path}: not a readable image ({decode_error(e)})") from None


def load_images(paths: list[Path], shape: tuple[int, int, int], crop: int | None = None) -> torch.Tensor:
    """(N, C, S, S) uint8 for the given files (see :func:`load_image`)."""
    c, side = _side(shape)
    out = np.empty((len(paths), c, side, side), np.uint8)
    for i, p in enumerate(paths):
        out[i] = load_image(p, shape, crop)
    return torch.from_numpy(out)
