"""Train the MNIST preset for several seeds and record accuracy, L_I, steps and wall time.

    python benchmarks/mnist_seeds.py --seeds 0 1 2 3 4 [--parallel 2] [--steps N] [--out results/mnist_seeds.json]

Each seed is a normal `infogan train` run (runs/bench-mnist-seed<S>/); with --parallel P, P runs
share the machine, each with cpu_count/P threads. Results are read back from each run's
metrics.jsonl, so an interrupted study can be summarised again with --collect-only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def collect(run: Path) -> dict:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    evals = [r for r in rows if "eval" in r]
    logs = [r for r in rows if "eval" not in r]
    acc = [(e["step"], e["eval"]["cluster_accuracy"]["c1"]) for e in evals if "cluster_accuracy" in e["eval"]]
    li_1000 = next((r["mi/c1"] for r in logs if r["step"] >= 1000), None)
    first_95 = next((s for s, a in acc if a >= 0.95), None)
    return {
        "run": str(run),
        "final_step": evals[-1]["step"] if evals else None,
        "final_accuracy": acc[-1][1] if acc else None,
        "best_accuracy": max(a for _, a in acc) if acc else None,
        "first_step_at_95": first_95,
        "accuracy_curve": acc,
        "mi_c1_train_batch_at_1000": li_1000,
        "mi_c1_final_eval": evals[-1]["eval"]["mi_lower_bound"]["c1"] if evals else None,
        "min_mi_c1_after_1000": min((r["mi/c1"] for r in logs if r["step"] >= 1000), default=None),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--parallel", type=int, default=1)
    ap.add_argument("--steps", type=int)
    ap.add_argument("--baseline", action="store_true")
    ap.add_argument("--root", default="runs")
    ap.add_argument("--out", default="benchmarks/results/mnist_seeds.json")
    ap.add_argument("--collect-only", action="store_true")
    ap.add_argument("--set", action="append", default=[])
    a = ap.parse_args()
    tag = "bench-mnist" + ("-baseline" if a.baseline else "")
    runs = {s: Path(a.root) / f"{tag}-seed{s}" for s in a.seeds}
    walls: dict[int, float] = {}
    if not a.collect_only:
        threads = max(1, (os.cpu_count() or 1) // a.parallel)
        pending = list(a.seeds)
        active: dict[int, tuple[subprocess.Popen, float]] = {}
        while pending or active:
            while pending and len(active) < a.parallel:
                s = pending.pop(0)
                cmd = [sys.executable, "-m", "infogan.cli", "train", "--preset", "mnist", "--seed", str(s),
                       "--run-dir", str(runs[s]), "--no-progress", "--set", f"train.threads={threads}"]
                if runs[s].exists():
                    cmd = [sys.executable, "-m", "infogan.cli", "train", "--resume", str(runs[s]), "--no-progress"]
                if a.steps and not runs[s].exists():
                    cmd += ["--steps", str(a.steps)]
                if a.baseline and not runs[s].exists():
                    cmd.append("--baseline")
                for kv in a.set:
                    if not runs[s].exists():
                        cmd += ["--set", kv]
                Path(a.root).mkdir(parents=True, exist_ok=True)
                log = open(Path(a.root) / f"{tag}-seed{s}.log", "a")
                active[s] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), time.time())
            time.sleep(5)
            for s, (p, t0) in list(active.items()):
                if p.poll() is not None:
                    walls[s] = time.time() - t0
                    del active[s]
                    if p.returncode != 0:
                        print(f"seed {s} failed with status {p.returncode}", file=sys.stderr)
    results = []
    for s in a.seeds:
        if (runs[s] / "metrics.jsonl").is_file():
            r = {"seed": s, **collect(runs[s])}
            if s in walls:
                r["wall_s"] = round(walls[s], 1)
            results.append(r)
    finals = [r["final_accuracy"] for r in results if r["final_accuracy"] is not None]
    summary = {
        "seeds": a.seeds,
        "parallel": a.parallel,
        "cpu_count": os.cpu_count(),
        "n_at_least_95": sum(f >= 0.95 for f in finals),
        "final_accuracy_mean": statistics.mean(finals) if finals else None,
        "final_accuracy_std": statistics.pstdev(finals) if len(finals) > 1 else None,
        "runs": results,
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(summary, indent=1) + "\n")
    for r in results:
        print(f"seed {r['seed']}: final acc {r['final_accuracy']:.4f} at step {r['final_step']}, "
              f"first >=95% at {r['first_step_at_95']}, L_I(c1) at 1000 {r['mi_c1_train_batch_at_1000']}, wall {r.get('wall_s')}s")
    print(f"{summary['n_at_least_95']}/{len(finals)} seeds >= 95%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
