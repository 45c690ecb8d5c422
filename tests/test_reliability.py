"""No lost work under kill: SIGKILL ``infogan train`` at seeded random moments, resume, compare.

The main test runs the real CLI (``python -m infogan.cli train``) as a subprocess on a tiny IDX
data set (8x8 images written here in the MNIST format), kills it with SIGKILL during steps,
inside checkpoint writes (data half written; data complete but checksum not yet written), inside
the metrics truncation a resume starts with and inside the very first checkpoint, and once stops
it with SIGTERM (which must checkpoint at a step boundary and exit 130); resumes with ``infogan
train --resume`` each time, and checks that the final G, D, optimizer and RNG state and
metrics.jsonl equal those of an uninterrupted run bit for bit. The kill points tried and the
outcome are printed in the test output (``pytest -s`` not needed).
"""

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import write_tiny_mnist

from infogan import checkpoint as ckpt
from infogan.run import truncate_metrics

ROOT = Path(__file__).resolve().parents[1]
SLOW_CLI = Path(__file__).with_name("slow_write_cli.py")
STEPS, CKPT_EVERY = 24, 4
SEED = 20240607  # picks the kill points


def tiny_toml(data: Path) -> str:
    return f"""preset = "mnist"
[data]
data_dir = "{data}"
download = false
verify = false
[train]
steps = {STEPS}
batch_size = 16
log_every = 1
ckpt_every = {CKPT_EVERY}
keep_ckpts = 3
eval_every = 0
eval_samples = 64
threads = 1
device = "cpu"
[latent]
noise = 62
[[latent.codes]]
kind = "categorical"
k = 10
[[latent.codes]]
kind = "uniform"
lam = 0.1
"""


def _env(tmp: Path, slow_names: str = "") -> dict:
    env = {k: v for k, v in os.environ.items() if k != "INFOGAN_DATA"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    env["INFOGAN_CACHE"] = str(tmp / "cache")
    env["INFOGAN_TEST_WRITE_DELAY"] = "0.3"
    env["INFOGAN_TEST_SLOW_NAMES"] = slow_names
    return env


def _logged_step(run: Path) -> int:
    """The step of the last complete metrics line (-1 if none)."""
    try:
        lines = (run / "metrics.jsonl").read_text().split("\n")[:-1]
    except FileNotFoundError:
        return -1
    for line in reversed(lines):
        try:
            return json.loads(line)["step"]
        except (json.JSONDecodeError, KeyError):
            continue
    return -1


def _tmp_files(run: Path) -> list[str]:
    return sorted(str(p.relative_to(run)) for p in run.rglob(".*.tmp*"))


def _ckpt_step_of_tmp(name: str) -> int:
    return int(name.split("step_")[1][:9])


def _wait_and_kill(proc: subprocess.Popen, run: Path, kind: str, target: int, rng: random.Random, log: Path) -> str:
    """Poll until the kill moment of ``kind``, SIGKILL; returns what was seen at the kill.

    Only this process's own writes count: temp files end in its pid, and metrics lines are looked
    at once it has said "training"/"resuming" (after the resume has truncated metrics.jsonl).
    """
    deadline = time.monotonic() + 120
    mine = f"tmp{proc.pid}"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"training ended (rc {proc.returncode}) before the {kind} kill at {target}")
        seen = None
        if kind in ("step", "sigterm"):
            started = any(w in log.read_text() for w in ("training ", "resuming "))
            s = _logged_step(run) if started else -1
            if s >= target:
                time.sleep(rng.uniform(0, 0.03))  # somewhere inside the next step
                seen = f"last logged step {s}"
        elif kind in ("ckpt-data", "ckpt-sum", "first-ckpt"):
            suffix = ".sha256.tmp" if kind == "ckpt-sum" else ".safetensors.tmp"
            hits = [p.name for p in (run / "checkpoints").glob(f".step_*{suffix}{proc.pid}")]
            hits = [h for h in hits if _ckpt_step_of_tmp(h) >= target]
            if hits:
                seen = f"inside the write of {hits[0]}"
        elif kind == "truncate":
            hits = [p.name for p in run.glob(f".metrics.jsonl.{mine}")]
            if hits:
                seen = f"inside the write of {hits[0]}"
        if seen:
            proc.send_signal(signal.SIGTERM if kind == "sigterm" else signal.SIGKILL)
            proc.wait(timeout=120)
            return seen
        time.sleep(0.01)
    raise AssertionError(f"no {kind} kill moment within 120 s")


def _start(args, tmp, log: Path, slow_names: str | None = None) -> subprocess.Popen:
    """``python -m infogan.cli ARGS``, or the slow-write CLI when ``slow_names`` (a regex) is given."""
    slow = slow_names is not None
    cmd = [sys.executable, *([str(SLOW_CLI)] if slow else ["-m", "infogan.cli"]), *map(str, args)]
    with open(log, "w") as err:
        return subprocess.Popen(cmd, cwd=tmp, env=_env(tmp, slow_names or ""), stdout=err, stderr=subprocess.STDOUT)


def _final_state(run: Path) -> dict:
    return ckpt.load_file(run / "checkpoints" / f"step_{STEPS:09d}.safetensors")


def _log_rows(run: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    for r in rows:
        for k in ("it_s", "wall_s", "eval_s"):  # wall-clock times, the only things allowed to differ
            r.pop(k, None)
    return rows


def _flat(state: dict) -> dict[str, torch.Tensor]:
    out = {f"G.{k}": v for k, v in state["G"].items()}
    out.update({f"D.{k}": v for k, v in state["D"].items()})
    for opt in ("opt_g", "opt_d"):
        for i, st in state[opt]["state"].items():
            out.update({f"{opt}.{i}.{k}": v for k, v in st.items()})
    out["rng"] = state["rng"]
    return out


def _plan(rng: random.Random) -> list[str]:
    """Kill kinds in a seeded order: one in the very first checkpoint, then every other kind."""
    rest = ["step", "ckpt-data", "ckpt-sum", "truncate", "sigterm"]
    rng.shuffle(rest)
    while rest[0] == "truncate":  # right after the first kill there is no metrics.jsonl to truncate yet
        rng.shuffle(rest)
    return ["first-ckpt", *rest]


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_equals_uninterrupted_run(tmp_path, capsys):
    data = write_tiny_mnist(tmp_path / "data", n_train=64, n_test=32, side=8)
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(tiny_toml(data))
    rng = random.Random(SEED)
    # The uninterrupted reference run, alongside the killed one (nothing below depends on its timing).
    ref = tmp_path / "ref"
    ref_proc = _start(["train", "--config", cfg, "--run-dir", ref, "--no-progress"], tmp_path, tmp_path / "ref.log")
    try:
        records, final = _kill_resume_chain(tmp_path, cfg, rng)
        assert ref_proc.wait(timeout=300) == 0, (tmp_path / "ref.log").read_text()
    finally:
        if ref_proc.poll() is None:
            ref_proc.kill()
            ref_proc.wait()
    run = tmp_path / "killed"
    assert _tmp_files(run) == [], "stale temp files were not cleaned up"
    a, b = _flat(_final_state(ref)), _flat(_final_state(run))
    assert a.keys() == b.keys()
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, f"tensors differ from the uninterrupted run: {differ[:5]}"
    ra, rb = _log_rows(ref), _log_rows(run)
    steps = [x["step"] for x in rb if "loss_d" in x]
    assert steps == list(range(1, STEPS + 1)), "metrics.jsonl steps missing or repeated after the resumes"
    assert ra == rb, "metrics.jsonl differs from the uninterrupted run"
    with capsys.disabled():
        print(f"\nkill-and-resume (seed {SEED}, {STEPS} steps, checkpoint every {CKPT_EVERY}):")
        for line in records:
            print("  " + line)
        print(f"  final resume: {final}")
        n_term = sum("sigterm" in line for line in records)
        print(f"  result: {len(records) - n_term} SIGKILLs and {n_term} SIGTERM; {len(a)} tensors (G, D, both Adam "
              f"states, RNG) and "
              f"{len(rb)} metrics lines (it_s aside) identical to the uninterrupted run bit for bit")


def _kill_resume_chain(tmp_path: Path, cfg: Path, rng: random.Random) -> tuple[list[str], str]:
    """Start, SIGKILL at each planned moment, resume, ...; then resume to the end. Returns the record."""
    run = tmp_path / "killed"
    records = []
    good = -1  # newest complete checkpoint seen so far
    cut_line = False
    for i, kind in enumerate(_plan(rng)):
        fresh = not (run / "config.toml").is_file()
        try:
            start = ckpt.load_latest(run / "checkpoints", warn=lambda m: None)[1]["step"]
        except ckpt.NoCheckpoint:
            start = -1
        if kind == "first-ckpt":
            target = 0
        elif kind == "truncate":
            target = start
        else:  # a step or a checkpoint a little ahead of where this segment starts
            target = rng.randint(max(start, 0) + 1, min(max(start, 0) + 3 * CKPT_EVERY, STEPS - 2))
        args = ["train", "--config", cfg, "--run-dir", run] if fresh else ["train", "--resume", run]
        log = tmp_path / f"segment{i}.log"
        # Only the write the kill aims at is slowed down: the next checkpoint at or after the target.
        at = f"step_{-(-target // CKPT_EVERY) * CKPT_EVERY:09d}"
        slow = {"step": None, "sigterm": None, "truncate": r"^metrics\.jsonl$", "ckpt-sum": rf"^{at}\.sha256$"}.get(kind, rf"^{at}\.safetensors$")
        proc = _start([*args, "--no-progress"], tmp_path, log, slow)
        try:
            seen = _wait_and_kill(proc, run, kind, target, rng, log)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        stale = _tmp_files(run)
        if kind == "sigterm":  # not a kill: the run stops at a step boundary with a checkpoint there
            stopped = int(re.search(r"interrupted at step (\d+)", log.read_text()).group(1))
            assert proc.returncode == 130 and stopped >= target and not stale
            assert ckpt.load_latest(run / "checkpoints", warn=lambda m: None)[1]["step"] == stopped
            seen += f", stopped at step {stopped} with a checkpoint there (exit 130)"
        else:
            assert proc.returncode == -signal.SIGKILL
        # The checkpoint this segment started from (and any newer one that completed) is still usable.
        try:
            now = ckpt.load_latest(run / "checkpoints", warn=lambda m: None)[1]["step"]
        except ckpt.NoCheckpoint:
            now = -1
        assert now >= max(good, start), f"kill {i + 1} ({kind}) lost checkpoint {max(good, start)}: newest usable is {now}"
        if kind not in ("step", "sigterm"):
            assert any(f"tmp{proc.pid}" in f for f in stale), f"kill {i + 1} ({kind}) did not land inside a write"
        if kind == "ckpt-sum":  # data renamed into place, checksum not yet: that file must be skipped
            newest = ckpt.list_checkpoints(run / "checkpoints")[-1]
            assert not newest.with_suffix(".sha256").exists() and int(newest.stem[5:]) > now
        note = ""
        if kind == "step" and not cut_line:  # a metrics line cut in the middle, as a kill inside write() leaves
            with open(run / "metrics.jsonl", "a") as f:
                f.write('{"step": 999, "loss_d": 0.12')
            cut_line, note = True, "; then appended a half-written metrics line"
        good = now
        m = re.search(r"resuming .* from (.*) to step", log.read_text())
        origin = m.group(1) if m else ("a fresh start" if fresh else "(killed before it said)")
        line = (f"kill {i + 1}: {kind:<10} target {target:>2}: {seen}; segment started from {origin}; "
                f"newest usable checkpoint after the kill: step {now}; stale temp files: {len(stale)}{note}")
        print(line)
        records.append(line)
    r = subprocess.run([sys.executable, "-m", "infogan.cli", "train", "--resume", run, "--no-progress"],
                       cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    final = next((x for x in r.stderr.splitlines() if x.startswith("resuming")), "")
    return records, final.replace(str(run), "killed")


# ---- the pieces, fast -------------------------------------------------------------------------

def _state(step):
    return {"step": step, "w": torch.full((4,), float(step))}


def test_stale_tmp_is_ignored_then_cleaned_by_the_next_save(tmp_path):
    ckpt.save(tmp_path, 1, _state(1), keep=3)
    (tmp_path / ".step_000000002.safetensors.tmp999").write_bytes(b"half a checkpoint")
    (tmp_path / ".step_000000002.sha256.tmp999").write_bytes(b"")
    path, state = ckpt.load_latest(tmp_path, warn=lambda m: None)
    assert state["step"] == 1 and path.name == "step_000000001.safetensors"
    ckpt.save(tmp_path, 2, _state(2), keep=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "step_000000001.safetensors", "step_000000001.sha256", "step_000000002.safetensors", "step_000000002.sha256"]


def test_only_incomplete_checkpoints_mean_no_checkpoint(tmp_path):
    with pytest.raises(ckpt.NoCheckpoint):
        ckpt.load_latest(tmp_path, warn=lambda m: None)
    p = ckpt.save(tmp_path, 0, _state(0), keep=3)
    p.with_suffix(".sha256").unlink()  # killed between the data and the checksum
    with pytest.raises(ckpt.NoCheckpoint):
        ckpt.load_latest(tmp_path, warn=lambda m: None)
    p.write_bytes(b"x")  # ... but a checksum that does not match is corruption, not an incomplete write
    p.with_suffix(".sha256").write_text("0" * 64)
    with pytest.raises(ckpt.CheckpointError) as e:
        ckpt.load_latest(tmp_path, warn=lambda m: None)
    assert not isinstance(e.value, ckpt.NoCheckpoint)


def test_truncate_metrics_drops_later_lines_and_a_cut_last_line(tmp_path):
    lines = [json.dumps({"step": s, "loss_d": 1.0}) for s in (1, 2, 3, 4)]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + '\n{"step": 5, "loss_d": 0.')
    (tmp_path / ".metrics.jsonl.tmp4242").write_text("stale")
    truncate_metrics(tmp_path, 3)
    assert (tmp_path / "metrics.jsonl").read_text() == "\n".join(lines[:3]) + "\n"
    assert not (tmp_path / ".metrics.jsonl.tmp4242").exists()


def test_resume_of_a_run_cut_before_its_first_checksum_starts_over_cleanly(tiny_world, tmp_path, monkeypatch, capsys):
    """Killed between the step-0 checkpoint's data and its checksum: resume starts from config.toml
    at step 0, writes a complete step-0 checkpoint (something to restore on divergence) and goes on."""
    import shutil

    from infogan.cli import main

    w = tmp_path / "w"
    shutil.copytree(tiny_world, w, copy_function=os.link)
    monkeypatch.chdir(w)
    assert main(["train", "--config", "tiny.toml", "--run-dir", "r", "--steps", "0", "--set", "train.keep_ckpts=3",
                 "--no-progress"]) == 0
    (w / "r" / "checkpoints" / "step_000000000.sha256").unlink()
    assert main(["train", "--resume", "r", "--steps", "2", "--no-progress"]) == 0
    assert "from step 0 (no checkpoint was completed)" in capsys.readouterr().err
    got = {p.name: ckpt.load_file(p)["step"] for p in ckpt.list_checkpoints(w / "r" / "checkpoints")}
    assert got == {"step_000000000.safetensors": 0, "step_000000001.safetensors": 1, "step_000000002.safetensors": 2}
