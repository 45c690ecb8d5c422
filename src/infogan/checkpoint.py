"""Checkpoints: safetensors files (no pickle anywhere), atomic writes, a checksum per file.

A checkpoint is one ``.safetensors`` file. Tensors (weights, buffers, optimizer moments, RNG
states) are its tensors; everything else (config, step, optimizer hyperparameters, metrics) is a
JSON document in its metadata, with tensors referenced by key. Loading never executes code.

Beside each file, ``<name>.sha256`` holds the file's SHA-256: a checkpoint whose checksum file is
missing or does not match is incomplete or corrupt and is skipped in favour of an older one.
"""

from __future__ import annotations

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

from .fsutil import atomic_write, file_digest, remove_stale_tmp  # re-exported: ckpt.atomic_write

FORMAT = "infogan-checkpoint-1"
_NAME = re.compile(r"step_(\d{9,})\.safetensors")  # save() zero-pads the step to 9 digits


class CheckpointError(RuntimeError):
    """No usable checkpoint, or one that does not belong to this run/config."""


class NoCheckpoint(CheckpointError):
    """No checkpoint was ever completed (none, or only writes cut before their checksum)."""


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


def _unflatten(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if "__t" in obj:
            return tensors[obj["__t"]]
        if "__d" in obj:
            return {k: _unflatten(v, tensors) for k, v in obj["__d"].items()}
        if "__kv" in obj:
            return {k: _unflatten(v, tensors) for k, v in obj["__kv"]}
        if "__l" in obj:
            return [_unflatten(v, tensors) for v in obj["__l"]]
        raise CheckpointError(f"unknown node in checkpoint metadata: {sorted(obj)}")
    return obj


def to_bytes(state: dict[str, Any]) -> bytes:
    tensors: dict[str, torch.Tensor] = {}
    tree = _flatten(state, tensors, "s")
    return st_save(tensors, metadata={"format": FORMAT, "tree": json.dumps(tree)})


def from_bytes(data: bytes, origin: str = "checkpoint") -> dict[str, Any]:
    try:
        tensors = st_load(data)
        header_len = int.from_bytes(data[:8], "little")
        meta = json.loads(data[8 : 8 + header_len]).get("__metadata__", {})
    except (SafetensorError, ValueError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{origin} is not a valid safetensors checkpoint ({e})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{origin} is not an infogan checkpoint (format {meta.get('format')!r})")
    try:
        return _unflatten(json.loads(meta["tree"]), tensors)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise CheckpointError(f"{origin} has a damaged metadata tree ({type(e).__name__}: {e})") from None


def save(ckpt_dir: Path, step: int, state: dict[str, Any], keep: int) -> Path:
    """Write ``step_<step>.safetensors`` and its checksum atomically; keep the newest ``keep``."""
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
    for old in list_checkpoints(ckpt_dir)[:-keep]:
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
    """Load one checkpoint file, checking its checksum file first when ``verify``."""
    path = Path(path)
    try:
        if verify:
            sidecar = path.with_suffix(".sha256")
            if not sidecar.is_file():
                raise _Incomplete(f"{path}: no checksum file {sidecar.name}; the write did not complete")
            want = sidecar.read_text(errors="replace").strip()
            got = file_digest(path, "sha256")
            if got != want:
                raise CheckpointError(f"{path}: checksum mismatch (file {got[:12]}…, recorded {want[:12]}…); corrupt")
        data = path.read_bytes()
    except OSError as e:  # removed by the trainer's rotation while we looked, unreadable, a folder...
        raise CheckpointError(f"{path}: cannot read ({e.strerror or e})") from None
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
    for _ in range(10):  # a reader of a live run: the trainer may rotate checkpoints away as we read
        problems: list[CheckpointError] = []
        rotated = False
        for path in reversed(list_checkpoints(ckpt_dir)):
            try:
                state = load_file(path)
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
