"""A run directory, the one place that knows its layout::

    runs/<name>/
      config.toml          the resolved config (written by the trainer when training starts)
      checkpoints/         step_<step>.safetensors + .sha256 (see infogan.checkpoint)
      metrics.jsonl        one JSON object per log step; evaluation rows carry "eval"
      eval.json            the last ``infogan eval`` (or study) result

:class:`Run` reads all of it: the config as a :class:`~infogan.config.Config`, the newest checkpoint
that verifies (by step number, corrupt or incomplete newer ones skipped), the metrics rows (a line
cut by a kill, or one that is not a JSON object, is skipped), eval.json (written atomically), and
the model rebuilt from a checkpoint for eval, sample, encode, cluster and explore.

User mistakes raise :class:`~infogan.checkpoint.CheckpointError` (a run or checkpoint that cannot be
used) or :class:`RunError` (a directory that cannot be used the way asked), each one line naming the
path.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import torch

from . import checkpoint as ckpt
from .config import Config, ConfigError, config_diff, load_toml
from .fsutil import release_lock, try_lock
from .nets import build_for

CONFIG = "config.toml"
CHECKPOINTS = "checkpoints"
METRICS = "metrics.jsonl"
EVAL = "eval.json"
LOCK = ".lock"  # flock-ed by the one process that trains the run (see writer_lock)

# What a training checkpoint holds beyond the optional entries (D_bn_real, rng_ranks, H, ...).
_STATE_KEYS = frozenset({"config", "step", "image_shape", "G", "D", "opt_g", "opt_d", "rng"})


class RunError(ValueError):
    """A directory that cannot be used as a run the way it was asked (it exists already, ...)."""


def _warn(message: str) -> None:
    print(message, file=sys.stderr)


def _brief(e: BaseException, limit: int = 240) -> str:
    """An exception's message on one line, cut to ``limit`` characters (torch's can run to pages)."""
    s = " ".join(str(e).split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def weights_error(path: Path, e: BaseException) -> ckpt.CheckpointError:
    """The error for a checkpoint whose tensors do not fit the config it names.

    Args:
        path: the checkpoint file.
        e: what ``load_state_dict`` (or the trainer's ``load_state``) raised.

    Returns:
        A CheckpointError naming the file, with the cause on one line.
    """
    return ckpt.CheckpointError(f"{path}: weights do not match its config ({_brief(e)})")


def _check_dir(run_dir: Path) -> None:
    if not run_dir.is_dir():
        what = "is a file, not a run directory" if run_dir.exists() else "does not exist"
        raise ckpt.CheckpointError(f"run directory {run_dir} {what}")
    if not (run_dir / CONFIG).is_file():
        raise ckpt.CheckpointError(f"{run_dir} is not a run directory (no {CONFIG})")


def is_run_dir(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a config.toml and a checkpoints/ folder."""
    return (Path(path) / CONFIG).is_file() and (Path(path) / CHECKPOINTS).is_dir()


def run_config(run_dir: str | os.PathLike) -> Config:
    """The config.toml of a run, as a Config.

    Raises:
        CheckpointError: ``run_dir`` is not a run directory, or its config.toml cannot be read.
    """
    run_dir = Path(run_dir)
    _check_dir(run_dir)
    try:
        return load_toml(run_dir / CONFIG)
    except ConfigError as e:
        raise ckpt.CheckpointError(f"{run_dir} has a broken {CONFIG} ({e})") from None


class RunBusy(RunError):
    """Another process is training the run directory (it holds the run's lock)."""


def new_run_error(run_dir: Path) -> RunError | None:
    """Why ``run_dir`` cannot take a new run (a file, or a folder holding anything but the lock
    file), or None when it can (missing or empty)."""
    if run_dir.exists() and not run_dir.is_dir():
        return RunError(f"run directory {run_dir} is a file; give a new or empty directory")
    if run_dir.is_dir() and any(p.name != LOCK for p in run_dir.iterdir()):
        return RunError(f"run directory {run_dir} already exists and is not empty; continue it with "
                        f"--resume {run_dir} (train_run(..., resume=True)) or choose another directory")
    return None


@contextlib.contextmanager
def writer_lock(run_dir: str | os.PathLike, new: bool) -> Iterator[Path]:
    """Hold the run's lock for the block: ``fcntl.flock`` on ``<run_dir>/.lock``, taken by the one
    process that trains (or resumes) the run, for the whole of it.

    The OS drops the lock when the process ends, however it ends: after a SIGKILL the run can be
    resumed at once (a ``.lock`` file it left is not locked). The file is removed on release when
    this process created it or the block ended normally.

    Args:
        run_dir: the run directory.
        new: a new run: ``run_dir`` (and missing parents) is created when missing and must be
            empty once locked; what this call created is removed again when the block fails
            and leaves it empty. Otherwise an existing run (a folder with a config.toml).
    Yields:
        the lock file's path.
    Raises:
        RunBusy: another process holds the lock; nothing was written.
        RunError: a new run's directory is a file or not empty. CheckpointError: not a run.
        OSError: the folder cannot be created or the lock file not opened (read-only, ...).
    """
    run_dir = Path(run_dir)
    lock = run_dir / LOCK
    made: list[Path] = []  # folders this call created, innermost first
    if new:
        # A folder that is not empty and not locked is refused before anything is created in it.
        if (error := new_run_error(run_dir)) is not None and not lock.exists():
            raise error
        missing = [d for d in (run_dir, *run_dir.parents) if not d.exists()]
        for d in reversed(missing):
            try:
                d.mkdir()
                made.insert(0, d)
            except FileExistsError:  # made by a process starting beside this one
                pass
            except OSError as e:  # /proc, a read-only file system, no permission, ...
                _remove_empty(made)
                part = "" if d == run_dir else f": cannot make {d}"
                raise RunError(f"cannot create run directory {run_dir}{part} ({e.strerror})") from e
    else:
        _check_dir(run_dir)
    created = not lock.exists()
    try:
        fd = try_lock(lock)
    except OSError as e:
        _remove_empty(made)
        raise RunError(f"cannot lock run directory {run_dir} for training: {lock} ({e.strerror})") from e
    if fd is None:
        _remove_empty(made)
        raise RunBusy(f"another process is training {run_dir} (it holds {lock}); wait for it to end, or stop it "
                      f"and continue with --resume {run_dir}")
    ok = False
    try:
        if new and (error := new_run_error(run_dir)) is not None:
            raise error
        yield lock
        ok = True
    finally:
        release_lock(fd, lock, remove=created or ok)
        if not ok:
            _remove_empty(made)


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders (innermost first) that are still empty."""
    for d in folders:
        try:
            d.rmdir()
        except OSError:
            return


def load_run(run_dir: str | os.PathLike) -> tuple[Config, dict[str, Any], Path]:
    """(config, checkpoint state, checkpoint path) of a run's newest good checkpoint.

    Raises:
        CheckpointError: ``run_dir`` is not a run, no checkpoint verifies (NoCheckpoint when none was
            ever completed), or the checkpoint does not belong to the run: its config differs from
            the run's config.toml beyond ``config.RESUME_MAY_CHANGE``.
    """
    run_dir = Path(run_dir)
    run_cfg = run_config(run_dir)
    path, state = ckpt.load_latest(run_dir / CHECKPOINTS, warn=_warn)
    missing = sorted(_STATE_KEYS - set(state))
    if missing:
        raise ckpt.CheckpointError(f"{path} is not an infogan training checkpoint (no {', '.join(missing)})")
    try:
        cfg = Config.from_dict(state["config"])
    except ConfigError as e:
        raise ckpt.CheckpointError(f"{path} holds a config this version does not accept ({e})") from None
    diff = config_diff(run_cfg, cfg)
    if diff:
        raise ckpt.CheckpointError(
            f"{path} does not belong to run {run_dir}: {diff[0]} (config.toml) but {diff[1]} (checkpoint); "
            f"remove the checkpoint or resume the run it came from"
        )
    return cfg, state, path


def checkpoint_image_shape(state: dict[str, Any], path: str | os.PathLike = "checkpoint") -> tuple[int, int, int]:
    """The (C, H, W) a checkpoint's networks were built for.

    Raises:
        CheckpointError: the checkpoint's ``image_shape`` is not three sizes in 1..4096.
    """
    shape = state.get("image_shape")
    if isinstance(shape, list) and len(shape) == 3 and all(isinstance(x, int) and 1 <= x <= 4096 for x in shape):
        return tuple(shape)
    raise ckpt.CheckpointError(f"{path}: checkpoint image_shape {shape!r} is not (C, H, W); it was written by an "
                               "incompatible version")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_row(r: Any) -> bool:
    """Whether a parsed metrics.jsonl line has the form the trainer writes: an object with a
    step >= 0 and, besides, numbers (a log row), an "eval" table of per-name numbers, or an "event"."""
    if not (isinstance(r, dict) and _is_number(r.get("step")) and r["step"] >= 0):
        return False
    if "event" in r:
        return isinstance(r["event"], str)
    if "eval" in r:
        ev = r["eval"]
        return isinstance(ev, dict) and all(
            isinstance(v, dict) and all(x is None or _is_number(x) for x in v.values()) for v in ev.values())
    return all(v is None or _is_number(v) for v in r.values())


def _json_lines(path: Path) -> list[tuple[str, dict]]:
    """(line, object) for each line of a JSON-lines file that has the form of a metrics row (see
    :func:`_is_row`); a line cut by a kill, or any other line, is skipped."""
    out = []
    if not path.is_file():
        return out
    for line in path.read_text(errors="replace").splitlines():
        try:
            r = json.loads(line)
        except (ValueError, RecursionError):  # a line cut by a kill; a number of 5000 digits; [[[[...
            continue
        if _is_row(r):
            out.append((line, r))
    return out


def read_metrics(run_dir: str | os.PathLike) -> tuple[list[dict], list[dict]]:
    """The rows of a run's metrics.jsonl.

    Returns:
        (training log rows, evaluation rows); event rows (divergence restores) are left out, and so
        are lines cut by a kill and lines that are not JSON objects with a step.
    """
    rows, evals = [], []
    for _, r in _json_lines(Path(run_dir) / METRICS):
        if "event" in r:
            continue
        if "eval" in r:
            if isinstance(r["eval"], dict):
                evals.append(r)
        else:
            rows.append(r)
    return rows, evals


def truncate_metrics(run_dir: str | os.PathLike, step: int) -> None:
    """Drop metrics.jsonl lines past ``step`` (written after the checkpoint a resume starts from),
    and lines that cannot be read; rewritten atomically."""
    run_dir = Path(run_dir)
    p = run_dir / METRICS
    for stale in run_dir.glob(f".{METRICS}.tmp*"):  # a truncation that was killed
        stale.unlink(missing_ok=True)
    if not p.is_file():
        return
    keep = [line for line, r in _json_lines(p) if r["step"] <= step]
    ckpt.atomic_write(p, ("\n".join(keep) + "\n" if keep else "").encode())


def read_eval(run_dir: str | os.PathLike) -> dict | None:
    """A run's eval.json, or None when it is missing or unreadable."""
    try:
        ev = json.loads((Path(run_dir) / EVAL).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return ev if isinstance(ev, dict) else None


def write_eval(run_dir: str | os.PathLike, result: dict) -> Path:
    """Write ``result`` as the run's eval.json (atomically: a reader sees the old file or the new one).

    Returns:
        The path written.
    """
    path = Path(run_dir) / EVAL
    ckpt.atomic_write(path, (json.dumps(result, indent=1) + "\n").encode())
    return path


class LoadedModel(NamedTuple):
    """A run's networks rebuilt from its newest good checkpoint, in eval mode."""

    config: Config  # the checkpoint's config
    G: torch.nn.Module
    D: torch.nn.Module  # D and Q; BN statistics of real images where the checkpoint has them
    checkpoint: Path
    step: int


def load_model(run_dir: str | os.PathLike, device: str = "cpu") -> LoadedModel:
    """G and D/Q of a run's newest good checkpoint, rebuilt from the checkpoint's config.

    Args:
        run_dir: the run directory.
        device: cpu, cuda, cuda:N or auto.

    Returns:
        (config, G, D, checkpoint path, step); D carries the BN statistics of real images
        (``D_bn_real``) where the checkpoint has them, for inference on real images.

    Raises:
        CheckpointError: see :func:`load_run`; also when the weights do not fit the config.
    """
    from .dist import resolve_device

    cfg, state, path = load_run(run_dir)
    dev = resolve_device(device)
    G, D = build_for(cfg.model, cfg.latent, checkpoint_image_shape(state, path))
    try:
        G.load_state_dict(state["G"])
        D.load_state_dict({**state["D"], **state.get("D_bn_real", {})})
    except (RuntimeError, ValueError) as e:  # tensors that do not fit the config the checkpoint names
        raise weights_error(path, e) from None
    G.to(dev).eval()
    D.to(dev).eval()
    return LoadedModel(cfg, G, D, path, int(state["step"]))


class Run:
    """One run directory (see the module docstring for its layout).

    Args:
        path: the directory; nothing is read until asked for.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / CHECKPOINTS

    def exists(self) -> bool:
        """Whether the directory holds a config.toml and a checkpoints/ folder."""
        return is_run_dir(self.path)

    @property
    def config(self) -> Config:
        """The resolved config in config.toml (CheckpointError when missing or broken)."""
        return run_config(self.path)

    def checkpoints(self) -> list[Path]:
        """Checkpoint files, oldest step first (complete or not)."""
        return ckpt.list_checkpoints(self.checkpoint_dir)

    def latest(self) -> tuple[Config, dict[str, Any], Path]:
        """(config, state, path) of the newest checkpoint that verifies; see :func:`load_run`."""
        return load_run(self.path)

    def step(self) -> int | None:
        """The step of the newest checkpoint that verifies; None when none was ever completed.

        Raises:
            CheckpointError: checkpoints exist but none verifies.
        """
        try:
            path, _ = ckpt.load_latest(self.checkpoint_dir, warn=_warn)
        except ckpt.NoCheckpoint:
            return None
        return ckpt.checkpoint_step(path)

    def metrics(self) -> tuple[list[dict], list[dict]]:
        """(training log rows, evaluation rows) of metrics.jsonl; see :func:`read_metrics`."""
        return read_metrics(self.path)

    def truncate_metrics(self, step: int) -> None:
        """Drop metrics.jsonl lines past ``step``; see :func:`truncate_metrics`."""
        truncate_metrics(self.path, step)

    def read_eval(self) -> dict | None:
        """eval.json, or None when missing or unreadable."""
        return read_eval(self.path)

    def write_eval(self, result: dict) -> Path:
        """Write eval.json atomically; returns its path."""
        return write_eval(self.path, result)

    def load_model(self, device: str = "cpu") -> LoadedModel:
        """G and D/Q of the newest good checkpoint, eval mode; see :func:`load_model`."""
        return load_model(self.path, device)
