"""Every preset trains a few steps from tiny files in its real distribution format, through the
same code path as a real run (the CLI's `infogan train`)."""

import gzip
import json
import struct

import numpy as np
import pytest
import scipy.io
from PIL import Image

from infogan.cli import main
from infogan.config import PRESET_SHAPES, PRESETS, image_shape, preset
from infogan.nets import build, count_params


def _png(path, size, rgb, seed):
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (size[1], size[0], 3 if rgb else 1), dtype=np.uint8)
    Image.fromarray(arr if rgb else arr[..., 0]).save(path)


def _idx(root, n):
    """MNIST-like IDX files, gzip-compressed as distributed."""
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, m in (("train", n), ("t10k", n)):
        imgs = rng.integers(0, 256, (m, 28, 28), dtype=np.uint8)
        labs = rng.integers(0, 10, m, dtype=np.uint8)
        with gzip.open(root / f"{split}-images-idx3-ubyte.gz", "wb") as f:
            f.write(struct.pack(">IIII", 2051, m, 28, 28) + imgs.tobytes())
        with gzip.open(root / f"{split}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(struct.pack(">II", 2049, m) + labs.tobytes())
    return root


def _svhn(root, n):
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = rng.integers(1, 11, (n, 1)).astype(np.uint8)
        scipy.io.savemat(root / f"{split}_32x32.mat", {"X": x, "y": y})
    return root


def _celeba(root, n):
    d = root / "img_align_celeba"
    d.mkdir(parents=True)
    for i in range(n):
        _png(d / f"{i + 1:06d}.jpg", (178, 218), True, i)
    return root


def _chairs(root, n):
    for m in range(2):
        d = root / "rendered_chairs" / f"model{m}" / "renders"
        d.mkdir(parents=True)
        for i in range(n // 2):
            _png(d / f"image_{i:03d}_p020_t{i * 22:03d}_r096.png", (120, 120), True, 10 * m + i)
    return root


def _folder(root, n, rgb=False, size=(40, 36)):
    root.mkdir(parents=True)
    for i in range(n):
        _png(root / f"img{i:03d}.png", size, rgb, i)
    return root


def _dsprites(root, n):
    from infogan.data import make_dsprites

    make_dsprites(root / "dsprites.npz", factor_sizes=(1, 3, 2, 2, 2, 2))
    return root


MAKERS = {
    "mnist": _idx, "fashion-mnist": _idx, "svhn": _svhn, "celeba": _celeba, "faces": _folder,
    "chairs": _chairs, "dsprites": _dsprites, "folder": lambda r, n: _folder(r, n, rgb=True, size=(50, 64)),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "svhn", "celeba", "faces-azimuth", "chairs-width",
                                  "dsprites", "folder"])
def test_preset_trains_from_real_format_files(name, tmp_path, isolated_cache):
    data = preset(name).data.name
    root = MAKERS[data](tmp_path / "data", 24)
    run = tmp_path / "run"
    args = ["train", "--preset", name, "--steps", "2", "--run-dir", str(run), "--data-dir", str(root), "--no-progress",
            "--set", "train.batch_size=8", "--set", "train.eval_samples=16", "--set", "train.disent_samples=0",
            "--set", "data.verify=false"]
    assert main(args) == 0
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 2 and "eval" in rows[-1]
    assert (run / "report.md").is_file() and any((run / "traversals").iterdir())


def test_presets_table_matches_the_paper(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    widths = {"mnist": 74, "svhn": 168, "celeba": 228, "faces": 133, "chairs": 189}
    for name, w in widths.items():
        line = next(line for line in out.splitlines() if line.split()[0] == name)
        assert int(line.split()[3]) == w, line
        assert preset(name).latent.input_dim == w
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:] if not line.startswith("*")}
    assert rows["mnist"][-2:] == ["1,500", "1x28x28"] and rows["celeba"][-2:] == ["10,000", "3x32x32"]
    assert rows["folder"][-1] == "3x32x32*" and "* folder: the side follows the images" in out


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds_at_its_image_shape(name):
    cfg = preset(name)
    shape = image_shape(cfg)
    assert shape == PRESET_SHAPES[name] or name == "folder"
    import torch

    G, D = build(cfg.model.arch, cfg.latent, shape, cfg.model.q_hidden)
    G.eval()
    D.eval()
    with torch.no_grad():
        x = G(cfg.latent.to_input(cfg.latent.sample(2)))
        d, q = D(x)
    assert x.shape == (2, *shape) and d.shape == (2,) and q.shape == (2, cfg.latent.q_dim)
    assert count_params(G) > 0


def test_table5_and_table7_settings():
    az, el, li = preset("faces-azimuth"), preset("faces-elevation"), preset("faces-lighting")
    assert (az.optim.lr_d, az.optim.lr_g, az.latent.codes[0].lam) == (2e-4, 5e-4, 0.2)
    assert (el.optim.lr_d, el.optim.lr_g, el.latent.codes[0].lam) == (4e-4, 3e-4, 0.1)
    assert (li.optim.lr_d, li.optim.lr_g, li.latent.codes[0].lam) == (8e-4, 3e-4, 0.1)
    rot, wid = preset("chairs-rotation"), preset("chairs-width")
    assert [c.lam for c in rot.latent.codes] == [1.0, 1.0, 1.0, 10.0]
    assert [c.lam for c in wid.latent.codes] == [2.0, 2.0, 2.0, 0.05]


def test_celeba_schedule_is_the_longer_one_and_old_runs_keep_theirs():
    """celeba trains 10,000 steps (at 5,000 every sample was one face, docs/experiments.md); a run
    whose config.toml says 5,000 keeps its own schedule."""
    from infogan.config import Config, preset

    assert preset("celeba").train.steps == 10_000 and preset("svhn").train.steps == 5_000
    old = preset("celeba").to_dict()
    old["train"]["steps"] = 5000
    assert Config.from_dict(old).train.steps == 5000


def test_celeba_alone_gives_d_the_minibatch_std():
    """celeba's D has the minibatch-std feature (docs/experiments.md), no other preset's; how runs
    written before the key load: tests/test_mbstd.py."""
    from infogan.config import PRESETS, preset

    assert preset("celeba").model.mbstd is True
    assert [n for n in PRESETS if preset(n).model.mbstd] == ["celeba"]
