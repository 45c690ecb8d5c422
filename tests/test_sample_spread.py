"""benchmarks/sample_spread.py: 0 for identical images, the known value for known ones, and end to end
on a tiny run."""

import json

import pytest
import torch
from helpers import load_script, train_tiny_run


@pytest.fixture(scope="module")
def ss():
    return load_script("sample_spread")


def test_spread_is_nil_for_copies_and_exact_for_two_images(ss):
    assert ss.spread(torch.rand(1, 3, 4, 4).repeat(8, 1, 1, 1)) == 0
    two = torch.stack([torch.zeros(1, 2, 2), torch.ones(1, 2, 2)])  # each pixel: 0 and 1, std sqrt(1/2)
    assert ss.spread(two) == pytest.approx(2 ** -0.5)


def test_end_to_end_on_a_tiny_run(ss, tmp_path, monkeypatch):
    train_tiny_run(tmp_path)
    monkeypatch.chdir(tmp_path)  # the run's config names its data folder relative to here
    assert ss.main(["run", "--n", "16", "--out", "s.json"]) == 0
    row = json.loads((tmp_path / "s.json").read_text())["runs"][0]
    assert row["step"] == 2 and row["n"] == 16 and row["output"] == "sigmoid"
    assert 0 < row["samples"] <= 0.5 and 0 < row["real"] <= 0.5  # a std of values in [0, 1]
    with pytest.raises(SystemExit):
        ss.main(["run", "--n", "1"])
