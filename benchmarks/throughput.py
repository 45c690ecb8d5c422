"""Training throughput vs batch size, with the eager reference and the plain GAN in the same run.

    python benchmarks/throughput.py [--preset mnist] [--batches 32 64 128 256] [--steps 30] [--device cpu]

Writes benchmarks/results/throughput_<preset>_<device>.json; the README's performance table is
built from it. Each batch size is one `infogan.bench.bench` call: timed blocks alternate between
the project's trainer, the eager reference loop and the plain GAN, so the ratios come from one run.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from infogan.bench import bench
from infogan.config import preset


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="mnist")
    ap.add_argument("--batches", type=int, nargs="+", default=[32, 64, 128, 256])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--out")
    a = ap.parse_args()
    rows = []
    for b in a.batches:
        cfg = preset(a.preset).override(a.set)
        cfg = replace(cfg, train=replace(cfg.train, batch_size=b, device=a.device))
        r = bench(cfg, steps=a.steps, warmup=a.warmup, log=lambda m: print(m, file=sys.stderr))
        rows.append(r)
        print(f"batch {b}: {r['ms_per_step']:.1f} ms/step, {r['images_per_s']:.0f} img/s, "
              f"x{r['speedup_vs_reference']:.2f} vs reference, MI overhead {r['mi_overhead_percent']:+.1f}%")
    out = Path(a.out or f"benchmarks/results/throughput_{a.preset}_{rows[0]['device'].split(':')[0]}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=1) + "\n")
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
