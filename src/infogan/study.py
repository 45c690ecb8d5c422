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

The seeds train in local worker processes (backend ``local``) or as Ray tasks (backend ``ray``, on
a local Ray instance or a cluster); both run :func:`_train_seed` into the same ``root/seed<S>``
layout. Ray is optional and imported only when that backend is asked for.
"""

from __future__ import annotations

import contextlib
import json
import logging
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
from .config import Config, ConfigError
from .fsutil import atomic_write
from .run import Run

CRITERIA = ("real_mi", "mi_gap", "centrality")
BACKENDS = ("local", "ray")
RAY_MISSING = "--backend ray needs Ray: pip install 'infogan[ray]'"
RAY_RETRIES = 3  # a seed whose Ray worker died (node lost, out of memory) is tried again this often


def import_ray():
    """The ``ray`` module.

    Raises:
        ImportError: Ray is not installed (the message says how to install it).
    """
    try:
        import ray
    except ImportError:
        raise ImportError(RAY_MISSING) from None
    return ray


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
    cfg: Config, seeds: list[int], root: Path, steps: int | None = None, parallel: int | None = None,
    log: Callable[[str], None] = print, backend: str = "local", address: str | None = None,
) -> dict[int, float]:
    """Train each seed of ``cfg`` as a run ``root/seed<S>``, ``parallel`` at a time, in local worker
    processes (``backend="local"``) or as Ray tasks (``backend="ray"``).

    A run that exists is resumed with its saved config (to ``steps`` when given) and one that has
    reached its total is left as it is. Each seed's output goes to ``root/seed<S>.log``.

    Local: ``parallel`` worker processes (default 1), each with ``cpu_count // parallel`` torch
    threads unless ``cfg`` sets train.threads.

    Ray: every seed is one task (a fresh worker process each) calling the same function as a local
    worker; ``parallel`` caps the tasks submitted at once (default: every seed; the cluster's free
    CPUs and GPUs decide how many run). A new run gets train.threads (when ``cfg`` leaves it at 0)
    = the cluster's CPUs // the seeds in flight, at most the largest node's CPUs, and its task
    reserves that many CPUs; a task reserves one GPU when train.device is cuda, or auto on a
    cluster with GPUs. ``root`` must be the same shared path on the driver and every node.

    Args:
        cfg: the config of new runs (its train.seed is replaced by each seed).
        seeds: the seeds; root: the study directory.
        steps: the total to train existing runs to (None: each run's own train.steps).
        parallel: runs trained (local) or submitted (Ray) at once.
        log: receives one line per seed started and finished.
        backend: ``local`` or ``ray``.
        address: Ray only: passed to ``ray.init(address=...)`` when Ray is not initialised yet
            (None: attach to the Ray instance of this machine, else start a local one; ``auto``:
            attach to a running cluster; ``ray://host:10001``: a remote cluster through Ray Client).

    Returns:
        Wall seconds per seed trained here.

    Raises:
        ImportError: ``backend="ray"`` without Ray installed.
        ConfigError: a seed's device cannot be given to a Ray task.
        RuntimeError: a seed failed (after the seeds still running have finished; pending ones are
            not started).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "ray":
        import_ray()  # a missing Ray is said before anything is written
    root.mkdir(parents=True, exist_ok=True)
    jobs: dict[int, tuple[Config, bool]] = {}
    for s in seeds:
        run = Run(root / f"seed{s}")
        if _finished(run, steps):
            log(f"seed {s}: already trained")
            continue
        if (run.path / "config.toml").is_file():
            saved = run.config
            jobs[s] = (saved if steps is None else replace(saved, train=replace(saved.train, steps=steps)), True)
        else:
            jobs[s] = (replace(cfg, train=replace(cfg.train, seed=s)), False)  # train.threads: by the backend
    if not jobs:
        return {}
    train = _train_ray if backend == "ray" else _train_local
    walls, failed = train(jobs, root, parallel, log, address)
    if failed:
        raise RuntimeError("; ".join(failed))
    return walls


def _with_threads(run_cfg: Config, resume: bool, threads: int) -> Config:
    """A new run's config with ``threads`` torch threads where it sets none (a resumed run keeps its own)."""
    if resume or run_cfg.train.threads:
        return run_cfg
    return replace(run_cfg, train=replace(run_cfg.train, threads=threads))


def _started(s: int, run_cfg: Config, resume: bool, root: Path, log: Callable[[str], None]) -> None:
    log(f"seed {s}: {'resuming' if resume else 'training'} {root / f'seed{s}'} to step {run_cfg.train.steps} "
        f"(log {root / f'seed{s}.log'})")


def _failure(s: int, e: BaseException, root: Path) -> str:
    return (f"seed {s} failed ({type(e).__name__}: {' '.join(str(e).split())}); "
            f"see {root / f'seed{s}.log'}")


def _train_local(
    jobs: dict[int, tuple[Config, bool]], root: Path, parallel: int | None, log: Callable[[str], None],
    address: str | None = None,
) -> tuple[dict[int, float], list[str]]:
    """The seeds of ``jobs`` in a local process pool; (wall seconds per seed, failure lines)."""
    parallel = parallel or 1
    threads = max(1, (os.cpu_count() or 1) // parallel)
    walls: dict[int, float] = {}
    failed: list[str] = []
    # spawn: a fresh interpreter per worker (no forked torch thread pools or signal handlers)
    with ProcessPoolExecutor(max_workers=parallel, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {}
        for s, (run_cfg, resume) in jobs.items():
            run_cfg = _with_threads(run_cfg, resume, threads)
            _started(s, run_cfg, resume, root, log)
            futures[pool.submit(_train_seed, run_cfg, str(root / f"seed{s}"), resume, str(root / f"seed{s}.log"))] = s
        for fut in as_completed(futures):
            s = futures[fut]
            try:
                walls[s] = fut.result()
            except Exception as e:  # noqa: BLE001 (reported with its seed once the others are done)
                if not failed:
                    for other in futures:
                        other.cancel()  # seeds not started yet
                failed.append(_failure(s, e, root))
                log(failed[-1])
                continue
            log(f"seed {s}: done in {walls[s]:.0f} s")
    return walls, failed


def _train_seed_task(cfg: Config, run_dir: str, resume: bool, log_path: str) -> float:
    """A Ray task's body: :func:`_train_seed`. A task that Ray runs again after its worker died
    resumes the run that its first try started (a run with a config.toml)."""
    return _train_seed(cfg, run_dir, resume or (Path(run_dir) / "config.toml").is_file(), log_path)


def ray_cluster(nodes: list[dict]) -> tuple[int, int, bool]:
    """(CPUs of the alive nodes in all, CPUs of the largest one, whether one has a GPU), from ``ray.nodes()``."""
    res = [n.get("Resources", {}) for n in nodes if n.get("Alive", True)]
    cpus = [int(r.get("CPU", 0)) for r in res]
    return sum(cpus), max(cpus, default=0), any(r.get("GPU", 0) > 0 for r in res)


def ray_task_resources(run_cfg: Config, largest_node_cpus: int, has_gpu: bool) -> tuple[int, int]:
    """(CPUs, GPUs) a seed's Ray task reserves: its train.threads (at most the largest node's CPUs)
    and one GPU when it trains on CUDA (train.device cuda or cuda:0, or auto on a cluster with GPUs).

    Raises:
        ConfigError: a CUDA device on a cluster without GPUs, or cuda:N with N > 0 (a task sees
            only the GPU Ray gives it, as cuda:0).
    """
    device = run_cfg.train.device
    if device.startswith("cuda"):
        if device not in ("cuda", "cuda:0"):
            raise ConfigError(f"train.device={device!r}: with --backend ray each seed gets one GPU of its own, "
                              "which it sees as cuda:0; use train.device=cuda or auto")
        if not has_gpu:
            raise ConfigError(f"train.device={device!r} but the Ray cluster has no GPU; use train.device=cpu or auto")
    gpus = 1 if device.startswith("cuda") or (device == "auto" and has_gpu) else 0
    cpus = max(1, run_cfg.train.threads)
    return (min(cpus, largest_node_cpus) if largest_node_cpus else cpus), gpus


def _train_ray(
    jobs: dict[int, tuple[Config, bool]], root: Path, parallel: int | None, log: Callable[[str], None],
    address: str | None = None,
) -> tuple[dict[int, float], list[str]]:
    """The seeds of ``jobs`` as Ray tasks; (wall seconds per seed, failure lines)."""
    ray = import_ray()
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, logging_level=logging.WARNING)
    running: dict[Any, int] = {}
    try:
        total, largest, has_gpu = ray_cluster(ray.nodes())
        parallel = min(parallel or len(jobs), len(jobs))
        threads = max(1, min(total // parallel, largest) if largest else 1)
        pending = [(s, _with_threads(run_cfg, resume, threads), resume) for s, (run_cfg, resume) in jobs.items()]
        resources = {s: ray_task_resources(run_cfg, largest, has_gpu) for s, run_cfg, _ in pending}  # all checked first
        # max_calls=1: a fresh worker process per seed, as the local pool's spawned workers
        task = ray.remote(max_calls=1, max_retries=RAY_RETRIES)(_train_seed_task)
        walls: dict[int, float] = {}
        failed: list[str] = []
        while pending or running:
            while pending and len(running) < parallel and not failed:  # after a failure, start no more seeds
                s, run_cfg, resume = pending.pop(0)
                cpus, gpus = resources[s]
                _started(s, run_cfg, resume, root, log)
                ref = task.options(num_cpus=cpus, num_gpus=gpus, name=f"infogan-study-seed{s}").remote(
                    run_cfg, str(root / f"seed{s}"), resume, str(root / f"seed{s}.log"))
                running[ref] = s
            if not running:
                break
            done, _ = ray.wait(list(running), num_returns=1)
            s = running.pop(done[0])
            try:
                walls[s] = ray.get(done[0])
            except Exception as e:  # noqa: BLE001 (reported with its seed once the others are done)
                failed.append(_failure(s, getattr(e, "cause", None) or e, root))  # the task's own exception
                log(failed[-1])
                continue
            log(f"seed {s}: done in {walls[s]:.0f} s")
        return walls, failed
    except KeyboardInterrupt:
        # Ray interrupts each running seed, which then checkpoints at a step boundary (as a local
        # worker on Ctrl-C); a later study resumes it.
        for ref in running:
            ray.cancel(ref)
        ray.wait(list(running), num_returns=len(running), timeout=60)
        raise
    finally:
        if started:
            ray.shutdown()


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


def run_study(cfg: Config, seeds: list[int], root: Path, parallel: int | None = None, steps: int | None = None,
              log: Callable[[str], None] = print, backend: str = "local", address: str | None = None) -> dict:
    """Train every seed of ``cfg`` (see :func:`train_seeds`), evaluate each, select without labels,
    and write ``study.json`` and ``study.md`` into ``root``.

    Args:
        cfg: the seeds' config; its train.eval_samples and train.disent_samples also size the
            final evaluation of every seed.
        seeds: the seeds; root: the study directory; parallel: runs trained at once.
        steps: the total to train existing runs to (None: each run's own train.steps).
        log: receives progress lines.
        backend, address: where the seeds train (see :func:`train_seeds`); evaluation and the
            summary are the same for both, done in this process.

    Returns:
        The summary (as in study.json): per-seed metrics, the table, each criterion's selection.
    """
    walls = train_seeds(cfg, seeds, root, steps, parallel, log, backend, address)
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
