"""``report.md`` of a run: the paper's Fig. 1 (L_I vs iterations with H(c), InfoGAN vs baseline)
and Fig. 2 (traversals), with the numbers. Regenerated from the run directory alone."""

from __future__ import annotations

from pathlib import Path

from .checkpoint import CheckpointError
from .config import Config
from .explain import EFFECTS_PNG, EXPLAIN_DIR, read_effects
from .fsutil import atomic_write
from .run import read_eval, read_metrics, run_config
from .viz import plot_curves

__all__ = ["find_baseline", "read_metrics", "write_report"]


def _config(run_dir: Path) -> Config | None:
    """The run's config, or None when config.toml is missing or broken (the report says less then)."""
    try:
        return run_config(run_dir)
    except CheckpointError:
        return None


def find_baseline(run_dir: str | Path) -> Path | None:
    """A sibling run of the same preset and latent spec trained with ``--baseline``.

    Args:
        run_dir: a run trained without ``--baseline``.

    Returns:
        The first such sibling directory by name, or None.
    """
    run_dir = Path(run_dir).resolve()
    me = _config(run_dir)
    if me is None or me.train.baseline:
        return None
    for sib in sorted(run_dir.parent.iterdir()):
        if sib == run_dir or not sib.is_dir():
            continue
        c = _config(sib)
        if c is not None and c.train.baseline and c.preset == me.preset and c.latent == me.latent:
            return sib
    return None


def write_report(run_dir: str | Path, baseline: str | Path | None = None) -> Path:
    """Regenerate ``report.md`` and its figures from the run directory alone.

    Args:
        run_dir: the run.
        baseline: a ``--baseline`` run to draw in Fig. 1 (default: a sibling found by :func:`find_baseline`).

    Returns:
        The path of report.md.
    """
    run_dir = Path(run_dir)
    cfg = _config(run_dir)
    rows, evals = read_metrics(run_dir)
    names = [c.name for c in cfg.latent.codes] if cfg else []
    cat_names = [c.name for c in cfg.latent.categorical] if cfg else []
    base_dir = Path(baseline) if baseline else find_baseline(run_dir)
    base_rows = read_metrics(base_dir)[0] if base_dir else []
    figs = run_dir / "report"
    lines = [f"# InfoGAN run `{run_dir.name}`", ""]
    is_base = cfg.train.baseline if cfg else False
    lines.append(f"Preset `{cfg.preset if cfg else '?'}`" + (" trained as the **baseline** (regular GAN with a Q head)" if is_base else "") + ".")
    lines.append("")
    if evals:
        last = evals[-1]
        ev = last["eval"]
        lines += [f"## Numbers at step {last['step']}", "", "| code | L_I (nats) | H(c) (nats) | accuracy |", "|---|---|---|---|"]
        for n in names:
            mi = ev.get("mi_lower_bound", {}).get(n)
            h = ev.get("entropy", {}).get(n)
            a = ev.get("cluster_accuracy", {}).get(n)
            lines.append(f"| {n} | {_f(mi)} | {_f(h)} | {'' if a is None else f'{100 * a:.2f}%'} |")
        lines.append("")
        if any("cluster_accuracy" in e["eval"] for e in evals):
            lines += [("Accuracy: Q's most probable category on the 10,000 real test images, each category "
                       "matched one-to-one to a label by the Hungarian algorithm (labels never used in training)."), ""]
    # Fig. 1: L_I of each categorical code vs iterations, with H(c); baseline when found.
    for n in cat_names or names[:1]:
        key = f"mi/{n}"
        series = {}
        if (curve := _curve(rows, key))[0]:
            series["InfoGAN" if not is_base else "GAN + Q (baseline)"] = curve
        if (curve := _curve(base_rows, key))[0]:
            series["GAN + Q (baseline)"] = curve
        if series:
            h = next((e["eval"].get("entropy", {}).get(n) for e in evals), None)
            path = plot_curves(series, figs / f"fig1_mi_{n}.png", f"Fig. 1: L_I of {n} during training",
                               "L_I (nats)", {f"H({n}) = {h:.3f}": h} if h else None)
            lines += [f"## Fig. 1: L_I for {n}", "", f"![L_I {n}]({path.relative_to(run_dir)})", ""]
            if base_dir:
                lines += [f"Baseline run: `{base_dir}`.", ""]
    acc_names = [n for n in cat_names if any(n in e["eval"].get("cluster_accuracy", {}) for e in evals)]
    if acc_names:
        series = {}
        for n in acc_names:
            points = [{"step": e["step"], n: e["eval"].get("cluster_accuracy", {}).get(n)} for e in evals]
            steps, acc = _curve(points, n)
            series[n] = (steps, [100 * a for a in acc])
        path = plot_curves(series, figs / "accuracy.png", "Unsupervised test accuracy", "accuracy (%)")
        lines += ["## Accuracy during training", "", f"![accuracy]({path.relative_to(run_dir)})", ""]
    lines += _confusion_section(run_dir)
    lines += _effects_section(run_dir)
    trav = [(n, run_dir / "traversals" / f"{n}.png") for n in names]
    trav = [(n, p) for n, p in trav if p.is_file()]
    if trav:
        lines += ["## Fig. 2: traversals", "",
                  ("Categorical code: each row one category, each column one draw of noise. Continuous code: "
                   "columns sweep the code's traversal range (its prior's range and half as much again at each "
                   "end, as in the paper's Fig. 2), rows follow the first categorical code, noise fixed."), ""]
        for n, p in trav:
            lines += [f"### {n}", "", f"![{n}]({p.relative_to(run_dir)})", ""]
    if (run_dir / "samples" / "latest.png").is_file():
        lines += ["## Samples", "", "![samples](samples/latest.png)", ""]
    out = run_dir / "report.md"
    atomic_write(out, "\n".join(lines).encode())
    return out


def _confusion_section(run_dir: Path) -> list[str]:
    """Category × label tables from ``eval.json`` (written by ``infogan eval``), if present."""
    ev = read_eval(run_dir)
    conf = ev.get("confusion") if ev else None
    if not isinstance(conf, dict) or not conf:
        return []
    lines = [f"## Which labels each category holds (test images, `infogan eval` at step {ev.get('step', '?')})", "",
             ("Rows: the code's categories; columns: the data set's labels (used only here); the last column is "
              "the label the Hungarian matching gives the category. A row split over two labels is a merge; a "
              "label spread over two rows is a split."), ""]
    for name, t in conf.items():
        if not isinstance(t, dict):
            continue  # an eval.json edited by hand: what is not a table is left out
        labels, counts, match = (t.get(k) if isinstance(t.get(k), list) else [] for k in ("labels", "counts", "match"))
        counts = [row for row in counts if isinstance(row, list)]
        lines += [f"### {name}", "", "| category | " + " | ".join(str(x) for x in labels) + " | matched |",
                  "|---" * (len(labels) + 2) + "|"]
        for i, row in enumerate(counts):
            m = match[i] if i < len(match) and match[i] is not None else "–"
            lines.append(f"| {i} | " + " | ".join(str(x) for x in row) + f" | {m} |")
        lines.append("")
    return lines


def _effects_section(run_dir: Path) -> list[str]:
    """What each code does, from ``explain/effects.json`` (written by ``infogan explain``), if present.

    Read, not computed: the report is written at the end of every training run and by ``eval``,
    and the effect maps cost ``(codes + 1) x 64 x 10`` generated images at the defaults (5 s for
    the MNIST preset on the shared 2-core CPU; the presets with ten codes take about three times
    as long).
    """
    folder = run_dir / EXPLAIN_DIR
    d = read_effects(folder)
    codes = [c for c in d["codes"] if isinstance(c, dict)] if d else []
    if not codes:
        return []
    ref = d.get("reference") if isinstance(d.get("reference"), dict) else {}
    lines = [f"## What each code does (`infogan explain`, step {d.get('step', '?')}, {d.get('n_noise', '?')} draws)", "",
             ("Label-free. For each code, every draw of the noise and the other codes is held fixed while the "
              "code sweeps its values (every category; a continuous code its traversal range); the effect map "
              "is each pixel's mean absolute change over the sweep. *ratio*: the map's mean over the same "
              "statistic with the noise varied instead"
              + (f" ({_f(ref.get('strength'))} of the pixel range)" if isinstance(ref.get("strength"), (int, float)) else "")
              + "; *peak*: the same for the map's 99th percentile; *top 10 %*: the share of the change in the "
              "map's brightest tenth of pixels; *inactive*: ratio and peak below 0.05, or no change of half a "
              "grey level anywhere (docs/metrics.md)."), "",
             "| rank | code | prior | ratio | peak | top 10 % | where |", "|---|---|---|---|---|---|---|"]
    for c in sorted(codes, key=lambda c: c.get("rank") if isinstance(c.get("rank"), int) else 1 << 30):
        conc = c.get("concentration")
        where = "**inactive**" if c.get("inactive") is True else str(c.get("where", ""))
        lines.append(f"| {c.get('rank', '')} | {c.get('name', '')} | {c.get('prior', '')} | {_f(_num(c.get('ratio')))} | "
                     f"{_f(_num(c.get('peak_ratio')))} | "
                     f"{f'{100 * conc:.0f}%' if isinstance(conc, (int, float)) else ''} | {where} |")
    lines.append("")
    if (folder / EFFECTS_PNG).is_file():
        lines += [f"![what each code does]({EXPLAIN_DIR}/{EFFECTS_PNG})", ""]
    return lines


def _num(x):
    return x if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def _curve(rows: list[dict], key: str) -> tuple[list, list]:
    """(steps, values) of the rows that hold a number under ``key``."""
    pts = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), (int, float))]
    return [s for s, _ in pts], [v for _, v in pts]


def _f(x) -> str:
    return "" if x is None else f"{x:.3f}"
