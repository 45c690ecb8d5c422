"""D's minibatch standard deviation feature (``model.mbstd``): what it measures, that it never mixes
real and generated rows, that Q does not read it, and that runs with it train, save and resume."""

from dataclasses import replace

import pytest
import torch
from helpers import full_and_resumed, synthetic_store, tiny_config

from infogan import checkpoint as ckpt
from infogan.config import Config, ConfigError, preset, validate
from infogan.latent import LatentSpec
from infogan.nets import build
from infogan.nets.blocks import minibatch_std
from infogan.run import check_state
from infogan.train import Trainer, _segments


def test_spread_of_identical_rows_is_nil_and_of_known_rows_exact():
    same = torch.ones(6, 5)
    assert minibatch_std(same).max() < 1e-3
    h = torch.tensor([[0.0, 2.0], [2.0, 2.0]])  # stds 1 and 0 -> mean 0.5
    torch.testing.assert_close(minibatch_std(h), torch.full((2, 1), 0.5), rtol=0, atol=1e-4)


def test_each_segment_has_its_own_value_and_a_single_row_none():
    h = torch.cat([torch.zeros(3, 4), torch.randn(4, 4) * 3, torch.randn(1, 4)])
    s = minibatch_std(h, [3, 4, 1])
    assert s.shape == (8, 1)
    assert s[:3].max() < 1e-3 and s[3:7].min() > 0.5 and s[7].item() == 0.0
    assert torch.equal(s[3:7], s[3].expand(4, 1))
    with pytest.raises(ValueError, match="do not add up"):
        minibatch_std(h, [3, 3])


def _d(mbstd=True, seed=0):
    torch.manual_seed(seed)
    _, d = build("svhn_celeba", LatentSpec.parse("2xcat10,noise16"), (3, 32, 32), mbstd=mbstd)
    return d


def test_d_head_reads_the_spread_q_does_not():
    d = _d().eval()  # running statistics: without mbstd every row's outputs depend on that row alone
    x = torch.rand(8, 3, 32, 32) * 2 - 1
    y = x.clone()
    y[4:] = x[4:5]  # the second block: four copies of one image
    d_x, q_x = d(x, segments=[4, 4])
    d_y, q_y = d(y, segments=[4, 4])
    torch.testing.assert_close(d_x[:4], d_y[:4])  # the first block does not see the second
    assert not torch.isclose(d_x[4], d_y[4], atol=1e-5)  # the same image, judged in a block of copies
    torch.testing.assert_close(q_x[4], q_y[4])  # Q's reading of an image: that image alone
    assert d.d_head.in_features == 256 * 4 * 4 + 1 and _d(mbstd=False).d_head.in_features == 256 * 4 * 4


def test_gradient_of_the_spread_reaches_the_other_rows_of_the_block_only():
    d = _d().eval()
    x = (torch.rand(6, 3, 32, 32) * 2 - 1).requires_grad_()
    d(x, segments=[3, 3])[0][1].backward()
    grads = x.grad.flatten(1).abs().sum(1)
    assert (grads[:3] > 0).all() and (grads[3:] == 0).all()  # G learns to spread its own batch


def test_segments_split_augmented_views_into_judged_rows_and_copies():
    imgs = {"real": torch.zeros(20, 1), "fake": torch.zeros(16, 1), "fake_warped": torch.zeros(8, 1)}
    aug = {"real": torch.arange(4)}  # 16 judged rows + 4 un-augmented copies for Q
    assert _segments(["real", "fake", "fake_warped"], imgs, aug) == [16, 4, 16, 8]


@pytest.mark.parametrize("extra", [{}, {"joint_bn": True}, {"augment": "fixed", "augment_p": 0.5},
                                   {"joint_bn": True, "augment": "fixed", "augment_p": 0.5}])
def test_fused_forward_equals_one_forward_per_view_with_mbstd(tmp_path, extra):
    """The blocks follow the sources, so fusing the views into one forward changes nothing: no
    block mixes real and generated rows (under joint_bn they share one forward and batch norm)."""
    store = synthetic_store()
    runs = []
    for fuse in (False, True):
        cfg = tiny_config(fuse_views=fuse, amp="off", **extra)
        cfg = replace(cfg, model=replace(cfg.model, mbstd=True))
        tr = Trainer(cfg, tmp_path / f"f{fuse}", store, progress=False)
        runs.append((tr.step(), tr))
    (la, a), (lb, b) = runs
    for k in la:
        torch.testing.assert_close(la[k], lb[k], rtol=1e-4, atol=1e-5, msg=k)
    for (n, pa), pb in zip(a.D.named_parameters(), b.D.parameters()):
        scale = pa.grad.abs().max().item() + 1e-12
        torch.testing.assert_close(pa.grad / scale, pb.grad / scale, rtol=0, atol=1e-3, msg=n)


def test_run_with_mbstd_resumes_exactly_and_its_checkpoint_fits_only_its_config(tmp_path):
    cfg = tiny_config(steps=4, ckpt_every=2, amp="off")
    cfg = replace(cfg, model=replace(cfg.model, mbstd=True))
    store = synthetic_store()
    full, resumed = full_and_resumed(cfg, store, tmp_path, 2)
    for (n, pa), pb in zip(full.D.state_dict().items(), resumed.D.state_dict().values()):
        assert torch.equal(pa, pb), n
    state = ckpt.load_file(max((tmp_path / "full" / "checkpoints").glob("*.safetensors")))
    plain = replace(cfg, model=replace(cfg.model, mbstd=False))
    with pytest.raises(ckpt.CheckpointError, match="d_head"):
        check_state(plain, state, "x.safetensors")


def test_config_key_default_and_old_runs():
    assert preset("mnist").model.mbstd is False
    # a run of the celeba preset written whole before the key keeps D without the feature, although
    # the preset now turns it on; a config file a person writes with a few keys takes the preset's value
    old = preset("celeba").to_dict()
    del old["model"]["mbstd"]
    assert Config.from_dict(old).model.mbstd is False
    assert Config.from_dict({"preset": "celeba", "train": {"steps": 5}}).model.mbstd is True
    bad = preset("mnist").to_dict()
    bad["model"]["mbstd"] = "yes"
    with pytest.raises(ConfigError, match="model.mbstd"):
        validate(Config.from_dict(bad))
