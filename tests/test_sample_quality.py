import numpy as np
import pytest
import torch

from infogan.data.store import ImageStore
from infogan.domain import sample_quality, train_classifier
from infogan.metrics.fid import class_coverage, feature_fd, frechet_distance


def test_frechet_known_answers():
    rng = np.random.default_rng(0)
    mu, a = rng.normal(size=4), rng.normal(size=(4, 4))
    s = a @ a.T + np.eye(4)
    assert frechet_distance(mu, s, mu, s) == pytest.approx(0.0, abs=1e-6)
    # diagonal: ||dmu||² + Σ (σ1² + σ2² - 2 σ1 σ2)
    s1, s2 = np.diag([1.0, 4.0]), np.diag([9.0, 1.0])
    want = 2.0**2 + (1 + 9 - 2 * 3) + (4 + 1 - 2 * 2)
    assert frechet_distance(np.array([2.0, 0]), s1, np.zeros(2), s2) == pytest.approx(want)
    x = rng.normal(size=(4000, 3))
    assert feature_fd(x[:2000], x[2000:]) < 0.02
    assert feature_fd(x, x + 3) == pytest.approx(27, rel=0.02)


def test_class_coverage():
    assert class_coverage(np.arange(1000) % 10, 10)["covered"] == 10
    one = class_coverage(np.zeros(1000, int), 10)
    assert one["covered"] == 1 and one["histogram"][0] == 1.0
    assert class_coverage(np.r_[np.zeros(995, int), np.arange(5) + 1], 10)["covered"] == 1  # 0.1% is not covered


def test_domain_classifier_scores_real_vs_collapsed_samples(tmp_path, monkeypatch):
    monkeypatch.setenv("INFOGAN_CACHE", str(tmp_path))
    g = torch.Generator().manual_seed(0)
    # 4 synthetic "classes": a bright square in one quadrant, plus noise
    labels = torch.randint(0, 4, (800,), generator=g)
    imgs = torch.randint(0, 60, (800, 1, 16, 16), generator=g, dtype=torch.uint8)
    for q in range(4):
        r, c = divmod(q, 2)
        imgs[labels == q, :, 8 * r:8 * r + 8, 8 * c:8 * c + 8] += 180
    store = ImageStore(imgs, labels, name="quadrants")
    clf = train_classifier(store, epochs=3, log=lambda m: None)
    assert (tmp_path / "classifiers").is_dir()  # cached
    x = imgs.float() / 255
    good = sample_quality(clf, x[:400], x[400:], 4)
    collapsed = sample_quality(clf, x[:400], x[labels == 0][:200].repeat(2, 1, 1, 1), 4)
    assert good["classes_covered"] == 4 and collapsed["classes_covered"] == 1
    assert collapsed["fd"] > 5 * max(good["fd"], 1e-3)
