import numpy as np
import pytest

from infogan.metrics import ari, cluster_accuracy, cluster_mapping, nmi, purity


def test_relabelled_perfect_clustering_scores_one():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 5000)
    perm = rng.permutation(10)
    pred = perm[labels]
    assert cluster_accuracy(pred, labels) == 1.0
    assert nmi(pred, labels) == pytest.approx(1.0)
    assert ari(pred, labels) == pytest.approx(1.0)
    assert purity(pred, labels) == 1.0
    assert cluster_mapping(pred, labels) == {int(perm[i]): i for i in range(10)}


def test_random_clustering_is_near_chance():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, 10000)
    pred = rng.integers(0, 10, 10000)
    assert 0.09 < cluster_accuracy(pred, labels) < 0.13
    assert nmi(pred, labels) < 0.01
    assert abs(ari(pred, labels)) < 0.01


def test_known_partial_answer():
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    pred = np.array([5, 5, 7, 7, 7, 7, 9, 9, 9, 9])  # one 0 sent to the 1-cluster
    assert cluster_accuracy(pred, labels) == pytest.approx(0.9)
    assert purity(pred, labels) == pytest.approx(0.9)


def test_nmi_and_ari_known_answers():
    # nmi and ari are scikit-learn's; before they replaced the package's own formulas they were checked to
    # agree with them to 1e-15 on 2000 random labelings. These answers are worked out by hand.
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    pred = np.array([5, 5, 7, 7, 7, 7, 9, 9, 9, 9])
    # contingency rows (5, 7, 9): [2 0 0], [1 3 0], [0 0 4]. ARI: sum C(n_ij, 2) = 10, rows 13, columns 12,
    # C(10, 2) = 45: (10 - 13*12/45) / ((13 + 12)/2 - 13*12/45) = 196/271.
    assert ari(pred, labels) == pytest.approx(196 / 271)
    mi = 0.2 * np.log(0.2 / (0.2 * 0.3)) + 0.1 * np.log(0.1 / (0.4 * 0.3)) + 0.3 * np.log(0.3 / (0.4 * 0.3))
    mi += 0.4 * np.log(0.4 / (0.4 * 0.4))
    h_pred = -(0.2 * np.log(0.2) + 2 * 0.4 * np.log(0.4))
    h_labels = -(2 * 0.3 * np.log(0.3) + 0.4 * np.log(0.4))
    assert nmi(pred, labels) == pytest.approx(mi / ((h_pred + h_labels) / 2))
    # symmetric in its arguments; a constant labeling against itself is a perfect match
    assert nmi(labels, pred) == pytest.approx(nmi(pred, labels)) and ari(labels, pred) == pytest.approx(196 / 271)
    assert nmi(np.zeros(5), np.ones(5)) == 1.0 and ari(np.zeros(5), np.ones(5)) == 1.0
    assert isinstance(nmi(pred, labels), float) and isinstance(ari(pred, labels), float)


def test_merged_classes_cost_accuracy():
    labels = np.repeat(np.arange(10), 100)
    pred = labels.copy()
    pred[pred == 9] = 4  # 4 and 9 merged, as InfoGAN often does
    assert cluster_accuracy(pred, labels) == pytest.approx(0.9)


def test_length_mismatch_raises():
    for fn in (cluster_accuracy, nmi, ari, purity):
        with pytest.raises(ValueError, match="differ in length"):
            fn(np.zeros(3), np.zeros(4))


def test_confusion_table_shows_merges_splits_and_the_matching():
    import numpy as np
    import pytest

    from infogan.metrics.clustering import confusion_table

    labels = np.array([0, 0, 1, 1, 2, 2, 2, 2])
    # category 3 holds labels 0 and 1 (a merge), label 2 is split over categories 0 and 1,
    # category 2 is empty
    pred = np.array([3, 3, 3, 3, 0, 0, 1, 1])
    t = confusion_table(pred, labels, k=4)
    assert t["labels"] == [0, 1, 2]
    assert t["counts"] == [[0, 0, 2], [0, 0, 2], [0, 0, 0], [2, 2, 0]]
    assert sum(map(sum, t["counts"])) == len(labels)
    assert t["match"][3] in (0, 1) and t["match"][0:2].count(2) == 1 and t["match"].count(None) == 1
    # a relabelled perfect clustering: the matching undoes the relabelling
    perm = np.array([2, 0, 1])
    t = confusion_table(perm[labels], labels, k=3)
    assert t["match"] == [1, 2, 0] and sum(t["counts"][i][t["labels"].index(t["match"][i])] for i in range(3)) == 8
    with pytest.raises(ValueError, match="0..2"):
        confusion_table(np.array([0, 3]), np.array([0, 1]), k=3)
