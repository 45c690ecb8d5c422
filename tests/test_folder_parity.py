"""benchmarks/folder_parity.py: the MNIST-as-PNG export (layout, counts, reuse, subsets, killed
exports), and one seed end to end at toy size: a 2-step folder-preset training, scored by
``infogan cluster`` on the test PNGs, against a made-up mnist time."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import load_script, write_tiny_mnist

from infogan.data.idx import read_idx


@pytest.fixture(scope="module")
def fp():
    return load_script("folder_parity")


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """Tiny MNIST files (64 train, 32 test, 8x8) found through INFOGAN_DATA; their labels."""
    write_tiny_mnist(tmp_path / "data" / "mnist")
    monkeypatch.setenv("INFOGAN_DATA", str(tmp_path / "data"))
    mnist = tmp_path / "data" / "mnist"
    return {s: read_idx(mnist / f"{f}-labels-idx1-ubyte") for s, f in (("train", "train"), ("test", "t10k"))}


def _per_digit(folder: Path) -> dict[str, int]:
    return {d.name: len(list(d.glob("*.png"))) for d in sorted(folder.iterdir())}


def test_export_layout_counts_and_reuse(fp, tiny, tmp_path):
    root = tmp_path / "png"
    got = fp.export_all(root, verify=False)
    for split in ("train", "test"):
        want = {str(d): int(n) for d, n in enumerate(np.bincount(tiny[split], minlength=10)) if n}
        assert _per_digit(root / split) == want == got[split]["counts"]
        assert got[split]["exported"] and got[split]["n"] == len(tiny[split])
        assert json.loads((root / f"{split}.json").read_text())["counts"] == want
    i = int(np.flatnonzero(tiny["train"] == tiny["train"][5])[0])
    assert (root / "train" / str(tiny["train"][i]) / f"{i:05d}.png").is_file()
    before = (root / "train").stat().st_mtime_ns
    again = fp.export_all(root, verify=False)
    assert not again["train"]["exported"] and not again["test"]["exported"]
    assert again["train"]["counts"] == got["train"]["counts"]
    assert (root / "train").stat().st_mtime_ns == before
    # a folder that lost a file is not taken as complete
    next((root / "test").rglob("*.png")).unlink()
    with pytest.raises(SystemExit, match="does not hold"):
        fp.export_all(root, verify=False)


def test_subset(fp, tiny, tmp_path):
    root = tmp_path / "png"
    got = fp.export_all(root, subset=20, subset_seed=3, verify=False)["train"]
    folder = root / "train-subset20-seed3"
    assert got["name"] == folder.name and got["n"] == 20 and sum(got["counts"].values()) == 20
    assert sum(_per_digit(folder).values()) == 20 and _per_digit(folder) == got["counts"]
    assert len(set(got["indices"])) == 20 and not (root / "train").exists()
    # the same seed picks the same images
    assert fp.export_all(root, subset=20, subset_seed=3, verify=False)["train"]["indices"] == got["indices"]


def test_interrupted_export_is_not_complete(fp, tiny, tmp_path, monkeypatch):
    from PIL import Image

    root = tmp_path / "png"
    calls = {"n": 0}
    real_save = Image.Image.save

    def failing_save(self, *a, **k):
        calls["n"] += 1
        if calls["n"] > 10:
            raise KeyboardInterrupt
        return real_save(self, *a, **k)

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(KeyboardInterrupt):
        fp.export_pngs(root, "train", "train", verify=False)
    assert not (root / "train").exists() and not list(root.glob(".train*"))
    monkeypatch.setattr(Image.Image, "save", real_save)
    # what a killed export leaves: a temporary folder of a process that is gone, removed on the next export
    dead = subprocess.Popen([sys.executable, "-c", ""])
    dead.wait()
    stale = root / f".train{fp.PARTIAL}{dead.pid}"
    (stale / "3").mkdir(parents=True)
    (stale / "3" / "00000.png").write_bytes(b"half")
    assert fp.export_pngs(root, "train", "train", verify=False)["exported"]
    assert not stale.exists() and sum(_per_digit(root / "train").values()) == 64


@pytest.mark.slow
def test_one_seed_end_to_end(fp, tiny, tmp_path, capsys):
    mnist_json = tmp_path / "tta.json"
    mnist_json.write_text(json.dumps({"sets": [], "runs": [
        {"seed": 0, "total_s": 4.0, "final": {"step": 1500, "accuracy": 0.96}}]}))
    out = tmp_path / "parity.json"
    sets = ["train.batch_size=16", "train.eval_samples=32", "train.log_every=1", "train.threads=1"]
    argv = ["--root", str(tmp_path / "png"), "--runs", str(tmp_path / "runs"), "--seeds", "0", "--no-verify",
            "--steps", "2", "--mnist-json", str(mnist_json), "--out", str(out)]
    for s in sets:
        argv += ["--set", s]
    assert fp.main(argv) == 0
    d = json.loads(out.read_text())
    (r,) = d["runs"]
    assert r["exit_code"] == 0 and r["final_step"] == 2 and r["total_s"] > 0 and len(r["load_before"]) == 3
    assert r["command"].startswith(f"infogan train --preset folder --data-dir {tmp_path / 'png' / 'train'} "
                                   f"--set data.channels=1 --seed 0 --run-dir {tmp_path / 'runs' / 'seed0'}")
    assert "--steps 2" in r["command"] and d["steps"] == 2 and d["sets"] == sets
    sc = r["score"]
    assert sc["exit_code"] == 0 and sc["n_images"] == 32 and sc["code"] == "c1"
    assert 0 < sc["score"] <= 1 and sc["score"] == sc["accuracy"]["c1"]
    assert "--labels-from-subfolders" in sc["command"]
    s = d["summary"]
    assert s["accuracies"] == [sc["score"]] and s["seeds"] == 1 and s["required"] == 1
    assert not s["accuracy_met"]  # one seed is not "3 of 3", whatever it scores
    assert s["time_ratio"] == pytest.approx(r["total_s"] / 4.0) and s["per_seed_ratio"]["0"] == s["time_ratio"]
    assert d["mnist"]["full"] and d["kind"] == "full" and d["train_folder"]["counts"]
    assert "seed 0:" in capsys.readouterr().out
    assert fp.parse_summary(tmp_path / "runs" / "seed0" / "cluster_test" / "summary.json")["score"] == sc["score"]


def test_summary_rules(fp):
    def runs(accs):
        return [{"seed": i, "total_s": 10.0, "score": {"score": a}} for i, a in enumerate(accs)]

    mnist = {"median_s": 6.0, "per_seed_s": {"0": 5.0, "1": 6.0, "2": 7.0}}
    s = fp.summarize("full", runs([0.96, 0.97, 0.951]), mnist)
    assert s["accuracy_met"] and s["time_met"] and s["met"] and s["time_ratio"] == pytest.approx(10 / 6)
    assert not fp.summarize("full", runs([0.96, 0.97, 0.94]), mnist)["met"]
    assert not fp.summarize("full", runs([0.96, 0.97, 0.96]), {**mnist, "median_s": 4.0})["met"]
    assert fp.summarize("full", runs([0.96] * 3), None)["time_met"] is None
    sub = fp.summarize("subset", runs([0.91, None, 0.92]), None)
    assert sub["met"] and sub["passes"] == 2 and sub["time_met"] is None
    assert not fp.summarize("subset", runs([0.91, 0.5, 0.89]), None)["met"]


def test_mnist_json_not_full(fp, tmp_path):
    f = tmp_path / "tta.json"
    f.write_text(json.dumps({"sets": [], "runs": [{"seed": 0, "total_s": 3.0, "final": {"step": 750}}]}))
    m = fp.mnist_times(f)
    assert not m["full"] and "--full" in m["note"] and m["per_seed_s"] == {"0": 3.0}
