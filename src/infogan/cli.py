"""Command line: ``infogan train | eval | sample | traverse | encode | explore | cluster | explain | report | presets``.

The only module that reads argv. User mistakes print one line on stderr and exit with status 2
(``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import csv
import errno
import json
import math
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__

if TYPE_CHECKING:
    from .config import Config


class UserError(Exception):
    """A mistake in what the user asked for; printed as one line."""


def _user_errors() -> tuple[type[BaseException], ...]:
    from .checkpoint import CheckpointError
    from .config import ConfigError
    from .data import DataError
    from .latent import SpecError
    from .run import RunError

    return (UserError, ConfigError, SpecError, DataError, CheckpointError, RunError)


# What a failed read or write means to the user, by errno (the rest: the system's own words).
_OS_HINTS = {
    errno.ENOSPC: "the disk is full; free some space and run again",
    errno.EDQUOT: "the disk quota is used up; free some space and run again",
    errno.EROFS: "a read-only file system; choose a writable place",
    errno.EACCES: "no permission",
    errno.EPERM: "not permitted",
    errno.ELOOP: "a symbolic link that points back to itself",
}


def _os_error_line(e: OSError, cmd: str) -> str:
    """One line for a read or write the system refused (a full disk, a read-only folder, a looping
    link, ...): the file, the system's words and what to do."""
    where = f"{e.filename} -> {e.filename2}" if e.filename2 else str(e.filename) if e.filename else ""
    what = e.strerror or str(e) or type(e).__name__
    hint = _OS_HINTS.get(e.errno, "")
    if e.errno in (errno.ENOSPC, errno.EDQUOT) and cmd == "train":
        hint += "; a run continues from its newest checkpoint with infogan train --resume DIR"
    return f"{where + ': ' if where else ''}{what}{f' ({hint})' if hint else ''}"


def _bounded(flag: str, value, lo, hi):
    """``value`` of a numeric flag when it is finite and in ``lo..hi``; else a UserError that names
    the bounds. Every numeric flag that is not a config value goes through here (config values
    through ``config.validate``)."""
    if value is not None and not (math.isfinite(value) and lo <= value <= hi):
        raise UserError(f"{flag} must be in {_num(lo)}..{_num(hi)}, got {_num(value)}")
    return value


def _num(x) -> str:
    """A bound or value for a message: 2**62 - 1 rather than 19 digits; long numbers cut."""
    if isinstance(x, int) and x > 2**20 and (x + 1) & x == 0:
        return f"2**{x.bit_length()} - 1"
    s = f"{x:g}" if isinstance(x, float) else str(x)
    return s if len(s) <= 40 else s[:37] + "..."


MAX_SEED = 2**62 - 1  # as train.seed
MAX_TRAVERSE = 1e6  # |--range| of a traversal: codes live within a few units of 0; far beyond, G overflows
MAX_PNG_PIXELS = 1 << 26  # a sample or traversal PNG: 8192 x 8192
STEP_HELP = "the checkpoint of this step (default: the newest good one)"


# ---- config flags -----------------------------------------------------------------------------

# The flags that stand for a config key. A command's flags from this table are applied over its
# config (a preset, a --config file or a run's saved config) before --set, so --set wins; a flag
# not given leaves the config's value, so each of these defaults comes from the config.
CONFIG_FLAGS = {
    "--steps": "train.steps",
    "--seed": "train.seed",
    "--baseline": "train.baseline",
    "--device": "train.device",
    "--threads": "train.threads",
    "--data-dir": "data.data_dir",
    "--batch-size": "train.batch_size",
    "--samples": "train.eval_samples",
    "--disent-samples": "train.disent_samples",
}


def _config_flag(parser: argparse.ArgumentParser, flag: str, help: str, **kwargs) -> None:
    """Add ``flag`` (a key of CONFIG_FLAGS) to a command; ``kwargs`` as for ``add_argument``."""
    key = CONFIG_FLAGS[flag]
    parser.add_argument(flag, help=f"{help} (config {key}; default: the config's)", **kwargs)
    parser.set_defaults(config_flags=(*(parser.get_default("config_flags") or ()), flag))


def _flag_value(args, flag: str):
    """The value given for a config flag, or None when it was not given."""
    v = getattr(args, flag[2:].replace("-", "_"))
    return None if v is False else v


def _with_flags(cfg: Config, args) -> Config:
    """``cfg`` with the config flags of this command that were given (see CONFIG_FLAGS)."""
    for flag in getattr(args, "config_flags", ()):
        v = _flag_value(args, flag)
        if v is not None:
            sec, key = CONFIG_FLAGS[flag].split(".")
            cfg = replace(cfg, **{sec: replace(getattr(cfg, sec), **{key: v})})
    return cfg


def _resolve_config(args) -> Config:
    from .config import load_toml, preset

    cfg = load_toml(args.config) if args.config else preset(args.preset or "mnist")
    if args.config and args.preset and args.preset != cfg.preset:
        raise UserError(f"--preset {args.preset} disagrees with preset {cfg.preset!r} in {args.config}")
    return _with_flags(cfg, args).override(args.set or [])


# ---- commands ---------------------------------------------------------------------------------

def cmd_train(args) -> int:
    from . import dist
    from .api import train_run
    from .config import RESUME_MAY_CHANGE
    from .run import is_run_dir, run_config

    if args.resume:
        may = [f for f, key in CONFIG_FLAGS.items() if f in args.config_flags and key in RESUME_MAY_CHANGE]
        others = [f for f in args.config_flags if f not in may and _flag_value(args, f) is not None]
        if args.config or args.preset or args.set or args.run_dir or others:
            raise UserError(f"--resume continues a run with its saved config; only {', '.join(may)} may be given "
                            "(--steps: the new total)")
        run_dir = Path(args.resume)
        cfg = _with_flags(run_config(run_dir), args)
    else:
        cfg = _resolve_config(args)
        name = f"{cfg.preset}{'-baseline' if cfg.train.baseline else ''}-seed{cfg.train.seed}"
        run_dir = Path(args.run_dir) if args.run_dir else Path("runs") / name
        _make_parent(run_dir, "--run-dir")  # an output folder: made, like runs/ itself (inputs must exist)
    try:
        result = train_run(cfg, run_dir, resume=bool(args.resume), progress=not args.no_progress)
    except KeyboardInterrupt:
        hint = f"; continue with: infogan train --resume {run_dir}" if is_run_dir(run_dir) else ""
        print(f"stopped{hint}", file=sys.stderr)
        return 130
    if dist.is_main():
        print(json.dumps(result, indent=1))
    return 0


def _step(args) -> int | None:
    """``--step`` of an analysis command, checked (None: the newest good checkpoint)."""
    from .config import MAX_STEPS

    if args.step is not None:
        _bounded("--step", args.step, 0, MAX_STEPS)
    return args.step


def cmd_eval(args) -> int:
    from .api import load_data
    from .evaluate import evaluate
    from .report import write_report
    from .run import Run

    run = Run(args.run)
    cfg, G, D, path, step = run.load_model(args.device or "cpu", step=_step(args))
    cfg = _with_flags(cfg, args)  # --samples, --disent-samples; the run's config where not given
    n = cfg.train.eval_samples
    _, test = load_data(cfg, need_train=False)
    res = {"step": step, "checkpoint": path.name,
           **evaluate(G, D, cfg.latent, G.output, test, n_samples=n, disent_samples=cfg.train.disent_samples,
                      confusion=True)}
    if cfg.data.name in ("mnist", "fashion-mnist", "svhn") and test is not None and not args.no_quality:
        res["sample_quality"] = _sample_quality(cfg, G, test, n)
    run.write_eval(res)
    write_report(run.path)  # adds the category × label tables from eval.json
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        print(f"{args.run} at step {step} ({path.name})")
        for n in cfg.latent.codes:
            mi, h = res["mi_lower_bound"][n.name], res["entropy"][n.name]
            acc = res.get("cluster_accuracy", {}).get(n.name)
            extra = f"  accuracy {100 * acc:.2f}%" if acc is not None else ""
            print(f"  {n.name:>6} {n.describe():>14}  L_I {mi:.3f} / H(c) {h:.3f} nats{extra}")
        for k, v in res.get("disentanglement", {}).items():
            print(f"  {k:>28} {v:.4f}")
        if "sample_quality" in res:
            sq = res["sample_quality"]
            print(f"  Fréchet distance (domain classifier features) {sq['fd']:.3f} (real vs real: "
                  f"{sq['fd_real_halves']:.3f}); classes covered {sq['classes_covered']}/{len(sq['class_histogram'])}")
    return 0


def _sample_quality(cfg, G, test, n: int) -> dict:
    """Fréchet distance and class coverage in the feature space of a classifier trained on the
    data set's labelled training split (cached after the first call)."""
    import torch

    from .api import load_data
    from .data.store import to_float
    from .domain import sample_quality, train_classifier
    from .figures import generate

    train, _ = load_data(cfg, need_train=True)
    clf = train_classifier(train, log=lambda m: print(m, file=sys.stderr))
    n = min(n, len(test))
    fake = to_float(generate(G, cfg.latent, cfg.latent.sample(n, torch.Generator().manual_seed(777))), "sigmoid")
    real = to_float(test.images[:n], "sigmoid")
    return sample_quality(clf, real, fake, int(train.labels.max()) + 1)


def _out_path(out: str | None, default: Path, force: bool, scale: int = 1) -> Path:
    _bounded("--scale", scale, 1, 16)
    p = Path(out) if out else default
    if p.exists() and not force and out:
        raise UserError(f"{p} already exists; pass --force to overwrite it")
    if p.suffix.lower() != ".png":
        raise UserError(f"--out must name a .png file, got {p}")
    return p


def _png_size(grid, scale: int):
    """``grid`` (H, W, C) when its PNG, enlarged ``scale`` times, stays within MAX_PNG_PIXELS."""
    h, w = grid.shape[:2]
    if h * w * scale * scale > MAX_PNG_PIXELS:
        raise UserError(f"a {w * scale}x{h * scale} PNG is larger than {MAX_PNG_PIXELS >> 20} Mpixels; "
                        "lower --scale, --rows/--cols or --steps")
    return grid


def cmd_sample(args) -> int:
    from .figures import sample_grid
    from .run import load_model
    from .viz import save_png

    _bounded("--seed", args.seed, 0, MAX_SEED)
    _bounded("--rows", args.rows, 1, 64)
    _bounded("--cols", args.cols, 1, 64)
    cfg, G, *_ = load_model(args.run, step=_step(args))
    out = _out_path(args.out, Path(args.run) / "samples" / f"sample_seed{args.seed}.png", args.force, args.scale)
    save_png(_png_size(sample_grid(G, cfg.latent, args.seed, args.rows, args.cols), args.scale), out, args.scale)
    print(out)
    return 0


def cmd_traverse(args) -> int:
    import torch

    from .figures import traversal_grid
    from .run import load_model
    from .viz import save_png

    _bounded("--seed", args.seed, 0, MAX_SEED)
    for v in args.range or ():
        _bounded("--range", v, -MAX_TRAVERSE, MAX_TRAVERSE)
    _bounded("--steps", args.steps, 2, 64)
    cfg, G, *_ = load_model(args.run, step=_step(args))
    code = cfg.latent.code(args.code)
    values = None
    if code.continuous:
        lo, hi = args.range if args.range is not None else code.traversal_range
        if not lo < hi:
            raise UserError(f"--range needs LO < HI, got {lo} {hi}")
        values = torch.linspace(lo, hi, args.steps).tolist()
    out = _out_path(args.out, Path(args.run) / "traversals" / f"{args.code}_seed{args.seed}.png", args.force, args.scale)
    save_png(_png_size(traversal_grid(G, cfg.latent, args.code, args.seed, values), args.scale), out, args.scale)
    print(out)
    return 0


def cmd_encode(args) -> int:
    from .data.images import list_images, load_images
    from .evaluate import posterior, q_outputs
    from .fsutil import atomic_open
    from .run import load_model

    cfg, G, D, *_ = load_model(args.run, step=_step(args))
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
        post = posterior(cfg.latent, q)
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
    with atomic_open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"{len(rows)} images -> {out}")
    return 0


def cmd_explore(args) -> int:
    from .explore import Explorer, make_server

    _bounded("--port (0: any free port)", args.port, 0, 65535)
    explorer = Explorer.from_run(args.run, args.device or "cpu", step=_step(args))
    try:
        server = make_server(explorer, args.host, args.port)
    except OSError as e:
        raise UserError(f"cannot listen on {args.host}:{args.port} ({e.strerror or e}); "
                        "choose another --port (0: any free one)") from None
    if server.server_address[0] not in ("127.0.0.1", "::1"):
        print(f"warning: listening on {args.host}: anyone who can reach this machine can use the explorer",
              file=sys.stderr)
    print(f"exploring {args.run} (step {explorer.step}) at {server.url} (Ctrl-C stops)", file=sys.stderr)
    print(server.url, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def cmd_cluster(args) -> int:
    from .explore.cluster import cluster_run

    folder, out = Path(args.folder), Path(args.out)
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder of images")
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not args.force:
        raise UserError(f"{out} already exists and is not empty; pass --force to write into it")
    _bounded("--per-sheet", args.per_sheet, 1, 1024)
    res = cluster_run(args.run, folder, out, args.device or "cpu", per_sheet=args.per_sheet, step=_step(args),
                      labels_from_subfolders=args.labels_from_subfolders)
    print(f"{res['n_images']} images of {folder} -> {out}" + (f" ({len(res['skipped'])} unreadable, skipped)" if res["skipped"] else ""))
    for name, sizes in res["sizes"].items():
        extra = ""
        if name in res.get("purity", {}):
            extra = f"  purity {100 * res['purity'][name]:.2f}%  accuracy {100 * res['accuracy'][name]:.2f}%"
        print(f"  {name}: " + " ".join(f"{k}:{n}" for k, n in enumerate(sizes)) + extra)
    return 0


def cmd_explain(args) -> int:
    from . import explain as ex
    from .report import write_report
    from .run import load_model

    _bounded("--noise", args.noise, 1, ex.MAX_NOISE)
    _bounded("--values", args.values, 2, ex.MAX_VALUES)
    _bounded("--seed", args.seed, 0, MAX_SEED)
    run_dir = Path(args.run)
    out = Path(args.out) if args.out else run_dir / ex.EXPLAIN_DIR
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder (effects.png and effects.json are written into it)")
    m = load_model(run_dir, args.device or "cpu", step=_step(args))
    if (need := ex.images_needed(m.config.latent, args.noise, args.values)) > ex.MAX_IMAGES:
        raise UserError(f"--noise {args.noise} over this run's codes needs {need} generated images; at most "
                        f"{ex.MAX_IMAGES} (lower --noise or --values)")
    effects = ex.code_effects(m.G, m.config.latent, n_noise=args.noise, n_values=args.values, seed=args.seed)
    meta = {"run": run_dir.resolve().name, "step": m.step, "checkpoint": m.checkpoint.name}
    title = f"What each code does: {meta['run']} at step {m.step}"
    if args.out:
        _make_parent(out, "--out")
    png, js = ex.write_effects(effects, out, meta, title)
    if not args.out:
        write_report(run_dir)  # report.md gets its "What each code does" section
    if args.json:
        print(json.dumps({**meta, **effects.to_dict()}, indent=1))
    else:
        print(f"{args.run} at step {m.step} ({m.checkpoint.name}): {args.noise} draws of noise and codes, "
              f"seed {args.seed}")
        print("\n".join(ex.table({**meta, **effects.to_dict()})))
        print(f"-> {png}, {js}")
    return 0


def cmd_report(args) -> int:
    from .report import write_report
    from .run import is_run_dir

    for run in (args.run, args.baseline_run):
        if run is not None and not is_run_dir(Path(run)):
            raise UserError(f"{run} is not a run directory (no config.toml and checkpoints/)")
    print(write_report(args.run, args.baseline_run))
    return 0


def cmd_presets(args) -> int:
    from .config import PRESET_SHAPES, PRESETS
    from .losses import RealConsistency, WarpedFakeInformation, build_objective
    from .nets import build_for, count_params

    print(f"{'preset':<16}{'data':<16}{'latent':<34}{'G input':>8}{'G params':>12}{'D+Q params':>12}  "
          f"{'invariance':<14}{'steps':>7}  image")
    for name, make in PRESETS.items():
        cfg = make()
        shape = PRESET_SHAPES[name]
        G, D = build_for(cfg.model, cfg.latent, shape)
        # the family whose transformations the categorical codes must survive ("-": no such term)
        warped = any(isinstance(t, (RealConsistency, WarpedFakeInformation)) for t in build_objective(cfg).terms)
        image = "x".join(map(str, shape)) + ("*" if name == "folder" else "")
        print(f"{name:<16}{cfg.data.name:<16}{cfg.latent.to_text():<34}{cfg.latent.input_dim:>8}"
              f"{count_params(G):>12,}{count_params(D):>12,}  {cfg.train.invariance if warped else '-':<14}"
              f"{cfg.train.steps:>7,}  {image}")
    print("* folder: the side follows the images (below 32 px their own, rounded down to a multiple of 4; "
          "else 32; data.size) and the channels data.channels; the parameters are those at 3x32x32")
    return 0


def cmd_bench(args) -> int:
    from .bench import bench
    from .config import preset

    cfg = _with_flags(preset(args.preset), args).override(args.set or [])
    _bounded("--steps", args.steps, 1, 100_000)
    _bounded("--warmup", args.warmup, 0, 100_000)
    log = (lambda m: None) if args.json else (lambda m: print(m, file=sys.stderr))
    res = bench(cfg, steps=args.steps, warmup=args.warmup, reference=not args.no_reference, log=log)
    if args.out:
        from .checkpoint import atomic_write

        atomic_write(Path(args.out), (json.dumps(res, indent=1) + "\n").encode())
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        print(f"{res['preset']} on {res['device']} ({res['threads']} threads), batch {res['batch_size']}: "
              f"{res['ms_per_step']:.1f} ms/step, {res['images_per_s']:.0f} images/s, "
              f"{res['effective_flops'] / 1e9:.1f} GFLOP/s ({100 * res['fraction_of_matmul_peak']:.0f}% of measured "
              f"matmul peak {res['matmul_peak_flops'] / 1e9:.0f} GFLOP/s), peak memory {res['peak_memory_mib']:.0f} MiB")
        if "speedup_vs_reference" in res:
            print(f"eager reference: {res['reference_ms_per_step']:.1f} ms/step -> speed-up x{res['speedup_vs_reference']:.2f}")
        if "mi_overhead_percent" in res:
            print(f"plain GAN: {res['plain_gan_ms_per_step']:.1f} ms/step -> MI term costs {res['mi_overhead_percent']:+.1f}%")
    return 0


def _make_parent(path: Path, flag: str) -> None:
    """Create the folders above an output directory (``runs/`` or ``--run-dir a/b/run``'s ``a/b``);
    one line naming the folder when that is impossible (a file in the way, /proc, no permission)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{flag} {path}: cannot create its folder {path.parent} ({e.strerror or e})") from None


def cmd_study(args) -> int:
    from .config import preset
    from .study import import_ray, run_study

    _bounded("--seeds", args.seeds, 1, 1000)
    _bounded("--parallel", args.parallel, 1, 256)
    if args.address is not None and args.backend != "ray":
        raise UserError("--address names a Ray cluster; it needs --backend ray")
    if args.backend == "ray":
        try:
            import_ray()
        except ImportError as e:
            raise UserError(str(e)) from None
    _bounded("--first-seed", args.first_seed, 0, MAX_SEED - args.seeds)
    if args.root:
        _make_parent(Path(args.root), "--root")
    # the seeds' config; --samples and --disent-samples also size the study's final evaluation
    cfg = _with_flags(preset(args.preset), args).override(args.set or [])
    root = Path(args.root or f"runs/study-{args.preset}")
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    summary = run_study(cfg, seeds, root, parallel=args.parallel, steps=args.steps,
                        log=lambda m: print(m, file=sys.stderr), backend=args.backend, address=args.address)
    print((root / "study.md").read_text())
    if args.json:
        print(json.dumps({k: summary[k] for k in ("table", "selected")}, indent=1, default=str))
    return 0


def cmd_data(args) -> int:
    from .data.common import cache_dir
    from .data.dsprites import DSPRITES_FILE, make_dsprites

    out = Path(args.out) if args.out else cache_dir() / "dsprites" / DSPRITES_FILE
    if out.exists() and not args.force:
        raise UserError(f"{out} already exists; pass --force to overwrite it")
    if out.suffix != ".npz":
        raise UserError(f"--out must name a .npz file, got {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    make_dsprites(out, progress=True)
    print(f"wrote {out} (a procedural re-creation of dSprites in the official layout, not the official file)")
    return 0


# ---- parser -----------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line, as every other error of the command line (exit 2), and
    that takes ``-1e3`` as a number, not as an unknown flag (``--range -1e3 1e3``)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="infogan", description="InfoGAN (Chen et al. 2016) in PyTorch.")
    p.add_argument("--version", action="version", version=f"infogan {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = p.add_subparsers(dest="cmd", required=True)

    t = sub.add_parser("train", help="train a preset (or resume a run)")
    t.add_argument("--preset", help="preset name (default mnist); see `infogan presets`")
    t.add_argument("--config", help="TOML config file (a run's config.toml works)")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value, e.g. train.steps=2000 or latent=cat10,unif2,noise62")
    _config_flag(t, "--steps", "total training steps", type=int)
    _config_flag(t, "--seed", "seed of weights, data order and latents", type=int)
    _config_flag(t, "--baseline", "regular GAN with a Q head: G gets no MI gradient", action="store_true")
    t.add_argument("--run-dir", help="run directory (default runs/<preset>-seed<S>)")
    t.add_argument("--resume", metavar="DIR", help="continue DIR from its last good checkpoint")
    _config_flag(t, "--data-dir", "folder with the data set's files")
    _config_flag(t, "--device", "cpu, cuda, cuda:N or auto")
    _config_flag(t, "--threads", "CPU threads for torch (0: torch's default); may change on --resume", type=int)
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="evaluate a run's latest checkpoint")
    e.add_argument("run")
    e.add_argument("--json", action="store_true")
    _config_flag(e, "--samples", "fresh samples for L_I", type=int)
    _config_flag(e, "--disent-samples", "data sets with ground-truth factors: training points of the "
                 "disentanglement metrics (disentanglement_lib uses 10000; 0 skips them)", type=int)
    e.add_argument("--no-quality", action="store_true",
                   help="skip the sample-quality metrics (Fréchet distance, class coverage)")
    e.add_argument("--step", type=int, help=STEP_HELP)
    e.add_argument("--device")
    e.set_defaults(func=cmd_eval)

    for name, func, hlp in (("sample", cmd_sample, "grid of samples"), ("traverse", cmd_traverse, "traversal of one code")):
        s = sub.add_parser(name, help=hlp)
        s.add_argument("run")
        s.add_argument("--out", help="PNG file to write")
        s.add_argument("--seed", type=int, default=0)
        s.add_argument("--scale", type=int, default=2, help="pixel enlargement of the PNG")
        s.add_argument("--force", action="store_true", help="overwrite --out if it exists")
        s.add_argument("--step", type=int, help=STEP_HELP)
        if name == "sample":
            s.add_argument("--rows", type=int, default=10)
            s.add_argument("--cols", type=int, default=10)
        else:
            s.add_argument("--code", required=True, help="code name, e.g. c2")
            s.add_argument("--range", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                           help="values to sweep (default: the code's traversal range, -2 2 for Unif(-1, 1))")
            s.add_argument("--steps", type=int, default=10, help="columns of a continuous traversal")
        s.set_defaults(func=func)

    c = sub.add_parser("encode", help="Q's posterior for your own images, as CSV")
    c.add_argument("run")
    c.add_argument("images", nargs="+", help="image files or folders")
    c.add_argument("--out", required=True, help="CSV file to write")
    c.add_argument("--force", action="store_true")
    c.add_argument("--step", type=int, help=STEP_HELP)
    c.set_defaults(func=cmd_encode)

    x = sub.add_parser("explore", help="web page with a control per code over a run's generator")
    x.add_argument("run")
    x.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free one)")
    x.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    x.add_argument("--device", help="cpu (default), cuda or cuda:N")
    x.add_argument("--step", type=int, help=STEP_HELP)
    x.set_defaults(func=cmd_explore)

    k = sub.add_parser("cluster", help="group a folder of images by Q's categorical codes: CSV + contact sheets")
    k.add_argument("run")
    k.add_argument("folder", help="folder of images (searched recursively)")
    k.add_argument("--out", required=True, help="output folder (clusters.csv, summary.json, <code>/cat_NN.png)")
    k.add_argument("--per-sheet", type=int, default=64, help="thumbnails per contact sheet, most confident first")
    k.add_argument("--labels-from-subfolders", action="store_true",
                   help="images sit in one subfolder per class: report purity and accuracy per code")
    k.add_argument("--force", action="store_true", help="write into a non-empty --out")
    k.add_argument("--device")
    k.add_argument("--step", type=int, help=STEP_HELP)
    k.set_defaults(func=cmd_cluster)

    ex = sub.add_parser("explain", help="what each code does to the images, label-free: effect maps, strengths, inactive codes")
    ex.add_argument("run")
    ex.add_argument("--step", type=int, help=STEP_HELP)
    ex.add_argument("--noise", type=int, default=64, help="draws of the noise and the other codes (default 64)")
    ex.add_argument("--values", type=int, default=10, help="values of a continuous code's sweep over its traversal "
                    "range (default 10; categorical codes sweep every category)")
    ex.add_argument("--seed", type=int, default=0)
    ex.add_argument("--out", help="folder for effects.png and effects.json (default RUN/explain, which also "
                    "updates RUN/report.md)")
    ex.add_argument("--json", action="store_true", help="print the JSON instead of the table")
    ex.add_argument("--device", help="cpu (default), cuda or cuda:N")
    ex.set_defaults(func=cmd_explain)

    r = sub.add_parser("report", help="regenerate a run's report.md")
    r.add_argument("run")
    r.add_argument("--baseline-run", help="baseline run to compare in Fig. 1 (default: a sibling found automatically)")
    r.set_defaults(func=cmd_report)

    b = sub.add_parser("bench", help="time training steps against a plain eager reference loop")
    b.add_argument("--preset", default="mnist")
    b.add_argument("--steps", type=int, default=30, help="timed steps per loop")
    b.add_argument("--warmup", type=int, default=5)
    _config_flag(b, "--batch-size", "global batch size", type=int)
    _config_flag(b, "--device", "cpu, cuda, cuda:N or auto")
    b.add_argument("--set", action="append", metavar="KEY=VALUE")
    b.add_argument("--no-reference", action="store_true", help="skip the eager reference loop")
    b.add_argument("--json", action="store_true")
    b.add_argument("--out", help="also write the JSON result to this file")
    b.set_defaults(func=cmd_bench)

    st = sub.add_parser("study", help="train and evaluate several seeds; label-free model selection")
    st.add_argument("--preset", default="mnist")
    st.add_argument("--seeds", type=int, default=5, help="number of seeds")
    st.add_argument("--first-seed", type=int, default=0)
    _config_flag(st, "--steps", "total training steps of each seed", type=int)
    st.add_argument("--parallel", type=int, help="runs trained at once (local: default 1, each gets cpu_count/P "
                    "threads; ray: runs submitted at once, default all, the cluster's free CPUs decide)")
    st.add_argument("--backend", choices=("local", "ray"), default="local",
                    help="local: worker processes on this machine (default); ray: one Ray task per seed")
    st.add_argument("--address", help="--backend ray: the Ray cluster, passed to ray.init (default: the Ray "
                    "instance of this machine, else a new local one; auto: a running cluster; ray://HOST:10001)")
    st.add_argument("--root", help="study directory (default runs/study-<preset>)")
    _config_flag(st, "--samples", "fresh samples for L_I", type=int)
    _config_flag(st, "--disent-samples", "training points of the disentanglement metrics", type=int)
    st.add_argument("--set", action="append", metavar="KEY=VALUE")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_study)

    da = sub.add_parser("data", help="data utilities")
    dsub = da.add_subparsers(dest="data_cmd", required=True)
    md = dsub.add_parser("make-dsprites", help="write the procedural dSprites re-creation (official .npz layout)")
    md.add_argument("--out", help="file to write (default: the cache dir, where the dsprites preset looks)")
    md.add_argument("--force", action="store_true")
    md.set_defaults(func=cmd_data)

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
    except OSError as e:  # a full disk, a read-only folder, a looping link, /proc, ...
        if args.debug:
            raise
        print(f"infogan {args.cmd}: error: {' '.join(_os_error_line(e, args.cmd).split())}", file=sys.stderr)
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
