"""Data sources. Each returns an :class:`ImageStore` (one uint8 tensor, labels/factors if known)."""

from .idx import DataError, load_idx
from .store import ImageStore, to_float, to_uint8

__all__ = ["DataError", "ImageStore", "load_idx", "load_dataset", "to_float", "to_uint8"]


def load_dataset(name: str, split: str = "train", data_dir=None, download: bool = True, **options) -> ImageStore:
    """Load a data set by name (``mnist``, ``fashion-mnist``); ``options`` go to the loader (``verify=False``)."""
    if name in ("mnist", "fashion-mnist"):
        return load_idx(name, split, data_dir, download=download, **options)
    raise DataError(f"unknown data set {name!r}; available: mnist, fashion-mnist")
