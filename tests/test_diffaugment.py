"""Differentiable augmentation before D (DiffAugment) with ADA's adaptive probability: the
transformations, Q reading un-augmented fakes, p's update, the size-based default, exact resume."""

from dataclasses import replace

import pytest
import torch
from helpers import synthetic_store, tiny_config

from infogan import checkpoint as ckpt
from infogan.augment import ADA_INTERVAL, AUTO_MAX_IMAGES, AdaptiveAugment, diff_augment
from infogan.checkpoint import CheckpointError
from infogan.config import ConfigError, preset, validate
from infogan.run import check_state
from infogan.train import Trainer


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_translation_moves_content_without_changing_it():
    x = torch.zeros(64, 1, 16, 16)
    x[:, :, 8, 8] = 1.0  # one bright pixel in the middle
    y = diff_augment(x, _gen(), ("translation",), "sigmoid")
    assert y.shape == x.shape
    assert torch.equal(y.sum((1, 2, 3)), torch.ones(64))  # moved, not blurred or lost
    pos = y.flatten(1).argmax(1)
    dy, dx = pos // 16 - 8, pos % 16 - 8
    assert dy.abs().max() <= 2 and dx.abs().max() <= 2  # at most 1/8 of the side
    assert (dy != 0).any() and (dx != 0).any()  # and it does move


def test_cutout_blanks_one_square_of_half_the_side():
    x = torch.ones(200, 3, 16, 16)
    y = diff_augment(x, _gen(1), ("cutout",), "tanh")
    zeros = (y[:, 0] == 0).sum((1, 2))
    assert zeros.max() == 64  # an 8x8 square where it lies wholly inside
    assert (zeros > 0).all()
    assert torch.equal((y == 0).all(1), (y[:, 0] == 0))  # the same square in every channel


def test_colour_changes_brightness_and_contrast_and_is_differentiable():
    x = torch.rand(32, 3, 8, 8, requires_grad=True)
    y = diff_augment(x, _gen(2), ("color",), "tanh")
    assert not torch.allclose(y.mean((1, 2, 3)), x.mean((1, 2, 3)))
    y.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    gray = diff_augment(torch.rand(4, 1, 8, 8), _gen(3), ("color",), "sigmoid")  # no saturation on one channel
    assert gray.shape == (4, 1, 8, 8)


def test_same_generator_state_same_augmentation():
    x = torch.rand(8, 1, 16, 16)
    torch.testing.assert_close(diff_augment(x, _gen(5)), diff_augment(x, _gen(5)), rtol=0, atol=0)


def _trainer(tmp_path, n=256, **train):
    cfg = tiny_config(amp="off", **train)
    return Trainer(cfg, tmp_path / "run", synthetic_store(n), progress=False)


@pytest.mark.parametrize("p", [1.0, 0.5])
@pytest.mark.parametrize("fuse", [True, False])
def test_d_judges_augmented_images_and_q_reads_the_generator_s_own(tmp_path, p, fuse):
    tr = _trainer(tmp_path, augment="fixed", augment_p=p, fuse_views=fuse)
    tr.D.eval()  # running statistics: every row's outputs depend on that row alone
    lat = tr.sample_latents(16)
    real = tr.real_batch(16)
    fake = tr.G(tr.spec.to_input(lat)).detach().requires_grad_()
    v = tr.views(("real", "fake"), lat, real, fake)
    with torch.no_grad():
        d_fake, q_fake = tr.D(fake)
        _, q_real = tr.D(real)
    assert v.q["fake"].shape == q_fake.shape and v.d["fake"].shape == d_fake.shape
    torch.testing.assert_close(v.q["fake"], q_fake, rtol=1e-5, atol=1e-5)  # Q: the un-augmented fakes
    torch.testing.assert_close(v.q["real"], q_real, rtol=1e-5, atol=1e-5)
    changed = ~torch.isclose(v.d["fake"], d_fake, atol=1e-5)
    assert changed.any()  # D: augmented rows
    if p == 1.0:
        assert changed.float().mean() > 0.8
    # G's adversarial gradient runs through the augmentation
    v.d["fake"].sum().backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0


def test_adaptive_p_follows_d_overfitting():
    a = AdaptiveAugment("adaptive", 0.0, 0.6, 1.0, "color", batch=100)
    step = ADA_INTERVAL * 100 / 1000  # images in an interval / (kimg * 1000)
    for _ in range(ADA_INTERVAL):
        a.observe(torch.full((100,), 3.0))  # D sure of every real image: r_t = 1 > 0.6
    assert a.p == pytest.approx(step) and a.last_rt == 1.0 and a.active
    for _ in range(ADA_INTERVAL * 2):
        a.observe(torch.full((100,), -1.0))  # r_t = -1 < 0.6: p goes down, never below 0
    assert a.p == 0.0 and not a.active
    for _ in range(ADA_INTERVAL * 10):
        a.observe(torch.ones(100))
    assert a.p == 1.0  # and never above 1
    rows = a.rows(10, _gen())
    assert torch.equal(rows, torch.arange(10))
    fixed = AdaptiveAugment("fixed", 0.25, 0.6, 1.0, "cutout", batch=100)
    fixed.observe(torch.ones(100))
    assert fixed.p == 0.25
    n = sum(len(fixed.rows(100, _gen(s))) for s in range(40))
    assert 800 < n < 1200  # about p of the rows


def test_default_follows_the_data_set_size(tmp_path):
    assert AdaptiveAugment.resolve("auto", AUTO_MAX_IMAGES - 1) == "adaptive"
    assert AdaptiveAugment.resolve("auto", AUTO_MAX_IMAGES) == "off"
    assert AdaptiveAugment.resolve("fixed", 10) == "fixed"
    for name in ("mnist", "folder", "celeba"):
        assert preset(name).train.augment == "auto"
    assert _trainer(tmp_path, n=256).augment.mode == "adaptive"
    big = Trainer(tiny_config(), tmp_path / "big", synthetic_store(AUTO_MAX_IMAGES, shape=(1, 8, 8)), progress=False)
    assert big.augment.mode == "off" and not big.augment.active
    assert "augment" not in big.state()  # off: nothing extra in checkpoints


def test_resume_with_adaptive_augmentation_matches_uninterrupted(tmp_path):
    data = synthetic_store(512)
    # p starts at 0.3 and moves fast, so that the augmentation and its update both matter
    cfg = tiny_config(steps=10, batch=16, ckpt_every=5, keep_ckpts=5, augment="adaptive", augment_p=0.3,
                      augment_kimg=0.2)
    full = Trainer(cfg, tmp_path / "full", data, progress=False)
    full.fit()
    part = Trainer(cfg, tmp_path / "part", data, progress=False)
    part.fit(5)  # stops between two updates of p (every 4 steps): the pending signs are saved too
    _, state = ckpt.load_latest(tmp_path / "part" / "checkpoints")
    assert state["augment"]["pending"]
    resumed = Trainer(cfg, tmp_path / "part", data, progress=False)
    resumed.load_state(state)
    resumed.fit()
    assert full.augment.p == resumed.augment.p and full.augment.p != 0.3
    for (k, a), b in zip(full.G.state_dict().items(), resumed.G.state_dict().values()):
        assert torch.equal(a, b), k
    rows = [r for r in map(__import__("json").loads, (tmp_path / "full" / "metrics.jsonl").read_text().splitlines())
            if "augment_p" in r]
    assert rows and all(0 <= r["augment_p"] <= 1 for r in rows)


def test_bad_augment_state_is_refused(tmp_path):
    tr = _trainer(tmp_path, augment="adaptive", augment_p=0.1)
    state = tr.state()
    state["augment"] = {**state["augment"], "p": 2.0}
    with pytest.raises(CheckpointError, match="augment.p"):
        check_state(tr.cfg, state, tmp_path / "step_00000000.ckpt")


@pytest.mark.parametrize(("key", "value", "match"), [
    ("augment", "sometimes", "train.augment must be"),
    ("augment_p", 1.5, "train.augment_p"),
    ("augment_ops", "color,rotate", "rotate"),
    ("augment_target", 1.0, "train.augment_target"),
    ("augment_kimg", 0.0, "train.augment_kimg"),
])
def test_bad_augment_settings_are_one_line_errors(key, value, match):
    cfg = preset("folder")
    with pytest.raises(ConfigError, match=match):
        validate(replace(cfg, train=replace(cfg.train, **{key: value})))
