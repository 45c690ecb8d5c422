"""Small shared builders for tests: tiny configs and synthetic stores."""

from dataclasses import replace

import torch

from infogan.config import preset
from infogan.data.store import ImageStore
from infogan.latent import LatentSpec


def synthetic_store(n=256, shape=(1, 28, 28), seed=0, labels=True):
    g = torch.Generator().manual_seed(seed)
    imgs = torch.randint(0, 256, (n, *shape), generator=g, dtype=torch.uint8)
    return ImageStore(imgs, torch.randint(0, 10, (n,), generator=g) if labels else None, name="synthetic")


def tiny_config(steps=4, batch=16, latent="cat10,unif2,noise62", **train):
    cfg = preset("mnist")
    opts = {"steps": steps, "batch_size": batch, "log_every": 2, "eval_every": 0, "ckpt_every": 2, "eval_samples": 64,
            "device": "cpu"}
    t = replace(cfg.train, **{**opts, **train})
    return replace(cfg, train=t, latent=LatentSpec.parse(latent))


def write_idx(path, array):
    """Write a uint8 numpy array as an IDX file (magic 0x0000080N, big-endian dims, raw bytes)."""
    import numpy as np

    a = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 8, a.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in a.shape)
    path.write_bytes(header + a.tobytes())
    return path


def write_tiny_mnist(folder, n_train=64, n_test=32, side=8, seed=0):
    """The four MNIST files under their official names, holding a tiny random set of side x side images.

    Their md5 are not the official ones: load them with ``data.verify=false``.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        write_idx(folder / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, side, side), dtype=np.uint8))
        write_idx(folder / f"{split}-labels-idx1-ubyte", rng.integers(0, 10, (n,), dtype=np.uint8))
    return folder


TINY_TOML = """preset = "mnist"
[data]
data_dir = "data"
download = false
verify = false
[train]
steps = 2
batch_size = 16
log_every = 1
ckpt_every = 1
keep_ckpts = 2
eval_every = 0
eval_samples = 32
threads = 1
device = "cpu"
"""


def train_tiny_run(w, **data):
    """Tiny MNIST files in ``w/data`` (``write_tiny_mnist(**data)``), ``w/tiny.toml``, and a 2-step
    run ``w/run`` trained from them through the CLI; returns ``w``."""
    import os

    from infogan.cli import main

    write_tiny_mnist(w / "data", **data)
    (w / "tiny.toml").write_text(TINY_TOML)
    cwd = os.getcwd()
    os.chdir(w)
    try:
        assert main(["train", "--config", "tiny.toml", "--run-dir", "run", "--no-progress"]) == 0
    finally:
        os.chdir(cwd)
    return w


def build_world(w):
    """A small world of files for CLI tests, in folder ``w`` (paths inside are relative to it):
    data/ (8x8, 64 train + 32 test), tiny.toml, run/ (2 steps, checkpoints 1 and 2), other/ (another
    latent spec), fashion/ (another preset), images/a.png, out/existing.{png,csv}."""
    import os
    import shutil

    from infogan.cli import main

    write_tiny_mnist(w / "data")
    (w / "tiny.toml").write_text(TINY_TOML)
    (w / "fashion.toml").write_text(TINY_TOML.replace('preset = "mnist"', 'preset = "fashion-mnist"'))
    cwd = os.getcwd()
    os.chdir(w)
    try:
        for config, args in [("tiny.toml", ["--run-dir", "run"]),
                             ("tiny.toml", ["--run-dir", "other", "--set", "latent=cat5,unif1,noise8", "--steps", "1"]),
                             ("fashion.toml", ["--run-dir", "fashion", "--steps", "1"])]:
            assert main(["train", "--config", config, *args, "--no-progress"]) == 0
    finally:
        os.chdir(cwd)
    (w / "images").mkdir()
    shutil.copy(w / "run" / "samples" / "latest.png", w / "images" / "a.png")
    (w / "out").mkdir()
    (w / "out" / "existing.png").write_bytes(b"keep me")
    (w / "out" / "existing.csv").write_text("keep,me\n")
    return w


def load_script(name):
    """A script of benchmarks/ (``name`` without .py), imported as a module."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def full_and_resumed(cfg, data, root, stop_at):
    """Train ``cfg`` on ``data`` uninterrupted (``root/full``) and again stopped after ``stop_at``
    steps, then resumed from its newest checkpoint to the end (``root/part``); returns both trainers."""
    from infogan import checkpoint as ckpt
    from infogan.train import Trainer

    full = Trainer(cfg, root / "full", data, progress=False)
    full.fit()
    part = Trainer(cfg, root / "part", data, progress=False)
    part.fit(stop_at)
    _, state = ckpt.load_latest(root / "part" / "checkpoints")
    resumed = Trainer(cfg, root / "part", data, progress=False)
    resumed.load_state(state)
    assert resumed.step_count == stop_at
    resumed.fit()
    return full, resumed
