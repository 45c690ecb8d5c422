"""Hostile neighbours and disks: two processes on one run directory, a full disk, a read-only run
directory, links that loop among the images, metrics lines that are not rows, paths that do not
exist. Each gets one line on stderr and exit status 2 (or works, where it should), and leaves no
half-written file behind (docs/reliability.md, "Neighbours and disks").

The disk-full test uses a small tmpfs where this machine lets the test mount one (root); a fake
writer that raises ENOSPC inside ``infogan.fsutil``'s writes covers every machine.
"""

import contextlib
import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import TINY_TOML, write_tiny_mnist

from infogan import checkpoint as ckpt
from infogan import fsutil
from infogan.cli import main
from infogan.run import LOCK, Run

ROOT = Path(__file__).resolve().parents[1]


def _toml(data: Path, **train) -> str:
    """helpers.TINY_TOML with its data in ``data`` and the given [train] values."""
    text = TINY_TOML.replace('data_dir = "data"', f'data_dir = "{data}"')
    for k, v in train.items():
        text, n = re.subn(rf"^{k} = .*$", f"{k} = {v}", text, flags=re.MULTILINE)
        assert n == 1, k
    return text


@pytest.fixture
def world(tmp_path, monkeypatch):
    """tiny IDX data, tiny.toml (2 steps, a checkpoint each step), an isolated cache; cwd = tmp_path."""
    write_tiny_mnist(tmp_path / "data")
    (tmp_path / "tiny.toml").write_text(_toml(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INFOGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("INFOGAN_DATA", raising=False)
    return tmp_path


def _env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "INFOGAN_DATA"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    env["INFOGAN_CACHE"] = str(tmp / "cache")
    return env


def _cli(tmp: Path, *args, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "infogan.cli", *map(str, args)], cwd=tmp, env=_env(tmp),
                          capture_output=True, text=True, timeout=timeout, check=False)


def _start(tmp: Path, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "infogan.cli", *map(str, args)], cwd=tmp, env=_env(tmp),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _error_line(stderr: str, cmd: str) -> str:
    """The one error line of a failed command (notes before it, such as 'training ...', allowed)."""
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith(f"infogan {cmd}: error: ")]
    assert len(errors) == 1 and stderr.strip().splitlines()[-1] == errors[0], stderr
    return errors[0]


def _temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob(".*.tmp*")]


def _verified_steps(run: Path) -> list[int]:
    """The step of every checkpoint in the run, each of which must verify (no partial checkpoint)."""
    steps = []
    for p in ckpt.list_checkpoints(run / "checkpoints"):
        ckpt.load_file(p)  # raises for a file without its checksum, or a corrupt one
        steps.append(ckpt.checkpoint_step(p))
    return steps


def _seed_of(p: Path) -> int:
    return ckpt.load_file(p)["config"]["train"]["seed"]


# ---- two processes on one run directory --------------------------------------------------------


@pytest.mark.slow
def test_one_trainer_per_run_directory(world):
    """Two trainers started together on one --run-dir: exactly one trains, the other stops at once
    (exit 2, one line); --resume beside the trainer is refused the same way; eval of the live run
    works; after a SIGKILL of the trainer (its lock dies with it) --resume continues the run."""
    (world / "long.toml").write_text(_toml(world / "data", steps=100000, keep_ckpts=1))
    args = ["train", "--config", "long.toml", "--run-dir", "race", "--no-progress"]
    procs = {seed: _start(world, *args, "--seed", seed) for seed in (1, 2)}
    try:
        t0 = time.monotonic()
        while all(p.poll() is None for p in procs.values()) and time.monotonic() - t0 < 240:
            time.sleep(0.1)
        done = [s for s, p in procs.items() if p.poll() is not None]
        assert len(done) == 1, f"one trainer must stop at once, the other train on: {done}"
        loser, winner = done[0], 3 - done[0]
        err = procs[loser].stderr.read()
        assert procs[loser].returncode == 2, err
        line = _error_line(err, "train")
        assert "another process is training race" in line and "--resume race" in line, line
        w = procs[winner]

        def wait_for(cond, what):
            t = time.monotonic()
            while not cond():
                assert w.poll() is None, f"the trainer ended: {w.stderr.read()}"
                assert time.monotonic() - t < 240, f"no {what} within 240 s"
                time.sleep(0.1)

        wait_for(lambda: ckpt.has_complete(world / "race" / "checkpoints"), "complete checkpoint")
        for refused in (["train", "--resume", "race"], args):  # a resume, a new run: both refused
            t = time.monotonic()
            r = _cli(world, *refused)
            assert r.returncode == 2 and "another process is training race" in _error_line(r.stderr, "train")
            assert "resuming" not in r.stderr and time.monotonic() - t < 60
        # a reader of the live run: the newest complete checkpoint, while the trainer rotates them away
        r = _cli(world, "eval", "race", "--json", "--no-quality", "--samples", "64")
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
        assert json.loads(r.stdout)["step"] >= 0
        wait_for(lambda: Run(world / "race").step() not in (None, 0), "checkpoint past step 0")
        w.send_signal(signal.SIGKILL)
        w.wait(60)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait(60)
    run = world / "race"
    assert (run / LOCK).exists()  # left by the SIGKILL, but no longer locked
    assert f"seed = {winner}" in (run / "config.toml").read_text()
    # the SIGKILL may land between a checkpoint's data file and its checksum file: that one is
    # incomplete (every loader skips it); every complete one is the winner's
    complete = [p for p in ckpt.list_checkpoints(run / "checkpoints") if p.with_suffix(".sha256").exists()]
    assert complete and {_seed_of(p) for p in complete} == {winner}
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()[:-1]]
    assert [r["step"] for r in rows] == sorted({r["step"] for r in rows}), "interleaved metrics"
    step = Run(run).step()
    r = _cli(world, "train", "--resume", "race", "--steps", step + 1, "--no-progress")
    assert r.returncode == 0, r.stderr
    assert Run(run).step() == step + 1 and not (run / LOCK).exists() and not _temp_files(run)


def test_reader_lists_again_when_rotation_removes_its_checkpoint(tmp_path, monkeypatch):
    """The trainer saves step 2 (removing step 1, keep=1) between the reader's listing and its
    read of step 1: the reader lists the folder again and gets step 2, without a warning."""
    folder = tmp_path / "checkpoints"
    state = {"config": {}, "step": 1, "w": torch.zeros(8)}
    ckpt.save(folder, 1, state, keep=1)
    real_load, calls = ckpt.load_file, []

    def load_file(path, *args, **kwargs):
        if not calls:
            ckpt.save(folder, 2, {**state, "step": 2}, keep=1)  # the trainer, just now
        calls.append(Path(path).name)
        return real_load(path, *args, **kwargs)

    monkeypatch.setattr(ckpt, "load_file", load_file)
    warned = []
    path, got = ckpt.load_latest(folder, warn=warned.append)
    assert got["step"] == 2 and path.name == "step_000000002.safetensors" and not warned
    assert calls == ["step_000000001.safetensors", "step_000000002.safetensors"]


def test_reader_during_rotation_gets_newest_complete_checkpoint(tmp_path):
    """A reader of a live run never fails because the trainer's rotation removes the checkpoint it
    is reading (keep=1: every save removes the previous one): it lists the folder again."""
    folder = tmp_path / "checkpoints"
    state = {"config": {}, "step": 0, "w": torch.zeros(1 << 20)}  # 4 MiB: reads take a while
    ckpt.save(folder, 0, state, keep=1)
    stop = threading.Event()

    def writer():
        step = 1
        while not stop.is_set():
            ckpt.save(folder, step, {**state, "step": step}, keep=1)
            step += 1

    t = threading.Thread(target=writer)
    t.start()
    warned, steps = [], []
    try:
        t_end = time.monotonic() + 2
        while time.monotonic() < t_end:
            path, got = ckpt.load_latest(folder, warn=warned.append)
            assert got["step"] == ckpt.checkpoint_step(path)
            steps.append(got["step"])
    finally:
        stop.set()
        t.join()
    assert len(steps) > 5 and steps == sorted(steps)
    # the only warning a reader may see: the newest write, not yet complete, was skipped
    assert all("the write did not complete" in w for w in warned), warned


# ---- a full disk ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _tmpfs(where: Path, size: int):
    where.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True,
                       check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.decode().strip()}); the fake-writer test covers it")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_disk_full_tmpfs(world):
    """A real full disk: a tmpfs with room for one checkpoint and a half. The second checkpoint
    fails with ENOSPC: one line naming it, exit 2, no temp file left, the first checkpoint intact;
    once there is room, --resume finishes the run."""
    assert main(["train", "--config", "tiny.toml", "--run-dir", "probe", "--steps", "0", "--no-progress"]) == 0
    size = max(p.stat().st_size for p in ckpt.list_checkpoints(world / "probe" / "checkpoints"))
    room = (size * 3 // 2 + 256 * 1024) // 4096 * 4096
    with _tmpfs(world / "disk", room) as disk:
        r = _cli(world, "train", "--config", "tiny.toml", "--run-dir", disk / "run", "--set", "train.keep_ckpts=1",
                 "--no-progress")
        line = _error_line(r.stderr, "train")
        assert r.returncode == 2 and "step_000000001.safetensors: No space left on device" in line, line
        assert "--resume" in line and not _temp_files(disk)
        assert _verified_steps(disk / "run") == [0]
        subprocess.run(["mount", "-o", f"remount,size={room * 4}", str(disk)], check=True)
        r = _cli(world, "train", "--resume", disk / "run", "--no-progress")
        assert r.returncode == 0, r.stderr
        assert _verified_steps(disk / "run") == [2] and not _temp_files(disk)


class _FullFile:
    """A file whose writes put half of their bytes on the disk, then fail as a full disk does."""

    def __init__(self, f) -> None:
        self._f = f

    def write(self, data):
        self._f.write(data[: len(data) // 2])
        self._f.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):
        return getattr(self._f, name)


@pytest.mark.parametrize("target", ["config.toml", "step_000000001.safetensors", "step_000000001.sha256",
                                    "latest.png", "metrics.jsonl"])
def test_disk_full_fake_writer(target, world, monkeypatch, capsys):
    """ENOSPC in each kind of write of a run (the config, a checkpoint's data, its checksum, a PNG,
    a metrics line): one line naming the file, exit 2, no temp file, every checkpoint left verifies;
    with room again, the run resumes (or, when nothing was left, starts) and finishes."""
    import infogan.train
    import infogan.viz

    real_open, real_builtin_open = fsutil.atomic_open, open

    @contextlib.contextmanager
    def full_atomic_open(path, mode="wb", **kwargs):
        with real_open(path, mode, **kwargs) as f:
            yield _FullFile(f) if Path(path).name == target else f

    def full_open(path, *args, **kwargs):
        f = real_builtin_open(path, *args, **kwargs)
        return _FullFile(f) if Path(path).name == target else f

    with monkeypatch.context() as m:
        m.setattr(fsutil, "atomic_open", full_atomic_open)
        m.setattr(infogan.viz, "atomic_open", full_atomic_open)
        m.setattr(infogan.train, "open", full_open, raising=False)
        capsys.readouterr()
        rc = main(["train", "--config", "tiny.toml", "--run-dir", "run", "--no-progress"])
        err = capsys.readouterr().err
    line = _error_line(err, "train")
    assert rc == 2 and f"{target}: No space left on device (the disk is full" in line, line
    assert not _temp_files(world)
    run = world / "run"
    if target == "config.toml":  # nothing was written: nothing is left, not even the folder
        assert not run.exists()
        args = ["train", "--config", "tiny.toml", "--run-dir", "run", "--no-progress"]
    else:
        assert _verified_steps(run) == ([0, 1] if target == "latest.png" else [0])
        args = ["train", "--resume", "run", "--no-progress"]
    assert main(args) == 0
    assert _verified_steps(run)[-1] == 2 and not _temp_files(world) and not (run / LOCK).exists()
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines if "eval" not in x] == [1, 2]  # the cut line dropped


# ---- a read-only run directory -----------------------------------------------------------------


@contextlib.contextmanager
def _read_only(folder: Path):
    """``folder`` read-only: a read-only bind mount for root (whom permissions do not stop), else chmod."""
    if os.geteuid() == 0:
        if subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True, check=False).returncode:
            pytest.skip("cannot bind-mount here to make a folder read-only for root")
        try:
            subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True, capture_output=True)
            yield
        finally:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)
    else:
        modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")]}
        for p, mode in modes.items():
            p.chmod(mode & ~0o222)
        try:
            yield
        finally:
            for p, mode in modes.items():
                p.chmod(mode)


def _snapshot(root: Path) -> dict:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("argv", [["eval", "run", "--no-quality", "--samples", "32"],
                                  ["sample", "run"],
                                  ["traverse", "run", "--code", "c1"],
                                  ["train", "--resume", "run", "--steps", "3", "--no-progress"],
                                  ["report", "run"]],
                         ids=["eval", "sample", "traverse", "resume", "report"])
def test_read_only_run_directory(argv, world, capsys):
    assert main(["train", "--config", "tiny.toml", "--run-dir", "run", "--no-progress"]) == 0
    before = _snapshot(world / "run")
    with _read_only(world / "run"):
        capsys.readouterr()
        rc = main(argv)
        err = capsys.readouterr().err
    line = _error_line(err, argv[0])
    assert rc == 2 and ("Read-only file system" in line or "Permission denied" in line), line
    assert "run" in line and _snapshot(world / "run") == before


# ---- links that loop or dangle among the images --------------------------------------------------


def _images_with_bad_links(folder: Path, n: int = 40) -> None:
    from PIL import Image

    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    (folder / "dangling.png").symlink_to("nowhere.png")
    (folder / "loop.png").symlink_to("loop.png")


FOLDER = ["--set", "data.name=folder", "--data-dir", "imgs", "--set", "model.arch=generic", "--set", "data.size=32",
          "--steps", "1", "--no-progress"]


def test_links_that_dangle_or_loop_among_images(world, capsys):
    from infogan.data import DataWarning

    _images_with_bad_links(world / "imgs")
    # data.on_bad=skip: both links are left out, and counted
    with pytest.warns(DataWarning, match=r"skipped 2 of 42 image files.*dangling.png.*loop.png"):
        assert main(["train", "--config", "tiny.toml", "--run-dir", "skip", "--set", "data.on_bad=skip", *FOLDER]) == 0
    # data.on_bad=error (the default): one line naming them; nothing written
    capsys.readouterr()
    assert main(["train", "--config", "tiny.toml", "--run-dir", "strict", *FOLDER]) == 2
    line = _error_line(capsys.readouterr().err, "train")
    assert "dangling.png" in line and "loop.png" in line and not (world / "strict").exists()
    # encode: one line naming the first; cluster: skipped and counted
    assert main(["encode", "skip", "imgs", "--out", "codes.csv"]) == 2
    line = _error_line(capsys.readouterr().err, "encode")
    assert "dangling.png" in line and not (world / "codes.csv").exists()
    assert main(["cluster", "skip", "imgs", "--out", "clusters"]) == 0
    assert "(2 unreadable, skipped)" in capsys.readouterr().out


# ---- metrics.jsonl lines that are not rows -------------------------------------------------------


HOSTILE_LINES = ["[1, 2]", '"text"', "null", "7", '{"step": "1"}', '{"step": -1, "loss_d": 1}',
                 '{"step": 1, "eval": 5}', '{"step": 1, "eval": {"entropy": 3, "cluster_accuracy": [1]}}',
                 '{"step": 1, "eval": {"mi_lower_bound": {"c1": "x"}}}', '{"step": 1, "mi/c1": "x"}',
                 '{"step": 1, "mi/c1": [1]}', '{"step": 1, "event": 5}', "[" * 100_000 + "]" * 100_000,
                 '{"step": 1' + "0" * 5000 + "}", '{"step": 1, "loss_d": 2.0']


def test_metrics_lines_that_are_not_rows(world, capsys):
    """report and --resume read metrics.jsonl: a line that is not a row of the form the trainer
    writes is skipped (report) and dropped (resume), never a traceback."""
    assert main(["train", "--config", "tiny.toml", "--run-dir", "run", "--no-progress"]) == 0
    m = world / "run" / "metrics.jsonl"
    good = m.read_text().splitlines()
    m.write_text("\n".join([HOSTILE_LINES[0], good[0], *HOSTILE_LINES[1:], *good[1:]]) + "\n")
    capsys.readouterr()
    assert main(["report", "run"]) == 0, capsys.readouterr().err
    assert main(["train", "--resume", "run", "--steps", "3", "--no-progress"]) == 0, capsys.readouterr().err
    rows = [json.loads(x) for x in m.read_text().splitlines()]
    assert [r["step"] for r in rows if "eval" not in r] == [1, 2, 3]
    assert len(rows) == len(good) + 2  # the new log and eval rows of step 3; no hostile line kept


# ---- an explicit path that does not exist --------------------------------------------------------


def test_named_data_dir_is_never_replaced(world, monkeypatch, capsys):
    """With good data under $INFOGAN_DATA, a --data-dir (or data.data_dir) that does not exist, or
    exists without the data, is an error naming it, not a run on $INFOGAN_DATA's data."""
    shutil.copytree(world / "data", world / "shared" / "mnist")
    monkeypatch.setenv("INFOGAN_DATA", str(world / "shared"))
    (world / "empty").mkdir()
    base = ["train", "--preset", "mnist", "--set", "data.verify=false", "--set", "data.download=false",
            "--set", "train.batch_size=16", "--steps", "1", "--no-progress"]
    for extra, needle in [(["--data-dir", "no/such/dir"], "data_dir no/such/dir does not exist"),
                          (["--set", "data.data_dir=no/such/dir"], "data_dir no/such/dir does not exist"),
                          (["--data-dir", "empty"], "not found (looked in empty, empty/mnist)")]:
        capsys.readouterr()
        assert main([*base, *extra, "--run-dir", "r"]) == 2
        assert needle in _error_line(capsys.readouterr().err, "train") and not (world / "r").exists()
    assert main([*base, "--set", "train.eval_samples=64", "--run-dir", "r"]) == 0  # none named: $INFOGAN_DATA
