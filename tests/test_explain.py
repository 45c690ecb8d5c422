"""`infogan explain`: effect maps, strengths and inactive codes of a generator, label-free.

A generator wired by hand says what the answers must be: its noise shades the whole image, c1
(continuous) only the top-left quadrant, c2 (categorical) only the bottom-right, and c3 nothing.
"""

import json
import os
import shutil

import numpy as np
import pytest
import torch
from helpers import train_tiny_run
from PIL import Image

from infogan.cli import main
from infogan.explain import INACTIVE_RATIO, QUANTUM, code_effects, read_effects, render_effects, table, write_effects
from infogan.latent import LatentSpec

SIDE = 16
SPEC = LatentSpec.parse("unif1,cat4,unif1,noise6")


class Wired(torch.nn.Module):
    """16x16 one-channel images, sigmoid(noise shading + c1 on the top-left quadrant + c2 on the
    bottom-right + c3_gain * c3 on ``c3_region``); G's input is [noise (6), c1, c2 one-hot (4), c3]."""

    output = "sigmoid"

    def __init__(self, c3_gain=0.0, c3_region=None, c1_gain=1.5):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.noise_w = torch.nn.Parameter(0.5 * torch.randn(6, SIDE * SIDE, generator=g))
        self.levels = torch.nn.Parameter(torch.tensor([-2.0, -0.5, 0.7, 2.0]))
        self.bn = torch.nn.BatchNorm1d(1)  # in train mode it would mix the batch's images
        self.c1_gain, self.c3_gain = c1_gain, c3_gain
        self.tl = torch.zeros(SIDE, SIDE)
        self.tl[: SIDE // 2, : SIDE // 2] = 1
        self.br = torch.zeros(SIDE, SIDE)
        self.br[SIDE // 2 :, SIDE // 2 :] = 1
        self.c3_region = torch.ones(SIDE, SIDE) if c3_region is None else c3_region

    def forward(self, x):
        noise, c1, c2, c3 = x[:, :6], x[:, 6], x[:, 7:11], x[:, 11]
        shade = (noise @ self.noise_w).reshape(-1, SIDE, SIDE)
        shade = shade + self.bn(x[:, :1]).reshape(-1, 1, 1) * 0  # BN present, output unaffected in eval mode
        logits = (shade + self.c1_gain * c1[:, None, None] * self.tl + (c2 @ self.levels)[:, None, None] * self.br
                  + self.c3_gain * c3[:, None, None] * self.c3_region)
        return torch.sigmoid(logits).unsqueeze(1)


def quadrant_share(m, rows, cols):
    return m[rows, cols].sum() / m.sum()


TOP_LEFT = (slice(0, SIDE // 2), slice(0, SIDE // 2))
BOTTOM_RIGHT = (slice(SIDE // 2, SIDE), slice(SIDE // 2, SIDE))


@pytest.fixture(scope="module")
def effects():
    return code_effects(Wired(), SPEC, n_noise=32, seed=0)


def test_maps_lie_where_each_code_is_wired(effects):
    c1, c2 = effects.code("c1"), effects.code("c2")
    assert c1.effect_map.shape == c2.effect_map.shape == (SIDE, SIDE)
    assert quadrant_share(c1.effect_map, *TOP_LEFT) > 0.9
    assert quadrant_share(c2.effect_map, *BOTTOM_RIGHT) > 0.9
    assert c1.centroid[0] < 0.5 and c1.centroid[1] < 0.5 and c1.where == "top left"
    assert c2.centroid[0] > 0.5 and c2.centroid[1] > 0.5 and c2.where == "bottom right"
    # a quarter of the image: about 0.4 of the mass in the top tenth of the pixels, 0.1 for the noise
    assert 0.3 < c1.concentration < 0.6 and 0.3 < c2.concentration < 0.6
    assert effects.reference.concentration < 0.2 and effects.reference.where == "everywhere"
    assert c1.kind == "uniform" and c2.kind == "categorical" and c2.values == (0.0, 1.0, 2.0, 3.0)
    assert len(c1.values) == 10 and (c1.values[0], c1.values[-1]) == (-2.0, 2.0)  # the traversal range


def test_ignored_code_is_inactive_and_last(effects):
    c3 = effects.code("c3")
    assert c3.inactive and c3.rank == 3 and [e.name for e in effects][-1] == "c3"
    assert c3.strength == 0 and c3.ratio == 0 and c3.concentration is None and c3.where == "nowhere"
    for name in ("c1", "c2"):
        e = effects.code(name)
        assert not e.inactive and e.ratio > INACTIVE_RATIO and e.rank in (1, 2)
    a, b = effects.codes[:2]
    assert a.strength >= b.strength and a.ratio == pytest.approx(a.strength / effects.reference.strength)


def test_weak_code_is_inactive_and_a_strong_small_spot_is_not():
    weak = code_effects(Wired(c3_gain=1e-3), SPEC, n_noise=16).code("c3")
    assert weak.strength > 0 and weak.inactive  # it does change pixels, far below the noise's variation
    spot = torch.zeros(SIDE, SIDE)
    spot[7:9, 7:9] = 1  # 4 of 256 pixels, changed a lot
    e = code_effects(Wired(c3_gain=1.0, c3_region=spot), SPEC, n_noise=16)
    c3 = e.code("c3")
    assert c3.ratio < INACTIVE_RATIO < c3.peak_ratio and not c3.inactive  # the peak keeps it active
    assert c3.concentration == pytest.approx(1.0) and c3.where == "centre"


def test_generator_ignoring_its_noise_flags_only_invisible_changes():
    G = Wired(c3_gain=1e-4)
    with torch.no_grad():
        G.noise_w.zero_()
    e = code_effects(G, SPEC, n_noise=8)
    assert e.reference.strength == 0
    assert not e.code("c1").inactive and e.code("c3").inactive  # c3's change is below half a grey level
    assert np.quantile(e.code("c3").effect_map, 0.99) < QUANTUM
    assert np.isfinite([c.ratio for c in e]).all()


def test_deterministic_given_the_seed_and_restores_train_mode():
    G = Wired()
    G.train()
    a = code_effects(G, SPEC, n_noise=8, seed=3)
    assert G.training and G.bn.num_batches_tracked == 0  # ran in eval mode: BN statistics untouched
    b = code_effects(G, SPEC, n_noise=8, seed=3)
    c = code_effects(G, SPEC, n_noise=8, seed=4)
    for x, y, z in zip(a, b, c):
        assert np.array_equal(x.effect_map, y.effect_map) and x.ratio == y.ratio
    assert not np.array_equal(a.code("c1").effect_map, c.code("c1").effect_map)


def test_real_generator_with_batch_norm():
    from infogan.nets import build

    spec = LatentSpec.parse("cat3,gauss1,noise4")
    torch.manual_seed(0)
    G, _ = build("mnist", spec, (1, 28, 28))
    G.train()
    e = code_effects(G, spec, n_noise=4, n_values=3)
    assert G.training and {c.name for c in e} == {"c1", "c2"} and e.image_shape == (1, 28, 28)
    assert e.reference.kind == "noise" and e.reference.strength > 0
    assert not any(p.grad is not None for p in G.parameters())


def test_no_noise_spec_compares_with_the_whole_prior():
    spec = LatentSpec.parse("cat3,unif1")

    class G(torch.nn.Module):
        output = "tanh"

        def forward(self, x):
            return torch.tanh(x[:, :1, None, None].expand(-1, 3, 4, 4) + x[:, 3:4, None, None])

    e = code_effects(G(), spec, n_noise=4)
    assert e.reference.kind == "prior" and e.reference.strength > 0 and e.image_shape == (3, 4, 4)


@pytest.mark.parametrize("kw", [{"n_noise": 0}, {"n_values": 1}, {"n_noise": 1.5}])
def test_bad_counts_are_refused(kw):
    with pytest.raises(ValueError):
        code_effects(Wired(), SPEC, **kw)


def test_picture_and_json(effects, tmp_path):
    arr = render_effects(effects, "wired")
    assert arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3
    png, js = write_effects(effects, tmp_path / "out", {"run": "wired", "step": 0})
    with Image.open(png) as im:
        assert im.size == (arr.shape[1], arr.shape[0])
    d = json.loads(js.read_text())
    assert d == read_effects(tmp_path / "out") and d["run"] == "wired" and d["n_noise"] == 32
    assert [c["name"] for c in d["codes"]] == [e.name for e in effects] and d["codes"][-1]["inactive"] is True
    assert {"name", "kind", "strength", "ratio", "peak_ratio", "concentration", "centroid", "where", "inactive",
            "rank"} <= set(d["codes"][0])
    lines = table(d)
    assert len(lines) == 1 + 3 + 1 and "inactive" in lines[3] and "c3" in lines[3]


def test_read_effects_tolerates_bad_files(tmp_path):
    assert read_effects(tmp_path) is None
    (tmp_path / "effects.json").write_text("[1, 2]")
    assert read_effects(tmp_path) is None
    (tmp_path / "effects.json").write_text("{not json")
    assert read_effects(tmp_path) is None


# ---- the command ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_explain_run(tmp_path_factory):
    """One run of 2 steps on tiny 8x8 data (checkpoints at steps 1 and 2)."""
    return train_tiny_run(tmp_path_factory.mktemp("explain")) / "run"


@pytest.fixture
def run_copy(tiny_explain_run, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(tiny_explain_run, dst, copy_function=os.link)  # new files only: links are safe
    return dst


def test_cli_writes_picture_json_and_report(run_copy, capsys):
    assert main(["explain", str(run_copy), "--noise", "8"]) == 0
    out = capsys.readouterr().out
    d = json.loads((run_copy / "explain" / "effects.json").read_text())
    assert d["step"] == 2 and d["checkpoint"] == "step_000000002.safetensors" and d["n_noise"] == 8
    assert sorted(c["name"] for c in d["codes"]) == ["c1", "c2", "c3"]
    assert sorted(c["rank"] for c in d["codes"]) == [1, 2, 3]
    for c in d["codes"]:
        assert {"name", "kind", "strength", "ratio", "concentration", "centroid", "inactive", "rank"} <= set(c)
    with Image.open(run_copy / "explain" / "effects.png") as im:
        assert im.format == "PNG" and im.width > 100
    assert "rank" in out and "effects.png" in out
    report = (run_copy / "report.md").read_text()
    assert "## What each code does" in report and "explain/effects.png" in report


def test_cli_json_step_and_out(run_copy, tmp_path, capsys):
    out = tmp_path / "elsewhere" / "fx"
    assert main(["explain", str(run_copy), "--step", "1", "--noise", "4", "--values", "3", "--json",
                 "--out", str(out)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["step"] == 1 and d["n_values"] == 3 and json.loads((out / "effects.json").read_text()) == d
    assert (out / "effects.png").is_file() and not (run_copy / "explain").exists()
    assert "What each code does" not in (run_copy / "report.md").read_text()


def snapshot(root):
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("argv,needles", [
    (["explain", "{tmp}/nowhere"], ["nowhere", "does not exist"]),
    (["explain", "{run}", "--noise", "0"], ["--noise must be in 1..4096, got 0"]),
    (["explain", "{run}", "--values", "1"], ["--values must be in 2..64, got 1"]),
    (["explain", "{run}", "--step", "7"], ["no checkpoint of step 7", "steps kept: 1, 2"]),
    (["explain", "{run}", "--out", "{run}/config.toml"], ["is a file"]),
])
def test_cli_bad_input_one_line_exit_2(argv, needles, run_copy, tmp_path, capsys):
    argv = [a.format(tmp=tmp_path, run=run_copy) for a in argv]
    before = snapshot(tmp_path)
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("infogan explain: error: "), err
    for n in needles:
        assert n in err[0]
    assert snapshot(tmp_path) == before


def test_work_is_bounded():
    from infogan.explain import MAX_IMAGES, images_needed

    spec = LatentSpec.parse("cat60000,unif1,noise2")
    assert images_needed(spec, 100, 10) == 100 * (10 + 60000 + 10) > MAX_IMAGES
    with pytest.raises(ValueError, match="generated images"):
        code_effects(Wired(), spec, n_noise=100)  # refused before anything is generated
