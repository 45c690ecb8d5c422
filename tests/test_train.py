import json
from dataclasses import replace

import pytest
import torch
from helpers import full_and_resumed, synthetic_store, tiny_config

from infogan import checkpoint as ckpt
from infogan.data import load_idx
from infogan.train import Trainer


def _grads(cfg, tmp_path):
    # One forward serves both players under the simultaneous update, so each term's gradient path
    # can be isolated (under the alternating update G's gradient also depends on the D step).
    cfg = replace(cfg, train=replace(cfg.train, update="simultaneous"))
    tr = Trainer(cfg, tmp_path, synthetic_store(), progress=False)
    tr.step()
    g = {n: p.grad.clone() for n, p in tr.G.named_parameters()}
    trunk = {n: p.grad.clone() for n, p in tr.D.trunk.named_parameters()}
    qh = {n: p.grad.clone() for n, p in tr.D.q_head.named_parameters()}
    return g, trunk, qh


def _same(a, b):
    return all(torch.allclose(a[k], b[k], rtol=0, atol=1e-12) for k in a)


def test_mi_gradient_reaches_trunk_and_generator(tmp_path):
    # the MI term alone: the preset's warp terms (which also train the trunk) off
    only = {"real_consistency": 0.0, "cat_invariance": 0.0}
    off = _grads(tiny_config(latent="cat10@0,unif2@0,noise62", **only), tmp_path / "a")
    on = _grads(tiny_config(**only), tmp_path / "b")
    base = _grads(tiny_config(baseline=True, **only), tmp_path / "c")
    head_only = _grads(tiny_config(mi_to_trunk=False, **only), tmp_path / "d")
    # InfoGAN: the MI term changes G's and the shared trunk's gradients.
    assert not _same(on[0], off[0]), "MI gradient does not reach G"
    assert not _same(on[1], off[1]), "MI gradient does not reach D's shared trunk"
    assert all(v.abs().sum() > 0 for v in on[2].values()), "Q head gets no gradient"
    # Baseline: G's gradient is the plain GAN's; Q and the trunk still learn from L_I.
    assert _same(base[0], off[0]), "baseline G still receives the MI gradient"
    assert _same(base[1], on[1])
    # mi_to_trunk=false: the trunk's gradient is the plain GAN's, the Q head still learns.
    assert _same(head_only[1], off[1])
    assert _same(head_only[2], on[2])


def test_real_consistency_trains_d_and_q_but_not_g(tmp_path):
    """The IIC term on real images (the MNIST preset's default) is part of L_D only."""
    plain = _grads(tiny_config(real_consistency=0.0), tmp_path / "a")
    iic = _grads(tiny_config(real_consistency=1.0), tmp_path / "b")
    assert _same(iic[0], plain[0]), "the real-image consistency term must not reach G"
    assert not _same(iic[1], plain[1]) and not _same(iic[2], plain[2])


def test_cat_invariance_reaches_g_except_in_baseline(tmp_path):
    """The MNIST preset's warp invariance on fakes: L_I of warped fakes trains G (its categories
    must survive the warps), Q and the trunk; the baseline keeps G's gradient the plain GAN's."""
    off = {"real_consistency": 0.0, "cat_invariance": 0.0}
    plain = _grads(tiny_config(**off), tmp_path / "a")
    inv = _grads(tiny_config(**{**off, "cat_invariance": 1.0}), tmp_path / "b")
    assert not _same(inv[0], plain[0]), "the warped-fake L_I must reach G"
    assert not _same(inv[1], plain[1]) and not _same(inv[2], plain[2])
    base_plain = _grads(tiny_config(baseline=True, **off), tmp_path / "c")
    base_inv = _grads(tiny_config(baseline=True, **{**off, "cat_invariance": 1.0}), tmp_path / "d")
    assert _same(base_inv[0], base_plain[0]), "baseline G must not get the warped-fake MI gradient"


def test_tiny_training_raises_mi_and_writes_run_dir(tmp_path, mnist_dir):
    train = load_idx("mnist", "train", mnist_dir).subset(2048)
    test = load_idx("mnist", "test", mnist_dir).subset(500)
    cfg = tiny_config(steps=60, batch=32, eval_every=30, ckpt_every=30)
    run = tmp_path / "run"
    result = Trainer(cfg, run, train, test, progress=False).fit()
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    logs = [r for r in rows if "eval" not in r]
    evals = [r for r in rows if "eval" in r]
    assert logs[-1]["mi/c1"] > logs[0]["mi/c1"] + 0.5, (logs[0]["mi/c1"], logs[-1]["mi/c1"])
    assert [e["step"] for e in evals] == [30, 60]
    assert set(result) >= {"mi_lower_bound", "entropy", "cluster_accuracy"}
    assert 0 <= result["cluster_accuracy"]["c1"] <= 1
    assert result["mi_lower_bound"]["c1"] <= result["entropy"]["c1"] + 1e-6
    for f in ["config.toml", "report.md", "samples/latest.png", "traversals/c1.png", "traversals/c3.png",
              "report/fig1_mi_c1.png"]:
        assert (run / f).is_file(), f
    assert [p.name[5:14] for p in ckpt.list_checkpoints(run / "checkpoints")] == ["000000000", "000000030", "000000060"]
    assert next((run / "tb").iterdir()).name.startswith("events.out.tfevents")
    assert "## Fig. 1" in (run / "report.md").read_text()


def _rows(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_tensorboard_reads_back_the_logged_scalars(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    Trainer(tiny_config(steps=6), run, synthetic_store(128), progress=False).fit()
    logs = [r for r in _rows(run) if "loss_d" in r]
    acc = EventAccumulator(str(run / "tb"))
    acc.Reload()
    assert set(logs[0]) - {"step"} <= set(acc.Tags()["scalars"])
    loss_d = {e.step: e.value for e in acc.Scalars("loss_d")}
    assert list(loss_d) == [2, 4, 6]  # log_every=2
    assert loss_d == pytest.approx({r["step"]: r["loss_d"] for r in logs}, rel=1e-6)  # float32 in the event file


def test_training_without_tensorboard_writes_the_rest_of_the_run(tmp_path, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # its import now raises ImportError
    messages = []
    run = tmp_path / "run"
    Trainer(tiny_config(steps=4), run, synthetic_store(128), progress=False, log=messages.append).fit()
    assert not (run / "tb").exists()
    assert any("no TensorBoard event files" in m for m in messages), messages
    assert [r["step"] for r in _rows(run) if "loss_d" in r] == [2, 4]
    assert "it/s" not in capsys.readouterr().err  # progress=False: tqdm is disabled, nothing drawn


def _weights(tr):
    return {**{f"G.{k}": v for k, v in tr.G.state_dict().items()}, **{f"D.{k}": v for k, v in tr.D.state_dict().items()}}


def test_resume_matches_uninterrupted_run(tmp_path):
    data = synthetic_store(512)
    cfg = tiny_config(steps=8, batch=16, ckpt_every=4, keep_ckpts=5)
    full, resumed = full_and_resumed(cfg, data, tmp_path, 4)
    a, b = _weights(full), _weights(resumed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # ... and the optimizer moments too.
    sa, sb = full.opt_g.state_dict()["state"], resumed.opt_g.state_dict()["state"]
    assert all(torch.equal(sa[i]["exp_avg_sq"], sb[i]["exp_avg_sq"]) for i in sa)


def test_seed_changes_the_run(tmp_path):
    data = synthetic_store(128)
    a = Trainer(tiny_config(steps=2), tmp_path / "a", data, progress=False)
    a.fit()
    b = Trainer(replace(tiny_config(steps=2), train=replace(tiny_config().train, steps=2, seed=1)), tmp_path / "b", data,
                progress=False)
    b.fit()
    assert not torch.equal(a.G.net[0][0].weight, b.G.net[0][0].weight)


def test_batch_larger_than_data_rejected(tmp_path):
    with pytest.raises(ValueError, match="batch_size=16 is larger than the data set"):
        Trainer(tiny_config(), tmp_path, synthetic_store(8), progress=False)


def _inject(tr, when, action):
    orig = tr.step

    def step():
        out = orig()
        if when(tr.step_count):
            action(tr)
        return out

    tr.step = step


def _nan(tr):
    with torch.no_grad():
        tr.G.net[0][0].weight[0, 0] = float("nan")


def test_divergence_restores_last_good_checkpoint_and_lowers_lr(tmp_path):
    cfg = tiny_config(steps=8, batch=16, log_every=2, ckpt_every=2, keep_ckpts=10)
    tr = Trainer(cfg, tmp_path, synthetic_store(128), progress=False)
    fired = []
    _inject(tr, lambda s: s == 5 and not fired, lambda t: (fired.append(1), _nan(t)))
    tr.fit()
    assert tr.step_count == 8 and tr.recoveries == 1 and tr.weights_finite()
    assert tr.opt_g.param_groups[0]["lr"] == pytest.approx(cfg.optim.lr_g * cfg.train.recovery_lr_factor)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    events = [r for r in rows if r.get("event") == "diverged"]
    assert len(events) == 1 and events[0]["diverged_at"] == 6 and events[0]["step"] == 4
    logged = [r["step"] for r in rows if "loss_d" in r]
    assert logged == [2, 4, 6, 8]  # the diverged line for step 6 was never written; 6 is re-run
    # the lowered lr survives a resume
    _, state = ckpt.load_latest(tmp_path / "checkpoints")
    again = Trainer(cfg, tmp_path / "x", synthetic_store(128), progress=False)
    again.load_state(state)
    assert again.opt_d.param_groups[0]["lr"] == pytest.approx(cfg.optim.lr_d * cfg.train.recovery_lr_factor)


def test_divergence_that_persists_stops_with_a_clear_error(tmp_path):
    from infogan.train import DivergenceError

    cfg = tiny_config(steps=20, batch=16, log_every=2, ckpt_every=2, max_recoveries=2)
    tr = Trainer(cfg, tmp_path, synthetic_store(128), progress=False)
    _inject(tr, lambda s: True, _nan)
    with pytest.raises(DivergenceError, match="after 2 restores"):
        tr.fit()


def test_interrupt_checkpoints_at_a_step_boundary(tmp_path):
    import os
    import signal

    cfg = tiny_config(steps=50, batch=16, ckpt_every=100)
    tr = Trainer(cfg, tmp_path, synthetic_store(128), progress=False)
    _inject(tr, lambda s: s == 3, lambda t: os.kill(os.getpid(), signal.SIGINT))
    with pytest.raises(KeyboardInterrupt):
        tr.fit()
    _path, state = ckpt.load_latest(tmp_path / "checkpoints")
    assert state["step"] == 3 and tr.step_count == 3
    assert (tmp_path / "report.md").is_file()


def test_infogan_cr_pairs_share_exactly_one_code_and_train(tmp_path):
    cfg = tiny_config(steps=4, latent="unif3,cat4,noise5", cr_weight=2.0, cr_gap=0.5, keep_ckpts=10)
    tr = Trainer(cfg, tmp_path, synthetic_store(64), progress=False)
    a, b, shared = tr.cr_pairs(2000)
    for j in range(4):
        same = a.codes[j] == b.codes[j]
        assert torch.all(same[shared == j])
        if j < 3:  # continuous, non-shared: at least the gap apart (0.5 of the half-range 1)
            assert float((a.codes[j] - b.codes[j])[shared != j].abs().min()) >= 0.5 - 1e-6
    assert not torch.equal(a.noise, b.noise)
    h0 = [p.clone() for p in tr.H.parameters()]
    tr.fit()
    assert any(not torch.equal(p0, p) for p0, p in zip(h0, tr.H.parameters()))
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert "cr/loss" in rows[0] and 0 <= rows[0]["cr/accuracy"] <= 1
    # H and its optimizer are part of the exact-resume state
    _, state = ckpt.load_latest(tmp_path / "checkpoints")
    assert "H" in state and "opt_h" in state


def test_bf16_autocast_step_runs_and_keeps_float32_weights(tmp_path):
    tr = Trainer(tiny_config(steps=2, amp="bf16"), tmp_path, synthetic_store(64), progress=False)
    out = tr.step()
    assert all(torch.isfinite(v) for v in out.values())
    assert all(p.dtype == torch.float32 for p in tr.G.parameters())
    assert tr.amp and not Trainer(tiny_config(amp="off"), tmp_path / "b", synthetic_store(64), progress=False).amp
    from infogan.dist import native_bf16

    auto = Trainer(tiny_config(), tmp_path / "c", synthetic_store(64), progress=False)
    assert auto.amp == native_bf16(torch.device("cpu"))  # auto: bf16 where this CPU multiplies bf16 natively


def test_joint_bn_runs_d_once_on_real_and_fake_together(tmp_path):
    """train.joint_bn: each D/Q forward that sees fakes sees the 2B real+fake images (shared batch
    statistics): once per step when both players share one forward, in the D/Q step and in the G
    step under the alternating update."""
    cases = (("simultaneous", True, [32]), ("simultaneous", False, [16, 16]),
             ("alternating", True, [32, 32]), ("alternating", False, [16, 16, 16]))
    for update, joint, expected in cases:
        cfg = tiny_config(joint_bn=joint, real_consistency=0.0, cat_invariance=0.0, update=update)  # no warped passes
        tr = Trainer(cfg, tmp_path / f"run{update}{joint}", synthetic_store(), progress=False)
        sizes: list[int] = []

        def record(module, args, out, sizes=sizes):
            sizes.append(args[0].shape[0])

        hook = tr.D.register_forward_hook(record)
        out = tr.step()
        hook.remove()
        assert sizes == expected
        assert all(torch.isfinite(v).all() for v in out.values())
