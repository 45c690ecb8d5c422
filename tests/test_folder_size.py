"""The folder preset's image side: never upscale (images below 32 px train at their own side on
the paper's small-image net), everything else at 32 px; the chosen side is the run's."""

import zipfile
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from infogan.api import resolve_folder_size, train_run
from infogan.config import Config, ConfigError, preset
from infogan.data.folder import default_size, native_side
from infogan.latent import LatentSpec
from infogan.nets import build
from infogan.run import run_config


def _write(folder, sizes, mode="L"):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i, (w, h) in enumerate(sizes):
        shape = (h, w) if mode == "L" else (h, w, 3)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(folder / f"{i:03d}.png")
    return folder


@pytest.mark.parametrize("side,want", [(28, 28), (20, 20), (30, 28), (6, 8), (31, 28), (32, 32), (64, 32),
                                       (500, 32), (None, 32)])
def test_default_size_never_upscales(side, want):
    assert default_size(side) == want


def test_native_side_is_the_median_short_side(tmp_path):
    assert native_side(_write(tmp_path / "a", [(28, 28)] * 5)) == 28
    # the short side (the centre crop's), median over mixed sizes: one large outlier changes nothing
    assert native_side(_write(tmp_path / "b", [(20, 30), (30, 20), (24, 24), (200, 200)] + [(20, 20)] * 3)) == 20
    z = tmp_path / "c.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in sorted((tmp_path / "a").iterdir()):
            zf.write(p, f"imgs/{p.name}")
    assert native_side(z) == 28
    # a broken file decides nothing; no readable image at all: None (the preset's 32 px)
    d = _write(tmp_path / "d", [(16, 16)] * 3)
    (d / "zzz.png").write_bytes(b"not a png")
    assert native_side(d) == 16
    e = tmp_path / "e"
    e.mkdir()
    (e / "x.png").write_bytes(b"not a png")
    assert native_side(e) is None


def _folder_cfg(path, **train):
    cfg = preset("folder")
    t = replace(cfg.train, steps=2, batch_size=16, log_every=1, ckpt_every=1, eval_every=0, eval_samples=32,
                stop_patience=0, threads=1, device="cpu", **train)
    return replace(cfg, train=t, data=replace(cfg.data, data_dir=str(path), channels=1),
                   latent=LatentSpec.parse("cat10,unif2,noise62"))


def test_resolution_leaves_other_data_and_explicit_sizes_alone(tmp_path):
    d = _write(tmp_path / "imgs", [(28, 28)] * 4)
    cfg = _folder_cfg(d)
    assert cfg.data.size == 0  # the preset leaves it to the images
    got, note = resolve_folder_size(cfg)
    assert got.data.size == 28 and "28 px" in note and "data.size" in note
    fixed = replace(cfg, data=replace(cfg.data, size=64))
    assert resolve_folder_size(fixed) == (fixed, "")
    assert resolve_folder_size(preset("mnist")) == (preset("mnist"), "")


def test_a_folder_of_28_px_images_trains_at_28_px_and_resumes_there(tmp_path):
    d = _write(tmp_path / "imgs", [(28, 28)] * 40)
    lines = []
    out = train_run(_folder_cfg(d), tmp_path / "run", progress=False, log=lines.append)
    assert out["step"] == 2
    assert any("trained at 28 px" in m for m in lines), lines
    saved = run_config(tmp_path / "run")
    assert saved.data.size == 28  # the run's config.toml keeps the side: resume, cluster and explain use it
    out = train_run(replace(saved, train=replace(saved.train, steps=3)), tmp_path / "run", resume=True,
                    progress=False, log=lines.append)
    assert out["step"] == 3


def test_large_images_still_train_at_32_px(tmp_path):
    d = _write(tmp_path / "imgs", [(48, 40)] * 40)
    cfg, note = resolve_folder_size(_folder_cfg(d))
    assert cfg.data.size == 32 and "downscaled" in note


def _with_size(size):
    d = preset("folder").to_dict()
    return Config.from_dict({**d, "data": {**d["data"], "size": size}})


@pytest.mark.parametrize("size", [30, 4, 36, 256])
def test_a_side_no_net_can_build_is_refused_in_one_line(size):
    with pytest.raises(ConfigError, match=rf"data.size must be 32, 64, 128 or a multiple of 4 from 8 to 28 .*got {size}$"):
        _with_size(size)


def test_every_side_the_rule_chooses_is_valid_and_builds():
    spec = LatentSpec.parse("cat10,unif2,noise62")
    for size in sorted({default_size(s) for s in range(1, 300)}):
        assert _with_size(size).data.size == size
        g, _ = build("generic", spec, (1, size, size))
        assert g(torch.zeros(2, spec.input_dim)).shape == (2, 1, size, size)


@pytest.mark.parametrize("side,how", [(28, "28 px: their own side"), (30, "28 px: rounded down"),
                                      (6, "8 px: raised to the smallest side"), (48, "32 px: downscaled")])
def test_the_log_line_says_what_was_done(tmp_path, side, how):
    _cfg, note = resolve_folder_size(_folder_cfg(_write(tmp_path / "imgs", [(side, side)] * 3)))
    assert how in note, note
