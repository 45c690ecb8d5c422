"""No code execution from files: a checkpoint whose unpickling would run a command is refused by
every command that loads checkpoints, which fall back to the older good checkpoint (or stop with an
error) and never run it.

The hostile file replaces nothing: it is put in a run as its newest checkpoint, with a matching
.sha256, so it is not merely skipped as an incomplete or corrupt write. Two forms: a plain pickle
and a ``torch.save`` file (zip + pickle), both with an object whose ``__reduce__`` calls
``os.system("touch MARKER")``. That the payloads are live is checked first, by unpickling them on
purpose into a different marker.
"""

import hashlib
import io
import json
import os
import pickle
import shutil

import pytest
import torch

from infogan import checkpoint as ckpt
from infogan.cli import main


class Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def hostile_bytes(kind: str, marker) -> bytes:
    obj = {"G": Payload(marker), "step": 99}
    if kind == "pickle":
        return pickle.dumps(obj)
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


@pytest.mark.parametrize("kind", ["pickle", "torch.save"])
def test_payloads_are_live(kind, tmp_path):
    """Unpickled on purpose, each payload does create its marker: the test below is not vacuous."""
    marker = tmp_path / "sanity"
    data = hostile_bytes(kind, marker)
    if kind == "pickle":
        pickle.loads(data)
    else:
        torch.load(io.BytesIO(data), weights_only=False)
    assert marker.exists()


COMMANDS = {
    "eval": ["eval", "run", "--json", "--samples", "16"],
    "sample": ["sample", "run", "--out", "s.png", "--rows", "2", "--cols", "2"],
    "traverse": ["traverse", "run", "--code", "c2", "--steps", "2", "--out", "t.png"],
    "encode": ["encode", "run", "images", "--out", "codes.csv"],
    "resume": ["train", "--resume", "run", "--steps", "3", "--no-progress"],
    "cluster": ["cluster", "run", "images", "--out", "clusters"],
}


@pytest.mark.parametrize("kind", ["pickle", "torch.save"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_hostile_newest_checkpoint_is_refused_by_every_loader(command, kind, tiny_world, tmp_path, monkeypatch, capsys):
    w = tmp_path / "w"
    shutil.copytree(tiny_world, w, copy_function=os.link)
    monkeypatch.chdir(w)
    monkeypatch.setenv("INFOGAN_CACHE", str(w / "cache"))
    monkeypatch.delenv("INFOGAN_DATA", raising=False)
    marker = w / "MARKER"
    bad = w / "run" / "checkpoints" / "step_000000099.safetensors"
    data = hostile_bytes(kind, marker)
    bad.write_bytes(data)
    bad.with_suffix(".sha256").write_text(hashlib.sha256(data).hexdigest() + "\n")
    assert ckpt.list_checkpoints(w / "run" / "checkpoints")[-1] == bad  # the newest, checksum valid

    rc = main(COMMANDS[command])
    out, err = capsys.readouterr()
    assert not marker.exists(), f"{command} executed code from a {kind} checkpoint"
    assert rc in (0, 2), err
    if rc == 0:  # fell back to the good checkpoint, and said why
        assert "warning: skipping checkpoint" in err and "step_000000099" in err and "not a valid safetensors" in err
        if command == "eval":
            assert json.loads(out)["checkpoint"] == "step_000000002.safetensors"
        if command == "resume":
            assert "from step_000000002.safetensors" in err
            assert ckpt.load_file(w / "run" / "checkpoints" / "step_000000003.safetensors")["step"] == 3
    else:
        assert err.count("\n") == 1 and "step_000000099" in err


@pytest.mark.parametrize("kind", ["pickle", "torch.save"])
def test_hostile_only_checkpoint_stops_with_an_error(kind, tiny_world, tmp_path, monkeypatch, capsys):
    """With no good checkpoint to fall back to, loading stops with one line; still nothing runs."""
    w = tmp_path / "w"
    shutil.copytree(tiny_world, w, copy_function=os.link)
    monkeypatch.chdir(w)
    marker = w / "MARKER"
    for p in (w / "run" / "checkpoints").iterdir():
        p.unlink()
    bad = w / "run" / "checkpoints" / "step_000000002.safetensors"
    data = hostile_bytes(kind, marker)
    bad.write_bytes(data)
    bad.with_suffix(".sha256").write_text(hashlib.sha256(data).hexdigest() + "\n")
    for argv in (["eval", "run"], ["train", "--resume", "run", "--no-progress"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "no usable checkpoint" in err and "not a valid safetensors" in err
    assert not marker.exists()
