"""MNIST-like data sets in the official IDX format (raw or gzip): MNIST, Fashion-MNIST.

Files are looked up in ``--data-dir`` (and only there when it is given), else in
``$INFOGAN_DATA/<name>`` and the cache dir (``$INFOGAN_CACHE`` or ``~/.cache/infogan``)/<name>;
when missing they are downloaded (into ``--data-dir``/<name> or the cache dir) from a mirror list
with retries, and verified by md5 (all through :mod:`infogan.data.common`).
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .common import DataError, check_md5, download_dir, find_first, missing_message, search_dirs
from .common import download as fetch
from .store import ImageStore

__all__ = ["FASHION_MNIST", "MNIST", "SOURCES", "IdxSource", "load_idx", "read_idx"]


@dataclass(frozen=True)
class IdxSource:
    name: str
    files: dict[str, str]  # role -> base file name (no .gz)
    md5_raw: dict[str, str]
    md5_gz: dict[str, str]
    mirrors: tuple[str, ...]


MNIST = IdxSource(
    "mnist",
    {
        "train_images": "train-images-idx3-ubyte",
        "train_labels": "train-labels-idx1-ubyte",
        "test_images": "t10k-images-idx3-ubyte",
        "test_labels": "t10k-labels-idx1-ubyte",
    },
    {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    {
        "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
)

FASHION_MNIST = IdxSource(
    "fashion-mnist",
    MNIST.files,
    {},  # the raw files' md5 are not published; the gz ones are
    {
        "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
)

SOURCES = {s.name: s for s in (MNIST, FASHION_MNIST)}


def _verify(src: IdxSource, path: Path, base: str) -> None:
    want = (src.md5_gz if path.suffix == ".gz" else src.md5_raw).get(base)
    if want is not None:
        hint = "delete it to re-download; for your own subset set data.verify=false"
        check_md5(path, want, f"official {src.name} file", hint)


# The most bytes of data an IDX header may announce (MNIST's training images are 47 MB).
MAX_IDX_BYTES = 1 << 32


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (raw or .gz) into a numpy array, checking its header against its size.

    Only the bytes the header announces (at most ``MAX_IDX_BYTES``) and one more are read, so a
    gzip bomb or a header that lies cannot fill the memory.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8 or head[0] != 0 or head[1] != 0 or head[2] != 0x08:
                raise DataError(f"{path}: not an IDX file of unsigned bytes (bad magic {head[:4].hex() or 'empty'})")
            ndim = head[3]
            if ndim not in (1, 3):
                raise DataError(f"{path}: IDX with {ndim} dimensions; expected 1 (labels) or 3 (images)")
            dims = head[4:] + f.read(4 * ndim - 4)
            shape = tuple(int.from_bytes(dims[4 * i: 4 + 4 * i], "big") for i in range(len(dims) // 4))
            n = math.prod(shape)
            if len(shape) == ndim and n > MAX_IDX_BYTES:
                raise DataError(f"{path}: header says {shape} = {n} bytes, over the limit of {MAX_IDX_BYTES} bytes")
            data = f.read(n + 1) if len(shape) == ndim else b""
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read ({e}); the file is truncated or not gzip") from None
    if len(shape) != ndim or len(data) != n:
        held = f"{len(data)}; truncated?" if len(data) <= n else "more; not one IDX array"
        raise DataError(f"{path}: header says {shape} = {n} bytes but the file holds {held}")
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


def load_idx(
    name: str = "mnist",
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    verify: bool = True,
) -> ImageStore:
    """Load an MNIST-like split as an :class:`ImageStore` of (N, 1, 28, 28) uint8 with labels.

    Args:
        name: mnist or fashion-mnist.
        split: train or test.
        data_dir: where to look first (see :func:`infogan.data.common.search_dirs`).
        download: fetch missing files from the mirrors (into ``data_dir``/<name>, else the cache dir).
        verify: check each file against the official md5 (where one is published).
    """
    if name not in SOURCES:
        raise DataError(f"unknown IDX data set {name!r}; known: {', '.join(SOURCES)}")
    if split not in ("train", "test"):
        raise DataError(f"split must be 'train' or 'test', got {split!r}")
    src = SOURCES[name]
    dirs = search_dirs(name, data_dir)
    arrays = {}
    for role in (f"{split}_images", f"{split}_labels"):
        base = src.files[role]
        path = find_first([base, base + ".gz"], dirs, files_only=True)
        if path is None:
            dest = download_dir(name, data_dir)
            missing = missing_message(
                src.name, [base, base + ".gz"], dirs, f"or copy the files into {dest or dirs[0]}"
            )
            if not download or dest is None:
                raise DataError(missing)
            try:
                urls = [m + base + ".gz" for m in src.mirrors]
                path = fetch(urls, dest / (base + ".gz"), src.md5_gz.get(base))
            except DataError as e:
                raise DataError(missing + f" Download failed too: {e}") from None
        if verify:
            _verify(src, path, base)
        arrays[role] = read_idx(path)
    images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"{name} {split}: images {images.shape} and labels {labels.shape} do not match")
    imgs = torch.from_numpy(images.copy()).unsqueeze(1)  # (N, 1, 28, 28) uint8
    return ImageStore(imgs, torch.from_numpy(labels.astype(np.int64)), name=f"{name}-{split}")

