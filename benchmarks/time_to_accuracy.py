"""End-to-end wall time to a target accuracy: the mnist preset, one seed after another.

    python benchmarks/time_to_accuracy.py --seeds 0 1 2 --root runs/tta \
        --out benchmarks/results/time_to_accuracy_<date>.json

Each seed runs ``infogan train --preset mnist --seed S --run-dir ROOT/seedS --set
train.eval_every=E`` (plus any ``--set`` given here) as its own process, one at a time, and the
clock runs from the launch of that process (imports, data loading and model building included) to
the moment its first evaluation at or above ``--target`` is on disk. Labels are read here only, to
score; training never sees them.

The same runs also show what the label-free stopping rule (``train.stop_patience``,
``train.stop_delta``; ``infogan.train.PlateauStop``) would do: it is replayed on each run's
evaluations, and the step, time and accuracy at which it stops are reported. A run is ended (by
SIGTERM, which makes the trainer write its checkpoint and stop cleanly) once both the target was
reached and the rule has fired, or at the preset's last step.

The JSON also holds the machine's load average before each run: these numbers are wall times, and
say nothing unless the machine was otherwise quiet.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from infogan.run import read_metrics
from infogan.train import PlateauStop


def _evals(run_dir: Path) -> list[dict]:
    return read_metrics(run_dir)[1] if (run_dir / "metrics.jsonl").is_file() else []


def _accuracy(row: dict) -> float | None:
    acc = row["eval"].get("cluster_accuracy") or {}
    return acc.get("c1") if acc else None


def one_seed(seed: int, root: Path, target: float, eval_every: int, sets: list[str], patience: int,
             delta: float, timeout: float, full: bool = False) -> dict:
    run_dir = root / f"seed{seed}"
    if run_dir.exists():
        raise SystemExit(f"{run_dir} exists: give --root a new folder (each measurement starts from nothing)")
    cmd = [sys.executable, "-m", "infogan.cli", "train", "--preset", "mnist", "--seed", str(seed),
           "--run-dir", str(run_dir), "--set", f"train.eval_every={eval_every}", "--no-progress"]
    for s in sets:
        cmd += ["--set", s]
    load = os.getloadavg()
    log = open(root / f"seed{seed}.log", "w")  # noqa: SIM115 (closed in the finally below)
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    seen: dict[int, float] = {}  # eval step -> seconds since launch when it was first seen on disk
    reached = stopped = None
    stopper = PlateauStop(patience, delta)
    try:
        while proc.poll() is None and time.time() - t0 < timeout:
            time.sleep(0.5)
            for row in _evals(run_dir):
                s = row["step"]
                if s in seen:
                    continue
                seen[s] = time.time() - t0
                acc = _accuracy(row)
                if reached is None and acc is not None and acc >= target:
                    reached = {"step": s, "accuracy": acc, "wall_s": seen[s], "run_wall_s": row.get("wall_s")}
                if stopped is None and stopper.update(row["eval"]):
                    stopped = {"step": s, "accuracy": acc, "wall_s": seen[s], "score": stopper.best}
            if reached is not None and stopped is not None and not full:
                proc.send_signal(signal.SIGTERM)
                break
        if proc.poll() is None and time.time() - t0 >= timeout:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
        total = time.time() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    evals = _evals(run_dir)
    curve = [{"step": r["step"], "accuracy": _accuracy(r), "wall_s": seen.get(r["step"]),
              "eval_s": r.get("eval_s"), "score": PlateauStop.score(r["eval"])} for r in evals]
    train_rows = read_metrics(run_dir)[0]
    wall = max([r.get("wall_s") or 0 for r in train_rows + evals] or [0])
    eval_total = sum(r.get("eval_s") or 0 for r in evals)
    final = evals[-1] if evals else None
    return {"seed": seed, "command": " ".join(cmd[1:]), "load_before": load, "target_reached": reached,
            "final": {"step": final["step"], "accuracy": _accuracy(final)} if final else None,
            "exit_code": proc.returncode, "total_s": total,
            "label_free_stop": stopped, "curve": curve, "eval_share": eval_total / wall if wall else None}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--root", type=Path, default=Path("runs/time-to-accuracy"))
    p.add_argument("--target", type=float, default=0.95)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="passed to infogan train (repeatable)")
    p.add_argument("--patience", type=int, default=1, help="label-free rule: train.stop_patience to replay")
    p.add_argument("--delta", type=float, default=0.05, help="label-free rule: train.stop_delta to replay")
    p.add_argument("--timeout", type=float, default=3600, help="seconds per seed at most")
    p.add_argument("--full", action="store_true", help="train every seed to the preset's last step (final accuracy too)")
    p.add_argument("--out", type=Path, help="JSON file (default: print only)")
    args = p.parse_args(argv)
    args.root.mkdir(parents=True, exist_ok=True)
    runs = []
    for seed in args.seeds:
        r = one_seed(seed, args.root, args.target, args.eval_every, args.sets, args.patience, args.delta,
                     args.timeout, args.full)
        runs.append(r)
        got = r["target_reached"]
        print(f"seed {seed}: " + (f"{100 * args.target:.0f} % at step {got['step']} after {got['wall_s']:.0f} s"
                                  if got else f"never reached {100 * args.target:.0f} %")
              + (f"; label-free stop at step {r['label_free_stop']['step']} "
                 f"({100 * (r['label_free_stop']['accuracy'] or 0):.1f} %)" if r["label_free_stop"] else ""),
              flush=True)
    times = [r["target_reached"]["wall_s"] if r["target_reached"] else float("inf") for r in runs]
    import torch

    out = {
        "what": f"wall seconds from launching `infogan train --preset mnist` to its first evaluation >= "
                f"{args.target:.0%}, one seed at a time",
        "target": args.target, "eval_every": args.eval_every, "sets": args.sets,
        "threads": torch.get_num_threads(), "cpus": os.cpu_count(), "torch": torch.__version__,
        "median_s": statistics.median(times), "per_seed_s": times,
        "label_free_rule": {"patience": args.patience, "delta": args.delta},
        "runs": runs,
    }
    text = json.dumps(out, indent=1)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(f"median {out['median_s']:.0f} s over seeds {args.seeds}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
