"""How much do a run's samples differ from each other? Per-pixel spread of samples and of real images.

    python benchmarks/sample_spread.py RUN [RUN ...] [--step N] [--n 256] --out benchmarks/results/sample_spread_<date>.json

For each run (its newest checkpoint, or ``--step``): ``--n`` samples of G (in inference mode, latents
drawn with seed 0), the standard deviation of each pixel across them, averaged over pixels and
channels, in G's output range (tanh: [-1, 1]; sigmoid: [0, 1]); and the same for the first ``--n``
training images of the run's data set on the same scale. A generator collapsed to one image gives 0;
samples as varied as the data give about the real images' value. Pixel spread counts every change
alike (a background's lightness as much as a face's identity), so it is a coarse check beside the
figures, not a quality score. No labels are read.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch


def spread(x: torch.Tensor) -> float:
    """Mean over pixels of the standard deviation across the batch (N, C, H, W) -> float."""
    return float(x.float().std(0).mean())


@torch.no_grad()
def measure(run: str, step: int | None, n: int) -> dict:
    from infogan.api import load_data
    from infogan.data.store import to_float
    from infogan.run import load_model

    m = load_model(Path(run), "cpu", step=step)
    lat = m.config.latent.sample(n, torch.Generator().manual_seed(0))
    fake = m.G(m.config.latent.to_input(lat))
    train, _ = load_data(m.config, log=lambda *_: None)
    real = to_float(train.images[:n], m.G.output)
    return {"run": run, "step": m.step, "checkpoint": m.checkpoint.name, "n": n, "output": m.G.output,
            "samples": spread(fake), "real": spread(real)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--step", type=int)
    p.add_argument("--n", type=int, default=256, help="samples (and training images) compared")
    p.add_argument("--out")
    a = p.parse_args(argv)
    if a.n < 2:
        p.error(f"--n must be at least 2, got {a.n}")
    t0 = time.perf_counter()
    rows = [measure(r, a.step, a.n) for r in a.runs]
    for r in rows:
        print(f"{r['run']} step {r['step']}: samples {r['samples']:.3f}, real images {r['real']:.3f} "
              f"({r['n']} each, {r['output']} range)")
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps({"what": "per-pixel spread of samples and real images", "runs": rows,
                                           "seconds": time.perf_counter() - t0}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
