"""Atomic writes: a failed write leaves the old file intact and no temp file behind."""

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from infogan import fsutil
from infogan.fsutil import atomic_open, atomic_path, atomic_write, file_digest, remove_stale_tmp


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_atomic_write_bytes_and_callback(tmp_path):
    p = tmp_path / "a.bin"
    atomic_write(p, b"first")
    assert p.read_bytes() == b"first"
    big = np.arange(100_000, dtype=np.int64)
    atomic_write(p, lambda f: np.save(f, big))  # streamed, replaces the old file
    assert np.array_equal(np.load(p), big)
    assert _names(tmp_path) == ["a.bin"]


def test_failing_callback_keeps_old_file_and_leaves_no_temp(tmp_path):
    p = tmp_path / "state.json"
    p.write_text("old")
    seen = []

    def full_disk(f):
        seen.append(Path(f.name).name)
        f.write(b"half of the new")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError) as e:
        atomic_write(p, full_disk)
    assert e.value.errno == errno.ENOSPC
    assert p.read_text() == "old"
    assert _names(tmp_path) == ["state.json"]
    assert seen == [f".state.json.tmp{os.getpid()}"]  # the name crash tests and remove_stale_tmp look for


def test_atomic_open_text_and_atomic_path_clean_up_on_error(tmp_path):
    p = tmp_path / "rows.csv"
    with atomic_open(p, "w", newline="") as f:
        f.write("a,b\n")
    with pytest.raises(KeyboardInterrupt), atomic_open(p, "w") as f:
        f.write("c,d\n")
        raise KeyboardInterrupt  # not only Exceptions: a Ctrl-C mid-write also leaves no trace
    assert p.read_text() == "a,b\n"
    with pytest.raises(ValueError), atomic_path(p) as tmp:
        tmp.write_text("x")
        raise ValueError("writer bug")
    assert _names(tmp_path) == ["rows.csv"]
    with atomic_path(tmp_path / "new.npy") as tmp:  # a writer that wants a file name (memmap, zip, PIL)
        np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(3,))[:] = 7
    assert np.load(tmp_path / "new.npy").tolist() == [7, 7, 7]
    with pytest.raises(ValueError, match="mode"), atomic_open(p, "a"):
        pass


def test_taken_temp_name_and_stale_temp_files(tmp_path):
    p = tmp_path / "m.jsonl"
    stale = tmp_path / f".m.jsonl.tmp{os.getpid()}"  # left by a killed process that had our pid
    stale.write_text("stale")
    atomic_write(p, b"new")
    assert p.read_bytes() == b"new" and stale.read_text() == "stale"
    assert remove_stale_tmp(tmp_path) == [stale]
    assert _names(tmp_path) == ["m.jsonl"]


def test_file_digest(tmp_path):
    p = tmp_path / "x"
    p.write_bytes(b"abc")
    assert file_digest(p, "md5") == "900150983cd24fb0d6963f7d28e17f72"
    assert file_digest(p) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE write failure is Linux-specific")
def test_real_failing_write_of_bytes(tmp_path):
    """A write that really fails in the kernel (file size limit: EFBIG, as a full disk gives ENOSPC)."""
    script = textwrap.dedent(
        f"""
        import importlib.util, resource, signal, sys
        spec = importlib.util.spec_from_file_location("fsutil", {str(Path(fsutil.__file__))!r})
        fsutil = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(fsutil)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 16, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        try:
            fsutil.atomic_write(sys.argv[1], b"x" * (1 << 20))
        except OSError as e:
            print("failed", e.errno)
        """
    )
    p = tmp_path / "ckpt.bin"
    p.write_bytes(b"old")
    r = subprocess.run([sys.executable, "-c", script, str(p)], capture_output=True, text=True, timeout=60, check=False)
    assert r.stdout.split() == ["failed", str(errno.EFBIG)], r.stderr
    assert p.read_bytes() == b"old"
    assert _names(tmp_path) == ["ckpt.bin"]


@pytest.mark.parametrize("fails", ["replace", "fsync"])
def test_report_md_is_written_atomically(tmp_path, monkeypatch, fails):
    """write_report goes through fsutil: a full disk at the fsync or the rename keeps the old report.md."""
    from helpers import tiny_config

    from infogan.report import write_report

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.toml").write_text(tiny_config().to_toml())  # a run with no metrics yet: no figures
    (run / "report.md").write_text("old report")
    real = {"replace": os.replace, "fsync": os.fsync}

    def full_disk(*args):
        if fails == "fsync" or Path(args[1]).name == "report.md":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real[fails](*args)

    monkeypatch.setattr(fsutil.os, fails, full_disk)
    with pytest.raises(OSError) as e:
        write_report(run)
    assert e.value.errno == errno.ENOSPC
    assert (run / "report.md").read_text() == "old report"
    assert _names(run) == ["config.toml", "report.md"]  # no temp file left
    monkeypatch.undo()
    assert write_report(run) == run / "report.md"
    assert (run / "report.md").read_text().startswith("# InfoGAN run `run`")
    assert _names(run) == ["config.toml", "report.md"]
