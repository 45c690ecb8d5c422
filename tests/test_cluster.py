"""`infogan cluster`: Q's argmax per categorical code over a folder; CSV, contact sheets, purity."""

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from infogan.cli import main
from infogan.data import load_idx
from infogan.explore.cluster import cluster_folder
from infogan.latent import LatentSpec


class BrightnessQ(torch.nn.Module):
    """A stand-in D/Q with a known answer: cat2 logits say 'bright' (0) or 'dark' (1)."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(()))

    def forward(self, x):  # x (B, 1, H, W) in [0, 1]
        m = x.mean((1, 2, 3))
        return m, torch.stack([m - 0.5, 0.5 - m], 1) * 10 * self.w


def write_png(path, value, size=8):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size), value, np.uint8)).save(path)


def test_known_answer_clusters_sheets_and_purity(tmp_path):
    folder = tmp_path / "imgs"
    for i, v in enumerate([255, 200, 230]):
        write_png(folder / "bright" / f"b{i}.png", v)
    for i, v in enumerate([0, 40]):
        write_png(folder / "dark" / f"d{i}.png", v)
    (folder / "dark" / "broken.png").write_bytes(b"not a png")
    spec = LatentSpec.parse("cat2,noise1")
    res = cluster_folder(BrightnessQ(), spec, (1, 8, 8), "sigmoid", folder, tmp_path / "out",
                         per_sheet=4, labels_from_subfolders=True)
    assert res["n_images"] == 5 and len(res["skipped"]) == 1 and "broken.png" in res["skipped"][0]
    assert res["sizes"] == {"c1": [3, 2]}
    assert res["purity"] == {"c1": 1.0} and res["accuracy"] == {"c1": 1.0}
    rows = list(csv.DictReader((tmp_path / "out" / "clusters.csv").read_text().splitlines()))
    assert {r["file"]: int(r["c1"]) for r in rows} == {
        "bright/b0.png": 0, "bright/b1.png": 0, "bright/b2.png": 0, "dark/d0.png": 1, "dark/d1.png": 1}
    assert all(r["label"] == r["file"].split("/")[0] for r in rows)
    # contact sheet of category 0: 3 thumbnails in 2 columns (ceil(sqrt(4))), most confident first
    sheet = np.asarray(Image.open(tmp_path / "out" / "c1" / "cat_0.png"))
    assert sheet.shape == (2 * (2 * 10 + 2), 2 * (2 * 10 + 2))  # 2x2 cells of 8 px + 2 px padding, scale 2
    assert sheet[4, 4] == 255 and sheet[4, 24] == 230 and sheet[24, 4] == 200 and sheet[24, 24] == 255
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["sizes"] == {"c1": [3, 2]}


@pytest.fixture(scope="module")
def mnist_pngs(mnist_dir, tmp_path_factory):
    """The first 200 MNIST test images as PNGs in one subfolder per digit."""
    test = load_idx("mnist", "test", mnist_dir, download=False)
    root = tmp_path_factory.mktemp("mnist_png")
    for i in range(200):
        d = root / str(int(test.labels[i]))
        d.mkdir(exist_ok=True)
        Image.fromarray(test.images[i, 0].numpy()).save(d / f"{i:05d}.png")
    return root


@pytest.mark.slow
def test_cluster_cli_on_mnist_class_folders(tiny_run, mnist_pngs, tmp_path, capsys):
    out = tmp_path / "clusters"
    assert main(["cluster", str(tiny_run), str(mnist_pngs), "--out", str(out),
                 "--labels-from-subfolders", "--per-sheet", "16"]) == 0
    printed = capsys.readouterr().out
    assert "200 images" in printed and "purity" in printed
    res = json.loads((out / "summary.json").read_text())
    assert sum(res["sizes"]["c1"]) == 200 and res["classes"] == [str(d) for d in range(10)]
    rows = list(csv.DictReader((out / "clusters.csv").read_text().splitlines()))
    assert len(rows) == 200 and set(rows[0]) == {"file", "label", "c1", "c1_prob"}
    labels = [r["label"] for r in rows]
    majority = max(labels.count(c) for c in set(labels)) / len(labels)
    assert majority <= res["purity"]["c1"] <= 1  # purity never falls below one cluster's
    sheets = sorted(p.name for p in (out / "c1").glob("cat_*.png"))
    assert sheets == [f"cat_{k}.png" for k, n in enumerate(res["sizes"]["c1"]) if n > 0]
    # an existing non-empty --out is refused without --force, and rewritten with it
    assert main(["cluster", str(tiny_run), str(mnist_pngs), "--out", str(out)]) == 2
    assert "pass --force" in capsys.readouterr().err
    (out / "c1" / "cat_9.png").write_bytes(b"stale")
    (out / "c1" / "cat_8.png").write_bytes(b"stale")
    assert main(["cluster", str(tiny_run), str(mnist_pngs), "--out", str(out), "--force"]) == 0
    assert not any(p.read_bytes() == b"stale" for p in (out / "c1").glob("cat_*.png"))


def test_cluster_user_errors(tmp_path, capsys):
    write_png(tmp_path / "flat" / "a.png", 0)
    assert main(["cluster", str(tmp_path / "run"), str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "is not a folder of images" in capsys.readouterr().err
    assert main(["cluster", str(tmp_path / "run"), str(tmp_path / "flat"), "--out", str(tmp_path / "o"),
                 "--per-sheet", "0"]) == 2
    assert "--per-sheet" in capsys.readouterr().err


def test_labels_need_subfolders(tmp_path):
    write_png(tmp_path / "flat" / "a.png", 0)
    from infogan.data import DataError

    with pytest.raises(DataError, match="not inside a class subfolder"):
        cluster_folder(BrightnessQ(), LatentSpec.parse("cat2,noise1"), (1, 8, 8), "sigmoid", tmp_path / "flat",
                       tmp_path / "o", labels_from_subfolders=True)
