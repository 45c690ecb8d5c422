import json

import numpy as np
import pytest

from infogan.evaluate import real_data_mi
from infogan.latent import LatentSpec
from infogan.study import agreement, select, summarise


def test_real_data_mi_known_answers():
    k = 10
    onehot = np.eye(k)[np.arange(1000) % k]
    assert real_data_mi(onehot) == pytest.approx(np.log(k), abs=1e-6)  # confident and balanced
    assert real_data_mi(np.full((1000, k), 1 / k)) == pytest.approx(0.0, abs=1e-9)  # uninformative
    assert real_data_mi(np.eye(k)[np.zeros(1000, int)]) == pytest.approx(0.0, abs=1e-6)  # one category for all


def test_agreement_is_one_for_relabelled_runs_and_low_for_random():
    spec = LatentSpec.parse("cat5,unif2,noise3")
    rng = np.random.default_rng(0)
    lab = rng.integers(0, 5, 2000)
    m1, m2 = rng.normal(size=2000), rng.normal(size=2000)
    a = {"c1": np.eye(5)[lab], "c2": np.stack([m1, np.ones(2000)], 1), "c3": np.stack([m2, np.ones(2000)], 1)}
    perm = rng.permutation(5)
    # same clustering relabelled, continuous codes swapped and sign-flipped
    b = {"c1": np.eye(5)[perm[lab]], "c2": np.stack([-m2, np.ones(2000)], 1), "c3": np.stack([m1, np.ones(2000)], 1)}
    assert agreement(a, b, spec) == pytest.approx(1.0, abs=1e-6)
    r = {"c1": np.eye(5)[rng.integers(0, 5, 2000)], "c2": np.stack([rng.normal(size=2000), np.ones(2000)], 1),
         "c3": np.stack([rng.normal(size=2000), np.ones(2000)], 1)}
    assert agreement(a, r, spec) < 0.1


def test_selection_and_summary():
    spec = LatentSpec.parse("cat3,noise2")
    rng = np.random.default_rng(1)
    lab = rng.integers(0, 3, 600)
    good = {"c1": np.eye(3)[lab]}
    posts = {0: good, 1: {"c1": np.eye(3)[(lab + 1) % 3]}, 2: {"c1": np.eye(3)[rng.integers(0, 3, 600)]}}
    results = {
        0: {"real_mi": {"c1": 1.0}, "mi_gap": {"c1": 0.1}, "cluster_accuracy": {"c1": 0.9}, "mi_lower_bound": {"c1": 1.0}},
        1: {"real_mi": {"c1": 0.9}, "mi_gap": {"c1": 0.05}, "cluster_accuracy": {"c1": 0.8}, "mi_lower_bound": {"c1": 1.05}},
        2: {"real_mi": {"c1": 0.2}, "mi_gap": {"c1": 0.5}, "cluster_accuracy": {"c1": 0.3}, "mi_lower_bound": {"c1": 0.6}},
    }
    sel = select(results, posts, spec)
    assert sel["real_mi"]["selected"] == 0 and sel["mi_gap"]["selected"] == 1
    assert sel["centrality"]["selected"] in (0, 1)  # the two agreeing runs, never the random one
    summ = summarise(results, sel)
    acc = summ["table"]["cluster_accuracy/c1"]
    assert acc["max"] == 0.9 and acc["min"] == 0.3 and acc["mean"] == pytest.approx(2 / 3)
    assert summ["selected"]["real_mi"]["metrics"]["cluster_accuracy/c1"] == 0.9


@pytest.mark.slow
def test_study_trains_seeds_in_worker_processes_and_resumes(tmp_path, isolated_cache):
    from helpers import write_tiny_mnist

    from infogan.config import preset
    from infogan.run import Run
    from infogan.study import run_study

    write_tiny_mnist(tmp_path / "data")
    cfg = preset("mnist").override([f"data.data_dir={tmp_path / 'data'}", "data.download=false", "data.verify=false",
                                    "train.steps=2", "train.batch_size=16", "train.log_every=1", "train.ckpt_every=1",
                                    "train.eval_every=0", "train.eval_samples=32", "train.device=cpu",
                                    "latent=cat4,unif1,noise8"])
    root, lines = tmp_path / "study", []
    summary = run_study(cfg, [0, 1], root, parallel=2, log=lines.append)
    assert sorted(summary["wall_s"]) == [0, 1] and summary["preset"] == "mnist" and summary["seeds"] == [0, 1]
    assert (root / "study.md").read_text().startswith("# Study: mnist, seeds 0, 1")
    assert json.loads((root / "study.json").read_text())["seeds"] == [0, 1]
    for s in (0, 1):
        run = Run(root / f"seed{s}")
        assert run.step() == 2 and run.config.train.seed == s and run.config.train.threads >= 1
        assert run.read_eval()["step"] == 2
        assert "training " in (root / f"seed{s}.log").read_text()
    # a second study over the same root trains nothing; a longer one resumes each run with its config
    lines.clear()
    assert run_study(cfg, [0, 1], root, log=lines.append)["wall_s"] == {}
    assert lines[:2] == ["seed 0: already trained", "seed 1: already trained"]
    run_study(cfg, [1], root, steps=3, log=lines.append)
    assert Run(root / "seed1").step() == 3 and Run(root / "seed0").step() == 2
    assert "resuming " in (root / "seed1.log").read_text()
