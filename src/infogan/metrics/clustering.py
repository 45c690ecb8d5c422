"""Clustering metrics on (predicted cluster, true label) integer arrays of shape (N,)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score


def _pair(pred, labels) -> tuple[np.ndarray, np.ndarray]:
    pred, labels = np.asarray(pred).ravel(), np.asarray(labels).ravel()
    if pred.shape != labels.shape:
        raise ValueError(f"pred and labels differ in length: {pred.shape} vs {labels.shape}")
    return pred, labels


def contingency(pred: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(n_clusters, n_classes) count table; clusters and classes are relabelled to 0..K-1."""
    pred, labels = _pair(pred, labels)
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
    pred, labels = _pair(pred, labels)
    pv, tv = np.unique(pred), np.unique(labels)
    table = contingency(pred, labels)
    rows, cols = linear_sum_assignment(-table)
    return {int(pv[r]): int(tv[c]) for r, c in zip(rows, cols)}


def purity(pred: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of samples whose cluster's majority class is their class."""
    table = contingency(pred, labels)
    return float(table.max(axis=1).sum() / table.sum())


def nmi(pred: np.ndarray, labels: np.ndarray) -> float:
    """Normalised mutual information with arithmetic-mean normalisation (scikit-learn's
    ``normalized_mutual_info_score``); 1 when both labelings are constant."""
    pred, labels = _pair(pred, labels)
    return float(normalized_mutual_info_score(labels, pred))


def ari(pred: np.ndarray, labels: np.ndarray) -> float:
    """Adjusted Rand index of Hubert & Arabie (scikit-learn's ``adjusted_rand_score``)."""
    pred, labels = _pair(pred, labels)
    return float(adjusted_rand_score(labels, pred))


def confusion_table(pred: np.ndarray, labels: np.ndarray, k: int) -> dict:
    """Which labels each category holds: ``counts[i][j]`` = images in category i with label
    ``labels[j]`` (all ``k`` categories, empty ones included), and ``match`` = the label the
    Hungarian matching gives category i (None when it gets none). Shows at a glance which
    categories merge two classes and which class is split (labels are never used in training)."""
    pred, labels = _pair(pred, labels)
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
