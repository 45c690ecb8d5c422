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

import contextlib
import json
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .api import load_data, train_run
from .config import Config
from .fsutil import atomic_write
from .run import Run

CRITERIA = ("real_mi", "mi_gap", "centrality")


def _train_seed(cfg: Config | None, run_dir: str, resume: bool, log_path: str) -> float:
    """Worker process: train (or resume) one seed's run with its output going to ``log_path``.

    Returns:
        Wall seconds.
    """
    t0 = time.time()
    with open(log_path, "a") as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        train_run(cfg, run_dir, resume=resume, progress=False, log=lambda m: print(m, file=sys.stderr, flush=True))
    return time.time() - t0


def train_seeds(
    cfg: Config, seeds: list[int], root: Path, steps: int | None = None, parallel: int = 1,
    log: Callable[[str], None] = print,
) -> dict[int, float]:
    """Train each seed of ``cfg`` as a run ``root/seed<S>``, ``parallel`` at a time in worker processes.

    A run that exists is resumed with its saved config (to ``steps`` when given) and one that has
    reached its total is left as it is. Each worker gets ``cpu_count // parallel`` torch threads
    unless ``cfg`` sets train.threads; its output goes to ``root/seed<S>.log``.

    Args:
        cfg: the config of new runs (its train.seed is replaced by each seed).
        seeds: the seeds; root: the study directory.
        steps: the total to train existing runs to (None: each run's own train.steps).
        parallel: runs trained at once.
        log: receives one line per seed started and finished.

    Returns:
        Wall seconds per seed trained here.

    Raises:
        RuntimeError: a seed failed (after the seeds still running have finished; pending ones are
            not started).
    """
    root.mkdir(parents=True, exist_ok=True)
    threads = cfg.train.threads or max(1, (os.cpu_count() or 1) // max(parallel, 1))
    jobs = {}
    for s in seeds:
        run = Run(root / f"seed{s}")
        if _finished(run, steps):
            log(f"seed {s}: already trained")
            continue
        if (run.path / "config.toml").is_file():
            saved = run.config
            job = (saved if steps is None else replace(saved, train=replace(saved.train, steps=steps)), True)
        else:
            job = (replace(cfg, train=replace(cfg.train, seed=s, threads=threads)), False)
        jobs[s] = job
    walls: dict[int, float] = {}
    if not jobs:
        return walls
    failed: list[str] = []
    # spawn: a fresh interpreter per worker (no forked torch thread pools or signal handlers)
    with ProcessPoolExecutor(max_workers=parallel, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {}
        for s, (run_cfg, resume) in jobs.items():
            run_dir = root / f"seed{s}"
            log(f"seed {s}: {'resuming' if resume else 'training'} {run_dir} to step {run_cfg.train.steps} "
                f"(log {root / f'seed{s}.log'})")
            futures[pool.submit(_train_seed, run_cfg, str(run_dir), resume, str(root / f"seed{s}.log"))] = s
        for fut in as_completed(futures):
            s = futures[fut]
            try:
                walls[s] = fut.result()
            except Exception as e:  # noqa: BLE001 (reported with its seed once the others are done)
                if not failed:
                    for other in futures:
                        other.cancel()  # seeds not started yet
                failed.append(f"seed {s} failed ({type(e).__name__}: {' '.join(str(e).split())}); "
                              f"see {root / f'seed{s}.log'}")
                log(failed[-1])
                continue
            log(f"seed {s}: done in {walls[s]:.0f} s")
    if failed:
        raise RuntimeError("; ".join(failed))
    return walls


def _finished(run: Run, steps: int | None) -> bool:
    """Whether ``run`` has a good checkpoint at ``steps`` (None: its own train.steps) or beyond."""
    if not run.exists():
        return False
    done = run.step()
    if done is None:
        return False
    return done >= (steps if steps is not None else run.config.train.steps)


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
    """Evaluate each run's newest good checkpoint; each result is also written as its eval.json.

    Args:
        runs: seed -> run directory.
        n_samples: fresh samples for L_I; disent_samples: training points of the disentanglement
            metrics (data sets with ground-truth factors; 0 skips them).

    Returns:
        (eval results per seed, posteriors on the real test images per seed).
    """
    from .evaluate import evaluate, posterior, q_outputs

    results, posts = {}, {}
    test = None
    for s, path in runs.items():
        run = Run(path)
        cfg, G, D, _, step = run.load_model()
        if test is None:
            _, test = load_data(cfg, need_train=False)
        res = {"step": step, **evaluate(G, D, cfg.latent, G.output, test, n_samples=n_samples,
                                        disent_samples=disent_samples)}
        run.write_eval(res)
        results[s] = res
        if test is not None and cfg.latent.categorical:  # only centrality reads them (categorical codes)
            posts[s] = posterior(cfg.latent, q_outputs(D, test.images, G.output))
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
    atomic_write(path, ("\n".join(lines) + "\n").encode())
    return path


def run_study(cfg: Config, seeds: list[int], root: Path, parallel: int = 1, steps: int | None = None,
              log: Callable[[str], None] = print) -> dict:
    """Train every seed of ``cfg`` (see :func:`train_seeds`), evaluate each, select without labels,
    and write ``study.json`` and ``study.md`` into ``root``.

    Args:
        cfg: the seeds' config; its train.eval_samples and train.disent_samples also size the
            final evaluation of every seed.
        seeds: the seeds; root: the study directory; parallel: runs trained at once.
        steps: the total to train existing runs to (None: each run's own train.steps).
        log: receives progress lines.

    Returns:
        The summary (as in study.json): per-seed metrics, the table, each criterion's selection.
    """
    walls = train_seeds(cfg, seeds, root, steps, parallel, log)
    runs = {s: root / f"seed{s}" for s in seeds}
    results, posts = evaluate_runs(runs, cfg.train.eval_samples, log, cfg.train.disent_samples)
    spec = Run(runs[seeds[0]]).config.latent
    summary = summarise(results, select(results, posts, spec))
    summary["wall_s"] = walls
    summary["preset"] = cfg.preset
    summary["seeds"] = seeds
    atomic_write(root / "study.json", (json.dumps(summary, indent=1, default=str) + "\n").encode())
    write_table(summary, root / "study.md", f"Study: {cfg.preset}, seeds {', '.join(map(str, seeds))}")
    return summary
