"""Atomic file writes, file hashes and file locks; standard library only, so any module can import it.

A reader of a file written here sees the old contents or the new ones, never a part: the data go
to a temp file in the same folder (``.<name>.tmp<pid>``), which is flushed, fsynced and renamed
over the target. On any error (a full disk, a kill signal turned into an exception, a bug in the
writer) the temp file is removed and the old file is left as it was. A process killed outright
leaves its temp file behind; :func:`remove_stale_tmp` clears them. An OSError of a write names the
file being written (not its temp file), so that one line can tell the user what failed where.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_open", "atomic_path", "atomic_write", "file_digest", "read_regular", "release_lock",
           "remove_stale_tmp", "try_lock"]


def _reserve_tmp(path: Path) -> Path:
    """Create an empty, unused temp file beside ``path`` and return its name.

    The name is ``.<name>.tmp<pid>`` (what crash tests and :func:`remove_stale_tmp` look for); a
    ``-N`` suffix is added only when that name is taken (another thread, or a stale file of a
    process that had the same pid).
    """
    base = path.with_name(f".{path.name}.tmp{os.getpid()}")
    for n in range(1000):
        tmp = base if n == 0 else base.with_name(f"{base.name}-{n}")
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{base}: 1000 temp files of this name exist; remove the stale ones")


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (best effort: not every platform/filesystem can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _naming(e: OSError, path: Path) -> OSError | None:
    """``e`` naming the file being written, ``path``, where it named no file or a temp file of it (a
    full disk raises ENOSPC from ``write`` with no file name): the user knows ``path``, not the temp.
    None where ``e`` names another file (a writer's own input) or has no errno."""
    if e.errno is None or (e.filename is not None and not Path(e.filename).name.startswith(f".{path.name}.tmp")):
        return None
    return OSError(e.errno, e.strerror or os.strerror(e.errno), str(path))  # the subclass by errno


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on a clean exit it is fsynced and renamed to ``path``.

    For writers that want a file name rather than a file object (``np.lib.format.open_memmap``,
    ``zipfile.ZipFile``, ``PIL.Image.save``, ``Figure.savefig``: pass the format explicitly, the
    temp name has no image suffix). The temp file exists (empty) when the block starts; the block
    may overwrite or replace it. On any exception it is removed and ``path`` is left untouched.

    Args:
        path: the file to write; its folder must exist.
    """
    path = Path(path)
    try:
        tmp = _reserve_tmp(path)
    except OSError as e:  # a read-only or missing folder, no permission, ...
        if (named := _naming(e, path)) is None:
            raise
        raise named from e
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(e, OSError) and (named := _naming(e, path)) is not None:
            raise named from e
        raise
    _fsync_dir(path.parent)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temp file beside ``path`` for writing; on a clean exit it replaces ``path``.

    Args:
        path: the file to write; its folder must exist.
        mode: ``"wb"`` (bytes) or ``"w"`` (text; ``kwargs`` such as ``newline=""`` or ``encoding``
            go to :func:`open`).
    Yields:
        the open file object. Streaming writers (``csv.writer``, ``np.save``) write straight into
        it, so nothing is held twice in memory.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes a new file: mode must be 'w' or 'wb', got {mode!r}")
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as f:
        yield f
        f.flush()
        os.fsync(f.fileno())


def atomic_write(path: str | os.PathLike, data: bytes | Callable[[IO[bytes]], object]) -> None:
    """Write ``path`` atomically: readers see all of the old file or all of the new one.

    Args:
        path: the file to write; its folder must exist.
        data: the bytes, or a callback that writes them to the binary file object it is given
            (for data produced in pieces: ``lambda f: np.save(f, big_array)``).
    """
    with atomic_open(path, "wb") as f:
        if callable(data):
            data(f)
        else:
            f.write(data)


def remove_stale_tmp(folder: str | os.PathLike) -> list[Path]:
    """Delete the temp files of writes that were killed (``.<name>.tmp<pid>``) in ``folder``.

    Only the one process that writes a folder may call this: another writer's temp file would be
    removed under it.
    """
    gone = []
    for p in Path(folder).glob(".*.tmp*"):
        if p.is_file():
            p.unlink(missing_ok=True)
            gone.append(p)
    return gone


def try_lock(path: str | os.PathLike) -> int | None:
    """Take an exclusive lock on the file ``path`` (created when missing), without waiting.

    The lock is ``fcntl.flock`` on the open file: the OS drops it when the process ends, however it
    ends, so a SIGKILL leaves at most the file, never a held lock. A holder may remove the file as
    it lets go (:func:`release_lock`): a process that opened the old file meanwhile sees that
    ``path`` is no longer the file it locked, and tries again.

    Returns:
        the file descriptor that holds the lock (for :func:`release_lock`), or None when another
        process holds it.
    Raises:
        OSError: the file cannot be created or opened (a read-only folder, no permission, ...).
    """
    import fcntl  # POSIX; imported here so that the atomic writes work everywhere

    for _ in range(100):
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        held = os.fstat(fd)
        try:
            now = os.stat(path)
        except FileNotFoundError:
            now = None
        if now is not None and (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
            return fd
        os.close(fd)  # the holder removed the file as it let go: lock the file that is there now
    raise BlockingIOError(errno.EAGAIN, "the lock file keeps being replaced", str(path))


def release_lock(fd: int, path: str | os.PathLike, remove: bool = True) -> None:
    """Let go of a lock taken by :func:`try_lock`; ``remove`` deletes the file first (while held)."""
    try:
        if remove:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
    finally:
        os.close(fd)


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes, read in 1 MiB chunks.

    Args:
        path: the file.
        algorithm: any name :func:`hashlib.new` knows: ``"md5"`` (published data set sums),
            ``"sha256"`` (checkpoints).
    """
    h = hashlib.new(algorithm)
    with _open_regular(path) as f:  # a FIFO or /dev/zero would never end
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _not_regular(path: str | os.PathLike, mode: int) -> OSError:
    if stat.S_ISDIR(mode):
        return IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    kind = next((name for test, name in _KINDS if test(mode)), "not a plain file")
    return OSError(errno.EINVAL, f"not a regular file but {kind}", str(path))


def _open_regular(path: str | os.PathLike) -> IO[bytes]:
    """``open(path, "rb")`` for a regular file (or a link to one) only; anything else raises OSError
    before a byte is read. The open itself never blocks: a FIFO is opened non-blocking, then refused."""
    if not stat.S_ISREG(mode := os.stat(path).st_mode):
        raise _not_regular(path, mode)  # refused before it is opened: opening a device can act
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(mode := os.fstat(fd).st_mode):  # replaced since the stat above
            raise _not_regular(path, mode)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike, limit: int) -> bytes:
    """The bytes of a regular file (or of a link to one) of at most ``limit`` bytes.

    For every file whose size a user or another file controls: a FIFO, a device such as
    /dev/zero, a folder or a file over the limit is refused before it is read, so a read can
    neither block nor fill the memory.

    Args:
        path: the file.
        limit: the most bytes accepted.
    Raises:
        OSError: the file cannot be opened, is not a regular file (strerror says what it is), or is
            larger than ``limit`` (``EFBIG``, strerror names the limit).
    """
    with _open_regular(path) as f:
        if os.fstat(f.fileno()).st_size > limit:
            raise _too_big(path, limit)
        data = f.read(limit + 1)  # a file that grew since the fstat is caught here
    if len(data) > limit:
        raise _too_big(path, limit)
    return data


def _too_big(path: str | os.PathLike, limit: int) -> OSError:
    return OSError(errno.EFBIG, f"larger than the limit of {format_size(limit)} for this file", str(path))


def format_size(n: int) -> str:
    """``n`` bytes in words: 1 MiB, 2 GiB, 512 bytes."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"
