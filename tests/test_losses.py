import math

import pytest
import torch

from infogan.latent import LatentSpec
from infogan.losses import d_loss, g_loss, mi_loss


def _q_for(spec, lat, logit_scale=0.0, mean_noise=None, log_std=0.0):
    """Q output for the given latents: categorical logits = scale * one-hot(true)."""
    cols = []
    for code, v in zip(spec.codes, lat.codes):
        if code.continuous:
            mean = v.clone() if mean_noise is None else v + mean_noise * torch.randn_like(v)
            cols += [mean[:, None], torch.full_like(mean[:, None], log_std)]
        else:
            cols.append(logit_scale * torch.nn.functional.one_hot(v, code.k).float())
    return torch.cat(cols, 1)


def test_categorical_bound_between_zero_and_entropy():
    spec = LatentSpec.parse("cat10,noise4")
    lat = spec.sample(512, torch.Generator().manual_seed(0))
    h = math.log(10)
    # Uniform Q: L_I = 0 exactly.
    _, parts = mi_loss(spec, torch.zeros(512, 10), lat)
    assert float(parts["c1"]) == pytest.approx(0.0, abs=1e-5)
    # Q that knows the code: L_I -> H(c).
    _, parts = mi_loss(spec, _q_for(spec, lat, 30.0), lat)
    assert h - 1e-4 < float(parts["c1"]) <= h + 1e-6
    # Any Q: L_I <= H(c).
    for seed in range(5):
        q = torch.randn(512, 10, generator=torch.Generator().manual_seed(seed)) * 5
        _, parts = mi_loss(spec, q, lat)
        assert float(parts["c1"]) <= h + 1e-6


def test_no_softmax_before_cross_entropy():
    # With a softmax applied first, log Q could not exceed log(e / (e + 9)) ≈ -1.2, so L_I would stay
    # far below H(c) even for a perfect Q.
    spec = LatentSpec.parse("cat10,noise4")
    lat = spec.sample(256, torch.Generator().manual_seed(1))
    _, parts = mi_loss(spec, _q_for(spec, lat, 50.0), lat)
    assert float(parts["c1"]) > math.log(10) - 1e-3


def test_loss_sign_and_lambda():
    spec = LatentSpec.parse("cat10@2.5,unif1@0.1,noise4")
    lat = spec.sample(256, torch.Generator().manual_seed(2))
    q = torch.randn(256, spec.q_dim, generator=torch.Generator().manual_seed(3))
    loss, parts = mi_loss(spec, q, lat)
    ent = spec.entropies()
    # loss = Σ λ (H - L_I)  - Σ λ H  i.e. minimising it maximises λ L_I.
    expect = -(2.5 * (float(parts["c1"]) - ent["c1"]) + 0.1 * (float(parts["c2"]) - ent["c2"]))
    assert float(loss) == pytest.approx(expect, rel=1e-5)
    better = _q_for(spec, lat, 10.0, mean_noise=0.05, log_std=math.log(0.05))  # a closer mean: better either way
    assert float(mi_loss(spec, better, lat)[0]) < float(loss)


def test_gaussian_log_likelihood_matches_torch_distributions():
    # the std mode belongs to the code: "learned" scores with exp(log-std), the default with std 1
    spec = LatentSpec.parse("unif2:learned,noise3")
    lat = spec.sample(64, torch.Generator().manual_seed(0))
    q = torch.randn(64, 4, generator=torch.Generator().manual_seed(1))
    _, parts = mi_loss(spec, q, lat)
    for i, name in enumerate(["c1", "c2"]):
        mean, log_std = q[:, 2 * i], q[:, 2 * i + 1]
        ref = torch.distributions.Normal(mean, log_std.exp()).log_prob(lat.codes[i]).mean() + math.log(2)
        assert float(parts[name]) == pytest.approx(float(ref), rel=1e-5)
    _, fixed = mi_loss(LatentSpec.parse("unif2,noise3"), q, lat)
    ref = torch.distributions.Normal(q[:, 0], 1.0).log_prob(lat.codes[0]).mean() + math.log(2)
    assert float(fixed["c1"]) == pytest.approx(float(ref), rel=1e-5)


def test_continuous_bound_rises_with_a_better_posterior():
    spec = LatentSpec.parse("unif1:learned,noise3")
    lat = spec.sample(4096, torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    coarse = mi_loss(spec, _q_for(spec, lat, mean_noise=0.3, log_std=math.log(0.3)), lat)[1]["c1"]
    sharp = mi_loss(spec, _q_for(spec, lat, mean_noise=0.01, log_std=math.log(0.01)), lat)[1]["c1"]
    # For Gaussian error of std s on a Unif(-1,1) code: L_I ≈ ln 2 - ln(s·sqrt(2πe)).
    assert float(coarse) == pytest.approx(math.log(2) - math.log(0.3 * math.sqrt(2 * math.pi * math.e)), abs=0.05)
    assert float(sharp) > float(coarse) + 3


def test_q_shape_checked():
    spec = LatentSpec.parse("cat10,unif2,noise62")
    lat = spec.sample(4)
    with pytest.raises(ValueError, match=r"\(B, 14\)"):
        mi_loss(spec, torch.zeros(4, 12), lat)


def test_gan_losses():
    big = torch.full((8,), 20.0)
    assert float(d_loss(big, -big)) < 1e-6  # a perfect D
    assert float(d_loss(torch.zeros(8), torch.zeros(8))) == pytest.approx(2 * math.log(2))
    assert float(g_loss(big)) < 1e-6 and float(g_loss(-big)) > 19  # non-saturating: large when D wins
