"""`infogan study --backend ray`: the seeds as Ray tasks on a local Ray instance, the same run layout,
resume and summary as the local process pool; Ray stays optional."""

import json
import logging
import os
import subprocess
import sys
from dataclasses import replace

import pytest

from infogan.cli import main
from infogan.config import ConfigError, preset
from infogan.study import RAY_MISSING, ray_cluster, ray_task_resources, train_seeds


def _ray():
    """Ray, which the test extra installs: CI (CI=true) fails without it, elsewhere the test skips."""
    if os.environ.get("CI"):
        import ray

        return ray
    return pytest.importorskip("ray", reason="pip install -e '.[test]' installs Ray")


@pytest.fixture
def local_ray():
    """A fresh local Ray instance with 2 CPUs (never one that happens to run on this machine)."""
    ray = _ray()
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    try:
        yield ray
    finally:
        ray.shutdown()


def _tiny_study(tmp_path) -> list[str]:
    """CLI flags of a tiny study: 8x8 random MNIST files, 2 steps, a small latent spec."""
    from helpers import write_tiny_mnist

    write_tiny_mnist(tmp_path / "data")
    sets = [f"data.data_dir={tmp_path / 'data'}", "data.download=false", "data.verify=false", "train.batch_size=16",
            "train.log_every=1", "train.ckpt_every=1", "train.eval_every=0", "train.device=cpu",
            "latent=cat4,unif1,noise8"]
    return ["study", "--preset", "mnist", "--root", str(tmp_path / "study"), "--samples", "32",
            *[a for s in sets for a in ("--set", s)]]


@pytest.mark.slow
def test_study_trains_each_seed_as_a_ray_task_and_resumes(tmp_path, local_ray, capsys):
    from infogan.run import Run

    args, root = _tiny_study(tmp_path), tmp_path / "study"
    assert main([*args, "--backend", "ray", "--seeds", "2", "--steps", "2"]) == 0
    out = capsys.readouterr()
    assert "seed 0: done in" in out.err and "seed 1: done in" in out.err
    for s in (0, 1):
        run = Run(root / f"seed{s}")
        assert run.step() == 2 and run.config.train.seed == s
        assert run.config.train.threads == 1  # the instance's 2 CPUs shared by the 2 seeds in flight
        assert max(p.name for p in (run.path / "checkpoints").glob("step_*.safetensors")) == "step_000000002.safetensors"
        assert run.read_eval()["step"] == 2
        assert "training " in (root / f"seed{s}.log").read_text()
    summary = json.loads((root / "study.json").read_text())
    assert summary["seeds"] == [0, 1] and sorted(summary["per_seed"]) == ["0", "1"]
    assert sorted(summary["wall_s"]) == ["0", "1"]
    md = (root / "study.md").read_text()
    assert md.startswith("# Study: mnist, seeds 0, 1") and "\n| 0 | " in md and "\n| 1 | " in md
    assert md in out.out  # the CLI prints the table it wrote

    # the same study again trains nothing; a longer one resumes the run that exists with its config
    assert main([*args, "--backend", "ray", "--seeds", "2", "--steps", "2"]) == 0
    assert "seed 0: already trained" in capsys.readouterr().err
    assert main([*args, "--backend", "ray", "--seeds", "1", "--first-seed", "1", "--steps", "3"]) == 0
    assert Run(root / "seed1").step() == 3 and Run(root / "seed0").step() == 2
    assert "resuming " in (root / "seed1.log").read_text()


@pytest.mark.slow
def test_a_failed_ray_seed_is_reported_with_its_own_error(tmp_path, local_ray):
    root = tmp_path / "study"
    root.mkdir()
    (root / "seed1").write_text("not a run directory")  # seed 1's run cannot be created
    cfg = preset("mnist")
    cfg = replace(cfg, train=replace(cfg.train, device="cpu"))
    lines: list[str] = []
    with pytest.raises(RuntimeError, match=r"^seed 1 failed \(RunError: run directory .*seed1 is a file; .*; see .*seed1\.log$"):
        train_seeds(cfg, [1], root, steps=2, log=lines.append, backend="ray")
    assert lines[-1].startswith("seed 1 failed (")


def test_backend_ray_without_ray_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    root = tmp_path / "study"
    assert main(["study", "--backend", "ray", "--seeds", "2", "--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert err == f"infogan study: error: {RAY_MISSING}\n"
    assert RAY_MISSING == "--backend ray needs Ray: pip install 'infogan[ray]'"
    assert not root.exists()
    with pytest.raises(ImportError, match=r"pip install 'infogan\[ray\]'"):  # the same through the API
        train_seeds(preset("mnist"), [0], root, backend="ray")
    assert not root.exists()


def test_address_needs_backend_ray(tmp_path, capsys):
    assert main(["study", "--address", "auto", "--root", str(tmp_path / "s")]) == 2
    assert "--address names a Ray cluster; it needs --backend ray" in capsys.readouterr().err


def test_importing_infogan_does_not_import_ray():
    code = ("import sys, infogan, infogan.study, infogan.cli\n"
            "infogan.cli.build_parser()\n"
            "sys.exit('ray' in sys.modules)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr or "importing infogan imported ray"


def test_ray_task_resources():
    nodes = [{"Alive": True, "Resources": {"CPU": 16.0}}, {"Alive": True, "Resources": {"CPU": 8.0, "GPU": 2.0}},
             {"Alive": False, "Resources": {"CPU": 64.0}}]
    assert ray_cluster(nodes) == (24, 16, True)
    assert ray_cluster(nodes[:1]) == (16, 16, False)
    base = preset("mnist")

    def cfg(device, threads):
        return replace(base, train=replace(base.train, device=device, threads=threads))

    assert ray_task_resources(cfg("cpu", 4), 16, True) == (4, 0)
    assert ray_task_resources(cfg("cpu", 32), 16, False) == (16, 0)  # a task must fit on one node
    assert ray_task_resources(cfg("auto", 2), 16, True) == (2, 1)
    assert ray_task_resources(cfg("auto", 2), 16, False) == (2, 0)
    assert ray_task_resources(cfg("cuda", 0), 16, True) == (1, 1)
    with pytest.raises(ConfigError, match="has no GPU"):
        ray_task_resources(cfg("cuda", 1), 16, False)
    with pytest.raises(ConfigError, match="cuda:0"):
        ray_task_resources(cfg("cuda:1", 1), 16, True)
