"""benchmarks/gpu_check.sh: its --dry-run runs the GPU check's steps on the CPU at toy size and
writes the same JSON; without a GPU and without --dry-run it refuses with one line."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"


def _run(*args, timeout=300):
    env = {**os.environ, "PYTHON": sys.executable}
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.mark.slow
def test_dry_run_trains_benches_runs_ddp_and_writes_the_json(tmp_path):
    from helpers import write_tiny_mnist

    data = write_tiny_mnist(tmp_path / "data", n_train=256, n_test=64, side=28)
    out = tmp_path / "out"
    r = _run("--dry-run", "--out", str(out), "--set", f"data.data_dir={data}", "--set", "data.verify=false",
             "--set", "data.download=false")
    assert r.returncode == 0, r.stderr[-4000:]
    (path,) = out.glob("gpu_check_*.json")
    assert path.name.startswith("gpu_check_dry-run_")
    res = json.loads(path.read_text())
    assert {"date", "dry_run", "torch", "cuda", "gpu_name", "gpu_count", "device", "preset", "batch_size", "settings",
            "steps", "wall_s", "images_per_s", "images_per_s_overall", "final_accuracy", "train", "bench", "ddp",
            "ddp_skipped", "run_dir", "failed"} <= set(res)
    assert res["dry_run"] is True and res["device"] == "cpu" and res["failed"] == []
    assert res["settings"] == {"amp": "off", "compile": False, "eval_every": 0}
    assert res["torch"].split("+")[0] == __import__("torch").__version__.split("+")[0]
    assert res["train"]["steps"] == res["steps"] == 4 and res["wall_s"] > 0 and res["images_per_s"] > 0
    assert 0 <= res["final_accuracy"] <= 1  # the evaluation at the end ran
    assert res["bench"]["ms_per_step"] > 0 and res["bench"]["images_per_s"] > 0
    assert res["ddp"]["nproc"] == 2 and res["ddp"]["steps"] == 4 and res["ddp_skipped"] is None
    assert (out / "mnist-4" / "config.toml").is_file() and (out / "mnist-ddp2" / "checkpoints").is_dir()
    lines = r.stdout.splitlines()
    assert lines[0].startswith("gpu_check: ") and lines[1].startswith("train: 4/4 steps in ")
    assert "images/s" in lines[1] and "final accuracy" in lines[1] and "ms/step" in lines[2]
    assert lines[3].startswith("ddp: 2 processes") and lines[-1] == f"wrote {path}"


def test_without_a_gpu_the_check_refuses_with_one_line(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    r = _run("--out", str(tmp_path / "out"), timeout=120)
    assert r.returncode == 2
    assert r.stderr.startswith("gpu_check.sh: no CUDA GPU found") and len(r.stderr.strip().splitlines()) == 1
    assert "--dry-run" in r.stderr and not (tmp_path / "out").exists()


def test_unknown_arguments_are_refused():
    r = _run("--bogus", timeout=60)
    assert r.returncode == 2 and r.stderr.strip() == "gpu_check.sh: unknown argument --bogus (see --help)"
    r = _run("--help", timeout=60)
    assert r.returncode == 0 and "--dry-run" in r.stdout and "set -euo" not in r.stdout
