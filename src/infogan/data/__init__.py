"""Data sources. Each returns an :class:`ImageStore` (one uint8 tensor, labels/factors if known).

One module per source format: ``idx`` (MNIST, Fashion-MNIST), ``svhn`` (.mat), ``folder`` (any
folder/zip/tar of images), ``celeba``, ``dsprites`` (.npz), ``rendered`` (3D chairs, 3D faces).
"""

from __future__ import annotations

import os

from .celeba import load_celeba
from .common import DataWarning
from .dsprites import load_dsprites, make_dsprites
from .folder import decode_source, load_folder
from .idx import DataError, load_idx
from .rendered import load_chairs, load_faces
from .store import ImageStore, to_float, to_uint8
from .svhn import load_svhn

__all__ = [
    "DATASETS",
    "DataError",
    "DataWarning",
    "ImageStore",
    "decode_source",
    "load_celeba",
    "load_chairs",
    "load_dataset",
    "load_dsprites",
    "load_faces",
    "load_folder",
    "load_idx",
    "load_svhn",
    "make_dsprites",
    "to_float",
    "to_uint8",
]

DATASETS = ("mnist", "fashion-mnist", "svhn", "celeba", "dsprites", "chairs", "faces", "folder")


def load_dataset(
    name: str, split: str = "train", data_dir: str | os.PathLike | None = None, download: bool = True, **options
) -> ImageStore:
    """Load a data set by name.

    Args:
        name: mnist, fashion-mnist, svhn, celeba, dsprites, chairs, faces, or folder. ``folder`` reads
            the folder/.zip/.tar given as ``data_dir`` (or written as ``folder:PATH``).
        split: train or test (extra for svhn; validation and all for celeba; the sets without an
            official split return all their images for every split).
        data_dir: where to look first (for ``folder``: the images themselves).
        download: fetch missing files into the cache dir where a public URL exists (mnist,
            fashion-mnist, svhn, dsprites).
        **options: passed to the loader, e.g. ``size=64, channels=1`` for folder/celeba/chairs/faces,
            ``verify=False``, ``on_bad="skip"``, ``limit=N``.
    """
    if name.startswith("folder:"):
        name, data_dir = "folder", name.split(":", 1)[1]
    if name in ("mnist", "fashion-mnist"):
        return load_idx(name, split, data_dir, download=download, **options)
    if name == "svhn":
        return load_svhn(split, data_dir, download=download, **options)
    if name == "dsprites":
        return load_dsprites(split, data_dir, download=download, **options)
    if name == "celeba":
        return load_celeba(split, data_dir, **options)
    if name == "chairs":
        return load_chairs(split, data_dir, **options)
    if name == "faces":
        return load_faces(split, data_dir, **options)
    if name == "folder":
        if not data_dir:
            raise DataError("data set 'folder' needs a path: --data-dir PATH (a folder, .zip or .tar of images) "
                            "or name='folder:PATH'")
        if split not in ("train", "test", "all"):
            raise DataError(f"an image folder has no split; split must be train, test or all, got {split!r}")
        return load_folder(data_dir, **options)
    raise DataError(f"unknown data set {name!r}; available: {', '.join(DATASETS)}")
