"""Checkpoints: safetensors files (no pickle anywhere), atomic writes, a checksum per file.

A checkpoint is one ``.safetensors`` file. Tensors (weights, buffers, optimizer moments, RNG
states) are its tensors; everything else (config, step, optimizer hyperparameters, metrics) is a
JSON document in its metadata, with tensors referenced by key. Loading never executes code.

Beside each file, ``<name>.sha256`` holds the file's SHA-256: a checkpoint whose checksum file is
missing or does not match is incomplete or corrupt and is skipped in favour of an older one. Only
regular files are read, a checkpoint of at most ``MAX_BYTES`` with a JSON document of at most
``MAX_META_BYTES`` nested at most ``MAX_DEPTH`` deep; what the tensors must be is checked by the
trainer (``train.check_state``), before anything is loaded.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from .fsutil import atomic_write, format_size, read_regular, remove_stale_tmp  # re-exported: ckpt.atomic_write

FORMAT = "infogan-checkpoint-1"
_NAME = re.compile(r"step_(\d{9,})\.safetensors")  # save() zero-pads the step to 9 digits
# Bounds on what a file can make a reader do. The largest preset's checkpoint (chairs) is ~450 MiB
# and its JSON document ~10 KiB nested 10 deep; train.MAX_PARAMS keeps every config's below MAX_BYTES.
MAX_BYTES = 4 << 30
MAX_META_BYTES = 1 << 20
MAX_DEPTH = 32
MAX_TENSORS = 100_000
_SIDECAR_BYTES = 4096


class CheckpointError(RuntimeError):
    """No usable checkpoint, or one that does not belong to this run/config."""


class NoCheckpoint(CheckpointError):
    """No checkpoint was ever completed (none, or only writes cut before their checksum)."""


class Refused(CheckpointError):
    """A checkpoint name that is not a regular file, one over ``MAX_BYTES``, or an infogan checkpoint
    whose metadata is damaged or over its bounds: not left by a kill or a full disk (the checksum
    was checked first), so it is an error, not skipped in favour of an older checkpoint."""


def _flatten(obj: Any, tensors: dict[str, torch.Tensor], prefix: str) -> Any:
    """Replace tensors by {"__t": key}; dicts with non-string keys keep their keys as a list."""
    if isinstance(obj, torch.Tensor):
        key = prefix or "t"
        tensors[key] = obj.detach().cpu().contiguous()
        return {"__t": key}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {"__d": {k: _flatten(v, tensors, f"{prefix}.{k}") for k, v in obj.items()}}
        return {"__kv": [[k, _flatten(v, tensors, f"{prefix}.{k}")] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return {"__l": [_flatten(v, tensors, f"{prefix}.{i}") for i, v in enumerate(obj)]}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"checkpoint cannot hold a {type(obj).__name__} at {prefix!r}")


def _unflatten(obj: Any, tensors: dict[str, torch.Tensor], used: set[str] | None = None) -> Any:
    if isinstance(obj, dict):
        if "__t" in obj:
            if used is not None:
                if obj["__t"] in used:
                    raise ValueError(f"tensor {obj['__t']!r} referenced twice")
                used.add(obj["__t"])
            return tensors[obj["__t"]]
        if "__d" in obj:
            return {k: _unflatten(v, tensors, used) for k, v in obj["__d"].items()}
        if "__kv" in obj:
            return {k: _unflatten(v, tensors, used) for k, v in obj["__kv"]}
        if "__l" in obj:
            return [_unflatten(v, tensors, used) for v in obj["__l"]]
        raise CheckpointError(f"unknown node in checkpoint metadata: {sorted(obj)}")
    return obj


def to_bytes(state: dict[str, Any]) -> bytes:
    tensors: dict[str, torch.Tensor] = {}
    tree = _flatten(state, tensors, "s")
    return st_save(tensors, metadata={"format": FORMAT, "tree": json.dumps(tree)})


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def json_depth(text: str) -> int:
    """How deep the arrays and objects of a JSON text nest (0 for a scalar), without parsing it."""
    depth = deepest = 0
    for m in _JSON_TOKEN.finditer(text):
        c = m.group()
        if c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth -= 1
    return deepest


def from_bytes(data: bytes, origin: str = "checkpoint") -> dict[str, Any]:
    """The state in a checkpoint's bytes (tensors and plain data; nothing is executed).

    Raises:
        CheckpointError: not a safetensors file of this format (what a reader skips for an older
            checkpoint); :class:`Refused` (a subclass) for a JSON document over ``MAX_META_BYTES``
            or nested deeper than ``MAX_DEPTH``, more than ``MAX_TENSORS`` tensors, or a tree that
            does not reference each tensor exactly once: with a checksum that verifies, such a
            file was made so on purpose, and is an error.
    """
    header_len = int.from_bytes(data[:8], "little") if len(data) >= 8 else -1
    if not 0 < header_len <= len(data) - 8:
        raise CheckpointError(f"{origin} is not a valid safetensors checkpoint (too short)")
    if header_len > MAX_META_BYTES:
        raise Refused(f"{origin} has a header of {header_len} bytes; at most {format_size(MAX_META_BYTES)} is accepted")
    try:
        header = data[8 : 8 + header_len].decode("utf-8")
        if json_depth(header) > MAX_DEPTH:
            raise ValueError(f"header nested deeper than {MAX_DEPTH}")
        head = json.loads(header)
        if not isinstance(head, dict) or len(head) > MAX_TENSORS + 1:
            raise ValueError(f"header is not an object of at most {MAX_TENSORS} tensors")
        meta = head.get("__metadata__", {})
        if not isinstance(meta, dict):
            raise ValueError("__metadata__ is not an object")  # noqa: TRY004 - caught below as a bad file
        tensors = st_load(data)
    except (SafetensorError, ValueError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{origin} is not a valid safetensors checkpoint ({e})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{origin} is not an infogan checkpoint (format {str(meta.get('format'))[:40]!r})")
    tree = meta.get("tree")
    if not isinstance(tree, str) or json_depth(tree) > MAX_DEPTH:
        raise Refused(f"{origin} has a damaged metadata tree (missing, or nested deeper than {MAX_DEPTH})")
    used: set[str] = set()
    try:
        state = _unflatten(json.loads(tree), tensors, used)
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as e:
        raise Refused(f"{origin} has a damaged metadata tree ({type(e).__name__}: {_short(e)})") from None
    if used != set(tensors):
        raise Refused(f"{origin} has a damaged metadata tree (tensors it does not name: "
                      f"{', '.join(sorted(set(tensors) - used)[:3])})")
    if not isinstance(state, dict):
        raise Refused(f"{origin} has a damaged metadata tree (the state is not a table)")
    return state


def _short(e: BaseException, limit: int = 120) -> str:
    s = " ".join(str(e).split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def save(ckpt_dir: Path, step: int, state: dict[str, Any], keep: int) -> Path:
    """Write ``step_<step>.safetensors`` and its checksum atomically; keep the newest ``keep``.

    Rotation keeps ``step`` and the ``keep - 1`` checkpoints before it, and removes every other
    checkpoint file, whatever its step: older ones, and ones past ``step`` (left by a trajectory
    that no longer exists: a resume or a divergence restore went back before them, so none of them
    verified), which would otherwise count as the newest forever.
    """
    ckpt_dir = Path(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_tmp(ckpt_dir)
    data = to_bytes(state)
    path = ckpt_dir / f"step_{step:09d}.safetensors"
    atomic_write(path, data)
    # The checksum is written last: a file without one is an incomplete write.
    try:
        atomic_write(path.with_suffix(".sha256"), (hashlib.sha256(data).hexdigest() + "\n").encode())
    except BaseException:  # a full disk: leave no checkpoint rather than one without its checksum
        path.unlink(missing_ok=True)
        path.with_suffix(".sha256").unlink(missing_ok=True)
        raise
    files = list_checkpoints(ckpt_dir)
    kept = [p for p in files if checkpoint_step(p) <= step][-keep:]
    for old in files:
        if old not in kept:
            old.unlink(missing_ok=True)
            old.with_suffix(".sha256").unlink(missing_ok=True)
    return path


def checkpoint_step(path: str | Path) -> int:
    """The training step a checkpoint file holds, from its name ``step_<step>.safetensors``.

    Raises:
        CheckpointError: the name is not a checkpoint's.
    """
    m = _NAME.fullmatch(Path(path).name)
    if m is None:
        raise CheckpointError(f"{path} is not a checkpoint file name (expected step_<9+ digits>.safetensors)")
    return int(m.group(1))


def is_checkpoint_name(path: str | os.PathLike) -> bool:
    """Whether ``path``'s name is a checkpoint's, ``step_<9+ digits>.safetensors``."""
    return _NAME.fullmatch(Path(path).name) is not None


def list_checkpoints(ckpt_dir: Path) -> list[Path]:
    """Checkpoint files, oldest step first (by the step number, not the name)."""
    ckpt_dir = Path(ckpt_dir)
    if not ckpt_dir.is_dir():
        return []
    return sorted((p for p in ckpt_dir.iterdir() if _NAME.fullmatch(p.name)), key=checkpoint_step)


def has_complete(ckpt_dir: Path) -> bool:
    """Whether some checkpoint in ``ckpt_dir`` has its checksum file (a write that completed)."""
    return any(p.with_suffix(".sha256").is_file() for p in list_checkpoints(ckpt_dir))


def load_file(path: Path, verify: bool = True) -> dict[str, Any]:
    """Load one checkpoint file, checking its checksum file first when ``verify``.

    Raises:
        CheckpointError: incomplete, corrupt or unreadable; :class:`Refused` (a subclass) when the
            file or its checksum file is not a regular file (a FIFO, a device, a folder) or is
            larger than ``MAX_BYTES``: no write of this package leaves such a file.
    """
    path = Path(path)
    sidecar = path.with_suffix(".sha256")
    try:
        if verify:
            if not os.path.lexists(sidecar):
                raise _Incomplete(f"{path}: no checksum file {sidecar.name}; the write did not complete")
            want = read_regular(sidecar, _SIDECAR_BYTES).decode("ascii", errors="replace").strip()
        data = read_regular(path, MAX_BYTES)
    except FileNotFoundError as e:  # removed by the trainer's rotation while we looked, a dangling link
        raise (_Incomplete if e.filename == str(sidecar) else CheckpointError)(
            f"{e.filename}: cannot read ({e.strerror})") from None
    except OSError as e:
        refused = e.errno in (errno.EINVAL, errno.EISDIR, errno.EFBIG)  # not a regular file, or too big
        raise (Refused if refused else CheckpointError)(f"{e.filename or path}: cannot read ({e.strerror or e})") from None
    if verify:
        got = hashlib.sha256(data).hexdigest()
        if got != want:
            raise CheckpointError(f"{path}: checksum mismatch (file {got[:12]}…, recorded {want[:12]}…); corrupt")
    return from_bytes(data, str(path))


class _Incomplete(CheckpointError):
    """A checkpoint file without its checksum file: a write that was cut."""


def load_latest(ckpt_dir: Path, warn=print) -> tuple[Path, dict[str, Any]]:
    """The newest checkpoint that verifies; corrupt or incomplete newer ones are reported and skipped.
    A checkpoint that the trainer's rotation removes while it is read is neither: the folder is
    listed again, so that a reader of a run in training gets the newest complete checkpoint.

    Raises NoCheckpoint when no checkpoint was ever completed, CheckpointError when some exist but
    none verifies; either names every problem (nothing is warned then: the error says it all).
    """
    ckpt_dir = Path(ckpt_dir)
    if os.path.lexists(ckpt_dir) and not ckpt_dir.is_dir():
        raise CheckpointError(f"{ckpt_dir} is not a folder; a run keeps its checkpoints in a folder of that name")
    for _ in range(10):  # a reader of a live run: the trainer may rotate checkpoints away as we read
        problems: list[CheckpointError] = []
        rotated = False
        for path in reversed(list_checkpoints(ckpt_dir)):
            try:
                state = load_file(path)
            except Refused:
                raise
            except CheckpointError as e:
                if not os.path.lexists(path):  # removed since listed: a newer one exists, list again
                    rotated = True
                    break
                problems.append(e)
                continue
            for e in problems:
                warn(f"warning: skipping checkpoint: {e}")
            return path, state
        if not rotated:
            break
    detail = f" ({'; '.join(map(str, problems))})" if problems else ""
    err = NoCheckpoint if all(isinstance(e, _Incomplete) for e in problems) else CheckpointError
    raise err(f"no usable checkpoint in {ckpt_dir}{detail}")
