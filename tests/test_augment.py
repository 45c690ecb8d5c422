import math
from dataclasses import replace

import pytest
import torch
from helpers import synthetic_store, tiny_config

from infogan.augment import affine, random_affine
from infogan.latent import LatentSpec
from infogan.losses import mi_loss, paired_mi
from infogan.train import Trainer


def test_zero_warp_is_identity_and_warps_are_seeded():
    x = torch.rand(4, 1, 28, 28)
    same = random_affine(x, torch.Generator().manual_seed(0), 0.0, 0.0, 0.0)
    assert torch.allclose(same, x, atol=1e-5)
    a = random_affine(x, torch.Generator().manual_seed(1), 15.0, 0.1, 0.1)
    b = random_affine(x, torch.Generator().manual_seed(1), 15.0, 0.1, 0.1)
    assert torch.equal(a, b) and not torch.allclose(a, x, atol=1e-3)


def test_quarter_turn_and_shift_move_pixels_where_expected():
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 1, 2] = 1.0  # an asymmetric dot (row 1, column 2)
    one = torch.ones(1)
    ccw = affine(x, torch.full((1,), math.pi / 2), one, torch.zeros(1, 2))
    assert torch.allclose(ccw, torch.rot90(x, 1, (2, 3)), atol=1e-4)  # counter-clockwise as displayed
    right = affine(x, torch.zeros(1), one, torch.tensor([[0.25, 0.0]]))  # 2 of 8 pixels to the right
    assert right[0, 0, 1, 4] == pytest.approx(1.0, abs=1e-4)
    down = affine(x, torch.zeros(1), one, torch.tensor([[0.0, 0.25]]))
    assert down[0, 0, 3, 2] == pytest.approx(1.0, abs=1e-4)


def test_warp_passes_gradients_to_the_images():
    x = torch.rand(2, 1, 16, 16, requires_grad=True)
    random_affine(x, torch.Generator().manual_seed(0), 15.0, 0.1, 0.1).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_categorical_only_leaves_continuous_codes_out():
    spec = LatentSpec.parse("cat10,unif2,noise4")
    lat = spec.sample(64, torch.Generator().manual_seed(0))
    q = torch.randn(64, spec.q_dim, generator=torch.Generator().manual_seed(1))
    _, parts = mi_loss(spec, q, lat, categorical_only=True)
    assert set(parts) == {"c1"}
    loss_all, _ = mi_loss(spec, q, lat)
    loss_cat, _ = mi_loss(spec, q, lat, categorical_only=True)
    assert float(loss_cat) != pytest.approx(float(loss_all))


def test_paired_mi_known_answers():
    spec = LatentSpec.parse("cat10,unif2,noise4")
    lab = torch.arange(1000) % 10
    q = torch.zeros(1000, spec.q_dim)
    q[:, :10] = 40 * torch.nn.functional.one_hot(lab, 10)  # confident, balanced
    _, parts = paired_mi(spec, q, q)
    assert float(parts["c1"]) == pytest.approx(math.log(10), abs=1e-4)  # agreeing views: ln k
    g = torch.Generator().manual_seed(0)
    shuffled = q[torch.randperm(1000, generator=g)]
    assert float(paired_mi(spec, q, shuffled)[0]) < 0.05  # views that disagree: ~0
    flat = torch.zeros(1000, spec.q_dim)
    assert float(paired_mi(spec, flat, flat)[0]) == pytest.approx(0.0, abs=1e-4)  # Q ignores the image
    one = torch.zeros(1000, spec.q_dim)
    one[:, 0] = 40  # confident and consistent, but one category for everything
    assert float(paired_mi(spec, one, one)[0]) == pytest.approx(0.0, abs=1e-4)
    # symmetric in the two views, and the continuous head plays no part
    noisy = q + torch.randn(1000, spec.q_dim, generator=g) * 5
    assert float(paired_mi(spec, q, noisy)[0]) == pytest.approx(float(paired_mi(spec, noisy, q)[0]), abs=1e-5)
    cont = q.clone()
    cont[:, 10:] = torch.randn(1000, spec.q_dim - 10, generator=g)
    assert float(paired_mi(spec, cont, q)[0]) == pytest.approx(math.log(10), abs=1e-4)


def test_one_step_with_every_extra_term_logs_each_in_range(tmp_path):
    cfg = tiny_config(steps=2)
    cfg = replace(cfg, train=replace(cfg.train, cat_invariance=1.0, real_consistency=1.0))
    tr = Trainer(cfg, tmp_path / "run", synthetic_store(128), progress=False)
    out = tr.step()
    assert any(k.startswith("warped/") for k in out) and any(k.startswith("consistency/") for k in out)
    assert 0.0 <= float(out["consistency/c1"]) <= math.log(10) + 1e-5
    assert float(out["warped/c1"]) <= math.log(10) + 1e-5
    assert all(torch.isfinite(v).all() for v in out.values())
