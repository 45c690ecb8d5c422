"""The run-directory layer (infogan.run): checkpoints by step, metrics and eval.json that survive
kills, and the import graph (nothing imports the CLI)."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import synthetic_store, tiny_config

from infogan import checkpoint as ckpt
from infogan.run import Run, load_model, read_eval, read_metrics, truncate_metrics, write_eval

SRC = Path(__file__).resolve().parents[1] / "src" / "infogan"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 2-step run with checkpoints at steps 0, 1 and 2 (copy it before changing it)."""
    from infogan.train import Trainer

    run = tmp_path_factory.mktemp("run") / "run"
    Trainer(tiny_config(steps=2, ckpt_every=1, keep_ckpts=5), run, synthetic_store(64), progress=False).fit()
    return run


def _copy(run: Path, to: Path) -> Path:
    import shutil

    shutil.copytree(run, to)
    return to


def test_checkpoints_are_ordered_by_step_not_by_name(tmp_path):
    d = tmp_path / "checkpoints"
    for step in (5, 999_999_999, 1_000_000_000):  # step_1000000000 sorts before step_999999999 by name
        ckpt.save(d, step, {"step": step}, keep=2)
    assert [ckpt.checkpoint_step(p) for p in ckpt.list_checkpoints(d)] == [999_999_999, 1_000_000_000]
    assert Run(tmp_path).step() == 1_000_000_000
    assert ckpt.load_latest(d)[1]["step"] == 1_000_000_000
    with pytest.raises(ckpt.CheckpointError, match="not a checkpoint file name"):
        ckpt.checkpoint_step(d / "step_12.safetensors")


def test_no_completed_checkpoint_is_step_none(tmp_path):
    assert Run(tmp_path).step() is None
    p = ckpt.save(tmp_path / "checkpoints", 3, {"step": 3}, keep=2)
    p.with_suffix(".sha256").unlink()  # killed between the data and the checksum
    assert Run(tmp_path).step() is None


def test_newest_good_checkpoint_skips_a_corrupt_newest(trained, tmp_path, capsys):
    run = Run(_copy(trained, tmp_path / "r"))
    assert run.exists() and run.step() == 2
    assert [ckpt.checkpoint_step(p) for p in run.checkpoints()] == [0, 1, 2]
    newest = run.checkpoints()[-1]
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    newest.write_bytes(bytes(data))
    capsys.readouterr()
    assert run.step() == 1
    _, state, path = run.latest()
    assert path.name == "step_000000001.safetensors" and state["step"] == 1
    m = load_model(run.path)
    assert m.step == 1 and m.checkpoint == path and m.config.latent == run.config.latent
    assert not m.G.training and not m.D.training
    assert "checksum mismatch" in capsys.readouterr().err


def test_run_errors_name_the_path(tmp_path):
    with pytest.raises(ckpt.CheckpointError, match="does not exist"):
        _ = Run(tmp_path / "nowhere").config
    (tmp_path / "file").write_text("x")
    with pytest.raises(ckpt.CheckpointError, match="is a file"):
        load_model(tmp_path / "file")
    with pytest.raises(ckpt.CheckpointError, match=r"not a run directory \(no config.toml\)"):
        Run(tmp_path).latest()
    (tmp_path / "config.toml").write_text("[train\n")
    with pytest.raises(ckpt.CheckpointError, match="broken config.toml"):
        _ = Run(tmp_path).config


def test_metrics_tolerate_a_cut_line_and_lines_that_are_not_objects(tmp_path):
    lines = [
        json.dumps({"step": 1, "loss_d": 1.0}),
        json.dumps({"step": 2, "eval": {"entropy": {"c1": 2.3}}}),
        json.dumps({"step": 2, "event": "diverged"}),
        "[1, 2]", "5", '"text"', "null", json.dumps({"no_step": 1}), json.dumps({"step": 2, "eval": 3}),
        json.dumps({"step": 3, "loss_d": 0.5}),
        '{"step": 4, "loss_d": 0.',  # cut by a kill
    ]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines))
    rows, evals = read_metrics(tmp_path)
    assert [r["step"] for r in rows] == [1, 3] and [e["step"] for e in evals] == [2]
    assert Run(tmp_path).metrics() == (rows, evals)
    truncate_metrics(tmp_path, 2)
    kept = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert kept == [lines[0], lines[1], lines[2]]  # rows up to step 2; an "eval" that is not a table is no row
    assert list(tmp_path.glob(".metrics.jsonl.tmp*")) == []


def test_eval_json_round_trip_and_unreadable_files(tmp_path):
    assert read_eval(tmp_path) is None
    p = write_eval(tmp_path, {"step": 3, "mi_lower_bound": {"c1": 1.5}})
    assert p == tmp_path / "eval.json" and read_eval(tmp_path) == {"step": 3, "mi_lower_bound": {"c1": 1.5}}
    assert sorted(x.name for x in tmp_path.iterdir()) == ["eval.json"]  # no temp file left
    p.write_text("[1, 2]")
    assert Run(tmp_path).read_eval() is None
    p.write_text('{"step": 3, "mi_lo')  # a reader never sees this from write_eval, but may from a copy
    assert read_eval(tmp_path) is None


# ---- the import graph -------------------------------------------------------------------------

def _imported_modules(path: Path) -> set[str]:
    """Absolute names of the modules a source file of the infogan package imports."""
    # the package a relative import starts from (for __init__.py, the package itself)
    package = ".".join(("infogan", *path.relative_to(SRC).with_suffix("").parts)).rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out |= {f"{mod}.{a.name}" for a in node.names}  # from . import cli
    return out


def test_no_module_imports_the_cli():
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if path == SRC / "cli.py":
            continue
        if "infogan.cli" in _imported_modules(path):
            offenders.append(str(path.relative_to(SRC)))
    assert offenders == []


def test_import_graph_parser_sees_relative_imports():
    # the check above would be empty if the parser missed relative imports: cli.py's own are seen
    mods = _imported_modules(SRC / "cli.py")
    assert "infogan.run" in mods and "infogan.api" in mods
    assert "infogan.run.load_model" in _imported_modules(SRC / "explore" / "server.py")


def test_modules_import_without_the_cli():
    modules = ["infogan.study", "infogan.run", "infogan.api", "infogan.report", "infogan.explore",
               "infogan.explore.cluster", "infogan.train"]
    code = ("import importlib, sys\n"
            f"for m in {modules!r}:\n"
            "    importlib.import_module(m)\n"
            "    if 'infogan.cli' in sys.modules:\n"
            "        sys.exit(f'importing {m} imported infogan.cli')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
