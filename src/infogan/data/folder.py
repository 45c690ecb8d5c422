"""Any folder, ``.zip`` or ``.tar`` (``.tar.gz``, ``.tgz``, ``.tar.bz2``, ``.tar.xz``) of images.

Every image is decoded once with Pillow, centre-cropped to a square, resized to ``size`` × ``size``
and converted to 1 (gray) or 3 (RGB) channels, then stored in one ``(N, C, size, size)`` uint8 array.
That array is cached as a ``.npy`` in the cache dir (``$INFOGAN_CACHE`` or ``~/.cache/infogan``,
under ``images/``) and memory-mapped on later runs, so decoding happens once per
(source path, source mtime/size, size, channels, crop, selection).

What is accepted:

- Files with the suffixes .png .jpg .jpeg .bmp .gif .webp (case-insensitive), anywhere below the
  folder or archive root, taken in sorted order of their relative path. Other files (CSV, txt...)
  and hidden files (``.name``, ``__MACOSX/``) are ignored and counted.
- Mixed sizes and aspect ratios: every image is centre-cropped to a square (or to the ``crop`` box)
  and resized, so sizes need not agree.
- Mixed modes: gray, RGB, palette, CMYK, 16-bit and images with alpha are all converted (alpha is
  composited over white, 16-bit is scaled to 8-bit, gray is repeated to RGB when 3 channels are asked).
- Bad files (truncated or corrupt images, non-images with an image suffix): by default a
  :class:`DataError` listing the first few; with ``on_bad="skip"`` they are left out and the skip is
  reported with a :class:`DataWarning` (again on every cached load, so it is never silent).
"""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import re
import tarfile
import zipfile
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ..fsutil import atomic_path, format_size, read_regular
from .common import DataError, cache_dir, key_of, one_line, warn, write_json_atomic
from .store import ImageStore

__all__ = [
    "ARCHIVE_SUFFIXES",
    "IMAGE_SUFFIXES",
    "Decoded",
    "decode_error",
    "decode_image",
    "decode_source",
    "has_images",
    "is_archive",
    "is_hidden",
    "load_folder",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
FORMAT_VERSION = 1  # bump when decoding changes, so old caches are not reused
MAX_LISTED = 5  # bad files named in a message
MAX_BAD_BEFORE_ABORT = 20  # on_bad="error": stop decoding after this many bad files
CHUNK = 2048  # images handed to the worker pool at a time (bounds memory for big archives)
# An image file is read only when it is a regular file (not a FIFO or a link to a device) of at most
# this size (an 18,000 x 18,000 RGB bitmap); it becomes a few KiB once resized.
MAX_IMAGE_BYTES = 1 << 30


@dataclass(frozen=True)
class Decoded:
    """The result of :func:`decode_source`.

    Attributes:
        images: (N, C, S, S) uint8; a copy-on-write memory map when cached.
        names: the N relative member names, sorted (row i is names[i]).
        md5: md5 of each of the N source files' bytes.
        skipped: (name, reason) of the files left out with ``on_bad="skip"``.
        ignored: how many files were ignored for not having an image suffix.
        cache_file: the ``.npy`` file, or None when not cached.
    """

    images: np.ndarray
    names: tuple[str, ...]
    md5: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]
    ignored: int
    cache_file: Path | None


def is_archive(path: Path) -> bool:
    name = path.name.lower()
    return path.is_file() and any(name.endswith(s) for s in ARCHIVE_SUFFIXES)


def has_images(path: Path) -> bool:
    """Whether ``path`` is an archive, or a folder with at least one image file below it."""
    return is_archive(path) or (
        path.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES and not is_hidden(p.name) for p in path.rglob("*"))
    )


def is_hidden(name: str) -> bool:
    """Whether a relative name is hidden (``.name``, ``__MACOSX/``) and so not an image of the set."""
    return any(part.startswith(".") or part == "__MACOSX" for part in PurePosixPath(name).parts)


def _is_image_name(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES


# ---- reading members ---------------------------------------------------------------------------


class _Source:
    """List and read the files of a folder, a zip or a tar with one interface."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if path.is_dir():
            self.kind = "dir"
        elif not path.exists():
            raise DataError(f"{path}: no such file or folder; expected a folder, .zip or .tar(.gz) of images")
        elif path.name.lower().endswith(".zip"):
            self.kind = "zip"
        elif any(path.name.lower().endswith(s) for s in ARCHIVE_SUFFIXES):
            self.kind = "tar"
        else:
            raise DataError(
                f"{path}: not a folder or an archive of images; accepted: a folder, {', '.join(ARCHIVE_SUFFIXES)}"
            )

    def fingerprint(self) -> list:
        """What identifies this version of the source (for the cache key)."""
        if self.kind != "dir":
            st = self.path.stat()
            return [st.st_size, st.st_mtime_ns]
        entries = []
        for root, _dirs, files in os.walk(self.path):
            for f in files:
                p = Path(root) / f
                try:
                    st = p.stat()
                except OSError:  # a dangling or looping link: reading it fails, and it counts as a bad file
                    st = p.lstat()
                entries.append((p.relative_to(self.path).as_posix(), st.st_size, st.st_mtime_ns))
        entries.sort()
        return [len(entries), key_of(entries)]

    def names(self) -> list[str]:
        """Relative names of all regular files."""
        try:
            if self.kind == "dir":
                return sorted(
                    (Path(root) / f).relative_to(self.path).as_posix()
                    for root, _dirs, files in os.walk(self.path)
                    for f in files
                )
            if self.kind == "zip":
                with zipfile.ZipFile(self.path) as zf:
                    return sorted(i.filename for i in zf.infolist() if not i.is_dir())
            with tarfile.open(self.path, "r:*") as tf:
                return sorted(m.name for m in tf.getmembers() if m.isfile())
        except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as e:
            raise DataError(
                f"{self.path}: cannot read the archive ({one_line(e, 80)}); it is truncated or not a {self.kind}"
            ) from None

    def read(self, wanted: Collection[str]) -> Iterator[tuple[str, bytes | None, str]]:
        """Yield (name, bytes or None, error) for the wanted names, in the cheapest order to read."""
        wanted = set(wanted)
        if self.kind == "dir":
            for n in sorted(wanted):
                try:
                    yield n, read_regular(self.path / n, MAX_IMAGE_BYTES), ""
                except OSError as e:  # also a FIFO, a device, a file over MAX_IMAGE_BYTES: a bad file
                    yield n, None, one_line(e.strerror or e, 80)
        elif self.kind == "zip":
            with zipfile.ZipFile(self.path) as zf:
                for n in sorted(wanted):
                    try:
                        if (size := zf.getinfo(n).file_size) > MAX_IMAGE_BYTES:
                            yield n, None, f"{size} bytes unpacked, over the limit of {format_size(MAX_IMAGE_BYTES)}"
                            continue
                        yield n, zf.read(n), ""
                    except (zipfile.BadZipFile, OSError, EOFError, KeyError) as e:  # bad CRC, truncated
                        yield n, None, one_line(e, 80)
        else:
            try:
                with tarfile.open(self.path, "r:*") as tf:
                    members = sorted(
                        (m for m in tf.getmembers() if m.isfile() and m.name in wanted), key=lambda m: m.offset_data
                    )  # offset order: one sequential pass
                    for m in members:
                        if m.size > MAX_IMAGE_BYTES:
                            yield m.name, None, f"{m.size} bytes, over the limit of {format_size(MAX_IMAGE_BYTES)}"
                            continue
                        try:
                            f = tf.extractfile(m)
                            yield m.name, f.read() if f else b"", ""
                        except (tarfile.TarError, OSError, EOFError) as e:
                            yield m.name, None, one_line(e, 80)
            except (tarfile.TarError, OSError, EOFError) as e:
                raise DataError(
                    f"{self.path}: cannot read the archive ({one_line(e, 80)}); it is truncated or not a tar"
                ) from None


# ---- decoding one image --------------------------------------------------------------------------


def _convert(im: Image.Image, channels: int) -> Image.Image:
    """Any Pillow mode -> "L" or "RGB"; alpha over white, 16/32-bit integer scaled to 8 bits."""
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        a = np.asarray(im, dtype=np.float64)
        if im.mode != "F" and a.max(initial=0) > 255:
            a = a / 257.0  # 16-bit range -> 8-bit
        im = Image.fromarray(np.clip(a + 0.5, 0, 255).astype(np.uint8), "L")
    elif im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, rgba)
    return im.convert("L" if channels == 1 else "RGB")


def decode_image(data: bytes, size: int, channels: int, crop: int | None = None) -> np.ndarray:
    """Decode image bytes to (C, size, size) uint8: centre crop to a square, resize, gray or RGB.

    Args:
        data: the bytes of a PNG/JPEG/... file.
        size: output side in pixels.
        channels: 1 (gray) or 3 (RGB).
        crop: side of the centred square to keep, in source pixels (clipped to the image); None keeps
            the largest centred square.
    Raises:
        Any Pillow/OSError for unreadable data (callers turn it into a bad-file entry).
    """
    with Image.open(io.BytesIO(data)) as im:
        # No JPEG draft (DCT-domain downscaling): it would be ~2x faster but shifts the crop by a
        # fraction of a pixel and mixes 8x8 blocks across the crop edge; decoding happens once anyway.
        im = ImageOps.exif_transpose(im)  # loads: truncated data raises here
        im = _convert(im, channels)
        w, h = im.size
        side = min(w, h) if crop is None else min(crop, w, h)
        left, top = (w - side) // 2, (h - side) // 2
        # crop first: resize(box=...) would let the filter reach outside the crop
        im = im.crop((left, top, left + side, top + side)).resize((size, size), Image.BICUBIC)
        arr = np.asarray(im, dtype=np.uint8)
    return arr[None] if channels == 1 else arr.transpose(2, 0, 1)


def decode_error(e: BaseException) -> str:
    """A short reason for an exception raised by :func:`decode_image` (Pillow raises OSError,
    SyntaxError, ValueError, DecompressionBombError... for broken files)."""
    if isinstance(e, UnidentifiedImageError):
        return "not an image Pillow can identify"
    return one_line(f"{type(e).__name__}: {e}", 80)


def _decode_item(item: tuple[str, bytes | None, str], size: int, channels: int, crop: int | None):
    name, data, err = item
    if data is None:
        return name, None, err or "cannot read", ""
    md5 = hashlib.md5(data).hexdigest()
    try:
        return name, decode_image(data, size, channels, crop), "", md5
    except Exception as e:  # noqa: BLE001 - Pillow raises OSError, SyntaxError, ValueError, DecompressionBombError...
        return name, None, decode_error(e), md5


# ---- decoding a whole source ---------------------------------------------------------------------


def _check_args(size: int, channels: int, crop: int | None, on_bad: str) -> None:
    if not isinstance(size, int) or isinstance(size, bool) or not 4 <= size <= 1024:
        raise DataError(f"image size must be an integer in [4, 1024] (e.g. 32, 64, 128), got {size!r}")
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 (gray) or 3 (RGB), got {channels!r}")
    if crop is not None and (not isinstance(crop, int) or isinstance(crop, bool) or crop < 1):
        raise DataError(f"crop must be a positive number of pixels or None, got {crop!r}")
    if on_bad not in ("error", "skip"):
        raise DataError(f"on_bad must be 'error' or 'skip', got {on_bad!r}")


def _bad_message(path: Path, bad: list[tuple[str, str]], total: int, aborted: bool) -> str:
    listed = "; ".join(f"{n} ({r})" for n, r in bad[:MAX_LISTED])
    more = f" and {len(bad) - MAX_LISTED} more" if len(bad) > MAX_LISTED else ""
    count = f"at least {len(bad)}" if aborted else f"{len(bad)} of {total}"
    return (
        f"{path}: {count} image files cannot be decoded: {listed}{more}; fix or remove them, "
        f"or pass on_bad='skip' to leave them out"
    )


def _skip_message(path: Path, skipped: tuple[tuple[str, str], ...], total: int) -> str:
    listed = "; ".join(f"{n} ({r})" for n, r in skipped[:MAX_LISTED])
    more = f" and {len(skipped) - MAX_LISTED} more" if len(skipped) > MAX_LISTED else ""
    return f"{path}: skipped {len(skipped)} of {total} image files that cannot be decoded: {listed}{more}"


def decode_source(
    path: str | os.PathLike,
    size: int,
    channels: int,
    *,
    crop: int | None = None,
    on_bad: str = "error",
    select: Collection[str] | None = None,
    pattern: str | None = None,
    limit: int | None = None,
    cache: bool = True,
    workers: int | None = None,
    progress: bool | None = None,
) -> Decoded:
    """Decode every image of a folder/zip/tar once into one uint8 array (cached, memory-mapped).

    Args:
        path: a folder, .zip, .tar, .tar.gz/.tgz/.tar.bz2/.tar.xz.
        size: output side (32, 64, 128...); every image is centre-cropped and resized to it.
        channels: 1 (gray) or 3 (RGB).
        crop: side of the centred square kept before resizing (source pixels); None = largest square.
        on_bad: "error" (raise a DataError naming the first bad files) or "skip" (leave them out, warn).
        select: keep only files whose relative name or base name is in this collection.
        pattern: keep only files whose relative name matches this regex (``re.search``).
        limit: keep only the first ``limit`` files (sorted order), after select/pattern.
        cache: store the array as ``.npy`` in the cache dir and memory-map it on later calls.
        workers: decoding processes; None picks the CPU count for big sets (>= 2000 files), 0 = in-process.
        progress: tqdm bar on stderr; None shows it for >= 500 files when stderr is a terminal.
    Returns:
        :class:`Decoded` with (N, C, size, size) uint8 images and the sorted names.
    """
    _check_args(size, channels, crop, on_bad)
    path = Path(path).expanduser()
    src = _Source(path)
    key = key_of(
        FORMAT_VERSION,
        str(path.resolve()),
        src.fingerprint(),
        size,
        channels,
        crop,
        None if select is None else key_of(sorted(select)),
        pattern,
        limit,
    )
    stem = path.name.split(".")[0] or "images"
    cfile = cache_dir() / "images" / f"{stem}-{size}px-{channels}ch-{key}.npy"
    if cache:
        hit = _load_cached(cfile)
        if hit is not None:
            _report(path, hit, on_bad)
            return hit

    # 1. list and filter the members
    all_names = src.names()
    shown = [n for n in all_names if not is_hidden(n)]
    images = [n for n in shown if _is_image_name(n)]
    ignored = len(all_names) - len(images)
    if select is not None:
        sel = set(select)
        images = [n for n in images if n in sel or PurePosixPath(n).name in sel]
    if pattern is not None:
        rx = re.compile(pattern)
        images = [n for n in images if rx.search(n)]
    if limit is not None:
        images = images[: max(0, int(limit))]
    if not images:
        what = "matching the selection " if (select is not None or pattern or limit is not None) else ""
        raise DataError(
            f"{path}: no image files {what}found ({len(all_names)} files; accepted suffixes: "
            f"{', '.join(IMAGE_SUFFIXES)})"
        )

    # 2. decode into a preallocated array (row i = sorted name i), memory-mapped in a temp file of
    # the cache when it is writable; 3. drop the skipped rows; 4. rename it into the cache
    shape = (len(images), channels, size, size)
    decode = partial(
        _decode_rows, src, path, images, size=size, channels=channels, crop=crop, on_bad=on_bad, workers=workers,
        progress=progress,
    )
    if cache:
        started = False
        try:
            cfile.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(cfile) as tmp:
                out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
                started = True  # from here on an OSError is not about the cache being unwritable
                keep, names, sums, skipped = decode(out)  # a DataError removes the temp file
                if len(keep) < len(images):
                    with atomic_path(tmp) as ctmp:  # the compacted array replaces the temp file
                        compact = np.lib.format.open_memmap(
                            ctmp, mode="w+", dtype=np.uint8, shape=(len(keep), *shape[1:])
                        )
                        for s in range(0, len(keep), 4096):
                            compact[s : s + 4096] = out[keep[s : s + 4096]]
                        compact.flush()
                        del compact
                else:
                    out.flush()
                del out
        except OSError as e:
            if started:
                raise
            warn(
                f"{cfile.parent}: cannot write the decoded-image cache ({one_line(e, 80)}); decoding into memory "
                f"(set INFOGAN_CACHE to a writable folder to decode only once)"
            )
            cache = False
    if cache:
        # the metadata that makes the array a valid cache entry is written last
        meta = {
            "version": FORMAT_VERSION,
            "source": str(path),
            "shape": [len(keep), *shape[1:]],
            "names": list(names),
            "md5": list(sums),
            "skipped": [list(s) for s in skipped],
            "ignored": ignored,
        }
        write_json_atomic(cfile.with_suffix(".json"), meta)
        images_arr = np.load(cfile, mmap_mode="c")
    else:
        out = np.empty(shape, np.uint8)
        keep, names, sums, skipped = decode(out)
        images_arr = out[keep] if len(keep) < len(images) else out
    result = Decoded(images_arr, names, sums, skipped, ignored, cfile if cache else None)
    _report(path, result, on_bad)
    return result


def _decode_rows(
    src: _Source,
    path: Path,
    images: list[str],
    out: np.ndarray,
    *,
    size: int,
    channels: int,
    crop: int | None,
    on_bad: str,
    workers: int | None,
    progress: bool | None,
) -> tuple[np.ndarray, tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Decode ``images`` of ``src`` into ``out`` (N, C, S, S), row i = images[i].

    Returns:
        (indices of the rows decoded, their names, their files' md5, (name, reason) of the skipped).
    Raises:
        DataError naming the bad files when ``on_bad="error"`` and some are bad, or all are.
    """
    n = len(images)
    row = {name: i for i, name in enumerate(images)}
    ok = np.zeros(n, bool)
    md5 = [""] * n
    bad: list[tuple[str, str]] = []
    aborted = False
    if workers is None:
        workers = min(os.cpu_count() or 1, 8) if n >= 2000 else 0
    fn = partial(_decode_item, size=size, channels=channels, crop=crop)
    from tqdm.auto import tqdm

    show = (n >= 500 and _stderr_tty()) if progress is None else progress
    bar = tqdm(total=n, desc=f"decoding {path.name}", unit="img", disable=not show)
    pool = multiprocessing.get_context().Pool(workers) if workers > 1 else None
    try:
        it = src.read(images)
        while True:
            chunk = [x for _, x in zip(range(CHUNK), it)]
            if not chunk:
                break
            results = pool.map(fn, chunk, chunksize=64) if pool else map(fn, chunk)
            for name, arr, err, h in results:
                i = row[name]
                md5[i] = h
                if arr is None:
                    bad.append((name, err))
                else:
                    out[i] = arr
                    ok[i] = True
            bar.update(len(chunk))
            if on_bad == "error" and len(bad) >= MAX_BAD_BEFORE_ABORT:
                aborted = True
                break
    finally:
        bar.close()
        if pool is not None:
            pool.terminate()
    if not aborted:  # a listed file that reading never yielded (should not happen): be loud, not silent
        seen_bad = {b for b, _ in bad}
        bad += [(images[i], "listed but not read") for i in np.flatnonzero(~ok) if images[i] not in seen_bad]
    if bad and on_bad == "error":
        bad.sort()
        raise DataError(_bad_message(path, bad, n, aborted))
    keep = np.flatnonzero(ok)
    skipped = tuple(sorted(bad))
    if not len(keep):
        raise DataError(_bad_message(path, list(skipped), n, False).replace("; fix", "; nothing is left; fix"))
    return keep, tuple(images[i] for i in keep), tuple(md5[i] for i in keep), skipped


def _stderr_tty() -> bool:
    import sys

    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def _load_cached(cfile: Path) -> Decoded | None:
    meta_file = cfile.with_suffix(".json")
    if not (cfile.is_file() and meta_file.is_file()):
        return None
    try:
        import json

        meta = json.loads(meta_file.read_text())
        arr = np.load(cfile, mmap_mode="c")
    except (OSError, ValueError):
        return None  # a broken cache is rebuilt, not trusted
    if meta.get("version") != FORMAT_VERSION or list(arr.shape) != meta.get("shape") or arr.dtype != np.uint8:
        return None
    return Decoded(
        arr,
        tuple(meta["names"]),
        tuple(meta["md5"]),
        tuple(tuple(s) for s in meta["skipped"]),
        int(meta["ignored"]),
        cfile,
    )


def _report(path: Path, d: Decoded, on_bad: str) -> None:
    total = len(d.names) + len(d.skipped)
    if d.skipped and on_bad == "error":
        raise DataError(_bad_message(path, list(d.skipped), total, False))
    if d.skipped:
        warn(_skip_message(path, d.skipped, total))


def load_folder(
    path: str | os.PathLike,
    size: int = 32,
    channels: int = 3,
    *,
    crop: int | None = None,
    on_bad: str = "error",
    limit: int | None = None,
    cache: bool = True,
    workers: int | None = None,
    progress: bool | None = None,
) -> ImageStore:
    """Load a folder/zip/tar of images as an :class:`ImageStore` of (N, channels, size, size) uint8.

    Images of mixed sizes, aspect ratios and modes are fine: each is centre-cropped to a square
    (``crop`` px, or the largest one), resized to ``size`` and converted to gray or RGB. Decoded
    once, then cached as a memory-mapped ``.npy`` (see :func:`decode_source` for every argument).
    No labels, no factors.
    """
    d = decode_source(
        path, size, channels, crop=crop, on_bad=on_bad, limit=limit, cache=cache, workers=workers, progress=progress
    )
    return ImageStore(torch.from_numpy(d.images), name=f"folder:{Path(path).name}")


# ---- the folder preset's image size ------------------------------------------------------------

DEFAULT_SIZE = 32  # the folder preset's side for images of 32 px or more (larger ones are downscaled)
MIN_NATIVE = 8  # the smallest side trained at (two stride-2 stages leave 2x2 maps)
SIZE_SAMPLE = 64  # images whose headers decide the native side


def native_side(path: str | os.PathLike, sample: int = SIZE_SAMPLE) -> int | None:
    """The median side of the largest centred square of up to ``sample`` images spread evenly over
    the sorted names of a folder/zip/tar (headers only), or None when none of them can be read."""
    src = _Source(Path(path).expanduser())
    names = [n for n in src.names() if not is_hidden(n) and _is_image_name(n)]
    if not names:
        return None
    step = max(1, len(names) // sample)
    sides = []
    for _name, data, _err in src.read(names[::step][:sample]):
        if data is None:
            continue
        try:
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
                if im.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # EXIF turns it by 90 degrees
                    w, h = h, w
            sides.append(min(w, h))
        except Exception:  # noqa: BLE001, S112 - a broken file decides nothing here; loading reports it
            continue
    return int(np.median(sides)) if sides else None


def default_size(side: int | None) -> int:
    """The folder preset's image side for images whose native side is ``side``: never upscale
    (upscaling adds pixels, not information, and costs compute in every layer), so images below
    32 px train at their own side rounded down to a multiple of 4 (at least 8), all others at 32."""
    if side is None or side >= DEFAULT_SIZE:
        return DEFAULT_SIZE
    return max(MIN_NATIVE, side // 4 * 4)
