"""SVHN cropped digits (Netzer et al. 2011), the official MATLAB v5 files ``{train,test,extra}_32x32.mat``.

Each file holds ``X``: 32×32×3×N uint8 and ``y``: N×1 labels 1–10, where 10 stands for the digit 0
(mapped here to 0). Files are looked up in ``data_dir`` (only there when it is given), else in
``$INFOGAN_DATA/svhn`` and the cache dir (``$INFOGAN_CACHE`` or ``~/.cache/infogan``)/svhn; when
missing they are downloaded into ``data_dir``/svhn or the cache dir. A file that is found is checked against the official md5 (``verify=False`` skips it).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from .common import DataError, check_md5, download_dir, locate, missing_message, one_line
from .common import download as fetch
from .store import ImageStore

__all__ = ["SVHN_FILES", "load_svhn", "read_svhn_mat"]

# split -> (file, md5 of the official file)
SVHN_FILES = {
    "train": ("train_32x32.mat", "e26dedcc434d2e4c54c9b2d4a06d8373"),
    "test": ("test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3"),
    "extra": ("extra_32x32.mat", "a93ce644f1a588dc4d68dda5feec44a7"),
}
SVHN_URLS = ("http://ufldl.stanford.edu/housenumbers/",)


def read_svhn_mat(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read one SVHN ``.mat`` file.

    Returns:
        images (N, 3, 32, 32) uint8 and labels (N,) int64 in 0..9 (10 -> 0).
    Raises:
        DataError naming the file when it is not a MATLAB v5 file with the SVHN layout.
    """
    import scipy.io

    path = Path(path)
    try:
        mat = scipy.io.loadmat(path, variable_names=["X", "y"])
    except NotImplementedError:  # scipy's answer to v7.3 (HDF5) files
        raise DataError(
            f"{path}: a MATLAB v7.3 (HDF5) file; the official SVHN files are MATLAB v5 (re-save it "
            f"with -v7 or download the official file)"
        ) from None
    except Exception as e:  # noqa: BLE001 - scipy raises ValueError, MatReadError, OSError... on bad files
        raise DataError(
            f"{path}: not a readable MATLAB v5 file ({one_line(e, 80)}); the file is truncated or "
            f"not an SVHN .mat (delete it to re-download)"
        ) from None
    if "X" not in mat or "y" not in mat:
        raise DataError(
            f"{path}: holds {sorted(k for k in mat if not k.startswith('__'))}; expected the SVHN "
            f"variables X (32x32x3xN uint8) and y (Nx1 labels 1-10)"
        )
    x, y = mat["X"], np.asarray(mat["y"])
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        raise DataError(f"{path}: X has shape {x.shape}; expected 32x32x3xN (cropped digits, not the full numbers)")
    if x.dtype != np.uint8:
        raise DataError(f"{path}: X has dtype {x.dtype}; expected uint8")
    y = y.reshape(-1)
    if len(y) != x.shape[3]:
        raise DataError(f"{path}: {len(y)} labels in y for {x.shape[3]} images in X")
    if len(y) and (y.min() < 1 or y.max() > 10 or not np.all(y == np.round(y))):
        raise DataError(f"{path}: labels in y span {y.min()}..{y.max()}; expected integers 1-10 (10 = digit 0)")
    labels = y.astype(np.int64) % 10  # 10 means the digit 0
    images = np.ascontiguousarray(x.transpose(3, 2, 0, 1))  # (32, 32, 3, N) -> (N, 3, 32, 32)
    return images, labels


def load_svhn(
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    verify: bool = True,
) -> ImageStore:
    """Load an SVHN split (``train`` 73,257, ``test`` 26,032, ``extra`` 531,131 images).

    Returns:
        :class:`ImageStore` of (N, 3, 32, 32) uint8 with labels (N,) int64 in 0..9.
    """
    if split not in SVHN_FILES:
        raise DataError(f"SVHN split must be one of {', '.join(SVHN_FILES)}, got {split!r}")
    fname, want = SVHN_FILES[split]
    path, dirs = locate("svhn", data_dir, [fname], accept=lambda p: p.is_file() and p.name == fname)
    if path is None:
        dest = download_dir("svhn", data_dir)
        if not download or dest is None:
            raise DataError(missing_message("svhn", [fname], dirs, f"or copy it into {dest or dirs[0]}"))
        try:
            path = fetch([u + fname for u in SVHN_URLS], dest / fname, want)
        except DataError as e:
            raise DataError(missing_message("svhn", [fname], dirs) + f" Download failed too: {e}") from None
    if verify:
        check_md5(path, want, f"official SVHN {fname}")
    images, labels = read_svhn_mat(path)
    return ImageStore(torch.from_numpy(images), torch.from_numpy(labels), name=f"svhn-{split}")
