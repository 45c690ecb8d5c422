"""Purity of a run's categorical codes on MNIST test images, through `infogan cluster`.

    python benchmarks/mnist_cluster.py RUN [--n 10000] [--images DIR] [--out DIR]

Exports the first N MNIST test images (from $INFOGAN_DATA/mnist or --data-dir) as PNGs in one
subfolder per digit, then runs `infogan cluster RUN DIR --out OUT --labels-from-subfolders`, which
writes clusters.csv, contact sheets and summary.json (purity and Hungarian accuracy per code) and
prints the cluster sizes. The images are re-read from PNG, so this measures the path a user's own
folder takes (decode, crop, resize), not the in-memory evaluation of `infogan eval`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from PIL import Image

from infogan.cli import main as cli_main
from infogan.data import load_idx


def export_mnist_pngs(out: Path, n: int, data_dir: str | None = None, split: str = "test") -> Path:
    """Write the first ``n`` images of an MNIST split as ``out/<digit>/<index>.png``."""
    store = load_idx("mnist", split, data_dir, download=False)
    n = min(n, len(store))
    for i in range(n):
        d = out / str(int(store.labels[i]))
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(store.images[i, 0].numpy()).save(d / f"{i:05d}.png")
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run")
    p.add_argument("--n", type=int, default=10000, help="test images to export (default: all 10000)")
    p.add_argument("--images", help="folder for the PNGs (default: a temporary folder)")
    p.add_argument("--out", help="cluster output folder (default: RUN/cluster_mnist_test)")
    p.add_argument("--data-dir", help="folder with the MNIST IDX files")
    args = p.parse_args()
    out = Path(args.out or Path(args.run) / "cluster_mnist_test")
    with tempfile.TemporaryDirectory() as tmp:
        images = export_mnist_pngs(Path(args.images or tmp), args.n, args.data_dir)
        rc = cli_main(["cluster", args.run, str(images), "--out", str(out), "--labels-from-subfolders", "--force"])
    if rc == 0:
        res = json.loads((out / "summary.json").read_text())
        print(json.dumps({"run": args.run, "n": res["n_images"], "purity": res["purity"], "accuracy": res["accuracy"]}))
    return rc


if __name__ == "__main__":
    sys.exit(main())
