"""Invariance families (augment.FAMILIES): what each transformation does, its repeatability and
gradients, the presets' choices, train.invariance in configs (overrides, old configs, errors)."""

import re
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from infogan.augment import FAMILIES, family, invariance_for, random_affine
from infogan.config import PRESETS, Config, ConfigError, TrainConfig, preset
from infogan.losses import RealConsistency, WarpedFakeInformation, build_objective

RANGES = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}
# The documented choice of every preset (README, docs/invariances.md); "-": no categorical code,
# so neither term is built.
PRESET_FAMILY = {
    "mnist": "digits", "fashion-mnist": "digits", "svhn": "street-digits", "celeba": "faces",
    "chairs": "objects", "chairs-rotation": "objects", "chairs-width": "objects", "folder": "generic",
    "faces": "-", "faces-azimuth": "-", "faces-elevation": "-", "faces-lighting": "-", "faces-width": "-",
    "dsprites": "-",
}


def _images(c, output, n=16, side=16, seed=0):
    lo, hi = RANGES[output]
    x = torch.rand(n, c, side, side, generator=torch.Generator().manual_seed(seed))
    x[:, :, 0, 0], x[:, :, -1, -1] = 0.0, 1.0  # both ends of the range occur
    return x * (hi - lo) + lo


def _still(f):
    """The family without geometric change (its flips and colour changes only)."""
    return f.with_params(0.0, 0.0, 0.0)


def _warped_terms(cfg):
    return [t for t in build_objective(cfg).terms if isinstance(t, (RealConsistency, WarpedFakeInformation))]


@pytest.mark.parametrize("name", sorted(FAMILIES))
@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("output", ["sigmoid", "tanh"])
def test_family_keeps_shape_and_range_and_repeats_with_its_generator(name, c, output):
    x = _images(c, output)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    a, b = family(name).apply(x, g1, output), family(name).apply(x, g2, output)
    lo, hi = RANGES[output]
    assert a.shape == x.shape and a.dtype == x.dtype
    assert float(a.min()) >= lo - 1e-6 and float(a.max()) <= hi + 1e-6
    assert torch.equal(a, b) and torch.equal(g1.get_state(), g2.get_state())
    if name == "none":
        assert a is x and torch.equal(g1.get_state(), torch.Generator().manual_seed(5).get_state())
    else:
        assert not torch.allclose(a, x, atol=1e-3)  # it transforms
        other = family(name).apply(x, torch.Generator().manual_seed(6), output)
        assert not torch.equal(a, other)  # and its draws come from the generator


@pytest.mark.parametrize("name", sorted(set(FAMILIES) - {"none"}))
@pytest.mark.parametrize("c", [1, 3])
def test_family_is_differentiable_in_the_images(name, c):
    x = (0.25 + 0.5 * torch.rand(4, c, 16, 16, generator=torch.Generator().manual_seed(0))).requires_grad_()
    y = family(name).apply(x, torch.Generator().manual_seed(1), "sigmoid")
    (y * torch.linspace(0, 1, y.numel()).view_as(y)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_digits_family_is_the_mnist_presets_old_warp_bit_for_bit():
    """Same generator calls in the same order as random_affine(x, gen, 30, 0.1, 0.1): the mnist
    preset trains exactly as before the families existed."""
    x = torch.rand(32, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    g_new, g_old = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    for _ in range(3):  # several draws in a row: the generator stays in step
        new = family("digits").apply(x, g_new, "sigmoid")
        old = random_affine(x, g_old, 30.0, 0.1, 0.1)
        assert torch.equal(new, old)
    assert torch.equal(g_new.get_state(), g_old.get_state())
    assert invariance_for(preset("mnist").train) == family("digits")


def test_generic_family_on_gray_images_is_the_digits_family():
    """The folder preset on 1-channel images (MNIST as a folder) gets the mnist preset's warps."""
    x = torch.rand(8, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    a = family("generic").apply(x, torch.Generator().manual_seed(3), "sigmoid")
    b = family("digits").apply(x, torch.Generator().manual_seed(3), "sigmoid")
    assert torch.equal(a, b)


def test_photos_flip_left_right_and_no_other_family_does():
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 2, 1] = 1.0  # a left-right asymmetric image
    x = x.expand(64, 1, 8, 8).contiguous()
    y = _still(family("photos")).apply(x, torch.Generator().manual_seed(0), "sigmoid")
    same = (y - x).abs().flatten(1).amax(1) < 1e-5
    mirrored = (y - x.flip(3)).abs().flatten(1).amax(1) < 1e-5
    assert bool((same | mirrored).all()) and 16 < int(mirrored.sum()) < 48  # p = 0.5
    assert float(y[mirrored][0, 0, 2, 6]) == pytest.approx(1.0, abs=1e-5)
    for name in sorted(set(FAMILIES) - {"photos"}):
        out = _still(family(name)).apply(x, torch.Generator().manual_seed(0), "sigmoid")
        assert torch.allclose(out, x, atol=1e-5), name  # no flip (and on gray images no colour)


@pytest.mark.parametrize("output", ["sigmoid", "tanh"])
def test_colour_changes_act_on_three_channels_only(output):
    for name in ("photos", "street-digits", "generic"):
        f = family(name)
        plain = replace(f, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0)
        gray, rgb = _images(1, output), _images(3, output)
        a = f.apply(gray, torch.Generator().manual_seed(2), output)
        b = plain.apply(gray, torch.Generator().manual_seed(2), output)
        assert torch.equal(a, b), name  # 1 channel: no colour change, no extra draws
        a = f.apply(rgb, torch.Generator().manual_seed(2), output)
        b = plain.apply(rgb, torch.Generator().manual_seed(2), output)
        assert not torch.allclose(a, b, atol=1e-3), name
    for name in ("digits", "faces", "objects"):  # families that keep the colours
        rgb = _images(3, output)
        out = _still(family(name)).apply(rgb, torch.Generator().manual_seed(2), output)
        assert torch.allclose(out, rgb, atol=1e-5), name


def test_colour_changes_keep_gray_gray_except_brightness_and_contrast():
    """Saturation and hue act on the colour of a pixel, not on a gray one (all channels equal)."""
    g = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 0.6 + 0.2
    f = replace(_still(family("street-digits")), brightness=0.0, contrast=0.0)
    out = f.apply(g.expand(8, 3, 8, 8).contiguous(), torch.Generator().manual_seed(1), "sigmoid")
    assert torch.allclose(out, g.expand(8, 3, 8, 8), atol=1e-5)


def test_presets_choose_the_documented_family():
    assert set(PRESET_FAMILY) == set(PRESETS)
    for name, fam in PRESET_FAMILY.items():
        cfg = preset(name)
        if fam == "-":
            assert not cfg.latent.categorical and not _warped_terms(cfg), name
            assert (cfg.train.real_consistency, cfg.train.cat_invariance) == (0.0, 0.0), name
            continue
        t = cfg.train
        assert t.invariance == fam and (t.real_consistency, t.cat_invariance) == (1.0, 1.0), name
        assert len(_warped_terms(cfg)) == 2, name
        f = FAMILIES[fam]
        rotate = 15.0 if name == "fashion-mnist" else f.rotate  # clothes: smaller rotations
        assert (t.aug_rotate, t.aug_scale, t.aug_shift) == (rotate, f.scale, f.shift), name
    assert preset("celeba").train.joint_bn


def test_the_readmes_table_names_each_presets_family():
    lines = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| preset | `train.invariance` |"))
    seen = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = line.split("|")
        fam = re.findall(r"`([^`]+)`", cells[2])
        for name in re.findall(r"`([^`]+)`", cells[1]):
            names = [p for p in PRESETS if p.startswith(name[:-1])] if name.endswith("*") else [name]
            for n in names:
                seen[n] = fam[0] if fam else "-"
    assert seen == PRESET_FAMILY


def test_invariance_none_is_the_papers_recipe():
    cfg = preset("mnist").override(["train.invariance=none"])
    paper = preset("mnist").override(["train.real_consistency=0", "train.cat_invariance=0"])
    assert [t.name for t in build_objective(cfg).terms] == [t.name for t in build_objective(paper).terms] == ["adversarial", "mi"]
    for name in ("svhn", "celeba", "chairs", "folder"):
        assert not _warped_terms(preset(name).override(["train.invariance=none"])), name


def test_setting_a_family_sets_its_parameters_and_aug_values_win_in_any_order():
    t = preset("mnist").override(["train.invariance=photos"]).train
    assert (t.invariance, t.aug_rotate, t.aug_scale, t.aug_shift) == ("photos", 5.0, 0.1, 0.08)
    for sets in (["train.aug_rotate=10", "train.invariance=photos"], ["train.invariance=photos", "train.aug_rotate=10"]):
        t = preset("mnist").override(sets).train
        assert (t.invariance, t.aug_rotate, t.aug_shift) == ("photos", 10.0, 0.08), sets
        assert invariance_for(t) == replace(family("photos"), rotate=10.0)
    t = Config.from_dict({"preset": "celeba", "train": {"aug_shift": 0.02, "invariance": "objects"}}).train
    assert (t.invariance, t.aug_rotate, t.aug_scale, t.aug_shift) == ("objects", 0.0, 0.1, 0.02)
    cfg = preset("fashion-mnist")
    assert Config.from_dict(tomllib.loads(cfg.to_toml())) == cfg  # the written aug_* values win on reading


@pytest.mark.parametrize("how", ["override", "from_dict", "direct"])
def test_an_unknown_family_is_one_line_naming_the_value_and_the_choices(how):
    build = {
        "override": lambda: preset("mnist").override(["train.invariance=mirror"]),
        "from_dict": lambda: Config.from_dict({"preset": "svhn", "train": {"invariance": "mirror"}}),
        "direct": lambda: Config(train=TrainConfig(invariance="mirror")),
    }[how]
    with pytest.raises(ConfigError) as e:
        build()
    msg = str(e.value)
    assert "\n" not in msg and "train.invariance" in msg and "'mirror'" in msg
    assert all(name in msg for name in FAMILIES)


def _old_table(cfg, drop=("invariance",), **values):
    """A config dict as an earlier version wrote it: the whole train table, without ``drop``."""
    d = cfg.to_dict()
    d["train"] = {k: v for k, v in {**d["train"], **values}.items() if k not in drop}
    return d


@pytest.mark.parametrize("name,k", [("mnist", 1), ("svhn", 4), ("celeba", 10), ("chairs", 3)])
def test_the_terms_weights_are_shared_over_the_categorical_codes(name, k):
    cfg = preset(name)
    assert cfg.train.invariance_weighting == "shared" and len(cfg.latent.categorical) == k
    # each term weighs as much in total for k codes as for one: weight / k per code
    assert sorted(t.weight for t in _warped_terms(cfg)) == pytest.approx([1.0 / k] * 2)
    per_code = replace(cfg, train=replace(cfg.train, invariance_weighting="per_code", cat_invariance=2.0))
    assert sorted(t.weight for t in _warped_terms(per_code)) == pytest.approx([1.0, 2.0])


def test_the_shared_term_is_the_per_code_term_divided_by_k():
    from infogan.losses import Views

    cfg = preset("celeba")
    spec = cfg.latent
    gen = torch.Generator().manual_seed(0)
    lat = spec.sample(8, gen)
    q = {v: torch.randn(8, spec.q_dim, generator=gen) for v in ("real", "real_warped", "fake_warped")}
    views = Views(d={}, q=q, latents=lat)
    per = replace(cfg, train=replace(cfg.train, invariance_weighting="per_code"))
    for shared_t, per_t in zip(_warped_terms(cfg), _warped_terms(per), strict=True):
        a, b = shared_t.d(views)[0], per_t.d(Views(d={}, q=q, latents=lat))[0]
        assert float(a) == pytest.approx(float(b) / 10, rel=1e-6) and float(b) != 0


def test_an_unknown_weighting_is_refused_in_one_line():
    cfg = preset("celeba")
    with pytest.raises(ConfigError, match=r"train.invariance_weighting must be shared or per_code, got 'mean'$"):
        Config.from_dict({**cfg.to_dict(), "train": {**cfg.to_dict()["train"], "invariance_weighting": "mean"}})


def test_old_configs_load_with_their_meaning():
    # the mnist preset before the families: its saved warp is the digits family with its aug_* values
    old = Config.from_dict(_old_table(preset("mnist"), aug_rotate=15.0))
    assert old.train.invariance == "digits" and old.train.aug_rotate == 15.0
    assert invariance_for(old.train) == replace(family("digits"), rotate=15.0) and len(_warped_terms(old)) == 2
    # an svhn / celeba run of an earlier version: terms off, and still off
    for name in ("svhn", "celeba", "folder"):
        old = Config.from_dict(_old_table(preset(name), real_consistency=0.0, cat_invariance=0.0))
        assert old.train.invariance == "digits" and not _warped_terms(old), name
    # written before the terms existed at all: they were off
    old = Config.from_dict(_old_table(preset("svhn"), drop=("invariance", "real_consistency", "cat_invariance",
                                                            "aug_rotate", "aug_scale", "aug_shift")))
    assert not _warped_terms(old) and old.train.invariance == "digits"
    # a table of the version with fixed_std and the retired terms
    old = Config.from_dict(_old_table(preset("mnist"), drop=("invariance", "update"), fixed_std=True,
                                      real_mi_weight=0.0, aug_rotate=30.0))
    assert old.train.invariance == "digits" and old.train.update == "simultaneous"
    # written before train.warp_fraction: the transformed views covered the whole batch
    old = Config.from_dict(_old_table(preset("mnist"), drop=("invariance", "warp_fraction")))
    assert old.train.warp_fraction == 1.0 and preset("mnist").train.warp_fraction == 0.5
    # written before train.invariance_weighting: every code had the whole weight
    old = Config.from_dict(_old_table(preset("celeba"), drop=("invariance_weighting",)))
    assert old.train.invariance_weighting == "per_code" and [t.weight for t in _warped_terms(old)] == [1.0, 1.0]
    # a file a person writes (a few keys) takes the rest, the family too, from its preset
    part = Config.from_dict({"preset": "celeba", "train": {"steps": 3, "cat_invariance": 2.0}})
    assert part.train.invariance == "faces" and part.train.aug_rotate == 5.0 and part.train.cat_invariance == 2.0


def test_a_colour_and_flip_family_trains_repeatably_on_rgb_tanh_images(tmp_path):
    from helpers import synthetic_store

    from infogan.train import Trainer

    cfg = preset("folder").override(["train.invariance=photos", "train.batch_size=8", "train.device=cpu",
                                     "train.stop_patience=0", "train.eval_every=0", "train.amp=off"])
    store = synthetic_store(32, shape=(3, 32, 32))
    outs = []
    for run in ("a", "b"):
        tr = Trainer(cfg, tmp_path / run, store, progress=False)
        assert tr.output == "tanh"
        outs.append([tr.step()])
    for a, b in zip(*outs):
        assert set(a) == set(b) and {"warped/c1", "consistency/c1"} <= set(a)
        assert all(torch.equal(a[k], b[k]) for k in a)
