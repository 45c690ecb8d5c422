"""Train the MNIST preset for several seeds and record accuracy, L_I, steps and wall time.

    python benchmarks/mnist_seeds.py --seeds 0 1 2 3 4 [--parallel 2] [--steps N] [--out results/mnist_seeds.json]
    python benchmarks/mnist_seeds.py --collect-only --dir runs/study-mnist   # the runs of `infogan study`

Each seed is a normal `infogan train` run (runs/bench-mnist/seed<S>/), launched by the same code as
`infogan study`; with --parallel P, P runs share the machine, each with cpu_count/P threads. Results are read back from each run's
metrics.jsonl, so an interrupted study can be summarised again with --collect-only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

THRESHOLDS = (0.70, 0.80, 0.90, 0.95)


def wall_at(logs: list[dict]) -> dict[int, float]:
    """Seconds of training (evaluations and checkpoints included) up to each logged step, from the
    rate ``it_s`` of each log window (a window's time includes whatever ran in it)."""
    out, t, last = {}, 0.0, 0
    for r in logs:
        if r.get("it_s"):
            t += (r["step"] - last) / r["it_s"]
        last = r["step"]
        out[r["step"]] = t
    return out


def collect(run: Path) -> dict:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    evals = [r for r in rows if "eval" in r]
    logs = [r for r in rows if "eval" not in r]
    acc = [(e["step"], e["eval"]["cluster_accuracy"]["c1"]) for e in evals if "cluster_accuracy" in e["eval"]]
    li_1000 = next((r["mi/c1"] for r in logs if r["step"] >= 1000), None)
    first_95 = next((s for s, a in acc if a >= 0.95), None)
    walls = wall_at(logs)
    reach = {}
    for th in THRESHOLDS:
        step = next((s for s, a in acc if a >= th), None)
        reach[f"{th:.2f}"] = None if step is None else {"step": step, "wall_s": round(walls.get(step, float("nan")), 1)}
    return {
        "reached": reach,
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


def _median_with_misses(values: list[float], n: int) -> float | None:
    """Median of ``n`` values of which only ``values`` are finite (the rest +inf); None if the
    median itself is infinite."""
    full = sorted(values) + [float("inf")] * (n - len(values))
    if not full:
        return None
    med = statistics.median(full)
    return None if med == float("inf") else med


def main() -> int:
    from infogan.config import preset
    from infogan.study import train_seeds

    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--parallel", type=int, default=1)
    ap.add_argument("--steps", type=int)
    ap.add_argument("--baseline", action="store_true")
    ap.add_argument("--root", default="runs")
    ap.add_argument("--out", default="benchmarks/results/mnist_seeds.json")
    ap.add_argument("--collect-only", action="store_true")
    ap.add_argument("--dir", help="folder holding seed<S>/ runs (default: ROOT/bench-mnist[-baseline])")
    ap.add_argument("--bench", default="benchmarks/results/bench_mnist_cpu_paper_recipe_2026-11-22.json",
                    help="`infogan bench --json` output: ms/step of this trainer and of the eager reference")
    ap.add_argument("--set", action="append", default=[])
    a = ap.parse_args()
    root = Path(a.dir) if a.dir else Path(a.root) / ("bench-mnist" + ("-baseline" if a.baseline else ""))
    runs = {s: root / f"seed{s}" for s in a.seeds}
    walls: dict[int, float] = {}
    if not a.collect_only:
        # the same launcher as `infogan study` (resumes runs that exist)
        sets = a.set + (["train.baseline=true"] if a.baseline else [])
        cfg = preset("mnist").override(sets + ([f"train.steps={a.steps}"] if a.steps else []))
        walls = train_seeds(cfg, a.seeds, root, a.steps, a.parallel, log=lambda m: print(m, file=sys.stderr))
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
    # The reference loop's time for the same schedule: steps x its ms/step from the bench (quiet machine).
    bench = Path(a.bench)
    if bench.is_file():
        b = json.loads(bench.read_text())
        ms = {"trainer": b.get("ms_per_step"), "reference": b.get("reference_ms_per_step")}
        summary["bench_ms_per_step"] = ms
        for r in results:
            for th, hit in r["reached"].items():
                if hit and all(ms.values()):
                    hit["quiet_machine_s"] = {k: round(hit["step"] * v / 1000, 1) for k, v in ms.items()}
        for th in THRESHOLDS:
            hits = [r["reached"][f"{th:.2f}"] for r in results if r["reached"][f"{th:.2f}"]]
            # the median over *all* seeds, a seed that never reached the threshold counting as
            # infinitely slow: defined only when more than half reached it
            step = _median_with_misses([h["step"] for h in hits], len(results))
            wall = _median_with_misses([h["wall_s"] for h in hits], len(results))
            summary[f"median_to_{th:.2f}"] = (
                {"seeds_reaching": len(hits), "of": len(results), "step": step, "wall_s": wall,
                 **({"quiet_machine_s": {k: round(step * v / 1000, 1) for k, v in ms.items()}}
                    if all(ms.values()) else {})}
                if step is not None else {"seeds_reaching": len(hits), "of": len(results)})
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(summary, indent=1) + "\n")
    for r in results:
        print(f"seed {r['seed']}: final acc {r['final_accuracy']:.4f} at step {r['final_step']}, "
              f"first >=95% at {r['first_step_at_95']}, L_I(c1) at 1000 {r['mi_c1_train_batch_at_1000']}, wall {r.get('wall_s')}s")
    print(f"{summary['n_at_least_95']}/{len(finals)} seeds >= 95%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
