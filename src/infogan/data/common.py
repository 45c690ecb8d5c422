"""What every data loader shares: the error type, where data files are looked for, downloads with
mirrors and retries, checksums, and the cache dir.

Search order (:func:`search_dirs`), first match wins: a ``data_dir`` the user names (``--data-dir``
or ``data.data_dir``) and ``data_dir/<name>`` and nothing else: it must exist, and it is never
replaced by other data. Without one, ``$INFOGAN_DATA/<name>``, then the cache dir
(``$INFOGAN_CACHE`` or ``~/.cache/infogan``)/<name>. Files that are nowhere are downloaded (where a
public URL exists) from the first mirror that works, verified by md5, into :func:`download_dir`:
``data_dir/<name>`` when a data_dir is named, else the cache dir.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.request
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ..fsutil import atomic_open, atomic_write, file_digest

__all__ = [
    "DataError",
    "DataWarning",
    "cache_dir",
    "check_md5",
    "download",
    "download_dir",
    "find_first",
    "key_of",
    "locate",
    "md5sum",
    "missing_message",
    "one_line",
    "search_dirs",
    "warn",
    "write_json_atomic",
]


class DataError(RuntimeError):
    """A data set that cannot be found, read or verified; the message says what to do."""


class DataWarning(UserWarning):
    """Something about a data set the user should know (skipped files, a re-created data set)."""


def warn(msg: str) -> None:
    """Issue a :class:`DataWarning` attributed to the loader's caller."""
    warnings.warn(msg, DataWarning, stacklevel=3)


def one_line(text: Any, limit: int = 120) -> str:
    """``text`` on one line (error messages from decoders can hold newlines), cut to ``limit``."""
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


# ---- where data lives --------------------------------------------------------------------------


def cache_dir() -> Path:
    """``$INFOGAN_CACHE``, else ``~/.cache/infogan``: downloads and decoded-image caches go here."""
    return Path(os.environ.get("INFOGAN_CACHE", Path.home() / ".cache" / "infogan"))


def search_dirs(name: str, data_dir: str | os.PathLike | None) -> list[Path]:
    """The folders searched for data set ``name``, in order (see the module docstring).

    Raises:
        DataError: ``data_dir`` is given but does not exist (a typo must not train on other data).
    """
    if data_dir:
        if not os.path.exists(data_dir):
            raise DataError(f"{name}: data_dir {data_dir} does not exist (--data-dir or data.data_dir); "
                            f"give the folder (or file) that holds the data, or none to use INFOGAN_DATA "
                            f"or the cache dir")
        return [Path(data_dir), Path(data_dir) / name]
    dirs = []
    if os.environ.get("INFOGAN_DATA"):
        dirs.append(Path(os.environ["INFOGAN_DATA"]) / name)
    dirs.append(cache_dir() / name)
    return dirs


def download_dir(name: str, data_dir: str | os.PathLike | None) -> Path | None:
    """Where data set ``name``'s downloads go: ``data_dir/<name>`` when the user names a folder,
    the cache dir's ``<name>`` when none is named, None (nowhere) when the named data_dir is a file."""
    if not data_dir:
        return cache_dir() / name
    return Path(data_dir) / name if Path(data_dir).is_dir() else None


def find_first(names: Iterable[str], dirs: Iterable[Path], files_only: bool = False) -> Path | None:
    """The first ``dir/name`` that exists (a file, or also a folder unless ``files_only``); dirs outer, names inner."""
    names = list(names)
    for d in dirs:
        for n in names:
            p = d / n
            if p.is_file() if files_only else p.exists():
                return p
    return None


def locate(
    name: str,
    data_dir: str | os.PathLike | None,
    candidates: Sequence[str],
    *,
    files_only: bool = False,
    accept: Callable[[Path], bool] | None = None,
) -> tuple[Path | None, list[Path]]:
    """Find data set ``name``'s source in the search dirs.

    Args:
        name: the data set's folder name under ``$INFOGAN_DATA`` and the cache dir.
        data_dir: the user's explicit folder (or file), searched first; may be None.
        candidates: file/folder names to look for in each search dir, in order of preference.
        files_only: match only regular files (not folders of the same name).
        accept: when no candidate is found, the first search dir for which this is true is the
            source itself (e.g. ``data_dir`` is the ``.npz``, or a folder of images).
    Returns:
        (the source or None, the search dirs, for the "not found" message).
    """
    dirs = search_dirs(name, data_dir)
    found = find_first(candidates, dirs, files_only)
    if found is None and accept is not None:
        found = next((d for d in dirs if accept(d)), None)
    return found, dirs


def missing_message(what: str, names: Iterable[str], dirs: Iterable[Path], hint: str = "") -> str:
    """One line: which files of data set ``what`` were looked for where, and how to point at a local copy."""
    where = ", ".join(str(d) for d in dirs)
    return (
        f"{what}: {' or '.join(names)} not found (looked in {where}). Point at a local copy with --data-dir DIR "
        f"or INFOGAN_DATA=DIR (files in DIR/{what}/){'; ' + hint if hint else ''}."
    )


# ---- checksums, downloads, cache files ------------------------------------------------------------


def md5sum(path: str | os.PathLike) -> str:
    """md5 hex digest of a file (the published sums of MNIST, SVHN, dSprites are md5)."""
    return file_digest(path, "md5")


def check_md5(path: Path, want: str, what: str, hint: str = "delete it to re-download, or pass verify=False") -> None:
    """Raise :class:`DataError` unless ``path``'s md5 is ``want``.

    Args:
        path: the file to check.
        want: the official md5 hex digest.
        what: what the file should be, for the message (e.g. ``"official SVHN test_32x32.mat"``).
        hint: what the user can do about it.
    """
    got = md5sum(path)
    if got != want:
        raise DataError(
            f"{path}: md5 {got} does not match the official {want}; the file is corrupt or not the {what} ({hint})"
        )


def key_of(*parts: Any) -> str:
    """A short stable hash of JSON-able parts, for cache file names."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha1(blob).hexdigest()[:16]


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON, atomically (readers of a cache never see half a file)."""
    atomic_write(path, json.dumps(data).encode())


def download(urls: Iterable[str], dest: Path, md5: str | None = None, retries: int = 3) -> Path:
    """Fetch the first URL that works into ``dest`` (atomically), checking ``md5`` when given.

    Each URL (a mirror) is tried ``retries`` times with a short back-off before the next one.

    Raises:
        DataError with the last errors when every URL fails.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    for url in urls:
        for attempt in range(retries):
            try:
                with atomic_open(dest, "wb") as f, urllib.request.urlopen(url, timeout=30) as r:
                    h = hashlib.md5()
                    while chunk := r.read(1 << 20):
                        f.write(chunk)
                        h.update(chunk)
                    if md5 and h.hexdigest() != md5:  # raised inside: the temp file is removed
                        raise DataError(f"checksum mismatch for {url}")
                return dest
            except Exception as e:  # noqa: BLE001 - network errors of every kind: retry, then the next URL
                errors.append(f"{url}: {one_line(e, 80)}")
                if attempt + 1 < retries:
                    time.sleep(min(2**attempt, 4) * 0.5)
    raise DataError(f"could not download {dest.name} ({'; '.join(errors[-2:])})")
