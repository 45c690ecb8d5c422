"""``--step``: every command that reads a run's model can use any kept checkpoint, not only the newest."""
import csv
import json
import os
import shutil

import pytest
from helpers import train_tiny_run
from PIL import Image

from infogan.checkpoint import CheckpointError
from infogan.cli import main
from infogan.explore import Explorer


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A 2-step run on tiny 8x8 data (checkpoints at steps 1 and 2), with a folder of its samples."""
    w = train_tiny_run(tmp_path_factory.mktemp("step"))
    imgs = w / "images" / "a"
    imgs.mkdir(parents=True)
    for i in range(3):
        Image.new("L", (8, 8), 40 * i).save(imgs / f"{i}.png")
    return w


@pytest.fixture
def w(world, tmp_path):
    dst = tmp_path / "w"
    shutil.copytree(world, dst, copy_function=os.link)  # new files only: links are safe
    cwd = os.getcwd()
    os.chdir(dst)  # the run's config names its data folder relative to here
    yield dst
    os.chdir(cwd)


def pixels(path):
    with Image.open(path) as im:
        return im.tobytes()


def test_sample_and_traverse_read_the_step_asked_for(w):
    for step, out in ((None, "new.png"), ("2", "two.png"), ("1", "one.png")):
        extra = ["--step", step] if step else []
        assert main(["sample", "run", "--out", out, *extra]) == 0
        assert main(["traverse", "run", "--code", "c1", "--out", f"t-{out}", *extra]) == 0
    assert pixels("new.png") == pixels("two.png") and pixels("t-new.png") == pixels("t-two.png")
    assert pixels("one.png") != pixels("two.png") and pixels("t-one.png") != pixels("t-two.png")


def test_encode_and_cluster_use_q_of_that_step(w, capsys):
    rows = {}
    for step in ("1", "2"):
        assert main(["encode", "run", "images", "--out", f"codes{step}.csv", "--step", step]) == 0
        with open(f"codes{step}.csv") as fh:
            rows[step] = list(csv.DictReader(fh))
        assert main(["cluster", "run", "images", "--out", f"clusters{step}", "--step", step]) == 0
        summary = json.loads((w / f"clusters{step}" / "summary.json").read_text())
        assert summary["step"] == int(step) and summary["checkpoint"] == f"step_00000000{step}.safetensors"
        assert summary["run"] == "run" and summary["n_images"] == 3
    assert [r["c1_prob"] for r in rows["1"]] != [r["c1_prob"] for r in rows["2"]]
    assert main(["cluster", "run", "images", "--out", "newest"]) == 0
    assert json.loads((w / "newest" / "summary.json").read_text())["step"] == 2


def test_eval_and_explorer_at_an_older_step(w, capsys):
    assert main(["eval", "run", "--json", "--samples", "100", "--no-quality", "--step", "1"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["step"] == 1 and res["checkpoint"] == "step_000000001.safetensors"
    assert json.loads((w / "run" / "eval.json").read_text())["step"] == 1
    assert Explorer.from_run("run", step=1).step == 1 and Explorer.from_run("run").step == 2
    with pytest.raises(CheckpointError, match=r"no checkpoint of step 7 \(steps kept: 1, 2\)"):
        Explorer.from_run("run", step=7)


@pytest.mark.parametrize("argv", [
    ["sample", "run", "--out", "x.png"],
    ["traverse", "run", "--code", "c1", "--out", "x.png"],
    ["encode", "run", "images", "--out", "x.csv"],
    ["cluster", "run", "images", "--out", "x"],
    ["eval", "run"],
])
@pytest.mark.parametrize("step,needle", [("7", "no checkpoint of step 7 (steps kept: 1, 2)"),
                                         ("-1", "--step must be in 0..")])
def test_a_step_not_kept_is_one_line_and_writes_nothing(w, argv, step, needle, capsys):
    before = sorted(str(p) for p in w.rglob("*"))
    capsys.readouterr()
    assert main([*argv, "--step", step]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"infogan {argv[0]}: error: ") and needle in err[0], err
    assert sorted(str(p) for p in w.rglob("*")) == before
