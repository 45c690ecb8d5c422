"""Clustering metrics on (predicted cluster, true label) integer arrays of shape (N,)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def contingency(pred: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(n_clusters, n_classes) count table; clusters and classes are relabelled to 0..K-1."""
    pred, labels = np.asarray(pred).ravel(), np.asarray(labels).ravel()
    if pred.shape != labels.shape:
        raise ValueError(f"pred and labels differ in length: {pred.shape} vs {labels.shape}")
    _, p = np.unique(pred, return_inverse=True)
    _, t = np.unique(labels, return_inverse=True)
    table = np.zeros((p.max(initial=-1) + 1, t.max(initial=-1) + 1), dtype=np.int64)
    np.add.at(table, (p, t), 1)
    return table


def cluster_accuracy(pred: np.ndarray, labels: np.ndarray) -> float:
    """Unsupervised accuracy: the best one-to-one matching of clusters to classes (Hungarian).

    Clusters left without a class (more clusters than classes) count as errors.
    """
    table = contingency(pred, labels)
    if table.size == 0:
        return float("nan")
    rows, cols = linear_sum_assignment(-table)
    return float(table[rows, cols].sum() / table.sum())


def cluster_mapping(pred: np.ndarray, labels: np.ndarray) -> dict[int, int]:
    """The Hungarian matching as {cluster value: class value}."""
    pred, labels = np.asarray(pred).ravel(), np.asarray(labels).ravel()
    pv, tv = np.unique(pred), np.unique(labels)
    table = contingency(pred, labels)
    rows, cols = linear_sum_assignment(-table)
    return {int(pv[r]): int(tv[c]) for r, c in zip(rows, cols)}


def purity(pred: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of samples whose cluster's majority class is their class."""
    table = contingency(pred, labels)
    return float(table.max(axis=1).sum() / table.sum())


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def nmi(pred: np.ndarray, labels: np.ndarray) -> float:
    """Normalised mutual information, arithmetic-mean normalisation (sklearn's default)."""
    table = contingency(pred, labels).astype(np.float64)
    n = table.sum()
    pi, pj = table.sum(1), table.sum(0)
    nz = table > 0
    mi = float((table[nz] / n * np.log(table[nz] * n / np.outer(pi, pj)[nz])).sum())
    hp, ht = _entropy(pi), _entropy(pj)
    if hp == 0 and ht == 0:
        return 1.0
    denom = (hp + ht) / 2
    return float(max(mi, 0.0) / denom) if denom > 0 else 0.0


def ari(pred: np.ndarray, labels: np.ndarray) -> float:
    """Adjusted Rand index (Hubert & Arabie)."""
    table = contingency(pred, labels).astype(np.float64)
    n = table.sum()

    def c2(x):
        return x * (x - 1) / 2

    sum_ij = c2(table).sum()
    a, b = c2(table.sum(1)).sum(), c2(table.sum(0)).sum()
    expected = a * b / c2(n) if n > 1 else 0.0
    max_index = (a + b) / 2
    if max_index == expected:
        return 1.0
    return float((sum_ij - expected) / (max_index - expected))


def confusion_table(pred: np.ndarray, labels: np.ndarray, k: int) -> dict:
    """Which labels each category holds: ``counts[i][j]`` = images in category i with label
    ``labels[j]`` (all ``k`` categories, empty ones included), and ``match`` = the label the
    Hungarian matching gives category i (None when it gets none). Shows at a glance which
    categories merge two classes and which class is split (labels are never used in training)."""
    pred, labels = np.asarray(pred).ravel(), np.asarray(labels).ravel()
    if pred.shape != labels.shape:
        raise ValueError(f"pred and labels differ in length: {pred.shape} vs {labels.shape}")
    if pred.size and (pred.min() < 0 or pred.max() >= k):
        raise ValueError(f"categories must lie in 0..{k - 1}, got {pred.min()}..{pred.max()}")
    classes = np.unique(labels)
    table = np.zeros((k, len(classes)), dtype=np.int64)
    np.add.at(table, (pred.astype(np.int64), np.searchsorted(classes, labels)), 1)
    rows, cols = linear_sum_assignment(-table)
    match: list = [None] * k
    for r, c in zip(rows, cols):
        match[r] = classes[c].item()
    return {"labels": [x.item() for x in classes], "counts": table.tolist(), "match": match}
