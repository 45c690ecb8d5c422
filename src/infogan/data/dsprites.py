"""dSprites (Matthey et al. 2017): the official ``.npz`` and a procedural re-creation of it.

The official file ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` (~26 MB, zip-compressed) holds
``imgs`` (737280, 64, 64) uint8 of 0/1, ``latents_values`` (737280, 6) float64 and
``latents_classes`` (737280, 6) int64 for the factors color (1), shape (3: square, ellipse, heart),
scale (6, linspace(0.5, 1)), orientation (40, linspace(0, 2π)), posX (32, linspace(0, 1)),
posY (32, linspace(0, 1)), every combination once, posY varying fastest.

:func:`load_dsprites` returns the images as 0/255 uint8 (N, 1, 64, 64) and the five non-constant
factors' classes as ``factors`` (N, 5) with ``factor_names``; ``labels`` is the shape class (0..2).
The images are decompressed once into a ``.npy`` in the cache dir (3 GB for the full set) and
memory-mapped afterwards, so loading is instant and light on RAM.

:func:`make_dsprites` writes a file of the same layout from the published factor grid. It is a
RE-CREATION, not the official data: the shapes' exact outlines, sizes and the pixel positions
differ from DeepMind's renderer. Use it for tests and for runs where the official file cannot be
obtained; report results on it as "re-created dSprites". Files it writes carry an
``infogan_recreation`` entry, and :func:`load_dsprites` names such stores ``dsprites-recreated``.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..fsutil import atomic_open, atomic_path
from .common import DataError, cache_dir, check_md5, download_dir, key_of, locate, missing_message, one_line, warn
from .common import download as fetch
from .store import ImageStore

__all__ = ["DSPRITES_FILE", "FACTOR_NAMES", "FACTOR_SIZES", "LATENT_NAMES", "load_dsprites", "make_dsprites"]

DSPRITES_FILE = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
DSPRITES_MD5 = "7da33b31b13a06f4b04a70402ce90c2e"  # the official file (as cited by several loaders)
DSPRITES_URLS = ("https://github.com/deepmind/dsprites-dataset/raw/master/" + DSPRITES_FILE,)
LATENT_NAMES = ("color", "shape", "scale", "orientation", "posX", "posY")
FACTOR_NAMES = LATENT_NAMES[1:]  # color is constant
FACTOR_SIZES = (1, 3, 6, 40, 32, 32)
SHAPES = ("square", "ellipse", "heart")
IMAGE_SIDE = 64
SPRITE_SIDE = 32  # sprites are drawn on a 32x32 canvas and placed at 32x32 offsets in the 64x64 image
RECREATION_TAG = "infogan_recreation"
_CACHE_VERSION = 1


# ---- loading ----------------------------------------------------------------------------------------


def _npy_header(f) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f)
    return np.lib.format.read_array_header_2_0(f)


def load_dsprites(
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    verify: bool = True,
    cache: bool = True,
    progress: bool | None = None,
) -> ImageStore:
    """Load dSprites as (N, 1, 64, 64) uint8 of 0/255 with factor classes.

    dSprites has no train/test split: ``train``, ``test`` and ``all`` all return the whole set (the
    disentanglement metrics are computed on it).

    Args:
        split: train, test or all (the same data).
        data_dir: where to look first (a folder, or the .npz itself).
        download: fetch the official file (into ``data_dir``/dsprites, else the cache dir) when it is
            nowhere to be found.
        verify: check the official file's md5 (files written by :func:`make_dsprites` are not checked).
        cache: decompress ``imgs`` once into a memory-mapped ``.npy`` in the cache dir.
    Returns:
        :class:`ImageStore` with labels = shape class (N,), factors (N, 5) int64 classes of
        (shape, scale, orientation, posX, posY), factor_names.
    """
    if split not in ("train", "test", "all"):
        raise DataError(f"dSprites split must be train, test or all (all the same set), got {split!r}")
    # data_dir may be the .npz itself
    path, dirs = locate("dsprites", data_dir, [DSPRITES_FILE, "dsprites.npz"], files_only=True, accept=Path.is_file)
    if path is None:
        dest = download_dir("dsprites", data_dir)
        if not download or dest is None:
            raise DataError(
                missing_message(
                    "dsprites",
                    [DSPRITES_FILE],
                    dirs,
                    f"or copy it into {dest or dirs[0]}, or write a re-creation "
                    f"with `infogan data make-dsprites`",
                )
            )
        try:
            path = fetch(DSPRITES_URLS, dest / DSPRITES_FILE, DSPRITES_MD5)
        except DataError as e:
            raise DataError(missing_message("dsprites", [DSPRITES_FILE], dirs) + f" Download failed too: {e}") from None

    # 1. open the zip lazily and check its members
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise DataError(
            f"{path}: not a readable .npz ({one_line(e, 80)}); the file is truncated or not the "
            f"dSprites npz (delete it to re-download)"
        ) from None
    with zf:
        members = set(zf.namelist())
        need = {"imgs.npy", "latents_classes.npy", "latents_values.npy"}
        if not need <= members:
            raise DataError(
                f"{path}: holds {sorted(members)}; expected the dSprites arrays imgs, latents_classes, latents_values"
            )
        recreated = RECREATION_TAG + ".npy" in members
        if verify and not recreated and path.name == DSPRITES_FILE:
            check_md5(path, DSPRITES_MD5, "official dSprites npz")
        with zf.open("latents_classes.npy") as f:
            classes = np.lib.format.read_array(f)
        with zf.open("imgs.npy") as f:
            shape, fortran, dtype = _npy_header(f)
        n = shape[0] if shape else 0
        if len(shape) != 3 or shape[1:] != (IMAGE_SIDE, IMAGE_SIDE) or dtype != np.uint8 or fortran:
            raise DataError(
                f"{path}: imgs is {dtype} {shape}{' (Fortran order)' if fortran else ''}; expected uint8 "
                f"(N, 64, 64) in C order"
            )
        if classes.shape != (n, 6) or not np.issubdtype(classes.dtype, np.integer):
            raise DataError(f"{path}: latents_classes is {classes.dtype} {classes.shape}; expected integers ({n}, 6)")

        # 2. imgs: decompress once into a cached 0/255 (N, 1, 64, 64) .npy, memory-mapped
        st = path.stat()
        cfile = (
            cache_dir()
            / "dsprites"
            / f"{path.stem}-{key_of(_CACHE_VERSION, str(path.resolve()), st.st_size, st.st_mtime_ns)}.npy"
        )
        images = _load_cache(cfile, n) if cache else None
        if images is None:
            images = _decompress(zf, path, n, cfile if cache else None, progress)

    factors = classes[:, 1:].astype(np.int64)
    if recreated:
        warn(f"{path}: a re-created dSprites written by make_dsprites, not the official file")
    return ImageStore(
        torch.from_numpy(images),
        torch.from_numpy(factors[:, 0].copy()),
        factors,
        FACTOR_NAMES,
        name="dsprites-recreated" if recreated else "dsprites",
    )


def _load_cache(cfile: Path, n: int) -> np.ndarray | None:
    if not cfile.is_file():
        return None
    try:
        arr = np.load(cfile, mmap_mode="c")
    except (OSError, ValueError):
        return None
    return arr if arr.shape == (n, 1, IMAGE_SIDE, IMAGE_SIDE) and arr.dtype == np.uint8 else None


def _decompress(zf: zipfile.ZipFile, path: Path, n: int, cfile: Path | None, progress: bool | None) -> np.ndarray:
    """imgs as 0/255 (N, 1, 64, 64) uint8: memory-mapped from ``cfile`` (written atomically), or in memory."""
    shape = (n, 1, IMAGE_SIDE, IMAGE_SIDE)
    if cfile is not None:
        try:
            cfile.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(cfile) as tmp:
                out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
                _stream_imgs(zf, path, out, progress)  # reading errors are DataErrors, not OSErrors
                out.flush()
                del out
            return np.load(cfile, mmap_mode="c")
        except OSError as e:
            warn(f"{cfile.parent}: cannot write the dSprites cache ({one_line(e, 80)}); decompressing into memory")
    out = np.empty(shape, np.uint8)
    _stream_imgs(zf, path, out, progress)
    return out


def _stream_imgs(zf: zipfile.ZipFile, path: Path, out: np.ndarray, progress: bool | None) -> None:
    """Stream imgs.npy out of the zip in chunks, 0/1 -> 0/255, into ``out`` (N, 1, 64, 64)."""
    from tqdm.auto import tqdm

    n = len(out)
    per = IMAGE_SIDE * IMAGE_SIDE
    rows = 16384
    show = n >= 100_000 if progress is None else progress
    try:
        with (
            zf.open("imgs.npy") as f,
            tqdm(total=n, desc=f"decompressing {path.name}", unit="img", disable=not show) as bar,
        ):
            _npy_header(f)
            for s in range(0, n, rows):
                k = min(rows, n - s)
                buf = f.read(k * per)
                if len(buf) != k * per:
                    raise DataError(f"{path}: imgs.npy ends after {s + len(buf) // per} of {n} images; truncated?")
                a = np.frombuffer(buf, np.uint8).reshape(k, 1, IMAGE_SIDE, IMAGE_SIDE)
                if a.max(initial=0) > 1:
                    raise DataError(f"{path}: imgs holds values up to {a.max()}; expected the binary 0/1 dSprites")
                np.multiply(a, 255, out=out[s : s + k])
                bar.update(k)
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise DataError(f"{path}: cannot decompress imgs ({one_line(e, 80)}); the file is corrupt") from None


# ---- re-creation ------------------------------------------------------------------------------------


def factor_values(factor_sizes: Sequence[int] = FACTOR_SIZES) -> list[np.ndarray]:
    """The published value grid of each latent, with ``factor_sizes`` points (the official sizes by default)."""
    c, sh, sc, o, x, y = factor_sizes
    return [
        np.ones(c),
        np.arange(1, sh + 1, dtype=np.float64),  # 1 square, 2 ellipse, 3 heart (official coding)
        np.linspace(0.5, 1.0, sc),
        np.linspace(0.0, 2 * np.pi, o),  # 0 and 2π both included, as in the official file
        np.linspace(0.0, 1.0, x),
        np.linspace(0.0, 1.0, y),
    ]


def render_sprites(
    shape_ids: Sequence[int], scales: np.ndarray, angles: np.ndarray, supersample: int = 4
) -> np.ndarray:
    """Binary sprites (len(shape_ids), len(scales), len(angles), 32, 32) uint8 of 0/1.

    The sprite is centred on the 32×32 canvas; at scale 1 a square has side 19 px, an ellipse axes
    29×14 px, a heart width ~20 px. A pixel is on when >= half of its ``supersample``² sub-pixels are.
    """
    s = SPRITE_SIDE * supersample
    t = (np.arange(s) + 0.5) / supersample - SPRITE_SIDE / 2  # sub-pixel centres, pixels from the centre
    v, u = np.meshgrid(t, t, indexing="ij")  # v: down (rows), u: right (cols); (s, s)
    sc = scales[:, None, None, None]  # (S, 1, 1, 1)
    cos, sin = np.cos(angles)[None, :, None, None], np.sin(angles)[None, :, None, None]
    # rotate the sampling grid by -angle (counter-clockwise sprite rotation on screen)
    ur = (cos * u - sin * v) / sc  # (S, A, s, s), in pixels at scale 1
    vr = (sin * u + cos * v) / sc
    out = []
    for sid in shape_ids:
        if sid == 0:  # square
            m = (np.abs(ur) <= 9.5) & (np.abs(vr) <= 9.5)
        elif sid == 1:  # ellipse, long axis horizontal at angle 0
            m = (ur / 14.5) ** 2 + (vr / 7.0) ** 2 <= 1.0
        elif sid == 2:  # heart: (x² + y² - 1)³ - x² y³ <= 0, y up, centred on its bounding box
            k = 9.0  # pixels per heart unit
            x, y = ur / k, -vr / k + 0.118
            m = (x * x + y * y - 1) ** 3 - x * x * y**3 <= 0
        else:
            raise ValueError(f"shape id {sid} is not 0 (square), 1 (ellipse) or 2 (heart)")
        cov = m.reshape(*m.shape[:2], SPRITE_SIDE, supersample, SPRITE_SIDE, supersample).mean(axis=(3, 5))
        out.append((cov >= 0.5).astype(np.uint8))
    return np.stack(out)


def make_dsprites(
    path: str | os.PathLike,
    factor_sizes: Sequence[int] = FACTOR_SIZES,
    *,
    compresslevel: int = 1,
    progress: bool | None = None,
) -> Path:
    """Write a RE-CREATED dSprites ``.npz`` with the official layout (not the official pixels).

    Each (shape, scale, orientation) sprite is rendered once on a 32×32 canvas and placed at every
    (posX, posY) offset of a 32×32 grid (offset = round(pos·31) pixels; posX moves right, posY down),
    so the full 737,280-image set takes seconds to build and is streamed into the zip without being
    held in memory.

    Args:
        path: the ``.npz`` to write (parent folders are created).
        factor_sizes: points per latent (color, shape, scale, orientation, posX, posY); color must be 1,
            shape <= 3 (the first shapes of square, ellipse, heart). E.g. (1, 3, 2, 4, 4, 4) for tests.
        compresslevel: zlib level (1 is fast and still ~10x smaller than the raw 3 GB).
        progress: tqdm bar; None shows it for the full-size set.
    Returns:
        the path written.
    """
    sizes = tuple(int(v) for v in factor_sizes)
    if len(sizes) != 6 or sizes[0] != 1 or not 1 <= sizes[1] <= 3 or min(sizes) < 1:
        raise DataError(
            f"factor_sizes must be 6 sizes (color=1, shape 1..3, scale, orientation, posX, posY >= 1), "
            f"got {tuple(factor_sizes)}"
        )
    from tqdm.auto import tqdm

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    values = factor_values(sizes)
    _, n_sh, n_sc, n_or, n_x, n_y = sizes
    n = int(np.prod(sizes))

    # latents in the official order: row-major over (color, shape, scale, orientation, posX, posY)
    grids = np.meshgrid(*[np.arange(k) for k in sizes], indexing="ij")
    classes = np.stack([g.reshape(-1) for g in grids], axis=1).astype(np.int64)  # (n, 6)
    latent_values = np.stack([values[j][classes[:, j]] for j in range(6)], axis=1)  # (n, 6) float64

    sprites = render_sprites(range(n_sh), values[2], values[3])  # (sh, sc, or, 32, 32)
    off_x = np.rint(values[4] * (IMAGE_SIDE - SPRITE_SIDE - 1)).astype(int)  # 0..31 pixels
    off_y = np.rint(values[5] * (IMAGE_SIDE - SPRITE_SIDE - 1)).astype(int)
    # Placement by a sliding window: canvas Q holds the sprite at (63, 63); the window starting at
    # (63 - oy, 63 - ox) is the 64x64 image with the sprite's top-left corner at (oy, ox).
    big = 2 * IMAGE_SIDE - 1
    rows_idx = (IMAGE_SIDE - 1 - off_y)[None, :]  # (1, ny)
    cols_idx = (IMAGE_SIDE - 1 - off_x)[:, None]  # (nx, 1)

    show = n >= 100_000 if progress is None else progress
    # streamed into a temp file beside path, renamed at the end: a kill never leaves half an .npz
    with (
        atomic_open(path, "wb") as out,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as zf,
    ):
        with zf.open("imgs.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(
                f, {"descr": "|u1", "fortran_order": False, "shape": (n, IMAGE_SIDE, IMAGE_SIDE)}
            )
            canvas = np.zeros((big, big), np.uint8)
            windows = np.lib.stride_tricks.sliding_window_view(canvas, (IMAGE_SIDE, IMAGE_SIDE))
            lo, hi = IMAGE_SIDE - 1, IMAGE_SIDE - 1 + SPRITE_SIDE
            with tqdm(total=n, desc=f"writing {path.name}", unit="img", disable=not show) as bar:
                for sh in range(n_sh):
                    for sc in range(n_sc):
                        for o in range(n_or):
                            canvas[lo:hi, lo:hi] = sprites[sh, sc, o]
                            block = windows[rows_idx, cols_idx]  # (nx, ny, 64, 64): posX outer, posY inner
                            f.write(np.ascontiguousarray(block).tobytes())
                            bar.update(n_x * n_y)
        for name, arr in (
            ("latents_values", latent_values),
            ("latents_classes", classes),
            (RECREATION_TAG, np.array(f"infogan.data.dsprites.make_dsprites v1, factor_sizes={sizes}")),
        ):
            with zf.open(name + ".npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, arr, allow_pickle=False)
    return path
