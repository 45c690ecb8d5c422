"""Helpers shared by the data loaders: locating files, md5, downloads, cache keys, atomic writes.

The search order is the one of :mod:`infogan.data.idx`: ``data_dir`` (and ``data_dir/<name>``),
then ``$INFOGAN_DATA/<name>``, then the cache dir (``$INFOGAN_CACHE`` or ``~/.cache/infogan``)/<name>.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.request
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .idx import DataError, cache_dir, search_dirs

__all__ = [
    "DataError",
    "DataWarning",
    "cache_dir",
    "download",
    "find_first",
    "key_of",
    "md5sum",
    "one_line",
    "search_dirs",
    "warn",
    "write_json_atomic",
]


class DataWarning(UserWarning):
    """Something about a data set the user should know (skipped files, a re-created data set)."""


def warn(msg: str) -> None:
    warnings.warn(msg, DataWarning, stacklevel=3)


def one_line(text: Any, limit: int = 120) -> str:
    """``text`` on one line (error messages from decoders can hold newlines), cut to ``limit``."""
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def md5sum(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def find_first(names: Iterable[str], dirs: Iterable[Path]) -> Path | None:
    """The first ``dir/name`` that exists (file or folder), dirs outer, names inner."""
    names = list(names)
    for d in dirs:
        for n in names:
            p = d / n
            if p.exists():
                return p
    return None


def key_of(*parts: Any) -> str:
    """A short stable hash of JSON-able parts, for cache file names."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha1(blob).hexdigest()[:16]


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def download(urls: Iterable[str], dest: Path, md5: str | None = None, retries: int = 3) -> Path:
    """Fetch the first URL that works into ``dest`` (atomically), checking ``md5`` when given.

    Raises DataError with the last errors when every URL fails.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    errors: list[str] = []
    for url in urls:
        for attempt in range(retries):
            try:
                with urllib.request.urlopen(url, timeout=30) as r, open(tmp, "wb") as f:
                    while chunk := r.read(1 << 20):
                        f.write(chunk)
                if md5 and md5sum(tmp) != md5:
                    raise DataError(f"checksum mismatch for {url}")
                os.replace(tmp, dest)
                return dest
            except Exception as e:  # network errors of every kind: retry, then the next URL
                errors.append(f"{url}: {one_line(e, 80)}")
                tmp.unlink(missing_ok=True)
                if attempt + 1 < retries:
                    time.sleep(min(2**attempt, 4) * 0.5)
    raise DataError(f"could not download {dest.name} ({'; '.join(errors[-2:])})")


def missing_message(what: str, names: Iterable[str], dirs: Iterable[Path], hint: str = "") -> str:
    where = ", ".join(str(d) for d in dirs)
    names = list(names)
    return (
        f"{what}: none of {', '.join(names)} found (looked in {where}). Point at a local copy with --data-dir DIR "
        f"or INFOGAN_DATA=DIR (files in DIR/<name>/){'; ' + hint if hint else ''}."
    )
