"""benchmarks/d_overfit.py: D's verdicts on training vs held-out real images, end to end on a tiny run;
the same images on both sides give gaps of exactly 0."""

import json

import pytest
from helpers import load_script, train_tiny_run


@pytest.fixture(scope="module")
def do():
    return load_script("d_overfit")


def test_train_and_held_out_verdicts(do, tmp_path, monkeypatch):
    train_tiny_run(tmp_path)
    monkeypatch.chdir(tmp_path)  # the run's config names its data folder relative to here
    assert do.main(["run", "--n", "40", "--out", "d.json"]) == 0
    d = json.loads((tmp_path / "d.json").read_text())["runs"][0]
    assert d["step"] == 2 and d["train"]["n"] == 40 and d["held_out"]["n"] == 32
    assert -1 <= d["train"]["r"] <= 1 and -1 <= d["held_out"]["r"] <= 1
    assert d["gap_r"] == pytest.approx(d["train"]["r"] - d["held_out"]["r"])

    from infogan import api

    real = api.load_data

    def same_images(cfg, log=print):  # the held-out split replaced by the training images
        train, _ = real(cfg, log=log)
        return train, train

    monkeypatch.setattr(api, "load_data", same_images)
    row = do.measure("run", None, 10**6)
    assert row["gap_mean_logit"] == pytest.approx(0, abs=1e-6) and row["gap_r"] == 0
