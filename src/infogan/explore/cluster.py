"""Group a folder of images by a trained Q's categorical codes (InfoGAN as a discovery tool).

Every image goes to the most probable category of each categorical code (the argmax of Q's
posterior, as ``infogan eval`` scores MNIST). Written into ``out``:

    clusters.csv        file (relative to the folder), [label], then per code: category, probability
    summary.json        counts per category, and purity/accuracy per code when labels are known
    <code>/cat_NN.png   one contact sheet per non-empty category: its most confident images first
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

import numpy as np
import torch

from ..data import DataError
from ..data.images import list_images, load_image, load_images
from ..evaluate import posterior, q_outputs
from ..fsutil import atomic_open, atomic_write
from ..latent import LatentSpec
from ..metrics import cluster_accuracy, purity
from ..run import load_model
from ..viz import grid, save_png


def subfolder_labels(files: list[Path], folder: Path) -> list[str]:
    """The class of each file: the name of the subfolder of ``folder`` it sits in."""
    out = []
    for f in files:
        parts = f.relative_to(folder).parts
        if len(parts) < 2:
            raise DataError(f"--labels-from-subfolders: {f} is not inside a class subfolder of {folder}")
        out.append(parts[0])
    return out


def _load_chunk(files: list[Path], shape: tuple[int, int, int]) -> tuple[torch.Tensor, list[int], list[str]]:
    """(images, indices of readable files, messages about the unreadable ones)."""
    try:
        return load_images(files, shape), list(range(len(files))), []
    except DataError:
        pass  # find which ones fail; the rest are clustered
    imgs, ok, bad = [], [], []
    for i, f in enumerate(files):
        try:
            imgs.append(load_image(f, shape))
            ok.append(i)
        except DataError as e:
            bad.append(str(e))
    c, h, w = shape
    arr = torch.from_numpy(np.stack(imgs)) if imgs else torch.zeros(0, c, h, w, dtype=torch.uint8)
    return arr, ok, bad


def contact_sheet(images: torch.Tensor, cols: int) -> np.ndarray:
    """(N, C, H, W) uint8 -> one grid of ``cols`` columns, the last row padded with white."""
    n, c, h, w = images.shape
    cols = max(1, min(cols, n))
    rows = math.ceil(n / cols)
    pad = torch.full((rows * cols - n, c, h, w), 255, dtype=torch.uint8)
    return grid(torch.cat([images, pad]), rows, cols)


def cluster_folder(
    D: torch.nn.Module,
    spec: LatentSpec,
    image_shape: tuple[int, int, int],
    output: str,
    folder: str | os.PathLike,
    out: str | os.PathLike,
    per_sheet: int = 64,
    labels_from_subfolders: bool = False,
    batch: int = 256,
    meta: dict | None = None,
) -> dict:
    """Cluster every image under ``folder`` by each categorical code of ``spec``; write into ``out``.

    Args:
        D: the discriminator with Q's head (from ``run.load_model``); output: G's output kind.
        image_shape: (C, H, W) the model was trained on; images are centre-cropped and resized to it.
        per_sheet: thumbnails per contact sheet (the most probable members of the category).
        labels_from_subfolders: the first subfolder of each image is its class; adds purity and
            Hungarian accuracy per code (labels are only read here, never by the model).
        meta: entries that say which model clustered (run, step, checkpoint), written first into
            summary.json and returned.

    Returns:
        {**meta, "folder", "n_images", "skipped": [messages], "sizes": {code: [count per category]},
         and with labels "purity", "accuracy": {code: float}}.
    """
    folder, out = Path(folder), Path(out)
    cats = spec.categorical
    if not cats:
        raise DataError(f"latent {spec.to_text()} has no categorical code to cluster by")
    files = list_images([folder])
    labels = subfolder_labels(files, folder) if labels_from_subfolders else None

    # 1. Q's posterior, batch by batch (only the predictions are kept, not the images).
    kept: list[int] = []
    skipped: list[str] = []
    pred: dict[str, list[np.ndarray]] = {c.name: [] for c in cats}
    prob: dict[str, list[np.ndarray]] = {c.name: [] for c in cats}
    for start in range(0, len(files), batch):
        imgs, ok, bad = _load_chunk(files[start : start + batch], image_shape)
        skipped += bad
        if not ok:
            continue
        kept += [start + i for i in ok]
        post = posterior(spec, q_outputs(D, imgs, output))
        for c in cats:
            pred[c.name].append(post[c.name].argmax(1))
            prob[c.name].append(post[c.name].max(1))
    if not kept:
        raise DataError(f"none of the {len(files)} images in {folder} could be read ({skipped[0]})")
    files = [files[i] for i in kept]
    pred_a = {k: np.concatenate(v) for k, v in pred.items()}  # (N,) category per code
    prob_a = {k: np.concatenate(v) for k, v in prob.items()}  # (N,) its probability
    label_a = [labels[i] for i in kept] if labels is not None else None

    # 2. The CSV, one row per image.
    out.mkdir(parents=True, exist_ok=True)
    header = ["file"] + (["label"] if label_a is not None else []) + [f for c in cats for f in (c.name, f"{c.name}_prob")]
    with atomic_open(out / "clusters.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for i, f in enumerate(files):
            row = [f.relative_to(folder).as_posix()] + ([label_a[i]] if label_a is not None else [])
            for c in cats:
                row += [int(pred_a[c.name][i]), f"{prob_a[c.name][i]:.5f}"]
            w.writerow(row)

    # 3. Contact sheets: per code and non-empty category, its most confident images first.
    scale = 2 if image_shape[-1] <= 32 else 1
    cols = math.ceil(math.sqrt(per_sheet))
    for c in cats:
        sheet_dir = out / c.name
        sheet_dir.mkdir(exist_ok=True)
        for old in sheet_dir.glob("cat_*.png"):  # a sheet from an earlier --force run would mislead
            old.unlink()
        digits = len(str(c.k - 1))
        for k in range(c.k):
            members = np.flatnonzero(pred_a[c.name] == k)
            if len(members) == 0:
                continue
            top = members[np.argsort(-prob_a[c.name][members], kind="stable")[:per_sheet]]
            thumbs = load_images([files[i] for i in top], image_shape)
            save_png(contact_sheet(thumbs, cols), sheet_dir / f"cat_{k:0{digits}d}.png", scale)

    # 4. Sizes and, with labels, how well each code matches them.
    res: dict = {**(meta or {}), "folder": str(folder), "n_images": len(files), "skipped": skipped,
                 "sizes": {c.name: np.bincount(pred_a[c.name], minlength=c.k).tolist() for c in cats}}
    if label_a is not None:
        _, y = np.unique(np.array(label_a), return_inverse=True)
        res["classes"] = sorted(set(label_a))
        res["purity"] = {c.name: purity(pred_a[c.name], y) for c in cats}
        res["accuracy"] = {c.name: cluster_accuracy(pred_a[c.name], y) for c in cats}
    atomic_write(out / "summary.json", (json.dumps(res, indent=1) + "\n").encode())
    return res


def cluster_run(run_dir: str | os.PathLike, folder: str | os.PathLike, out: str | os.PathLike,
                device: str = "cpu", step: int | None = None, **options) -> dict:
    """:func:`cluster_folder` with the Q of a run's newest good checkpoint (or of ``step``'s).

    Args:
        run_dir: the run; device: where Q runs (cpu, cuda, cuda:N, auto); step: a kept checkpoint's step.
        folder, out, **options: as for :func:`cluster_folder` (per_sheet, labels_from_subfolders, batch).

    Returns:
        The result of :func:`cluster_folder`.

    Raises:
        CheckpointError: the run cannot be loaded. DataError: its latent has no categorical code.
    """
    m = load_model(run_dir, device, step)
    if not m.config.latent.categorical:
        raise DataError(f"{run_dir} has no categorical code to cluster by (latent {m.config.latent.to_text()})")
    meta = {"run": Path(run_dir).resolve().name, "step": m.step, "checkpoint": m.checkpoint.name}
    return cluster_folder(m.D, m.config.latent, m.G.image_shape, m.G.output, folder, out, meta=meta, **options)
