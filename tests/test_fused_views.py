"""One D forward per side with batch norm per view: the same numbers as one forward per view;
the label-free stopping rule; the run's wall clock and evaluation time in metrics.jsonl."""

import json
from dataclasses import replace

import pytest
import torch
from helpers import synthetic_store, tiny_config

from infogan.latent import LatentSpec
from infogan.nets import build
from infogan.train import PlateauStop, Trainer


def _d(seed=0):
    torch.manual_seed(seed)
    _, d = build("mnist", LatentSpec.parse("cat10,unif2,noise62"), (1, 28, 28))
    return d


def test_per_view_batch_norm_equals_one_forward_per_view():
    a, b = _d(), _d()
    x = torch.rand(3 * 8, 1, 28, 28, requires_grad=True)
    xa = x.detach().clone().requires_grad_()
    d_sep, q_sep = zip(*(a(part) for part in xa.split([8, 16])))
    d_one, q_one = b(x, views=[8, 16])
    torch.testing.assert_close(torch.cat(d_sep), d_one, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(torch.cat(q_sep), q_one, rtol=1e-5, atol=1e-5)
    # the running statistics saw the two views one after the other, as with two forwards
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(va, vb, rtol=1e-5, atol=1e-6, msg=k)
    (torch.cat(d_sep).sum() + torch.cat(q_sep).square().sum()).backward()
    (d_one.sum() + q_one.square().sum()).backward()
    torch.testing.assert_close(xa.grad, x.grad, rtol=1e-4, atol=1e-6)
    for (n, pa), pb in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(pa.grad, pb.grad, rtol=1e-4, atol=1e-5, msg=n)
    # one batch of 24 with shared statistics is a different function: the views matter
    d_joint, _ = _d()(x)
    assert not torch.allclose(d_joint, d_one, atol=1e-4)


def test_views_must_add_up_to_the_batch():
    with pytest.raises(ValueError, match="do not add up"):
        _d()(torch.rand(10, 1, 28, 28), views=[4, 4])


def test_batch_norm_state_dict_keys_are_unchanged():
    plain = set(_d().state_dict())
    assert {"trunk.1.1.running_mean", "trunk.3.1.running_var", "q_head.net.0.1.weight"} <= plain


@pytest.mark.parametrize(("update", "extra"), [("simultaneous", {}), ("alternating", {}),
                                               ("alternating", {"joint_bn": True}),
                                               ("simultaneous", {"mi_to_trunk": False})])
def test_fused_views_step_equals_one_forward_per_view(tmp_path, update, extra):
    store = synthetic_store()
    runs = []
    for fuse in (False, True):
        cfg = tiny_config(update=update, fuse_views=fuse, amp="off", **extra)  # float32: compare the maths
        tr = Trainer(cfg, tmp_path / f"f{fuse}", store, progress=False)
        logs = tr.step()
        runs.append((logs, tr))
    (la, a), (lb, b) = runs
    for k in la:
        torch.testing.assert_close(la[k], lb[k], rtol=1e-4, atol=1e-5, msg=k)
    # the gradients of the step (Adam's first update, ~lr·sign(grad), would magnify rounding)
    for (n, pa), pb in zip([*a.G.named_parameters(), *a.D.named_parameters()], [*b.G.parameters(), *b.D.parameters()]):
        scale = pa.grad.abs().max().item() + 1e-12
        torch.testing.assert_close(pa.grad / scale, pb.grad / scale, rtol=0, atol=1e-3, msg=n)


def test_preset_step_runs_d_twice_real_views_and_fake_views(tmp_path):
    """The preset's four views (real, warped real, fake, warped fake) in two D forwards of 2B:
    L_G's gradient never runs back through the real images' forward."""
    tr = Trainer(tiny_config(warp_fraction=1.0), tmp_path, synthetic_store(), progress=False)
    sizes = []
    hook = tr.D.register_forward_hook(lambda m, args, out: sizes.append(args[0].shape[0]))
    tr.step()
    hook.remove()
    assert sizes == [32, 32]


def test_default_warp_fraction_halves_the_transformed_views(tmp_path):
    tr = Trainer(tiny_config(), tmp_path, synthetic_store(), progress=False)
    sizes = []
    hook = tr.D.register_forward_hook(lambda m, args, out: sizes.append(args[0].shape[0]))
    tr.step()
    hook.remove()
    assert sizes == [16 + 8, 16 + 8]


def test_plateau_rule_stops_after_patience_evaluations_without_gain():
    def ev(real, li):
        return {"real_mi": {"c1": real}, "mi_lower_bound": {"c1": li, "c2": -5.0}, "mi_gap": {"c1": 2.3 - li}}

    assert PlateauStop.score(ev(1.0, 2.0)) == pytest.approx(3.0)  # continuous codes do not count
    rule = PlateauStop(patience=2, delta=0.05)
    seq = [ev(1.0, 2.0), ev(1.5, 2.2), ev(1.52, 2.2), ev(1.9, 2.25), ev(1.92, 2.26), ev(1.93, 2.26)]
    assert [rule.update(e) for e in seq] == [False, False, False, False, False, True]
    assert not any(PlateauStop(0, 0.05).update(e) for e in seq)  # off
    # no categorical code: the L_I of every code
    assert PlateauStop.score({"mi_lower_bound": {"c1": 0.5, "c2": 0.25}, "mi_gap": {}}) == pytest.approx(0.75)


def test_training_stops_on_the_label_free_rule_and_logs_its_clock(tmp_path):
    cfg = tiny_config(steps=12, eval_every=2, stop_patience=1, stop_delta=1e6, ckpt_every=100)
    tr = Trainer(cfg, tmp_path, synthetic_store(), progress=False)
    tr.fit()
    assert tr.step_count == 4  # the second evaluation cannot beat the first by 1e6 nats
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if "eval" in r]
    assert [r["step"] for r in evals] == [2, 4]
    assert "plateau_score" in evals[-1] and "plateau_score" not in evals[0]
    assert all(r["eval_s"] > 0 and r["wall_s"] >= r["eval_s"] for r in evals)
    from infogan import checkpoint as ckpt

    assert ckpt.load_latest(tmp_path / "checkpoints")[1]["step"] == 4  # stopped with a checkpoint
    # resumed, the run's clock goes on from where it stopped
    last = max(r["wall_s"] for r in rows if "wall_s" in r)
    cfg2 = replace(cfg, train=replace(cfg.train, stop_patience=0))
    tr2 = Trainer(cfg2, tmp_path, synthetic_store(), progress=False)
    tr2.load_state(ckpt.load_latest(tmp_path / "checkpoints")[1])
    tr2.fit(6)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 6 and rows[-1]["wall_s"] > last


def test_stop_rule_needs_evaluations():
    from infogan.config import ConfigError, validate

    with pytest.raises(ConfigError, match="stop_patience"):
        validate(tiny_config(stop_patience=2, eval_every=0))


def test_warp_fraction_warps_the_first_rows_only(tmp_path):
    """train.warp_fraction=0.25: the warped views hold the warped copies of the first quarter of the
    batch, and the terms pair them with those rows (their codes, their real images)."""
    tr = Trainer(tiny_config(warp_fraction=0.25), tmp_path, synthetic_store(), progress=False)
    sizes = []
    hook = tr.D.register_forward_hook(lambda m, args, out: sizes.append(args[0].shape[0]))
    out = tr.step()
    hook.remove()
    assert sizes == [16 + 4, 16 + 4]
    assert all(torch.isfinite(v) for v in out.values())
    # with no warp at all (0 degrees, no zoom or shift) the warped copies are the rows themselves
    cfg = tiny_config(warp_fraction=0.25, aug_rotate=0.0, aug_scale=0.0, aug_shift=0.0)
    tr = Trainer(cfg, tmp_path / "b", synthetic_store(), progress=False)
    lat = tr.sample_latents(16)
    real = tr.real_batch(16)
    fake = tr.G(tr.spec.to_input(lat))
    v = tr.views(tr.objective.views, lat, real, fake)
    assert v.q["real_warped"].shape[0] == 4
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=tr.amp):
        _, q_first = tr.D(real[:4])  # the first four real images, as one view of their own
    torch.testing.assert_close(v.q["real_warped"], q_first, rtol=2e-2, atol=2e-2)
    with pytest.raises(Exception, match="warp_fraction"):
        from infogan.config import validate

        validate(tiny_config(warp_fraction=0.0))
