"""Multi-seed studies: train N seeds of a preset, evaluate each, summarise, and pick one run
without labels.

Label-free selection criteria (each uses no labels; the study reports what each is worth by
comparing the selected run's labelled metrics with the study's mean and best):

- ``real_mi``: Q's information about *real* images, I(c; x) = H(E[p]) - E[H(p)] summed over the
  categorical codes (high when every category is used and Q is confident on real data).
- ``mi_gap``: H(c) - L_I on fresh samples, summed over categorical codes (lower is better).
- ``centrality``: InfoGAN-CR's ModelCentrality idea: the run that agrees most with the other
  runs. Agreement of two runs = mean over categorical codes of the best NMI between their
  predicted categories on the same real images, and for continuous codes the mean absolute
  correlation of Q's means after matching codes one-to-one (Hungarian).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

CRITERIA = ("real_mi", "mi_gap", "centrality")


def train_seeds(
    preset: str, seeds: list[int], root: Path, steps: int | None, parallel: int, sets: list[str],
    log: Callable[[str], None] = print,
) -> dict[int, float]:
    """Train each seed as a normal ``infogan train`` run under ``root``; resume runs that exist.

    Returns wall seconds per seed trained here.
    """
    root.mkdir(parents=True, exist_ok=True)
    threads = max(1, (os.cpu_count() or 1) // max(parallel, 1))
    pending, active, walls = list(seeds), {}, {}
    while pending or active:
        while pending and len(active) < parallel:
            s = pending.pop(0)
            run = root / f"seed{s}"
            if _finished(run, steps):
                log(f"seed {s}: already trained")
                continue
            if (run / "checkpoints").is_dir():
                cmd = ["train", "--resume", str(run)] + (["--steps", str(steps)] if steps else [])
            else:
                cmd = ["train", "--preset", preset, "--seed", str(s), "--run-dir", str(run), "--set",
                       f"train.threads={threads}"] + (["--steps", str(steps)] if steps else [])
                for kv in sets:
                    cmd += ["--set", kv]
            logf = open(root / f"seed{s}.log", "a")
            log(f"seed {s}: infogan {' '.join(cmd)}")
            active[s] = (subprocess.Popen([sys.executable, "-m", "infogan.cli", *cmd, "--no-progress"],
                                          stdout=logf, stderr=subprocess.STDOUT), time.time(), logf)
        time.sleep(2)
        for s, (p, t0, logf) in list(active.items()):
            if p.poll() is not None:
                logf.close()
                walls[s] = time.time() - t0
                del active[s]
                if p.returncode != 0:
                    raise RuntimeError(f"seed {s} failed (status {p.returncode}); see {root / f'seed{s}.log'}")
                log(f"seed {s}: done in {walls[s]:.0f} s")
    return walls


def _finished(run: Path, steps: int | None) -> bool:
    from .checkpoint import list_checkpoints

    ck = list_checkpoints(run / "checkpoints")
    if not ck:
        return False
    last = int(ck[-1].name[5:14])
    if steps is None:
        import tomllib

        steps = tomllib.loads((run / "config.toml").read_text())["train"]["steps"]
    return last >= steps


def _summary(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.mean(values), "std": statistics.pstdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "n": len(values)}


def agreement(a: dict[str, np.ndarray], b: dict[str, np.ndarray], spec) -> float:
    """Similarity of two runs from their posteriors on the same real images (see module doc)."""
    from scipy.optimize import linear_sum_assignment

    from .metrics import nmi

    scores = []
    cats = [c.name for c in spec.categorical]
    if cats:
        # best-matching categorical codes (codes may be permuted between runs)
        m = np.array([[nmi(a[x].argmax(1), b[y].argmax(1)) for y in cats] for x in cats])
        r, c = linear_sum_assignment(-m)
        scores.append(float(m[r, c].mean()))
    conts = [c.name for c in spec.continuous]
    if conts:
        A = np.stack([a[n][:, 0] for n in conts], 1)
        B = np.stack([b[n][:, 0] for n in conts], 1)
        corr = np.abs(np.corrcoef(A.T, B.T)[: len(conts), len(conts):])
        corr = np.nan_to_num(corr)
        r, c = linear_sum_assignment(-corr)
        scores.append(float(corr[r, c].mean()))
    return float(np.mean(scores)) if scores else 0.0


def evaluate_runs(runs: dict[int, Path], n_samples: int, log: Callable[[str], None] = print,
                  disent_samples: int = 10000) -> tuple[dict, dict]:
    """(eval results per seed, posteriors on the real test images per seed)."""
    from .cli import _load_data, load_model
    from .evaluate import evaluate, posterior, q_outputs

    results, posts = {}, {}
    test = None
    for s, run in runs.items():
        cfg, G, D, path, step = load_model(run)
        if test is None:
            _, test = _load_data(cfg, need_train=False)
        res = {"step": step, **evaluate(G, D, cfg.latent, G.output, test, n_samples, cfg.train.fixed_std,
                                        disent_samples)}
        (run / "eval.json").write_text(json.dumps(res, indent=1) + "\n")
        results[s] = res
        if test is not None and cfg.latent.categorical:  # only centrality reads them (categorical codes)
            posts[s] = posterior(cfg.latent, q_outputs(D, test.images, G.output), cfg.train.fixed_std)
        log(f"seed {s}: evaluated at step {step}")
    return results, posts


def select(results: dict[int, dict], posts: dict[int, dict], spec) -> dict[str, Any]:
    """The run each label-free criterion picks, with its score per seed."""
    cats = [c.name for c in spec.categorical]
    out: dict[str, Any] = {}
    if cats and all("real_mi" in r for r in results.values()):
        sc = {s: sum(r["real_mi"][n] for n in cats) for s, r in results.items()}
        out["real_mi"] = {"selected": max(sc, key=sc.get), "scores": sc, "better": "higher"}
    if cats:
        sc = {s: sum(r["mi_gap"][n] for n in cats) for s, r in results.items()}
        out["mi_gap"] = {"selected": min(sc, key=sc.get), "scores": sc, "better": "lower"}
    if len(posts) >= 3:
        seeds = sorted(posts)
        sc = {s: float(np.mean([agreement(posts[s], posts[o], spec) for o in seeds if o != s])) for s in seeds}
        out["centrality"] = {"selected": max(sc, key=sc.get), "scores": sc, "better": "higher"}
    return out


def labelled_metrics(res: dict) -> dict[str, float]:
    """Flatten the labelled metrics of one eval result: ``<metric>/<code>`` -> value."""
    flat = {}
    for key in ("cluster_accuracy", "nmi", "ari", "purity", "disentanglement"):
        for name, v in res.get(key, {}).items():
            if isinstance(v, (int, float)) and v is not None:
                flat[f"{key}/{name}"] = float(v)
    for name, v in res.get("mi_lower_bound", {}).items():
        if v is not None:
            flat[f"mi_lower_bound/{name}"] = float(v)
    return flat


def summarise(results: dict[int, dict], selection: dict[str, Any]) -> dict[str, Any]:
    per_seed = {s: labelled_metrics(r) for s, r in results.items()}
    keys = sorted({k for v in per_seed.values() for k in v})
    table = {k: _summary([per_seed[s][k] for s in per_seed if k in per_seed[s]]) for k in keys}
    picks = {}
    for crit, sel in selection.items():
        s = sel["selected"]
        picks[crit] = {"seed": s, "metrics": per_seed[s]}
    return {"per_seed": per_seed, "table": table, "selection": selection, "selected": picks}


def write_table(summary: dict[str, Any], path: Path, title: str) -> Path:
    lines = [f"# {title}", "", "| metric | mean ± std | min | max | n |", "|---|---|---|---|---|"]
    for k, v in summary["table"].items():
        lines.append(f"| {k} | {v['mean']:.4f} ± {v['std']:.4f} | {v['min']:.4f} | {v['max']:.4f} | {v['n']} |")
    lines += ["", "## Label-free model selection", "",
              "| criterion | selected seed | " + " | ".join(summary["table"]) + " |",
              "|---|---|" + "---|" * len(summary["table"])]
    for crit, pick in summary["selected"].items():
        vals = " | ".join(f"{pick['metrics'].get(k, float('nan')):.4f}" for k in summary["table"])
        lines.append(f"| {crit} | {pick['seed']} | {vals} |")
    lines.append("| (study mean) | | " + " | ".join(f"{v['mean']:.4f}" for v in summary["table"].values()) + " |")
    lines.append("| (study best) | | " + " | ".join(f"{v['max']:.4f}" for v in summary["table"].values()) + " |")
    lines += ["", "Per seed:", "", "| seed | " + " | ".join(summary["table"]) + " |", "|---|" + "---|" * len(summary["table"])]
    for s, m in sorted(summary["per_seed"].items()):
        lines.append(f"| {s} | " + " | ".join(f"{m.get(k, float('nan')):.4f}" for k in summary["table"]) + " |")
    path.write_text("\n".join(lines) + "\n")
    return path


def run_study(preset: str, seeds: list[int], root: Path, steps: int | None = None, parallel: int = 1,
              sets: list[str] | None = None, n_samples: int = 10000, log: Callable[[str], None] = print,
              disent_samples: int = 10000) -> dict:
    walls = train_seeds(preset, seeds, root, steps, parallel, sets or [], log)
    runs = {s: root / f"seed{s}" for s in seeds}
    results, posts = evaluate_runs(runs, n_samples, log, disent_samples)
    from .cli import load_model

    spec = load_model(runs[seeds[0]])[0].latent
    summary = summarise(results, select(results, posts, spec))
    summary["wall_s"] = walls
    summary["preset"] = preset
    summary["seeds"] = seeds
    (root / "study.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    write_table(summary, root / "study.md", f"Study: {preset}, seeds {', '.join(map(str, seeds))}")
    return summary
