import os
import shutil
import tempfile
from pathlib import Path

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def pytest_configure(config):
    """The suite never reads or writes the user's cache (``~/.cache/infogan`` or their
    ``$INFOGAN_CACHE``): one empty cache for the whole test run, inherited by every process a test starts.
    Tests that need a cache of their own take ``isolated_cache``."""
    config.infogan_cache = tempfile.mkdtemp(prefix="infogan-test-cache-")
    os.environ["INFOGAN_CACHE"] = config.infogan_cache


def pytest_unconfigure(config):
    if getattr(config, "infogan_cache", None):
        shutil.rmtree(config.infogan_cache, ignore_errors=True)


def data_root() -> Path | None:
    root = os.environ.get("INFOGAN_DATA")
    return Path(root) if root and (Path(root) / "mnist").is_dir() else None


@pytest.fixture(scope="session")
def mnist_dir():
    root = data_root()
    if root is None:
        pytest.skip("INFOGAN_DATA with mnist/ is not set (CI sets INFOGAN_DATA=../shared/data)")
    return root / "mnist"


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    """No real data and no network: a cache dir that is empty, INFOGAN_DATA unset."""
    monkeypatch.setenv("INFOGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("INFOGAN_DATA", raising=False)
    return tmp_path / "cache"


@pytest.fixture(scope="session")
def tiny_run(mnist_dir, tmp_path_factory):
    """A 4-step MNIST run (about 20 s), trained once per session for the explore/cluster tests."""
    from infogan.cli import main

    run = tmp_path_factory.mktemp("tiny") / "run"
    args = ["train", "--preset", "mnist", "--steps", "4", "--run-dir", str(run), "--set", "train.batch_size=16",
            "--set", "train.eval_samples=200", "--no-progress"]
    assert main(args) == 0
    return run


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory):
    """Tiny data, three tiny trained runs and some files (helpers.build_world); copy it before changing it."""
    from helpers import build_world

    return build_world(tmp_path_factory.mktemp("world"))
