"""Data sources. Each returns an :class:`ImageStore` (one uint8 tensor, labels/factors if known).

One module per source format: ``idx`` (MNIST, Fashion-MNIST), ``svhn`` (.mat), ``folder`` (any
folder/zip/tar of images), ``celeba``, ``dsprites`` (.npz), ``rendered`` (3D chairs, 3D faces).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .celeba import find_index, load_celeba
from .common import DataError, DataWarning
from .dsprites import load_dsprites, make_dsprites
from .folder import decode_source, load_folder
from .idx import load_idx
from .rendered import load_chairs, load_faces
from .store import ImageStore, to_float, to_uint8
from .svhn import load_svhn

if TYPE_CHECKING:
    from ..config import DataConfig

__all__ = [
    "DATASETS",
    "DataError",
    "DataWarning",
    "Dataset",
    "ImageStore",
    "Splits",
    "dataset",
    "decode_source",
    "load_celeba",
    "load_chairs",
    "load_dataset",
    "load_dsprites",
    "load_faces",
    "load_folder",
    "load_idx",
    "load_splits",
    "load_svhn",
    "make_dsprites",
    "to_float",
    "to_uint8",
]


@dataclass(frozen=True)
class Splits:
    """Which splits of a data set to load for training and for evaluation."""

    train: str  # the split the model trains on
    test: str | None  # the held-out split evaluation reads; None: the data has none
    note: str = ""  # why the choice differs from the data set's usual one (shown to the user)


@dataclass(frozen=True)
class Dataset:
    """How to load one data set by name (an entry of :data:`DATASETS`)."""

    load: Callable[..., ImageStore]  # (split, data_dir, download, **options) -> ImageStore
    splits: Callable[[str | None], Splits]  # data_dir -> the splits to train and evaluate on
    resized: bool = False  # decoded from image files: takes size, channels and on_bad
    official: bool = False  # files under official names are checked against official md5 (verify option)


def _fixed(train: str, test: str | None) -> Callable[[str | None], Splits]:
    return lambda data_dir: Splits(train, test)


def _celeba_splits(data_dir: str | None) -> Splits:
    try:
        has_index = find_index(data_dir or None) is not None
    except (DataError, OSError):
        has_index = True  # let the loader report the problem itself
    if has_index:
        return Splits("train", "test")
    # a bare img_align_celeba without a partition file: train on all of it, no held-out split
    return Splits("all", None, "no CelebA split index found; training on every image, no test split")


def _load_folder(split: str, data_dir, download: bool = True, **options) -> ImageStore:
    if not data_dir:
        raise DataError("data set 'folder' needs a path: --data-dir PATH (a folder, .zip or .tar of images) "
                        "or name='folder:PATH'")
    if split not in ("train", "test", "all"):
        raise DataError(f"an image folder has no split; split must be train, test or all, got {split!r}")
    return load_folder(data_dir, **options)


# name -> how to load it; ``folder:PATH`` names the folder entry with its path.
DATASETS: dict[str, Dataset] = {
    "mnist": Dataset(
        lambda split, data_dir, download=True, **o: load_idx("mnist", split, data_dir, download=download, **o),
        _fixed("train", "test"), official=True),
    "fashion-mnist": Dataset(
        lambda split, data_dir, download=True, **o: load_idx("fashion-mnist", split, data_dir, download=download, **o),
        _fixed("train", "test"), official=True),
    "svhn": Dataset(
        lambda split, data_dir, download=True, **o: load_svhn(split, data_dir, download=download, **o),
        _fixed("train", "test"), official=True),
    "dsprites": Dataset(
        lambda split, data_dir, download=True, **o: load_dsprites(split, data_dir, download=download, **o),
        _fixed("train", "test"), official=True),
    # no public download: the loaders below ignore ``download``
    "celeba": Dataset(lambda split, data_dir, download=True, **o: load_celeba(split, data_dir, **o),
                      _celeba_splits, resized=True, official=True),
    "chairs": Dataset(lambda split, data_dir, download=True, **o: load_chairs(split, data_dir, **o),
                      _fixed("train", None), resized=True),
    "faces": Dataset(lambda split, data_dir, download=True, **o: load_faces(split, data_dir, **o),
                     _fixed("train", None), resized=True),
    "folder": Dataset(_load_folder, _fixed("train", None), resized=True),
}


def dataset(name: str) -> tuple[Dataset, str | None]:
    """The registry entry of a data set name, and the path a ``folder:PATH`` name carries (else None).

    Raises:
        DataError: for a name that is not in :data:`DATASETS`.
    """
    path = None
    if name.startswith("folder:"):
        name, path = "folder", name.split(":", 1)[1]
    if name not in DATASETS:
        raise DataError(f"unknown data set {name!r}; available: {', '.join(DATASETS)}")
    return DATASETS[name], path


def load_dataset(
    name: str, split: str = "train", data_dir: str | os.PathLike | None = None, download: bool = True, **options
) -> ImageStore:
    """Load a data set by name.

    Args:
        name: mnist, fashion-mnist, svhn, celeba, dsprites, chairs, faces, or folder. ``folder`` reads
            the folder/.zip/.tar given as ``data_dir`` (or written as ``folder:PATH``).
        split: train or test (extra for svhn; validation and all for celeba; the sets without an
            official split return all their images for every split).
        data_dir: where the data are (for ``folder``: the images themselves); it must exist, and
            only it is searched. None: ``$INFOGAN_DATA``, then the cache dir.
        download: fetch missing files (into ``data_dir``/<name>, else the cache dir) where a public
            URL exists (mnist, fashion-mnist, svhn, dsprites).
        **options: passed to the loader, e.g. ``size=64, channels=1`` for folder/celeba/chairs/faces,
            ``verify=False``, ``on_bad="skip"``, ``limit=N``.

    Returns:
        The split as an :class:`ImageStore`.
    """
    entry, path = dataset(name)
    return entry.load(split, path or data_dir, download, **options)


def load_splits(
    data: DataConfig, image_shape: tuple[int, int, int], need_train: bool = True,
    log: Callable[[str], None] = print,
) -> tuple[ImageStore | None, ImageStore | None]:
    """The training and held-out stores a data config names.

    Args:
        data: the config's ``[data]`` section (name, data_dir, download, verify, on_bad).
        image_shape: (C, H, W) that image-file data sets are decoded and resized to.
        need_train: False loads only the held-out split (training store None).
        log: receives a note when the data set's usual splits cannot be used.

    Returns:
        (train, test); test is None where the data has no held-out split.
    """
    entry, path = dataset(data.name)
    data_dir = path or data.data_dir or None
    opts: dict = {}
    if entry.resized:
        c, h, _ = image_shape
        opts = {"size": h, "channels": c, "on_bad": data.on_bad}
    if not data.verify and entry.official:
        opts["verify"] = False  # your own files under the official names
    splits = entry.splits(data_dir)
    if splits.note:
        log(f"note: {splits.note}")
    train = entry.load(splits.train, data_dir, data.download, **opts) if need_train else None
    test = entry.load(splits.test, data_dir, data.download, **opts) if splits.test else None
    return train, test
