"""Known-answer tests for infogan.metrics.disentanglement on a tiny synthetic factor grid.

The "images" are one-hot encodings of the factor classes of a full (3, 4, 5) grid; the representations decode
them back (identity), mix two factors by a 45 degree rotation (entangled), ignore them (constant / random), or
permute the code dimensions. Sample counts are far below disentanglement_lib's defaults to keep every test fast;
the thresholds leave room for that noise.
"""

from functools import cache

import numpy as np
import pytest

from infogan.metrics import (
    FactorGridData,
    beta_vae_score,
    compute_all,
    dci,
    dci_from_importance,
    discrete_entropy,
    discrete_mutual_info,
    explicitness,
    factor_vae_score,
    histogram_discretize,
    mig,
    modularity,
    sample_codes,
    sap,
)

SIZES = (3, 4, 5)
F = len(SIZES)
CHANCE = 1 / F  # chance level of the BetaVAE / FactorVAE classifiers (uniformly chosen fixed factor)
N_TRAIN, N_TEST = 600, 300
QUICK_GBT = {"n_estimators": 20}  # DCI with fewer trees than sklearn's 100, for speed
QUICK_SAMPLING = {"batch_size": 16, "num_train": 150, "num_eval": 150}


def make_grid():
    classes = np.stack(np.meshgrid(*[np.arange(s) for s in SIZES], indexing="ij"), -1).reshape(-1, F)
    onehot = np.concatenate([np.eye(s)[classes[:, j]] for j, s in enumerate(SIZES)], axis=1)
    return onehot, classes


def decode(images):
    """One-hot "images" -> factor classes as floats, (n, F)."""
    out, start = [], 0
    for s in SIZES:
        out.append(images[:, start : start + s].argmax(axis=1))
        start += s
    return np.stack(out, 1).astype(np.float64)


def standardised(images):
    sizes = np.asarray(SIZES)
    return (decode(images) - (sizes - 1) / 2) / np.sqrt((sizes**2 - 1) / 12)


C45 = np.cos(np.pi / 4)
ROT = np.array([[C45, -C45, 0.0], [C45, C45, 0.0], [0.0, 0.0, 1.0]])  # mixes factors 0 and 1
PERM = np.array([2, 0, 1])


def identity_rep(x):
    return decode(x)


def rotated_rep(x):
    return standardised(x) @ ROT.T


def permuted_rep(x):  # the rotated code with its dimensions permuted: non-trivial scores to compare
    return rotated_rep(x)[:, PERM]


def constant_rep(x):
    return np.zeros((len(x), F))


def make_random_rep(seed=123):
    g = np.random.default_rng(seed)
    return lambda x: g.normal(size=(len(x), F))


@pytest.fixture(scope="module")
def data():
    images, classes = make_grid()
    return FactorGridData(images, classes, SIZES)


def array_scores(rep, data, seed=0):
    z, y = sample_codes(rep, data, N_TRAIN, seed)
    zt, yt = sample_codes(rep, data, N_TEST, seed + 1)
    d = dci(z, y, zt, yt, rng=0, gbt_params=QUICK_GBT)
    return {
        "mig": mig(z, y),
        "dci_d": d["disentanglement"],
        "dci_c": d["completeness"],
        "dci_i": d["informativeness_test"],
        "sap": sap(z, y, zt, yt, rng=0),
        "modularity": modularity(z, y),
        "explicitness": explicitness(z, y, zt, yt, rng=0)["test"],
    }


def sampling_scores(rep, data, seed=0):
    return {
        "beta_vae": beta_vae_score(rep, data, seed, **QUICK_SAMPLING)["eval_accuracy"],
        "factor_vae": factor_vae_score(rep, data, seed, num_variance_estimate=300, **QUICK_SAMPLING)["eval_accuracy"],
    }


REPS = {
    "identity": (identity_rep, identity_rep),
    "rotated": (rotated_rep, rotated_rep),
    "permuted": (permuted_rep, None),  # sampling metrics: see test_permutation_invariance_of_sampling_metrics
    "constant": (constant_rep, constant_rep),
    "random": (make_random_rep(1), make_random_rep(2)),
}


@cache
def scores_of(name):
    """Every score of one representation, computed on first use and cached for the whole test run."""
    images, classes = make_grid()
    data = FactorGridData(images, classes, SIZES)
    array_rep, sampling_rep = REPS[name]
    out = array_scores(array_rep, data)
    if sampling_rep is not None:
        out.update(sampling_scores(sampling_rep, data))
    return out


class _Scores:
    def __getitem__(self, name):
        return scores_of(name)


@pytest.fixture(scope="module")
def scores():
    return _Scores()


# ---------------------------------------------------------------------------------------------------------------
# known answers on representations
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "metric", ["mig", "dci_d", "dci_c", "dci_i", "modularity", "explicitness", "beta_vae", "factor_vae"]
)
def test_identity_code_scores_near_one(scores, metric):
    assert scores["identity"][metric] >= 0.9


def test_identity_sap_is_clearly_high(scores):
    # SAP's maximum is below 1 for discrete factors: a one-feature LinearSVC(C=0.01) cannot isolate the middle
    # classes of a factor with K >= 3 ordered classes, and the strong regularisation weighs more at small N.
    # Here (N=1000, K=3,4,5) the identity code gets ~0.5; a factor-independent code gets ~0.
    assert scores["identity"]["sap"] >= 0.35
    assert scores["identity"]["sap"] >= 5 * max(scores["random"]["sap"], 0.02)


@pytest.mark.parametrize("metric", ["mig", "dci_d", "dci_c", "sap", "modularity", "factor_vae"])
def test_constant_code_scores_zero(scores, metric):
    # FactorVAE: every dimension is pruned (std < 0.05), so the score is 0 by definition.
    assert scores["constant"][metric] == pytest.approx(0.0, abs=1e-6)


def test_constant_code_classifiers_at_chance(scores):
    s = scores["constant"]
    assert s["explicitness"] == pytest.approx(0.5)  # ROC-AUC of a constant prediction
    assert abs(s["beta_vae"] - CHANCE) <= 0.15  # majority class of the fixed-factor label
    # DCI informativeness: accuracy of predicting the majority class; chance = mean_j 1/K_j for uniform factors
    assert abs(s["dci_i"] - np.mean(1 / np.asarray(SIZES))) <= 0.1


@pytest.mark.parametrize("metric", ["mig", "dci_d", "dci_c", "sap"])
def test_random_code_scores_near_zero(scores, metric):
    assert scores["random"][metric] <= 0.1


def test_random_code_classifiers_at_chance(scores):
    s = scores["random"]
    assert abs(s["explicitness"] - 0.5) <= 0.1  # ROC-AUC chance level 0.5
    assert abs(s["beta_vae"] - CHANCE) <= 0.15  # chance 1/F
    assert abs(s["factor_vae"] - CHANCE) <= 0.15  # chance ~1/F
    assert abs(s["dci_i"] - np.mean(1 / np.asarray(SIZES))) <= 0.1


def test_random_code_modularity_is_not_zero_but_below_identity(scores):
    # Known property of modularity (documented in docs/metrics.md): the plug-in MI of an independent code is
    # small but unequal across factors (bias ~ number of classes), so it lands mid-range rather than at 0.
    assert 0.2 <= scores["random"]["modularity"] <= 0.85 < scores["identity"]["modularity"]


@pytest.mark.parametrize("metric", ["mig", "dci_d", "sap", "modularity", "factor_vae"])
def test_rotated_code_scores_clearly_lower(scores, metric):
    assert scores["rotated"][metric] <= scores["identity"][metric] - 0.1


def test_rotated_code_stays_informative(scores):
    # rotation loses no information: only the disentanglement-type scores should drop
    assert scores["rotated"]["dci_i"] >= 0.9
    assert scores["rotated"]["explicitness"] >= 0.9


@pytest.mark.parametrize("metric", ["mig", "dci_d", "dci_c", "dci_i", "sap", "modularity", "explicitness"])
def test_permuting_code_dimensions_changes_nothing(scores, metric):
    # the gradient-boosted trees break ties between equally good splits by feature order: DCI moves by ~1e-5
    tol = 1e-3 if metric.startswith("dci") else 1e-9
    assert scores["permuted"][metric] == pytest.approx(scores["rotated"][metric], abs=tol)


def test_permutation_invariance_of_sampling_metrics(data):
    # same seed -> same sampled factors; the scores depend on the code dimensions only through their set
    fast = {"batch_size": 8, "num_train": 60, "num_eval": 60}
    for fn, kw in [(beta_vae_score, {}), (factor_vae_score, {"num_variance_estimate": 100})]:
        a = fn(rotated_rep, data, 7, **fast, **kw)
        b = fn(lambda x: rotated_rep(x)[:, PERM], data, 7, **fast, **kw)
        assert a["eval_accuracy"] == pytest.approx(b["eval_accuracy"], abs=1e-9), fn.__name__


# ---------------------------------------------------------------------------------------------------------------
# small hand-checked pieces
# ---------------------------------------------------------------------------------------------------------------


def test_dci_from_importance_known_matrices():
    assert dci_from_importance(np.eye(3)) == pytest.approx({"disentanglement": 1.0, "completeness": 1.0})
    assert dci_from_importance(np.ones((3, 3))) == pytest.approx({"disentanglement": 0.0, "completeness": 0.0})
    assert dci_from_importance(np.zeros((2, 2))) == pytest.approx({"disentanglement": 0.0, "completeness": 0.0})
    # one code dimension explains both factors: completeness 1 (each factor lives in one dim), disentanglement 0
    r = np.array([[1.0, 1.0], [0.0, 0.0]])
    assert dci_from_importance(r) == pytest.approx({"disentanglement": 0.0, "completeness": 1.0}, abs=1e-6)


def test_mutual_info_and_entropy_in_nats():
    y = np.repeat(np.arange(4), 25)[:, None]  # uniform over 4 classes
    assert discrete_entropy(y) == pytest.approx([np.log(4)])
    z = np.c_[y[:, 0], y[:, 0] % 2, np.zeros(100, int)]
    # scikit-learn's mutual_info_score (checked to match the package's former formula to 1e-15 before it
    # replaced it): a copy carries H = log 4, its parity log 2, a constant nothing.
    assert discrete_mutual_info(z, y)[:, 0] == pytest.approx([np.log(4), np.log(2), 0.0])
    assert discrete_mutual_info(z, y).shape == (3, 1) and discrete_entropy(y).shape == (1,)


def test_histogram_discretize_uses_equal_width_bins():
    z = np.c_[np.linspace(0, 1, 100), np.full(100, 3.0)]
    d = histogram_discretize(z, num_bins=20)
    assert d[:, 0].min() == 1 and d[:, 0].max() == 20 and np.all(np.bincount(d[:, 0])[1:] == 5)
    assert np.unique(d[:, 1]).size == 1


def test_mig_known_answer():
    # dim 0 copies factor 0 (MI = H); dim 1 copies its parity (MI = log 2): MIG_0 = (log4 - log2)/log4 = 0.5;
    # factor 1 is a copy in dim 1 of an independent binary factor: MIG_1 = 1. Mean 0.75.
    g = np.random.default_rng(0)
    f0 = np.repeat(np.arange(4), 50)
    f1 = g.permutation(np.tile([0, 1], 100))
    y = np.c_[f0, f1]
    z = np.c_[f0, f0 % 2 + 2 * f1].astype(float)
    mi = discrete_mutual_info(histogram_discretize(z), y)
    h = discrete_entropy(y)
    expected = np.mean([(mi[0, 0] - mi[1, 0]) / h[0], (mi[1, 1] - mi[0, 1]) / h[1]])
    assert mig(z, y) == pytest.approx(expected)
    assert mi[0, 0] == pytest.approx(np.log(4)) and mi[1, 1] == pytest.approx(np.log(2))


def test_sap_continuous_factors_identity_is_one():
    g = np.random.default_rng(0)
    y = g.integers(0, 5, size=(300, 2))
    assert sap(y.astype(float), y, y.astype(float), y, continuous_factors=True) == pytest.approx(1.0, abs=0.05)


def test_dci_with_default_trees_on_tiny_sample():
    g = np.random.default_rng(0)
    y = g.integers(0, 3, size=(150, 2))
    z = y + 0.05 * g.normal(size=y.shape)
    r = dci(z, y, z, y, rng=0)
    assert r["disentanglement"] >= 0.9 and r["completeness"] >= 0.9 and r["informativeness_test"] == 1.0


def test_factor_vae_prunes_collapsed_dimension(data):
    def rep(x):  # identity plus a dimension with std 0.01 < 0.05 that varies the most with every fixed factor
        z = decode(x)
        return np.c_[z, 0.01 * np.random.default_rng(len(x)).normal(size=len(x))]

    r = factor_vae_score(rep, data, 0, batch_size=16, num_train=60, num_eval=60, num_variance_estimate=200)
    assert r["num_active_dims"] == 3 and r["eval_accuracy"] == 1.0
    r0 = factor_vae_score(
        rep, data, 0, batch_size=16, num_train=60, num_eval=60, num_variance_estimate=200, prune_threshold=0.0
    )
    assert r0["num_active_dims"] == 4


# ---------------------------------------------------------------------------------------------------------------
# ground-truth data
# ---------------------------------------------------------------------------------------------------------------


def test_factor_grid_full_lookup_with_shuffled_rows():
    images, classes = make_grid()
    perm = np.random.default_rng(0).permutation(len(classes))
    d = FactorGridData(images[perm], classes[perm], SIZES)
    assert d.full_grid and d.num_factors == 3
    f = d.sample_factors(50, 0)
    assert f.shape == (50, 3) and (f < np.asarray(SIZES)).all()
    assert np.array_equal(decode(d.sample_observations_from_factors(f, 0)), f)
    g = d.sample_factors_given(np.array([0, 1, 2, 2]), np.array([2, 3, 4, 0]), 0)
    assert g[0, 0] == 2 and g[1, 1] == 3 and g[2, 2] == 4 and g[3, 2] == 0


def test_factor_grid_non_full_grid_samples_existing_combinations():
    images, classes = make_grid()
    keep = classes[:, 0] + classes[:, 1] <= 3  # drop a corner of the grid
    d = FactorGridData(images[keep], classes[keep], SIZES)
    assert not d.full_grid
    existing = {tuple(r) for r in classes[keep]}
    f = d.sample_factors(200, 0)
    assert {tuple(r) for r in f} <= existing
    fixed = np.tile(np.arange(3), 30)
    values = np.zeros(90, dtype=int) + 2
    g = d.sample_factors_given(fixed, values, 0)
    assert (g[np.arange(90), fixed] == 2).all() and {tuple(r) for r in g} <= existing
    with pytest.raises(ValueError, match=r"no image for factor combination \[2, 3, 0\]"):
        d.sample_observations_from_factors(np.array([[2, 3, 0]]), 0)
    # the sampling metrics run on it
    assert beta_vae_score(identity_rep, d, 0, batch_size=8, num_train=40, num_eval=40)["eval_accuracy"] >= 0.8


def test_factor_grid_duplicates_pick_each_copy():
    images, classes = make_grid()
    d = FactorGridData(np.r_[images, images * 2], np.r_[classes, classes], SIZES)
    obs = d.sample_observations_from_factors(np.zeros((200, 3), dtype=int), 0)
    assert set(obs.max(axis=1).tolist()) == {1.0, 2.0}


# ---------------------------------------------------------------------------------------------------------------
# compute_all
# ---------------------------------------------------------------------------------------------------------------


def test_compute_all_keys_and_subset_independence(data):
    kw = {
        "num_train": 300,
        "num_test": 150,
        "batch_size": 8,
        "num_eval": 40,
        "num_variance_estimate": 100,
        "beta_vae_num_train": 40,
        "factor_vae_num_train": 40,
        "gbt_params": {"n_estimators": 5},
    }
    full = compute_all(identity_rep, data, 0, **kw)
    assert set(full) == {
        "beta_vae",
        "beta_vae_train",
        "factor_vae",
        "factor_vae_train",
        "factor_vae_num_active_dims",
        "mig",
        "dci_disentanglement",
        "dci_completeness",
        "dci_informativeness",
        "dci_informativeness_train",
        "sap",
        "modularity",
        "explicitness",
        "explicitness_train",
    }
    assert all(isinstance(v, float) for v in full.values())
    assert full["mig"] >= 0.9 and full["factor_vae"] >= 0.9
    part = compute_all(identity_rep, data, 0, metrics=["mig", "factor_vae"], **kw)
    assert part == {k: full[k] for k in part} and set(part) == {
        "mig",
        "factor_vae",
        "factor_vae_train",
        "factor_vae_num_active_dims",
    }


# ---------------------------------------------------------------------------------------------------------------
# user mistakes
# ---------------------------------------------------------------------------------------------------------------


def _zy(n=20, d=3):
    g = np.random.default_rng(0)
    y = np.c_[np.arange(n) % 3, np.arange(n) % 2]
    return g.normal(size=(n, d)), y


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda z, y: mig(z[:, 0], y), r"codes must have shape \(N, D\)"),
        (lambda z, y: mig(z[:, :1], y), "at least 2 dimensions"),
        (lambda z, y: mig(z[:-1], y), "differ in number of samples: 19 vs 20"),
        (lambda z, y: mig(z, y + 0.5), "integer factor classes"),
        (lambda z, y: mig(z[:1], y[:1]), "at least 2 samples"),
        (lambda z, y: mig(z, np.c_[y, np.zeros(20, int)]), "factor 2 is constant"),
        (lambda z, y: mig(np.where(z > 1, np.nan, z), y), "NaN"),
        (lambda z, y: modularity(z, y[:, :1]), "at least 2 factors"),
        (lambda z, y: dci(z, y, z[:, :2], y), "codes_test has 2 dimensions but codes has 3"),
        (lambda z, y: dci(z, y, z, y[:, :1]), "factors_test has 1 factors but factors has 2"),
        (lambda z, y: sap(z, np.c_[y[:, 0], np.zeros(20, int)], z, y), "factor 1 takes a single value"),
        (lambda z, y: explicitness(z, y, z, y[:5]), "differ in number of samples: 20 vs 5"),
        (lambda z, y: dci_from_importance(np.ones(3)), r"shape \(D, F\)"),
        (lambda z, y: histogram_discretize(z, num_bins=0), "num_bins must be >= 1, got 0"),
    ],
)
def test_array_metric_errors(call, match):
    z, y = _zy()
    with pytest.raises(ValueError, match=match):
        call(z, y)


def test_sampling_errors(data):
    with pytest.raises(ValueError, match=r"representation_fn must return shape \(\d+, D\)"):
        beta_vae_score(lambda x: np.zeros(len(x)), data, 0, batch_size=4, num_train=4, num_eval=2)
    with pytest.raises(ValueError, match="num_train must be >= 2, got 1"):
        beta_vae_score(identity_rep, data, 0, num_train=1)
    with pytest.raises(ValueError, match="batch_size must be >= 2, got 1"):
        factor_vae_score(identity_rep, data, 0, batch_size=1)
    with pytest.raises(ValueError, match="num_points must be >= 1, got 0"):
        sample_codes(identity_rep, data, 0)
    with pytest.raises(ValueError, match="unknown metric"):
        compute_all(identity_rep, data, 0, metrics=["mig", "irs"])


def test_factor_grid_errors():
    images, classes = make_grid()
    with pytest.raises(ValueError, match="images has 59 rows but factor_classes has 60"):
        FactorGridData(images[:-1], classes, SIZES)
    with pytest.raises(ValueError, match=r"factor_classes\[:, 2\] has class 4 >= factor_sizes\[2\] = 4"):
        FactorGridData(images, classes, (3, 4, 4))
    with pytest.raises(ValueError, match=r"factor_sizes\[1\] = 1"):
        FactorGridData(images, np.c_[classes[:, :1], np.zeros(60, int)], (3, 1))
    with pytest.raises(ValueError, match="factor_sizes has 2 entries"):
        FactorGridData(images, classes, (3, 4))
    d = FactorGridData(images, classes, SIZES)
    with pytest.raises(ValueError, match=r"factors\[0, 1\] = 4 is outside 0..3"):
        d.sample_observations_from_factors(np.array([[0, 4, 0]]), 0)
    with pytest.raises(ValueError, match=r"factors must have 3 columns"):
        d.sample_observations_from_factors(np.array([[0, 1]]), 0)


def test_explicitness_standardises_codes():
    # codes are standardised with the training statistics, so a per-dimension affine rescaling changes nothing
    g = np.random.default_rng(0)
    y = g.integers(0, 3, size=(200, 2))
    z = y + 0.8 * g.normal(size=y.shape)
    a = explicitness(z, y, z, y, rng=0)
    b = explicitness(z * [1000.0, 0.001] + 5.0, y, z * [1000.0, 0.001] + 5.0, y, rng=0)
    assert 0.6 < a["test"] < 0.95 and b["test"] == pytest.approx(a["test"], abs=1e-4)
