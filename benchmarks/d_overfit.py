"""Does D know the training images by heart? D's verdicts on training vs held-out real images.

    python benchmarks/d_overfit.py RUN [RUN ...] [--step N] --out benchmarks/results/d_overfit_<date>.json

The overfitting diagnostic of Karras et al. 2020 (ADA, Fig. 1b): with a data set small enough to be
memorised, D's output on the training images drifts away from its output on real images it never
saw, while both should be judged alike. For each run (its newest checkpoint, or ``--step``) this
loads D in inference mode (batch-norm statistics of real training images, as saved with every
checkpoint), scores up to ``--n`` training images and every image of the data set's held-out split,
and reports per side the mean logit and r = E[sign(logit)] (ADA's r_t), and the gaps train minus
held-out. A run with no held-out split (a folder) is refused with one line. No labels are read.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch


@torch.no_grad()
def logits(D, images: torch.Tensor, output: str, batch: int = 500) -> torch.Tensor:
    from infogan.data.store import to_float

    out = []
    for i in range(0, len(images), batch):
        d, _ = D(to_float(images[i : i + batch], output))
        out.append(d.float().flatten())
    return torch.cat(out)


def side(x: torch.Tensor) -> dict[str, float]:
    return {"n": len(x), "mean_logit": float(x.mean()), "r": float(torch.sign(x).mean())}


def measure(run: str, step: int | None, n: int) -> dict:
    from infogan.api import load_data
    from infogan.run import load_model

    m = load_model(Path(run), "cpu", step=step)
    train, test = load_data(m.config, log=lambda *_: None)
    if test is None:
        raise SystemExit(f"{run}: its data set has no held-out split to compare the training images with")
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:n]
    tr = logits(m.D, train.images[pick], m.G.output)
    te = logits(m.D, test.images, m.G.output)
    a, b = side(tr), side(te)
    return {"run": run, "step": m.step, "checkpoint": m.checkpoint.name, "augment": m.config.train.augment,
            "train": a, "held_out": b, "gap_mean_logit": a["mean_logit"] - b["mean_logit"], "gap_r": a["r"] - b["r"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--step", type=int)
    p.add_argument("--n", type=int, default=2000, help="training images scored (a fixed random sample)")
    p.add_argument("--out")
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    rows = [measure(r, a.step, a.n) for r in a.runs]
    for r in rows:
        print(f"{r['run']} step {r['step']} (augment={r['augment']}): logit train {r['train']['mean_logit']:+.3f} "
              f"held-out {r['held_out']['mean_logit']:+.3f} gap {r['gap_mean_logit']:+.3f}; r train "
              f"{r['train']['r']:+.3f} held-out {r['held_out']['r']:+.3f} gap {r['gap_r']:+.3f}")
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps({"what": "D on training vs held-out real images", "runs": rows,
                                           "seconds": time.perf_counter() - t0}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
