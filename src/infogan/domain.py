"""A small classifier of the data set's own labelled training split: the feature space of the
sample-quality metrics (Fréchet distance, class coverage) for MNIST-like data.

Architecture: conv 32 s2 → conv 64 s2 → FC 128 (features) → FC classes, ReLU, no BN (features do
not depend on the batch). Trained for ``epochs`` passes with Adam, seeded; cached in the cache dir
as safetensors, keyed by the data set's name, a hash of its training images and the settings.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
from safetensors.torch import load_file, save
from torch import nn

from .data.common import cache_dir
from .data.store import ImageStore, to_float
from .fsutil import atomic_write
from .metrics.fid import class_coverage, feature_fd


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


def _key(train: ImageStore, epochs: int, seed: int) -> str:
    h = hashlib.sha256(train.images[:: max(1, len(train) // 2000)].numpy().tobytes())
    h.update(f"{tuple(train.images.shape)}-{epochs}-{seed}".encode())
    return h.hexdigest()[:16]


def train_classifier(train: ImageStore, epochs: int = 2, seed: int = 0, batch: int = 256,
                     cache: bool = True, log=print) -> DomainClassifier:
    """Train (or load from the cache) the classifier on a labelled store; returns it in eval mode."""
    if train.labels is None:
        raise ValueError(f"{train.name}: the domain classifier needs labels")
    c, h, _ = train.image_shape
    n_classes = int(train.labels.max()) + 1
    model = DomainClassifier(c, h, n_classes)
    path = cache_dir() / "classifiers" / f"{train.name}-{_key(train, epochs, seed)}.safetensors"
    if cache and path.is_file():
        model.load_state_dict(load_file(str(path)))
        return model.eval()
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x_all = to_float(train.images, "sigmoid")
    log(f"training the domain classifier on {len(train)} labelled {train.name} images ({epochs} epochs)")
    for _ in range(epochs):
        perm = torch.randperm(len(train), generator=g)
        for i in range(0, len(train), batch):
            idx = perm[i : i + batch]
            _, logits = model(x_all[idx])
            loss = nn.functional.cross_entropy(logits, train.labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    model.eval()
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, save(model.state_dict()))
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
