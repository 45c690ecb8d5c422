"""Supervised disentanglement metrics on data sets with known ground-truth factors.

The definitions and defaults follow google-research/disentanglement_lib
(``disentanglement_lib/evaluation/metrics/*.py`` and the gin files of ``unsupervised_study_v1``), so that
numbers are comparable with the literature (Locatello et al., ICML 2019). See ``docs/metrics.md``.

Two kinds of functions:

* Sampling metrics (:func:`beta_vae_score`, :func:`factor_vae_score`) need to draw observations with one factor
  held fixed; they take a ``representation_fn(observations) -> (n, D) codes`` and a ground-truth data object
  (:class:`GroundTruthData`, e.g. :class:`FactorGridData`).
* Array metrics (:func:`mig`, :func:`dci`, :func:`sap`, :func:`modularity`, :func:`explicitness`) take
  ``codes`` of shape (N, D) (float) and ``factors`` of shape (N, F) (integer classes) directly.

:func:`compute_all` samples once and computes everything with documented (disentanglement_lib) defaults.

Conventions: ``rng`` is a :class:`numpy.random.Generator`, an int seed or None (``np.random.default_rng``);
codes are rows (N, D), not disentanglement_lib's (D, N) columns; mutual information is in nats.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "ALL_METRICS",
    "FactorGridData",
    "GroundTruthData",
    "beta_vae_score",
    "compute_all",
    "dci",
    "dci_from_importance",
    "discrete_entropy",
    "discrete_mutual_info",
    "explicitness",
    "factor_vae_score",
    "histogram_discretize",
    "mig",
    "modularity",
    "sample_codes",
    "sap",
]

RepresentationFn = Callable[[np.ndarray], np.ndarray]

# Names accepted by compute_all(metrics=...).
ALL_METRICS = ("beta_vae", "factor_vae", "mig", "dci", "sap", "modularity", "explicitness")


# --------------------------------------------------------------------------------------------------------------
# small validation helpers
# --------------------------------------------------------------------------------------------------------------


def _rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, np.random.RandomState):
        return np.random.default_rng(rng.randint(0, 2**31 - 1))
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise ValueError(f"rng must be a numpy Generator, RandomState, int seed or None, got {type(rng).__name__}")


def _sk_seed(rng: np.random.Generator) -> int:
    """An int seed for scikit-learn estimators, drawn from rng."""
    return int(rng.integers(0, 2**31 - 1))


def _count(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an int, got {value!r}")  # noqa: TRY004 - one error type for bad arguments
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _codes(codes, name: str = "codes", min_dims: int = 1) -> np.ndarray:
    c = np.asarray(codes, dtype=np.float64)
    if c.ndim != 2:
        raise ValueError(f"{name} must have shape (N, D), got shape {c.shape}")
    if c.shape[1] < min_dims:
        raise ValueError(f"{name} must have at least {min_dims} dimensions (columns), got shape {c.shape}")
    if not np.all(np.isfinite(c)):
        raise ValueError(f"{name} contains NaN or inf")
    return c


def _factors(factors, name: str = "factors", min_factors: int = 1) -> np.ndarray:
    f = np.asarray(factors)
    if f.ndim != 2:
        raise ValueError(f"{name} must have shape (N, F), got shape {f.shape}")
    if f.shape[1] < min_factors:
        raise ValueError(f"{name} must have at least {min_factors} factors (columns), got shape {f.shape}")
    if f.dtype.kind not in "iub":
        if f.dtype.kind == "f" and np.all(np.isfinite(f)) and np.all(f == np.round(f)):
            f = f.astype(np.int64)
        else:
            raise ValueError(f"{name} must hold integer factor classes, got dtype {f.dtype}")
    return f.astype(np.int64, copy=False)


def _pair(codes, factors, *, min_n: int, min_dims: int = 1, min_factors: int = 1, suffix: str = ""):
    c = _codes(codes, "codes" + suffix, min_dims)
    f = _factors(factors, "factors" + suffix, min_factors)
    if c.shape[0] != f.shape[0]:
        raise ValueError(f"codes{suffix} and factors{suffix} differ in number of samples: {c.shape[0]} vs {f.shape[0]}")
    if c.shape[0] < min_n:
        raise ValueError(f"need at least {min_n} samples, got codes{suffix} with {c.shape[0]} rows")
    return c, f


def _train_test(codes, factors, codes_test, factors_test, *, min_dims: int = 1, min_factors: int = 1):
    c, f = _pair(codes, factors, min_n=2, min_dims=min_dims, min_factors=min_factors)
    ct, ft = _pair(codes_test, factors_test, min_n=1, suffix="_test")
    if ct.shape[1] != c.shape[1]:
        raise ValueError(f"codes_test has {ct.shape[1]} dimensions but codes has {c.shape[1]}")
    if ft.shape[1] != f.shape[1]:
        raise ValueError(f"factors_test has {ft.shape[1]} factors but factors has {f.shape[1]}")
    for j in range(f.shape[1]):
        if np.unique(f[:, j]).size < 2:
            raise ValueError(f"factor {j} takes a single value in the training sample; need >= 2 classes")
    return c, f, ct, ft


# --------------------------------------------------------------------------------------------------------------
# ground-truth data
# --------------------------------------------------------------------------------------------------------------


class GroundTruthData:
    """Protocol (and base class) for a data set generated by discrete ground-truth factors.

    Required members (duck typing is enough; subclassing is optional):

    * ``factor_sizes: tuple[int, ...]`` -- number of classes of each of the F factors.
    * ``sample_factors(n, rng) -> (n, F) int array`` -- factors drawn from the data distribution.
    * ``sample_observations_from_factors(factors, rng) -> (n, ...) observations`` -- observations for given factors.

    Optional member (the metrics fall back to disentanglement_lib's "sample, then overwrite" when it is absent):

    * ``sample_factors_given(fixed, values, rng) -> (n, F) int array`` -- row i has factor ``fixed[i]`` equal to
      ``values[i]``, the other factors drawn from their conditional distribution.
    """

    factor_sizes: tuple[int, ...] = ()

    @property
    def num_factors(self) -> int:
        return len(self.factor_sizes)

    def sample_factors(self, n: int, rng) -> np.ndarray:
        """Independent uniform factors, (n, F) int64 (disentanglement_lib's default for full grids)."""
        rng = _rng(rng)
        sizes = np.asarray(self.factor_sizes, dtype=np.int64)
        return rng.integers(0, sizes, size=(int(n), sizes.size), dtype=np.int64)

    def sample_factors_given(self, fixed: np.ndarray, values: np.ndarray, rng) -> np.ndarray:
        """(n, F) factors with ``out[i, fixed[i]] == values[i]``; the others as :meth:`sample_factors`."""
        fixed, values = np.asarray(fixed, dtype=np.int64), np.asarray(values, dtype=np.int64)
        out = self.sample_factors(fixed.size, rng)
        out[np.arange(fixed.size), fixed] = values
        return out

    def sample_observations_from_factors(self, factors: np.ndarray, rng) -> np.ndarray:
        raise NotImplementedError

    def sample(self, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
        """(factors (n, F), observations (n, ...))."""
        rng = _rng(rng)
        f = self.sample_factors(n, rng)
        return f, self.sample_observations_from_factors(f, rng)

    def sample_observations(self, n: int, rng) -> np.ndarray:
        return self.sample(n, rng)[1]


class FactorGridData(GroundTruthData):
    """Ground-truth data stored as arrays: ``images[i]`` was generated by the classes ``factor_classes[i]``.

    Args:
        images: (N, ...) observations (any array that supports integer-array indexing, e.g. a memmap).
        factor_classes: (N, F) int, class of each factor for each image, ``0 <= factor_classes[:, j] < sizes[j]``.
        factor_sizes: F ints >= 2 (drop constant factors such as dSprites' colour first). Default: column max + 1.

    Full grid (every combination of classes present, e.g. dSprites, Shapes3D): factors are sampled independently
    and uniformly, exactly as in disentanglement_lib, and looked up by ``np.ravel_multi_index``. Non-full grid:
    :meth:`sample_factors` draws rows of ``factor_classes`` uniformly (the empirical joint distribution) and
    :meth:`sample_factors_given` draws the other factors from rows that have the fixed value, so every sampled
    combination exists. Combinations present several times are resolved by picking one of their images at random.
    """

    def __init__(self, images, factor_classes, factor_sizes: Sequence[int] | None = None):
        classes = _factors(factor_classes, "factor_classes")
        n = classes.shape[0]
        if n == 0:
            raise ValueError("factor_classes is empty (0 rows)")
        if not hasattr(images, "shape") or len(images.shape) < 1:
            images = np.asarray(images)
        if images.shape[0] != n:
            raise ValueError(f"images has {images.shape[0]} rows but factor_classes has {n}")
        if factor_sizes is None:
            factor_sizes = tuple(int(m) + 1 for m in classes.max(axis=0))
        sizes = tuple(int(s) for s in factor_sizes)
        if len(sizes) != classes.shape[1]:
            raise ValueError(f"factor_sizes has {len(sizes)} entries but factor_classes has {classes.shape[1]} columns")
        for j, s in enumerate(sizes):
            if s < 2:
                raise ValueError(f"factor_sizes[{j}] = {s}: every factor needs >= 2 classes (drop constant factors)")
        if classes.min() < 0:
            raise ValueError(f"factor_classes has a negative class: {int(classes.min())}")
        over = classes >= np.asarray(sizes)
        if over.any():
            j = int(np.argwhere(over)[0, 1])
            top = int(classes[:, j].max())
            raise ValueError(f"factor_classes[:, {j}] has class {top} >= factor_sizes[{j}] = {sizes[j]}")
        self.images = images
        self.factor_classes = classes
        self.factor_sizes = sizes
        keys = np.ravel_multi_index(tuple(classes.T), sizes)
        self._order = np.argsort(keys, kind="stable")
        self._keys, self._starts, self._counts = np.unique(keys[self._order], return_index=True, return_counts=True)
        self.full_grid = self._keys.size == int(np.prod(np.asarray(sizes, dtype=np.float64)))
        self._by_factor = None  # per-factor row groups, built lazily for non-full grids

    def __len__(self) -> int:
        return self.factor_classes.shape[0]

    def _check(self, factors) -> np.ndarray:
        f = _factors(factors, "factors")
        if f.shape[1] != self.num_factors:
            raise ValueError(f"factors must have {self.num_factors} columns, got shape {f.shape}")
        bad = (f < 0) | (f >= np.asarray(self.factor_sizes))
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise ValueError(f"factors[{i}, {j}] = {f[i, j]} is outside 0..{self.factor_sizes[j] - 1}")
        return f

    def sample_factors(self, n: int, rng) -> np.ndarray:
        n = _count("n", n, 0)
        rng = _rng(rng)
        if self.full_grid:
            return super().sample_factors(n, rng)
        return self.factor_classes[rng.integers(0, len(self), size=n)]

    def sample_factors_given(self, fixed, values, rng) -> np.ndarray:
        rng = _rng(rng)
        fixed = np.asarray(fixed, dtype=np.int64).ravel()
        values = np.asarray(values, dtype=np.int64).ravel()
        if fixed.shape != values.shape:
            raise ValueError(f"fixed and values differ in shape: {fixed.shape} vs {values.shape}")
        if fixed.size and (fixed.min() < 0 or fixed.max() >= self.num_factors):
            raise ValueError(f"fixed factor index out of range 0..{self.num_factors - 1}: {fixed.min()}..{fixed.max()}")
        if self.full_grid:
            return super().sample_factors_given(fixed, values, rng)
        if self._by_factor is None:
            self._by_factor = []
            for j, s in enumerate(self.factor_sizes):
                col = self.factor_classes[:, j]
                order = np.argsort(col, kind="stable")
                starts = np.searchsorted(col[order], np.arange(s))
                counts = np.bincount(col, minlength=s)
                self._by_factor.append((order, starts, counts))
        rows = np.empty(fixed.size, dtype=np.int64)
        for j in np.unique(fixed):
            sel = np.flatnonzero(fixed == j)
            v = values[sel]
            order, starts, counts = self._by_factor[j]
            if v.min() < 0 or v.max() >= self.factor_sizes[j] or (counts[v] == 0).any():
                bad = v[(v < 0) | (v >= self.factor_sizes[j])]
                bad = bad if bad.size else v[counts[v] == 0]
                raise ValueError(f"no image has factor {j} equal to {int(bad[0])}")
            rows[sel] = order[starts[v] + rng.integers(0, counts[v])]
        return self.factor_classes[rows].copy()

    def indices_from_factors(self, factors, rng) -> np.ndarray:
        """Row indices into ``images`` for (n, F) factors (a random duplicate where a combination repeats)."""
        rng = _rng(rng)
        f = self._check(factors)
        keys = np.ravel_multi_index(tuple(f.T), self.factor_sizes)
        pos = np.minimum(np.searchsorted(self._keys, keys), self._keys.size - 1)
        missing = self._keys[pos] != keys
        if missing.any():
            i = int(np.flatnonzero(missing)[0])
            raise ValueError(f"no image for factor combination {f[i].tolist()} (row {i})")
        return self._order[self._starts[pos] + rng.integers(0, self._counts[pos])]

    def sample_observations_from_factors(self, factors, rng) -> np.ndarray:
        return self.images[self.indices_from_factors(factors, rng)]


# --------------------------------------------------------------------------------------------------------------
# sampling helpers
# --------------------------------------------------------------------------------------------------------------


def _sample_factors_given(data, fixed, values, rng) -> np.ndarray:
    fn = getattr(data, "sample_factors_given", None)
    if fn is not None:
        return np.asarray(fn(fixed, values, rng), dtype=np.int64)
    out = np.asarray(data.sample_factors(len(fixed), rng), dtype=np.int64).copy()
    out[np.arange(len(fixed)), fixed] = values
    return out


class _Encoder:
    """Calls representation_fn on observations and checks the (n, D) result (D fixed after the first call)."""

    def __init__(self, representation_fn: RepresentationFn, data):
        if not callable(representation_fn):
            raise ValueError(  # noqa: TRY004 - one error type for bad arguments
                f"representation_fn must be callable, got {type(representation_fn).__name__}")
        self.fn, self.data, self.dim = representation_fn, data, None

    def __call__(self, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        obs = self.data.sample_observations_from_factors(factors, rng)
        z = np.asarray(self.fn(obs), dtype=np.float64)
        n = factors.shape[0]
        if z.ndim != 2 or z.shape[0] != n:
            raise ValueError(f"representation_fn must return shape ({n}, D) for {n} observations, got {z.shape}")
        if self.dim is None:
            self.dim = z.shape[1]
        elif z.shape[1] != self.dim:
            raise ValueError(f"representation_fn returned {z.shape[1]} dimensions, earlier {self.dim}")
        if not np.all(np.isfinite(z)):
            raise ValueError("representation_fn returned NaN or inf")
        return z


def _num_factors(data) -> int:
    sizes = getattr(data, "factor_sizes", None)
    if sizes is None or len(sizes) < 1:
        raise ValueError("data must have a non-empty factor_sizes")
    return len(sizes)


def sample_codes(
    representation_fn: RepresentationFn, data, num_points: int, rng=None, *, chunk_size: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """Draw factors from ``data``, render them and encode them (disentanglement_lib's generate_batch_factor_code).

    Args:
        representation_fn: observations (n, ...) -> codes (n, D).
        data: a :class:`GroundTruthData`.
        num_points: number of samples N (>= 1).
        rng: Generator / seed.
        chunk_size: observations per representation_fn call (memory only; does not change the distribution).

    Returns:
        codes (N, D) float64 and factors (N, F) int64 -- rows, unlike disentanglement_lib's columns.
    """
    num_points = _count("num_points", num_points, 1)
    chunk_size = _count("chunk_size", chunk_size, 1)
    _num_factors(data)
    rng = _rng(rng)
    enc = _Encoder(representation_fn, data)
    codes, factors = [], []
    for start in range(0, num_points, chunk_size):
        f = np.asarray(data.sample_factors(min(chunk_size, num_points - start), rng), dtype=np.int64)
        codes.append(enc(f, rng))
        factors.append(f)
    return np.concatenate(codes), np.concatenate(factors)


# --------------------------------------------------------------------------------------------------------------
# information-theoretic helpers
# --------------------------------------------------------------------------------------------------------------


def histogram_discretize(codes, num_bins: int = 20) -> np.ndarray:
    """Discretise each code dimension into ``num_bins`` equal-width bins over its own [min, max] range.

    Args:
        codes: (N, D) float.
        num_bins: bins per dimension (disentanglement_lib: 20).

    Returns:
        (N, D) int64 bin indices in 1..num_bins (a constant dimension falls into a single bin).
    """
    c = _codes(codes)
    num_bins = _count("num_bins", num_bins, 1)
    out = np.empty(c.shape, dtype=np.int64)
    for d in range(c.shape[1]):
        edges = np.histogram_bin_edges(c[:, d], bins=num_bins)
        out[:, d] = np.digitize(c[:, d], edges[:-1])
    return out


def discrete_mutual_info(discrete_codes, factors) -> np.ndarray:
    """Plug-in mutual information (nats) between every discrete code dimension and every factor
    (scikit-learn's ``mutual_info_score``, disentanglement_lib's choice too).

    Args:
        discrete_codes: (N, D) int, e.g. from :func:`histogram_discretize`.
        factors: (N, F) int.

    Returns:
        (D, F) float64 matrix.
    """
    z = _factors(discrete_codes, "discrete_codes")
    f = _factors(factors)
    if z.shape[0] != f.shape[0]:
        raise ValueError(f"discrete_codes and factors differ in number of samples: {z.shape[0]} vs {f.shape[0]}")
    from sklearn.metrics import mutual_info_score

    return np.array([[mutual_info_score(z[:, i], f[:, j]) for j in range(f.shape[1])] for i in range(z.shape[1])])


def discrete_entropy(factors) -> np.ndarray:
    """Plug-in entropy (nats) of each factor column. Args: factors (N, F) int. Returns: (F,) float64."""
    from scipy.stats import entropy

    f = _factors(factors)
    return np.array([entropy(np.unique(f[:, j], return_counts=True)[1]) for j in range(f.shape[1])], dtype=np.float64)


# --------------------------------------------------------------------------------------------------------------
# BetaVAE score (Higgins et al., ICLR 2017)
# --------------------------------------------------------------------------------------------------------------


def _beta_vae_points(enc: _Encoder, data, batch_size: int, num_points: int, rng, chunk_size: int):
    F = _num_factors(data)
    per_call = max(1, chunk_size // batch_size)
    feats, labels = [], []
    for start in range(0, num_points, per_call):
        m = min(per_call, num_points - start)
        k = rng.integers(0, F, size=m)
        k_rep = np.repeat(k, batch_size)
        f1 = np.asarray(data.sample_factors(m * batch_size, rng), dtype=np.int64)
        f2 = _sample_factors_given(data, k_rep, f1[np.arange(k_rep.size), k_rep], rng)
        z1, z2 = enc(f1, rng), enc(f2, rng)
        feats.append(np.abs(z1 - z2).reshape(m, batch_size, -1).mean(axis=1))
        labels.append(k)
    return np.concatenate(feats), np.concatenate(labels)


def beta_vae_score(
    representation_fn: RepresentationFn,
    data,
    rng=None,
    *,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    chunk_size: int = 1024,
) -> dict[str, float]:
    """BetaVAE disentanglement score (Higgins et al. 2017; disentanglement_lib ``beta_vae.py``).

    Each point: pick a factor k uniformly; draw two batches of ``batch_size`` factor vectors that agree on factor
    k; the feature is the mean over the batch of ``|z1 - z2|`` (a D-vector) and the label is k. A logistic
    regression (scikit-learn defaults) is trained on ``num_train`` points; the score is its accuracy on
    ``num_eval`` fresh points. Chance level: 1/F. Maximum: 1.

    Args:
        representation_fn: observations (n, ...) -> codes (n, D).
        data: :class:`GroundTruthData` with F >= 2 factors.
        rng: Generator / seed.
        batch_size, num_train, num_eval: disentanglement_lib defaults 64, 10000, 5000.
        chunk_size: observations per representation_fn call (memory only).

    Returns:
        {"train_accuracy": float, "eval_accuracy": float}.
    """
    from sklearn.linear_model import LogisticRegression

    batch_size = _count("batch_size", batch_size, 1)
    num_train = _count("num_train", num_train, 2)
    num_eval = _count("num_eval", num_eval, 1)
    chunk_size = _count("chunk_size", chunk_size, 1)
    F = _num_factors(data)
    if F < 2:
        raise ValueError(f"beta_vae_score needs >= 2 factors, data has {F}")
    rng = _rng(rng)
    enc = _Encoder(representation_fn, data)
    x_train, y_train = _beta_vae_points(enc, data, batch_size, num_train, rng, chunk_size)
    if np.unique(y_train).size < 2:
        raise ValueError(f"num_train = {num_train} drew a single factor; use more training points")
    model = LogisticRegression(random_state=_sk_seed(rng))
    model.fit(x_train, y_train)
    x_eval, y_eval = _beta_vae_points(enc, data, batch_size, num_eval, rng, chunk_size)
    return {
        "train_accuracy": float(np.mean(model.predict(x_train) == y_train)),
        "eval_accuracy": float(np.mean(model.predict(x_eval) == y_eval)),
    }


# --------------------------------------------------------------------------------------------------------------
# FactorVAE score (Kim & Mnih, ICML 2018)
# --------------------------------------------------------------------------------------------------------------


def _factor_vae_votes(enc, data, batch_size, num_points, rng, global_var, active, chunk_size):
    F = _num_factors(data)
    votes = np.zeros((F, int(active.sum())), dtype=np.int64)
    per_call = max(1, chunk_size // batch_size)
    for start in range(0, num_points, per_call):
        m = min(per_call, num_points - start)
        k = rng.integers(0, F, size=m)
        first = np.asarray(data.sample_factors(m, rng), dtype=np.int64)  # value of the fixed factor
        k_rep = np.repeat(k, batch_size)
        f = _sample_factors_given(data, k_rep, np.repeat(first[np.arange(m), k], batch_size), rng)
        z = enc(f, rng).reshape(m, batch_size, -1)
        local_var = z.var(axis=1, ddof=1)  # (m, D)
        ratio = local_var[:, active] / global_var[active]
        np.add.at(votes, (k, ratio.argmin(axis=1)), 1)
    return votes


def factor_vae_score(
    representation_fn: RepresentationFn,
    data,
    rng=None,
    *,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    num_variance_estimate: int = 10000,
    prune_threshold: float = 0.05,
    chunk_size: int = 1024,
) -> dict[str, float]:
    """FactorVAE disentanglement score (Kim & Mnih 2018; disentanglement_lib ``factor_vae.py``).

    Global per-dimension variances are estimated on ``num_variance_estimate`` samples (ddof=1). Dimensions whose
    global standard deviation is below ``prune_threshold`` are dropped as collapsed (disentanglement_lib's
    ``prune_dims.threshold = 0.05``, an absolute threshold on sqrt(variance)). Each point: pick a factor k, draw
    ``batch_size`` samples with factor k fixed, and vote for the active dimension with the lowest
    ``local variance / global variance``. The majority-vote classifier maps each dimension to the factor that voted
    for it most on ``num_train`` points; the score is its accuracy on ``num_eval`` fresh points.
    Chance level (code independent of the factors): about 1/F. Maximum: 1 (needs D >= F). No active dimension
    (e.g. a constant code): 0.

    Args:
        representation_fn: observations (n, ...) -> codes (n, D).
        data: :class:`GroundTruthData` with F >= 2 factors.
        rng: Generator / seed.
        batch_size, num_train, num_eval, num_variance_estimate: disentanglement_lib defaults 64, 10000, 5000,
            10000 (batch_size >= 2 and num_variance_estimate >= 2 for the unbiased variances).
        prune_threshold: minimum global standard deviation of an active dimension.
        chunk_size: observations per representation_fn call (memory only).

    Returns:
        {"train_accuracy": float, "eval_accuracy": float, "num_active_dims": float}.
    """
    batch_size = _count("batch_size", batch_size, 2)
    num_train = _count("num_train", num_train, 1)
    num_eval = _count("num_eval", num_eval, 1)
    num_variance_estimate = _count("num_variance_estimate", num_variance_estimate, 2)
    chunk_size = _count("chunk_size", chunk_size, 1)
    if not np.isfinite(prune_threshold) or prune_threshold < 0:
        raise ValueError(f"prune_threshold must be a finite number >= 0, got {prune_threshold!r}")
    F = _num_factors(data)
    if F < 2:
        raise ValueError(f"factor_vae_score needs >= 2 factors, data has {F}")
    rng = _rng(rng)
    enc = _Encoder(representation_fn, data)
    z, _ = sample_codes(representation_fn, data, num_variance_estimate, rng, chunk_size=chunk_size)
    enc.dim = z.shape[1]
    global_var = z.var(axis=0, ddof=1)
    active = np.sqrt(global_var) >= prune_threshold
    active &= global_var > 0  # a zero-variance dimension cannot be normalised (matters only for threshold 0)
    if not active.any():
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0.0}
    train_votes = _factor_vae_votes(enc, data, batch_size, num_train, rng, global_var, active, chunk_size)
    classifier = train_votes.argmax(axis=0)  # (active dims,) -> factor
    cols = np.arange(train_votes.shape[1])
    eval_votes = _factor_vae_votes(enc, data, batch_size, num_eval, rng, global_var, active, chunk_size)
    return {
        "train_accuracy": float(train_votes[classifier, cols].sum() / train_votes.sum()),
        "eval_accuracy": float(eval_votes[classifier, cols].sum() / eval_votes.sum()),
        "num_active_dims": float(active.sum()),
    }


# --------------------------------------------------------------------------------------------------------------
# MIG (Chen et al., NeurIPS 2018)
# --------------------------------------------------------------------------------------------------------------


def mig(codes, factors, *, num_bins: int = 20) -> float:
    """Mutual Information Gap (Chen et al. 2018; disentanglement_lib ``mig.py``).

    Codes are discretised into ``num_bins`` equal-width histogram bins per dimension; with the (D, F) plug-in
    mutual information matrix I (nats), MIG = mean over factors j of (largest I[:, j] - second largest I[:, j]) /
    H(factor j). Range [0, 1]; a code independent of the factors scores ~0 (up to the plug-in bias).
    Deterministic (no rng).

    Args:
        codes: (N, D) float, D >= 2.
        factors: (N, F) int, every factor non-constant in the sample.
        num_bins: disentanglement_lib default 20.

    Returns:
        MIG as a float.
    """
    c, f = _pair(codes, factors, min_n=2, min_dims=2)
    h = discrete_entropy(f)
    if (h == 0).any():
        raise ValueError(f"factor {int(np.flatnonzero(h == 0)[0])} is constant in the sample; MIG is undefined")
    m = discrete_mutual_info(histogram_discretize(c, num_bins), f)
    top = np.sort(m, axis=0)[::-1]
    return float(np.mean((top[0] - top[1]) / h))


# --------------------------------------------------------------------------------------------------------------
# DCI (Eastwood & Williams, ICLR 2018)
# --------------------------------------------------------------------------------------------------------------


def _entropy_rows(p: np.ndarray, base: int) -> np.ndarray:
    """Entropy (log base ``base``) of each row of a non-negative matrix after normalising the row."""
    p = p / p.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(p > 0, np.log(p), 0.0)
    return -(p * logs).sum(axis=1) / np.log(base)


def dci_from_importance(importance) -> dict[str, float]:
    """Disentanglement and completeness from a (D, F) non-negative importance matrix R.

    Disentanglement = sum_d rho_d (1 - H_F(R[d, :])) with rho_d = sum_j R[d, j] / sum R;
    completeness = sum_j rho_j (1 - H_D(R[:, j])) with rho_j = sum_d R[d, j] / sum R
    (entropies of the normalised rows/columns, logs in base F and D; 1e-11 is added to R before normalising
    as in disentanglement_lib; an all-zero R gives 0 and 0).

    Args:
        importance: (D, F), D >= 2, F >= 2.

    Returns:
        {"disentanglement": float, "completeness": float}.
    """
    r = np.asarray(importance, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] < 2 or r.shape[1] < 2:
        raise ValueError(f"importance must have shape (D, F) with D >= 2 and F >= 2, got {r.shape}")
    if not np.all(np.isfinite(r)) or (r < 0).any():
        raise ValueError("importance must be finite and non-negative")
    D, F = r.shape
    per_code = 1.0 - _entropy_rows(r + 1e-11, F)
    per_factor = 1.0 - _entropy_rows(r.T + 1e-11, D)
    w = r if r.sum() > 0 else np.ones_like(r)
    return {
        "disentanglement": float(np.sum(per_code * w.sum(axis=1) / w.sum())),
        "completeness": float(np.sum(per_factor * w.sum(axis=0) / w.sum())),
    }


def dci(
    codes,
    factors,
    codes_test,
    factors_test,
    rng=None,
    *,
    gbt_params: dict | None = None,
) -> dict[str, float]:
    """DCI disentanglement, completeness and informativeness (Eastwood & Williams 2018; disentanglement_lib ``dci.py``).

    One ``sklearn.ensemble.GradientBoostingClassifier`` (default hyper-parameters) per factor predicts the factor
    from all code dimensions; the (D, F) importance matrix holds the absolute ``feature_importances_``.
    Disentanglement and completeness as in :func:`dci_from_importance`; informativeness is the classification
    accuracy, averaged over factors (disentanglement_lib's "informativeness_test" is the headline number).
    Chance level of informativeness: the majority-class frequency (1/K for a uniform factor with K classes).

    Args:
        codes, factors: training set, (N, D) float with D >= 2 and (N, F) int with F >= 2.
        codes_test, factors_test: test set, (M, D) and (M, F) (disentanglement_lib: N=10000, M=5000).
        rng: Generator / seed, used for the trees' random_state.
        gbt_params: overrides for GradientBoostingClassifier (e.g. ``{"n_estimators": 20}`` for quick checks;
            numbers are then not comparable with the literature).

    Returns:
        {"disentanglement", "completeness", "informativeness_train", "informativeness_test"} floats.
    """
    from sklearn.ensemble import GradientBoostingClassifier

    c, f, ct, ft = _train_test(codes, factors, codes_test, factors_test, min_dims=2, min_factors=2)
    rng = _rng(rng)
    params = dict(gbt_params or {})
    seed = _sk_seed(rng)
    D, F = c.shape[1], f.shape[1]
    importance = np.zeros((D, F))
    acc_train, acc_test = [], []
    for j in range(F):
        model = GradientBoostingClassifier(**{"random_state": seed, **params})
        model.fit(c, f[:, j])
        importance[:, j] = np.abs(model.feature_importances_)
        acc_train.append(np.mean(model.predict(c) == f[:, j]))
        acc_test.append(np.mean(model.predict(ct) == ft[:, j]))
    out = dci_from_importance(importance)
    out["informativeness_train"] = float(np.mean(acc_train))
    out["informativeness_test"] = float(np.mean(acc_test))
    return out


# --------------------------------------------------------------------------------------------------------------
# SAP (Kumar et al., ICLR 2018)
# --------------------------------------------------------------------------------------------------------------


def sap(
    codes,
    factors,
    codes_test,
    factors_test,
    rng=None,
    *,
    continuous_factors: bool = False,
) -> float:
    """Separated Attribute Predictability (Kumar et al. 2018; disentanglement_lib ``sap_score.py``).

    Score matrix S (D, F): for discrete factors (default), the test accuracy of a one-feature
    ``LinearSVC(C=0.01, class_weight="balanced")`` predicting factor j from code dimension i; for
    ``continuous_factors=True``, the squared Pearson correlation on the training set (0 for a constant dimension).
    SAP = mean over factors of (largest S[:, j] - second largest S[:, j]). A code independent of the factors
    scores ~0; the identity code stays well below 1 for discrete factors with many classes, because a linear
    one-vs-rest classifier on one feature cannot carve out the middle classes.

    Args:
        codes, factors: training set, (N, D) float with D >= 2 and (N, F) int.
        codes_test, factors_test: test set, (M, D) and (M, F) (disentanglement_lib: N=10000, M=5000).
        rng: Generator / seed (LinearSVC random_state).
        continuous_factors: disentanglement_lib default False.

    Returns:
        SAP as a float.
    """
    c, f, ct, ft = _train_test(codes, factors, codes_test, factors_test, min_dims=2)
    rng = _rng(rng)
    D, F = c.shape[1], f.shape[1]
    score = np.zeros((D, F))
    if continuous_factors:
        for i in range(D):
            for j in range(F):
                cov = np.cov(c[:, i], f[:, j], ddof=1)
                if cov[0, 0] > 1e-12 and cov[1, 1] > 0:
                    score[i, j] = cov[0, 1] ** 2 / (cov[0, 0] * cov[1, 1])
    else:
        from sklearn.svm import LinearSVC

        seed = _sk_seed(rng)
        for i in range(D):
            for j in range(F):
                clf = LinearSVC(C=0.01, class_weight="balanced", random_state=seed)
                clf.fit(c[:, i : i + 1], f[:, j])
                score[i, j] = np.mean(clf.predict(ct[:, i : i + 1]) == ft[:, j])
    top = np.sort(score, axis=0)
    return float(np.mean(top[-1] - top[-2]))


# --------------------------------------------------------------------------------------------------------------
# Modularity and explicitness (Ridgeway & Mozer, NeurIPS 2018)
# --------------------------------------------------------------------------------------------------------------


def modularity(codes, factors, *, num_bins: int = 20) -> float:
    """Modularity (Ridgeway & Mozer 2018; disentanglement_lib ``modularity_explicitness.py``).

    With the (D, F) mutual information matrix I of the ``num_bins``-histogram-discretised codes, each dimension d
    scores ``1 - sum_{j != j*} I[d, j]^2 / ((F - 1) I[d, j*]^2)`` where j* is its most informative factor, or 0
    if I[d, :] is all zero; modularity is the mean over dimensions. Maximum 1 (each dimension informative about
    one factor). A constant code scores 0, but a code independent of the factors does NOT score ~0: its small
    plug-in MI values are still unequal across factors (the bias grows with the number of classes), so it lands
    mid-range. Deterministic (no rng).

    Args:
        codes: (N, D) float.
        factors: (N, F) int, F >= 2.
        num_bins: disentanglement_lib default 20.

    Returns:
        modularity as a float.
    """
    c, f = _pair(codes, factors, min_n=2, min_factors=2)
    sq = discrete_mutual_info(histogram_discretize(c, num_bins), f) ** 2
    mx = sq.max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = (sq.sum(axis=1) - mx) / (mx * (sq.shape[1] - 1))
    per_dim = np.where(mx > 0, 1.0 - delta, 0.0)
    return float(per_dim.mean())


def _roc_auc_macro(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    aucs = []
    for col, k in enumerate(classes):
        pos = y == k
        if pos.any() and not pos.all():
            aucs.append(roc_auc_score(pos, proba[:, col]))
    return float(np.mean(aucs)) if aucs else float("nan")


def explicitness(codes, factors, codes_test, factors_test, rng=None) -> dict[str, float]:
    """Explicitness (Ridgeway & Mozer 2018; disentanglement_lib ``modularity_explicitness.py``).

    Codes are standardised with the training mean and standard deviation (a constant dimension is only centred);
    per factor, a ``LogisticRegression`` (scikit-learn defaults) predicts the class from all dimensions and the
    score is the macro one-vs-rest ROC-AUC of its predicted probabilities (classes absent from a split are
    skipped); explicitness is the mean over factors. Chance level 0.5, maximum 1.

    Args:
        codes, factors: training set, (N, D) float and (N, F) int.
        codes_test, factors_test: test set, (M, D) and (M, F) (disentanglement_lib: N=10000, M=5000).
        rng: Generator / seed (LogisticRegression random_state; lbfgs itself is deterministic).

    Returns:
        {"train": float, "test": float} (disentanglement_lib's explicitness_score_train / _test).
    """
    from sklearn.linear_model import LogisticRegression

    c, f, ct, ft = _train_test(codes, factors, codes_test, factors_test)
    rng = _rng(rng)
    mean, std = c.mean(axis=0), c.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    c, ct = (c - mean) / std, (ct - mean) / std
    seed = _sk_seed(rng)
    train, test = [], []
    for j in range(f.shape[1]):
        clf = LogisticRegression(random_state=seed).fit(c, f[:, j])
        train.append(_roc_auc_macro(f[:, j], clf.predict_proba(c), clf.classes_))
        test.append(_roc_auc_macro(ft[:, j], clf.predict_proba(ct), clf.classes_))

    def mean(values):  # nan only if no factor had a class with both positives and negatives in the split
        values = [v for v in values if not np.isnan(v)]
        return float(np.mean(values)) if values else float("nan")

    return {"train": mean(train), "test": mean(test)}


# --------------------------------------------------------------------------------------------------------------
# everything at once
# --------------------------------------------------------------------------------------------------------------


def compute_all(
    representation_fn: RepresentationFn,
    data,
    rng=None,
    *,
    num_train: int = 10000,
    num_test: int = 5000,
    batch_size: int = 64,
    num_eval: int = 5000,
    num_variance_estimate: int = 10000,
    beta_vae_num_train: int | None = None,
    factor_vae_num_train: int | None = None,
    num_bins: int = 20,
    prune_threshold: float = 0.05,
    continuous_factors: bool = False,
    gbt_params: dict | None = None,
    metrics: Iterable[str] | None = None,
    chunk_size: int = 1024,
) -> dict[str, float]:
    """All metrics with disentanglement_lib's defaults; the array metrics share one sampled train/test set.

    Defaults (unsupervised_study_v1 gin files): MIG, DCI, SAP, modularity/explicitness on ``num_train=10000``
    training and ``num_test=5000`` test samples; BetaVAE batch 64, 10000 train, 5000 eval points; FactorVAE batch
    64, 10000 train, 5000 eval points, 10000 samples for the global variances, prune threshold 0.05; 20 bins;
    SAP with discrete factors. Lower every count for a quick look (the numbers get noisier and MIG/modularity
    get a larger plug-in bias). Each metric gets its own child generator spawned from ``rng``, so selecting a
    subset with ``metrics`` does not change the others' numbers.

    Args:
        representation_fn: observations (n, ...) -> codes (n, D).
        data: :class:`GroundTruthData`.
        rng: Generator / seed.
        num_train, num_test: shared train/test sample sizes of the array metrics.
        batch_size, num_eval, num_variance_estimate: BetaVAE / FactorVAE settings.
        beta_vae_num_train, factor_vae_num_train: training points of those two (default ``num_train``).
        num_bins, prune_threshold, continuous_factors, gbt_params: see the individual metrics.
        metrics: subset of :data:`ALL_METRICS` (default all).
        chunk_size: observations per representation_fn call.

    Returns:
        Flat dict of floats: beta_vae, beta_vae_train, factor_vae, factor_vae_train, factor_vae_num_active_dims,
        mig, dci_disentanglement, dci_completeness, dci_informativeness (test accuracy),
        dci_informativeness_train, sap, modularity, explicitness (test AUC), explicitness_train --
        restricted to the selected metrics.
    """
    chosen = tuple(ALL_METRICS if metrics is None else metrics)
    unknown = [m for m in chosen if m not in ALL_METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {list(ALL_METRICS)}")
    num_train = _count("num_train", num_train, 2)
    num_test = _count("num_test", num_test, 1)
    rng = _rng(rng)
    seeds = np.random.SeedSequence(int(rng.integers(0, 2**63 - 1))).spawn(len(ALL_METRICS) + 1)
    child = {name: np.random.default_rng(s) for name, s in zip(ALL_METRICS + ("_sample",), seeds)}
    out: dict[str, float] = {}
    array_metrics = {"mig", "dci", "sap", "modularity", "explicitness"}
    if array_metrics & set(chosen):
        g = child["_sample"]
        z, y = sample_codes(representation_fn, data, num_train, g, chunk_size=chunk_size)
        zt, yt = sample_codes(representation_fn, data, num_test, g, chunk_size=chunk_size)
    if "beta_vae" in chosen:
        r = beta_vae_score(
            representation_fn,
            data,
            child["beta_vae"],
            batch_size=batch_size,
            num_train=num_train if beta_vae_num_train is None else beta_vae_num_train,
            num_eval=num_eval,
            chunk_size=chunk_size,
        )
        out["beta_vae"], out["beta_vae_train"] = r["eval_accuracy"], r["train_accuracy"]
    if "factor_vae" in chosen:
        r = factor_vae_score(
            representation_fn,
            data,
            child["factor_vae"],
            batch_size=batch_size,
            num_train=num_train if factor_vae_num_train is None else factor_vae_num_train,
            num_eval=num_eval,
            num_variance_estimate=num_variance_estimate,
            prune_threshold=prune_threshold,
            chunk_size=chunk_size,
        )
        out["factor_vae"], out["factor_vae_train"] = r["eval_accuracy"], r["train_accuracy"]
        out["factor_vae_num_active_dims"] = r["num_active_dims"]
    if "mig" in chosen:
        out["mig"] = mig(z, y, num_bins=num_bins)
    if "dci" in chosen:
        r = dci(z, y, zt, yt, child["dci"], gbt_params=gbt_params)
        out["dci_disentanglement"], out["dci_completeness"] = r["disentanglement"], r["completeness"]
        out["dci_informativeness"] = r["informativeness_test"]
        out["dci_informativeness_train"] = r["informativeness_train"]
    if "sap" in chosen:
        out["sap"] = sap(z, y, zt, yt, child["sap"], continuous_factors=continuous_factors)
    if "modularity" in chosen:
        out["modularity"] = modularity(z, y, num_bins=num_bins)
    if "explicitness" in chosen:
        r = explicitness(z, y, zt, yt, child["explicitness"])
        out["explicitness"], out["explicitness_train"] = r["test"], r["train"]
    return out
