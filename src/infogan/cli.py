"""Command line: ``infogan train | eval | sample | traverse | encode | report | presets``.

The only module that reads argv. User mistakes print one line on stderr and exit with status 2
(``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

from . import __version__


class UserError(Exception):
    """A mistake in what the user asked for; printed as one line."""


def _user_errors() -> tuple[type[BaseException], ...]:
    from .checkpoint import CheckpointError
    from .config import ConfigError
    from .data import DataError
    from .latent import SpecError

    return (UserError, ConfigError, SpecError, DataError, CheckpointError)


# ---- helpers ----------------------------------------------------------------------------------

def _resolve_config(args) -> "Config":  # noqa: F821
    from .config import load_toml, preset

    cfg = load_toml(args.config) if args.config else preset(args.preset or "mnist")
    if args.config and args.preset and args.preset != cfg.preset:
        raise UserError(f"--preset {args.preset} disagrees with preset {cfg.preset!r} in {args.config}")
    t = cfg.train
    if args.steps is not None:
        t = replace(t, steps=args.steps)
    if args.seed is not None:
        t = replace(t, seed=args.seed)
    if args.baseline:
        t = replace(t, baseline=True)
    if args.device:
        t = replace(t, device=args.device)
    cfg = replace(cfg, train=t)
    if args.data_dir:
        cfg = replace(cfg, data=replace(cfg.data, data_dir=args.data_dir))
    return cfg.override(args.set or [])


def _load_data(cfg, need_train: bool = True):
    from .data import DataError, load_dataset

    d = cfg.data
    opts = {} if d.verify else {"verify": False}
    train = load_dataset(d.name, "train", d.data_dir or None, d.download, **opts) if need_train else None
    try:
        test = load_dataset(d.name, "test", d.data_dir or None, d.download, **opts)
    except DataError as e:
        test = None  # evaluation without labels (L_I only)
        print(f"warning: no test split, so no accuracy ({str(e).splitlines()[0]})", file=sys.stderr)
    return train, test


def load_model(run_dir: str | Path, device: str = "cpu"):
    """(config, G, D, checkpoint path) of a run, models rebuilt from the saved config, eval mode."""
    from .nets import build
    from .train import load_run

    from .checkpoint import CheckpointError
    from .train import resolve_device

    cfg, state, path = load_run(run_dir)
    device = resolve_device(device)
    image_shape = _image_shape(cfg, state)
    G, D = build(cfg.model.arch, cfg.latent, image_shape, cfg.model.q_hidden)
    try:
        G.load_state_dict(state["G"])
        D.load_state_dict(state["D"])
    except (RuntimeError, ValueError) as e:  # tensors that do not fit the config the checkpoint names
        raise CheckpointError(f"{path}: weights do not match its config ({_brief(e)})") from None
    G.to(device).eval()
    D.to(device).eval()
    return cfg, G, D, path, int(state["step"])


def _image_shape(cfg, state) -> tuple[int, int, int]:
    shape = state.get("image_shape")
    if isinstance(shape, list) and len(shape) == 3 and all(isinstance(x, int) and 1 <= x <= 4096 for x in shape):
        return tuple(shape)
    raise UserError(f"checkpoint image_shape {shape!r} is not (C, H, W); it was written by an incompatible version")


def _brief(e: BaseException, limit: int = 240) -> str:
    """An exception's message on one line, cut to ``limit`` characters (torch's can run to pages)."""
    s = " ".join(str(e).split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


# ---- commands ---------------------------------------------------------------------------------

def cmd_train(args) -> int:
    from .train import Trainer, load_run, run_config, truncate_metrics, with_steps

    if args.resume:
        from . import checkpoint as ckpt

        if args.config or args.preset or args.set or args.seed is not None or args.baseline or args.run_dir:
            raise UserError("--resume continues a run with its saved config; only --steps (new total), --device "
                            "and --data-dir may be given")
        run_dir = Path(args.resume)
        try:
            cfg, state, path = load_run(run_dir)
        except ckpt.NoCheckpoint:
            # Killed before its first checkpoint was complete: the run is its config.toml, from step 0.
            cfg, state, path = run_config(run_dir), None, None
        cfg = with_steps(cfg, args.steps)
        if args.device:
            cfg = replace(cfg, train=replace(cfg.train, device=args.device))
        if args.data_dir:
            cfg = replace(cfg, data=replace(cfg.data, data_dir=args.data_dir))
        done = int(state["step"]) if state else 0
        if cfg.train.steps < done:
            raise UserError(f"--steps {cfg.train.steps} is below the checkpoint's step {done}; give a total >= {done}")
        train, test = _load_data(cfg)
        want = _image_shape(cfg, state) if state else tuple(train.image_shape)
        if tuple(train.image_shape) != want:
            raise UserError(f"data {cfg.data.name} has images {tuple(train.image_shape)} but the checkpoint expects {want}")
        trainer = Trainer(cfg, run_dir, train, test, progress=not args.no_progress)
        if state:
            try:
                trainer.load_state(state)
            except (RuntimeError, ValueError, KeyError, TypeError) as e:
                raise ckpt.CheckpointError(f"{path}: weights do not match its config ({_brief(e)})") from None
        # From here on this process is the run's one writer: clean up after a writer that was killed.
        ckpt.remove_stale_tmp(run_dir / "checkpoints")
        truncate_metrics(run_dir, trainer.step_count)
        origin = f"{path.name} (step {trainer.step_count})" if path else "step 0 (no checkpoint was completed)"
        print(f"resuming {run_dir} from {origin} to step {cfg.train.steps}", file=sys.stderr)
    else:
        cfg = _resolve_config(args)
        name = f"{cfg.preset}{'-baseline' if cfg.train.baseline else ''}-seed{cfg.train.seed}"
        run_dir = Path(args.run_dir) if args.run_dir else Path("runs") / name
        if run_dir.exists() and not run_dir.is_dir():
            raise UserError(f"--run-dir {run_dir} is a file; give a new or empty directory")
        if run_dir.exists() and any(run_dir.iterdir()):
            raise UserError(f"run directory {run_dir} already exists and is not empty; continue it with "
                            f"--resume {run_dir} or choose another --run-dir")
        train, test = _load_data(cfg)
        trainer = Trainer(cfg, run_dir, train, test, progress=not args.no_progress)
        print(f"training {cfg.preset}: {cfg.latent.describe()} -> {run_dir}", file=sys.stderr)
    try:
        result = trainer.fit()
    except KeyboardInterrupt:
        print(f"stopped; continue with: infogan train --resume {run_dir}", file=sys.stderr)
        return 130
    print(json.dumps({"run_dir": str(run_dir), "step": trainer.step_count, **result}, indent=1))
    return 0


def cmd_eval(args) -> int:
    from .evaluate import evaluate

    if args.samples is not None and args.samples < 1:
        raise UserError(f"--samples must be >= 1, got {args.samples}")
    cfg, G, D, path, step = load_model(args.run, args.device or "cpu")
    _, test = _load_data(cfg, need_train=False)
    res = {"step": step, "checkpoint": path.name,
           **evaluate(G, D, cfg.latent, G.output, test, args.samples or cfg.train.eval_samples, cfg.train.fixed_std)}
    from .checkpoint import atomic_write

    atomic_write(Path(args.run) / "eval.json", (json.dumps(res, indent=1) + "\n").encode())
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        print(f"{args.run} at step {step} ({path.name})")
        for n in cfg.latent.codes:
            mi, h = res["mi_lower_bound"][n.name], res["entropy"][n.name]
            acc = res.get("cluster_accuracy", {}).get(n.name)
            extra = f"  accuracy {100 * acc:.2f}%" if acc is not None else ""
            print(f"  {n.name:>6} {n.describe():>14}  L_I {mi:.3f} / H(c) {h:.3f} nats{extra}")
    return 0


def _out_path(out: str | None, default: Path, force: bool, scale: int = 1) -> Path:
    if not 1 <= scale <= 16:
        raise UserError(f"--scale must be in 1..16, got {scale}")
    p = Path(out) if out else default
    if p.exists() and not force and out:
        raise UserError(f"{p} already exists; pass --force to overwrite it")
    if p.suffix.lower() != ".png":
        raise UserError(f"--out must name a .png file, got {p}")
    return p


def cmd_sample(args) -> int:
    from .figures import sample_grid
    from .viz import save_png

    cfg, G, D, path, step = load_model(args.run)
    if not 1 <= args.rows <= 64 or not 1 <= args.cols <= 64:
        raise UserError(f"--rows/--cols must be in 1..64, got {args.rows}x{args.cols}")
    out = _out_path(args.out, Path(args.run) / "samples" / f"sample_seed{args.seed}.png", args.force, args.scale)
    save_png(sample_grid(G, cfg.latent, args.seed, args.rows, args.cols), out, args.scale)
    print(out)
    return 0


def cmd_traverse(args) -> int:
    import torch

    from .figures import traversal_grid
    from .viz import save_png

    cfg, G, D, path, step = load_model(args.run)
    code = cfg.latent.code(args.code)
    values = None
    if code.continuous:
        lo, hi = args.range
        if not lo < hi:
            raise UserError(f"--range needs LO < HI, got {lo} {hi}")
        if not 2 <= args.steps <= 64:
            raise UserError(f"--steps must be in 2..64, got {args.steps}")
        values = torch.linspace(lo, hi, args.steps).tolist()
    out = _out_path(args.out, Path(args.run) / "traversals" / f"{args.code}_seed{args.seed}.png", args.force, args.scale)
    save_png(traversal_grid(G, cfg.latent, args.code, args.seed, values), out, args.scale)
    print(out)
    return 0


def cmd_encode(args) -> int:
    from .data.images import list_images, load_images
    from .evaluate import posterior, q_outputs

    cfg, G, D, path, step = load_model(args.run)
    out = Path(args.out)
    if out.exists() and not args.force:
        raise UserError(f"{out} already exists; pass --force to overwrite it")
    files = list_images(args.images)
    shape = G.image_shape
    post = {}
    rows = []
    for i in range(0, len(files), 256):
        chunk = files[i : i + 256]
        q = q_outputs(D, load_images(chunk, shape), G.output)
        post = posterior(cfg.latent, q, cfg.train.fixed_std)
        for j, f in enumerate(chunk):
            row = {"file": str(f)}
            for c in cfg.latent.codes:
                p = post[c.name][j]
                if c.continuous:
                    row[f"{c.name}_mean"], row[f"{c.name}_std"] = f"{p[0]:.5f}", f"{p[1]:.5f}"
                else:
                    row[c.name] = int(p.argmax())
                    row[f"{c.name}_prob"] = f"{p.max():.5f}"
            rows.append(row)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, out)
    print(f"{len(rows)} images -> {out}")
    return 0


def cmd_report(args) -> int:
    from .report import write_report
    from .train import is_run_dir

    if not is_run_dir(Path(args.run)):
        raise UserError(f"{args.run} is not a run directory (no config.toml and checkpoints/)")
    print(write_report(args.run, args.baseline_run))
    return 0


def cmd_presets(args) -> int:
    from .config import PRESETS
    from .nets import build, count_params

    print(f"{'preset':<16}{'data':<16}{'latent':<28}{'G input':>8}{'G params':>12}{'D+Q params':>12}")
    for name, make in PRESETS.items():
        cfg = make()
        shape = {"mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28)}.get(cfg.data.name, (1, 28, 28))
        G, D = build(cfg.model.arch, cfg.latent, shape, cfg.model.q_hidden)
        print(f"{name:<16}{cfg.data.name:<16}{cfg.latent.to_text():<28}{cfg.latent.input_dim:>8}"
              f"{count_params(G):>12,}{count_params(D):>12,}")
    return 0


# ---- parser -----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="infogan", description="InfoGAN (Chen et al. 2016) in PyTorch.")
    p.add_argument("--version", action="version", version=f"infogan {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = p.add_subparsers(dest="cmd", required=True)

    t = sub.add_parser("train", help="train a preset (or resume a run)")
    t.add_argument("--preset", help="preset name (default mnist); see `infogan presets`")
    t.add_argument("--config", help="TOML config file (a run's config.toml works)")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value, e.g. train.steps=2000 or latent=cat10,unif2,noise62")
    t.add_argument("--steps", type=int, help="total training steps")
    t.add_argument("--seed", type=int)
    t.add_argument("--baseline", action="store_true", help="regular GAN with a Q head: G gets no MI gradient")
    t.add_argument("--run-dir", help="run directory (default runs/<preset>-seed<S>)")
    t.add_argument("--resume", metavar="DIR", help="continue DIR from its last good checkpoint")
    t.add_argument("--data-dir", help="folder with the data set's files")
    t.add_argument("--device", help="cpu, cuda, cuda:N or auto")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="evaluate a run's latest checkpoint")
    e.add_argument("run")
    e.add_argument("--json", action="store_true")
    e.add_argument("--samples", type=int, help="fresh samples for L_I (default: train.eval_samples)")
    e.add_argument("--device")
    e.set_defaults(func=cmd_eval)

    for name, func, hlp in (("sample", cmd_sample, "grid of samples"), ("traverse", cmd_traverse, "traversal of one code")):
        s = sub.add_parser(name, help=hlp)
        s.add_argument("run")
        s.add_argument("--out", help="PNG file to write")
        s.add_argument("--seed", type=int, default=0)
        s.add_argument("--scale", type=int, default=2, help="pixel enlargement of the PNG")
        s.add_argument("--force", action="store_true", help="overwrite --out if it exists")
        if name == "sample":
            s.add_argument("--rows", type=int, default=10)
            s.add_argument("--cols", type=int, default=10)
        else:
            s.add_argument("--code", required=True, help="code name, e.g. c2")
            s.add_argument("--range", type=float, nargs=2, default=(-2.0, 2.0), metavar=("LO", "HI"))
            s.add_argument("--steps", type=int, default=10, help="columns of a continuous traversal")
        s.set_defaults(func=func)

    c = sub.add_parser("encode", help="Q's posterior for your own images, as CSV")
    c.add_argument("run")
    c.add_argument("images", nargs="+", help="image files or folders")
    c.add_argument("--out", required=True, help="CSV file to write")
    c.add_argument("--force", action="store_true")
    c.set_defaults(func=cmd_encode)

    r = sub.add_parser("report", help="regenerate a run's report.md")
    r.add_argument("run")
    r.add_argument("--baseline-run", help="baseline run to compare in Fig. 1 (default: a sibling found automatically)")
    r.set_defaults(func=cmd_report)

    pr = sub.add_parser("presets", help="list presets")
    pr.set_defaults(func=cmd_presets)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except _user_errors() as e:
        if args.debug:
            raise
        msg = " ".join(str(e).split())  # one line, whatever a message from below holds
        print(f"infogan {args.cmd}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        from .train import DivergenceError

        if isinstance(e, DivergenceError) and not args.debug:
            print(f"infogan {args.cmd}: error: {e}", file=sys.stderr)
            return 3
        raise


if __name__ == "__main__":
    sys.exit(main())
