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

import json
import os
import sys
from pathlib import Path
from typing import Any, NamedTuple

import torch

from . import checkpoint as ckpt
from .config import Config, ConfigError, config_diff, load_toml
from .nets import build_for

CONFIG = "config.toml"
CHECKPOINTS = "checkpoints"
METRICS = "metrics.jsonl"
EVAL = "eval.json"

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


def _json_lines(path: Path) -> list[tuple[str, dict]]:
    """(line, object) for each line of a JSON-lines file that parses to a JSON object with a numeric
    step; a line cut by a kill, or any other line, is skipped."""
    out = []
    if not path.is_file():
        return out
    for line in path.read_text(errors="replace").splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a kill
        if isinstance(r, dict) and isinstance(r.get("step"), (int, float)) and not isinstance(r["step"], bool):
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
