"""`infogan eval` reports a function of the checkpoint, the data and documented seeds: not of the
cache, of the global RNG state, or of who trained the domain classifier first."""

import os
from pathlib import Path

import pytest
import torch
from helpers import synthetic_store, train_tiny_run
from safetensors.torch import load

from infogan.cli import main
from infogan.data.common import cache_dir
from infogan.data.store import ImageStore
from infogan.domain import _initial, cache_path, identity, train_classifier


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 2-step run on 256 random 8x8 images under the MNIST names (sample quality applies)."""
    return train_tiny_run(tmp_path_factory.mktemp("eval"), n_train=256, n_test=64)


def eval_json(w, cache, global_seed, monkeypatch, capsys):
    """stdout and stderr of `infogan eval --json` with ``cache`` as the cache, after the global RNG
    was left at ``global_seed`` by whatever ran before in the process."""
    monkeypatch.setenv("INFOGAN_CACHE", str(cache))
    monkeypatch.chdir(w)
    torch.manual_seed(global_seed)
    capsys.readouterr()
    assert main(["eval", "run", "--json", "--samples", "64"]) == 0
    return capsys.readouterr()


def test_eval_is_the_same_with_cold_and_warm_caches(tiny_run, tmp_path, monkeypatch, capsys):
    first = eval_json(tiny_run, tmp_path / "a", 1, monkeypatch, capsys)
    assert "training the domain classifier" in first.err
    assert '"sample_quality"' in first.out  # the classifier's numbers are part of what is compared
    second = eval_json(tiny_run, tmp_path / "b", 2, monkeypatch, capsys)
    assert "training the domain classifier" in second.err
    assert second.out == first.out
    (a,), (b,) = (list((tmp_path / c / "classifiers").iterdir()) for c in "ab")
    assert a.name == b.name  # (safetensors may order its header differently: compare the tensors)
    ta, tb = load(a.read_bytes()), load(b.read_bytes())
    assert ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta)
    warm = eval_json(tiny_run, tmp_path / "a", 3, monkeypatch, capsys)
    assert "training the domain classifier" not in warm.err
    assert warm.out == first.out


def test_classifier_ignores_and_keeps_the_global_rng():
    store = synthetic_store(n=300, shape=(1, 8, 8))
    weights = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        before = torch.get_rng_state()
        weights.append(train_classifier(store, epochs=1, cache=False, log=lambda m: None).state_dict())
        assert torch.equal(torch.get_rng_state(), before)  # nothing leaks out
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])  # nothing leaks in


def key(store, epochs=2, seed=0, batch=256):
    return cache_path(identity(store, _initial(store, seed), epochs, seed, batch)).name


@pytest.mark.parametrize("change", [
    "one pixel", "one label", "labels only 0..8", "image side", "epochs", "seed", "batch", "name",
])
def test_cache_key_names_what_is_cached(change):
    store = synthetic_store(n=300, shape=(1, 8, 8))
    same = ImageStore(store.images.clone(), store.labels.clone(), name=store.name)
    assert key(same) == key(store)  # equal data and settings share the file
    images, labels, name, kw = store.images.clone(), store.labels.clone(), store.name, {}
    if change == "one pixel":
        images[137, 0, 3, 5] ^= 1  # a row the old key's sampling stride skipped
    elif change == "one label":
        labels[137] = (labels[137] + 1) % 10
    elif change == "labels only 0..8":
        labels[labels == 9] = 0  # 9 classes: another head
    elif change == "image side":
        images = torch.zeros(300, 1, 12, 12, dtype=torch.uint8)
    elif change == "name":
        name = "other"
    else:
        kw = {change: {"epochs": 3, "seed": 1, "batch": 128}[change]}
    assert key(ImageStore(images, labels, name=name), **kw) != key(store)


@pytest.mark.parametrize("damage", ["garbage", "another classifier's file", "empty", "a FIFO"])
def test_unusable_cache_file_is_trained_again(damage, tmp_path, monkeypatch):
    monkeypatch.setenv("INFOGAN_CACHE", str(tmp_path))
    store = synthetic_store(n=300, shape=(1, 8, 8))
    fresh = train_classifier(store, epochs=1, cache=True, log=lambda m: None).state_dict()
    (path,) = (tmp_path / "classifiers").iterdir()
    if damage == "garbage":
        path.write_bytes(b"\x00" * 64)
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "a FIFO":  # reading it would block for ever
        path.unlink()
        os.mkfifo(path)
    else:  # a file of other settings copied under this name: its stored identity does not match
        train_classifier(store, epochs=1, seed=5, cache=True, log=lambda m: None)
        (other,) = set((tmp_path / "classifiers").iterdir()) - {path}
        other.replace(path)
    logs = []
    again = train_classifier(store, epochs=1, cache=True, log=logs.append).state_dict()
    assert any("cannot be used" in m for m in logs)
    assert all(torch.equal(again[k], fresh[k]) for k in fresh)
    assert len(logs) == 2  # why, then the training
    train_classifier(store, epochs=1, log=logs.append)
    assert len(logs) == 2  # the file that replaced it loads


def test_suite_never_uses_the_real_cache():
    real = Path.home() / ".cache" / "infogan"
    assert cache_dir() != real and real not in cache_dir().parents
    assert os.environ["INFOGAN_CACHE"] == str(cache_dir())  # inherited by the CLI subprocesses tests start
