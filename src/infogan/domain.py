"""A small classifier of the data set's own labelled training split: the feature space of the
sample-quality metrics (Fréchet distance, class coverage) for MNIST-like data.

Architecture: conv 32 s2 → conv 64 s2 → FC 128 (features) → FC classes, ReLU, no BN (features do
not depend on the batch). Its weights are a function of the training split and the settings alone:
initialised from ``seed`` under a forked global RNG (the caller's RNG state neither changes them nor
is changed), shuffled by a generator of the same seed, trained for ``epochs`` passes with Adam on
one CPU thread (with more, the summation order and so the weights would depend on the core count).
Cached in the cache dir as safetensors under a key that hashes everything the weights depend on
(:func:`identity`); the same identity is stored in the file and checked on load, and a cached file
that does not match or does not load is trained again and replaced.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load, save
from torch import nn

from .data.common import cache_dir
from .data.store import ImageStore, to_float
from .fsutil import atomic_write
from .metrics.fid import class_coverage, feature_fd

# Bump when the architecture's code, its initialisation or the training loop changes in a way the
# identity below does not see: classifiers cached by an older version are then trained again.
CLASSIFIER_VERSION = 2
LR = 1e-3  # Adam's learning rate
_MAX_CACHED = 256 << 20  # bytes: a cached classifier is a few MB; anything bigger is not one


class DomainClassifier(nn.Module):
    def __init__(self, channels: int, side: int, n_classes: int) -> None:
        super().__init__()
        s = side // 4
        self.features = nn.Sequential(
            nn.Conv2d(channels, 32, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
            nn.Flatten(), nn.Linear(64 * s * s, 128), nn.ReLU(),
        )
        self.head = nn.Linear(128, n_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)  # (B, 128)
        return f, self.head(f)  # features, logits


def _initial(train: ImageStore, seed: int) -> DomainClassifier:
    """The untrained classifier for ``train``: weights drawn from ``seed`` under a forked global RNG."""
    c, h, _ = train.image_shape
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return DomainClassifier(c, h, int(train.labels.max()) + 1)


def identity(train: ImageStore, model: nn.Module, epochs: int, seed: int, batch: int) -> dict[str, str]:
    """What a trained classifier's weights depend on, as strings (the cache file's metadata): the
    classifier version, the architecture (``repr`` of ``model``), the training split (name, size,
    image shape, classes and a sha256 of all its images and labels), the input scaling, the
    optimiser and its settings, the seed and the torch version."""
    h = hashlib.sha256(train.images.contiguous().numpy().data)
    h.update(train.labels.to(torch.int64).contiguous().numpy().data)
    return {
        "classifier_version": str(CLASSIFIER_VERSION), "architecture": repr(model),
        "data": train.name, "data_sha256": h.hexdigest(), "images": str(len(train)),
        "image_shape": "x".join(map(str, train.image_shape)), "classes": str(int(train.labels.max()) + 1),
        "input": "images / 255", "optimizer": f"Adam lr={LR:g}", "epochs": str(epochs), "batch": str(batch),
        "seed": str(seed), "torch": torch.__version__,
    }


def cache_path(ident: dict[str, str]) -> Path:
    """The cache file of a classifier with this :func:`identity`."""
    key = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:20]
    name = re.sub(r"[^A-Za-z0-9._-]", "_", ident["data"])[:64] or "data"
    return cache_dir() / "classifiers" / f"{name}-{key}.safetensors"


def _load_cached(model: nn.Module, path: Path, ident: dict[str, str]) -> str | None:
    """Load ``path`` into ``model``; None when done, else why the file cannot be used."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO or a device would block or never end
            return "it is not a regular file"
        with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode) or os.fstat(f.fileno()).st_size > _MAX_CACHED:
                return f"it is not a regular file of at most {_MAX_CACHED >> 20} MiB"
            data = f.read(_MAX_CACHED + 1)
        n = int.from_bytes(data[:8], "little")
        meta = json.loads(data[8 : 8 + n]).get("__metadata__")
        if meta != ident:
            return "it was trained with other data or settings"
        model.load_state_dict(load(data))
    except Exception as e:  # noqa: BLE001 (any damage to a cache file means: train again)
        return f"it does not load ({type(e).__name__}: {e})"
    return None


def train_classifier(train: ImageStore, epochs: int = 2, seed: int = 0, batch: int = 256,
                     cache: bool = True, log=print) -> DomainClassifier:
    """Train (or load from the cache) the classifier on a labelled store; returns it in eval mode.

    The result depends only on ``train``, ``epochs``, ``seed`` and ``batch`` (see the module
    docstring), not on the global RNG, which it leaves as it found it.
    """
    if train.labels is None:
        raise ValueError(f"{train.name}: the domain classifier needs labels")
    model = _initial(train, seed)
    ident = identity(train, model, epochs, seed, batch)
    path = cache_path(ident)
    if cache and path.exists():
        why = _load_cached(model, path, ident)
        if why is None:
            return model.eval()
        log(f"training the domain classifier again: the cached {path} cannot be used ({why})")
        model = _initial(train, seed)  # a failed load may have changed some weights
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), LR)
    x_all = to_float(train.images, "sigmoid")
    log(f"training the domain classifier on {len(train)} labelled {train.name} images ({epochs} epochs, seed {seed})")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # summation order, hence the weights, would depend on the machine's core count
    try:
        for _ in range(epochs):
            perm = torch.randperm(len(train), generator=g)
            for i in range(0, len(train), batch):
                idx = perm[i : i + batch]
                _, logits = model(x_all[idx])  # (B, classes)
                loss = nn.functional.cross_entropy(logits, train.labels[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    finally:
        torch.set_num_threads(threads)
    model.eval()
    if cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, save(model.state_dict(), metadata=ident))
        except OSError as e:  # a read-only or full cache costs the next eval a retraining, nothing else
            log(f"warning: the domain classifier is not cached ({e})")
    return model


@torch.no_grad()
def features(model: DomainClassifier, images01: torch.Tensor, batch: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """(features (N, 128), predicted class (N,)) for float images in [0, 1]."""
    fs, ps = [], []
    for i in range(0, len(images01), batch):
        f, logits = model(images01[i : i + batch].float())
        fs.append(f.numpy())
        ps.append(logits.argmax(1).numpy())
    return np.concatenate(fs), np.concatenate(ps)


def sample_quality(model: DomainClassifier, real01: torch.Tensor, fake01: torch.Tensor, n_classes: int) -> dict:
    """Fréchet distance in the classifier's feature space, class coverage and histogram of the
    generated samples, and the classifier's accuracy-free sanity value: the real images' FD to
    themselves split in two halves (the noise floor)."""
    fr, _ = features(model, real01)
    ff, pf = features(model, fake01)
    half = len(fr) // 2
    cov = class_coverage(pf, n_classes)
    return {"fd": feature_fd(fr, ff), "fd_real_halves": feature_fd(fr[:half], fr[half:]),
            "classes_covered": cov["covered"], "class_histogram": cov["histogram"]}
