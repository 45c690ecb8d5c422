"""Alternating vs simultaneous D/Q-G updates: accuracy, L_I, time per step and time to 95 %.

    python benchmarks/update_schemes.py --dir runs/update-study \
        --bench benchmarks/results/bench_update_schemes_2026-11-29.json \
        --out benchmarks/results/update_schemes_2026-11-29.json

Reads the run directories ``<dir>/mnist-{alt,sim}-seed<S>`` (the MNIST preset) and
``<dir>/paper-{alt,sim}-seed<S>`` (the paper's recipe), trained with

    infogan train --preset mnist --seed S --run-dir DIR --set train.eval_every=250 --set train.threads=1 \
        --set train.update=alternating|simultaneous
    (paper's recipe: add --steps 1000 --set train.real_consistency=0 --set train.cat_invariance=0)

and, optionally, an ``infogan bench --json`` result that timed both schemes in one process
(``ms_per_step_by_update``). Time to 95 % is the first evaluation step at >= 95 % times that
quiet-process step time (the runs shared the machine, so their own wall times are not comparable).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from mnist_seeds import collect

SCHEMES = {"alt": "alternating", "sim": "simultaneous"}


def summarise(root: Path, bench: dict | None) -> dict:
    ms = (bench or {}).get("ms_per_step_by_update", {})
    out: dict = {"bench": bench, "recipes": {}}
    for recipe in ("mnist", "paper"):
        per_scheme = {}
        for short, scheme in SCHEMES.items():
            runs = sorted(root.glob(f"{recipe}-{short}-seed*"))
            rows = {}
            for run in runs:
                if not (run / "metrics.jsonl").is_file():
                    continue
                r = collect(run)
                r["mi_c1_eval_curve"] = _mi_curve(run)
                step95 = r["first_step_at_95"]
                r["time_to_95_min"] = round(step95 * ms[scheme] / 60000, 1) if step95 and scheme in ms else None
                rows[run.name] = r
            finals = [r["final_accuracy"] for r in rows.values() if r["final_accuracy"] is not None]
            per_scheme[scheme] = {
                "runs": rows,
                "final_accuracy_mean": statistics.mean(finals) if finals else None,
                "final_accuracy_std": statistics.stdev(finals) if len(finals) > 1 else None,
                "seeds_at_95": sum(a >= 0.95 for a in finals),
                "ms_per_step": ms.get(scheme),
            }
        out["recipes"][recipe] = per_scheme
    return out


def _mi_curve(run: Path) -> list[tuple[int, float]]:
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
    return [(r["step"], r["eval"]["mi_lower_bound"]["c1"]) for r in rows if isinstance(r, dict) and "eval" in r]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, default=Path("runs/update-study"))
    ap.add_argument("--bench", type=Path, help="infogan bench --json output with ms_per_step_by_update")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/update_schemes.json"))
    args = ap.parse_args(argv)
    bench = json.loads(args.bench.read_text()) if args.bench else None
    res = summarise(args.dir, bench)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1) + "\n")
    for recipe, schemes in res["recipes"].items():
        for scheme, s in schemes.items():
            for name, r in s["runs"].items():
                curve = " / ".join(f"{100 * a:.1f}" for _, a in r["accuracy_curve"])
                print(f"{recipe:5s} {scheme:12s} {name:18s} acc {curve}  first>=95%: {r['first_step_at_95']}  "
                      f"L_I(c1) {r['mi_c1_final_eval']:.3f}  t95 {r['time_to_95_min']} min")
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
