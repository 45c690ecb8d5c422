"""Metrics: pure numpy functions on arrays (codes, labels, factors)."""

from .clustering import ari, cluster_accuracy, cluster_mapping, nmi, purity

__all__ = ["ari", "cluster_accuracy", "cluster_mapping", "nmi", "purity"]
