"""benchmarks/celeba_codes.py: the label-free statistics that place a code's effect on named parts
of an aligned face (region lift), tell a sideways change from a symmetric one (mirror share) and a
colour change from a brightness change (colour share); and the script end to end on a tiny run."""

import json

import numpy as np
import pytest
import torch
from helpers import load_script


@pytest.fixture(scope="module")
def cc():
    return load_script("celeba_codes")


def test_a_map_on_the_mouth_lifts_the_mouth_and_an_even_map_lifts_nothing(cc):
    masks = cc.region_masks(32, 32)
    m = np.zeros((32, 32))
    m[masks["mouth"]] = 1.0
    lift = cc.region_lift(m)
    assert max(lift, key=lift.get) == "mouth"
    assert lift["mouth"] == pytest.approx(1 / masks["mouth"].mean())
    assert lift["eyes"] == 0 and lift["hair"] == 0
    even = cc.region_lift(np.ones((32, 32)))
    assert all(v == pytest.approx(1.0) for v in even.values())
    assert all(v == 0 for v in cc.region_lift(np.zeros((32, 32))).values())


def test_mirror_share_tells_a_turn_from_a_symmetric_change(cc):
    g = torch.Generator().manual_seed(0)
    ys, xs = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    blob = torch.exp(-((xs - 15.5) ** 2 + (ys - 14) ** 2) / 40)  # a smooth, left-right symmetric "face"
    face = blob.expand(1, 1, 3, 32, 32)
    # a code that shifts the image sideways: its changes are mostly antisymmetric
    shifted = torch.stack([torch.roll(face[0, 0], s, -1) for s in (-2, -1, 0, 1, 2)])[None]
    # a code that brightens the whole image: symmetric changes
    brighter = torch.stack([face[0, 0] * f for f in (0.6, 0.8, 1.0, 1.2)])[None]
    assert cc.change_stats(shifted)["mirror_share"] > 0.6
    assert cc.change_stats(brighter)["mirror_share"] < 1e-6
    noise = torch.rand(8, 5, 3, 32, 32, generator=g)
    assert 0.4 < cc.change_stats(noise)["mirror_share"] < 0.6


def test_colour_share_tells_a_colour_change_from_a_brightness_change(cc):
    grey = torch.full((1, 1, 3, 8, 8), 0.5)
    hues = torch.stack([grey[0, 0] + torch.tensor([d, -d, 0.0])[:, None, None] for d in (-0.2, 0.0, 0.2)])[None]
    lights = torch.stack([grey[0, 0] * f for f in (0.5, 1.0, 1.5)])[None]
    assert cc.change_stats(hues)["colour_share"] > 0.9
    assert cc.change_stats(lights)["colour_share"] < 1e-6


def test_script_end_to_end_on_a_tiny_colour_run(cc, tmp_path):
    from dataclasses import replace

    from helpers import synthetic_store, tiny_config

    from infogan.train import Trainer

    cfg = tiny_config(steps=2, latent="2xcat3,noise4", amp="off", invariance="faces", aug_rotate=5.0,
                      aug_scale=0.05, aug_shift=0.05)
    cfg = replace(cfg, model=replace(cfg.model, arch="svhn_celeba"))
    Trainer(cfg, tmp_path / "run", synthetic_store(64, shape=(3, 32, 32)), progress=False).fit()
    out, fig = tmp_path / "codes.json", tmp_path / "codes.png"
    assert cc.main([str(tmp_path / "run"), "--noise", "4", "--show", "2", "--out", str(out), "--figure", str(fig)]) == 0
    d = json.loads(out.read_text())
    assert {c["name"] for c in d["codes"]} == {"c1", "c2"}
    for c in d["codes"]:
        assert set(c["region_lift"]) == {"hair", "eyes", "mouth", "background", "bottom"}
        assert 0 <= c["mirror_share"] <= 1 and 0 <= c["colour_share"] <= 1
    from PIL import Image

    assert Image.open(fig).size[0] > 100
