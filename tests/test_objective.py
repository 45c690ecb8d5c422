"""The objective's terms one by one, how the config builds them, and the two update schemes."""

import math
from dataclasses import replace

import pytest
import torch
from helpers import synthetic_store, tiny_config

from infogan.config import Config, ConfigError, preset
from infogan.latent import LatentSpec
from infogan.losses import (
    Adversarial,
    ContrastivePairs,
    MutualInformation,
    Objective,
    RealConsistency,
    Views,
    WarpedFakeInformation,
    build_objective,
    d_loss,
    g_loss,
    mi_loss,
    paired_mi,
)
from infogan.train import Trainer

SPEC = LatentSpec.parse("cat10,unif2,noise4")


def _views(n=256, seed=0, know=0.0):
    """Views of a fake batch whose Q logits are ``know`` x one-hot(true category)."""
    g = torch.Generator().manual_seed(seed)
    lat = SPEC.sample(n, g)
    q = torch.randn(n, SPEC.q_dim, generator=g)
    q[:, :10] += know * torch.nn.functional.one_hot(lat.codes[0], 10)
    v = Views(lat)
    v.d = {k: torch.randn(n, generator=g) for k in ("real", "fake", "fake_warped", "real_warped")}
    v.q = {"fake": q, "fake_warped": q + 0.1 * torch.randn(n, SPEC.q_dim, generator=g),
           "real": q.flip(0), "real_warped": q.flip(0)}
    return v


def test_adversarial_is_the_gan_game():
    v = _views()
    assert Adversarial().d_views == ("real", "fake") and Adversarial().g_views == ("fake",)
    assert torch.equal(Adversarial().d(v)[0], d_loss(v.d["real"], v.d["fake"]))
    assert torch.equal(Adversarial().g(v)[0], g_loss(v.d["fake"]))


def test_mutual_information_enters_both_losses_and_logs_the_bound():
    v = _views(know=30.0)
    term = MutualInformation(SPEC)
    loss_d, logs = term.d(v)
    loss_g, _ = term.g(v)
    assert loss_d is loss_g  # one value for both players, computed once
    assert torch.equal(loss_d, mi_loss(SPEC, v.q["fake"], v.latents)[0])
    assert math.log(10) - 1e-3 < float(logs["mi/c1"]) <= math.log(10) + 1e-6
    baseline = MutualInformation(SPEC, to_g=False)
    assert baseline.g(_views())[0] is None and baseline.g_views == ()


def test_warped_fake_term_scores_categorical_codes_on_the_warped_view():
    v = _views(know=30.0)
    term = WarpedFakeInformation(SPEC, 2.0)
    loss, logs = term.d(v)
    ref, _ = mi_loss(SPEC, v.q["fake_warped"], v.latents, categorical_only=True)
    assert torch.allclose(loss, 2.0 * ref) and set(logs) == {"warped/c1"}
    assert torch.allclose(term.g(v)[0], 2.0 * ref)
    assert WarpedFakeInformation(SPEC, 1.0, to_g=False).g(v)[0] is None


def test_real_consistency_is_in_l_d_only_and_bounded_by_ln_k():
    v = _views(know=40.0)
    v.q["real"] = v.q["fake"]
    v.q["real_warped"] = v.q["fake"]
    term = RealConsistency(SPEC, 1.5)
    loss, logs = term.d(v)
    assert float(logs["consistency/c1"]) == pytest.approx(math.log(10), abs=0.05)
    assert torch.allclose(loss, -1.5 * paired_mi(SPEC, v.q["real"], v.q["real_warped"])[0])
    assert term.g(v) == (None, {}) and term.g_views == ()


def test_contrastive_pairs_term_scores_the_pair_classifier():
    v = _views()
    shared = torch.arange(64) % 3
    v.pairs = (20.0 * torch.nn.functional.one_hot(shared, 3).float(), shared)
    loss, logs = ContrastivePairs(2.0).g(v)
    assert float(logs["cr/accuracy"]) == 1.0 and float(loss) < 1e-6
    v.pairs = (torch.zeros(64, 3), shared)
    loss, logs = ContrastivePairs(2.0).g(v)
    assert float(loss) == pytest.approx(2.0 * math.log(3), rel=1e-5)


def test_objective_sums_its_terms_per_player():
    v = _views(know=5.0)
    terms = (Adversarial(), MutualInformation(SPEC), RealConsistency(SPEC, 1.0))
    obj = Objective(terms)
    loss_d, logs = obj.d_loss(v)
    expect = sum(float(t.d(_fresh(v))[0]) for t in terms)
    assert float(loss_d) == pytest.approx(expect, rel=1e-6)
    assert {"mi/c1", "mi/c2", "mi/c3", "consistency/c1"} <= set(logs)
    loss_g, _ = obj.g_loss(v)
    assert float(loss_g) == pytest.approx(float(g_loss(v.d["fake"]) + mi_loss(SPEC, v.q["fake"], v.latents)[0]),
                                          rel=1e-6)
    assert obj.d_views == ("real", "fake", "real_warped") and obj.g_views == ("fake",)
    assert obj.views == ("real", "fake", "real_warped")


def _fresh(v):
    return Views(v.latents, v.d, v.q, v.pairs)


def test_build_objective_follows_the_config():
    names = [t.name for t in build_objective(preset("mnist")).terms]
    assert names == ["adversarial", "mi", "warped", "consistency"]
    cfg = preset("mnist")
    paper = replace(cfg, train=replace(cfg.train, real_consistency=0.0, cat_invariance=0.0))
    assert [t.name for t in build_objective(paper).terms] == ["adversarial", "mi"]
    base = build_objective(replace(cfg, train=replace(cfg.train, baseline=True)))
    assert base.g_views == ("fake",)  # only the GAN term reaches G
    assert all(t.g(_views())[0] is None for t in base.terms if t.name in ("mi", "warped"))
    # no categorical code: the category terms have nothing to act on
    cont = replace(cfg, latent=LatentSpec.parse("unif3,noise10"))
    assert [t.name for t in build_objective(cont).terms] == ["adversarial", "mi"]
    cr = replace(paper, train=replace(paper.train, cr_weight=1.0))
    assert build_objective(cr).g_views == ("fake", "pairs")


# ---- update schemes ---------------------------------------------------------------------------

def _counting(tr):
    calls = {"G": 0, "D": 0, "d_weights_at_g_step": None}
    g_fwd, d_fwd = tr.G_run.forward, tr.D_run.forward

    def g(*a, **k):
        calls["G"] += 1
        return g_fwd(*a, **k)

    def d(*a, **k):
        calls["D"] += 1
        return d_fwd(*a, **k)

    tr.G_run.forward, tr.D_run.forward = g, d
    return calls


def test_alternating_update_steps_d_then_g_with_fresh_codes_against_the_updated_d(tmp_path):
    cfg = tiny_config(steps=2, update="alternating", real_consistency=0.0, cat_invariance=0.0)
    tr = Trainer(cfg, tmp_path, synthetic_store(128), progress=False)
    seen = []
    views = tr.views

    def spy(names, lat, real, fake, detach_q=False):
        seen.append((names, lat.noise.clone(), [p.detach().clone() for p in tr.D.parameters()],
                     fake.requires_grad))
        return views(names, lat, real, fake, detach_q)

    tr.views = spy
    d0 = [p.detach().clone() for p in tr.D.parameters()]
    calls = _counting(tr)
    tr.step()
    (d_names, z_d, w_d, grad_d), (g_names, z_g, w_g, grad_g) = seen
    assert d_names == ("real", "fake") and g_names == ("fake",)
    assert not torch.equal(z_d, z_g), "the G step must draw fresh codes"
    assert all(torch.equal(a, b) for a, b in zip(w_d, d0))
    assert any(not torch.equal(a, b) for a, b in zip(w_g, d0)), "the G step must see the updated D"
    assert not grad_d and grad_g  # D's step takes no gradient through G
    assert calls["G"] == 2
    # the G step leaves D's weights and gradients alone
    d_after_step = [p.detach().clone() for p in tr.D.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(d_after_step, w_g))


def test_simultaneous_update_uses_one_forward_for_both_players(tmp_path):
    cfg = tiny_config(steps=2, update="simultaneous", real_consistency=0.0, cat_invariance=0.0)
    tr = Trainer(cfg, tmp_path, synthetic_store(128), progress=False)
    calls = _counting(tr)
    d0 = [p.detach().clone() for p in tr.D.parameters()]
    g0 = [p.detach().clone() for p in tr.G.parameters()]
    tr.step()
    assert calls["G"] == 1 and calls["D"] == 2  # one G forward, one D forward per batch half
    assert any(not torch.equal(a, p) for a, p in zip(d0, tr.D.parameters()))
    assert any(not torch.equal(a, p) for a, p in zip(g0, tr.G.parameters()))


@pytest.mark.parametrize("update", ["alternating", "simultaneous"])
def test_each_update_scheme_raises_l_i(tmp_path, update):
    cfg = tiny_config(steps=40, batch=32, update=update, real_consistency=0.0, cat_invariance=0.0,
                      latent="cat4,noise8")
    tr = Trainer(cfg, tmp_path, synthetic_store(256), progress=False)
    first = [float(tr.step()["mi/c1"]) for _ in range(5)]
    for _ in range(30):
        tr.step()
    last = [float(tr.step()["mi/c1"]) for _ in range(5)]
    assert sum(last) / 5 > sum(first) / 5 + 0.3 and max(last) <= math.log(4) + 1e-5


# ---- configs from earlier versions --------------------------------------------------------------

def test_configs_of_earlier_versions_load_with_their_meaning():
    old = preset("mnist").to_dict()
    old["train"]["update"] = "alternating"
    assert Config.from_dict(old).train.update == "alternating"
    old["train"].pop("update")
    old["train"].update(fixed_std=False, real_mi_weight=0.0, real_balance_weight=0.0, mi_warmup=0)
    for c in old["latent"]["codes"]:
        c.pop("std", None)
    cfg = Config.from_dict(old)
    assert cfg.train.update == "simultaneous"  # what every earlier version trained with
    assert all(c.learned_std for c in cfg.latent.continuous)  # train.fixed_std=false moved onto the codes
    old["train"]["fixed_std"] = True
    assert not any(c.learned_std for c in Config.from_dict(old).latent.continuous)
    old["train"]["real_mi_weight"] = 0.5
    with pytest.raises(ConfigError, match="train.real_mi_weight=0.5 is no longer supported"):
        Config.from_dict(old)
    # a partial config of today's form keeps today's defaults
    assert Config.from_dict({"preset": "mnist", "train": {"steps": 3, "update": "alternating"}}).train.update == \
        "alternating"  # a partial config of today's form is not mistaken for an earlier version's
    with pytest.raises(ConfigError, match="train.update must be alternating or simultaneous"):
        preset("mnist").override(["train.update=both"])
