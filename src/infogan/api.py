"""Entry points shared by the command line and the multi-seed study: load the data a config names,
and train a config into a run directory (or resume one). ``infogan train`` is :func:`train_run`
plus argv parsing; ``infogan study`` calls it once per seed in worker processes."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from . import checkpoint as ckpt
from . import dist
from .config import RESUME_MAY_CHANGE, Config, config_diff, image_shape
from .data import DataError, ImageStore, load_splits
from .dist import resolve_device
from .run import (
    RunError,
    check_writable,
    checkpoint_image_shape,
    load_run,
    new_run_error,
    run_config,
    truncate_metrics,
    weights_error,
    writer_lock,
)
from .train import Trainer


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def load_data(
    cfg: Config, need_train: bool = True, log: Callable[[str], None] = _stderr
) -> tuple[ImageStore | None, ImageStore | None]:
    """The training and held-out stores of a config's data set.

    Args:
        cfg: the config; its ``[data]`` section names the set, ``image_shape(cfg)`` its image size.
        need_train: False loads only the held-out split (the training store is None).
        log: receives notes, e.g. that CelebA without a split index trains on every image.

    Returns:
        (train, test); test is None where the data has no held-out split.
    """
    return load_splits(cfg.data, image_shape(cfg), need_train, log)


def resolve_folder_size(cfg: Config) -> tuple[Config, str]:
    """A folder config with ``data.size = 0`` (the folder preset's default) with the side its images
    train at (``data.folder.default_size``: their own side below 32 px, else 32), and a line saying
    so; any other config unchanged, with an empty line. The run's config.toml keeps the chosen side."""
    from .data import dataset
    from .data.folder import default_size, native_side

    if cfg.data.size or not (cfg.data.name == "folder" or cfg.data.name.startswith("folder:")):
        return cfg, ""
    _entry, path = dataset(cfg.data.name)
    where = path or cfg.data.data_dir
    side = native_side(where) if where else None
    size = default_size(side)
    cfg = replace(cfg, data=replace(cfg.data, size=size))
    if side is None:
        return cfg, f"images trained at {size} px (data.size)"
    how = ("their own side" if size == side else "downscaled" if size < side and side >= 32
           else "rounded down to a multiple of 4" if size < side else "raised to the smallest side")
    return cfg, f"images of {side} px (median side) trained at {size} px: {how} (data.size)"


def train_run(
    cfg: Config | None,
    run_dir: str | os.PathLike,
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = _stderr,
) -> dict:
    """Train ``cfg`` into a new run directory, or continue ``run_dir`` from its newest good checkpoint.

    The process that trains a run holds its lock (``run.writer_lock``) from before the first file is
    written to the end: a second trainer of the same directory stops at once with RunBusy. Under
    ``torchrun`` every rank calls this; rank 0 holds the lock and writes the files.

    Args:
        cfg: a new run's config. With ``resume``: None continues with the checkpoint's config; a
            config may change only ``config.RESUME_MAY_CHANGE`` (train.steps as the new total,
            train.device, train.threads, data.data_dir) and must equal the run's config otherwise.
        run_dir: a new or empty directory; with ``resume``, an existing run (a run killed before its
            first checkpoint was complete starts again from step 0 with its config.toml).
        resume: continue ``run_dir`` instead of starting it.
        progress: show a progress bar.
        log: receives the one-line messages (training / resuming / notes).

    Returns:
        {"run_dir", "step", and the last evaluation's metrics}.

    Raises:
        RunError, CheckpointError, ConfigError, DataError: one line naming the bad value (RunBusy:
        another process is training ``run_dir``). OSError: a file could not be written (a full
        disk, a read-only folder). A KeyboardInterrupt (Ctrl-C, SIGTERM) arrives after a
        checkpoint at a step boundary.
    """
    run_dir = Path(run_dir)
    if int(os.environ.get("RANK", "0")) != 0:  # torchrun: rank 0 holds the lock for every rank
        return _train_run(cfg, run_dir, resume, progress, log)
    with writer_lock(run_dir, new=not resume):
        return _train_run(cfg, run_dir, resume, progress, log)


def _train_run(cfg: Config | None, run_dir: Path, resume: bool, progress: bool, log: Callable[[str], None]) -> dict:
    """:func:`train_run` once the run's lock is held."""
    if resume:
        wanted = cfg if cfg is not None else run_config(run_dir)
        if dist.launched():  # torchrun: join the group first so that ranks agree before touching files
            dist.setup(resolve_device(wanted.train.device))
        try:
            saved, state, path = load_run(run_dir)
        except ckpt.NoCheckpoint:
            # Killed before its first checkpoint was complete: the run is its config.toml, from step 0.
            saved, state, path = run_config(run_dir), None, None
        if cfg is not None:
            diff = config_diff(saved, cfg)
            if diff:
                raise RunError(f"a resume of {run_dir} may change only {', '.join(RESUME_MAY_CHANGE)}; it has "
                               f"{diff[0]}, not {diff[1]}")
        cfg = cfg if cfg is not None else saved
        done = int(state["step"]) if state else 0
        if cfg.train.steps < done:
            raise RunError(f"--steps {cfg.train.steps} (train.steps) is below the checkpoint's step {done}; "
                           f"give a total >= {done}")
        if dist.is_main():
            check_writable(run_dir)  # everything is checked before the first write below
        train, test = load_data(cfg, log=log)
        want = checkpoint_image_shape(state, path) if state else tuple(train.image_shape)
        if tuple(train.image_shape) != want:
            raise DataError(f"data {cfg.data.name} has images {tuple(train.image_shape)} but the checkpoint "
                            f"expects {want}")
        trainer = Trainer(cfg, run_dir, train, test, progress=progress)
        if state:
            try:
                trainer.load_state(state, path)
            except (RuntimeError, ValueError, KeyError, TypeError) as e:
                raise weights_error(path, e) from None
        if dist.is_main():
            # From here on this process is the run's one writer: clean up after a writer that was killed.
            ckpt.remove_stale_tmp(run_dir / "checkpoints")
            truncate_metrics(run_dir, trainer.step_count)
            origin = f"{path.name} (step {trainer.step_count})" if path else "step 0 (no checkpoint was completed)"
            log(f"resuming {run_dir} from {origin} to step {cfg.train.steps}")
        dist.barrier()  # no rank starts (and writes) before rank 0 has cleaned up
    else:
        if cfg is None:
            raise RunError(f"a new run in {run_dir} needs a config")
        if dist.launched():
            dist.setup(resolve_device(cfg.train.device))
        error = new_run_error(run_dir)  # a file, or not empty (but for the lock file)
        dist.barrier()  # every rank has looked before rank 0 creates anything
        if error is not None:
            raise error
        cfg, size_note = resolve_folder_size(cfg)
        train, test = load_data(cfg, log=log)
        trainer = Trainer(cfg, run_dir, train, test, progress=progress)
        if dist.is_main():
            log(f"training {cfg.preset}: {cfg.latent.describe()} -> {run_dir}")
            if size_note:
                log(size_note)
            if cfg.train.augment == "auto":
                from .augment import AUTO_MAX_IMAGES

                mode = trainer.augment.mode
                log(f"augmentation before D: {mode} ({len(train):,} training images, "
                    f"{'<' if mode != 'off' else '>='} {AUTO_MAX_IMAGES:,}; train.augment)")
    result = trainer.fit()
    return {"run_dir": str(run_dir), "step": trainer.step_count, **result}
