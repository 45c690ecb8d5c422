"""Is the folder preset (a user's own images) as good as the tuned mnist preset? MNIST as a folder of PNGs.

    # full training set: >= 95 % in 3 of 3 seeds, within 2x the mnist preset's wall time
    python benchmarks/time_to_accuracy.py --seeds 0 1 2 --full --eval-every 500 --root runs/tta-full \
        --out benchmarks/results/time_to_accuracy_full_<date>.json
    python benchmarks/folder_parity.py --root runs/mnist-png --runs runs/folder-parity \
        --mnist-json benchmarks/results/time_to_accuracy_full_<date>.json \
        --out benchmarks/results/folder_parity_full_<date>.json
    # a random 2,000-image subset: >= 90 % in 2 of 3 seeds
    python benchmarks/folder_parity.py --root runs/mnist-png --subset 2000 --runs runs/folder-parity-2000 \
        --out benchmarks/results/folder_parity_subset2000_<date>.json

1. Export (once): MNIST's training images as ``ROOT/train/<digit>/<index>.png`` and the 10,000 test
   images as ``ROOT/test/<digit>/<index>.png``; with ``--subset N`` a random N-image subset of the
   training set (``--subset-seed``, not stratified) as ``ROOT/train-subsetN-seedK/``. Each folder is
   written under a hidden temporary name and renamed when complete, so a killed export is never
   taken as complete; a folder holding exactly the expected files is reused, any other is refused.
   ``ROOT/<folder>.json`` records the per-digit counts (and the subset's indices). The digit
   folders are for scoring only: training reads the images, never the folder names.
2. Decode once: the training folder is decoded into the image cache (what a user's first run pays
   once; ``decode_s``) before any timed run, so every seed's wall time is a warm-cache run.
3. Train, one seed after another: ``infogan train --preset folder --data-dir ROOT/train --set
   data.channels=1 --seed S --run-dir RUNS/seedS --no-progress`` (no other setting: the point is the
   preset's defaults), as its own process; the clock runs from the launch to the exit. ``--set``
   (experiments) and ``--steps`` are added only when given, and recorded.
4. Score: ``infogan cluster RUNS/seedS ROOT/test --out RUNS/seedS/cluster_test
   --labels-from-subfolders --force``; its ``summary.json`` holds the Hungarian accuracy of each
   categorical code on the 10,000 test PNGs (the first code's is the score).
5. Compare: with ``--mnist-json`` (a ``time_to_accuracy.py`` output; ``total_s`` per seed, best
   with ``--full --eval-every 500``, so that each mnist run goes to its last step and evaluates as
   often as the folder preset does) the ratio of the median wall times.

The JSON (``--out``, rewritten after every seed) holds per seed the accuracy, wall seconds (launch
to exit, and the run's own log), both commands and the machine's load average before the run, and
a summary against the targets. Wall times say nothing unless the machine was otherwise quiet.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

TARGETS = {
    "full": {"accuracy": 0.95, "need": 3, "of": 3, "max_time_ratio": 2.0},
    "subset": {"accuracy": 0.90, "need": 2, "of": 3, "max_time_ratio": None},
}
PARTIAL = ".partial-"  # a folder being exported: ROOT/.<name>.partial-<pid>


# ---- export ------------------------------------------------------------------------------------

def _manifest(root: Path, name: str) -> Path:
    return root / f"{name}.json"


def _counts(labels: np.ndarray) -> dict[str, int]:
    return {str(d): int(n) for d, n in enumerate(np.bincount(labels, minlength=10)) if n}


def png_names(folder: Path) -> set[str]:
    """``<digit>/<file>.png`` of every PNG one level below ``folder``."""
    return {f"{d.name}/{f.name}" for d in folder.iterdir() if d.is_dir()
            for f in os.scandir(d) if f.name.endswith(".png")}


def _expected(images_labels: np.ndarray, idx: np.ndarray) -> set[str]:
    return {f"{images_labels[i]}/{i:05d}.png" for i in idx}


def _remove_stale(root: Path, name: str) -> None:
    """Remove the temporary folders of exports of ``name`` whose process is gone (killed)."""
    for p in root.glob(f".{name}{PARTIAL}*"):
        try:
            os.kill(int(p.name.rsplit("-", 1)[1]), 0)
        except ProcessLookupError:
            shutil.rmtree(p, ignore_errors=True)
        except (ValueError, PermissionError):
            pass


def export_pngs(root: Path, name: str, split: str, indices: np.ndarray | None = None,
                data_dir: str | None = None, verify: bool = True, extra: dict | None = None) -> dict:
    """Write MNIST ``split`` (or its ``indices``) as ``root/name/<digit>/<index>.png``, once.

    A folder already there is reused when it holds exactly the expected files (it only ever appears
    complete: it is written under a temporary name and renamed), and refused otherwise.

    Returns the manifest ({"name", "split", "n", "counts", "exported", "export_s", ...}), also
    written to ``root/name.json``; "exported" is False when the folder was already there.
    """
    from PIL import Image

    from infogan.data import load_idx
    from infogan.fsutil import atomic_write

    store = load_idx("mnist", split, data_dir, download=False, verify=verify)
    images, labels = store.images[:, 0].numpy(), store.labels.numpy()
    idx = np.arange(len(labels)) if indices is None else np.asarray(indices)
    meta = {"name": name, "split": split, "n": len(idx), "counts": _counts(labels[idx]), **(extra or {})}
    folder = root / name
    if folder.exists():
        if folder.is_dir() and png_names(folder) == _expected(labels, idx):
            old = {}
            try:
                old = json.loads(_manifest(root, name).read_text())
            except (OSError, ValueError):
                atomic_write(_manifest(root, name), (json.dumps(meta, indent=1) + "\n").encode())
            return {**meta, "export_s": old.get("export_s"), "exported": False}
        raise SystemExit(f"{folder} exists but does not hold the {len(idx)} expected PNGs: delete it to export again")
    root.mkdir(parents=True, exist_ok=True)
    _remove_stale(root, name)
    t0 = time.time()
    tmp = root / f".{name}{PARTIAL}{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for d in np.unique(labels[idx]):
            (tmp / str(d)).mkdir(parents=True)
        for i in idx:
            Image.fromarray(images[i]).save(tmp / str(labels[i]) / f"{i:05d}.png")
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    meta["export_s"] = time.time() - t0
    atomic_write(_manifest(root, name), (json.dumps(meta, indent=1) + "\n").encode())
    return {**meta, "exported": True}


def export_all(root: Path, subset: int | None = None, subset_seed: int = 0, data_dir: str | None = None,
               verify: bool = True) -> dict:
    """The test folder and the training folder (all of it, or a random ``subset``): {"train", "test"}."""
    test = export_pngs(root, "test", "test", data_dir=data_dir, verify=verify)
    if subset is None:
        return {"train": export_pngs(root, "train", "train", data_dir=data_dir, verify=verify), "test": test}
    from infogan.data import load_idx

    n = len(load_idx("mnist", "train", data_dir, download=False, verify=verify))
    if not 1 <= subset <= n:
        raise SystemExit(f"--subset must be in [1, {n}], got {subset}")
    idx = np.sort(np.random.default_rng(subset_seed).choice(n, subset, replace=False))
    name = f"train-subset{subset}-seed{subset_seed}"
    extra = {"subset_seed": subset_seed, "of": n, "indices": idx.tolist()}
    return {"train": export_pngs(root, name, "train", idx, data_dir, verify, extra), "test": test}


# ---- training and scoring -----------------------------------------------------------------------

def train_command(train_dir: Path, seed: int, run_dir: Path, sets: list[str], steps: int | None) -> list[str]:
    cmd = [sys.executable, "-m", "infogan.cli", "train", "--preset", "folder", "--data-dir", str(train_dir),
           "--set", "data.channels=1", "--seed", str(seed), "--run-dir", str(run_dir), "--no-progress"]
    if steps is not None:
        cmd += ["--steps", str(steps)]
    for s in sets:
        cmd += ["--set", s]
    return cmd


def _shown(cmd: list[str]) -> str:
    """The command as a user types it (``infogan ...`` for ``python -m infogan.cli ...``)."""
    return shlex.join(["infogan", *cmd[3:]] if cmd[1:3] == ["-m", "infogan.cli"] else cmd)


def warm_cache(train_dir: Path, sets: list[str]) -> float:
    """Decode the training folder into the image cache exactly as training will; the seconds it took."""
    from infogan.api import load_data
    from infogan.config import preset

    cfg = preset("folder").override([f"data.data_dir={train_dir}", "data.channels=1", *sets])
    t0 = time.time()
    load_data(cfg, log=lambda m: None)
    return time.time() - t0


def train_seed(train_dir: Path, seed: int, runs: Path, sets: list[str], steps: int | None,
               timeout: float) -> dict:
    """Train one seed as its own process; wall seconds from launch to exit, and the run's own log's."""
    run_dir = runs / f"seed{seed}"
    if run_dir.exists():
        raise SystemExit(f"{run_dir} exists: give --runs a new folder (each measurement starts from nothing), "
                         f"or --score-only to score finished runs")
    runs.mkdir(parents=True, exist_ok=True)
    cmd = train_command(train_dir, seed, run_dir, sets, steps)
    load = os.getloadavg()
    timed_out = False
    with open(runs / f"seed{seed}.log", "w") as log:
        t0 = time.time()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            proc.send_signal(signal.SIGTERM)  # the trainer writes its checkpoint and stops
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        total = time.time() - t0
    return {"seed": seed, "run_dir": str(run_dir), "command": _shown(cmd), "load_before": load,
            "exit_code": proc.returncode, "timed_out": timed_out, "total_s": total, **run_log(run_dir)}


def run_log(run_dir: Path) -> dict:
    """The last step and the wall time the run itself logged."""
    from infogan.run import read_metrics

    if not (run_dir / "metrics.jsonl").is_file():
        return {"final_step": None, "run_wall_s": None}
    rows, evals = read_metrics(run_dir)
    both = rows + evals
    return {"final_step": max((r["step"] for r in both), default=None),
            "run_wall_s": max((r.get("wall_s") or 0 for r in both), default=None)}


def score_run(run_dir: Path, test_dir: Path, out: Path | None = None, timeout: float = 3600) -> dict:
    """``infogan cluster RUN TEST --labels-from-subfolders`` as its own process; its summary.json.

    Returns {"command", "exit_code", "score_s", "n_images", "skipped", "accuracy", "purity", "code",
    "score"}: ``score`` is the Hungarian accuracy of the first categorical code (None on failure).
    """
    out = out or run_dir / "cluster_test"
    cmd = [sys.executable, "-m", "infogan.cli", "cluster", str(run_dir), str(test_dir), "--out", str(out),
           "--labels-from-subfolders", "--force"]
    t0 = time.time()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"command": _shown(cmd), "exit_code": None, "score_s": time.time() - t0,
                "error": f"no result within {timeout:.0f} s", "score": None}
    res = {"command": _shown(cmd), "exit_code": proc.returncode, "score_s": time.time() - t0}
    if proc.returncode != 0:
        return {**res, "error": (proc.stderr or proc.stdout).strip()[-2000:], "score": None}
    return {**res, **parse_summary(out / "summary.json")}


def parse_summary(path: Path) -> dict:
    """The scores in an ``infogan cluster --labels-from-subfolders`` summary.json."""
    s = json.loads(Path(path).read_text())
    if "accuracy" not in s:
        raise ValueError(f"{path}: no accuracy (was --labels-from-subfolders given?)")
    code = next(iter(s["accuracy"]))  # the first categorical code, c1 for the preset's cat10
    return {"n_images": s["n_images"], "skipped": len(s.get("skipped", [])), "classes": s.get("classes"),
            "accuracy": s["accuracy"], "purity": s["purity"], "code": code, "score": s["accuracy"][code]}


# ---- comparison and summary ---------------------------------------------------------------------

def mnist_times(path: Path) -> dict:
    """Per-seed ``total_s`` of a time_to_accuracy.py JSON, and whether each mnist run went to its last step."""
    from infogan.config import preset

    d = json.loads(Path(path).read_text())
    steps = preset("mnist").override(d.get("sets", [])).train.steps
    per_seed = {str(r["seed"]): r["total_s"] for r in d["runs"]}
    full = all((r.get("final") or {}).get("step") == steps for r in d["runs"])
    out = {"file": str(path), "per_seed_s": per_seed, "median_s": statistics.median(per_seed.values()),
           "preset_steps": steps, "final_steps": [(r.get("final") or {}).get("step") for r in d["runs"]],
           "full": full, "sets": d.get("sets", [])}
    if not full:
        out["note"] = (f"not every mnist run reached step {steps} (time_to_accuracy.py without --full stops a "
                       f"run once the target is reached): the ratio compares with shorter runs")
    return out


def summarize(kind: str, runs: list[dict], mnist: dict | None) -> dict:
    t = TARGETS[kind]
    acc = [r["score"]["score"] if r.get("score") else None for r in runs]
    n = len(runs)
    passes = sum(a is not None and a >= t["accuracy"] for a in acc)
    required = math.ceil(t["need"] * n / t["of"])
    out = {"target": t, "accuracies": acc, "seeds": n, "passes": passes, "required": required,
           "accuracy_met": n >= t["of"] and passes >= required,
           "median_s": statistics.median(r["total_s"] for r in runs) if runs else None}
    if mnist is not None and runs:
        out["mnist_median_s"] = mnist["median_s"]
        out["time_ratio"] = out["median_s"] / mnist["median_s"]
        out["per_seed_ratio"] = {str(r["seed"]): r["total_s"] / mnist["per_seed_s"][str(r["seed"])]
                                 for r in runs if str(r["seed"]) in mnist["per_seed_s"]}
    if t["max_time_ratio"] is None:
        out["time_met"] = None
        out["met"] = out["accuracy_met"]
    else:
        ratio = out.get("time_ratio")
        out["time_met"] = None if ratio is None else ratio <= t["max_time_ratio"]
        out["met"] = out["accuracy_met"] and bool(out["time_met"])
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", type=Path, default=Path("runs/mnist-png"), help="where the PNG folders are exported")
    p.add_argument("--runs", type=Path, default=Path("runs/folder-parity"), help="run folders RUNS/seedS")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--subset", type=int, help="train on a random N-image subset of the training set")
    p.add_argument("--subset-seed", type=int, default=0)
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="experiments only: passed to infogan train (repeatable, recorded)")
    p.add_argument("--steps", type=int, help="experiments only: passed to infogan train (recorded)")
    p.add_argument("--mnist-json", type=Path, help="time_to_accuracy.py JSON of the mnist preset (best with --full)")
    p.add_argument("--data-dir", help="folder with the MNIST IDX files (default: $INFOGAN_DATA/mnist, the cache)")
    p.add_argument("--no-verify", action="store_true", help="do not check the IDX files' official md5")
    p.add_argument("--timeout", type=float, default=6 * 3600, help="seconds per training at most")
    p.add_argument("--export-only", action="store_true", help="export the PNG folders and stop")
    p.add_argument("--score-only", action="store_true", help="score the runs already in RUNS (no training)")
    p.add_argument("--out", type=Path, help="JSON file (default: print only)")
    args = p.parse_args(argv)

    kind = "full" if args.subset is None else "subset"
    folders = export_all(args.root, args.subset, args.subset_seed, args.data_dir, not args.no_verify)
    train_dir, test_dir = args.root / folders["train"]["name"], args.root / "test"
    for f in folders.values():
        print(f"{args.root / f['name']}: {f['n']} images " + ("exported" if f["exported"] else "(already there)"),
              flush=True)
    if args.export_only:
        return 0
    mnist = mnist_times(args.mnist_json) if args.mnist_json else None
    decode_s = None if args.score_only else warm_cache(train_dir, args.sets)
    import torch

    train_info = {k: v for k, v in folders["train"].items() if k != "indices"}
    out = {
        "what": "the folder preset on MNIST exported as PNGs (labels only for scoring): accuracy of the first "
                "categorical code on the 10,000 test PNGs through infogan cluster, and wall seconds from launch "
                "to exit, one seed at a time",
        "date": time.strftime("%Y-%m-%d"), "kind": kind, "train_dir": str(train_dir), "test_dir": str(test_dir),
        "train_folder": train_info, "test_folder": folders["test"], "decode_s": decode_s,
        "sets": args.sets, "steps": args.steps, "score_only": args.score_only,
        "threads": torch.get_num_threads(), "cpus": os.cpu_count(), "torch": torch.__version__,
        "mnist": mnist, "runs": [], "summary": None,
    }

    def write() -> None:
        out["summary"] = summarize(kind, out["runs"], mnist)
        if args.out:
            from infogan.fsutil import atomic_write

            args.out.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(args.out, (json.dumps(out, indent=1) + "\n").encode())

    for seed in args.seeds:
        if args.score_only:
            run_dir = args.runs / f"seed{seed}"
            r = {"seed": seed, "run_dir": str(run_dir), "command": None, "load_before": None, "exit_code": None,
                 "timed_out": None, **run_log(run_dir)}
            r["total_s"] = r["run_wall_s"]
        else:
            r = train_seed(train_dir, seed, args.runs, args.sets, args.steps, args.timeout)
        r["score_load_before"] = os.getloadavg()
        r["score"] = score_run(Path(r["run_dir"]), test_dir)
        out["runs"].append(r)
        write()
        acc = r["score"]["score"]
        shown = f"{100 * acc:.2f} %" if acc is not None else f"not scored ({r['score'].get('error')})"
        if r["total_s"] is not None:
            shown += f", {r['total_s']:.0f} s"
        print(f"seed {seed}: {shown}", flush=True)
    s = out["summary"]
    print(f"{s['passes']} of {s['seeds']} seeds >= {100 * s['target']['accuracy']:.0f} %"
          + (f"; wall time {s['time_ratio']:.2f}x the mnist preset's" if s.get("time_ratio") else "")
          + f": target {'met' if s['met'] else 'not met'}")
    if not args.out:
        print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
