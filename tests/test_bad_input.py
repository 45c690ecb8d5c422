"""Bad input, table-driven: every mistake gives one line on stderr naming the value and what is
accepted, exit status 2, no traceback (unless ``--debug``), and changes nothing on disk.

Each case runs in a fresh copy of the ``tiny_world`` fixture (tiny IDX data, three tiny trained
runs, images, existing output files; hard links, so copying is cheap), with the copy as working
directory and cache dir. The whole world is snapshotted (path, size, mtime, inode) before and compared after,
once for the plain run and once with ``--debug``, where the error must be raised instead.
"""

import gzip
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import write_idx, write_tiny_mnist

from infogan import checkpoint as ckpt
from infogan.cli import _user_errors, main

TRAIN = ["train", "--config", "tiny.toml", "--run-dir", "new", "--no-progress"]


# ---- setups: each writes new files (unlink first: the world's files are hard links to the base) ----

def put(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    path.write_bytes(data)


def data_with(w, name, data: bytes, gz=False):
    """A copy of the good data set in d/ with one file replaced."""
    d = w / "d"
    shutil.copytree(w / "data", d)
    for p in d.iterdir():
        if p.name == name:
            p.unlink()
    put(d / (name + (".gz" if gz else "")), data)


def images_of(side, n=64):
    return np.random.default_rng(0).integers(0, 256, (n, side, side), dtype=np.uint8)


def idx_bytes(array, tmp: Path) -> bytes:
    return write_idx(tmp, array).read_bytes()


def good_images(w) -> bytes:
    return (w / "data" / "train-images-idx3-ubyte").read_bytes()


def data_side(w, side, folder="d"):
    write_tiny_mnist(w / folder, side=side)


def foreign_ckpt(w, src_run):
    """The newest checkpoint of another run (with its checksum) as run/'s newest."""
    src = ckpt.list_checkpoints(w / src_run / "checkpoints")[-1]
    dst = w / "run" / "checkpoints" / "step_000000009.safetensors"
    put(dst, src.read_bytes())
    put(dst.with_suffix(".sha256"), src.with_suffix(".sha256").read_bytes())


def crafted_ckpt(w, change):
    """run/'s newest state changed by ``change(state)``, saved as step 9 with a valid checksum."""
    _, state = ckpt.load_latest(w / "run" / "checkpoints", warn=lambda m: None)
    state["step"] = 9  # the step its file name says
    change(state)
    data = ckpt.to_bytes(state)
    dst = w / "run" / "checkpoints" / "step_000000009.safetensors"
    put(dst, data)
    put(dst.with_suffix(".sha256"), (hashlib.sha256(data).hexdigest() + "\n").encode())


def relatent(state):
    """The checkpoint's config says another latent spec; config.toml is made to agree; weights do not."""
    state["config"]["latent"] = {"noise": 8, "noise_prior": "uniform", "codes": [{"kind": "categorical", "k": 5}]}


def corrupt_all(w):
    for p in ckpt.list_checkpoints(w / "run" / "checkpoints"):
        data = bytearray(p.read_bytes())
        data[len(data) // 2] ^= 0xFF
        put(p, bytes(data))


def edit_config(w, old, new):
    p = w / "run" / "config.toml"
    text = p.read_text()
    assert old in text
    put(p, text.replace(old, new).encode())


def relatent_both(w):
    crafted_ckpt(w, relatent)
    from infogan.config import Config
    from infogan.run import run_config

    cfg = run_config(w / "run").to_dict()
    cfg["latent"] = {"noise": 8, "noise_prior": "uniform", "codes": [{"kind": "categorical", "k": 5}]}
    put(w / "run" / "config.toml", Config.from_dict(cfg).to_toml().encode())


def drop_key(state):
    del state["G"]


TOML_BAD = {
    "syntax": b"[train\nsteps = ",
    "type": b'[train]\nsteps = "ten"\n',
    "section": b"[trian]\nsteps = 1\n",
    "table": b"train = 5\n",
    "kind": b'[[latent.codes]]\nkind = "beta"\n',
    "binary": b"\xff\xfe\x00[train]",
    "name": b'[[latent.codes]]\nkind = "uniform"\nname = "../../escape"\n',
}

# (id, setup or None, argv, words the one error line must contain: the bad value, what is accepted)
CASES = [
    # latent specs
    ("latent-k1", None, [*TRAIN, "--set", "latent=cat1,noise3"], ["'cat1'", "k >= 2"]),
    ("latent-item", None, [*TRAIN, "--set", "latent=foo3,noise4"], ["'foo3'", "expected e.g. cat10"]),
    ("latent-range", None, [*TRAIN, "--set", "latent=unif1(1:-1),noise4"], ["unif1(1:-1)", "lo < hi"]),
    ("latent-noise-twice", None, [*TRAIN, "--set", "latent=cat10,noise5,noise6"], ["noise6", "noise given twice"]),
    ("latent-empty", None, [*TRAIN, "--set", "latent="], ["latent spec is empty", "example"]),
    ("latent-lambda", None, [*TRAIN, "--set", "latent=cat10@-1,noise4"], ["-1", "λ must be a finite number >= 0"]),
    ("latent-count", None, [*TRAIN, "--set", "latent=99999999xcat2"], ["99999999", "1..128"]),
    # presets and keys
    ("preset", None, ["train", "--preset", "nope", "--run-dir", "new"], ["'nope'", "available: mnist"]),
    ("key", None, [*TRAIN, "--set", "train.bogus=1"], ["train.bogus", "accepted: train.steps"]),
    ("section", None, [*TRAIN, "--set", "bogus.key=1"], ["'bogus'", "accepted: model"]),
    ("set-no-equals", None, [*TRAIN, "--set", "trainsteps"], ["'trainsteps'", "key=value"]),
    ("set-no-section", None, [*TRAIN, "--set", "steps=3"], ["'steps'", "section.key"]),
    # types and ranges
    ("lr-negative", None, [*TRAIN, "--set", "optim.lr_d=-1"], ["-1.0", "optim.lr_d must be > 0"]),
    ("lr-nan", None, [*TRAIN, "--set", "optim.lr_g=nan"], ["nan", "optim.lr_g must be > 0"]),
    ("lr-word", None, [*TRAIN, "--set", "optim.lr_g=fast"], ["'fast'", "must be a number"]),
    ("lr-huge-int", None, [*TRAIN, "--set", "optim.lr_g=" + "9" * 400], ["99999", "finite number"]),
    ("beta1", None, [*TRAIN, "--set", "optim.beta1=1.5"], ["1.5", "[0, 1)"]),
    ("batch-0", None, [*TRAIN, "--set", "train.batch_size=0"], ["got 0", "train.batch_size must be >= 2"]),
    ("batch-float", None, [*TRAIN, "--set", "train.batch_size=1.5"], ["1.5", "must be an integer"]),
    ("steps-negative", None, [*TRAIN, "--steps", "-5"], ["-5", "train.steps must be >= 0"]),
    ("steps-word", None, [*TRAIN, "--set", "train.steps=abc"], ["'abc'", "must be an integer"]),
    ("seed-negative", None, [*TRAIN, "--seed", "-1"], ["-1", "train.seed must be in [0"]),
    ("bool-word", None, [*TRAIN, "--set", "train.baseline=yes"], ["'yes'", "true or false"]),
    ("device", None, [*TRAIN, "--set", "train.device=tpu"], ["'tpu'", "auto, cpu, cuda"]),
    ("arch", None, [*TRAIN, "--set", "model.arch=resnet"], ["'resnet'", "available: chairs"]),
    ("keep-0", None, [*TRAIN, "--set", "train.keep_ckpts=0"], ["got 0", "train.keep_ckpts must be >= 1"]),
    ("batch-over-data", None, [*TRAIN, "--set", "train.batch_size=100"], ["batch_size=100", "at most 64"]),
    ("categories-over-images", None, [*TRAIN, "--set", "latent=cat100,noise8"], ["100 categories", "at most 64"]),
    ("data-name", None, [*TRAIN, "--set", "data.name=cifar"], ["'cifar'", "available: mnist"]),
    # data files
    ("data-missing", lambda w: (w / "d").mkdir(), [*TRAIN, "--data-dir", "d"], ["train-images-idx3-ubyte", "--data-dir"]),
    ("data-truncated", lambda w: data_with(w, "train-images-idx3-ubyte", good_images(w)[:-100]),
     [*TRAIN, "--data-dir", "d"], ["train-images-idx3-ubyte", "truncated"]),
    ("data-magic", lambda w: data_with(w, "train-images-idx3-ubyte", b"\x1f\x8b\x08\x03" + good_images(w)[4:]),
     [*TRAIN, "--data-dir", "d"], ["1f8b0803", "not an IDX file of unsigned bytes"]),
    ("data-empty", lambda w: data_with(w, "train-images-idx3-ubyte", b""),
     [*TRAIN, "--data-dir", "d"], ["empty", "not an IDX file"]),
    ("data-bad-gzip", lambda w: data_with(w, "train-images-idx3-ubyte", gzip.compress(good_images(w))[:200], gz=True),
     [*TRAIN, "--data-dir", "d"], ["train-images-idx3-ubyte.gz", "truncated or not gzip"]),
    ("data-2d", lambda w: data_with(w, "train-images-idx3-ubyte", idx_bytes(images_of(8)[:, 0], w / "x.idx")),
     [*TRAIN, "--data-dir", "d"], ["2 dimensions", "expected 1 (labels) or 3 (images)"]),
    ("data-labels-count", lambda w: data_with(w, "train-labels-idx1-ubyte", idx_bytes(np.zeros(10), w / "x.idx")),
     [*TRAIN, "--data-dir", "d"], ["(10,)", "do not match"]),
    ("data-md5", None, [*TRAIN, "--set", "data.verify=true"], ["does not match the official", "data.verify=false"]),
    ("data-image-side", lambda w: data_side(w, 10), [*TRAIN, "--data-dir", "d"], ["10x10", "divisible by 4"]),
    # TOML configs
    *[(f"toml-{k}", lambda w, v=v: put(w / "bad.toml", v), ["train", "--config", "bad.toml", "--run-dir", "new"], need)
      for k, v, need in [
          ("syntax", TOML_BAD["syntax"], ["bad.toml", "is not valid TOML"]),
          ("type", TOML_BAD["type"], ["'ten'", "train.steps must be an integer"]),
          ("section", TOML_BAD["section"], ["'trian'", "accepted: preset, latent"]),
          ("table", TOML_BAD["table"], ["got 5", "[train] must be a table"]),
          ("kind", TOML_BAD["kind"], ["'beta'", "accepted: categorical"]),
          ("binary", TOML_BAD["binary"], ["bad.toml", "not valid TOML"]),
          ("name", TOML_BAD["name"], ["'../../escape'", "letters, digits"]),
      ]],
    ("toml-missing", None, ["train", "--config", "nope.toml", "--run-dir", "new"], ["nope.toml", "does not exist"]),
    ("toml-folder", None, ["train", "--config", "data", "--run-dir", "new"], ["data", "cannot be read"]),
    ("preset-disagrees", None, [*TRAIN, "--preset", "fashion-mnist"], ["fashion-mnist", "disagrees"]),
    # run directories for train
    ("run-dir-not-empty", None, ["train", "--config", "tiny.toml", "--run-dir", "run"], ["run", "--resume"]),
    ("run-dir-is-file", None, ["train", "--config", "tiny.toml", "--run-dir", "tiny.toml"], ["tiny.toml", "is a file"]),
    # resume
    ("resume-with-set", None, ["train", "--resume", "run", "--set", "train.steps=5"], ["--resume", "only --steps"]),
    ("resume-not-a-run", None, ["train", "--resume", "data"], ["data", "not a run directory"]),
    ("resume-missing", None, ["train", "--resume", "nowhere"], ["nowhere", "does not exist"]),
    ("resume-other-latent", lambda w: foreign_ckpt(w, "other"), ["train", "--resume", "run"],
     ["latent=cat10,unif2,noise62", "latent=cat5,unif1,noise8"]),
    ("resume-other-preset", lambda w: foreign_ckpt(w, "fashion"), ["train", "--resume", "run"],
     ["preset='fashion-mnist'", "does not belong"]),
    ("resume-edited-config", lambda w: edit_config(w, "lr_g = 0.001", "lr_g = 0.002"), ["train", "--resume", "run"],
     ["optim.lr_g=0.002", "does not belong"]),
    ("resume-broken-config", lambda w: put(w / "run" / "config.toml", b"[train\n"), ["train", "--resume", "run"],
     ["config.toml", "not valid TOML"]),
    ("resume-image-shape", lambda w: data_side(w, 12), ["train", "--resume", "run", "--data-dir", "d"],
     ["(1, 12, 12)", "expects (1, 8, 8)"]),
    ("resume-steps-below", None, ["train", "--resume", "run", "--steps", "1"], ["--steps 1", "give a total >= 2"]),
    ("resume-all-corrupt", corrupt_all, ["train", "--resume", "run"], ["checksum mismatch", "no usable checkpoint"]),
    ("resume-weights-not-config", relatent_both, ["train", "--resume", "run"],
     ["step_000000009", "G.net.0.0.weight has shape (1024, 74) but its config builds (1024, 13)"]),
    # run directories for eval / sample / traverse / encode / report
    ("eval-not-a-run", None, ["eval", "data"], ["data", "not a run directory"]),
    ("eval-file", None, ["eval", "tiny.toml"], ["tiny.toml", "is a file"]),
    ("sample-missing", None, ["sample", "nowhere"], ["nowhere", "does not exist"]),
    ("traverse-not-a-run", None, ["traverse", "images", "--code", "c1"], ["images", "not a run directory"]),
    ("encode-not-a-run", None, ["encode", "data", "images", "--out", "new.csv"], ["data", "not a run directory"]),
    ("report-not-a-run", None, ["report", "data"], ["data", "not a run directory"]),
    ("eval-foreign", lambda w: foreign_ckpt(w, "other"), ["eval", "run"], ["step_000000009", "does not belong"]),
    ("sample-weights-not-config", relatent_both, ["sample", "run", "--out", "new.png"],
     ["step_000000009", "G.net.0.0.weight has shape"]),
    ("eval-missing-keys", lambda w: crafted_ckpt(w, drop_key), ["eval", "run"], ["step_000000009", "(no G)"]),
    ("eval-bad-shape", lambda w: crafted_ckpt(w, lambda s: s.update(image_shape=[1, -8, 8])), ["eval", "run"],
     ["[1, -8, 8]", "not (C, H, W)"]),
    # outputs that exist, and other command options
    ("sample-out-exists", None, ["sample", "run", "--out", "out/existing.png"], ["out/existing.png", "--force"]),
    ("traverse-out-exists", None, ["traverse", "run", "--code", "c1", "--out", "out/existing.png"],
     ["out/existing.png", "--force"]),
    ("encode-out-exists", None, ["encode", "run", "images", "--out", "out/existing.csv"], ["out/existing.csv", "--force"]),
    ("sample-out-jpg", None, ["sample", "run", "--out", "new.jpg"], ["new.jpg", "must name a .png"]),
    ("sample-rows", None, ["sample", "run", "--rows", "0", "--out", "new.png"], ["--rows", "got 0", "1..64"]),
    ("sample-scale", None, ["sample", "run", "--scale", "0", "--out", "new.png"], ["got 0", "1..16"]),
    ("traverse-code", None, ["traverse", "run", "--code", "c9", "--out", "new.png"], ["'c9'", "has: c1, c2, c3"]),
    ("traverse-range", None, ["traverse", "run", "--code", "c2", "--range", "1", "-1", "--out", "new.png"],
     ["1.0 -1.0", "LO < HI"]),
    ("eval-samples", None, ["eval", "run", "--samples", "0"], ["got 0", ">= 1"]),
    ("eval-device", None, ["eval", "run", "--device", "tpu"], ["'tpu'", "auto, cpu, cuda"]),
    # cluster and explore (they load runs the same way)
    ("cluster-not-a-run", None, ["cluster", "data", "images", "--out", "new"], ["data", "not a run directory"]),
    ("cluster-out-exists", None, ["cluster", "run", "images", "--out", "out"], ["out", "--force"]),
    ("cluster-no-folder", None, ["cluster", "run", "nope", "--out", "new"], ["nope", "not a folder of images"]),
    ("explore-port", None, ["explore", "run", "--port", "70000"], ["70000", "0..65535"]),
    ("explore-foreign", lambda w: foreign_ckpt(w, "other"), ["explore", "run"], ["step_000000009", "does not belong"]),
    # encode inputs
    ("encode-corrupt-image", lambda w: put(w / "images" / "b.png", b"\x89PNG\r\n\x1a\n garbage"),
     ["encode", "run", "images", "--out", "new.csv"], ["b.png", "not a readable image"]),
    ("encode-truncated-image", lambda w: put(w / "images" / "b.png", (w / "images" / "a.png").read_bytes()[:80]),
     ["encode", "run", "images", "--out", "new.csv"], ["b.png", "not a readable image"]),
    ("encode-no-images", lambda w: put(w / "texts" / "notes.txt", b"hello"), ["encode", "run", "texts", "--out", "new.csv"],
     ["texts", "no images (.png, .jpg, ...)"]),
    ("encode-text-file", lambda w: put(w / "notes.txt", b"hello"), ["encode", "run", "notes.txt", "--out", "new.csv"],
     ["notes.txt", "not a readable image"]),
    ("encode-missing", None, ["encode", "run", "nope.png", "--out", "new.csv"], ["nope.png", "no such file"]),
    # numbers past what a flag can mean: bounded, named (cli._bounded)
    ("sample-seed-huge", None, ["sample", "run", "--seed", str(2**65), "--out", "new.png"],
     ["--seed", str(2**65), "0..2**62 - 1"]),
    ("sample-seed-negative", None, ["sample", "run", "--seed", "-1", "--out", "new.png"], ["--seed", "got -1"]),
    ("traverse-range-huge", None, ["traverse", "run", "--code", "c2", "--range", "0", "1e308", "--out", "new.png"],
     ["--range", "1e+308", "-1e+06..1e+06"]),
    ("traverse-range-negative-exponent", None,
     ["traverse", "run", "--code", "c2", "--range", "-1e308", "1e308", "--out", "new.png"], ["--range", "-1e+308"]),
    ("traverse-range-inf", None, ["traverse", "run", "--code", "c2", "--range", "0", "inf", "--out", "new.png"],
     ["--range", "got inf"]),
    ("traverse-steps", None, ["traverse", "run", "--code", "c2", "--steps", "100000", "--out", "new.png"],
     ["--steps", "2..64"]),
    ("cluster-per-sheet", None, ["cluster", "run", "images", "--out", "new", "--per-sheet", "0"],
     ["--per-sheet", "1..1024"]),
    ("bench-steps-huge", None, ["bench", "--steps", str(10**12)], ["--steps", "1..100000"]),
    ("study-seeds-huge", None, ["study", "--seeds", str(10**9), "--root", "new"], ["--seeds", "1..1000"]),
    ("sample-png-huge", None, ["sample", "run", "--rows", "64", "--cols", "64", "--scale", "16", "--out", "new.png"],
     ["PNG is larger than 64 Mpixels", "--scale"]),
    # paths the user names must exist: never replaced by others
    ("data-dir-missing", None, [*TRAIN, "--data-dir", "nowhere"], ["nowhere", "does not exist"]),
    ("data-dir-config-missing", None, [*TRAIN, "--set", "data.data_dir=nowhere"], ["nowhere", "does not exist"]),
    ("run-dir-parent-is-a-file", None, ["train", "--config", "tiny.toml", "--run-dir", "tiny.toml/run"],
     ["tiny.toml/run", "cannot create its folder tiny.toml"]),
    ("run-dir-proc", None, ["train", "--config", "tiny.toml", "--run-dir", "/proc/infogan-run"],
     ["/proc/infogan-run", "cannot create run directory"]),
    ("study-root-parent-is-a-file", None, ["study", "--root", "tiny.toml/study"],
     ["tiny.toml/study", "cannot create its folder tiny.toml"]),
    ("report-baseline-missing", None, ["report", "run", "--baseline-run", "nowhere"], ["nowhere", "not a run directory"]),
    ("resume-data-dir-missing", None, ["train", "--resume", "run", "--data-dir", "nowhere"],
     ["nowhere", "does not exist"]),
    # links that dangle or loop among a command's images
    ("encode-dangling-link", lambda w: (w / "images" / "b.png").symlink_to("nowhere.png"),
     ["encode", "run", "images", "--out", "new.csv"], ["b.png", "cannot read"]),
    ("encode-looping-link", lambda w: (w / "images" / "b.png").symlink_to("b.png"),
     ["encode", "run", "images", "--out", "new.csv"], ["b.png", "cannot read"]),
]


def snapshot(root: Path) -> dict[str, tuple]:
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        out[str(p.relative_to(root))] = (p.is_dir(), st.st_size, st.st_mtime_ns, st.st_ino)
    return out


def changes(before: dict, after: dict) -> list[str]:
    return sorted({k for k in before.keys() | after.keys() if before.get(k) != after.get(k) and not
                   (before.get(k, (0,))[0] and after.get(k, (0,))[0])})  # a folder's mtime aside: its entries count


@pytest.mark.parametrize("name,setup,argv,needles", CASES, ids=[c[0] for c in CASES])
def test_bad_input(name, setup, argv, needles, tiny_world, tmp_path, monkeypatch, capsys):
    w = tmp_path / "w"
    shutil.copytree(tiny_world, w, copy_function=os.link)
    monkeypatch.chdir(w)
    monkeypatch.setenv("INFOGAN_CACHE", str(w / "cache"))
    monkeypatch.delenv("INFOGAN_DATA", raising=False)
    if setup:
        setup(w)
    before = snapshot(w)
    capsys.readouterr()
    rc = main(list(argv))
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert rc == 2, f"exit status {rc}; stderr: {err}"
    assert len(lines) == 1, f"not one line on stderr: {err}"
    assert lines[0].startswith(f"infogan {argv[0]}: error: "), lines[0]
    for word in needles:
        assert word in lines[0], f"{word!r} missing from: {lines[0]}"
    assert "Traceback" not in err + out
    assert changes(before, snapshot(w)) == [], "the failed command changed files"
    # --debug: the same error, raised (its traceback shown), still nothing written
    with pytest.raises(_user_errors()):
        main(["--debug", *argv])
    assert changes(before, snapshot(w)) == [], "the failed command changed files (--debug)"


def test_at_least_30_cases():
    assert len(CASES) >= 30


def test_real_process_exit_status_and_debug_traceback(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "INFOGAN_DATA"}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1] / "src"), env.get("PYTHONPATH", "")])
    r = subprocess.run([sys.executable, "-m", "infogan.cli", "--debug", "train", "--set", "optim.lr_d=-1",
                        "--run-dir", tmp_path / "r"], capture_output=True, text=True, env=env, cwd=tmp_path,
                       check=False)
    assert r.returncode == 1 and "Traceback" in r.stderr and "ConfigError: optim.lr_d must be > 0" in r.stderr
    assert not (tmp_path / "r").exists()
