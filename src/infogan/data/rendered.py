"""Rendered data sets: 3D chairs (Aubry et al. 2014) and 3D faces (Paysan et al. 2009, as used by
Kulkarni et al. 2015), both through :mod:`infogan.data.folder` (decoded once, cached, memory-mapped).

- Chairs: ``rendered_chairs/<model>/renders/*.png`` (folder, .zip or .tar[.gz]; 1,393 models × 62
  views of 600×600) -> 64×64 gray (InfoGAN Table 6). Only files under a ``renders/`` folder count.
  ``factors`` = (model index, elevation, azimuth) when the file names carry ``_pNNN_tNNN_`` (the
  official ``image_NNN_p020_t000_r096.png``), else only the model index.
- Faces: any folder/archive of face renderings -> 32×32 gray (InfoGAN Table 4). There is no
  official public archive, so no layout is assumed and no factors are returned.

Neither set has an official split: ``train``, ``test`` and ``all`` return the same images. Neither
is downloaded automatically (chairs: https://www.di.ens.fr/willow/research/seeing3Dchairs/).
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from .common import DataError, locate, missing_message
from .folder import decode_source, has_images
from .store import ImageStore

__all__ = ["CHAIRS_SOURCES", "FACES_SOURCES", "load_chairs", "load_faces"]

CHAIRS_SOURCES = ("rendered_chairs", "rendered_chairs.tar", "rendered_chairs.tar.gz", "rendered_chairs.zip")
FACES_SOURCES = ("faces", "faces.zip", "faces.tar", "faces.tar.gz", "3dfaces", "3dfaces.zip", "3dfaces.tar")
CHAIRS_PATTERN = r"(^|/)renders/[^/]+$"
_VIEW = re.compile(r"_p(\d+)_t(\d+)_")
_SPLITS = ("train", "test", "all")


def _locate(name: str, data_dir, candidates: tuple[str, ...], hint: str) -> Path:
    """First candidate folder/archive in the search dirs; else a search dir that is itself one."""
    found, dirs = locate(name, data_dir, candidates, accept=has_images)
    if found is None:
        raise DataError(missing_message(name, candidates, dirs, hint))
    return found


def _check_split(name: str, split: str) -> None:
    if split not in _SPLITS:
        raise DataError(
            f"{name} has no official split; split must be train, test or all (the same images), got {split!r}"
        )


def load_chairs(
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    size: int = 64,
    channels: int = 1,
    *,
    crop: int | None = None,
    on_bad: str = "error",
    limit: int | None = None,
    cache: bool = True,
    workers: int | None = None,
    progress: bool | None = None,
) -> ImageStore:
    """Load 3D chairs as (N, channels, size, size) uint8 (default 64×64 gray).

    Args:
        split: train, test or all (no official split: all the same).
        data_dir: where to look first (holding ``rendered_chairs``, or that folder/archive itself).
        crop: centred square kept from each 600×600 render before resizing (None: the whole image).
        on_bad, limit, cache, workers, progress: see :func:`infogan.data.folder.decode_source`.
    Returns:
        :class:`ImageStore` with factors (model, [elevation, azimuth]) and no labels.
    """
    _check_split("chairs", split)
    src = _locate(
        "chairs",
        data_dir,
        CHAIRS_SOURCES,
        "download rendered_chairs.tar from https://www.di.ens.fr/willow/research/seeing3Dchairs/",
    )
    d = decode_source(
        src,
        size,
        channels,
        crop=crop,
        on_bad=on_bad,
        pattern=CHAIRS_PATTERN,
        limit=limit,
        cache=cache,
        workers=workers,
        progress=progress,
    )
    # model = the folder that holds renders/; factor values are plain integers (class ids, degrees)
    models = [PurePosixPath(n).parent.parent.as_posix() for n in d.names]
    uniq = {m: i for i, m in enumerate(sorted(set(models)))}
    cols = [np.array([uniq[m] for m in models], np.int64)]
    names: tuple[str, ...] = ("model",)
    views = [_VIEW.search(PurePosixPath(n).name) for n in d.names]
    if all(views):
        cols += [
            np.array([int(v.group(1)) for v in views], np.int64),
            np.array([int(v.group(2)) for v in views], np.int64),
        ]
        names += ("elevation", "azimuth")
    return ImageStore(torch.from_numpy(d.images), factors=np.stack(cols, axis=1), factor_names=names, name="chairs")


def load_faces(
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    size: int = 32,
    channels: int = 1,
    *,
    crop: int | None = None,
    on_bad: str = "error",
    limit: int | None = None,
    cache: bool = True,
    workers: int | None = None,
    progress: bool | None = None,
) -> ImageStore:
    """Load 3D face renderings as (N, channels, size, size) uint8 (default 32×32 gray), no labels.

    Looks for ``faces``/``3dfaces`` (folder or archive) in the search dirs, else uses a search dir
    (``data_dir``, ``$INFOGAN_DATA/faces``...) that holds images itself.
    """
    _check_split("faces", split)
    src = _locate("faces", data_dir, FACES_SOURCES, "there is no automatic download for 3D faces")
    d = decode_source(
        src, size, channels, crop=crop, on_bad=on_bad, limit=limit, cache=cache, workers=workers, progress=progress
    )
    return ImageStore(torch.from_numpy(d.images), name="faces")
