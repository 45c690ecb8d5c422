"""Sample quality on arrays: Fréchet distance between feature Gaussians, and class coverage.

The features come from a small classifier trained on the data set's own labelled training split
(``infogan.domain``), not from Inception: on MNIST-like data an ImageNet network is the wrong
feature space, and no pretrained weights can be downloaded here. Numbers are therefore comparable
between runs of this project, not with published Inception FIDs.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and covariance (D, D) of features (N, D), N >= 2."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"features must be (N >= 2, D), got {f.shape}")
    return f.mean(0), np.cov(f, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||² + Tr(S1 + S2 - 2 (S1 S2)^½) (Fréchet / 2-Wasserstein distance of Gaussians)."""
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    s1, s2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if mu1.shape != mu2.shape or s1.shape != s2.shape:
        raise ValueError(f"shapes differ: {mu1.shape}/{s1.shape} vs {mu2.shape}/{s2.shape}")
    covmean, _ = linalg.sqrtm(s1 @ s2, disp=False)
    if not np.isfinite(covmean).all():  # near-singular product: regularise as is customary
        eps = np.eye(s1.shape[0]) * 1e-6
        covmean = linalg.sqrtm((s1 + eps) @ (s2 + eps))
    covmean = covmean.real
    diff = mu1 - mu2
    return float(max(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean), 0.0))


def feature_fd(real: np.ndarray, fake: np.ndarray) -> float:
    """Fréchet distance between two feature sets (N, D) and (M, D)."""
    return frechet_distance(*gaussian_stats(real), *gaussian_stats(fake))


def class_coverage(pred: np.ndarray, n_classes: int, min_share: float = 0.1) -> dict:
    """How many classes a generator covers, from a classifier's predictions on its samples.

    A class counts as covered when it receives at least ``min_share`` of its fair share
    (1 / n_classes) of the samples. Returns {"covered": int, "histogram": [fraction per class]}.
    """
    pred = np.asarray(pred).ravel()
    if pred.size == 0:
        raise ValueError("no predictions")
    hist = np.bincount(pred, minlength=n_classes)[:n_classes] / pred.size
    covered = int((hist >= min_share / n_classes).sum())
    return {"covered": covered, "histogram": [float(h) for h in hist]}
