"""Hostile files and states: crafted checkpoints with valid checksums, resumes that must not destroy,
special files and sizes without bounds.

Every case must end in one line on stderr (``infogan <command>: error: ...``), exit status 2, and
leave the run directory byte-identical: every file is hashed before and after. Families:

1. a checkpoint with any tensor's shape or dtype, or any other entry, corrupted and its sha256
   rewritten: refused before anything is loaded or written (each tensor and entry in turn, through
   the function every command loads runs with; a few through the real CLI);
3. a resume that cannot proceed (``checkpoints`` a file, ``metrics.jsonl`` a folder, ...) changes
   nothing;
4. FIFOs, links to /dev/zero and oversized files are refused without being read; counts and sizes a
   config or a file can set are bounded; rotation removes checkpoints whatever their step.
"""

import contextlib
import hashlib
import math
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import synthetic_store, tiny_config

from infogan import checkpoint as ckpt
from infogan.cli import main
from infogan.run import check_checkpoint, run_config

ROOT = Path(__file__).resolve().parents[1]


# ---- helpers ----------------------------------------------------------------------------------

def digests(root: Path) -> dict[str, str]:
    """Every entry under ``root``: files by the sha256 of their bytes, links by their target."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = "link -> " + os.readlink(p)
        elif p.is_dir():
            out[rel] = "folder"
        elif p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[rel] = "special"
    return out


def put(path: Path, data: bytes) -> None:
    """Write a new file (unlink first: the world's files are hard links to the shared base)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    path.write_bytes(data)


def write_checkpoint(run: Path, state: dict) -> Path:
    """``state`` as the run's checkpoint of its step, with a checksum that verifies."""
    data = ckpt.to_bytes(state)
    p = run / "checkpoints" / f"step_{state['step']:09d}.safetensors"
    put(p, data)
    put(p.with_suffix(".sha256"), (hashlib.sha256(data).hexdigest() + "\n").encode())
    return p


@contextlib.contextmanager
def deadline(seconds: int):
    """Fail instead of hanging (a read of a FIFO blocks until a writer comes)."""
    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture
def world(tiny_world, tmp_path, monkeypatch):
    """A private copy of the tiny world (helpers.build_world) as working directory."""
    w = tmp_path / "w"
    shutil.copytree(tiny_world, w, copy_function=os.link)
    monkeypatch.chdir(w)
    monkeypatch.setenv("INFOGAN_CACHE", str(w / "cache"))
    monkeypatch.delenv("INFOGAN_DATA", raising=False)
    return w


def refused(argv: list[str], capsys, root: Path, *needles: str) -> str:
    """Run the CLI in-process: exit 2, one line on stderr holding ``needles``, nothing under ``root`` changed."""
    before = digests(root)
    capsys.readouterr()
    with deadline(120):
        rc = main(list(argv))
    _, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert rc == 2, f"exit status {rc}; stderr: {err}"
    assert len(lines) == 1 and lines[0].startswith(f"infogan {argv[0]}: error: "), err
    for n in needles:
        assert n in lines[0], f"{n!r} missing from: {lines[0]}"
    assert digests(root) == before, "the failed command changed files"
    return lines[0]


def cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess."""
    env = {k: v for k, v in os.environ.items() if k != "INFOGAN_DATA"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    env["INFOGAN_CACHE"] = str(cwd / "cache")
    return subprocess.run([sys.executable, "-m", "infogan.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


# ---- 1. crafted checkpoints with valid checksums ----------------------------------------------

def _paths(obj, prefix=()):
    """(key path, value) of every leaf of a checkpoint state: tensors and plain values."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, (*prefix, i))
    else:
        yield prefix, obj


def _replaced(obj, keys, value):
    """A copy of ``obj`` (copied only along ``keys``) with the leaf at ``keys`` replaced."""
    if not keys:
        return value
    out = dict(obj) if isinstance(obj, dict) else list(obj)
    out[keys[0]] = _replaced(obj[keys[0]], keys[1:], value)
    return out


def _bad_shape(t: torch.Tensor) -> torch.Tensor:
    # The same number of elements in another shape: what a fused Adam kernel would read past.
    return t.reshape(1, -1) if t.dim() <= 1 else t.reshape(-1)


def _bad_dtype(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.float64 if t.is_floating_point() else torch.int32 if t.dtype == torch.int64 else torch.int64)


def _nested(depth: int = 200):
    v = 0
    for _ in range(depth):
        v = [v]
    return v


# What each entry that is not a tensor is corrupted with (wrong type, negative, huge, NaN, nested).
FIELD_FAULTS = {"wrong type": "x", "negative": -1, "huge": 10**30, "NaN": math.nan, "nested": _nested(200)}
# data.data_dir is a path a resume may change (--data-dir): any string is one, so only a container
# is wrong there.
HARMLESS = {(("config", "data", "data_dir"), f) for f in ("wrong type", "negative", "huge", "NaN")}
# the adaptive augmentation's pending entries are means of signs, in [-1, 1]: -1 is one of them
HARMLESS |= {(("augment", "pending", i), "negative") for i in range(64)}


@pytest.fixture
def newest(world):
    """(run config, state, path) of run/'s newest checkpoint."""
    path, state = ckpt.load_latest(world / "run" / "checkpoints", warn=lambda m: None)
    return run_config(world / "run"), state, path


def test_every_tensor_with_a_wrong_shape_dtype_or_value_is_refused(newest):
    """Each tensor in turn (weights, BN buffers, Adam steps and moments, RNG state): another shape
    with the same elements, another dtype, and a NaN (or -1 where a count or variance must not be
    negative) are refused with the tensor's name, through the check every command loads runs with."""
    run_cfg, state, path = newest
    assert check_checkpoint(run_cfg, state, path)  # the unchanged checkpoint is accepted
    tensors = [(k, t) for k, t in _paths(state) if isinstance(t, torch.Tensor)]
    assert len(tensors) > 120 and any(k[0] == "opt_d" for k, _ in tensors) and any(k[0] == "rng" for k, _ in tensors)
    for keys, t in tensors:
        name = ".".join(map(str, keys))
        faults = {"shape": _bad_shape(t), "dtype": _bad_dtype(t)}
        if t.is_floating_point():
            faults["NaN"] = t.clone().reshape(-1).index_fill(0, torch.tensor([0]), math.nan).reshape(t.shape)
        if keys[-1] in ("running_var", "num_batches_tracked", "exp_avg_sq", "step"):
            faults["negative"] = torch.full_like(t, -1)
        for fault, bad in faults.items():
            with pytest.raises(ckpt.CheckpointError) as e:
                check_checkpoint(run_cfg, _replaced(state, keys, bad), path)
            msg = str(e.value)
            assert "\n" not in msg and name in msg, f"{fault} of {name}: {msg}"


def test_every_other_entry_with_a_wrong_value_is_refused(newest):
    """Each entry that is not a tensor in turn (the config's values, step, image_shape, recoveries,
    the optimizers' settings and parameter lists): a wrong type, -1, 10**30, NaN and a list nested
    200 deep are refused; nested ones already when the file is read (depth bound)."""
    run_cfg, state, path = newest
    fields = [k for k, v in _paths(state) if not isinstance(v, torch.Tensor)]
    assert {("step",), ("image_shape", 0), ("recoveries",), ("opt_g", "param_groups", 0, "lr"),
            ("config", "train", "eval_samples"), ("config", "latent", "codes", 0, "k")} <= set(fields)
    leaves = dict(_paths(state))
    for keys in fields:
        for fault, value in FIELD_FAULTS.items():
            if (keys, fault) in HARMLESS or (leaves[keys] == value and not isinstance(leaves[keys], bool)):
                continue  # a path, or no change at all (a code's lo is -1 already)
            crafted = _replaced(state, keys, value)
            if fault == "nested":  # refused by the reader, before the JSON is parsed (G and D left out: faster)
                with pytest.raises(ckpt.CheckpointError, match="nested deeper than 32"):
                    ckpt.from_bytes(ckpt.to_bytes({k: v for k, v in crafted.items() if k not in ("G", "D")}))
            with pytest.raises(ckpt.CheckpointError) as e:
                check_checkpoint(run_cfg, crafted, path)
            assert "\n" not in str(e.value), f"{fault} of {keys}: {e.value}"


def test_step_must_match_the_file_name_and_entries_must_be_known(newest):
    run_cfg, state, path = newest
    with pytest.raises(ckpt.CheckpointError, match="file name says step 2"):
        check_checkpoint(run_cfg, {**state, "step": 3}, path)
    with pytest.raises(ckpt.CheckpointError, match="'extra' is not part of a training checkpoint"):
        check_checkpoint(run_cfg, {**state, "extra": 1}, path)
    with pytest.raises(ckpt.CheckpointError, match=r"G.extra.weight is not a tensor"):
        check_checkpoint(run_cfg, {**state, "G": {**state["G"], "extra.weight": torch.zeros(1)}}, path)
    opt = state["opt_d"]
    with pytest.raises(ckpt.CheckpointError, match=r"opt_d.state.99 is not the index"):
        check_checkpoint(run_cfg, {**state, "opt_d": {**opt, "state": {**opt["state"], 99: opt["state"][0]}}}, path)


def test_metadata_size_and_depth_are_bounded_before_parsing():
    base = {"step": 1, "w": torch.zeros(2)}
    with pytest.raises(ckpt.Refused, match="nested deeper than 32"):  # an error, not skipped for an older one
        ckpt.from_bytes(ckpt.to_bytes({**base, "x": _nested(100)}))
    with pytest.raises(ckpt.Refused, match="at most 1 MiB is accepted"):
        ckpt.from_bytes(ckpt.to_bytes({**base, "x": "a" * (2 << 20)}))
    data = bytearray(ckpt.to_bytes(base))
    data[:8] = (10**12).to_bytes(8, "little")  # a header length past the end of the file
    with pytest.raises(ckpt.CheckpointError, match="too short"):
        ckpt.from_bytes(bytes(data))
    assert ckpt.from_bytes(ckpt.to_bytes({**base, "x": _nested(8)}))["x"] == _nested(8)


def test_crafted_checkpoints_through_main_leave_the_run_byte_identical(world, newest, capsys):
    """A sample of the cases above as files with valid checksums, through the command line's main
    (``train --resume``): one line, exit 2, every file of the run hashed before and after."""
    _, state, _ = newest
    state = {**state, "step": 3}  # written as the newest checkpoint, step_000000003
    leaves = dict(_paths(state))
    tensors = [k for k, v in leaves.items() if isinstance(v, torch.Tensor)]
    cases = [(k, fault(leaves[k])) for k in tensors[::26] for fault in (_bad_shape, _bad_dtype)]
    fields = [("step",), ("image_shape", 1), ("recoveries",), ("opt_g", "param_groups", 0, "lr"),
              ("opt_d", "param_groups", 0, "betas", 0), ("config", "train", "steps"), ("config", "model", "q_hidden"),
              ("config", "latent", "codes", 0, "k"), ("config", "latent", "noise")]
    faults = list(FIELD_FAULTS.values())
    cases += [(k, faults[i % len(faults)]) for i, k in enumerate(fields)] + [(k, 10**30) for k in fields[:3]]
    for keys, value in cases:
        crafted = _replaced(state, keys, value)
        data = ckpt.to_bytes(crafted)
        p = world / "run" / "checkpoints" / "step_000000003.safetensors"
        put(p, data)
        put(p.with_suffix(".sha256"), (hashlib.sha256(data).hexdigest() + "\n").encode())
        refused(["train", "--resume", "run", "--steps", "5", "--no-progress"], capsys, world / "run")


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["adam-moment-shape", "weight-dtype", "step-huge", "config-nan"])
def test_crafted_checkpoint_through_the_real_cli(world, fault):
    """The issue's cases through real processes: exit 2, one line, the world byte-identical, for
    train --resume, eval and sample."""
    _, state = ckpt.load_latest(world / "run" / "checkpoints", warn=lambda m: None)
    if fault == "adam-moment-shape":  # killed the process with a segmentation fault before
        crafted = _replaced(state, ("opt_d", "state", 3, "exp_avg"), state["opt_d"]["state"][3]["exp_avg"][:1])
        needle = "opt_d.state.3.exp_avg has shape"
    elif fault == "weight-dtype":
        crafted = _replaced(state, ("D", "d_head.weight"), state["D"]["d_head.weight"].double())
        needle = "D.d_head.weight has dtype torch.float64"
    elif fault == "step-huge":
        crafted = {**state, "step": 10**30}
        needle = "is not an integer in 0..1000000000"
    else:
        crafted = _replaced(state, ("config", "optim", "lr_d"), math.nan)
        needle = "optim.lr_d must be > 0"
    if fault == "step-huge":
        _write_huge_step(world / "run", crafted)
    else:
        write_checkpoint(world / "run", {**crafted, "step": 3})
    commands = [["train", "--resume", "run", "--no-progress"], ["eval", "run"], ["sample", "run", "--out", "new.png"]]
    if fault in ("step-huge", "config-nan"):
        commands = commands[:1]  # one process is enough for a metadata field
    for args in commands:
        before = digests(world)
        r = cli(args, world)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2, r.stderr[-2000:]
        assert len(lines) == 1 and lines[0].startswith(f"infogan {args[0]}: error: ") and needle in lines[0], r.stderr
        assert digests(world) == before


def _write_huge_step(run: Path, state: dict) -> None:
    """A checkpoint holding step 10**30 under a name with that step (31 digits)."""
    data = ckpt.to_bytes(state)
    p = run / "checkpoints" / f"step_{10**30}.safetensors"
    put(p, data)
    put(p.with_suffix(".sha256"), (hashlib.sha256(data).hexdigest() + "\n").encode())


# ---- 3. a resume that fails changes nothing -----------------------------------------------------

def _checkpoints_a_file(w: Path) -> None:
    shutil.rmtree(w / "run" / "checkpoints")
    put(w / "run" / "checkpoints", b"not a folder")


def _metrics_a_folder(w: Path) -> None:
    (w / "run" / "metrics.jsonl").unlink()
    (w / "run" / "metrics.jsonl").mkdir()


def _tb_a_file(w: Path) -> None:
    shutil.rmtree(w / "run" / "tb")
    put(w / "run" / "tb", b"")


def _samples_a_fifo(w: Path) -> None:
    shutil.rmtree(w / "run" / "samples")
    os.mkfifo(w / "run" / "samples")


def _checkpoints_removed(w: Path) -> None:
    shutil.rmtree(w / "run" / "checkpoints")


@pytest.mark.parametrize("setup,needles", [
    (_checkpoints_a_file, ["checkpoints is not a folder"]),
    (_metrics_a_folder, ["metrics.jsonl is a folder, not a regular file", "before changing anything"]),
    (_tb_a_file, ["tb is a regular file, not a folder"]),
    (_samples_a_fifo, ["samples is a special file"]),
    (_checkpoints_removed, ["no completed checkpoint but metrics.jsonl has rows up to step 2"]),
], ids=["checkpoints-a-file", "metrics-a-folder", "tb-a-file", "samples-a-fifo", "checkpoints-removed"])
def test_a_resume_that_cannot_proceed_changes_nothing(world, capsys, setup, needles):
    """Before: config.toml rewritten and metrics.jsonl emptied, then a traceback."""
    setup(world)
    refused(["train", "--resume", "run", "--steps", "4", "--no-progress"], capsys, world, *needles)


def test_a_resume_with_the_same_config_keeps_config_toml(world, capsys):
    cfg = world / "run" / "config.toml"
    before = (cfg.read_bytes(), cfg.stat().st_ino)
    assert main(["train", "--resume", "run", "--no-progress"]) == 0  # already at its 2 steps: nothing to train
    assert (cfg.read_bytes(), cfg.stat().st_ino) == before


# ---- 4. special files, sizes and bounds ----------------------------------------------------------

def _special(kind: str, path: Path) -> None:
    path.unlink(missing_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_config_that_is_not_a_regular_file(world, capsys, kind):
    _special(kind, world / "c.toml")
    refused(["train", "--config", "c.toml", "--run-dir", "new"], capsys, world, "c.toml", "not a regular file")


def test_config_over_the_size_limit(world, capsys):
    put(world / "c.toml", b"# padding\n" * 200_000)
    refused(["train", "--config", "c.toml", "--run-dir", "new"], capsys, world, "c.toml", "limit of 1 MiB")


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
@pytest.mark.parametrize("what", ["data", "checksum"])
def test_newest_checkpoint_that_is_not_a_regular_file(world, capsys, kind, what):
    """Not skipped in favour of an older one: no kill or full disk leaves such a file."""
    newest = world / "run" / "checkpoints" / "step_000000003.safetensors"
    if what == "data":
        _special(kind, newest)
        put(newest.with_suffix(".sha256"), b"0" * 64 + b"\n")
    else:
        put(newest, (world / "run" / "checkpoints" / "step_000000002.safetensors").read_bytes())
        _special(kind, newest.with_suffix(".sha256"))
    name = newest.name if what == "data" else newest.with_suffix(".sha256").name
    for argv in (["eval", "run"], ["sample", "run", "--out", "new.png"], ["train", "--resume", "run", "--steps", "4"]):
        refused(argv, capsys, world, name, "not a regular file")


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_special_file_among_images(world, capsys, kind):
    """In a training folder: a bad file (named; left out with data.on_bad=skip); for encode: one line."""
    from infogan.data.folder import load_folder

    folder = world / "pics"
    folder.mkdir()
    for i in range(3):
        shutil.copy(world / "images" / "a.png", folder / f"{i}.png")
    _special(kind, folder / "z.png")
    with deadline(60):
        with pytest.raises(Exception, match="z.png .not a regular file"):
            load_folder(folder, 8, 1, cache=False)
        with pytest.warns(Warning, match="skipped 1 of 4"):
            assert len(load_folder(folder, 8, 1, cache=False, on_bad="skip")) == 3
    refused(["encode", "run", "pics", "--out", "new.csv"], capsys, world, "z.png", "not a regular file")
    refused(["encode", "run", "pics/z.png", "--out", "new.csv"], capsys, world, "z.png", "not a regular file")


def test_idx_header_that_announces_too_much_is_not_read(tmp_path):
    import gzip

    from infogan.data.idx import read_idx

    p = tmp_path / "train-images-idx3-ubyte.gz"
    p.write_bytes(gzip.compress(bytes([0, 0, 8, 3]) + (100_000).to_bytes(4, "big") * 3))
    with pytest.raises(Exception, match=r"over the limit of 4294967296 bytes"):
        read_idx(p)


BOUNDS = [
    ("train.eval_samples=1000000000000", "at most 1,000,000 (MAX_EVAL_SAMPLES)"),
    ("train.disent_samples=1000000000", "at most 100,000 (MAX_DISENT_SAMPLES)"),
    ("train.steps=" + "1" + "0" * 30, "at most 1,000,000,000 (MAX_STEPS)"),
    ("train.batch_size=1000000", "at most 16384 (MAX_BATCH)"),
    ("train.ckpt_every=100000000000", "at most 1,000,000,000 (MAX_STEPS)"),
    ("train.keep_ckpts=1000000000", "at most 1000 (MAX_KEEP_CKPTS)"),
    ("train.max_recoveries=1000000000", "at most 100 (MAX_RECOVERIES)"),
    ("train.threads=1000000", "at most 1024 (MAX_THREADS)"),
    ("model.q_hidden=1000000000000", "at most 8192 (MAX_Q_HIDDEN)"),
    ("data.size=1000000", "data.size must be 32, 64, 128 or a multiple of 4"),
    ("latent=2500xcat2,noise4", "1..128 (MAX_CODES)"),
    ("latent=unif2500,noise4", "1..128 (MAX_CODES)"),
    ("latent=100xcat2,unif100,noise4", "has 200 codes; at most 128 (MAX_CODES)"),
]


@pytest.mark.parametrize("assignment,needle", BOUNDS, ids=[b[0][:30] for b in BOUNDS])
def test_counts_and_sizes_are_bounded(world, capsys, assignment, needle):
    refused(["train", "--config", "tiny.toml", "--run-dir", "new", "--set", assignment], capsys, world, needle)


def test_latent_codes_bounded_in_toml_too(world, capsys):
    codes = "".join('[[latent.codes]]\nkind = "categorical"\nk = 2\n' for _ in range(2500))
    put(world / "c.toml", ((world / "tiny.toml").read_text() + "[latent]\nnoise = 4\n" + codes).encode())
    refused(["train", "--config", "c.toml", "--run-dir", "new"], capsys, world, "2500 codes", "(MAX_CODES)")


def test_networks_too_big_for_memory_are_refused_before_allocation(tmp_path):
    """A config within every single bound whose networks would still need ~2 GiB (a 8192-unit Q head
    over 64,000 categories): a ConfigError naming MAX_PARAMS, counted on the meta device."""
    from infogan.config import ConfigError
    from infogan.train import Trainer

    cfg = tiny_config(latent="128xcat500,noise4")
    cfg = cfg.override(["model.q_hidden=8192"])
    with deadline(60), pytest.raises(ConfigError, match=r"at most 268,435,456 \(MAX_PARAMS\)"):
        Trainer(cfg, tmp_path / "r", synthetic_store(512, shape=(1, 8, 8)), progress=False)
    assert not (tmp_path / "r").exists()


def test_rotation_removes_old_checkpoints_whatever_their_step(tmp_path):
    """A stray checkpoint past the current step (a lost trajectory, a huge step) would count as the
    newest forever and push every new checkpoint out; rotation removes it."""
    d = tmp_path / "checkpoints"
    for step in (1, 2, 3):
        ckpt.save(d, step, {"step": step}, keep=2)
    ckpt.save(d, 10**12, {"step": 10**12}, keep=100)  # left over from another trajectory
    ckpt.save(d, 4, {"step": 4}, keep=2)
    assert [ckpt.checkpoint_step(p) for p in ckpt.list_checkpoints(d)] == [3, 4]
    assert sorted(p.name for p in d.iterdir()) == [f"step_{s:09d}.{x}" for s in (3, 4) for x in ("safetensors", "sha256")]
