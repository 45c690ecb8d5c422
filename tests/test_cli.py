import csv
import json
import subprocess
import sys

import pytest

from infogan.cli import main

FAST = ["--set", "train.batch_size=16", "--set", "train.eval_samples=200", "--set", "train.log_every=2",
        "--set", "train.ckpt_every=3", "--no-progress"]


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "infogan.cli", *map(str, args)], capture_output=True, text=True,
                          check=False)


@pytest.mark.slow
def test_train_eval_sample_traverse_encode_resume(tmp_path, mnist_dir, capsys):
    run = tmp_path / "run"
    assert main(["train", "--preset", "mnist", "--steps", "4", "--run-dir", str(run), *FAST]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--json", "--samples", "200"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["step"] == 4
    assert set(res["mi_lower_bound"]) == {"c1", "c2", "c3"} and set(res["entropy"]) == {"c1", "c2", "c3"}
    assert 0 <= res["cluster_accuracy"]["c1"] <= 1
    assert (run / "eval.json").is_file()
    conf = res["confusion"]["c1"]  # category × label counts over the 10k test images
    assert len(conf["counts"]) == 10 and conf["labels"] == list(range(10))
    assert sum(map(sum, conf["counts"])) == 10000
    assert "Which labels each category holds" in (run / "report.md").read_text()
    assert main(["sample", str(run), "--out", str(tmp_path / "s.png")]) == 0
    assert main(["traverse", str(run), "--code", "c2", "--range", "-1", "1", "--out", str(tmp_path / "t.png")]) == 0
    assert (tmp_path / "s.png").stat().st_size > 0 and (tmp_path / "t.png").stat().st_size > 0
    # encode: Q's posterior for image files
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    import shutil
    shutil.copy(tmp_path / "s.png", imgs / "a.png")
    shutil.copy(tmp_path / "t.png", imgs / "b.png")
    assert main(["encode", str(run), str(imgs), "--out", str(tmp_path / "codes.csv")]) == 0
    with open(tmp_path / "codes.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and {"file", "c1", "c1_prob", "c2_mean", "c2_std"} <= set(rows[0])
    assert 0 <= int(rows[0]["c1"]) < 10
    # resume to a new total, on another number of threads (a resource, not part of the run's maths)
    assert main(["train", "--resume", str(run), "--steps", "6", "--threads", "1", "--no-progress"]) == 0
    assert "threads = 1\n" in (run / "config.toml").read_text()
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    logs = [r["step"] for r in rows if "eval" not in r]
    evals = [r["step"] for r in rows if "eval" in r]
    assert logs == sorted(set(logs)) and logs[-1] == 6  # nothing logged twice across the resume
    assert evals == [4, 6]


@pytest.mark.parametrize("args,needle", [
    (["train", "--set", "latent=cat1,noise3"], "k >= 2"),
    (["train", "--set", "optim.lr_d=-1"], "optim.lr_d must be > 0"),
    (["train", "--set", "train.batch_size=0"], "train.batch_size"),
    (["train", "--preset", "nope"], "unknown preset 'nope'"),
    (["train", "--set", "train.bogus=1"], "unknown config key 'train.bogus'"),
    (["train", "--set", "train.steps=abc"], "must be an integer"),
    (["train", "--config", "/nonexistent.toml"], "does not exist"),
    (["eval", "/nonexistent-run"], "does not exist"),
])
def test_bad_input_one_line_exit_2(args, needle, tmp_path, isolated_cache):
    r = run_cli(*args, "--run-dir", str(tmp_path / "r")) if args[0] == "train" else run_cli(*args)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.stderr
    assert not (tmp_path / "r").exists()


def test_missing_data_says_where_it_looked(tmp_path, isolated_cache, monkeypatch):
    monkeypatch.setattr("infogan.data.idx.IdxSource.mirrors", (), raising=False)
    r = run_cli("train", "--run-dir", tmp_path / "r", "--set", "data.download=false")
    assert r.returncode == 2
    assert "not found (looked in" in r.stderr and "--data-dir" in r.stderr and "INFOGAN_DATA" in r.stderr


def test_existing_run_dir_is_not_overwritten(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "keep.txt").write_text("precious")
    r = run_cli("train", "--run-dir", run)
    assert r.returncode == 2 and "already exists" in r.stderr
    assert (run / "keep.txt").read_text() == "precious"


def test_make_dsprites_refuses_to_overwrite(tmp_path):
    out = tmp_path / "d.npz"
    out.write_bytes(b"keep")
    r = run_cli("data", "make-dsprites", "--out", out)
    assert r.returncode == 2 and "already exists" in r.stderr
    assert out.read_bytes() == b"keep"


def test_config_flags_name_config_fields():
    from dataclasses import fields

    from infogan.cli import CONFIG_FLAGS
    from infogan.config import Config

    cfg = Config()
    for flag, key in CONFIG_FLAGS.items():
        sec, name = key.split(".")
        assert name in {f.name for f in fields(getattr(cfg, sec))}, f"{flag} -> {key}"


@pytest.mark.parametrize("argv,changed", [
    (["eval", "r"], {}),
    (["eval", "r", "--samples", "9", "--disent-samples", "0", "--device", "cpu"],
     {"eval_samples": 9, "disent_samples": 0}),  # eval's --device is where eval runs, not train.device
    (["study"], {}),
    (["study", "--steps", "7", "--disent-samples", "5"], {"steps": 7, "disent_samples": 5}),
    (["train", "--seed", "3", "--baseline", "--device", "cpu"], {"seed": 3, "baseline": True, "device": "cpu"}),
    (["train", "--threads", "2"], {"threads": 2}),
    (["bench", "--steps", "3", "--batch-size", "8"], {"batch_size": 8}),  # bench's --steps: timed steps
])
def test_flag_defaults_come_from_the_config(argv, changed):
    from dataclasses import replace

    from infogan.cli import _with_flags, build_parser
    from infogan.config import preset

    cfg = replace(preset("mnist"), train=replace(preset("mnist").train, eval_samples=123, disent_samples=45))
    got = _with_flags(cfg, build_parser().parse_args(argv))
    assert got.train == replace(cfg.train, **changed)


def test_resume_refuses_flags_that_would_change_the_run(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path), "--seed", "3"]) == 2
    err = capsys.readouterr().err
    assert "only --steps, --device, --threads, --data-dir may be given" in err and len(err.strip().splitlines()) == 1


def test_output_folders_above_a_run_dir_are_created(tmp_path):
    """--run-dir a/b/run on a fresh checkout (no runs/ yet) makes a/b; only inputs must already exist."""
    from infogan.cli import UserError, _make_parent

    _make_parent(tmp_path / "runs" / "study" / "seed0", "--run-dir")
    assert (tmp_path / "runs" / "study").is_dir() and not (tmp_path / "runs" / "study" / "seed0").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="cannot create its folder"):
        _make_parent(tmp_path / "file" / "run", "--run-dir")
