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
import functools
import json
import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import torch

from . import checkpoint as ckpt
from .config import MAX_STEPS, Config, ConfigError, config_diff, load_toml
from .evaluate import bn_state
from .fsutil import read_regular, release_lock, try_lock
from .nets import build_classifier, build_for

CONFIG = "config.toml"
CHECKPOINTS = "checkpoints"
METRICS = "metrics.jsonl"
EVAL = "eval.json"
MAX_EVAL_BYTES = 64 << 20  # an eval.json (a few KiB; confusion tables of 128 codes stay far below)
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


def load_run(run_dir: str | os.PathLike, step: int | None = None) -> tuple[Config, dict[str, Any], Path]:
    """(config, checkpoint state, checkpoint path) of a run's newest good checkpoint, or of the
    checkpoint of ``step`` when given.

    Raises:
        CheckpointError: ``run_dir`` is not a run, no checkpoint verifies (NoCheckpoint when none was
            ever completed), the checkpoint does not belong to the run (its config differs from
            the run's config.toml beyond ``config.RESUME_MAY_CHANGE``), or any of its entries does
            not fit its config (:func:`check_state`). Nothing is loaded into a network before that.
            With ``step``: also when the run keeps no checkpoint of that step, or it does not verify.
    """
    run_dir = Path(run_dir)
    run_cfg = run_config(run_dir)
    if step is None:
        path, state = ckpt.load_latest(run_dir / CHECKPOINTS, warn=_warn)
    else:
        kept = ckpt.list_checkpoints(run_dir / CHECKPOINTS)
        path = next((p for p in kept if ckpt.checkpoint_step(p) == step), None)
        if path is None:
            steps = ", ".join(str(ckpt.checkpoint_step(p)) for p in kept) or "none"
            raise ckpt.CheckpointError(f"{run_dir} keeps no checkpoint of step {step} (steps kept: {steps})")
        state = ckpt.load_file(path)
    return check_checkpoint(run_cfg, state, path), state, path


def check_checkpoint(run_cfg: Config, state: dict[str, Any], path: str | os.PathLike) -> Config:
    """The config of a run's checkpoint, once the whole checkpoint is checked (see :func:`load_run`).

    Args:
        run_cfg: the run's config.toml.
        state: the checkpoint as read (``checkpoint.load_file``).
        path: its file, named in errors.
    Returns:
        The checkpoint's own config.
    Raises:
        CheckpointError: one line naming the first problem.
    """
    missing = sorted(_STATE_KEYS - set(state))
    if missing:
        raise ckpt.CheckpointError(f"{path} is not an infogan training checkpoint (no {', '.join(missing)})")
    try:
        cfg = Config.from_dict(state["config"])
    except (ConfigError, TypeError, ValueError) as e:
        raise ckpt.CheckpointError(f"{path} holds a config this version does not accept ({_brief(e)})") from None
    diff = config_diff(run_cfg, cfg)
    if diff:
        raise ckpt.CheckpointError(
            f"{path} does not belong to the run: {diff[0]} (config.toml) but {diff[1]} (checkpoint); "
            f"remove the checkpoint or resume the run it came from"
        )
    check_state(cfg, state, path)
    return cfg


def checkpoint_image_shape(state: dict[str, Any], path: str | os.PathLike = "checkpoint") -> tuple[int, int, int]:
    """The (C, H, W) a checkpoint's networks were built for.

    Raises:
        CheckpointError: the checkpoint's ``image_shape`` is not three sizes in 1..4096.
    """
    shape = state.get("image_shape")
    if isinstance(shape, list) and len(shape) == 3 and all(_is_int(x) and 1 <= x <= 4096 for x in shape):
        return tuple(shape)
    raise ckpt.CheckpointError(f"{path}: checkpoint image_shape {_show(shape)} is not (C, H, W); it was written by an "
                               "incompatible version")


# ---- what a training checkpoint holds ----------------------------------------------------------

MAX_PARAMS = 1 << 28  # weights of G, D/Q and H together (the largest preset, chairs, has 39M)
MAX_WORLD = 4096  # processes of a DDP run whose generator states a checkpoint can hold
_OPTIONAL_KEYS = frozenset({"D_bn_real", "rng_ranks", "world_size", "recoveries", "H", "opt_h", "augment"})
OPTIMIZERS = {"opt_g": "G", "opt_d": "D", "opt_h": "H"}  # each optimizer's network


def make_adam(params, lr: float, cfg: Config) -> torch.optim.Adam:
    """The Adam optimizer a run of ``cfg`` trains a network with (its settings are checked on load)."""
    betas = (cfg.optim.beta1, cfg.optim.beta2)
    # The fused kernel does the whole update in one pass over memory (CPU and CUDA).
    return torch.optim.Adam(params, lr=lr, betas=betas, fused=True)


def optimizer_lr(cfg: Config, name: str) -> float:
    """The configured learning rate of optimizer ``name`` (opt_g, opt_d or opt_h), before divergence restores."""
    return cfg.optim.lr_g if name == "opt_g" else cfg.optim.lr_d


def build_networks(cfg: Config, image_shape: tuple[int, int, int]) -> dict[str, torch.nn.Module]:
    """The networks a run of ``cfg`` trains, initialised from the global RNG in this order: "G", "D"
    (D/Q) and, with ``train.cr_weight`` > 0, InfoGAN-CR's pair classifier "H". Built under
    ``torch.device("meta")`` they cost no memory (how checkpoints are checked).

    Raises:
        ValueError: the architecture cannot take images of ``image_shape``.
    """
    G, D = build_for(cfg.model, cfg.latent, image_shape)
    nets = {"G": G, "D": D}
    if cfg.train.cr_weight > 0:
        c, h, w = image_shape
        nets["H"] = build_classifier(cfg.model.arch, (2 * c, h, w), len(cfg.latent.codes), cfg.model.q_hidden)
    return nets


def count_parameters(cfg: Config, image_shape: tuple[int, int, int]) -> int:
    """The weights of :func:`build_networks` (counted on the meta device: nothing is allocated).

    Raises:
        ValueError: the architecture cannot take images of ``image_shape``.
    """
    return _layout(cfg, tuple(image_shape)).n_params


_Spec = tuple[tuple[int, ...], torch.dtype]  # a tensor's shape and dtype


class _Layout(NamedTuple):
    """What a checkpoint of a config holds, from its networks built on the meta device."""

    tensors: dict[str, dict[str, _Spec]]  # per network ("G", "D", "H", "D_bn_real"): its state dict
    params: dict[str, list[tuple[str, _Spec]]]  # per network: its parameters in optimizer order
    n_params: int


@functools.lru_cache(maxsize=8)
def _layout(cfg: Config, image_shape: tuple[int, int, int]) -> _Layout:
    with torch.device("meta"):  # shapes and dtypes only: nothing is allocated, whatever the config asks
        nets = build_networks(cfg, image_shape)

    def spec(t: torch.Tensor) -> _Spec:
        return tuple(t.shape), t.dtype

    tensors = {name: {k: spec(t) for k, t in net.state_dict().items()} for name, net in nets.items()}
    tensors["D_bn_real"] = {k: spec(t) for k, t in bn_state(nets["D"]).items()}
    params = {name: [(k, spec(p)) for k, p in net.named_parameters()] for name, net in nets.items()}
    return _Layout(tensors, params, sum(p.numel() for net in nets.values() for p in net.parameters()))


def _show(v: Any, limit: int = 60) -> str:
    s = repr(v)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_state(cfg: Config, state: dict[str, Any], path: str | os.PathLike = "checkpoint") -> None:
    """Check a training checkpoint, every tensor and every other entry, against what ``cfg`` builds,
    before anything of it is loaded into a network or an optimizer.

    The expected layout is that of the networks and optimizers ``cfg`` builds (on the meta device,
    so a config that asks for an impossible size allocates nothing): the same names, shapes and
    dtypes; weights, BN statistics and Adam moments finite (BN variances, Adam's second moments
    and counts not negative); each Adam entry (step, exp_avg, exp_avg_sq) of its parameter's shape
    and settings equal to the config's (the learning rate after the recorded restores); generator
    states that a generator takes; ``step`` an integer in 0..MAX_STEPS equal to the step in the
    file name; ``recoveries`` in 0..train.max_recoveries; no entry this version does not write.
    The JSON document's size and depth are bounded when the file is read (``checkpoint.from_bytes``).

    Args:
        cfg: the checkpoint's own config (``state["config"]``, parsed).
        state: the loaded checkpoint.
        path: the file, named in the error; its name gives the step it must hold.
    Raises:
        CheckpointError: one line naming the file, the first bad entry and what was expected.
    """
    bad = _Problems(path)
    missing = sorted(_STATE_KEYS - set(state))
    if missing:
        raise bad(f"it holds no {', '.join(missing)}")
    unknown = sorted(str(k) for k in set(state) - _STATE_KEYS - _OPTIONAL_KEYS)
    if unknown:
        raise bad(f"entry {_show(unknown[0])} is not part of a training checkpoint")
    step = state["step"]
    if not _is_int(step) or not 0 <= step <= MAX_STEPS:
        raise bad(f"step {_show(step)} is not an integer in 0..{MAX_STEPS}")
    if ckpt.is_checkpoint_name(path) and step != ckpt.checkpoint_step(path):
        raise bad(f"step {step} but the file name says step {ckpt.checkpoint_step(path)}")
    recoveries = state.get("recoveries", 0)
    if not _is_int(recoveries) or not 0 <= recoveries <= cfg.train.max_recoveries:
        raise bad(f"recoveries {_show(recoveries)} is not an integer in 0..{cfg.train.max_recoveries} "
                  "(train.max_recoveries)")
    if "augment" in state:
        _check_augment(bad, state["augment"])
    shape = checkpoint_image_shape(state, path)
    try:
        layout = _layout(cfg, shape)
    except ValueError as e:
        raise bad(f"image_shape {list(shape)} does not fit model.arch={cfg.model.arch!r} ({_brief(e, 120)})") from None
    if layout.n_params > MAX_PARAMS:
        raise bad(f"its config builds {layout.n_params:,} weights for images {list(shape)}; at most {MAX_PARAMS:,} "
                  "(MAX_PARAMS) are accepted")
    for name in ("H", "opt_h"):
        if name in state and "H" not in layout.params:
            raise bad(f"it holds {name} but its config trains no H (train.cr_weight = 0)")
    for name, want in layout.tensors.items():
        if name in layout.params or name in state:  # D_bn_real is optional
            _check_tensors(bad, name, state.get(name), want)
    scale = cfg.train.recovery_lr_factor ** recoveries
    for opt, net in OPTIMIZERS.items():
        if net in layout.params:
            group = make_adam([torch.nn.Parameter(torch.zeros(1))], optimizer_lr(cfg, opt) * scale, cfg).param_groups[0]
            _check_adam(bad, opt, state.get(opt), layout.params[net], net, group)
    _check_tensor(bad, "rng", state["rng"], *_GENERATOR, "a generator state has")
    if "rng_ranks" in state or "world_size" in state:
        world, ranks = state.get("world_size"), state.get("rng_ranks")
        if not _is_int(world) or not 2 <= world <= MAX_WORLD:
            raise bad(f"world_size {_show(world)} is not an integer in 2..{MAX_WORLD}")
        if not isinstance(ranks, list) or len(ranks) != world:
            raise bad(f"rng_ranks is not a list of {world} generator states (world_size)")
        for i, t in enumerate(ranks):
            _check_tensor(bad, f"rng_ranks.{i}", t, *_GENERATOR, "a generator state has")
    # Every name, shape and dtype is right: now the values (one pass over the tensors).
    for where, t in bad.values:
        if t.is_floating_point() and t.numel() and not math.isfinite(t.sum(dtype=torch.float64)):
            raise bad(f"{where} holds NaN or infinite values")  # a float64 sum of float32s cannot overflow
        if where.endswith(_NOT_NEGATIVE) and t.numel() and t.min() < 0:
            raise bad(f"{where} holds negative values")
        if where.startswith("rng"):
            try:
                torch.Generator().set_state(t)  # a scratch generator: nothing of the run is touched
            except (RuntimeError, TypeError, ValueError) as e:
                raise bad(f"{where} is not a state a generator takes ({_brief(e, 120)})") from None


def _check_augment(bad, a: Any) -> None:
    """The adaptive augmentation's state: p in [0, 1], finite sums, a step count, pending signs."""
    if not isinstance(a, dict) or set(a) - {"p", "sign_sum", "n_steps", "pending"} or not {"p", "sign_sum", "n_steps"} <= set(a):
        raise bad("augment is not a dict of p, sign_sum, n_steps and pending")
    p, s, n, pending = a["p"], a["sign_sum"], a["n_steps"], a.get("pending", [])
    if not isinstance(p, (int, float)) or isinstance(p, bool) or not 0 <= p <= 1:
        raise bad(f"augment.p {_show(p)} is not a number in [0, 1]")
    if not _is_int(n) or not 0 <= n <= MAX_STEPS:
        raise bad(f"augment.n_steps {_show(n)} is not an integer in 0..{MAX_STEPS}")
    if not isinstance(s, (int, float)) or isinstance(s, bool) or not -n <= s <= n:  # a sum of n means of signs
        raise bad(f"augment.sign_sum {_show(s)} is not a number in [-n_steps, n_steps] = [-{n}, {n}]")
    if not isinstance(pending, list) or len(pending) > 64 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and -1 <= v <= 1 for v in pending):
        raise bad("augment.pending is not a short list of numbers in [-1, 1]")


_GENERATOR = (tuple(torch.Generator().get_state().shape), torch.uint8)  # a CPU generator's state
_NOT_NEGATIVE = ("running_var", "num_batches_tracked", "exp_avg_sq", ".step")  # variances, counts


class _Problems:
    """The first problem of one checkpoint, as the error to raise (``raise bad("...")``); collects
    the tensors whose values are checked once every name, shape and dtype has been."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = path
        self.values: list[tuple[str, torch.Tensor]] = []

    def __call__(self, what: str) -> ckpt.CheckpointError:
        return ckpt.CheckpointError(f"{self.path} cannot be used: {what}")


def _check_tensor(bad, where: str, t: Any, shape: tuple[int, ...], dtype: torch.dtype,
                  whose: str = "its config builds") -> None:
    """One tensor's shape and dtype; its values are checked later (finite, not negative, see check_state)."""
    if not isinstance(t, torch.Tensor):
        raise bad(f"{where} is {_show(t)}, not a tensor")
    if tuple(t.shape) != tuple(shape):
        raise bad(f"{where} has shape {tuple(t.shape)} but {whose} {tuple(shape)}")
    if t.dtype != dtype:
        raise bad(f"{where} has dtype {t.dtype} but {whose} {dtype}")
    bad.values.append((where, t))


def _check_tensors(bad, where: str, got: Any, want: dict[str, _Spec]) -> None:
    """A network's state dict (or D_bn_real) against the freshly built one's: same names, shapes, dtypes."""
    if not isinstance(got, dict):
        raise bad(f"{where} is {_show(got)}, not a table of tensors" if got is not None else f"it holds no {where}")
    for k in want:
        if k not in got:
            raise bad(f"{where}.{k} is missing")
    for k in got:
        if k not in want:
            name = k if isinstance(k, str) and len(k) <= 80 else _show(k)
            raise bad(f"{where}.{name} is not a tensor of the config's {where}")
    for k, (shape, dtype) in want.items():
        _check_tensor(bad, f"{where}.{k}", got[k], shape, dtype)


def _same_setting(got: Any, want: Any) -> bool:
    if isinstance(want, bool) or want is None or isinstance(want, str):
        return type(got) is type(want) and got == want
    if isinstance(want, tuple):
        return isinstance(got, list) and len(got) == len(want) and all(_same_setting(g, w) for g, w in zip(got, want))
    if isinstance(want, (int, float)):  # a float may have been written as an int (weight_decay 0)
        return isinstance(got, (int, float)) and not isinstance(got, bool) and got == want
    return False


def _check_adam(bad, where: str, got: Any, params: list[tuple[str, _Spec]], net: str,
                group: dict[str, Any]) -> None:
    """An Adam state dict: one param group with the config's settings over all of ``net``'s
    parameters, and per parameter nothing or its step, exp_avg and exp_avg_sq."""
    if not isinstance(got, dict) or set(got) != {"state", "param_groups"}:
        raise bad(f"{where} is not an optimizer state (a table of state and param_groups)"
                  if got is not None else f"it holds no {where}")
    groups = got["param_groups"]
    if not isinstance(groups, list) or len(groups) != 1 or not isinstance(groups[0], dict):
        raise bad(f"{where}.param_groups is not a list of one table")
    saved = groups[0]
    if saved.get("params") != list(range(len(params))):
        raise bad(f"{where}.param_groups.0.params is not the indices 0..{len(params) - 1} of {net}'s parameters")
    for k, v in saved.items():
        if k == "params":
            continue
        if k not in group:
            raise bad(f"{where}.param_groups.0.{_show(k)} is not an Adam setting")
        if k == "lr":
            ok = isinstance(v, float) and abs(v - group["lr"]) <= 1e-12 * group["lr"]
        else:
            ok = _same_setting(v, group[k])
        if not ok:
            raise bad(f"{where}.param_groups.0.{k} is {_show(v)}, the config's is {group[k]!r}")
    state = got["state"]
    if not isinstance(state, dict):
        raise bad(f"{where}.state is {_show(state)}, not a table")
    for i, entry in state.items():
        if not _is_int(i) or not 0 <= i < len(params):
            raise bad(f"{where}.state.{_show(i)} is not the index of one of {net}'s {len(params)} parameters")
        pname, (shape, dtype) = params[i]
        if not isinstance(entry, dict) or set(entry) != {"step", "exp_avg", "exp_avg_sq"}:
            raise bad(f"{where}.state.{i} must hold exactly step, exp_avg and exp_avg_sq")
        _check_tensor(bad, f"{where}.state.{i}.step", entry["step"], (), torch.float32)
        for k in ("exp_avg", "exp_avg_sq"):
            _check_tensor(bad, f"{where}.state.{i}.{k}", entry[k], shape, dtype, f"its parameter {net}.{pname} has")


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


# What a trainer writes in a run directory, and whether each is a folder.
_WRITTEN = {CONFIG: False, CHECKPOINTS: True, METRICS: False, "tb": True, "samples": True, "traversals": True,
            "report.md": False, "report": True}


def _kind(p: Path) -> str:
    if p.is_symlink() and not p.exists():
        return "a dangling link"
    return "a folder" if p.is_dir() else "a regular file" if p.is_file() else "a special file (FIFO, device, ...)"


def check_writable(run_dir: str | os.PathLike) -> None:
    """Check, before a resume writes anything, that training can write every part of the run: the
    run directory and each entry of it that training writes (config.toml, checkpoints/,
    metrics.jsonl, tb/, samples/, traversals/, report.md, report/) that exists is of its kind (a
    folder, or a regular file) and writable; and that metrics.jsonl has no rows past step 0 when no
    checkpoint was ever completed (the checkpoints were removed: a resume from step 0 would drop them).

    Raises:
        RunError: naming the first entry that is not; nothing was changed.
    """
    run_dir = Path(run_dir)
    for name, folder in {".": True, **_WRITTEN}.items():
        p = run_dir / name if name != "." else run_dir
        if not os.path.lexists(p):
            continue
        if not (p.is_dir() if folder else p.is_file()):
            raise RunError(f"{p} is {_kind(p)}, not {'a folder' if folder else 'a regular file'}; training writes "
                           f"it, so the resume was stopped before changing anything")
        if not os.access(p, os.W_OK | (os.X_OK if folder else 0)):
            raise RunError(f"{p} is not writable; training writes it, so the resume was stopped before changing "
                           "anything")
    if not ckpt.has_complete(run_dir / CHECKPOINTS):
        logged = max((r["step"] for _, r in _json_lines(run_dir / METRICS)), default=0)
        if logged > 0:
            raise RunError(f"{run_dir} has no completed checkpoint but {METRICS} has rows up to step {logged}: its "
                           f"checkpoints were removed; start a new run (or remove {METRICS} to start this one again)")


def read_eval(run_dir: str | os.PathLike) -> dict | None:
    """A run's eval.json, or None when it is missing or unreadable (also: not a regular file, over
    ``MAX_EVAL_BYTES``, nested too deep to parse)."""
    try:
        ev = json.loads(read_regular(Path(run_dir) / EVAL, MAX_EVAL_BYTES).decode())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
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


def load_model(run_dir: str | os.PathLike, device: str = "cpu", step: int | None = None) -> LoadedModel:
    """G and D/Q of a run's newest good checkpoint (or of the checkpoint of ``step``), rebuilt from
    the checkpoint's config.

    Args:
        run_dir: the run directory.
        device: cpu, cuda, cuda:N or auto.
        step: a kept checkpoint's step (default: the newest good one).

    Returns:
        (config, G, D, checkpoint path, step); D carries the BN statistics of real images
        (``D_bn_real``) where the checkpoint has them, for inference on real images.

    Raises:
        CheckpointError: see :func:`load_run`; also when the weights do not fit the config.
    """
    from .dist import resolve_device

    cfg, state, path = load_run(run_dir, step)
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

    def load_model(self, device: str = "cpu", step: int | None = None) -> LoadedModel:
        """G and D/Q of the newest good checkpoint (or of ``step``'s), eval mode; see :func:`load_model`."""
        return load_model(self.path, device, step)
