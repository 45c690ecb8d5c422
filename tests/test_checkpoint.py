import pickle

import pytest
import torch

from infogan import checkpoint as ckpt


def _state():
    return {"config": {"a": 1, "b": [1.5, "x", None, True]}, "step": 7,
            "opt": {"state": {0: {"exp_avg": torch.randn(3, 2), "step": torch.tensor(4.0)}}, "param_groups": [{"lr": 1e-3, "params": [0]}]},
            "rng": torch.Generator().manual_seed(3).get_state(), "w": torch.arange(6).view(2, 3)}


def test_round_trip_keeps_types_and_int_keys(tmp_path):
    s = _state()
    path = ckpt.save(tmp_path, 7, s, keep=3)
    back = ckpt.load_file(path)
    assert back["config"] == s["config"] and back["step"] == 7
    assert list(back["opt"]["state"]) == [0]
    assert torch.equal(back["opt"]["state"][0]["exp_avg"], s["opt"]["state"][0]["exp_avg"])
    assert torch.equal(back["rng"], s["rng"]) and torch.equal(back["w"], s["w"])


def test_keeps_last_n_and_skips_corrupt_newest(tmp_path):
    for step in (1, 2, 3, 4):
        ckpt.save(tmp_path, step, {**_state(), "step": step}, keep=3)
    files = ckpt.list_checkpoints(tmp_path)
    assert [f.name for f in files] == [f"step_{s:09d}.safetensors" for s in (2, 3, 4)]
    data = bytearray(files[-1].read_bytes())
    data[len(data) // 2] ^= 0xFF
    files[-1].write_bytes(bytes(data))
    warnings = []
    path, state = ckpt.load_latest(tmp_path, warn=warnings.append)
    assert state["step"] == 3 and path == files[-2]
    assert warnings and "checksum mismatch" in warnings[0]
    files[-2].write_bytes(files[-2].read_bytes()[:100])  # truncated
    path, state = ckpt.load_latest(tmp_path, warn=warnings.append)
    assert state["step"] == 2


def test_incomplete_write_without_checksum_is_skipped(tmp_path):
    ckpt.save(tmp_path, 1, _state(), keep=3)
    p = ckpt.save(tmp_path, 2, {**_state(), "step": 2}, keep=3)
    p.with_suffix(".sha256").unlink()
    _, state = ckpt.load_latest(tmp_path, warn=lambda m: None)
    assert state["step"] == 7  # the step-1 file holds _state()'s step


class _Boom:
    def __reduce__(self):
        import os
        return (os.system, ("touch /tmp/infogan_pwned_by_pickle",))


def test_pickle_checkpoint_is_refused_and_runs_nothing(tmp_path):
    import os
    marker = "/tmp/infogan_pwned_by_pickle"
    if os.path.exists(marker):
        os.remove(marker)
    path = tmp_path / "step_000000001.safetensors"
    path.write_bytes(pickle.dumps({"G": _Boom()}))
    import hashlib
    path.with_suffix(".sha256").write_text(hashlib.sha256(path.read_bytes()).hexdigest())
    with pytest.raises(ckpt.CheckpointError):
        ckpt.load_file(path)
    torch.save({"G": _Boom()}, tmp_path / "step_000000002.safetensors")
    with pytest.raises(ckpt.CheckpointError):
        ckpt.load_latest(tmp_path, warn=lambda m: None)
    assert not os.path.exists(marker)
