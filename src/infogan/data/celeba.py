"""CelebA aligned faces (Liu et al. 2015): ``img_align_celeba`` as a folder, ``.zip`` or ``.tar``.

The aligned images are 178×218 RGB JPEGs. The InfoGAN preset takes the centred 178×178 square (the
face sits in the middle of the aligned image) and resizes it to 32×32 RGB; both are arguments.
Decoding goes through :mod:`infogan.data.folder`: done once, cached as a memory-mapped ``.npy``.

Sources, looked up in ``data_dir``, ``$INFOGAN_DATA/celeba``, the cache dir/celeba (first match):
``img_align_celeba/``, ``img_align_celeba.zip``, ``img_align_celeba.tar[.gz]``,
``celeba_img_align_subset6000.tar`` (the 6,000-image subset of this project's shared data), or
``data_dir`` itself when it is such a folder or archive.

Splits come from an index file beside the images (or in the same search dirs):
``celeba_subset6000_index.csv`` (filename, celeba_identity, source_split, source_folder, md5; the
md5 of every selected JPEG is checked when ``verify``) or the official ``list_eval_partition.txt``
(``000001.jpg 0``, 0/1/2 = train/validation/test) or its CSV form (``image_id,partition``).
Without an index only ``split="all"`` (or ``"train"``, which then means all images) is available.
No download: CelebA is distributed through Google Drive under a non-commercial licence.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import torch

from .common import DataError, find_first, locate, missing_message, warn
from .folder import decode_source, has_images
from .store import ImageStore

__all__ = ["CELEBA_INDEXES", "CELEBA_SOURCES", "load_celeba", "read_celeba_index"]

CELEBA_SOURCES = (
    "img_align_celeba",
    "img_align_celeba.zip",
    "img_align_celeba.tar",
    "img_align_celeba.tar.gz",
    "celeba_img_align_subset6000.tar",
)
CELEBA_INDEXES = ("celeba_subset6000_index.csv", "list_eval_partition.txt", "list_eval_partition.csv")
SPLITS = {
    "train": "train",
    "validation": "validation",
    "val": "validation",
    "valid": "validation",
    "test": "test",
    "all": "all",
}
_PARTITION = {"0": "train", "1": "validation", "2": "test"}


def read_celeba_index(path: str | os.PathLike) -> dict[str, tuple[str, str]]:
    """Read a split index: filename -> (split, md5 or "") with split in train/validation/test."""
    path = Path(path)
    out: dict[str, tuple[str, str]] = {}
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read the CelebA index ({e})") from None
    lines = text.splitlines()
    if path.suffix == ".txt":  # official list_eval_partition.txt: "000001.jpg 0"
        for i, line in enumerate(lines, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 or parts[1] not in _PARTITION:
                raise DataError(f"{path}:{i}: expected 'NNNNNN.jpg 0|1|2', got {line.strip()!r}")
            out[parts[0]] = (_PARTITION[parts[1]], "")
        return out
    rows = list(csv.DictReader(lines))
    if not rows:
        raise DataError(f"{path}: empty CelebA index")
    cols = set(rows[0])
    name_col = next((c for c in ("filename", "image_id") if c in cols), None)
    split_col = next((c for c in ("source_split", "split", "partition") if c in cols), None)
    if name_col is None or split_col is None:
        raise DataError(
            f"{path}: columns {sorted(cols)}; expected filename (or image_id) and source_split (or split, partition)"
        )
    for i, r in enumerate(rows, 2):
        s = _PARTITION.get(r[split_col], r[split_col])
        if s not in ("train", "validation", "test"):
            raise DataError(f"{path}:{i}: split {r[split_col]!r}; expected train, validation, test or 0/1/2")
        out[r[name_col]] = (s, r.get("md5", "") or "")
    return out


def _locate(data_dir) -> tuple[Path, list[Path]]:
    # else a search dir (e.g. data_dir) that is the folder/archive of JPEGs itself
    src, dirs = locate("celeba", data_dir, CELEBA_SOURCES, accept=has_images)
    if src is None:
        raise DataError(
            missing_message(
                "celeba",
                CELEBA_SOURCES,
                dirs,
                "CelebA has no automatic download (Google Drive, non-commercial licence)",
            )
        )
    return src, dirs


def find_index(data_dir=None) -> Path | None:
    """The split index beside the CelebA images, or None (raises DataError when no images are found)."""
    src, dirs = _locate(data_dir)
    return find_first(CELEBA_INDEXES, [src.parent, *dirs])


def load_celeba(
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    size: int = 32,
    channels: int = 3,
    *,
    crop: int | None = 178,
    index: str | os.PathLike | None = None,
    verify: bool = True,
    on_bad: str = "error",
    limit: int | None = None,
    cache: bool = True,
    workers: int | None = None,
    progress: bool | None = None,
) -> ImageStore:
    """Load CelebA aligned images as (N, channels, size, size) uint8 (default 32×32 RGB).

    Args:
        split: train, validation (val), test or all. Needs an index file unless "all"/"train".
        data_dir: where to look first (a folder holding the images/archive, or the folder/archive itself).
        size, channels: output side and 1 (gray) / 3 (RGB).
        crop: side of the centred square cut from each 178×218 image before resizing (None: largest).
        index: an explicit index file (see module docstring); default: found beside the images.
        verify: check each selected JPEG's md5 against the index, when it has an md5 column.
        on_bad, limit, cache, workers, progress: as in :func:`infogan.data.folder.decode_source`
            (``limit`` keeps the first images of the split: quick looks and tests).
    Returns:
        :class:`ImageStore` (no labels) named ``celeba-<split>``, rows in file-name order.
    """
    if split not in SPLITS:
        raise DataError(f"CelebA split must be one of train, validation, test, all, got {split!r}")
    split = SPLITS[split]
    src, dirs = _locate(data_dir)
    idx_path = Path(index) if index else find_first(CELEBA_INDEXES, [src.parent, *dirs])
    if index and not idx_path.is_file():
        raise DataError(f"{idx_path}: CelebA index not found; expected {' or '.join(CELEBA_INDEXES)}")
    rows = read_celeba_index(idx_path) if idx_path is not None else None

    want = None  # base names of the split's images, sorted
    if rows is not None and split != "all":
        want = sorted(n for n, (s, _) in rows.items() if s == split)
        if not want:
            raise DataError(f"{idx_path}: no images in split {split!r}")
    elif rows is None and split not in ("all", "train"):
        raise DataError(
            f"{src}: no split index found (looked for {', '.join(CELEBA_INDEXES)} in {src.parent} and "
            f"the data dirs); pass index=FILE or use split='all'"
        )
    # Without a limit the whole source is decoded once and cached, and each split is a row selection
    # of it (train and test then share one decode); with a limit only those files are decoded.
    select = None
    if limit is not None and want is not None:
        select, want, limit = want[: max(0, int(limit))], want[: max(0, int(limit))], None
    d = decode_source(
        src,
        size,
        channels,
        crop=crop,
        on_bad=on_bad,
        select=select,
        limit=limit,
        cache=cache,
        workers=workers,
        progress=progress,
    )

    base = [Path(n).name for n in d.names]
    keep = np.arange(len(base))
    if want is not None:
        wanted = set(want)
        keep = np.array([i for i, b in enumerate(base) if b in wanted], dtype=np.int64)
        missing = sorted(wanted - {base[i] for i in keep} - {Path(n).name for n, _ in d.skipped})
        if missing:
            msg = (
                f"{src}: {len(missing)} images of the {split} split in {idx_path.name} are not in the archive "
                f"(first: {', '.join(missing[:5])})"
            )
            if on_bad == "error":
                raise DataError(msg + "; pass on_bad='skip' to go on without them")
            warn(msg)
        if not len(keep):
            raise DataError(f"{src}: none of the {split} images in {idx_path.name} could be loaded")
    if verify and rows is not None:
        bad = [base[i] for i in keep if base[i] in rows and rows[base[i]][1] and rows[base[i]][1] != d.md5[i]]
        if bad:
            raise DataError(
                f"{src}: {len(bad)} images do not match the md5 in {idx_path.name} (first: "
                f"{', '.join(bad[:5])}); the files are corrupt or another version (pass verify=False)"
            )
    if len(keep) == len(base):
        images = d.images
    elif keep[-1] - keep[0] + 1 == len(keep):  # a contiguous split (the official partition): a view
        images = d.images[keep[0] : keep[-1] + 1]
    else:
        images = np.ascontiguousarray(d.images[keep])
    return ImageStore(torch.from_numpy(images), name=f"celeba-{split}")
